package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
)

// ErrInvalidGenerator is wrapped by generator configuration errors.
var ErrInvalidGenerator = errors.New("invalid generator config")

// MaxGeneratedNodes bounds generated topologies (10 million nodes).
const MaxGeneratedNodes = 10_000_000

// GeneratorConfig describes a random topology. Model is one of "ba"
// (Barabási–Albert preferential attachment, M channels per new node), "ws"
// (Watts–Strogatz ring lattice where each node links to its K nearest
// neighbours, each link rewired with probability Beta), "er" (Erdős–Rényi G(n, p) with P, or with AvgDegree
// which sets p = AvgDegree/(n-1)) and "grid" (Rows × Cols lattice, as for
// device meshes).
type GeneratorConfig struct {
	Model     string  `toml:"model" json:"model,omitempty"`
	Nodes     int     `toml:"nodes" json:"nodes,omitempty"`
	M         int     `toml:"m" json:"m,omitempty"`
	K         int     `toml:"k" json:"k,omitempty"`
	Beta      float64 `toml:"beta" json:"beta,omitempty"`
	P         float64 `toml:"p" json:"p,omitempty"`
	AvgDegree float64 `toml:"avg_degree" json:"avg_degree,omitempty"`
	Rows      int     `toml:"rows" json:"rows,omitempty"`
	Cols      int     `toml:"cols" json:"cols,omitempty"`
	// Capacity is the channel capacity distribution in msat.
	Capacity Dist `toml:"capacity" json:"capacity,omitzero"`
	// FeeBase and FeePPM are per-direction fee policy distributions; unset
	// means 1000 msat and 1 ppm (the 2021 network's medians).
	FeeBase Dist `toml:"fee_base" json:"fee_base,omitzero"`
	FeePPM  Dist `toml:"fee_ppm" json:"fee_ppm,omitzero"`
	// CLTVDelta is every direction's expiry delta in blocks (default 40).
	CLTVDelta uint32 `toml:"cltv_delta" json:"cltv_delta,omitempty"`
	// HTLCMinMsat is every direction's minimum HTLC (default 1000).
	HTLCMinMsat uint64 `toml:"htlc_min_msat" json:"htlc_min_msat,omitempty"`
}

func (g *GeneratorConfig) validate() error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidGenerator, fmt.Sprintf(f, a...))
	}
	n := g.Nodes
	switch g.Model {
	case "grid":
		if g.Rows <= 0 || g.Cols <= 0 || g.Rows*g.Cols < 2 || g.Rows > MaxGeneratedNodes || g.Cols > MaxGeneratedNodes || g.Rows*g.Cols > MaxGeneratedNodes {
			return bad("grid: rows and cols must be > 0 with 2 <= rows*cols <= %d", MaxGeneratedNodes)
		}
		n = g.Rows * g.Cols
	case "ba", "ws", "er":
		if n < 2 || n > MaxGeneratedNodes {
			return bad("nodes: must be in [2, %d], got %d", MaxGeneratedNodes, n)
		}
	case "":
		return bad("model: missing (ba, ws, er, grid)")
	default:
		return bad("model: unknown %q (ba, ws, er, grid)", g.Model)
	}
	switch g.Model {
	case "ba":
		if g.M < 1 || g.M >= n {
			return bad("m: must be in [1, nodes-1], got %d", g.M)
		}
	case "ws":
		if g.K < 2 || g.K%2 != 0 || g.K >= n {
			return bad("k: must be even, >= 2 and < nodes, got %d", g.K)
		}
		if g.Beta < 0 || g.Beta > 1 {
			return bad("beta: must be in [0, 1], got %g", g.Beta)
		}
	case "er":
		if g.AvgDegree > 0 {
			if g.P != 0 {
				return bad("set p or avg_degree, not both")
			}
			g.P = g.AvgDegree / float64(n-1)
		}
		if !(g.P > 0 && g.P <= 1) {
			return bad("p: must be in (0, 1], got %g", g.P)
		}
		if g.P*float64(n)*float64(n-1)/2 > 50_000_000 {
			return bad("p: expected channel count %.0f exceeds 50 million", g.P*float64(n)*float64(n-1)/2)
		}
	}
	if g.Capacity.Kind == "" {
		return bad("capacity: missing distribution")
	}
	if err := g.Capacity.Validate(); err != nil {
		return bad("capacity: %v", err)
	}
	if g.FeeBase.Kind == "" {
		g.FeeBase = Constant(1000)
	}
	if g.FeePPM.Kind == "" {
		g.FeePPM = Constant(1)
	}
	if err := g.FeeBase.Validate(); err != nil {
		return bad("fee_base: %v", err)
	}
	if err := g.FeePPM.Validate(); err != nil {
		return bad("fee_ppm: %v", err)
	}
	if g.CLTVDelta == 0 {
		g.CLTVDelta = 40
	}
	if g.HTLCMinMsat == 0 {
		g.HTLCMinMsat = 1000
	}
	return nil
}

// Generate builds a random topology from cfg using r. The same cfg and
// random stream always give the same topology.
func Generate(cfg GeneratorConfig, r *rand.Rand) (*Topology, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var pairs [][2]int32
	n := cfg.Nodes
	switch cfg.Model {
	case "ba":
		pairs = genBA(n, cfg.M, r)
	case "ws":
		pairs = genWS(n, cfg.K, cfg.Beta, r)
	case "er":
		pairs = genER(n, cfg.P, r)
	case "grid":
		n = cfg.Rows * cfg.Cols
		pairs = genGrid(cfg.Rows, cfg.Cols)
	}
	t := &Topology{Name: "generated:" + cfg.Model, Nodes: make([]string, n), Channels: make([]Channel, len(pairs))}
	for i := range t.Nodes {
		t.Nodes[i] = strconv.Itoa(i)
	}
	for i, p := range pairs {
		c := &t.Channels[i]
		c.ID = strconv.Itoa(i)
		c.Node = p
		c.CapacityMsat = max(cfg.Capacity.Sample(r), 1)
		for d := range 2 {
			c.Policy[d] = Policy{
				FeeBaseMsat: cfg.FeeBase.Sample(r),
				FeePPM:      cfg.FeePPM.Sample(r),
				CLTVDelta:   cfg.CLTVDelta,
				HTLCMinMsat: cfg.HTLCMinMsat,
			}
		}
	}
	if len(t.Channels) == 0 {
		return nil, fmt.Errorf("%w: %s produced no channels; raise p or avg_degree", ErrInvalidGenerator, cfg.Model)
	}
	return t, nil
}

// genBA grows a Barabási–Albert graph: a seed clique of m+1 nodes, then each
// new node attaches to m distinct existing nodes chosen with probability
// proportional to degree (sampling from the list of edge endpoints).
func genBA(n, m int, r *rand.Rand) [][2]int32 {
	pairs := make([][2]int32, 0, n*m)
	ends := make([]int32, 0, 2*n*m)
	for i := 0; i <= m; i++ {
		for j := 0; j < i; j++ {
			pairs = append(pairs, [2]int32{int32(j), int32(i)})
			ends = append(ends, int32(j), int32(i))
		}
	}
	chosen := make(map[int32]struct{}, m)
	targets := make([]int32, 0, m)
	for v := m + 1; v < n; v++ {
		clear(chosen)
		targets = targets[:0]
		for len(targets) < m {
			u := ends[r.IntN(len(ends))]
			if _, ok := chosen[u]; ok {
				continue
			}
			chosen[u] = struct{}{}
			targets = append(targets, u)
		}
		for _, u := range targets {
			pairs = append(pairs, [2]int32{u, int32(v)})
			ends = append(ends, u, int32(v))
		}
	}
	return pairs
}

// genWS builds a Watts–Strogatz small world: a ring where each node links to
// its k/2 clockwise neighbours, each link rewired to a uniformly random node
// with probability beta (avoiding self-loops and duplicates).
func genWS(n, k int, beta float64, r *rand.Rand) [][2]int32 {
	type key struct{ a, b int32 }
	norm := func(a, b int32) key {
		if a > b {
			a, b = b, a
		}
		return key{a, b}
	}
	set := make(map[key]struct{}, n*k/2)
	pairs := make([][2]int32, 0, n*k/2)
	for i := range n {
		for j := 1; j <= k/2; j++ {
			a, b := int32(i), int32((i+j)%n)
			set[norm(a, b)] = struct{}{}
			pairs = append(pairs, [2]int32{a, b})
		}
	}
	for i := range pairs {
		if r.Float64() >= beta {
			continue
		}
		a := pairs[i][0]
		for try := 0; try < 16; try++ {
			b := int32(r.IntN(n))
			if b == a {
				continue
			}
			if _, dup := set[norm(a, b)]; dup {
				continue
			}
			delete(set, norm(pairs[i][0], pairs[i][1]))
			set[norm(a, b)] = struct{}{}
			pairs[i][1] = b
			break
		}
	}
	return pairs
}

// genER draws G(n, p) by geometric skipping over the n(n-1)/2 pairs
// (Batagelj–Brandes), so sparse graphs cost O(n + m).
func genER(n int, p float64, r *rand.Rand) [][2]int32 {
	var pairs [][2]int32
	if p >= 1 {
		for v := 1; v < n; v++ {
			for w := 0; w < v; w++ {
				pairs = append(pairs, [2]int32{int32(w), int32(v)})
			}
		}
		return pairs
	}
	lp := log1m(p)
	v, w := 1, -1
	for v < n {
		w += 1 + int(logOf(1-r.Float64())/lp)
		for w >= v && v < n {
			w -= v
			v++
		}
		if v < n {
			pairs = append(pairs, [2]int32{int32(w), int32(v)})
		}
	}
	return pairs
}

// genGrid links each cell of a rows × cols lattice to its right and lower
// neighbours.
func genGrid(rows, cols int) [][2]int32 {
	var pairs [][2]int32
	id := func(r, c int) int32 { return int32(r*cols + c) }
	for i := range rows {
		for j := range cols {
			if j+1 < cols {
				pairs = append(pairs, [2]int32{id(i, j), id(i, j+1)})
			}
			if i+1 < rows {
				pairs = append(pairs, [2]int32{id(i, j), id(i+1, j)})
			}
		}
	}
	return pairs
}
