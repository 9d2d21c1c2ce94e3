package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paymesh/paymesh/routing"
)

// Failure causes, with CLoTH's names.
const (
	CauseNone        = ""
	CauseNoPath      = "no_path"
	CauseNoBalance   = "no_balance"
	CauseOfflineNode = "offline_node"
	CauseTimeout     = "timeout"
)

// Causes lists the failure causes in report order.
var Causes = []string{CauseNoPath, CauseNoBalance, CauseOfflineNode, CauseTimeout}

// ErrCanceled is returned when Engine.Cancel closes during Run.
var ErrCanceled = errors.New("simulation canceled")

// ErrStrategyContract is returned when a strategy returns routes that do
// not fit its request (wrong endpoints, amounts that do not add up, unknown
// channels): a bug in the strategy, reported instead of simulated.
var ErrStrategyContract = errors.New("strategy broke its contract")

// Epoch is the wall-clock instant simulated time 0 maps to when routing
// code asks for "now" (mission control needs a non-zero time).
var Epoch = time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)

// EngineConfig is the [engine] table: the latency and failure model.
type EngineConfig struct {
	// HopLatency is the mean time for an HTLC message (add, fail or
	// fulfil) to cross one channel. Default 100ms (CLoTH).
	HopLatency Duration `toml:"hop_latency" json:"hop_latency"`
	// HopJitter is the standard deviation of a normal noise added to each
	// hop's latency. Default 1ms (CLoTH's 100 + N(0,1) ms).
	HopJitter Duration `toml:"hop_jitter" json:"hop_jitter"`
	// HoldTime is how long the receiver holds HTLCs before releasing the
	// preimage. Default 0.
	HoldTime Duration `toml:"hold_time" json:"hold_time"`
	// PaymentTimeout stops retries this long after a payment starts.
	// Default 60s (CLoTH).
	PaymentTimeout Duration `toml:"payment_timeout" json:"payment_timeout"`
	// MaxAttempts caps route-finding rounds per payment; 0 means no cap
	// other than the timeout.
	MaxAttempts int `toml:"max_attempts" json:"max_attempts"`
	// OfflineProbability is the chance, per forwarding, that the next node
	// is offline (CLoTH's faulty_node_probability). Default 0.
	OfflineProbability float64 `toml:"offline_probability" json:"offline_probability"`
	// OfflineLatency is how long a node waits before deciding its peer is
	// offline. Default 3s.
	OfflineLatency Duration `toml:"offline_latency" json:"offline_latency"`
	// BlockTime converts CLTV deltas in blocks to time. Default 10m.
	BlockTime Duration `toml:"block_time" json:"block_time"`
	// FinalCLTVDelta is the receiver's final expiry delta in blocks.
	// Default 40 (CLoTH's FINALTIMELOCK).
	FinalCLTVDelta uint32 `toml:"final_cltv_delta" json:"final_cltv_delta"`
	// MaxCLTV caps a route's total time lock in blocks. Default 2056
	// (2016 + 40, CLoTH's TIMELOCKLIMIT).
	MaxCLTV uint32 `toml:"max_cltv" json:"max_cltv"`
	// KeepFailed disables the payer's per-payment pruning: by default a
	// channel that failed a part (no balance, offline peer) is excluded
	// from the payment's later rounds, as lnd and CLoTH's payers do, so
	// that strategies without mission control do not retry the same route
	// until the timeout.
	KeepFailed bool `toml:"keep_failed" json:"keep_failed,omitempty"`
	// PrecomputeFirst computes every payment's first route before the
	// simulation starts, from the initial balances and with no mission
	// control knowledge, spread over Engine.Workers goroutines — exactly
	// what CLoTH does. Retries are computed during the simulation as
	// usual. Results are identical for any number of workers.
	PrecomputeFirst bool `toml:"precompute_first" json:"precompute_first,omitempty"`
	// MaxHops caps route length. Default 27 (CLoTH's HOPSLIMIT).
	MaxHops int `toml:"max_hops" json:"max_hops"`
	// SampleInterval is the time-series resolution. Default 10s.
	SampleInterval Duration `toml:"sample_interval" json:"sample_interval"`
	// DepletionMsat: a channel direction whose balance is below it counts
	// as depleted in the time series. Default: the workload's mean amount.
	DepletionMsat uint64 `toml:"depletion_msat" json:"depletion_msat"`
}

// Validate fills defaults and rejects nonsense; errors name the field.
func (c *EngineConfig) Validate() error {
	def := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	def(&c.HopLatency, 100*time.Millisecond)
	def(&c.HopJitter, time.Millisecond)
	def(&c.PaymentTimeout, 60*time.Second)
	def(&c.OfflineLatency, 3*time.Second)
	def(&c.BlockTime, 10*time.Minute)
	def(&c.SampleInterval, 10*time.Second)
	if c.FinalCLTVDelta == 0 {
		c.FinalCLTVDelta = 40
	}
	if c.MaxCLTV == 0 {
		c.MaxCLTV = 2016 + 40
	}
	if c.MaxHops == 0 {
		c.MaxHops = 27
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"hop_latency", c.HopLatency}, {"hop_jitter", c.HopJitter}, {"hold_time", c.HoldTime},
		{"payment_timeout", c.PaymentTimeout}, {"offline_latency", c.OfflineLatency},
		{"block_time", c.BlockTime}, {"sample_interval", c.SampleInterval}} {
		if d.v < 0 || d.v.D() > 365*24*time.Hour {
			return fmt.Errorf("engine.%s: %v out of range [0, 1 year]", d.name, d.v.D())
		}
	}
	if c.SampleInterval.D() < time.Millisecond {
		return fmt.Errorf("engine.sample_interval: must be at least 1ms")
	}
	if c.BlockTime.D() < time.Millisecond {
		return fmt.Errorf("engine.block_time: must be at least 1ms")
	}
	if !(c.OfflineProbability >= 0 && c.OfflineProbability < 1) {
		return fmt.Errorf("engine.offline_probability: %g not in [0, 1)", c.OfflineProbability)
	}
	if c.MaxAttempts < 0 || c.MaxAttempts > 1_000_000 {
		return fmt.Errorf("engine.max_attempts: %d not in [0, 1e6]", c.MaxAttempts)
	}
	if c.MaxHops < 1 || c.MaxHops > 255 {
		return fmt.Errorf("engine.max_hops: %d not in [1, 255]", c.MaxHops)
	}
	if c.MaxCLTV < c.FinalCLTVDelta {
		return fmt.Errorf("engine.max_cltv: %d below final_cltv_delta %d", c.MaxCLTV, c.FinalCLTVDelta)
	}
	return nil
}

// PaymentResult is the outcome of one payment.
type PaymentResult struct {
	Payment
	Success bool
	// Cause is empty on success, else one of Causes.
	Cause string
	// Attempts counts route-finding rounds that sent at least one part.
	Attempts int
	// Parts counts HTLC sets sent (routes tried).
	Parts int
	// Hops is the longest route among the settled parts.
	Hops int
	// FeeMsat is the fee paid (successful payments only).
	FeeMsat uint64
	// End is when the sender learnt the outcome.
	End Time
}

// Sample is one point of the time series.
type Sample struct {
	T         Time
	Succeeded int
	Failed    int
	Pending   int
	// InFlightMsat is the amount locked in HTLCs.
	InFlightMsat uint64
	// Depleted is the fraction of channel directions whose balance is
	// below EngineConfig.DepletionMsat.
	Depleted float64
}

// chanState is the engine's per-channel money: the spendable balance of
// each side and what each side has locked in pending HTLCs.
type chanState struct {
	bal    [2]uint64
	locked [2]uint64
	cap    uint64
}

type eventKind uint8

const (
	evArrive  eventKind = iota // payment a arrives at its sender
	evForward                  // part a's HTLC reaches route node hop
	evFail                     // failure for hop `hop` reaches its sender
	evSettle                   // preimage for hop `hop` reaches its sender
	evTimeout                  // payment a's timeout
	evSample                   // time-series sample
	evRetry                    // payment a's sender routes what is left
)

type event struct {
	t    Time
	seq  uint64
	a    int32
	hop  int16
	kind eventKind
}

type eventQueue []event

func (q eventQueue) less(i, j int) bool {
	return q[i].t < q[j].t || q[i].t == q[j].t && q[i].seq < q[j].seq
}

func (q *eventQueue) push(e event) {
	*q = append(*q, e)
	h := *q
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *eventQueue) pop() event {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}

type hopRef struct {
	ch  int32
	dir uint8
}

type part struct {
	pay     int32
	route   routing.Route
	hops    []hopRef
	sentAt  Time
	failHop int16
	cause   string
}

type payState struct {
	held      []int32
	heldAmt   uint64
	remaining uint64
	inflight  int32
	attempts  int32
	parts     int32
	hops      int32
	fee       uint64
	cause     string
	lastCause string
	// exclude lists the payer's channels that failed locally (the fee on
	// top of the amount did not fit); later rounds avoid them.
	exclude   []routing.ChannelID
	abandoned bool
	settled   bool
	done      bool
	success   bool
	end       Time
}

// Engine simulates one strategy over one workload. It is single-threaded
// and deterministic: the same inputs and random stream give the same
// results. Create one with NewEngine and call Run once.
type Engine struct {
	cfg      EngineConfig
	topo     *Topology
	graph    *routing.Snapshot
	strategy routing.Strategy
	multi    bool
	rng      *rand.Rand
	ids      []routing.NodeID
	adj      [][]int32 // node → channel indices
	ch       []chanState
	pays     []Payment
	ps       []payState
	parts    []part
	mission  map[int32]*routing.MissionControl
	q        eventQueue
	seq      uint64
	now      Time
	deplete  uint64
	depleted int
	done     struct{ ok, fail int }
	arrived  int
	inflight uint64
	samples  []Sample
	// Workers bounds the goroutines used by PrecomputeFirst and by
	// speculative first routes (see speculate.go; 0 or 1: none). Results
	// do not depend on it.
	Workers int
	// first holds precomputed first-round routes (PrecomputeFirst).
	first    [][]routing.Route
	firstErr []error
	// spec holds speculative first-round routes (see speculate).
	spec specState
	// OnPaymentDone, if set, is called with the number of finished
	// payments each time one finishes.
	OnPaymentDone func(finished int)
	// Cancel, if set, aborts Run with ErrCanceled once closed.
	Cancel <-chan struct{}
	// AfterEvent, if set, is called after every event (tests use it to
	// check conservation of funds).
	AfterEvent func(e *Engine) error
}

// MultiPartStrategy is implemented by strategies that split payments. The
// engine then excludes only the payer's empty channels from a search, not
// those smaller than the whole amount. routing's "mpp" is recognised by
// name.
type MultiPartStrategy interface {
	MultiPart() bool
}

// StrategyBuilder builds the strategy for one engine; oracle gives the
// engine's true balances for strategies that need them.
type StrategyBuilder func(oracle routing.LiquidityOracle) (routing.Strategy, error)

// NewEngine prepares a simulation of payments over t (balances
// initialised, node order normalised by NormalizeOrder) and its routing
// graph g. build is called once with the engine's liquidity oracle.
func NewEngine(cfg EngineConfig, t *Topology, g *routing.Snapshot, build StrategyBuilder, payments []Payment, r *rand.Rand) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !t.HasBalances {
		return nil, fmt.Errorf("engine: %w", ErrNoBalances)
	}
	e := &Engine{cfg: cfg, topo: t, graph: g, rng: r, pays: payments, mission: map[int32]*routing.MissionControl{}}
	e.ids = make([]routing.NodeID, len(t.Nodes))
	for i, n := range t.Nodes {
		e.ids[i] = routing.NodeID(n)
	}
	deg := make([]int32, len(t.Nodes))
	for _, c := range t.Channels {
		deg[c.Node[0]]++
		deg[c.Node[1]]++
	}
	flat := make([]int32, 2*len(t.Channels))
	e.adj = make([][]int32, len(t.Nodes))
	off := 0
	for i, d := range deg {
		e.adj[i] = flat[off : off : off+int(d)]
		off += int(d)
	}
	e.ch = make([]chanState, len(t.Channels))
	for i, c := range t.Channels {
		e.adj[c.Node[0]] = append(e.adj[c.Node[0]], int32(i))
		e.adj[c.Node[1]] = append(e.adj[c.Node[1]], int32(i))
		e.ch[i] = chanState{bal: c.Balance, cap: c.CapacityMsat}
	}
	e.deplete = cfg.DepletionMsat
	if e.deplete == 0 && len(payments) > 0 {
		var s float64
		for _, p := range payments {
			s += float64(p.Amount)
		}
		e.deplete = uint64(s / float64(len(payments)))
	}
	for i := range e.ch {
		for d := range 2 {
			if e.ch[i].bal[d] < e.deplete {
				e.depleted++
			}
		}
	}
	s, err := build(oracle{e})
	if err != nil {
		return nil, err
	}
	e.strategy = s
	e.multi = s.Name() == routing.StrategyMPP
	if m, ok := s.(MultiPartStrategy); ok {
		e.multi = m.MultiPart()
	}
	return e, nil
}

// oracle exposes the engine's true balances to routing.
type oracle struct{ e *Engine }

// Liquidity implements routing.LiquidityOracle.
func (o oracle) Liquidity(ch routing.ChannelID, dir routing.Direction) uint64 {
	if int(ch) >= len(o.e.ch) || dir > 1 {
		return 0
	}
	return o.e.ch[ch].bal[dir]
}

func (e *Engine) schedule(t Time, kind eventKind, a int32, hop int) {
	e.seq++
	e.q.push(event{t: t, seq: e.seq, a: a, hop: int16(hop), kind: kind})
}

func (e *Engine) latency() Time {
	l := float64(e.cfg.HopLatency.Sim()) + float64(e.cfg.HopJitter.Sim())*e.rng.NormFloat64()
	if l < 0 {
		return 0
	}
	return Time(l)
}

func (e *Engine) wall(t Time) time.Time { return Epoch.Add(time.Duration(t) * time.Microsecond) }

// Run simulates every payment to completion and returns their results (in
// payment order) and the time series.
func (e *Engine) Run() ([]PaymentResult, []Sample, error) {
	e.ps = make([]payState, len(e.pays))
	e.q = make(eventQueue, 0, 1024)
	for i, p := range e.pays {
		e.schedule(p.Time, evArrive, int32(i), 0)
	}
	e.schedule(0, evSample, 0, 0)
	if e.cfg.PrecomputeFirst {
		e.precompute()
	}
	e.initSpeculation()
	defer e.stopSpeculation()
	for n := 0; len(e.q) > 0; n++ {
		if e.Cancel != nil && n&1023 == 0 {
			select {
			case <-e.Cancel:
				return nil, nil, ErrCanceled
			default:
			}
		}
		ev := e.q.pop()
		e.now = ev.t
		if err := e.step(ev); err != nil {
			return nil, nil, err
		}
		if e.AfterEvent != nil {
			if err := e.AfterEvent(e); err != nil {
				return nil, nil, fmt.Errorf("after event %d at %dµs: %w", ev.seq, ev.t, err)
			}
		}
	}
	e.sample()
	out := make([]PaymentResult, len(e.pays))
	for i, p := range e.pays {
		s := &e.ps[i]
		out[i] = PaymentResult{Payment: p, Success: s.success, Cause: s.cause, Attempts: int(s.attempts),
			Parts: int(s.parts), Hops: int(s.hops), End: s.end}
		if s.success {
			out[i].FeeMsat = s.fee
		}
	}
	return out, e.samples, nil
}

func (e *Engine) step(ev event) error {
	switch ev.kind {
	case evArrive:
		e.arrived++
		e.schedule(e.now+e.cfg.PaymentTimeout.Sim(), evTimeout, ev.a, 0)
		e.ps[ev.a].remaining = e.pays[ev.a].Amount
		return e.tryRoute(ev.a)
	case evTimeout:
		s := &e.ps[ev.a]
		if !s.done && !s.settled && !s.abandoned {
			e.abandon(ev.a, CauseTimeout)
		}
	case evForward:
		return e.forward(ev.a, int(ev.hop))
	case evFail:
		return e.fail(ev.a, int(ev.hop))
	case evSettle:
		return e.settle(ev.a, int(ev.hop))
	case evRetry:
		return e.tryRoute(ev.a)
	case evSample:
		e.sample()
		if len(e.q) > 0 {
			e.schedule(e.now+e.cfg.SampleInterval.Sim(), evSample, 0, 0)
		}
	}
	return nil
}

func (e *Engine) sample() {
	n := len(e.samples)
	if n > 0 && e.samples[n-1].T == e.now {
		n--
		e.samples = e.samples[:n]
	}
	pending := e.arrived - e.done.ok - e.done.fail
	e.samples = append(e.samples, Sample{T: e.now, Succeeded: e.done.ok, Failed: e.done.fail, Pending: pending,
		InFlightMsat: e.inflight, Depleted: float64(e.depleted) / float64(2*len(e.ch))})
}

// move changes side d's spendable balance of channel c by +add −sub,
// keeping the depletion count current.
func (e *Engine) move(c int32, d uint8, add, sub uint64) {
	cs := &e.ch[c]
	was := cs.bal[d] < e.deplete
	cs.bal[d] = cs.bal[d] + add - sub
	if is := cs.bal[d] < e.deplete; is != was {
		if is {
			e.depleted++
		} else {
			e.depleted--
		}
	}
}

func (e *Engine) mc(sender int32) *routing.MissionControl {
	m, ok := e.mission[sender]
	if !ok {
		m = routing.NewMissionControl(routing.MissionConfig{})
		e.mission[sender] = m
	}
	return m
}

func (e *Engine) tryRoute(pi int32) error {
	s := &e.ps[pi]
	p := e.pays[pi]
	if s.remaining == 0 || s.done || s.abandoned || s.settled {
		return nil // an earlier retry already placed everything
	}
	if e.now-p.Time >= e.cfg.PaymentTimeout.Sim() {
		e.abandon(pi, CauseTimeout)
		return nil
	}
	if e.cfg.MaxAttempts > 0 && int(s.attempts) >= e.cfg.MaxAttempts {
		e.abandon(pi, s.lastCause)
		return nil
	}
	req := e.request(p, s.remaining, s.exclude)
	var routes []routing.Route
	var err error
	switch {
	case e.first != nil && s.attempts == 0 && len(s.exclude) == 0 && s.remaining == p.Amount:
		routes, err = e.first[pi], e.firstErr[pi]
		e.first[pi] = nil
	case e.stranded(p.Sender, req.ExcludeChannels):
		// The payer cannot even leave its own node: no search needed.
		err = routing.ErrNoRoute
	case e.spec.on && s.attempts == 0 && len(s.exclude) == 0 && s.remaining == p.Amount && e.now == p.Time:
		routes, err = e.speculated(pi, req)
	default:
		routes, err = e.strategy.FindRoutes(routing.Input{Graph: e.graph, Request: req, Mission: e.mc(p.Sender), Now: e.wall(e.now)})
	}
	if err != nil || len(routes) == 0 {
		if err != nil && !errors.Is(err, routing.ErrNoRoute) {
			return fmt.Errorf("payment %d: %s: %w", pi, e.strategy.Name(), err)
		}
		cause := CauseNoPath
		if s.attempts > 0 && s.lastCause != "" {
			cause = s.lastCause
		}
		e.abandon(pi, cause)
		return nil
	}
	var total uint64
	newParts := make([]int32, 0, len(routes))
	for _, r := range routes {
		hops, err := e.checkRoute(p, r)
		if err != nil {
			return fmt.Errorf("payment %d: %s: %w", pi, e.strategy.Name(), err)
		}
		total += r.Delivered()
		e.parts = append(e.parts, part{pay: pi, route: r, hops: hops, sentAt: e.now})
		newParts = append(newParts, int32(len(e.parts)-1))
	}
	if total != s.remaining {
		return fmt.Errorf("payment %d: %s: %w: routes deliver %d, asked %d", pi, e.strategy.Name(), ErrStrategyContract, total, s.remaining)
	}
	s.attempts++
	s.remaining = 0
	for _, k := range newParts {
		s.parts++
		s.inflight++
		pt := &e.parts[k]
		h := pt.hops[0]
		amt := pt.route.Hops[0].Amount
		if e.ch[h.ch].bal[h.dir] < amt {
			// The payer's channel cannot carry amount plus fees, or a
			// multi-part split over-committed it.
			s.exclude = append(s.exclude, routing.ChannelID(h.ch))
			pt.cause, pt.failHop = CauseNoBalance, 0
			if err := e.senderFail(k); err != nil {
				return err
			}
			continue
		}
		e.lock(h, amt)
		e.schedule(e.now+e.latency(), evForward, k, 1)
	}
	return nil
}

// request builds the routing request for amount of payment p. The payer
// knows its own balances (lnd's bandwidth hints): its channels that cannot
// carry the amount are excluded from the search, as are those in excl.
func (e *Engine) request(p Payment, amount uint64, excl []routing.ChannelID) routing.Request {
	need := amount
	if e.multi {
		need = 1
	}
	var ex []routing.ChannelID
	for _, c := range e.adj[p.Sender] {
		d := uint8(0)
		if e.topo.Channels[c].Node[1] == p.Sender {
			d = 1
		}
		if e.ch[c].bal[d] < need {
			ex = append(ex, routing.ChannelID(c))
		}
	}
	ex = append(ex, excl...)
	blocks := uint64(e.cfg.BlockTime.D() / time.Millisecond)
	return routing.Request{
		Source: e.ids[p.Sender], Target: e.ids[p.Receiver], Amount: amount,
		MaxHops: e.cfg.MaxHops, MaxExpiry: uint64(e.cfg.MaxCLTV) * blocks,
		FinalExpiryDelta: uint64(e.cfg.FinalCLTVDelta) * blocks, ExcludeChannels: ex,
	}
}

// stranded reports whether every channel of node n is excluded.
func (e *Engine) stranded(n int32, excl []routing.ChannelID) bool {
	if len(excl) < len(e.adj[n]) {
		return false
	}
	for _, c := range e.adj[n] {
		if !slices.Contains(excl, routing.ChannelID(c)) {
			return false
		}
	}
	return true
}

// precompute finds every payment's first route in parallel from the
// initial state (CLoTH's run_dijkstra_threads). Each route is a pure
// function of its request, so the worker count cannot change results.
func (e *Engine) precompute() {
	e.first = make([][]routing.Route, len(e.pays))
	e.firstErr = make([]error, len(e.pays))
	w := max(e.Workers, 1)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(e.pays) {
					return
				}
				p := e.pays[i]
				req := e.request(p, p.Amount, nil)
				if e.stranded(p.Sender, req.ExcludeChannels) {
					e.firstErr[i] = routing.ErrNoRoute
					continue
				}
				e.first[i], e.firstErr[i] = e.strategy.FindRoutes(routing.Input{Graph: e.graph, Request: req, Now: e.wall(p.Time)})
			}
		}()
	}
	wg.Wait()
}

// checkRoute verifies a strategy's route and maps it to engine channels.
func (e *Engine) checkRoute(p Payment, r routing.Route) ([]hopRef, error) {
	if len(r.Hops) == 0 || r.Hops[0].From != e.ids[p.Sender] || r.Hops[len(r.Hops)-1].To != e.ids[p.Receiver] {
		return nil, fmt.Errorf("%w: route does not join sender to receiver", ErrStrategyContract)
	}
	hops := make([]hopRef, len(r.Hops))
	for i, h := range r.Hops {
		if uint64(h.Channel) >= uint64(len(e.ch)) {
			return nil, fmt.Errorf("%w: unknown channel %d", ErrStrategyContract, uint64(h.Channel))
		}
		c := &e.topo.Channels[h.Channel]
		var d uint8
		switch {
		case e.ids[c.Node[0]] == h.From && e.ids[c.Node[1]] == h.To:
		case e.ids[c.Node[1]] == h.From && e.ids[c.Node[0]] == h.To:
			d = 1
		default:
			return nil, fmt.Errorf("%w: hop %d does not match channel %d", ErrStrategyContract, i, uint64(h.Channel))
		}
		if i > 0 && r.Hops[i-1].To != h.From || h.Amount == 0 {
			return nil, fmt.Errorf("%w: hop %d is not contiguous or carries nothing", ErrStrategyContract, i)
		}
		hops[i] = hopRef{ch: int32(h.Channel), dir: d}
	}
	return hops, nil
}

func (e *Engine) lock(h hopRef, amt uint64) {
	e.move(h.ch, h.dir, 0, amt)
	e.ch[h.ch].locked[h.dir] += amt
	e.inflight += amt
}

// forward handles part k's HTLC arriving at route node pos (1..len).
func (e *Engine) forward(k int32, pos int) error {
	pt := &e.parts[k]
	s := &e.ps[pt.pay]
	n := len(pt.hops)
	if pos == n {
		expiry := pt.sentAt + Time(pt.route.Hops[n-1].Expiry)*Millisecond
		switch {
		case s.abandoned || s.done:
			pt.cause = s.cause
		case e.now > expiry:
			pt.cause = CauseTimeout
		default:
			s.held = append(s.held, k)
			s.heldAmt += pt.route.Delivered()
			if s.heldAmt >= e.pays[pt.pay].Amount {
				s.settled = true
				for _, h := range s.held {
					e.schedule(e.now+e.cfg.HoldTime.Sim()+e.latency(), evSettle, h, len(e.parts[h].hops)-1)
				}
				s.held = s.held[:0]
			}
			return nil
		}
		if pt.cause == "" {
			pt.cause = CauseTimeout
		}
		pt.failHop = int16(n)
		e.schedule(e.now+e.latency(), evFail, k, n-1)
		return nil
	}
	if e.cfg.OfflineProbability > 0 && e.rng.Float64() < e.cfg.OfflineProbability {
		pt.cause, pt.failHop = CauseOfflineNode, int16(pos)
		e.schedule(e.now+e.cfg.OfflineLatency.Sim()+e.latency(), evFail, k, pos-1)
		return nil
	}
	h := pt.hops[pos]
	amt := pt.route.Hops[pos].Amount
	pol := &e.topo.Channels[h.ch].Policy[h.dir]
	if e.ch[h.ch].bal[h.dir] < amt || pol.Disabled || pol.HTLCMaxMsat != 0 && amt > pol.HTLCMaxMsat {
		pt.cause, pt.failHop = CauseNoBalance, int16(pos)
		e.schedule(e.now+e.latency(), evFail, k, pos-1)
		return nil
	}
	e.lock(h, amt)
	e.schedule(e.now+e.latency(), evForward, k, pos+1)
	return nil
}

// fail releases hop pos of part k (its sender learnt of the failure).
func (e *Engine) fail(k int32, pos int) error {
	pt := &e.parts[k]
	h := pt.hops[pos]
	amt := pt.route.Hops[pos].Amount
	e.ch[h.ch].locked[h.dir] -= amt
	e.inflight -= amt
	e.move(h.ch, h.dir, amt, 0)
	if pos == 0 {
		return e.senderFail(k)
	}
	e.schedule(e.now+e.latency(), evFail, k, pos-1)
	return nil
}

// settle pays hop pos of part k to its receiving side.
func (e *Engine) settle(k int32, pos int) error {
	pt := &e.parts[k]
	h := pt.hops[pos]
	amt := pt.route.Hops[pos].Amount
	e.ch[h.ch].locked[h.dir] -= amt
	e.inflight -= amt
	e.move(h.ch, 1-h.dir, amt, 0)
	if pos > 0 {
		e.schedule(e.now+e.latency(), evSettle, k, pos-1)
		return nil
	}
	s := &e.ps[pt.pay]
	e.mc(e.pays[pt.pay].Sender).ReportSuccess(pt.route, e.wall(e.now))
	e.spec.learnt(e.pays[pt.pay].Sender)
	s.inflight--
	s.fee += pt.route.Fee
	s.hops = max(s.hops, int32(len(pt.hops)))
	pt.route, pt.hops = routing.Route{}, nil // resolved: free the hops
	if s.inflight == 0 {
		s.done, s.success, s.end = true, true, e.now
		e.done.ok++
		e.notify()
	}
	return nil
}

// senderFail processes a failed part at its sender: learn, then retry or
// give up.
func (e *Engine) senderFail(k int32) error {
	pt := &e.parts[k]
	s := &e.ps[pt.pay]
	m := e.mc(e.pays[pt.pay].Sender)
	e.spec.learnt(e.pays[pt.pay].Sender)
	switch fh := int(pt.failHop); {
	case fh == 0:
		// The payer's own channel: nothing to learn (lnd's
		// processPaymentOutcomeSelf).
	case fh >= len(pt.hops):
		m.ReportSuccess(pt.route, e.wall(e.now)) // every hop carried it
	case pt.cause == CauseOfflineNode:
		m.ReportFailure(pt.route, fh, 0, e.wall(e.now))
	default:
		m.ReportFailure(pt.route, fh, pt.route.Hops[fh].Amount, e.wall(e.now))
	}
	if fh := int(pt.failHop); !e.cfg.KeepFailed && fh > 0 && fh < len(pt.hops) {
		s.exclude = append(s.exclude, routing.ChannelID(pt.hops[fh].ch))
	}
	s.inflight--
	s.remaining += pt.route.Delivered()
	s.lastCause = pt.cause
	pt.route, pt.hops = routing.Route{}, nil // resolved: free the hops
	if s.abandoned {
		if s.inflight == 0 {
			e.finish(pt.pay)
		}
		return nil
	}
	// Re-route the failed amount now (other parts may still be out).
	e.schedule(e.now, evRetry, pt.pay, 0)
	return nil
}

// abandon stops retrying payment pi: the receiver releases what it holds.
func (e *Engine) abandon(pi int32, cause string) {
	s := &e.ps[pi]
	if cause == "" {
		cause = CauseNoPath
	}
	s.abandoned, s.cause = true, cause
	for _, k := range s.held {
		pt := &e.parts[k]
		pt.cause, pt.failHop = cause, int16(len(pt.hops))
		e.schedule(e.now+e.latency(), evFail, k, len(pt.hops)-1)
	}
	s.held, s.heldAmt = s.held[:0], 0
	if s.inflight == 0 {
		e.finish(pi)
	}
}

func (e *Engine) finish(pi int32) {
	s := &e.ps[pi]
	if s.done {
		return
	}
	s.done, s.end = true, e.now
	e.done.fail++
	e.notify()
}

func (e *Engine) notify() {
	if e.OnPaymentDone != nil {
		e.OnPaymentDone(e.done.ok + e.done.fail)
	}
}

// CheckConservation verifies balance[0] + balance[1] + locked = capacity
// for every channel.
func (e *Engine) CheckConservation() error {
	for i, c := range e.ch {
		if c.bal[0]+c.bal[1]+c.locked[0]+c.locked[1] != c.cap {
			return fmt.Errorf("channel %d: balances %d+%d locked %d+%d != capacity %d", i, c.bal[0], c.bal[1], c.locked[0], c.locked[1], c.cap)
		}
	}
	return nil
}

// Now returns the current simulated time.
func (e *Engine) Now() Time { return e.now }
