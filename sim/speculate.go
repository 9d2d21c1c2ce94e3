package sim

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/paymesh/paymesh/routing"
)

// Speculative first routes.
//
// Routing a payment's first round is by far the most expensive thing the
// engine does, and it is a pure function of the strategy's Input: the
// graph (fixed for a run), the request (endpoints, amount, limits and the
// payer's channels excluded because they cannot carry the amount), the
// payer's mission control and the time (the arrival time). When the engine
// has several workers and the strategy is pure, the first payment to
// arrive without a speculative route starts a batch: the first routes of
// the next specBatch·Workers arrivals are computed in parallel against the
// current state, each with its exact arrival time as "now", while the
// event loop waits. When one of those payments later arrives, its request
// is rebuilt from the state at that instant; the speculative result is used
// only if the request is identical and the payer's mission control has
// learnt nothing since (a per-payer counter, bumped on every report). Then
// every input of the search is the same as if it had run at the arrival,
// so the result is too; otherwise the route is computed again, serially.
// The worker count therefore changes only speed, never results
// (TestSpeculationWorkers).

// specBatch is the number of arrivals speculated per worker and batch.
const specBatch = 16

// PureStrategy is implemented by strategies whose routes depend only on
// their routing.Input (no hidden state, no clock, no randomness, no
// oracle), which lets the engine compute payments' first routes ahead of
// time in parallel. routing's built-in strategies other than "oracle", and
// lnd-v0.10, are recognised by name.
type PureStrategy interface {
	Pure() bool
}

// pureByName lists the registered strategies known to be pure functions of
// their Input.
var pureByName = map[string]bool{
	routing.StrategyShortest:      true,
	routing.StrategyCheapest:      true,
	routing.StrategyProbabilistic: true,
	routing.StrategyMPP:           true,
	StrategyLND010:                true,
}

// specState is the engine's speculation bookkeeping.
type specState struct {
	on bool
	// order lists payments in arrival order; next is the position in
	// order of the first payment not yet speculated.
	order []int32
	pos   []int32 // payment → its position in order
	next  int
	// learn counts mission-control reports per payer node.
	learn []uint32
	res   []specResult // per payment
	// Hits, Stale and Batches count speculative routes used, speculative
	// routes recomputed because their inputs changed, and batches run.
	hits, stale, batches int
}

// specResult is one payment's speculative first route and the inputs it
// depended on that can change before the arrival.
type specResult struct {
	done    bool
	learn   uint32
	exclude []routing.ChannelID
	routes  []routing.Route
	err     error
}

// learnt records that payer n's mission control changed.
func (s *specState) learnt(n int32) {
	if s.on {
		s.learn[n]++
	}
}

// pure reports whether the engine's strategy may be speculated.
func (e *Engine) pure() bool {
	if p, ok := e.strategy.(PureStrategy); ok {
		return p.Pure()
	}
	return pureByName[e.strategy.Name()]
}

// initSpeculation turns speculation on when it can pay off.
func (e *Engine) initSpeculation() {
	e.spec = specState{}
	if e.Workers <= 1 || e.cfg.PrecomputeFirst || len(e.pays) < 2 || !e.pure() {
		return
	}
	s := &e.spec
	s.on = true
	s.order = make([]int32, len(e.pays))
	for i := range s.order {
		s.order[i] = int32(i)
	}
	// Arrivals are events ordered by (time, creation order), and they are
	// created in payment order.
	slices.SortStableFunc(s.order, func(a, b int32) int { return cmp.Compare(e.pays[a].Time, e.pays[b].Time) })
	s.pos = make([]int32, len(e.pays))
	for i, p := range s.order {
		s.pos[p] = int32(i)
	}
	s.learn = make([]uint32, len(e.ids))
	s.res = make([]specResult, len(e.pays))
}

// speculated returns payment pi's first routes at its arrival, from a
// speculative result when every input is unchanged.
func (e *Engine) speculated(pi int32, req routing.Request) ([]routing.Route, error) {
	s := &e.spec
	p := e.pays[pi]
	if !s.res[pi].done && int(s.pos[pi]) >= s.next {
		e.speculateFrom(int(s.pos[pi]))
	}
	r := &s.res[pi]
	if r.done && r.learn == s.learn[p.Sender] && slices.Equal(r.exclude, req.ExcludeChannels) {
		s.hits++
		routes, err := r.routes, r.err
		*r = specResult{done: true}
		return routes, err
	}
	if r.done {
		s.stale++
	}
	*r = specResult{done: true}
	return e.strategy.FindRoutes(routing.Input{Graph: e.graph, Request: req, Mission: e.mc(p.Sender), Now: e.wall(e.now)})
}

// speculateFrom computes, in parallel, the first routes of the arrivals at
// positions from, from+1, … of the arrival order, against the current
// state.
func (e *Engine) speculateFrom(from int) {
	s := &e.spec
	to := min(from+specBatch*e.Workers, len(s.order))
	s.next = to
	s.batches++
	type job struct {
		pi  int32
		in  routing.Input
		out *specResult
	}
	jobs := make([]job, 0, to-from)
	for _, pi := range s.order[from:to] {
		p := e.pays[pi]
		req := e.request(p, p.Amount, nil)
		r := &s.res[pi]
		*r = specResult{done: true, learn: s.learn[p.Sender], exclude: req.ExcludeChannels}
		if e.stranded(p.Sender, req.ExcludeChannels) {
			r.done = false // tryRoute never asks: nothing to compute
			continue
		}
		// Mission controls are created here, on the engine's goroutine;
		// the workers only read them.
		jobs = append(jobs, job{pi, routing.Input{Graph: e.graph, Request: req, Mission: e.mc(p.Sender), Now: e.wall(p.Time)}, r})
	}
	var next atomic.Int64
	work := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= len(jobs) {
				return
			}
			j := &jobs[i]
			j.out.routes, j.out.err = e.strategy.FindRoutes(j.in)
		}
	}
	var wg sync.WaitGroup
	for range min(e.Workers, len(jobs)) - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}
