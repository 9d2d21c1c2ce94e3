package routing

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestPropertyHopBound: hopBound never exceeds the attempt-cost term of a
// hop carrying at least the amount, whatever the capacity and whatever
// bounds without a lower bound mission control holds (which is what makes
// the A* potential consistent).
func TestPropertyHopBound(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := NewBimodalModel(BimodalConfig{Scale: rapid.Float64Range(1e3, 1e9).Draw(t, "scale")})
		attempt := rapid.Float64Range(1, 1e6).Draw(t, "attempt")
		amount := rapid.Uint64Range(1, 1e10).Draw(t, "amount")
		carried := amount + rapid.Uint64Range(0, 1e10).Draw(t, "more")
		capacity := rapid.Uint64Range(carried+1, carried+1e11).Draw(t, "capacity")
		b := Bounds{0, capacity}
		if rapid.Bool().Draw(t, "upper") {
			b.Upper = rapid.Uint64Range(carried, capacity).Draw(t, "upperBound")
		}
		h := m.hopBound(amount, attempt)
		pr := m.Probability(carried, capacity, b)
		if pr <= 0 {
			return // the search never uses such a hop
		}
		if c := -attempt * math.Log(pr); pr < 1 && c < h || pr >= 1 && h > 0 {
			t.Fatalf("hop bound %g above the hop's cost %g (P %g)", h, -attempt*math.Log(pr), pr)
		}
		// The cached-prior path of the search computes the same P.
		if b.Upper == capacity {
			terms := m.terms(carried)
			if pe := m.priorE(&terms, carried, capacity, m.capTerm(capacity)); pe > 0 && pe < 1 && -attempt*math.Log(pe) < h {
				t.Fatalf("hop bound %g above the cached prior's cost %g", h, -attempt*math.Log(pe))
			}
		}
	})
}

func TestHopBoundEdges(t *testing.T) {
	m := NewBimodalModel(BimodalConfig{})
	for _, tc := range []struct {
		amount  uint64
		attempt float64
		zero    bool
	}{
		{1, 100_000, true},            // q below 1e-6: no help
		{100_000_000, 0, true},        // no attempt cost
		{100_000_000, 100_000, false}, // the simulator's typical payment
		{math.MaxUint64, 100_000, false},
	} {
		h := m.hopBound(tc.amount, tc.attempt)
		if (h == 0) != tc.zero || math.IsNaN(h) || math.IsInf(h, 0) {
			t.Errorf("hopBound(%d, %g) = %g", tc.amount, tc.attempt, h)
		}
	}
}

// drawSparseGraph draws a ring of 8–40 nodes with up to 2n chords and some
// leaves (dead ends), so that
// hop distances (and with them the A* potentials) vary, with random
// policies (some directions missing or disabled) and capacities.
func drawSparseGraph(t *rapid.T) randGraph {
	n := rapid.IntRange(8, 40).Draw(t, "nodes")
	rg := randGraph{g: NewGraph(), n: n, infos: map[ChannelID]ChannelInfo{}, balance: mapOracle{}}
	drawPolicy := func(capacity uint64) *Policy {
		if rapid.IntRange(0, 19).Draw(t, "missing") == 0 {
			return nil
		}
		p := &Policy{
			FeeBase:     rapid.Uint64Range(0, 1000).Draw(t, "base"),
			FeePPM:      rapid.Uint32Range(0, 2000).Draw(t, "ppm"),
			ExpiryDelta: rapid.Uint64Range(0, 100).Draw(t, "delta") * 600_000,
			Disabled:    rapid.IntRange(0, 19).Draw(t, "disabled") == 0,
		}
		if rapid.IntRange(0, 4).Draw(t, "limited") == 0 {
			p.HTLCMax = rapid.Uint64Range(1, capacity).Draw(t, "htlcmax")
		}
		return p
	}
	err := rg.g.Update(func(tx *Tx) error {
		chords := rapid.IntRange(0, 2*n).Draw(t, "chords")
		// Leaves: nodes n−leaves … n−1 hang off one ring node each (dead
		// ends, sometimes by parallel channels).
		leaves := rapid.IntRange(0, n/2).Draw(t, "leaves")
		ring := n - leaves
		leafPeer := map[int]int{}
		for i := range ring + chords + leaves + leaves/2 {
			a, b := i, (i+1)%ring
			switch {
			case i >= ring+chords:
				// The second pass adds parallel channels to the same peer.
				a = ring + (i-ring-chords)%leaves
				if _, ok := leafPeer[a]; !ok {
					leafPeer[a] = rapid.IntRange(0, ring-1).Draw(t, "leafPeer")
				}
				b = leafPeer[a]
			case i >= ring:
				a, b = rapid.IntRange(0, ring-1).Draw(t, "a"), rapid.IntRange(0, ring-1).Draw(t, "b")
				if a == b {
					continue
				}
			}
			capacity := rapid.Uint64Range(100_000, 50_000_000).Draw(t, "capacity")
			info := ChannelInfo{ID: ChannelID(i + 1), Node1: nodeName(a), Node2: nodeName(b), Capacity: capacity,
				Policy: [2]*Policy{drawPolicy(capacity), drawPolicy(capacity)}}
			if err := tx.UpsertChannel(info); err != nil {
				return err
			}
			info, _ = tx.Snapshot().Channel(info.ID)
			rg.infos[info.ID] = info
			local := rapid.Uint64Range(0, capacity).Draw(t, "balance")
			rg.balance[EdgeKey{info.ID, 0}] = local
			rg.balance[EdgeKey{info.ID, 1}] = capacity - local
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rg
}

// searchCost recomputes the probabilistic strategy's objective for a route
// from the route's hops, the model, mission control and local balances.
func searchCost(cfg Config, s *Snapshot, mc *MissionControl, local LiquidityOracle, now time.Time, r Route) float64 {
	var cost float64
	for i, h := range r.Hops {
		info, _ := s.Channel(h.Channel)
		dir := DirectionOf(h.From, h.To)
		b := mc.Bounds(EdgeKey{h.Channel, dir}, info.Capacity, now)
		if i == 0 && local != nil {
			liq := min(local.Liquidity(h.Channel, dir), info.Capacity)
			b = Bounds{liq, liq}
		}
		pr := cfg.Model.Probability(h.Amount, info.Capacity, b)
		cost += float64(h.Fee) + cfg.RiskFactor*float64(h.Amount)*float64(h.Delta)*1e-9
		if pr < 1 {
			cost -= cfg.AttemptCost * math.Log(pr)
		}
	}
	return cost
}

// TestPropertyAStarExact: the A* potential changes nothing but speed. On
// random graphs with mission-control knowledge (successes and failures)
// and sometimes the payer's balances, probabilistic finds a route exactly
// when plain Dijkstra does, of the same cost (equal-cost ties may pick
// different routes). No request limits: with limits, a tie between labels
// of different hop counts or time locks can legitimately change what is
// pruned later.
func TestPropertyAStarExact(t *testing.T) {
	defer func() { useHopBound = true }()
	rapid.Check(t, func(t *rapid.T) {
		rg := drawSparseGraph(t)
		s := rg.g.Snapshot()
		// Log-uniform scales: from hop bounds far above the fees to far below.
		scale := math.Pow(10, rapid.Float64Range(4, 8.5).Draw(t, "log10scale"))
		cfg := Config{Model: NewBimodalModel(BimodalConfig{Scale: scale}), MinProbability: 1e-9}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		st := newSinglePath(StrategyProbabilistic, costProbabilistic, cfg)
		mc := NewMissionControl(MissionConfig{})
		now := time.Unix(1_700_000_000, 0)
		var obs []Observation
		for range rapid.IntRange(0, 2*rg.n).Draw(t, "observations") {
			o := Observation{Channel: ChannelID(rapid.IntRange(1, 3*rg.n).Draw(t, "obsChan")), Direction: Direction(rapid.IntRange(0, 1).Draw(t, "obsDir"))}
			// Successes make directions free (see potentials).
			if rapid.Bool().Draw(t, "success") {
				o.Lower, o.LowerTime = rapid.Uint64Range(1, 10_000_000).Draw(t, "lower"), now.Add(-time.Minute)
			} else {
				o.Upper, o.UpperTime = rapid.Uint64Range(0, 10_000_000).Draw(t, "upperObs"), now.Add(-time.Minute)
			}
			obs = append(obs, o)
		}
		mc.Import(obs)
		for range 6 {
			req := drawRequest(t, rg, false)
			req.Amount = rapid.Uint64Range(1, 2_000_000).Draw(t, "amount")
			var local LiquidityOracle
			if rapid.Bool().Draw(t, "local") {
				local = rg.balance
			}
			in := Input{Graph: s, Request: req, Mission: mc, Now: now, Local: local}
			useHopBound = false
			want, werr := st.FindRoutes(in)
			useHopBound = true
			got, gerr := st.FindRoutes(in)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("Dijkstra: %v, A*: %v", werr, gerr)
			}
			if werr != nil {
				if !errors.Is(werr, ErrNoRoute) && !errors.Is(werr, ErrUnknownNode) {
					t.Fatalf("unexpected error %v", werr)
				}
				continue
			}
			wc, gc := searchCost(cfg, s, mc, local, now, want[0]), searchCost(cfg, s, mc, local, now, got[0])
			if math.Abs(wc-gc) > 1e-9*max(1, math.Abs(wc)) {
				t.Fatalf("A* route costs %v, Dijkstra's %v\nA*: %+v\nDijkstra: %+v", gc, wc, got[0], want[0])
			}
		}
	})
}

// TestPropertyPotentialConsistent checks the A* potential's consistency
// directly: across every direction u→v a search could relax, the
// potential rises by at most the direction's cost at the request's amount
// (costs only grow with the amount a hop carries). Mission control holds
// random successes (free directions) and failures, and the payer's
// balances are sometimes known.
func TestPropertyPotentialConsistent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rg := drawSparseGraph(t)
		g := rg.g.Snapshot()
		scale := math.Pow(10, rapid.Float64Range(4, 8.5).Draw(t, "log10scale"))
		m := NewBimodalModel(BimodalConfig{Scale: scale})
		cfg := Config{Model: m}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		now := time.Unix(1_700_000_000, 0)
		mc := NewMissionControl(MissionConfig{})
		var obs []Observation
		for range rapid.IntRange(0, 2*rg.n).Draw(t, "observations") {
			o := Observation{Channel: ChannelID(rapid.IntRange(1, 3*rg.n).Draw(t, "obsChan")), Direction: Direction(rapid.IntRange(0, 1).Draw(t, "obsDir"))}
			if rapid.Bool().Draw(t, "success") {
				o.Lower, o.LowerTime = rapid.Uint64Range(1, 10_000_000).Draw(t, "lower"), now.Add(-time.Minute)
			} else {
				o.Upper, o.UpperTime = rapid.Uint64Range(0, 10_000_000).Draw(t, "upperObs"), now.Add(-time.Minute)
			}
			obs = append(obs, o)
		}
		mc.Import(obs)
		req := drawRequest(t, rg, false)
		req.Amount = rapid.Uint64Range(1, 2_000_000).Draw(t, "amount")
		in := Input{Graph: g, Request: req, Mission: mc, Now: now}
		if rapid.Bool().Draw(t, "local") {
			in.Local = rg.balance
		}
		s, err := prepare(in, &cfg, costProbabilistic)
		if err != nil {
			t.Fatal(err)
		}
		p := &pathfinder{}
		p.reset(g, true)
		p.applyExclusions(&s, &req)
		p.loadObservations(&s)
		pot := p.potentials(&s, m)
		if pot == ([4]float64{}) {
			return // no bound for this amount and scale
		}
		potOf := func(v uint32) float64 {
			if p.nl[v].seen != p.gen {
				return pot[0]
			}
			return pot[hopClass(p.nl[v].flags)]
		}
		for ei := range 2 * g.chans.n {
			e, c := g.edges.at(ei), g.chans.at(ei>>1)
			if !e.usable() || c.node1 == removedNode {
				continue
			}
			u, v := c.node1, c.node2
			if ei&1 == 1 {
				u, v = v, u
			}
			a, capacity := s.amount, *g.caps.at(ei >> 1)
			var cost float64
			if u != s.src {
				cost = float64(fee(e.feeBase, e.feePPM, a)) + cfg.RiskFactor*float64(a)*float64(e.delta)*1e-9
			}
			pr := p.probability(&s, ei, a, capacity)
			if pr <= 0 || pr < cfg.MinProbability {
				continue // never relaxed at this amount, nor at larger ones
			}
			if pr < 1 {
				cost -= cfg.AttemptCost * math.Log(pr)
			}
			if rise := potOf(v) - potOf(u); rise > cost {
				t.Fatalf("potential rises by %g across %d→%d (edge %d, P %g), which costs %g", rise, u, v, ei, pr, cost)
			}
		}
	})
}

// TestSearchIndex: a snapshot's first search reads the graph directly, the
// second builds the shared incoming-direction index, and routes are the
// same either way, also when many goroutines search a fresh snapshot at
// once (run with -race). A snapshot made by a later update gets its own
// index.
func TestSearchIndex(t *testing.T) {
	g, err := GenerateScaleFree(GenConfig{Nodes: 300, Channels: 1200, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	st, err := NewStrategy(StrategyProbabilistic, Config{})
	if err != nil {
		t.Fatal(err)
	}
	pairs := queryPairs(40, 300)
	find := func(s *Snapshot, p [2]NodeID) ([]Route, error) {
		return st.FindRoutes(Input{Graph: s, Request: Request{Source: p[0], Target: p[1], Amount: 20_000_000, FinalExpiryDelta: 40 * MsPerBlock}})
	}
	// Reference: every query on a fresh copy of the snapshot, so each
	// is that snapshot's first search (no index).
	want := make([][]Route, len(pairs))
	for i, p := range pairs {
		s := g.Snapshot()
		fresh := *s
		fresh.index = &searchIndex{}
		want[i], _ = find(&fresh, p)
		if fresh.index.built.Load() != nil {
			t.Fatal("index built by a snapshot's first search")
		}
	}
	s := g.Snapshot()
	done := make(chan [][]Route)
	for range 4 {
		go func() {
			got := make([][]Route, len(pairs))
			for i, p := range pairs {
				got[i], _ = find(s, p)
			}
			done <- got
		}()
	}
	for range 4 {
		got := <-done
		if !reflect.DeepEqual(got, want) {
			t.Fatal("routes differ with the search index")
		}
	}
	if s.index.built.Load() == nil {
		t.Fatal("index not built after many searches")
	}
	if err := g.UpsertChannel(ChannelInfo{ID: 999_999, Node1: GenNodeID(1), Node2: GenNodeID(2), Capacity: 1_000_000_000,
		Policy: [2]*Policy{{FeeBase: 1}, {FeeBase: 1}}}); err != nil {
		t.Fatal(err)
	}
	if next := g.Snapshot(); next.index == s.index || next.index.built.Load() != nil {
		t.Fatal("a new snapshot shares its predecessor's index")
	}
}
