package sim

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// MaxCapacityMsat is the largest channel capacity the simulator accepts:
// 21 million bitcoin in millisatoshi. Anything larger is a corrupt file.
const MaxCapacityMsat uint64 = 21_000_000 * 100_000_000 * 1000

// ErrInvalidTopology is wrapped by every topology validation error.
var ErrInvalidTopology = errors.New("invalid topology")

// Policy is the forwarding policy of one channel direction.
type Policy struct {
	// FeeBaseMsat is the fixed fee charged per forwarded HTLC.
	FeeBaseMsat uint64
	// FeePPM is the proportional fee in parts per million of the amount.
	FeePPM uint64
	// CLTVDelta is the expiry delta, in blocks (see EngineConfig.BlockTime).
	CLTVDelta uint32
	// HTLCMinMsat is the smallest HTLC the direction forwards.
	HTLCMinMsat uint64
	// HTLCMaxMsat is the largest HTLC the direction forwards; 0 means the
	// channel capacity.
	HTLCMaxMsat uint64
	// Disabled marks a direction that does not forward.
	Disabled bool
}

// Fee returns the fee the policy charges for forwarding amt msat.
func (p Policy) Fee(amt uint64) uint64 {
	return p.FeeBaseMsat + mulDiv(amt, p.FeePPM, 1_000_000)
}

// mulDiv returns a*b/c, saturating at MaxUint64 instead of overflowing.
func mulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, c)
	return q
}

// Channel is one bidirectional payment channel. Direction d forwards from
// Node[d] to Node[1-d] under Policy[d], spending Balance[d].
type Channel struct {
	// ID is the channel's identifier in its source (short channel id,
	// CLoTH channel id, or a generated number).
	ID string
	// Node holds the dense indices of the two ends.
	Node [2]int32
	// CapacityMsat is the channel capacity in millisatoshi.
	CapacityMsat uint64
	// Policy holds the forwarding policy of each direction.
	Policy [2]Policy
	// Balance holds each end's balance when Topology.HasBalances is set.
	Balance [2]uint64
}

// Topology is a channel graph as the simulator sees it: dense node indices,
// channels with both directions' policies, and optionally balances.
type Topology struct {
	// Name describes where the topology came from (file name or generator).
	Name string
	// Nodes holds the external identifier of each node (pubkey, CLoTH id,
	// generated number); the index is the node's dense index.
	Nodes []string
	// Channels lists every channel.
	Channels []Channel
	// HasBalances reports whether Channel.Balance comes from the source.
	HasBalances bool
}

// Validate checks the topology's structural invariants: endpoints in range,
// no self-loops, positive and plausible capacities, unique channel ids,
// balances summing to capacity.
func (t *Topology) Validate() error {
	if len(t.Nodes) == 0 {
		return fmt.Errorf("%w: %s: no nodes", ErrInvalidTopology, t.Name)
	}
	if len(t.Nodes) > math.MaxInt32 {
		return fmt.Errorf("%w: %s: too many nodes (%d)", ErrInvalidTopology, t.Name, len(t.Nodes))
	}
	if len(t.Channels) == 0 {
		return fmt.Errorf("%w: %s: no channels", ErrInvalidTopology, t.Name)
	}
	seen := make(map[string]struct{}, len(t.Channels))
	n := int32(len(t.Nodes))
	for i := range t.Channels {
		c := &t.Channels[i]
		if c.Node[0] < 0 || c.Node[0] >= n || c.Node[1] < 0 || c.Node[1] >= n {
			return fmt.Errorf("%w: %s: channel %q: endpoint out of range", ErrInvalidTopology, t.Name, c.ID)
		}
		if c.Node[0] == c.Node[1] {
			return fmt.Errorf("%w: %s: channel %q: self-loop on node %s", ErrInvalidTopology, t.Name, c.ID, t.Nodes[c.Node[0]])
		}
		if c.CapacityMsat == 0 || c.CapacityMsat > MaxCapacityMsat {
			return fmt.Errorf("%w: %s: channel %q: capacity %d msat out of range (1..%d)", ErrInvalidTopology, t.Name, c.ID, c.CapacityMsat, MaxCapacityMsat)
		}
		if _, dup := seen[c.ID]; dup {
			return fmt.Errorf("%w: %s: duplicate channel id %q", ErrInvalidTopology, t.Name, c.ID)
		}
		seen[c.ID] = struct{}{}
		if t.HasBalances && (c.Balance[0] > c.CapacityMsat || c.Balance[1] != c.CapacityMsat-c.Balance[0]) {
			return fmt.Errorf("%w: %s: channel %q: balances %d+%d do not sum to capacity %d", ErrInvalidTopology, t.Name, c.ID, c.Balance[0], c.Balance[1], c.CapacityMsat)
		}
	}
	return nil
}

// TotalCapacity returns the sum of all channel capacities in msat.
func (t *Topology) TotalCapacity() uint64 {
	var s uint64
	for i := range t.Channels {
		s += t.Channels[i].CapacityMsat
	}
	return s
}

// Clone returns a deep copy of t.
func (t *Topology) Clone() *Topology {
	c := *t
	c.Nodes = slices.Clone(t.Nodes)
	c.Channels = slices.Clone(t.Channels)
	return &c
}

// TopologyStats summarises a topology for `sim topo`.
type TopologyStats struct {
	Name              string  `json:"name"`
	Nodes             int     `json:"nodes"`
	Channels          int     `json:"channels"`
	IsolatedNodes     int     `json:"isolated_nodes"`
	TotalCapacityMsat uint64  `json:"total_capacity_msat"`
	CapacityMinMsat   uint64  `json:"capacity_min_msat"`
	CapacityMedMsat   uint64  `json:"capacity_median_msat"`
	CapacityMeanMsat  float64 `json:"capacity_mean_msat"`
	CapacityMaxMsat   uint64  `json:"capacity_max_msat"`
	DegreeMean        float64 `json:"degree_mean"`
	DegreeMax         int     `json:"degree_max"`
	Components        int     `json:"components"`
	LargestComponent  int     `json:"largest_component"`
	FeeBaseMedianMsat uint64  `json:"fee_base_median_msat"`
	FeePPMMedian      uint64  `json:"fee_ppm_median"`
	CLTVDeltaMedian   uint32  `json:"cltv_delta_median"`
}

// Inspect computes TopologyStats. Components are counted over nodes with at
// least one channel; isolated nodes are reported separately.
func Inspect(t *Topology) TopologyStats {
	s := TopologyStats{Name: t.Name, Nodes: len(t.Nodes), Channels: len(t.Channels)}
	if len(t.Channels) == 0 {
		s.IsolatedNodes = len(t.Nodes)
		return s
	}
	caps := make([]uint64, len(t.Channels))
	base := make([]uint64, 0, 2*len(t.Channels))
	ppm := make([]uint64, 0, 2*len(t.Channels))
	delta := make([]uint32, 0, 2*len(t.Channels))
	deg := make([]int, len(t.Nodes))
	parent := make([]int32, len(t.Nodes))
	for i := range parent {
		parent[i] = int32(i)
	}
	find := func(x int32) int32 {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	for i, c := range t.Channels {
		caps[i] = c.CapacityMsat
		s.TotalCapacityMsat += c.CapacityMsat
		for d := range 2 {
			base = append(base, c.Policy[d].FeeBaseMsat)
			ppm = append(ppm, c.Policy[d].FeePPM)
			delta = append(delta, c.Policy[d].CLTVDelta)
		}
		deg[c.Node[0]]++
		deg[c.Node[1]]++
		a, b := find(c.Node[0]), find(c.Node[1])
		if a != b {
			parent[a] = b
		}
	}
	slices.Sort(caps)
	slices.Sort(base)
	slices.Sort(ppm)
	slices.Sort(delta)
	s.CapacityMinMsat = caps[0]
	s.CapacityMaxMsat = caps[len(caps)-1]
	s.CapacityMedMsat = caps[len(caps)/2]
	s.CapacityMeanMsat = float64(s.TotalCapacityMsat) / float64(len(caps))
	s.FeeBaseMedianMsat = base[len(base)/2]
	s.FeePPMMedian = ppm[len(ppm)/2]
	s.CLTVDeltaMedian = delta[len(delta)/2]
	size := make(map[int32]int)
	sum := 0
	for i, d := range deg {
		if d == 0 {
			s.IsolatedNodes++
			continue
		}
		sum += d
		s.DegreeMax = max(s.DegreeMax, d)
		size[find(int32(i))]++
	}
	s.DegreeMean = float64(sum) / float64(len(t.Nodes))
	s.Components = len(size)
	for _, n := range size {
		s.LargestComponent = max(s.LargestComponent, n)
	}
	return s
}
