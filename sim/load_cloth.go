package sim

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
)

// CLoTHFiles names and supplies the three CSV files of a CLoTH network
// (nodes_ln.csv, channels_ln.csv, edges_ln.csv). Amounts are millisatoshi.
type CLoTHFiles struct {
	NodesName, ChannelsName, EdgesName string
	Nodes, Channels, Edges             io.Reader
}

var (
	clothNodeHeader    = []string{"id"}
	clothChannelHeader = []string{"id", "edge1_id", "edge2_id", "node1_id", "node2_id", "capacity"}
	clothEdgeHeader    = []string{"id", "channel_id", "counter_edge_id", "from_node_id", "to_node_id", "balance", "fee_base", "fee_proportional", "min_htlc", "timelock"}
)

// LoadCLoTH reads CLoTH's CSV triple from disk. The balances in the edge
// file are kept (Topology.HasBalances).
func LoadCLoTH(nodesPath, channelsPath, edgesPath string) (*Topology, error) {
	var fs [3]io.ReadCloser
	for i, p := range []string{nodesPath, channelsPath, edgesPath} {
		f, err := openFile(p)
		if err != nil {
			for _, g := range fs[:i] {
				g.Close()
			}
			return nil, err
		}
		fs[i] = f
	}
	defer func() {
		for _, f := range fs {
			f.Close()
		}
	}()
	t, err := ParseCLoTH(CLoTHFiles{
		NodesName: nodesPath, ChannelsName: channelsPath, EdgesName: edgesPath,
		Nodes: fs[0], Channels: fs[1], Edges: fs[2],
	})
	if err != nil {
		return nil, err
	}
	t.Name = "cloth:" + filepath.Base(filepath.Dir(channelsPath))
	return t, nil
}

type clothEdge struct {
	line             int
	channel, counter uint64
	from, to         uint64
	balance          uint64
	policy           Policy
}

// ParseCLoTH parses CLoTH's CSV triple. It checks that ids are unique, that
// every channel's two edges exist, point at each other and join the
// channel's nodes in opposite directions, and that the two balances sum to
// the capacity.
func ParseCLoTH(f CLoTHFiles) (*Topology, error) {
	t := &Topology{Name: "cloth", HasBalances: true}
	nodeIndex := make(map[uint64]int32)
	lr := newLineReader(f.NodesName, f.Nodes)
	if err := lr.header(clothNodeHeader); err != nil {
		return nil, err
	}
	for {
		s, ok := lr.next()
		if !ok {
			break
		}
		fs, err := lr.csvFields(s, clothNodeHeader)
		if err != nil {
			return nil, err
		}
		id, err := lr.uint(fs[0], "id", math.MaxInt64)
		if err != nil {
			return nil, err
		}
		if _, dup := nodeIndex[id]; dup {
			return nil, loadErr(f.NodesName, lr.line, "id", "duplicate node id %d", id)
		}
		if len(t.Nodes) >= math.MaxInt32 {
			return nil, loadErr(f.NodesName, lr.line, "", "too many nodes")
		}
		nodeIndex[id] = int32(len(t.Nodes))
		t.Nodes = append(t.Nodes, strconv.FormatUint(id, 10))
	}
	if lr.err != nil {
		return nil, lr.err
	}
	if len(t.Nodes) == 0 {
		return nil, loadErr(f.NodesName, 0, "", "no nodes")
	}

	edges := make(map[uint64]clothEdge)
	lr = newLineReader(f.EdgesName, f.Edges)
	if err := lr.header(clothEdgeHeader); err != nil {
		return nil, err
	}
	for {
		s, ok := lr.next()
		if !ok {
			break
		}
		fs, err := lr.csvFields(s, clothEdgeHeader)
		if err != nil {
			return nil, err
		}
		var v [10]uint64
		for i, name := range clothEdgeHeader {
			lim := uint64(math.MaxInt64)
			switch name {
			case "balance", "min_htlc":
				lim = MaxCapacityMsat
			case "fee_base", "fee_proportional":
				lim = math.MaxUint32
			case "timelock":
				lim = math.MaxUint32
			}
			if v[i], err = lr.uint(fs[i], name, lim); err != nil {
				return nil, err
			}
		}
		if _, dup := edges[v[0]]; dup {
			return nil, loadErr(f.EdgesName, lr.line, "id", "duplicate edge id %d", v[0])
		}
		for _, k := range [2]int{3, 4} {
			if _, ok := nodeIndex[v[k]]; !ok {
				return nil, loadErr(f.EdgesName, lr.line, clothEdgeHeader[k], "unknown node %d", v[k])
			}
		}
		if v[3] == v[4] {
			return nil, loadErr(f.EdgesName, lr.line, "to_node_id", "self-loop on node %d", v[3])
		}
		edges[v[0]] = clothEdge{
			line: lr.line, channel: v[1], counter: v[2], from: v[3], to: v[4], balance: v[5],
			policy: Policy{FeeBaseMsat: v[6], FeePPM: v[7], HTLCMinMsat: v[8], CLTVDelta: uint32(v[9])},
		}
	}
	if lr.err != nil {
		return nil, lr.err
	}

	channelIDs := make(map[uint64]struct{})
	used := make(map[uint64]struct{}, len(edges))
	lr = newLineReader(f.ChannelsName, f.Channels)
	if err := lr.header(clothChannelHeader); err != nil {
		return nil, err
	}
	for {
		s, ok := lr.next()
		if !ok {
			break
		}
		fs, err := lr.csvFields(s, clothChannelHeader)
		if err != nil {
			return nil, err
		}
		var v [6]uint64
		for i, name := range clothChannelHeader {
			lim := uint64(math.MaxInt64)
			if name == "capacity" {
				lim = MaxCapacityMsat
			}
			if v[i], err = lr.uint(fs[i], name, lim); err != nil {
				return nil, err
			}
		}
		id, e1id, e2id, n1, n2, capacity := v[0], v[1], v[2], v[3], v[4], v[5]
		if _, dup := channelIDs[id]; dup {
			return nil, loadErr(f.ChannelsName, lr.line, "id", "duplicate channel id %d", id)
		}
		channelIDs[id] = struct{}{}
		if capacity == 0 {
			return nil, loadErr(f.ChannelsName, lr.line, "capacity", "zero capacity")
		}
		a, okA := nodeIndex[n1]
		b, okB := nodeIndex[n2]
		if !okA || !okB {
			return nil, loadErr(f.ChannelsName, lr.line, "node1_id", "unknown node %d or %d", n1, n2)
		}
		if a == b {
			return nil, loadErr(f.ChannelsName, lr.line, "node2_id", "self-loop on node %d", n1)
		}
		e1, ok1 := edges[e1id]
		e2, ok2 := edges[e2id]
		if !ok1 || !ok2 || e1id == e2id {
			return nil, loadErr(f.ChannelsName, lr.line, "edge1_id", "edges %d and %d must be two distinct edges of %s", e1id, e2id, f.EdgesName)
		}
		for _, e := range []uint64{e1id, e2id} {
			if _, dup := used[e]; dup {
				return nil, loadErr(f.ChannelsName, lr.line, "edge1_id", "edge %d belongs to two channels", e)
			}
			used[e] = struct{}{}
		}
		if e1.channel != id || e2.channel != id || e1.counter != e2id || e2.counter != e1id {
			return nil, loadErr(f.EdgesName, e1.line, "channel_id", "edges %d and %d do not both belong to channel %d and point at each other", e1id, e2id, id)
		}
		if e1.from != n1 || e1.to != n2 || e2.from != n2 || e2.to != n1 {
			return nil, loadErr(f.EdgesName, e1.line, "from_node_id", "edges %d and %d do not join nodes %d and %d in opposite directions", e1id, e2id, n1, n2)
		}
		if e1.balance > capacity || e1.balance+e2.balance != capacity {
			return nil, loadErr(f.EdgesName, e1.line, "balance", "balances %d + %d of channel %d do not sum to capacity %d", e1.balance, e2.balance, id, capacity)
		}
		t.Channels = append(t.Channels, Channel{
			ID:           strconv.FormatUint(id, 10),
			Node:         [2]int32{a, b},
			CapacityMsat: capacity,
			Policy:       [2]Policy{e1.policy, e2.policy},
			Balance:      [2]uint64{e1.balance, e2.balance},
		})
	}
	if lr.err != nil {
		return nil, lr.err
	}
	if len(used) != len(edges) {
		return nil, loadErr(f.EdgesName, 0, "channel_id", "%d edges belong to no channel", len(edges)-len(used))
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", f.ChannelsName, err)
	}
	return t, nil
}
