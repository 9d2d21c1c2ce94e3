package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paymesh/paymesh/routing"
)

// Version identifies the simulator's model in summary.json; bump it when a
// change alters results for the same scenario and seed.
const Version = "paymesh-sim/0.2"

// Options control how Run executes (not what it computes: results do not
// depend on Options).
type Options struct {
	// Workers is how many simulations run at once; 0 means GOMAXPROCS.
	Workers int
	// Progress, if set, is called from worker goroutines with the number
	// of payments finished so far and the total.
	Progress func(done, total int64)
}

// Input records one input file and its digest.
type Input struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// JobResult is one (strategy, run) simulation.
type JobResult struct {
	Strategy string          `json:"strategy"`
	Run      int             `json:"run"`
	Seed     uint64          `json:"seed"`
	Metrics  Metrics         `json:"metrics"`
	Payments []PaymentResult `json:"-"`
	Series   []Sample        `json:"-"`
}

// StrategyResult aggregates one strategy over runs.
type StrategyResult struct {
	Label     string    `json:"label"`
	Use       string    `json:"use"`
	Aggregate Aggregate `json:"aggregate"`
	Runs      []Metrics `json:"runs"`
}

// Result is everything a scenario run produced.
type Result struct {
	Scenario   *Scenario        `json:"scenario"`
	Version    string           `json:"version"`
	Inputs     []Input          `json:"inputs"`
	Topology   TopologyStats    `json:"topology"`
	Strategies []StrategyResult `json:"strategies"`
	Jobs       []JobResult      `json:"-"`
	nodes      []string
}

// seedStream derives an independent random stream from (seed, labels...).
func seedStream(seed uint64, labels ...string) *rand.Rand {
	h := fnv.New64a()
	for _, l := range labels {
		h.Write([]byte(l))
		h.Write([]byte{0})
	}
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// LoadTopology loads or generates the scenario's topology (before balance
// initialisation) and lists the input files it read. The generator draws
// from seed.
func LoadTopology(sc *Scenario, seed uint64) (*Topology, []Input, error) {
	ts := sc.Topology
	path := resolvePath(sc.Dir, ts.Path)
	var t *Topology
	var files []string
	var err error
	switch ts.Source {
	case "cloth":
		files = []string{filepath.Join(path, "nodes_ln.csv"), filepath.Join(path, "channels_ln.csv"), filepath.Join(path, "edges_ln.csv")}
		t, err = LoadCLoTH(files[0], files[1], files[2])
	case "spider":
		files = []string{path}
		pol := Policy{FeeBaseMsat: 1000, FeePPM: 1, CLTVDelta: 40, HTLCMinMsat: 1}
		if ts.FeeBaseMsat != nil {
			pol.FeeBaseMsat = *ts.FeeBaseMsat
		}
		if ts.FeePPM != nil {
			pol.FeePPM = *ts.FeePPM
		}
		if ts.CLTVDelta != 0 {
			pol.CLTVDelta = ts.CLTVDelta
		}
		t, err = LoadSpider(path, SpiderOptions{UnitMsat: ts.UnitMsat, Policy: pol})
	case "lnd", "cln":
		files = []string{path}
		t, err = loadViaRouting(ts.Source, path)
	case "generate":
		t, err = Generate(ts.Generate, seedStream(seed, "topology"))
	default:
		err = fmt.Errorf("topology.source: unknown %q", ts.Source)
	}
	if err != nil {
		return nil, nil, err
	}
	if ts.LargestComponent {
		t = LargestComponent(t)
	}
	inputs := []Input{{Path: sc.File, SHA256: sc.SHA256}}
	for _, f := range files {
		d, err := fileSHA256(f)
		if err != nil {
			return nil, nil, err
		}
		inputs = append(inputs, Input{Path: f, SHA256: d})
	}
	if sc.Workload.Path != "" {
		f := resolvePath(sc.Dir, sc.Workload.Path)
		d, err := fileSHA256(f)
		if err != nil {
			return nil, nil, err
		}
		inputs = append(inputs, Input{Path: f, SHA256: d})
	}
	if sc.Workload.Amount.Path != "" {
		f := resolvePath(sc.Dir, sc.Workload.Amount.Path)
		d, err := fileSHA256(f)
		if err != nil {
			return nil, nil, err
		}
		inputs = append(inputs, Input{Path: f, SHA256: d})
	}
	return t, inputs, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash input: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash input %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// LargestComponent returns the sub-topology of t's largest connected
// component (nodes renumbered in their original order).
func LargestComponent(t *Topology) *Topology {
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
	for _, c := range t.Channels {
		a, b := find(c.Node[0]), find(c.Node[1])
		if a != b {
			parent[a] = b
		}
	}
	size := map[int32]int{}
	best, bestN := int32(-1), 0
	for i := range t.Nodes {
		r := find(int32(i))
		size[r]++
		if size[r] > bestN || size[r] == bestN && r < best {
			best, bestN = r, size[r]
		}
	}
	remap := make([]int32, len(t.Nodes))
	out := &Topology{Name: t.Name + "/lcc", HasBalances: t.HasBalances}
	for i, n := range t.Nodes {
		remap[i] = -1
		if find(int32(i)) == best {
			remap[i] = int32(len(out.Nodes))
			out.Nodes = append(out.Nodes, n)
		}
	}
	for _, c := range t.Channels {
		if remap[c.Node[0]] >= 0 {
			c.Node = [2]int32{remap[c.Node[0]], remap[c.Node[1]]}
			out.Channels = append(out.Channels, c)
		}
	}
	return out
}

// runInputs is one run's topology (with balances) and payments.
type runInputs struct {
	topo     *Topology
	payments []Payment
}

// Run simulates a scenario: for each run (seed), every strategy on the
// same topology, balances and payments. Results depend only on the
// scenario; opts only change speed.
func Run(ctx context.Context, sc *Scenario, opts Options) (*Result, error) {
	base, inputs, err := LoadTopology(sc, sc.Seed)
	if err != nil {
		return nil, err
	}
	if err := ScaleCapacities(base, sc.Balances.Scale); err != nil {
		return nil, fmt.Errorf("balances.scale: %w", err)
	}
	if err := base.Validate(); err != nil {
		return nil, err
	}
	NormalizeOrder(base)
	graph, err := BuildGraph(base, sc.Engine.BlockTime.D())
	if err != nil {
		return nil, err
	}
	res := &Result{Scenario: sc, Version: Version, Inputs: inputs, Topology: Inspect(base), nodes: base.Nodes}
	wl, err := NewWorkload(sc.Workload)
	if err != nil {
		return nil, err
	}
	runs := make([]runInputs, sc.Runs)
	var total int64
	for r := range runs {
		seed := sc.Seed + uint64(r)
		t := base
		if !(sc.Balances.Init == BalanceFile) {
			t = base.Clone()
			if err := InitBalances(t, sc.Balances.Init, seedStream(seed, "balances")); err != nil {
				return nil, err
			}
		}
		pays, err := wl.Payments(WorkloadEnv{Topology: t, Rand: seedStream(seed, "workload"), Dir: sc.Dir})
		if err != nil {
			return nil, err
		}
		runs[r] = runInputs{topo: t, payments: pays}
		total += int64(len(pays)) * int64(len(sc.Strategies))
	}
	type job struct{ run, strat int }
	var jobs []job
	for r := range runs {
		for s := range sc.Strategies {
			jobs = append(jobs, job{r, s})
		}
	}
	res.Jobs = make([]JobResult, len(jobs))
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	allWorkers := workers
	workers = min(workers, len(jobs))
	var done atomic.Int64
	var next atomic.Int64
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) || ctx.Err() != nil {
					return
				}
				j := jobs[i]
				label := sc.Strategies[j.strat]
				seed := sc.Seed + uint64(j.run)
				in := runs[j.run]
				eng, err := NewEngine(sc.Engine, in.topo, graph, builder(sc, label), in.payments, seedStream(seed, "engine", label))
				if err != nil {
					errs[i] = fmt.Errorf("strategy %s run %d: %w", label, j.run, err)
					return
				}
				var last int64
				eng.OnPaymentDone = func(n int) {
					if opts.Progress != nil && (n%64 == 0 || n == len(in.payments)) {
						d := done.Add(int64(n) - last)
						last = int64(n)
						opts.Progress(d, total)
					}
				}
				eng.Cancel = ctx.Done()
				eng.Workers = max(1, allWorkers/len(jobs))
				pr, series, err := eng.Run()
				if err != nil {
					errs[i] = fmt.Errorf("strategy %s run %d: %w", label, j.run, err)
					return
				}
				res.Jobs[i] = JobResult{Strategy: label, Run: j.run, Seed: seed, Metrics: ComputeMetrics(pr, series), Payments: pr, Series: series}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for s, label := range sc.Strategies {
		sr := StrategyResult{Label: label, Use: sc.strategyUse(label)}
		for r := range runs {
			sr.Runs = append(sr.Runs, res.Jobs[r*len(sc.Strategies)+s].Metrics)
		}
		sr.Aggregate = AggregateRuns(sr.Runs)
		res.Strategies = append(res.Strategies, sr)
	}
	return res, nil
}

// builder returns the StrategyBuilder for a scenario's strategy label.
func builder(sc *Scenario, label string) StrategyBuilder {
	spec := sc.Strategy[label]
	blockMs := uint64(sc.Engine.BlockTime.D() / time.Millisecond)
	if blockMs == 0 {
		blockMs = 600_000
	}
	return func(o routing.LiquidityOracle) (routing.Strategy, error) {
		cfg, err := spec.config(o, blockMs)
		if err != nil {
			return nil, err
		}
		return routing.NewStrategy(sc.strategyUse(label), cfg)
	}
}

// LoadTopologyFile loads a topology file directly (for `sim topo`):
// source is cloth (directory of the CSV triple), spider, lnd or cln.
func LoadTopologyFile(source, path string) (*Topology, error) {
	sc := &Scenario{File: "(command line)", Topology: TopologySpec{Source: source, Path: path}}
	switch source {
	case "cloth", "spider", "lnd", "cln":
	default:
		return nil, fmt.Errorf("topology source %q: want cloth, spider, lnd or cln", source)
	}
	t, _, err := LoadTopology(sc, 0)
	return t, err
}
