package sim

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
)

// SpiderOptions says how to read a Spider (NetworkX) edge list, which has
// neither units nor fees.
type SpiderOptions struct {
	// UnitMsat is the value of one capacity unit in msat: 1000 for the
	// full 2019 file (satoshi), 9158000 for the reduced file (euro, at
	// Spider's SAT_TO_EUR = 9158). Zero means 1000.
	UnitMsat float64
	// Policy is applied to both directions of every channel.
	Policy Policy
}

// LoadSpider reads a Spider edge list from disk.
func LoadSpider(path string, opts SpiderOptions) (*Topology, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := ParseSpider(path, f, opts)
	if err != nil {
		return nil, err
	}
	t.Name = "spider:" + filepath.Base(path)
	return t, nil
}

// ParseSpider parses NetworkX edge-list lines of the form
//
//	<u> <v> {'capacity': u'250000'}
//
// (the attribute dict may also hold a plain number). Pairs are undirected;
// a repeated pair, a self-loop or a missing or non-positive capacity is an
// error naming the line.
func ParseSpider(name string, r io.Reader, opts SpiderOptions) (*Topology, error) {
	unit := opts.UnitMsat
	if unit == 0 {
		unit = 1000
	}
	if !(unit > 0) || math.IsInf(unit, 0) {
		return nil, fmt.Errorf("%s: %w: capacity unit %g msat", name, ErrMalformed, unit)
	}
	t := &Topology{Name: "spider"}
	index := make(map[string]int32)
	node := func(s string) int32 {
		if i, ok := index[s]; ok {
			return i
		}
		i := int32(len(t.Nodes))
		index[s] = i
		t.Nodes = append(t.Nodes, s)
		return i
	}
	type pair struct{ a, b int32 }
	seen := make(map[pair]int)
	lr := newLineReader(name, r)
	for {
		s, ok := lr.next()
		if !ok {
			break
		}
		if strings.HasPrefix(s, "#") {
			continue
		}
		u, rest, _ := strings.Cut(s, " ")
		rest = strings.TrimSpace(rest)
		v, attrs, _ := strings.Cut(rest, " ")
		if u == "" || v == "" {
			return nil, loadErr(name, lr.line, "", "want \"<u> <v> {'capacity': N}\"")
		}
		for _, id := range []string{u, v} {
			if _, err := strconv.ParseUint(id, 10, 63); err != nil {
				return nil, loadErr(name, lr.line, "node", "node id %q is not a non-negative integer", clip(id))
			}
		}
		if u == v {
			return nil, loadErr(name, lr.line, "node", "self-loop on node %s", u)
		}
		capUnits, err := spiderCapacity(attrs)
		if err != nil {
			return nil, loadErr(name, lr.line, "capacity", "%v", err)
		}
		msat := capUnits * unit
		if !(msat >= 1) || msat > float64(MaxCapacityMsat) {
			return nil, loadErr(name, lr.line, "capacity", "capacity %g units (%g msat) out of range", capUnits, msat)
		}
		if len(t.Nodes) >= math.MaxInt32-2 {
			return nil, loadErr(name, lr.line, "", "too many nodes")
		}
		a, b := node(u), node(v)
		p := pair{min(a, b), max(a, b)}
		if first, dup := seen[p]; dup {
			return nil, loadErr(name, lr.line, "node", "duplicate edge %s-%s (first on line %d)", u, v, first)
		}
		seen[p] = lr.line
		t.Channels = append(t.Channels, Channel{
			ID:           strconv.Itoa(len(t.Channels)),
			Node:         [2]int32{a, b},
			CapacityMsat: uint64(math.Round(msat)),
			Policy:       [2]Policy{opts.Policy, opts.Policy},
		})
	}
	if lr.err != nil {
		return nil, lr.err
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// spiderCapacity extracts the 'capacity' value from a Python dict literal
// such as {'capacity': u'250000'} or {'capacity': 218}.
func spiderCapacity(attrs string) (float64, error) {
	if !strings.HasPrefix(attrs, "{") || !strings.HasSuffix(attrs, "}") {
		return 0, fmt.Errorf("missing attribute dict {'capacity': N}")
	}
	i := strings.Index(attrs, "'capacity'")
	if i < 0 {
		i = strings.Index(attrs, `"capacity"`)
	}
	if i < 0 {
		return 0, fmt.Errorf("no 'capacity' key")
	}
	s := strings.TrimSpace(attrs[i+len("'capacity'"):])
	s, ok := strings.CutPrefix(s, ":")
	if !ok {
		return 0, fmt.Errorf("want ':' after 'capacity'")
	}
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "u")
	end := strings.IndexAny(s, ",}")
	if end < 0 {
		return 0, fmt.Errorf("unterminated value")
	}
	s = strings.Trim(strings.TrimSpace(s[:end]), `'"`)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("not a number: %q", clip(s))
	}
	if v <= 0 {
		return 0, fmt.Errorf("capacity %g must be positive", v)
	}
	return v, nil
}
