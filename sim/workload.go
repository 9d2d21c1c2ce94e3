package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
)

// Time is simulated time in microseconds since the start of a run.
type Time = int64

// Simulated-time units.
const (
	Microsecond Time = 1
	Millisecond Time = 1000
	Second      Time = 1000 * Millisecond
)

// ErrInvalidWorkload is wrapped by workload configuration errors.
var ErrInvalidWorkload = errors.New("invalid workload")

// MaxPayments bounds the payments of one run.
const MaxPayments = 50_000_000

// Payment is one payment a workload asks the simulator to make.
type Payment struct {
	// Time is when the payment starts at its sender.
	Time Time
	// Sender and Receiver are dense node indices.
	Sender, Receiver int32
	// Amount is what the receiver must get, in msat.
	Amount uint64
	// Flow is the streaming flow the payment belongs to, or -1.
	Flow int32
}

// WorkloadEnv is what a Workload may look at when generating payments.
type WorkloadEnv struct {
	// Topology is the network with balances initialised. Read-only.
	Topology *Topology
	// Rand is the workload's random stream, derived from the run's seed
	// only, so all strategies of a run see the same payments.
	Rand *rand.Rand
	// Dir is the directory relative paths (traces) resolve against.
	Dir string
}

// Workload produces the payments of one run, sorted by Time. A researcher
// adds a generator by implementing Workload and calling RegisterWorkload.
type Workload interface {
	Payments(env WorkloadEnv) ([]Payment, error)
}

// WorkloadFactory builds a Workload from the scenario's [workload] table.
// Params holds the table's keys that WorkloadSpec does not declare, for
// generators with their own parameters.
type WorkloadFactory func(spec WorkloadSpec) (Workload, error)

var workloads = struct {
	sync.RWMutex
	m map[string]WorkloadFactory
}{m: map[string]WorkloadFactory{}}

// RegisterWorkload makes a workload generator available to scenario files
// as [workload] kind = name. Registering a taken name is an error.
func RegisterWorkload(name string, f WorkloadFactory) error {
	if name == "" || f == nil {
		return fmt.Errorf("register workload %q: empty name or nil factory", name)
	}
	workloads.Lock()
	defer workloads.Unlock()
	if _, ok := workloads.m[name]; ok {
		return fmt.Errorf("register workload %q: name already taken", name)
	}
	workloads.m[name] = f
	return nil
}

// Workloads returns the registered workload kinds, sorted.
func Workloads() []string {
	workloads.RLock()
	defer workloads.RUnlock()
	var names []string
	for n := range workloads.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// NewWorkload builds the workload spec.Kind names.
func NewWorkload(spec WorkloadSpec) (Workload, error) {
	kind := spec.Kind
	if kind == "" {
		kind = "poisson"
	}
	workloads.RLock()
	f, ok := workloads.m[kind]
	workloads.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: kind: unknown %q (have %v)", ErrInvalidWorkload, kind, Workloads())
	}
	return f(spec)
}

func init() {
	for name, f := range map[string]WorkloadFactory{
		"poisson": newPoisson,
		"trace":   newTraceWorkload,
	} {
		if err := RegisterWorkload(name, f); err != nil {
			panic(err) // programming error: duplicate built-in
		}
	}
}

// AmountSpec is a payment amount distribution in msat, or kind = "trace"
// with Path naming a CSV of amounts (column amount_msat) replayed in order.
type AmountSpec struct {
	Dist
	Path string `toml:"path" json:"path,omitempty"`
}

// StreamSpec describes streaming flows: Count flows, each of Rate tiny
// payments per second of AmountMsat, from Start for Duration.
type StreamSpec struct {
	Count      int      `toml:"count" json:"count"`
	Rate       float64  `toml:"rate" json:"rate"`
	AmountMsat uint64   `toml:"amount_msat" json:"amount_msat"`
	Start      Duration `toml:"start" json:"start"`
	Duration   Duration `toml:"duration" json:"duration"`
	Senders    string   `toml:"senders" json:"senders,omitempty"`
	Receivers  string   `toml:"receivers" json:"receivers,omitempty"`
}

// WorkloadSpec is the [workload] table of a scenario.
type WorkloadSpec struct {
	// Kind selects the generator: "poisson" (default), "trace", or a
	// registered name.
	Kind string `toml:"kind" json:"kind"`
	// Payments is how many Poisson payments to make.
	Payments int `toml:"payments" json:"payments"`
	// Rate is the Poisson arrival rate, payments per second.
	Rate float64 `toml:"rate" json:"rate"`
	// Amount is the amount distribution.
	Amount AmountSpec `toml:"amount" json:"amount"`
	// Senders and Receivers choose endpoints: "uniform" (default),
	// "capacity" (weighted by the node's total channel capacity, as SimLN),
	// or "zipf" (ranks over a random order of nodes, exponent ZipfS:
	// a few "merchants" get most payments).
	Senders   string  `toml:"senders" json:"senders"`
	Receivers string  `toml:"receivers" json:"receivers"`
	ZipfS     float64 `toml:"zipf_s" json:"zipf_s,omitempty"`
	// Demand is "random" (default: independent endpoints), "circulation"
	// (Spider: endpoints are consecutive nodes of Cycles random cycles of
	// CycleLen nodes, so every node sends as much as it receives) or "dag"
	// (one-way: senders rank below receivers in a random order).
	// DAGFraction mixes one-way payments into a circulation.
	Demand      string  `toml:"demand" json:"demand"`
	Cycles      int     `toml:"cycles" json:"cycles,omitempty"`
	CycleLen    int     `toml:"cycle_len" json:"cycle_len,omitempty"`
	DAGFraction float64 `toml:"dag_fraction" json:"dag_fraction,omitempty"`
	// Streams adds streaming flows of many tiny payments.
	Streams []StreamSpec `toml:"streams" json:"streams,omitempty"`
	// Path is the trace file for kind = "trace": CSV with header
	// time_ms,sender,receiver,amount_msat, endpoints named by node id.
	Path string `toml:"path" json:"path,omitempty"`
	// Params holds undeclared keys, for registered generators.
	Params map[string]any `toml:"-" json:"params,omitempty"`
}

func werr(field, f string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidWorkload, field, fmt.Sprintf(f, a...))
}

// poisson is the built-in generator: Poisson arrivals plus streams.
type poisson struct{ spec WorkloadSpec }

func newPoisson(spec WorkloadSpec) (Workload, error) {
	s := spec
	if s.Payments < 0 || s.Payments > MaxPayments {
		return nil, werr("workload.payments", "must be in [0, %d], got %d", MaxPayments, s.Payments)
	}
	if s.Payments == 0 && len(s.Streams) == 0 {
		return nil, werr("workload.payments", "no payments and no streams")
	}
	if s.Payments > 0 {
		if !(s.Rate > 0) || math.IsInf(s.Rate, 0) || s.Rate > 1e7 {
			return nil, werr("workload.rate", "must be in (0, 1e7] payments/s, got %g", s.Rate)
		}
		if s.Amount.Kind == "trace" {
			if s.Amount.Path == "" {
				return nil, werr("workload.amount.path", "trace amounts need a path")
			}
		} else if err := s.Amount.Validate(); err != nil {
			return nil, werr("workload.amount", "%v", err)
		}
	}
	for _, sel := range []struct{ f, v string }{{"workload.senders", s.Senders}, {"workload.receivers", s.Receivers}} {
		if err := checkSelector(sel.v); err != nil {
			return nil, werr(sel.f, "%v", err)
		}
	}
	if s.Senders == "zipf" || s.Receivers == "zipf" {
		if s.ZipfS == 0 {
			s.ZipfS = 1
		}
		if !(s.ZipfS > 0 && s.ZipfS <= 10) {
			return nil, werr("workload.zipf_s", "must be in (0, 10], got %g", s.ZipfS)
		}
	}
	switch s.Demand {
	case "", "random", "dag":
	case "circulation":
		if s.Cycles == 0 {
			s.Cycles = 100
		}
		if s.CycleLen == 0 {
			s.CycleLen = 4
		}
		if s.Cycles < 1 || s.Cycles > 1_000_000 {
			return nil, werr("workload.cycles", "must be in [1, 1e6], got %d", s.Cycles)
		}
		if s.CycleLen < 2 || s.CycleLen > 1000 {
			return nil, werr("workload.cycle_len", "must be in [2, 1000], got %d", s.CycleLen)
		}
		if !(s.DAGFraction >= 0 && s.DAGFraction <= 1) {
			return nil, werr("workload.dag_fraction", "must be in [0, 1], got %g", s.DAGFraction)
		}
	default:
		return nil, werr("workload.demand", "unknown %q (random, circulation, dag)", s.Demand)
	}
	total := s.Payments
	for i, st := range s.Streams {
		f := fmt.Sprintf("workload.streams[%d]", i)
		if st.Count < 1 || st.Count > 1_000_000 {
			return nil, werr(f+".count", "must be in [1, 1e6], got %d", st.Count)
		}
		if !(st.Rate > 0) || st.Rate > 1e6 {
			return nil, werr(f+".rate", "must be in (0, 1e6] payments/s, got %g", st.Rate)
		}
		if st.AmountMsat == 0 {
			return nil, werr(f+".amount_msat", "must be > 0")
		}
		if st.Duration <= 0 || st.Start < 0 {
			return nil, werr(f+".duration", "duration must be > 0 and start >= 0")
		}
		n := float64(st.Count) * st.Rate * st.Duration.Seconds()
		if n > MaxPayments {
			return nil, werr(f, "%.0f payments exceed %d", n, MaxPayments)
		}
		total += int(n)
		for _, sel := range []struct{ f, v string }{{f + ".senders", st.Senders}, {f + ".receivers", st.Receivers}} {
			if err := checkSelector(sel.v); err != nil {
				return nil, werr(sel.f, "%v", err)
			}
		}
	}
	if total > MaxPayments {
		return nil, werr("workload", "%d payments exceed %d", total, MaxPayments)
	}
	return &poisson{spec: s}, nil
}

func checkSelector(s string) error {
	switch s {
	case "", "uniform", "capacity", "zipf":
		return nil
	}
	return fmt.Errorf("unknown selector %q (uniform, capacity, zipf)", s)
}

// picker draws nodes by a cumulative weight table.
type picker struct {
	nodes []int32
	cum   []float64 // nil means uniform over nodes
}

func (p *picker) pick(r *rand.Rand) int32 {
	if p.cum == nil {
		return p.nodes[r.IntN(len(p.nodes))]
	}
	x := r.Float64() * p.cum[len(p.cum)-1]
	i := sort.SearchFloat64s(p.cum, x)
	if i >= len(p.nodes) {
		i = len(p.nodes) - 1
	}
	return p.nodes[i]
}

func newPicker(kind string, t *Topology, active []int32, zipfS float64, r *rand.Rand) *picker {
	p := &picker{nodes: active}
	switch kind {
	case "capacity":
		w := make([]float64, len(t.Nodes))
		for _, c := range t.Channels {
			w[c.Node[0]] += float64(c.CapacityMsat)
			w[c.Node[1]] += float64(c.CapacityMsat)
		}
		p.cum = make([]float64, len(active))
		s := 0.0
		for i, n := range active {
			s += w[n]
			p.cum[i] = s
		}
	case "zipf":
		order := slices.Clone(active)
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		p.nodes = order
		p.cum = make([]float64, len(order))
		s := 0.0
		for i := range order {
			s += 1 / math.Pow(float64(i+1), zipfS)
			p.cum[i] = s
		}
	}
	return p
}

// activeNodes returns the nodes with at least one channel, in index order.
func activeNodes(t *Topology) []int32 {
	deg := make([]bool, len(t.Nodes))
	for _, c := range t.Channels {
		deg[c.Node[0]], deg[c.Node[1]] = true, true
	}
	var out []int32
	for i, d := range deg {
		if d {
			out = append(out, int32(i))
		}
	}
	return out
}

func (w *poisson) Payments(env WorkloadEnv) ([]Payment, error) {
	s := w.spec
	t, r := env.Topology, env.Rand
	active := activeNodes(t)
	if len(active) < 2 {
		return nil, werr("topology", "fewer than two nodes with channels")
	}
	if s.Payments > 0 && s.Amount.Kind != "trace" {
		if lb := s.Amount.LowerBound(); lb > float64(t.TotalCapacity()) {
			return nil, werr("workload.amount", "smallest amount %.0f msat exceeds the network's total capacity %d msat", lb, t.TotalCapacity())
		}
	}
	var amounts []uint64
	if s.Payments > 0 && s.Amount.Kind == "trace" {
		var err error
		if amounts, err = readAmountTrace(resolvePath(env.Dir, s.Amount.Path)); err != nil {
			return nil, err
		}
	}
	senders := newPicker(s.Senders, t, active, s.ZipfS, r)
	receivers := newPicker(s.Receivers, t, active, s.ZipfS, r)
	rank := make([]int32, len(t.Nodes))
	for i, n := range r.Perm(len(t.Nodes)) {
		rank[n] = int32(i)
	}
	var cycleEdges [][2]int32
	if s.Demand == "circulation" {
		l := min(s.CycleLen, len(active))
		for range s.Cycles {
			perm := r.Perm(len(active))[:l]
			for i := range perm {
				a, b := active[perm[i]], active[perm[(i+1)%l]]
				cycleEdges = append(cycleEdges, [2]int32{a, b})
			}
		}
	}
	pair := func(sp, rp *picker, demand string) (int32, int32) {
		if demand == "circulation" && !(s.DAGFraction > 0 && r.Float64() < s.DAGFraction) {
			e := cycleEdges[r.IntN(len(cycleEdges))]
			return e[0], e[1]
		}
		var a, b int32
		for try := 0; ; try++ {
			a, b = sp.pick(r), rp.pick(r)
			if a != b || try > 64 {
				break
			}
		}
		if a == b { // degenerate weights: fall back to a uniform receiver
			for b == a {
				b = active[r.IntN(len(active))]
			}
		}
		if (demand == "dag" || demand == "circulation") && rank[a] > rank[b] {
			a, b = b, a
		}
		return a, b
	}
	out := make([]Payment, 0, s.Payments)
	tm := 0.0
	for i := range s.Payments {
		tm += r.ExpFloat64() / s.Rate
		a, b := pair(senders, receivers, s.Demand)
		var amt uint64
		if amounts != nil {
			amt = amounts[i%len(amounts)]
		} else {
			amt = max(s.Amount.Sample(r), 1)
		}
		out = append(out, Payment{Time: Time(math.Round(tm * 1e6)), Sender: a, Receiver: b, Amount: amt, Flow: -1})
	}
	flow := int32(0)
	for _, st := range s.Streams {
		sp := newPicker(st.Senders, t, active, max(s.ZipfS, 1), r)
		rp := newPicker(st.Receivers, t, active, max(s.ZipfS, 1), r)
		gap := 1 / st.Rate
		for range st.Count {
			a, b := pair(sp, rp, "random")
			start := float64(st.Start.D()) / 1e3 // µs
			end := start + float64(st.Duration.D())/1e3
			phase := r.Float64() * gap * 1e6
			for x := start + phase; x < end; x += gap * 1e6 {
				out = append(out, Payment{Time: Time(math.Round(x)), Sender: a, Receiver: b, Amount: st.AmountMsat, Flow: flow})
			}
			flow++
		}
	}
	slices.SortStableFunc(out, func(x, y Payment) int {
		switch {
		case x.Time < y.Time:
			return -1
		case x.Time > y.Time:
			return 1
		}
		return 0
	})
	return out, nil
}
