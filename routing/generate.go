package routing

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// GenConfig configures GenerateScaleFree.
type GenConfig struct {
	// Nodes and Channels are the graph size; Channels must be at least
	// Nodes-1 (the graph is connected) and at most Nodes·(Nodes−1)/2.
	Nodes    int
	Channels int
	// Seed makes the graph reproducible.
	Seed uint64
	// DisabledFraction of directions are marked disabled (default 0).
	DisabledFraction float64
}

// GenNodeID returns the NodeID GenerateScaleFree gives node i: a 66-char
// hex string shaped like a Lightning public key, so generated graphs sort
// and print like real ones.
func GenNodeID(i int) NodeID {
	return NodeID(fmt.Sprintf("02%064x", uint64(i)*0x9e3779b97f4a7c15))
}

// GenerateScaleFree builds a Barabási–Albert style scale-free channel graph
// with Lightning-like parameters: each new node opens channels to existing
// nodes chosen proportionally to their degree. Capacities are log-normal
// around a median of 500,000 sat (in msat units), base fees 0–1000 msat,
// proportional fees log-uniform 1–1000 ppm, expiry deltas of 40, 80 or 144
// blocks at 600,000 ms per block, HTLC minimum 1000 msat, HTLC maximum the
// capacity. Channel ids are "BLOCKxTXx0" style with block from 500,000.
// The benchmark-scale graph is Nodes=15,000, Channels=80,000.
func GenerateScaleFree(cfg GenConfig) (*Graph, error) {
	n, m := cfg.Nodes, cfg.Channels
	if n < 2 || m < n-1 || float64(m) > float64(n)*float64(n-1)/2 {
		return nil, fmt.Errorf("routing: generate: %d channels on %d nodes is impossible for a connected simple graph", m, n)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x70617965))
	ids := make([]NodeID, n)
	for i := range ids {
		ids[i] = GenNodeID(i)
	}
	// ends lists every channel endpoint once; drawing from it uniformly is
	// preferential attachment by degree.
	ends := make([]int32, 0, 2*m)
	type pair struct{ a, b int32 }
	seen := make(map[pair]struct{}, m)
	var chans []pair
	add := func(a, b int32) bool {
		if a == b {
			return false
		}
		if a > b {
			a, b = b, a
		}
		if _, ok := seen[pair{a, b}]; ok {
			return false
		}
		seen[pair{a, b}] = struct{}{}
		chans = append(chans, pair{a, b})
		ends = append(ends, a, b)
		return true
	}
	// Spread the channels over arriving nodes: node i opens k_i ≥ 1
	// channels with Σk = m.
	extra := m - (n - 1)
	for i := 1; i < n; i++ {
		k := 1
		if extra > 0 {
			// Expected extra per remaining node, randomised.
			per := float64(extra) / float64(n-i)
			x := int(per)
			if rng.Float64() < per-float64(x) {
				x++
			}
			x = min(x, extra, i-1)
			k += x
			extra -= x
		}
		opened := 0
		for tries := 0; opened < k && tries < 50*k; tries++ {
			var t int32
			if len(ends) == 0 {
				t = 0
			} else {
				t = ends[rng.IntN(len(ends))]
			}
			if add(int32(i), t) {
				opened++
			}
		}
		extra += k - opened
	}
	// Any remainder (from failed draws) goes between random existing pairs.
	for tries := 0; extra > 0 && tries < 100*m; tries++ {
		if add(ends[rng.IntN(len(ends))], int32(rng.IntN(n))) {
			extra--
		}
	}
	g := NewGraph()
	deltas := [...]uint64{40, 80, 144}
	policy := func(capacity uint64) *Policy {
		return &Policy{
			FeeBase:     uint64(rng.IntN(1001)),
			FeePPM:      uint32(math.Exp(rng.Float64() * math.Log(1000))),
			ExpiryDelta: deltas[rng.IntN(len(deltas))] * MsPerBlock,
			HTLCMin:     1000,
			HTLCMax:     capacity,
			Disabled:    rng.Float64() < cfg.DisabledFraction,
			LastUpdate:  time.Unix(1_700_000_000+int64(rng.IntN(1_000_000)), 0),
		}
	}
	err := g.Update(func(tx *Tx) error {
		for i, c := range chans {
			capSat := math.Exp(math.Log(500_000) + 1.2*rng.NormFloat64())
			capacity := uint64(min(max(capSat, 20_000), 1e9)) * 1000
			info := ChannelInfo{
				ID:       ChannelID(uint64(500_000+i/1000)<<40 | uint64(i%1000)<<16),
				Node1:    ids[c.a],
				Node2:    ids[c.b],
				Capacity: capacity,
				Policy:   [2]*Policy{policy(capacity), policy(capacity)},
			}
			if err := tx.UpsertChannel(info); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("routing: generate: %w", err)
	}
	return g, nil
}

// MsPerBlock converts Lightning block counts to routing's millisecond
// time locks: one block is taken as 600,000 ms (10 minutes).
const MsPerBlock = 600_000
