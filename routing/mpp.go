package routing

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
)

// The mpp strategy follows Pickhardt and Richter ("Optimally Reliable &
// Cheap Payment Flows on the Lightning Network", 2021): the payment is a
// flow minimising Σ_e AttemptCost·(−ln P_e(f_e)) + μ·fee_e(f_e), with
// −ln P linearised into Config.Pieces pieces per channel direction over the
// liquidity range still uncertain after mission control (amounts below the
// known lower bound cost only fees; above the upper bound are impossible),
// solved exactly on the linearised problem by successive shortest paths with
// potentials, in units of a quantum q = max(⌈amount/(4·MaxParts)⌉,
// MinPartSize).
//
// Running min-cost flow on a 160,000-edge graph is too slow for 30 ms, so
// the flow network is first pruned: one Dijkstra from the target and one
// from the source, under a single-part proxy cost (fee + AttemptCost·−ln P
// for a part of amount/MaxParts, P from mission control bounds where known,
// else the uniform prior), give for each edge u→v the cost of the best path
// through it, d_s(u) + w + d_t(v). Edges within the budget (1.5 times the
// best path's cost plus a tenth of an attempt) are candidates; the
// mppMaxArcs cheapest enter the flow network, and if it cannot carry the
// payment the network is widened four-fold, then to every candidate. Before any of this a cut check rejects payments the
// payer's or payee's channels cannot carry in total. The flow is decomposed
// into paths; parts beyond MaxParts are folded into kept parts with spare
// HTLC room. Each part becomes an exact Route (fees compounding backwards)
// and is checked against the request's limits. Fees are not part of the
// flow, so parts sharing a channel may together exceed its modelled
// liquidity by their upstream fees.
type mpp struct {
	cfg Config
}

// budget is the largest proxy cost of a path whose edges become flow
// candidates: mppBudget times the best path's cost plus mppSlack attempts,
// so that paths somewhat less likely to succeed than the best one (say a
// channel with a known small upper bound) still carry part of the flow.
func (m *mpp) budget(best float64) float64 {
	return mppBudget*best + mppSlack*m.cfg.AttemptCost
}

const (
	mppBudget   = 1.5
	mppSlack    = 0.1
	mppMaxArcs  = 3000
	mppQuantaPP = 4 // quanta per allowed part
)

func newMPP(cfg Config) *mpp { return &mpp{cfg: cfg} }

// Name implements Strategy.
func (m *mpp) Name() string { return StrategyMPP }

type mppScratch struct {
	pf    pathfinder // dist/seen/done arrays for the backward sweep
	gen   uint32     // stamp for the arrays below (independent of pf.gen)
	fwd   []label    // forward sweep labels (dist, seen, done)
	wGen  []uint32   // per directed edge: weight cached in w
	w     []float64
	local []int32 // node → local index+1 (valid where lGen == gen)
	lGen  []uint32
	heap  []heapItem
	cand  []mppCand
	flow  mcf
}

type mppCand struct {
	slack float64
	ei    uint32
}

var mppPool = sync.Pool{New: func() any { return &mppScratch{} }}

func (s *mppScratch) size(g *Snapshot) {
	n, e := int(g.nodes.n), 2*int(g.chans.n)
	if len(s.fwd) < n {
		s.fwd = make([]label, n)
		s.local, s.lGen = make([]int32, n), make([]uint32, n)
		s.gen = math.MaxUint32
	}
	if len(s.w) < e {
		s.w, s.wGen = make([]float64, e), make([]uint32, e)
		s.gen = math.MaxUint32
	}
	s.gen++
	if s.gen == 0 {
		clear(s.fwd)
		clear(s.lGen)
		clear(s.wGen)
		s.gen = 1
	}
}

// flow network on the pruned subgraph.
type mcfArc struct {
	to   int32
	rev  int32 // index of the reverse arc
	cap  int64 // residual capacity in quanta
	cost float64
	ei   uint32 // directed edge of the channel graph
}

// mcf is the flow network; it lives in mppScratch and is reused.
type mcf struct {
	adj    [][]int32 // node → arc indices
	arcs   []mcfArc
	pot    []float64
	dist   []float64
	prev   []int32
	heap   []heapItem
	flow   []int64 // decomposition scratch
	onPath []int32
}

func (f *mcf) reset() {
	f.adj, f.arcs = f.adj[:0], f.arcs[:0]
}

// grow returns s resized to n, reusing its storage when large enough.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func (f *mcf) addArc(u, v int32, capQ int64, cost float64, ei uint32) {
	a := int32(len(f.arcs))
	f.arcs = append(f.arcs, mcfArc{to: v, rev: a + 1, cap: capQ, cost: cost, ei: ei}, mcfArc{to: u, rev: a, cap: 0, cost: -cost, ei: ei})
	f.adj[u] = append(f.adj[u], a)
	f.adj[v] = append(f.adj[v], a+1)
}

// shortest runs Dijkstra with reduced costs from s; returns false if t is
// unreachable.
func (f *mcf) shortest(s, t int32) bool {
	n := len(f.adj)
	for i := range n {
		f.dist[i] = math.Inf(1)
		f.prev[i] = -1
	}
	f.dist[s] = 0
	f.heap = append(f.heap[:0], heapItem{0, uint32(s)})
	pf := pathfinder{heap: f.heap}
	for len(pf.heap) > 0 {
		it := pf.pop()
		u := int32(it.node)
		if it.dist > f.dist[u] {
			continue
		}
		for _, ai := range f.adj[u] {
			a := &f.arcs[ai]
			if a.cap <= 0 {
				continue
			}
			rc := a.cost + f.pot[u] - f.pot[a.to]
			if rc < 0 {
				rc = 0 // rounding noise: reduced costs are non-negative in exact arithmetic
			}
			if d := f.dist[u] + rc; d < f.dist[a.to] {
				f.dist[a.to], f.prev[a.to] = d, ai
				pf.push(heapItem{d, uint32(a.to)})
			}
		}
	}
	f.heap = pf.heap
	if math.IsInf(f.dist[t], 1) {
		return false
	}
	for i := range n {
		if !math.IsInf(f.dist[i], 1) {
			f.pot[i] += f.dist[i]
		}
	}
	return true
}

// FindRoutes implements Strategy.
func (m *mpp) FindRoutes(in Input) ([]Route, error) {
	q, err := prepare(in, &m.cfg, costProbabilistic)
	if err != nil {
		return nil, err
	}
	sc := mppPool.Get().(*mppScratch)
	defer mppPool.Put(sc)
	sc.size(q.g)
	p := &sc.pf
	p.reset(q.g, false)
	p.applyExclusions(&q, &in.Request)
	p.loadObservations(&q)
	defer p.clearObservations()

	amount := q.amount
	quantum := max((amount+uint64(mppQuantaPP*m.cfg.MaxParts)-1)/uint64(mppQuantaPP*m.cfg.MaxParts), m.cfg.MinPartSize, 1)
	units := int64((amount + quantum - 1) / quantum)
	// typical part size: amortises base fees in the flow costs and prices
	// edges for pruning.
	typical := max(amount/uint64(min(m.cfg.MaxParts, 4)), min(quantum, amount))
	proxy := max(amount/uint64(m.cfg.MaxParts), min(quantum, amount))

	if err := m.cutCheck(&q, p); err != nil {
		return nil, err
	}

	gen, sg := p.gen, sc.gen
	weight := func(ei uint32, fromSrc bool) float64 {
		if sc.wGen[ei] == sg {
			return sc.w[ei]
		}
		e := q.g.edges.at(ei)
		capacity := *q.g.caps.at(ei >> 1)
		w := math.Inf(1)
		if e.usable() && e.htlcMax >= quantum && e.htlcMin <= amount && p.exclEdge[ei>>1] != gen {
			a := min(proxy, e.htlcMax)
			// Pruning needs only a proxy: the model with observations where
			// there are some, else the uniform prior (one division, no exps).
			var pr float64
			if p.obsSlot[ei] != 0 {
				pr = p.probability(&q, ei, a, capacity)
			} else if a <= capacity {
				pr = 1 - float64(a)/float64(capacity+1)
			}
			if pr >= m.cfg.MinProbability && pr > 0 {
				var f float64
				if !fromSrc {
					f = float64(fee(e.feeBase, e.feePPM, a))
				}
				w = m.cfg.FeeWeight*f - m.cfg.AttemptCost*math.Log(pr) + 1e-9
			}
		}
		sc.wGen[ei], sc.w[ei] = sg, w
		return w
	}

	// Backward sweep: d_t in p.lab.
	best := m.sweep(q.g, sc, p, q.dst, q.src, false, weight, math.Inf(1), &q)
	if math.IsInf(best, 1) {
		return nil, fmt.Errorf("mpp from %x to %x: %w", string(in.Request.Source), string(in.Request.Target), ErrNoRoute)
	}
	budget := m.budget(best)
	m.sweep(q.g, sc, p, q.src, q.dst, true, weight, budget, &q)

	// Candidate arcs: u→v with d_s(u) + w + d_t(v) ≤ budget.
	cand := sc.cand[:0]
	for u := range q.g.nodes.n {
		if sc.fwd[u].seen != sg || sc.fwd[u].dist > budget || p.excl[u] == gen {
			continue
		}
		for _, a := range q.g.nodes.at(u).adj {
			ei, v := a.ref, a.peer // a.ref = ci<<1|side is the edge out of u
			if p.lab[v].seen != gen || v == q.src || u == q.dst || p.excl[v] == gen {
				continue
			}
			w := weight(ei, u == q.src)
			if s := sc.fwd[u].dist + w + p.lab[v].dist; s <= budget {
				cand = append(cand, mppCand{s, ei})
			}
		}
	}
	sc.cand = cand

	// Solve on the best mppMaxArcs arcs; if they cannot carry the payment,
	// widen to four times as many, then to every candidate.
	var f *mcf
	var s0, t0 int32
	for limit := mppMaxArcs; ; limit *= 4 {
		if limit >= len(cand) {
			limit = len(cand)
		} else {
			selectSmallest(cand, limit)
		}
		sc.gen++ // fresh local-index stamps
		if sc.gen == 0 {
			clear(sc.lGen)
			clear(sc.fwd)
			clear(sc.wGen)
			sc.gen = 1
		}
		var carried int64
		f, s0, t0, carried = m.solve(&q, p, sc, cand[:limit], quantum, typical, units)
		if carried == units {
			break
		}
		if limit == len(cand) {
			return nil, fmt.Errorf("mpp: flow network carries only %d of %d units: %w", carried, units, ErrNoRoute)
		}
	}
	parts, err := m.decompose(f, s0, t0, units)
	if err != nil {
		return nil, err
	}
	return m.buildParts(&q, p, parts, quantum, units)
}

// cutCheck fails fast when the payer's usable outgoing channels or the
// payee's usable incoming channels cannot carry the amount in total (each
// channel direction counted at most at its known upper bound and at
// MaxParts HTLC maximums): no flow exists then, and finding that out by
// flow search would cost the most.
func (m *mpp) cutCheck(q *search, p *pathfinder) error {
	side := func(n uint32, out bool) uint64 {
		var total uint64
		for _, a := range q.g.nodes.at(n).adj {
			ei := a.ref // out of n
			if !out {
				ei ^= 1
			}
			e := q.g.edges.at(ei)
			if !e.usable() || p.exclEdge[ei>>1] == p.gen || p.excl[a.peer] == p.gen {
				continue
			}
			limit := *q.g.caps.at(ei >> 1)
			if slot := p.obsSlot[ei]; slot != 0 {
				limit = min(limit, p.bounds[slot-1].Upper)
			}
			if e.htlcMax <= limit/uint64(m.cfg.MaxParts) {
				limit = e.htlcMax * uint64(m.cfg.MaxParts)
			}
			total += limit
			if total >= q.amount {
				return total
			}
		}
		return total
	}
	if got := side(q.src, true); got < q.amount {
		return fmt.Errorf("mpp: payer's channels can carry %d of %d: %w", got, q.amount, ErrNoRoute)
	}
	if got := side(q.dst, false); got < q.amount {
		return fmt.Errorf("mpp: payee's channels can receive %d of %d: %w", got, q.amount, ErrNoRoute)
	}
	return nil
}

// selectSmallest reorders c so that its first k elements have the smallest
// slack (quickselect).
func selectSmallest(c []mppCand, k int) {
	lo, hi := 0, len(c)-1
	for lo < hi {
		pivot := c[(lo+hi)/2].slack
		i, j := lo, hi
		for i <= j {
			for c[i].slack < pivot {
				i++
			}
			for c[j].slack > pivot {
				j--
			}
			if i <= j {
				c[i], c[j] = c[j], c[i]
				i++
				j--
			}
		}
		switch {
		case k-1 <= j:
			hi = j
		case k-1 >= i:
			lo = i
		default:
			return
		}
	}
}

// solve builds the linearised flow network over cand and pushes up to units
// quanta from source to target by successive shortest paths; it returns
// the network and how many units it carried.
func (m *mpp) solve(q *search, p *pathfinder, sc *mppScratch, cand []mppCand, quantum, typical uint64, units int64) (*mcf, int32, int32, int64) {
	sg := sc.gen
	f := &sc.flow
	f.reset()
	localOf := func(n uint32) int32 {
		if sc.lGen[n] != sg {
			sc.lGen[n] = sg
			sc.local[n] = int32(len(f.adj)) + 1
			if len(f.adj) < cap(f.adj) {
				f.adj = f.adj[:len(f.adj)+1]
				f.adj[len(f.adj)-1] = f.adj[len(f.adj)-1][:0]
			} else {
				f.adj = append(f.adj, nil)
			}
		}
		return sc.local[n] - 1
	}
	s0, t0 := localOf(q.src), localOf(q.dst)
	pieces := m.cfg.Pieces
	for _, cd := range cand {
		ei := cd.ei
		c := q.g.chans.at(ei >> 1)
		e := q.g.edges.at(ei)
		u, v := c.node1, c.node2
		if ei&1 == 1 {
			u, v = v, u
		}
		lu, lv := localOf(u), localOf(v)
		capacity := *q.g.caps.at(ei >> 1)
		b := Bounds{0, capacity}
		if slot := p.obsSlot[ei]; slot != 0 {
			b = p.bounds[slot-1]
		}
		hi := b.Upper
		if e.htlcMax <= hi/uint64(m.cfg.MaxParts) {
			hi = e.htlcMax * uint64(m.cfg.MaxParts) // at most MaxParts HTLCs share it
		}
		var feePerQ float64
		if u != q.src {
			feePerQ = m.cfg.FeeWeight * (float64(e.feePPM)*float64(quantum)/1e6 + float64(e.feeBase)*float64(quantum)/float64(typical))
		}
		loQ, hiQ := int64(min(b.Lower, hi)/quantum), int64(hi/quantum)
		if loQ > 0 {
			f.addArc(lu, lv, loQ, feePerQ, ei)
		}
		span := hiQ - loQ
		if span <= 0 {
			continue
		}
		prevCost, prevSlope := 0.0, 0.0
		for k := range pieces {
			from := loQ + span*int64(k)/int64(pieces)
			to := loQ + span*int64(k+1)/int64(pieces)
			if to <= from {
				continue
			}
			pr := m.cfg.Model.Probability(uint64(to)*quantum, capacity, b)
			cost := -math.Log(max(pr, 1e-12)) * m.cfg.AttemptCost
			slope := max((cost-prevCost)/float64(to-from), prevSlope) // keep convex
			prevCost, prevSlope = cost, slope
			f.addArc(lu, lv, to-from, slope+feePerQ, ei)
		}
	}
	n := len(f.adj)
	f.pot, f.dist, f.prev = grow(f.pot, n), grow(f.dist, n), grow(f.prev, n)
	clear(f.pot)
	carried := int64(0)
	for carried < units {
		if !f.shortest(s0, t0) {
			break
		}
		push := units - carried
		for v := t0; v != s0; {
			a := &f.arcs[f.prev[v]]
			push = min(push, a.cap)
			v = f.arcs[a.rev].to
		}
		for v := t0; v != s0; {
			a := &f.arcs[f.prev[v]]
			a.cap -= push
			f.arcs[a.rev].cap += push
			v = f.arcs[a.rev].to
		}
		carried += push
	}
	return f, s0, t0, carried
}

type mppPart struct {
	path  []uint32 // directed edges
	units int64
}

// decompose splits the flow (reverse-arc capacities) into paths.
func (m *mpp) decompose(f *mcf, s, t int32, units int64) ([]mppPart, error) {
	// Net flow per (u, v, ei) on forward arcs = capacity of their reverse arc.
	f.flow = grow(f.flow, len(f.arcs))
	flow := f.flow
	for i := 0; i < len(f.arcs); i += 2 {
		flow[i] = f.arcs[i+1].cap
	}
	var parts []mppPart
	n := len(f.adj)
	f.onPath = grow(f.onPath, n)
	onPath := f.onPath
	for left := units; left > 0; {
		var path []int32
		for i := range onPath {
			onPath[i] = -1
		}
		v := s
		onPath[v] = 0
		for v != t {
			next := int32(-1)
			for _, ai := range f.adj[v] {
				if ai%2 == 0 && flow[ai] > 0 {
					next = ai
					break
				}
			}
			if next < 0 {
				return nil, fmt.Errorf("mpp: flow decomposition stuck: %w", ErrNoRoute)
			}
			to := f.arcs[next].to
			if onPath[to] >= 0 {
				// A cycle: cancel it and continue from where it started.
				cyc := path[onPath[to]:]
				c := flow[next]
				for _, ai := range cyc {
					c = min(c, flow[ai])
				}
				flow[next] -= c
				for _, ai := range cyc {
					flow[ai] -= c
				}
				for _, ai := range cyc {
					onPath[f.arcs[ai].to] = -1
				}
				k := onPath[to]
				path = path[:k]
				onPath[to] = k
				v = to
				continue
			}
			path = append(path, next)
			onPath[to] = int32(len(path))
			v = to
		}
		c := left
		for _, ai := range path {
			c = min(c, flow[ai])
		}
		part := mppPart{units: c}
		for _, ai := range path {
			flow[ai] -= c
			if k := len(part.path); k == 0 || part.path[k-1] != f.arcs[ai].ei {
				part.path = append(part.path, f.arcs[ai].ei)
			}
		}
		left -= c
		parts = append(parts, part)
	}
	// Parts over the same channel path are one part.
	slices.SortFunc(parts, func(a, b mppPart) int { return slices.Compare(a.path, b.path) })
	merged := parts[:0]
	for _, pt := range parts {
		if k := len(merged); k > 0 && slices.Equal(merged[k-1].path, pt.path) {
			merged[k-1].units += pt.units
			continue
		}
		merged = append(merged, pt)
	}
	slices.SortStableFunc(merged, func(a, b mppPart) int { return cmp.Compare(b.units, a.units) })
	return merged, nil
}

// buildParts caps the number of parts, turns parts into exact routes and
// checks the request's limits.
func (m *mpp) buildParts(q *search, p *pathfinder, parts []mppPart, quantum uint64, units int64) ([]Route, error) {
	if len(parts) > m.cfg.MaxParts {
		// Fold the smallest parts into the largest ones that can take them
		// without exceeding any edge's capacity or HTLC maximum.
		extra := int64(0)
		for _, pt := range parts[m.cfg.MaxParts:] {
			extra += pt.units
		}
		parts = parts[:m.cfg.MaxParts]
		for i := range parts {
			if extra == 0 {
				break
			}
			room := int64(math.MaxInt64)
			for _, ei := range parts[i].path {
				e := q.g.edges.at(ei)
				limit := int64(e.htlcMax / quantum)
				room = min(room, limit-parts[i].units)
			}
			if room > 0 {
				take := min(room, extra)
				parts[i].units += take
				extra -= take
			}
		}
		if extra > 0 {
			return nil, fmt.Errorf("mpp: cannot fit the payment into %d parts: %w", m.cfg.MaxParts, ErrNoRoute)
		}
	}
	// Amounts: every part carries units·quantum except that the overshoot
	// of rounding up is taken from the largest part.
	over := uint64(units)*quantum - q.amount
	routes := make([]Route, 0, len(parts))
	var totalFee uint64
	for i, pt := range parts {
		amt := uint64(pt.units) * quantum
		if i == 0 {
			amt -= over
		}
		if amt == 0 {
			continue
		}
		if len(pt.path) > q.maxHops {
			return nil, fmt.Errorf("mpp: part of %d hops exceeds the limit of %d: %w", len(pt.path), q.maxHops, ErrNoRoute)
		}
		r, err := buildRoute(q.g, pt.path, amt, q.final)
		if err != nil {
			return nil, fmt.Errorf("mpp part %d: %w", i, err)
		}
		if r.TimeLock > q.maxExpiry {
			return nil, fmt.Errorf("mpp part %d: time lock %d exceeds %d: %w", i, r.TimeLock, q.maxExpiry, ErrNoRoute)
		}
		r.Probability = p.routeProbability(q, pt.path, r)
		totalFee += r.Fee
		routes = append(routes, r)
	}
	if totalFee > q.maxFee {
		return nil, fmt.Errorf("mpp: total fee %d exceeds %d: %w", totalFee, q.maxFee, ErrNoRoute)
	}
	return routes, nil
}

// sweep runs Dijkstra over the channel graph with weight w from start:
// backward (into start, filling p.lab) or forward (out of start, filling
// sc.fwd). Neither passes through stop or an
// excluded node. It stops once the settled distance exceeds
// limit, and for the backward sweep returns the distance of stop (+Inf when
// unreached) after continuing to twice that distance plus one attempt.
func (m *mpp) sweep(g *Snapshot, sc *mppScratch, p *pathfinder, start, stop uint32, forward bool, w func(uint32, bool) float64, limit float64, q *search) float64 {
	gen, lab := p.gen, p.lab
	if forward {
		gen, lab = sc.gen, sc.fwd
	}
	h := sc.heap[:0]
	pf := pathfinder{heap: h}
	lab[start].dist, lab[start].seen = 0, gen
	pf.push(heapItem{0, start})
	best := math.Inf(1)
	for len(pf.heap) > 0 {
		it := pf.pop()
		v := it.node
		lv := &lab[v]
		if lv.done == gen || it.dist > lv.dist {
			continue
		}
		if it.dist > limit {
			break
		}
		lv.done = gen
		if v == stop && !forward {
			best = it.dist
			limit = min(limit, m.budget(best))
		}
		if v == stop || p.excl[v] == p.gen {
			continue // do not route through the endpoints or excluded nodes
		}
		// Forward, expand only nodes that can lie on a candidate path:
		// every node x on the best path to the tail u of a candidate arc
		// u→v' has d_s(x) + d_t(x) ≤ d_s(u) + w + d_t(v') ≤ limit, so
		// pruning the others leaves every needed d_s exact.
		if forward && (p.lab[v].seen != p.gen || lv.dist+p.lab[v].dist > limit) {
			continue
		}
		for _, a := range g.nodes.at(v).adj {
			other := a.peer
			ei, fromSrc := a.ref, v == q.src // out of v
			if !forward {
				ei, fromSrc = a.ref^1, other == q.src // into v
			}
			lo := &lab[other]
			if lo.done == gen || (lo.seen == gen && lo.dist <= lv.dist) {
				continue
			}
			d := lv.dist + w(ei, fromSrc)
			if math.IsInf(d, 1) || (lo.seen == gen && d >= lo.dist) {
				continue
			}
			lo.dist, lo.seen = d, gen
			pf.push(heapItem{d, other})
		}
	}
	sc.heap = pf.heap
	return best
}
