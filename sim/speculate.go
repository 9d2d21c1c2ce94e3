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
// has several workers and the strategy is pure, it keeps the first routes
// of the next arrivals being computed ahead by a pool of Workers
// goroutines while the event loop goes on: whenever fewer than
// specAhead·Workers arrivals ahead of the current one have been handed to
// the pool, the next specChunk·Workers are, each with its request built
// from the state at that instant (a copy) and its exact arrival time as
// "now". Mission controls are safe for concurrent use (routing locks
// them), so a search may run while the loop reports to its payer's mission
// control; such a result is never used (below).
//
// When one of those payments arrives, its request is rebuilt from the
// state at that instant; the speculative result is used only if the
// request is identical and the payer's mission control has learnt nothing
// since the request was handed out (a per-payer counter, bumped on every
// report). Then the mission control was the same during the whole search,
// every input of the search is the same as if it had run at the arrival,
// and so is the result; otherwise the route is computed again, serially.
// The loop waits for a usable result that is not ready yet, computing
// not-yet-started searches of its chunk meanwhile. The worker count
// therefore changes only speed, never results (TestSpeculationWorkers).

// specChunk is the number of arrivals handed to the pool at once, per
// worker, and specAhead the number of arrivals, per worker, the pool is
// kept ahead of the event loop.
//
// The shorter the look-ahead, the fresher the requests: on the 2021 CLN
// graph with 2 workers, 99.7 % of the speculative routes are used (8 and
// 32 used 98.8 %), and the loop, which helps with its chunk when it has to
// wait, keeps both cores busy.
const (
	specChunk = 2
	specAhead = 8
)

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
	pool  *specPool
	// Hits, Stale and Batches count speculative routes used, speculative
	// routes recomputed because their inputs changed, and chunks handed
	// to the pool.
	hits, stale, batches int
}

// specResult is one payment's speculative first route and the inputs it
// depended on that can change before the arrival.
type specResult struct {
	done    bool // speculated: job is nil when there was nothing to compute
	learn   uint32
	exclude []routing.ChannelID
	job     *specJob
	chunk   *specChunkJobs
}

// specJob is one search handed to the pool. Its output is written by the
// goroutine that runs it, then ready is closed.
type specJob struct {
	in     routing.Input
	ready  chan struct{}
	routes []routing.Route
	err    error
}

// specChunkJobs is a chunk of searches, started in order by whichever
// goroutine claims them.
type specChunkJobs struct {
	jobs []specJob
	next atomic.Int64
}

// specPool is the speculation goroutines and their queue of chunks.
type specPool struct {
	strategy routing.Strategy
	queue    chan *specChunkJobs
	stop     atomic.Bool
	wg       sync.WaitGroup
}

// run claims and runs c's searches until none is left unclaimed.
func (p *specPool) run(c *specChunkJobs) {
	for {
		i := int(c.next.Add(1) - 1)
		if i >= len(c.jobs) {
			return
		}
		j := &c.jobs[i]
		if !p.stop.Load() {
			j.routes, j.err = p.strategy.FindRoutes(j.in)
		}
		close(j.ready)
	}
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

// initSpeculation turns speculation on when it can pay off and starts its
// goroutines; stopSpeculation must follow.
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
	p := &specPool{strategy: e.strategy, queue: make(chan *specChunkJobs, e.Workers*(specAhead/specChunk+2))}
	s.pool = p
	for range e.Workers {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for c := range p.queue {
				p.run(c)
			}
		}()
	}
}

// stopSpeculation ends the speculation goroutines once they have finished
// (or skipped) the searches handed to them.
func (e *Engine) stopSpeculation() {
	if p := e.spec.pool; p != nil {
		p.stop.Store(true)
		close(p.queue)
		p.wg.Wait()
		e.spec.pool = nil
	}
}

// speculated returns payment pi's first routes at its arrival, from a
// speculative result when every input is unchanged.
func (e *Engine) speculated(pi int32, req routing.Request) ([]routing.Route, error) {
	s := &e.spec
	p := e.pays[pi]
	pos := int(s.pos[pi])
	if !s.res[pi].done && pos >= s.next {
		s.next = pos // the pool fell behind (or this is the first arrival)
	}
	for s.next < len(s.order) && s.next-pos < specAhead*e.Workers {
		e.speculateFrom(s.next)
	}
	r := &s.res[pi]
	if r.job != nil && r.learn == s.learn[p.Sender] && slices.Equal(r.exclude, req.ExcludeChannels) {
		j := r.job
		select {
		case <-j.ready:
		default:
			s.pool.run(r.chunk) // help with what nobody started yet
			<-j.ready
		}
		s.hits++
		routes, err := j.routes, j.err
		*r = specResult{done: true}
		return routes, err
	}
	if r.job != nil {
		s.stale++
	}
	*r = specResult{done: true}
	return e.strategy.FindRoutes(routing.Input{Graph: e.graph, Request: req, Mission: e.mc(p.Sender), Now: e.wall(e.now)})
}

// speculateFrom hands the pool the first routes of the arrivals at
// positions from, from+1, … of the arrival order, against the current
// state.
func (e *Engine) speculateFrom(from int) {
	s := &e.spec
	to := min(from+specChunk*e.Workers, len(s.order))
	s.next = to
	s.batches++
	c := &specChunkJobs{jobs: make([]specJob, 0, to-from)}
	for _, pi := range s.order[from:to] {
		p := e.pays[pi]
		req := e.request(p, p.Amount, nil)
		if e.stranded(p.Sender, req.ExcludeChannels) {
			s.res[pi] = specResult{} // tryRoute never asks: nothing to compute
			continue
		}
		// Mission controls are created here, on the engine's goroutine;
		// the workers only read them.
		c.jobs = append(c.jobs, specJob{in: routing.Input{Graph: e.graph, Request: req, Mission: e.mc(p.Sender), Now: e.wall(p.Time)}, ready: make(chan struct{})})
		s.res[pi] = specResult{done: true, learn: s.learn[p.Sender], exclude: req.ExcludeChannels, job: &c.jobs[len(c.jobs)-1], chunk: c}
	}
	if len(c.jobs) == 0 {
		return
	}
	for range min(e.Workers, len(c.jobs)) {
		s.pool.queue <- c
	}
}
