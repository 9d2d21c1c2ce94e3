package routing

import (
	"fmt"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// fee returns base + floor(amount*ppm/1e6), saturating at MaxUint64.
func fee(base, ppm uint32, amount uint64) uint64 {
	hi, lo := bits.Mul64(amount, uint64(ppm))
	var q uint64
	switch {
	case hi == 0:
		q = lo / 1_000_000 // constant divisor: a multiply, not a DIV
	case hi >= 1_000_000:
		return math.MaxUint64
	default:
		q, _ = bits.Div64(hi, lo, 1_000_000)
	}
	s, carry := bits.Add64(q, uint64(base), 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return s
}

// costKind selects the edge cost a search minimises.
type costKind uint8

const (
	costHops costKind = iota
	costFee
	costProbabilistic
	costOracle
)

// search is one single-path query's parameters after validation.
type search struct {
	g         *Snapshot
	src, dst  uint32
	amount    uint64
	maxFee    uint64 // MaxUint64 = none
	maxHops   int
	maxExpiry uint64 // MaxUint64 = none
	final     uint64
	kind      costKind
	cfg       *Config
	mc        *MissionControl
	now       int64
	oracle    LiquidityOracle
	local     LiquidityOracle // the payer's own balances (Input.Local)
}

// label is a node's state in the mpp sweeps; stamps equal to the sweep's
// generation mark the fields valid for the current query.
type label struct {
	dist float64
	seen uint32 // == gen: dist valid
	done uint32 // == gen: settled
}

// nodeLabel is a node's single-path search state (pathfinder.run). A node
// is touched for the current query when seen equals pathfinder.gen; then
// flags are valid, and dist is +Inf until the node is labelled. Exclusions
// and marks live here, next to the label, so that relaxing an edge loads
// one cache line for its tail node instead of three.
type nodeLabel struct {
	dist  float64
	amt   uint64 // amount that must arrive at the node
	exp   uint64 // time lock of the HTLC arriving at the node
	seen  uint32 // == gen: touched
	next  uint32 // directed edge index toward the target (once labelled)
	hops  uint8
	flags uint8
}

const (
	nodeDone     = 1 << iota // settled
	nodeExcluded             // excluded by the request
	// nodeMarked: some channel of the node is excluded or has a
	// mission-control or local-balance slot; only then does a relaxation
	// through the node look at exclEdge and obsSlot.
	nodeMarked
	// nodeHop1 and nodeHop2 give the node's level (see potentials):
	// nodeHop1 level 1, nodeHop2 level 2, both level 0 (the source and
	// what free directions reach from it), neither level 3 or more.
	nodeHop1
	nodeHop2
)

// hopClass returns a nodeLabel's hop class, an index into the potentials.
func hopClass(flags uint8) uint8 { return flags >> 3 & 3 }

type heapItem struct {
	dist float64
	node uint32
}

// pathfinder holds per-query scratch space sized to the graph, reused across
// queries through a sync.Pool so that a query allocates nothing proportional
// to the graph. Stamps (gen) avoid clearing arrays between queries.
type pathfinder struct {
	gen      uint32
	single   bool        // reset for run: exclusions go to nl, not lab/excl
	nl       []nodeLabel // per node, for run
	lab      []label     // per node, one cache line (mpp)
	excl     []uint32    // == gen: excluded node (mpp)
	exclEdge []uint32    // per channel: == gen when excluded
	obsSlot  []int32     // per directed edge: index+1 into bounds, 0 = none
	obsUsed  []uint32
	bounds   []Bounds
	heap     []heapItem
	front    []uint32    // hopClasses' queue
	free     [][2]uint32 // potentials' free directions (tail, head)
	// capE caches, per channel, the bimodal prior's e^(−capacity/scale)
	// for the capacity it was computed from (capacity 0 = not cached), so
	// that relaxing an edge without observations costs no exponential.
	// capScale is the scale it was computed for and capSnap the
	// Snapshot.uid it was filled from (see capTerms).
	capE     []capTerm
	capScale float64
	capSnap  uint64
	// in is the searched snapshot's incoming-direction index (nil until
	// it has one, see searchIndex); inTmp serves searches without it.
	in    *inIndex
	inTmp []inEdge
}

// inEdge is a direction into a node as a search reads it: 24 bytes. The
// HTLC limits are held approximately, as a range of amounts they certainly
// admit (see admits); an amount outside it is checked against the edge
// record, and the capacity is read from the snapshot when a search needs
// it (once per channel and pathfinder for the bimodal prior).
type inEdge struct {
	u       uint32 // the tail: the node offering the HTLC
	ei      uint32 // directed edge index
	feeBase uint32
	feePPM  uint32
	delta   uint32
	flags   uint8
	// minLog is bits.Len64(htlcMin−1) (0 when htlcMin ≤ 1): every amount
	// with amount>>minLog != 0 is at least htlcMin.
	minLog uint8
	// maxLo encodes a lower bound of htlcMax (see packMax): every amount
	// up to unpackMax(maxLo) is at most htlcMax.
	maxLo uint16
}

// inDeadEnd flags an inEdge whose tail has no channel except to the head:
// a route through the tail would have to come back through the head, so
// unless the tail is the payer it is never on a route into the head.
const inDeadEnd = 1 << 7

// maxMantBits is the precision of inEdge.maxLo: an htlcMax is rounded down
// to its top maxMantBits bits, below it by less than 1/512 of it.
const maxMantBits = 10

// packMax encodes h rounded down as a 10-bit mantissa and a 6-bit shift.
func packMax(h uint64) uint16 {
	sh := max(bits.Len64(h)-maxMantBits, 0)
	return uint16(h>>sh) | uint16(sh)<<maxMantBits
}

// unpackMax decodes packMax: at most the packed value, by less than 1/512.
func unpackMax(x uint16) uint64 {
	return uint64(x&(1<<maxMantBits-1)) << (x >> maxMantBits)
}

// admits reports whether edge e (whose index entry is ie) admits an HTLC
// of amount a: from the index alone when a is within its certain range,
// else from the edge record.
func (ie *inEdge) admits(g *Snapshot, a uint64) bool {
	if a>>ie.minLog != 0 && a <= unpackMax(ie.maxLo) {
		return true
	}
	e := g.edges.at(ie.ei)
	return a >= e.htlcMin && a <= e.htlcMax
}

// makeIn returns the index entry of directed edge ei = e into a node from
// its tail u.
func makeIn(u, ei uint32, e *edge, dead bool) inEdge {
	in := inEdge{u: u, ei: ei, feeBase: e.feeBase, feePPM: e.feePPM, delta: e.delta, flags: e.flags,
		maxLo: packMax(e.htlcMax)}
	if e.htlcMin > 1 {
		in.minLog = uint8(bits.Len64(e.htlcMin - 1))
	}
	if dead {
		in.flags |= inDeadEnd
	}
	return in
}

// appendIn appends node v's incoming directions in g to dst.
func appendIn(dst []inEdge, g *Snapshot, v uint32) []inEdge {
	for _, a := range g.nodes.at(v).adj {
		ci := a.ref >> 1
		ei := ci<<1 | (a.ref&1 ^ 1) // the direction pointing into v
		dead := true
		for _, b := range g.nodes.at(a.peer).adj {
			if b.peer != v {
				dead = false
				break
			}
		}
		dst = append(dst, makeIn(a.peer, ei, g.edges.at(ei), dead))
	}
	return dst
}

// inIndex holds every node's incoming directions with the fields a search
// reads, in adjacency order: node v's are in[off[v]:off[v+1]]. A search
// reads them sequentially instead of loading one edge record and one
// capacity per relaxation.
type inIndex struct {
	in  []inEdge
	off []uint32
}

func buildInIndex(g *Snapshot) *inIndex {
	n := g.nodes.n
	x := &inIndex{off: make([]uint32, n+1)}
	total := 0
	for v := range n {
		total += len(g.nodes.at(v).adj)
	}
	x.in = make([]inEdge, 0, total)
	for v := range n {
		x.off[v] = uint32(len(x.in))
		x.in = appendIn(x.in, g, v)
	}
	x.off[n] = uint32(len(x.in))
	return x
}

// searchIndex is a snapshot's lazily built search index. It is built by the
// snapshot's second single-path search, so that a snapshot searched once
// (a node's graph changes with every gossip update) does not pay for it,
// and shared by all later searches of the snapshot: 24 bytes per directed
// edge and 4 per node, held as long as the snapshot is.
type searchIndex struct {
	searches atomic.Int32
	once     sync.Once
	built    atomic.Pointer[inIndex]
}

// get returns the index of g (whose searchIndex x is), or nil before g's
// second search.
func (x *searchIndex) get(g *Snapshot) *inIndex {
	if x == nil {
		return nil
	}
	if ix := x.built.Load(); ix != nil {
		return ix
	}
	if x.searches.Add(1) < 2 {
		return nil
	}
	x.once.Do(func() { x.built.Store(buildInIndex(g)) })
	return x.built.Load()
}

// incoming returns node v's incoming directions in g, from the snapshot's
// index when it has one, else copied into inTmp.
func (p *pathfinder) incoming(g *Snapshot, v uint32) []inEdge {
	if x := p.in; x != nil {
		return x.in[x.off[v]:x.off[v+1]]
	}
	p.inTmp = appendIn(p.inTmp[:0], g, v)
	return p.inTmp
}

// capTerm is one cached capacity term of the bimodal prior.
type capTerm struct {
	capacity uint64
	e        float64
}

// capTerms returns the capacity-term cache for a search with model m over
// g, sized to g's channels. It is emptied when the model's scale or the
// snapshot changes, so that every filled entry holds the capacity of g's
// channel (capacity 0 = not filled).
func (p *pathfinder) capTerms(g *Snapshot, m *BimodalModel) []capTerm {
	if n := int(g.chans.n); len(p.capE) < n {
		p.capE = append(p.capE, make([]capTerm, n-len(p.capE))...)
	}
	if p.capScale != m.scale || p.capSnap != g.uid || g.uid == 0 {
		clear(p.capE)
		p.capScale, p.capSnap = m.scale, g.uid
	}
	return p.capE
}

// reset prepares p for one query over g: single for run, else for mpp
// (which uses lab and excl).
func (p *pathfinder) reset(g *Snapshot, single bool) {
	n, e := int(g.nodes.n), int(g.chans.n)
	if single && len(p.nl) < n {
		p.nl = make([]nodeLabel, n)
		p.gen = math.MaxUint32 // force the stamp reset below
	}
	if !single && len(p.lab) < n {
		p.lab, p.excl = make([]label, n), make([]uint32, n)
		p.gen = math.MaxUint32
	}
	if len(p.exclEdge) < e {
		p.exclEdge = make([]uint32, e)
		p.obsSlot = make([]int32, 2*e)
		p.gen = math.MaxUint32
	}
	p.gen++
	if p.gen == 0 { // wrapped or reallocated: clear every stamp array
		clear(p.nl)
		clear(p.lab)
		clear(p.excl)
		clear(p.exclEdge)
		p.gen = 1
	}
	p.single = single
	p.heap = p.heap[:0]
}

// touch makes node u's nodeLabel current for this query (unlabelled,
// dist +Inf, no flags) and returns it.
func (p *pathfinder) touch(u uint32) *nodeLabel {
	l := &p.nl[u]
	if l.seen != p.gen {
		*l = nodeLabel{dist: math.Inf(1), seen: p.gen}
	}
	return l
}

// markChannel flags both ends of channel ci (single-path searches only).
func (p *pathfinder) markChannel(g *Snapshot, ci uint32) {
	if !p.single {
		return
	}
	c := g.chans.at(ci)
	p.touch(c.node1).flags |= nodeMarked
	p.touch(c.node2).flags |= nodeMarked
}

// loadObservations maps mission-control knowledge onto this snapshot's edge
// indices; clearObservations undoes it.
func (p *pathfinder) loadObservations(s *search) {
	if s.kind != costProbabilistic {
		return
	}
	defer p.loadLocal(s)
	if s.mc == nil {
		return
	}
	s.mc.mu.RLock()
	defer s.mc.mu.RUnlock()
	ids := s.g.ids
	ids.mu.RLock()
	defer ids.mu.RUnlock()
	for k, r := range s.mc.obs {
		ci, ok := ids.channelLocked(k.Channel)
		if !ok || ci >= s.g.chans.n || s.g.chans.at(ci).node1 == removedNode {
			continue
		}
		ei := ci<<1 | uint32(k.Direction)
		p.bounds = append(p.bounds, s.mc.bounds(r, *s.g.caps.at(ci), s.now))
		p.obsUsed = append(p.obsUsed, ei)
		p.obsSlot[ei] = int32(len(p.bounds))
		p.markChannel(s.g, ci)
	}
}

// loadLocal turns the payer's known balances into exact bounds on its own
// channels (overriding mission control there): certain success up to the
// balance, certain failure above.
func (p *pathfinder) loadLocal(s *search) {
	if s.local == nil {
		return
	}
	for _, a := range s.g.nodes.at(s.src).adj {
		ei := a.ref // out of the payer
		liq := min(s.local.Liquidity(s.g.chans.at(ei>>1).id, Direction(ei&1)), *s.g.caps.at(ei >> 1))
		if slot := p.obsSlot[ei]; slot != 0 {
			p.bounds[slot-1] = Bounds{liq, liq}
			continue
		}
		p.bounds = append(p.bounds, Bounds{liq, liq})
		p.obsUsed = append(p.obsUsed, ei)
		p.obsSlot[ei] = int32(len(p.bounds))
		p.markChannel(s.g, ei>>1)
	}
}

func (p *pathfinder) clearObservations() {
	for _, ei := range p.obsUsed {
		p.obsSlot[ei] = 0
	}
	p.obsUsed, p.bounds = p.obsUsed[:0], p.bounds[:0]
}

func (p *pathfinder) push(it heapItem) {
	h := append(p.heap, it)
	i := len(h) - 1
	for i > 0 {
		j := (i - 1) / 2
		if h[j].dist <= it.dist {
			break
		}
		h[i] = h[j]
		i = j
	}
	h[i] = it
	p.heap = h
}

func (p *pathfinder) pop() heapItem {
	h := p.heap
	top := h[0]
	last := h[len(h)-1]
	h = h[:len(h)-1]
	n := len(h)
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && h[r].dist < h[l].dist {
			l = r
		}
		if last.dist <= h[l].dist {
			break
		}
		h[i] = h[l]
		i = l
	}
	if n > 0 {
		h[i] = last
	}
	p.heap = h
	return top
}

// probability returns the model's success probability for amount on
// directed edge ei of capacity c.
func (p *pathfinder) probability(s *search, ei uint32, amount, capacity uint64) float64 {
	b := Bounds{0, capacity}
	if slot := p.obsSlot[ei]; slot != 0 {
		b = p.bounds[slot-1]
	}
	return s.cfg.Model.Probability(amount, capacity, b)
}

// run performs a Dijkstra search (A* for probabilistic queries with the
// bimodal model, see potentials) from the target back to the source and
// returns the directed edges of the path from source to target. p must
// have been reset for a single-path search.
func (p *pathfinder) run(s *search) ([]uint32, error) {
	g := s.g
	gen := p.gen
	nl := p.nl[:g.nodes.n]
	p.in = g.index.get(g)
	defer func() { p.in = nil }() // do not keep the snapshot's index alive
	found := false
	var fast *BimodalModel // the default model has a cheaper prior path
	var capE []capTerm
	// pot[hopClass(flags)] is the A* potential of a node: a lower bound on
	// the cost of its path from the source (see potentials).
	var pot [4]float64
	// hop bounds the attempt-cost term of every hop priced by the prior
	// (BimodalModel.hopBound), and ub is the source's key once it has a
	// label: a node whose key would not be below ub is never settled
	// before the source, so relaxations that cannot beat it are skipped
	// before their probability is computed.
	var hop float64
	ub := math.Inf(1)
	if s.kind == costProbabilistic {
		fast, _ = s.cfg.Model.(*BimodalModel)
		if fast != nil {
			capE = p.capTerms(g, fast)
			pot = p.potentials(s, fast)
			if useHopBound {
				hop = fast.hopBound(s.amount, s.cfg.AttemptCost)
			}
		}
	}
	prune := fast != nil && useHopBound
	ld := p.touch(s.dst)
	*ld = nodeLabel{dist: 0, amt: s.amount, exp: s.final, seen: gen, flags: ld.flags &^ nodeDone}
	p.push(heapItem{pot[hopClass(ld.flags)], s.dst})
	for len(p.heap) > 0 {
		it := p.pop()
		v := it.node
		lv := &nl[v]
		if lv.flags&nodeDone != 0 || it.dist > lv.dist+pot[hopClass(lv.flags)] {
			continue
		}
		lv.flags |= nodeDone
		if v == s.src {
			found = true
			break
		}
		if int(lv.hops) >= s.maxHops {
			continue
		}
		av, xv, dv, hv := lv.amt, lv.exp, lv.dist, lv.hops
		// The amount terms are computed on first use: many settled nodes
		// relax no edge that needs a probability.
		var terms amountTerms
		haveTerms := false
		for i, in := 0, p.incoming(g, v); i < len(in); i++ {
			ie := &in[i]
			u, ei := ie.u, ie.ei
			// Dead ends are skipped in the bimodal (A*) searches only: a
			// skipped label changes the heap's order among equal keys, and
			// the other strategies keep their routes exactly as before.
			if ie.flags&inDeadEnd != 0 && u != s.src && prune {
				continue
			}
			ci := ei >> 1
			lu := &nl[u]
			touched := lu.seen == gen
			marked := false
			if touched {
				// Costs are non-negative: a label no worse than v's
				// cannot be improved through v, so skip it before
				// touching the edge (an unlabelled node has dist +Inf).
				if lu.flags&(nodeDone|nodeExcluded) != 0 || lu.dist <= dv {
					continue
				}
				if marked = lu.flags&nodeMarked != 0; marked && p.exclEdge[ci] == gen {
					continue
				}
			}
			if ie.flags&(edgePresent|edgeDisabled) != edgePresent || !ie.admits(g, av) {
				continue
			}
			if u == s.src && s.local != nil && s.local.Liquidity(g.chans.at(ci).id, Direction(ei&1)) < av {
				continue
			}
			if s.oracle != nil && s.oracle.Liquidity(g.chans.at(ci).id, Direction(ei&1)) < av {
				continue
			}
			var f, delta uint64
			if u != s.src {
				f, delta = fee(ie.feeBase, ie.feePPM, av), uint64(ie.delta)
			}
			au := av + f
			if au < av || au-s.amount > s.maxFee {
				continue
			}
			xu := xv + delta
			if xu < xv || xu > s.maxExpiry {
				continue
			}
			var cost float64
			switch s.kind {
			case costHops:
				cost = 1 + float64(f)*1e-15
			case costFee, costOracle:
				cost = float64(f) + 1e-6
			case costProbabilistic:
				cost = float64(f) + s.cfg.RiskFactor*float64(av)*float64(delta)*1e-9
				// The probability term is non-negative: skip computing it
				// when the rest already cannot improve u's label.
				if touched && dv+cost >= lu.dist {
					continue
				}
				pu := pot[0]
				if touched {
					pu = pot[hopClass(lu.flags)]
				}
				// Each bound below is summed as the exact key will be,
				// and rounding is monotonic, so no skip ever drops a
				// relaxation the exact key would keep.
				if dv+cost+pu >= ub {
					continue
				}
				var pr float64
				if fast != nil && !(marked && p.obsSlot[ei] != 0) {
					// A prior-priced hop costs at least hop more (hop
					// carries a margin far above rounding, and is 0 when
					// P could round to 1).
					if dv+(cost+hop)+pu >= ub {
						continue
					}
					ce := &capE[ci]
					if ce.capacity == 0 { // not filled for this snapshot
						c := *g.caps.at(ci)
						*ce = capTerm{c, fast.capTerm(c)}
					}
					if !haveTerms {
						terms, haveTerms = fast.terms(av), true
					}
					pr = fast.priorE(&terms, av, ce.capacity, ce.e)
				} else {
					pr = p.probability(s, ei, av, *g.caps.at(ci))
				}
				if pr < s.cfg.MinProbability || pr <= 0 {
					continue
				}
				if pr < 1 {
					// −ln P ≥ 2(1−P)/(1+P) on (0, 1]: when even that
					// bound cannot improve u's label, skip the logarithm.
					// The 1e-9 margin dwarfs the rounding of both sides,
					// and the sum is associated as below, so the skip
					// never drops a relaxation the exact cost would keep.
					if lb := dv + (cost + s.cfg.AttemptCost*(2*(1-pr)/(1+pr)*(1-1e-9))); touched && lb >= lu.dist || lb+pu >= ub {
						continue
					}
					cost -= s.cfg.AttemptCost * math.Log(pr)
				}
			}
			d := dv + cost
			if touched && d >= lu.dist {
				continue
			}
			var flags uint8
			if touched {
				flags = lu.flags
			}
			*lu = nodeLabel{dist: d, amt: au, exp: xu, seen: gen, next: ei, hops: hv + 1, flags: flags}
			key := d + pot[hopClass(flags)]
			if u == s.src && useHopBound {
				ub = key
			}
			p.push(heapItem{key, u})
		}
	}
	if !found {
		return nil, ErrNoRoute
	}
	var path []uint32
	for v := s.src; v != s.dst; {
		ei := nl[v].next
		path = append(path, ei)
		c := g.chans.at(ei >> 1)
		if ei&1 == 0 {
			v = c.node2
		} else {
			v = c.node1
		}
	}
	return path, nil
}

// useHopBound switches the A* potential, the pruning against the source's
// key and the skipping of dead ends on; tests compare with plain Dijkstra.
var useHopBound = true

// potentials turns run into an A* search for probabilistic queries with
// the bimodal model, and returns the potential of each hop class (all zero:
// plain Dijkstra).
//
// Every hop of a route carries at least the request's amount, so every hop
// whose success probability is at most the prior's costs at least
// h = m.hopBound(amount, AttemptCost). A probability can exceed the
// prior's only on a direction with a positive lower bound (a success
// observation, or the payer's known balance): call those free, costing at
// least 0. hopClasses gives every node a level: the fewest non-free
// channels on a path from the source, counted up to 3 (ignoring policies
// and exclusions, which only remove paths). A path from the source to a
// node of level k therefore costs at least k·h: that is its potential.
// Across a non-free direction u→v, level(v) ≤ level(u)+1 and the cost is
// at least h; across a free one level(v) ≤ level(u) and the cost is at
// least 0. So along any direction the potential rises by at most the
// direction's cost: it is consistent, A* settles each node with its Dijkstra distance,
// and the route found costs exactly what plain Dijkstra's costs (only
// equal-cost ties may resolve differently). On the 2021 graph the
// potential alone settles 16 % (the simulator's queries) to 29 % (random
// pairs) fewer nodes; with dead ends skipped as well, half as many.
func (p *pathfinder) potentials(s *search, m *BimodalModel) [4]float64 {
	h := m.hopBound(s.amount, s.cfg.AttemptCost)
	if h == 0 || !useHopBound {
		return [4]float64{}
	}
	p.free = p.free[:0]
	for i, ei := range p.obsUsed {
		if p.bounds[i].Lower == 0 {
			continue
		}
		c := s.g.chans.at(ei >> 1)
		tail, head := c.node1, c.node2
		if ei&1 == 1 {
			tail, head = head, tail
		}
		p.free = append(p.free, [2]uint32{tail, head})
	}
	p.hopClasses(s)
	// Indexed by hopClass: level 3 or more, 1, 2, 0.
	return [4]float64{3 * h, h, 2 * h, 0}
}

// levelBits are a nodeLabel's level flags for levels 0, 1, 2 (none: 3 or
// more).
var levelBits = [3]uint8{nodeHop1 | nodeHop2, nodeHop1, nodeHop2}

// hopClasses records every node's level (see potentials) in the node
// labels: a breadth-first scan from the source, two levels deep, over all
// channels in both directions, where the free directions in p.free pass
// the level on unchanged.
func (p *pathfinder) hopClasses(s *search) {
	g := s.g
	front := append(p.front[:0], s.src)
	p.touch(s.src).flags |= levelBits[0]
	start := 0 // front[start:] is the current level
	for k := range 3 {
		// Free directions out of this level keep their heads in it.
		for changed := len(p.free) > 0; changed; {
			changed = false
			for _, f := range p.free {
				if l := p.touch(f[1]); l.flags&(nodeHop1|nodeHop2) == 0 && p.nl[f[0]].seen == p.gen && p.nl[f[0]].flags&(nodeHop1|nodeHop2) == levelBits[k] {
					l.flags |= levelBits[k]
					front = append(front, f[1])
					changed = true
				}
			}
		}
		if k == 2 {
			break
		}
		end := len(front)
		for _, x := range front[start:end] {
			for _, a := range g.nodes.at(x).adj {
				if l := p.touch(a.peer); l.flags&(nodeHop1|nodeHop2) == 0 {
					l.flags |= levelBits[k+1]
					front = append(front, a.peer)
				}
			}
		}
		start = end
	}
	p.front = front
}

// buildRoute computes exact amounts and time locks along path (directed
// edge indices from source to target), from the target back to the source.
func buildRoute(g *Snapshot, path []uint32, amount, final uint64) (Route, error) {
	hops := make([]Hop, len(path))
	amt, exp := amount, final
	for i := len(path) - 1; i >= 0; i-- {
		ei := path[i]
		c := g.chans.at(ei >> 1)
		e := g.edges.at(ei)
		from, to := c.node1, c.node2
		if ei&1 == 1 {
			from, to = to, from
		}
		if !e.usable() {
			return Route{}, fmt.Errorf("%w: channel %s direction %d unusable", ErrNoRoute, c.id, ei&1)
		}
		if amt < e.htlcMin || amt > e.htlcMax {
			return Route{}, fmt.Errorf("%w: channel %s: amount %d outside htlc limits [%d, %d]", ErrNoRoute, c.id, amt, e.htlcMin, e.htlcMax)
		}
		h := Hop{Channel: c.id, From: g.names[from], To: g.names[to], Amount: amt, Expiry: exp}
		if i > 0 {
			h.Fee, h.Delta = fee(e.feeBase, e.feePPM, amt), uint64(e.delta)
			na, nx := amt+h.Fee, exp+h.Delta
			if na < amt || nx < exp {
				return Route{}, fmt.Errorf("%w: amount or expiry overflow at channel %s", ErrNoRoute, c.id)
			}
			amt, exp = na, nx
		}
		hops[i] = h
	}
	r := Route{Hops: hops, Probability: 1}
	if len(hops) > 0 {
		r.Amount, r.TimeLock, r.Fee = hops[0].Amount, hops[0].Expiry, hops[0].Amount-amount
	}
	return r, nil
}

// BuildRoute computes the exact route that sends amount (as received by the
// last hop's To) over the given channels from source, with the target
// requiring finalExpiry ms. It checks each hop's policy (enabled, HTLC
// limits) but not liquidity. It is how a caller turns a chosen path into
// per-hop amounts and time locks.
func BuildRoute(g *Snapshot, source NodeID, channels []ChannelID, amount, finalExpiry uint64) (Route, error) {
	at, ok := g.nodeIndex(source)
	if !ok {
		return Route{}, fmt.Errorf("%w: source %x", ErrUnknownNode, string(source))
	}
	path := make([]uint32, len(channels))
	for i, id := range channels {
		ci, ok := g.chanIndex(id)
		if !ok {
			return Route{}, fmt.Errorf("%w: %s", ErrUnknownChannel, id)
		}
		c := g.chans.at(ci)
		switch at {
		case c.node1:
			path[i], at = ci<<1, c.node2
		case c.node2:
			path[i], at = ci<<1|1, c.node1
		default:
			return Route{}, fmt.Errorf("%w: channel %s does not touch hop %d's sender", ErrInvalidRequest, id, i)
		}
	}
	return buildRoute(g, path, amount, finalExpiry)
}

// prepare validates a request against g and fills a search.
func prepare(in Input, cfg *Config, kind costKind) (search, error) {
	r := in.Request
	g := in.Graph
	if g == nil {
		return search{}, fmt.Errorf("%w: nil graph", ErrInvalidRequest)
	}
	if r.Amount == 0 {
		return search{}, fmt.Errorf("%w: zero amount", ErrInvalidRequest)
	}
	if r.Source == r.Target {
		return search{}, fmt.Errorf("%w: source equals target", ErrInvalidRequest)
	}
	src, ok := g.nodeIndex(r.Source)
	if !ok {
		return search{}, fmt.Errorf("%w: source %x", ErrUnknownNode, string(r.Source))
	}
	dst, ok := g.nodeIndex(r.Target)
	if !ok {
		return search{}, fmt.Errorf("%w: target %x", ErrUnknownNode, string(r.Target))
	}
	s := search{g: g, src: src, dst: dst, amount: r.Amount, maxFee: r.MaxFee, maxHops: r.MaxHops, local: in.Local,
		maxExpiry: r.MaxExpiry, final: r.FinalExpiryDelta, kind: kind, cfg: cfg, mc: in.Mission, now: in.Now.UnixNano()}
	if s.maxFee == 0 {
		s.maxFee = math.MaxUint64
	}
	if s.maxExpiry == 0 {
		s.maxExpiry = math.MaxUint64
	}
	if s.maxHops <= 0 {
		s.maxHops = DefaultMaxHops
	}
	s.maxHops = min(s.maxHops, 255)
	if in.Now.IsZero() {
		s.now = time.Unix(0, 0).UnixNano()
	}
	return s, nil
}

// applyExclusions stamps excluded nodes and channels into p.
func (p *pathfinder) applyExclusions(s *search, r *Request) {
	for _, n := range r.ExcludeNodes {
		if i, ok := s.g.nodeIndex(n); ok && i != s.src && i != s.dst {
			if p.single {
				p.touch(i).flags |= nodeExcluded
			} else {
				p.excl[i] = p.gen
			}
		}
	}
	for _, c := range r.ExcludeChannels {
		if i, ok := s.g.chanIndex(c); ok {
			p.exclEdge[i] = p.gen
			p.markChannel(s.g, i)
		}
	}
}

// routeProbability multiplies the model's per-hop probabilities.
func (p *pathfinder) routeProbability(s *search, path []uint32, r Route) float64 {
	pr := 1.0
	for i, ei := range path {
		pr *= p.probability(s, ei, r.Hops[i].Amount, *s.g.caps.at(ei >> 1))
	}
	return pr
}
