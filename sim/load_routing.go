package sim

import (
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/paymesh/paymesh/routing"
)

// loadViaRouting loads an lnd describegraph or Core Lightning listchannels
// dump (gzip accepted) with package routing's loaders and converts it.
// Channels routing skips (both directions disabled, zero capacity,
// malformed) are absent; a direction with no policy is kept disabled.
func loadViaRouting(source, path string) (*Topology, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var g *routing.Graph
	switch source {
	case "lnd":
		g, _, err = routing.LoadLND(f, routing.LoadOptions{})
	case "cln":
		g, _, err = routing.LoadCLN(f, routing.LoadOptions{})
	default:
		return nil, fmt.Errorf("topology.source %q: not a routing format", source)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t, err := FromSnapshot(g.Snapshot(), routing.MsPerBlock*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.Name = source + ":" + filepath.Base(path)
	return t, nil
}

// FromSnapshot converts a routing graph into a Topology (without
// balances), turning expiry deltas in ms back into blocks of blockTime.
// Nodes without channels are dropped.
func FromSnapshot(s *routing.Snapshot, blockTime time.Duration) (*Topology, error) {
	bms := uint64(blockTime / time.Millisecond)
	if bms == 0 {
		return nil, fmt.Errorf("from snapshot: block time %v below 1ms", blockTime)
	}
	t := &Topology{Name: "routing"}
	index := map[routing.NodeID]int32{}
	node := func(id routing.NodeID) int32 {
		i, ok := index[id]
		if !ok {
			i = int32(len(t.Nodes))
			index[id] = i
			t.Nodes = append(t.Nodes, string(id))
		}
		return i
	}
	var err error
	s.Channels(func(ci routing.ChannelInfo) bool {
		if len(t.Nodes) >= math.MaxInt32-2 {
			err = fmt.Errorf("%w: too many nodes", ErrInvalidTopology)
			return false
		}
		c := Channel{ID: ci.ID.String(), Node: [2]int32{node(ci.Node1), node(ci.Node2)}, CapacityMsat: ci.Capacity}
		for d, p := range ci.Policy {
			if p == nil {
				c.Policy[d] = Policy{Disabled: true}
				continue
			}
			c.Policy[d] = Policy{FeeBaseMsat: p.FeeBase, FeePPM: uint64(p.FeePPM), CLTVDelta: uint32(min(p.ExpiryDelta/bms, math.MaxUint32)),
				HTLCMinMsat: p.HTLCMin, HTLCMaxMsat: p.HTLCMax, Disabled: p.Disabled}
		}
		t.Channels = append(t.Channels, c)
		return true
	})
	if err != nil {
		return nil, err
	}
	return t, t.Validate()
}
