package routing

import (
	"fmt"
	"math"
	"math/bits"
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

// label is a node's search state; stamps equal to pathfinder.gen mark the
// flags valid for the current query.
type label struct {
	dist float64
	amt  uint64 // amount that must arrive at the node
	exp  uint64 // time lock of the HTLC arriving at the node
	seen uint32 // == gen: dist/amt/exp/hops/next valid
	done uint32 // == gen: settled
	next uint32 // directed edge index toward the target
	hops uint8
}

type heapItem struct {
	dist float64
	node uint32
}

// pathfinder holds per-query scratch space sized to the graph, reused across
// queries through a sync.Pool so that a query allocates nothing proportional
// to the graph. Stamps (gen) avoid clearing arrays between queries.
type pathfinder struct {
	gen      uint32
	lab      []label  // per node, one cache line
	excl     []uint32 // == gen: excluded node
	exclEdge []uint32 // per channel: == gen when excluded
	obsSlot  []int32  // per directed edge: index+1 into bounds, 0 = none
	obsUsed  []uint32
	bounds   []Bounds
	heap     []heapItem
	// capE caches, per channel, the bimodal prior's e^(−capacity/scale)
	// for the capacity it was computed from (capacity 0 = not cached), so
	// that relaxing an edge without observations costs no exponential. It
	// is keyed by capacity, not by snapshot, so it stays valid across
	// snapshots and graph updates; capScale is the scale it was computed
	// for.
	capE     []capTerm
	capScale float64
}

// capTerm is one cached capacity term of the bimodal prior.
type capTerm struct {
	capacity uint64
	e        float64
}

// capTerms returns the capacity-term cache for a search with model m over
// g, sized to g's channels and reset when the model's scale changes.
func (p *pathfinder) capTerms(g *Snapshot, m *BimodalModel) []capTerm {
	if n := int(g.chans.n); len(p.capE) < n {
		p.capE = append(p.capE, make([]capTerm, n-len(p.capE))...)
	}
	if p.capScale != m.scale {
		clear(p.capE)
		p.capScale = m.scale
	}
	return p.capE
}

func (p *pathfinder) reset(g *Snapshot) {
	n, e := int(g.nodes.n), int(g.chans.n)
	if len(p.lab) < n {
		p.lab, p.excl = make([]label, n), make([]uint32, n)
		p.gen = math.MaxUint32 // force the stamp reset below
	}
	if len(p.exclEdge) < e {
		p.exclEdge = make([]uint32, e)
		p.obsSlot = make([]int32, 2*e)
		p.gen = math.MaxUint32
	}
	p.gen++
	if p.gen == 0 { // wrapped or reallocated: clear every stamp array
		clear(p.lab)
		clear(p.excl)
		clear(p.exclEdge)
		p.gen = 1
	}
	p.heap = p.heap[:0]
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
		ci, ok := ids.chans[k.Channel]
		if !ok || ci >= s.g.chans.n || s.g.chans.at(ci).node1 == removedNode {
			continue
		}
		ei := ci<<1 | uint32(k.Direction)
		p.bounds = append(p.bounds, s.mc.bounds(r, *s.g.caps.at(ci), s.now))
		p.obsUsed = append(p.obsUsed, ei)
		p.obsSlot[ei] = int32(len(p.bounds))
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

// run performs a Dijkstra search from the target back to the source and
// returns the directed edges of the path from source to target.
func (p *pathfinder) run(s *search) ([]uint32, error) {
	g := s.g
	gen := p.gen
	p.lab[s.dst] = label{dist: 0, amt: s.amount, exp: s.final, seen: gen}
	p.push(heapItem{0, s.dst})
	found := false
	var fast *BimodalModel // the default model has a cheaper prior path
	var capE []capTerm
	if s.kind == costProbabilistic {
		fast, _ = s.cfg.Model.(*BimodalModel)
		if fast != nil {
			capE = p.capTerms(g, fast)
		}
	}
	for len(p.heap) > 0 {
		it := p.pop()
		v := it.node
		lv := &p.lab[v]
		if lv.done == gen || it.dist > lv.dist {
			continue
		}
		lv.done = gen
		if v == s.src {
			found = true
			break
		}
		if int(lv.hops) >= s.maxHops {
			continue
		}
		av, xv, dv, hv := lv.amt, lv.exp, lv.dist, lv.hops
		var terms amountTerms
		if fast != nil {
			terms = fast.terms(av)
		}
		for _, a := range g.nodes.at(v).adj {
			ci, u := a.ref>>1, a.peer
			ei := ci<<1 | (a.ref&1 ^ 1) // the direction pointing into v
			lu := &p.lab[u]
			if lu.done == gen || p.excl[u] == gen || p.exclEdge[ci] == gen {
				continue
			}
			// Costs are non-negative: a label no worse than v's cannot be
			// improved through v, so skip it before touching the edge.
			if lu.seen == gen && lu.dist <= dv {
				continue
			}
			e := g.edges.at(ei)
			if !e.usable() || av < e.htlcMin || av > e.htlcMax {
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
				f, delta = fee(e.feeBase, e.feePPM, av), uint64(e.delta)
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
				if lu.seen == gen && dv+cost >= lu.dist {
					continue
				}
				capacity := *g.caps.at(ci)
				var pr float64
				if fast != nil && p.obsSlot[ei] == 0 {
					ce := &capE[ci]
					if ce.capacity != capacity {
						*ce = capTerm{capacity, fast.capTerm(capacity)}
					}
					pr = fast.priorE(&terms, av, capacity, ce.e)
				} else {
					pr = p.probability(s, ei, av, capacity)
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
					if lu.seen == gen && dv+(cost+s.cfg.AttemptCost*(2*(1-pr)/(1+pr)*(1-1e-9))) >= lu.dist {
						continue
					}
					cost -= s.cfg.AttemptCost * math.Log(pr)
				}
			}
			d := dv + cost
			if lu.seen == gen && d >= lu.dist {
				continue
			}
			*lu = label{dist: d, amt: au, exp: xu, seen: gen, next: ei, hops: hv + 1}
			p.push(heapItem{d, u})
		}
	}
	if !found {
		return nil, ErrNoRoute
	}
	var path []uint32
	for v := s.src; v != s.dst; {
		ei := p.lab[v].next
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
			p.excl[i] = p.gen
		}
	}
	for _, c := range r.ExcludeChannels {
		if i, ok := s.g.chanIndex(c); ok {
			p.exclEdge[i] = p.gen
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
