package routing

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// ExportVersion is the version of the graph export format this package
// writes and reads.
const ExportVersion = 1

// ExportPolicy is one direction's policy in the graph export format.
type ExportPolicy struct {
	FeeBase       uint64 `json:"fee_base"`
	FeePPM        uint32 `json:"fee_ppm"`
	ExpiryDeltaMs uint64 `json:"expiry_delta_ms"`
	HTLCMin       uint64 `json:"htlc_min"`
	// HTLCMax 0 means "up to the capacity".
	HTLCMax  uint64 `json:"htlc_max"`
	Disabled bool   `json:"disabled"`
	// LastUpdate is unix seconds; 0 if unknown.
	LastUpdate int64 `json:"last_update"`
}

// ExportNode is one node in the graph export format.
type ExportNode struct {
	// ID is the hex encoding of the NodeID's bytes.
	ID string `json:"id"`
}

// ExportChannel is one channel in the graph export format.
type ExportChannel struct {
	// ID is the ChannelID as a decimal string (JSON numbers lose precision
	// above 2^53 in many readers).
	ID string `json:"id"`
	// Node1 and Node2 are hex NodeIDs with Node1 < Node2 by bytes.
	Node1    string `json:"node1"`
	Node2    string `json:"node2"`
	Capacity uint64 `json:"capacity"`
	// Policies[0] is Node1→Node2, Policies[1] Node2→Node1; null when that
	// direction has not been announced.
	Policies [2]*ExportPolicy `json:"policies"`
}

// WriteExport writes s in the graph export format ("paymesh-graph",
// version 1), streaming one node and one channel per line. The format is one
// JSON object, read back by LoadExport (see also routing/EXPORT.md):
//
//	{
//	  "format": "paymesh-graph",
//	  "version": 1,
//	  "nodes": [{"id": "<hex NodeID bytes>"}, …],
//	  "channels": [{
//	    "id": "<decimal ChannelID>",
//	    "node1": "<hex>", "node2": "<hex>",        // node1 < node2 by bytes
//	    "capacity": <units>,
//	    "policies": [<node1→node2 policy or null>, <node2→node1 policy or null>]
//	  }, …]
//	}
//
// with policies {"fee_base", "fee_ppm", "expiry_delta_ms", "htlc_min",
// "htlc_max" (0 = capacity), "disabled", "last_update" (unix seconds)}.
// Amounts are in the smallest unit. "format" must come first; readers ignore
// unknown keys. The gossip side writes this format with WriteExport.
func WriteExport(w io.Writer, s *Snapshot) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, "{\"format\":%q,\"version\":%d,\n\"nodes\":[", FormatExport, ExportVersion)
	enc := json.NewEncoder(bw)
	first := true
	var err error
	s.Nodes(func(id NodeID) bool {
		if !first {
			bw.WriteByte(',')
		}
		first = false
		err = enc.Encode(ExportNode{ID: hex.EncodeToString([]byte(id))})
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("export nodes: %w", err)
	}
	bw.WriteString("],\n\"channels\":[")
	first = true
	s.Channels(func(c ChannelInfo) bool {
		if !first {
			bw.WriteByte(',')
		}
		first = false
		ec := ExportChannel{ID: strconv.FormatUint(uint64(c.ID), 10), Node1: hex.EncodeToString([]byte(c.Node1)),
			Node2: hex.EncodeToString([]byte(c.Node2)), Capacity: c.Capacity}
		for d, p := range c.Policy {
			if p == nil {
				continue
			}
			ep := &ExportPolicy{FeeBase: p.FeeBase, FeePPM: p.FeePPM, ExpiryDeltaMs: p.ExpiryDelta, HTLCMin: p.HTLCMin, HTLCMax: p.HTLCMax, Disabled: p.Disabled}
			if !p.LastUpdate.IsZero() {
				ep.LastUpdate = p.LastUpdate.Unix()
			}
			ec.Policies[d] = ep
		}
		err = enc.Encode(ec)
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("export channels: %w", err)
	}
	bw.WriteString("]}\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

func hexNode(field, s string) (NodeID, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) == 0 {
		return "", &fieldError{field, "not a non-empty hex string"}
	}
	return NodeID(b), nil
}

func (p *ExportPolicy) policy() *Policy {
	if p == nil {
		return nil
	}
	out := &Policy{FeeBase: p.FeeBase, FeePPM: p.FeePPM, ExpiryDelta: p.ExpiryDeltaMs, HTLCMin: p.HTLCMin, HTLCMax: p.HTLCMax, Disabled: p.Disabled}
	if p.LastUpdate > 0 {
		out.LastUpdate = time.Unix(p.LastUpdate, 0).UTC()
	}
	return out
}

// LoadExport reads the graph export format (see WriteExport and
// routing/EXPORT.md). gzip input is accepted.
func LoadExport(r io.Reader, opts LoadOptions) (*Graph, LoadReport, error) {
	return load(r, opts, FormatExport, func(l *loader) error {
		first := true
		return l.object("top level", func(key string) error {
			isFirst := first
			first = false
			switch key {
			case "format":
				t, err := l.token("format")
				if err != nil {
					return err
				}
				if f, _ := t.(string); f != FormatExport || !isFirst {
					return fmt.Errorf("%w: field \"format\": want %q as the first key, got %v", ErrMalformed, FormatExport, t)
				}
				return nil
			case "version":
				t, err := l.token("version")
				if err != nil {
					return err
				}
				if n, _ := t.(json.Number); n.String() != strconv.Itoa(ExportVersion) {
					return fmt.Errorf("%w: field \"version\": unsupported %v (want %d)", ErrMalformed, t, ExportVersion)
				}
				return nil
			case "nodes":
				return l.array("nodes", func(i int) error {
					var n ExportNode
					ferr, err := l.decode("nodes", i, &n)
					if err != nil {
						return err
					}
					if ferr == nil {
						var id NodeID
						if id, ferr = hexNode("id", n.ID); ferr == nil {
							return l.addNode(id)
						}
					}
					return l.skip("nodes", i, "", SkipMalformed, ferr.Error())
				})
			case "channels":
				if isFirst {
					return fmt.Errorf("%w: field \"format\" missing before \"channels\"", ErrMalformed)
				}
				return l.array("channels", func(i int) error {
					l.report.Records++
					var ec ExportChannel
					ferr, err := l.decode("channels", i, &ec)
					if err != nil {
						return err
					}
					if ferr == nil {
						var c ChannelInfo
						if c, ferr = ec.channel(); ferr == nil {
							return l.addChannel("channels", i, ec.ID, c)
						}
					}
					return l.skip("channels", i, ec.ID, SkipMalformed, ferr.Error())
				})
			default:
				return l.skipValue(key)
			}
		})
	})
}

func (ec *ExportChannel) channel() (ChannelInfo, error) {
	id, err := strconv.ParseUint(ec.ID, 10, 64)
	if err != nil {
		return ChannelInfo{}, &fieldError{"id", "not a decimal uint64"}
	}
	n1, err := hexNode("node1", ec.Node1)
	if err != nil {
		return ChannelInfo{}, err
	}
	n2, err := hexNode("node2", ec.Node2)
	if err != nil {
		return ChannelInfo{}, err
	}
	c := ChannelInfo{ID: ChannelID(id), Node1: n1, Node2: n2, Capacity: ec.Capacity,
		Policy: [2]*Policy{ec.Policies[0].policy(), ec.Policies[1].policy()}}
	for d, p := range c.Policy {
		if err := validatePolicy(p); err != nil {
			return ChannelInfo{}, &fieldError{fmt.Sprintf("policies[%d]", d), err.Error()}
		}
	}
	return c, nil
}
