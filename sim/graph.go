package sim

import (
	"fmt"
	"math"
	"time"

	"github.com/paymesh/paymesh/routing"
)

// NormalizeOrder orders every channel's ends so that Node[0]'s identifier
// sorts before Node[1]'s, swapping policies and balances with them. After
// it, direction d of a sim channel is direction d of the routing channel
// (routing orders ends by NodeID bytes).
func NormalizeOrder(t *Topology) {
	for i := range t.Channels {
		c := &t.Channels[i]
		if t.Nodes[c.Node[0]] > t.Nodes[c.Node[1]] {
			c.Node[0], c.Node[1] = c.Node[1], c.Node[0]
			c.Policy[0], c.Policy[1] = c.Policy[1], c.Policy[0]
			c.Balance[0], c.Balance[1] = c.Balance[1], c.Balance[0]
		}
	}
}

// BuildGraph loads t into a routing graph. Channel i of t becomes
// routing.ChannelID(i); node identifiers become NodeIDs; CLTV deltas in
// blocks become expiry deltas in ms at blockTime per block. Call
// NormalizeOrder first so directions agree.
func BuildGraph(t *Topology, blockTime time.Duration) (*routing.Snapshot, error) {
	ms := uint64(blockTime / time.Millisecond)
	if ms == 0 {
		return nil, fmt.Errorf("build graph: block time %v below 1ms", blockTime)
	}
	seen := make(map[string]struct{}, len(t.Nodes))
	for _, n := range t.Nodes {
		if _, dup := seen[n]; dup {
			return nil, fmt.Errorf("%w: %s: duplicate node id %q", ErrInvalidTopology, t.Name, n)
		}
		seen[n] = struct{}{}
	}
	g := routing.NewGraph()
	err := g.Update(func(tx *routing.Tx) error {
		var pol [2]routing.Policy
		for i := range t.Channels {
			c := &t.Channels[i]
			info := routing.ChannelInfo{
				ID: routing.ChannelID(i), Node1: routing.NodeID(t.Nodes[c.Node[0]]), Node2: routing.NodeID(t.Nodes[c.Node[1]]),
				Capacity: c.CapacityMsat,
			}
			for d := range 2 {
				p := c.Policy[d]
				if p.FeeBaseMsat > math.MaxUint32 || p.FeePPM > math.MaxUint32 || uint64(p.CLTVDelta)*ms > math.MaxUint32 {
					return fmt.Errorf("%w: %s: channel %q direction %d: fee or expiry delta out of range", ErrInvalidTopology, t.Name, c.ID, d)
				}
				pol[d] = routing.Policy{FeeBase: p.FeeBaseMsat, FeePPM: uint32(p.FeePPM), ExpiryDelta: uint64(p.CLTVDelta) * ms,
					HTLCMin: p.HTLCMinMsat, HTLCMax: p.HTLCMaxMsat, Disabled: p.Disabled}
				info.Policy[d] = &pol[d]
			}
			if err := tx.UpsertChannel(info); err != nil {
				return fmt.Errorf("%s: channel %q: %w", t.Name, c.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return g.Snapshot(), nil
}
