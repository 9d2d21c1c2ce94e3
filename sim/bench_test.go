package sim

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/paymesh/paymesh/routing"
)

// BenchmarkCLoTHDefault is CLoTH's default experiment on its own data
// (6,006 nodes, 5,000 payments, Poisson 1/s, exponential amounts of mean
// 100 sat, uniform endpoints) in lnd-v0.10 mode; one op is one whole run.
func BenchmarkCLoTHDefault(b *testing.B) {
	dataDir(b, "cloth")
	benchScenario(b, "testdata/cloth-default.toml")
}

// BenchmarkProbabilisticCLN2021 simulates 5,000 payments with the
// probabilistic strategy on the 2021 Lightning graph.
func BenchmarkProbabilisticCLN2021(b *testing.B) {
	dataDir(b, "ln-cln-2021-04-16")
	benchScenario(b, "testdata/cln2021-probabilistic.toml")
}

func benchScenario(b *testing.B, path string) {
	var ov []Override
	if n := os.Getenv("SIM_BENCH_PAYMENTS"); n != "" {
		ov = append(ov, Override{"workload.payments", n})
	}
	if os.Getenv("SIM_BENCH_PRECOMPUTE") != "" {
		ov = append(ov, Override{"engine.precompute_first", os.Getenv("SIM_BENCH_PRECOMPUTE")})
	}
	sc, err := LoadScenario(path, ov...)
	if err != nil {
		b.Fatal(err)
	}
	var pays int
	var ratio float64
	start, startCPU := time.Now(), processCPU()
	for b.Loop() {
		res, err := Run(context.Background(), sc, Options{})
		if err != nil {
			b.Fatal(err)
		}
		pays += res.Jobs[0].Metrics.Payments
		ratio = res.Strategies[0].Aggregate.SuccessRatio.Mean
	}
	b.ReportMetric(float64(pays)/time.Since(start).Seconds(), "payments/s")
	if cpu := processCPU() - startCPU; cpu > 0 {
		b.ReportMetric(float64(pays)/cpu.Seconds(), "payments/cpu-s")
	}
	b.ReportMetric(100*ratio, "success%")
}

// BenchmarkProbabilisticCLN2021Engine is BenchmarkProbabilisticCLN2021
// without loading: the topology, balances and payments are prepared once,
// and one op is one engine run (the simulation proper). SIM_BENCH_WORKERS
// sets Engine.Workers (default GOMAXPROCS; 1 turns speculative routing
// off).
func BenchmarkProbabilisticCLN2021Engine(b *testing.B) {
	dataDir(b, "ln-cln-2021-04-16")
	var ov []Override
	if n := os.Getenv("SIM_BENCH_PAYMENTS"); n != "" {
		ov = append(ov, Override{"workload.payments", n})
	}
	sc, err := LoadScenario("testdata/cln2021-probabilistic.toml", ov...)
	if err != nil {
		b.Fatal(err)
	}
	topo, _, err := LoadTopology(sc, sc.Seed)
	if err != nil {
		b.Fatal(err)
	}
	NormalizeOrder(topo)
	g, err := BuildGraph(topo, sc.Engine.BlockTime.D())
	if err != nil {
		b.Fatal(err)
	}
	if err := InitBalances(topo, sc.Balances.Init, seedStream(sc.Seed, "balances")); err != nil {
		b.Fatal(err)
	}
	wl, err := NewWorkload(sc.Workload)
	if err != nil {
		b.Fatal(err)
	}
	pays, err := wl.Payments(WorkloadEnv{Topology: topo, Rand: seedStream(sc.Seed, "workload"), Dir: sc.Dir})
	if err != nil {
		b.Fatal(err)
	}
	workers := runtime.GOMAXPROCS(0)
	if w, err := strconv.Atoi(os.Getenv("SIM_BENCH_WORKERS")); err == nil {
		workers = w
	}
	var n, ok int
	start, startCPU := time.Now(), processCPU()
	for b.Loop() {
		e, err := NewEngine(sc.Engine, topo, g, builder(sc, "probabilistic"), pays, seedStream(sc.Seed, "engine", "probabilistic"))
		if err != nil {
			b.Fatal(err)
		}
		e.Workers = workers
		res, _, err := e.Run()
		if err != nil {
			b.Fatal(err)
		}
		n += len(res)
		for _, r := range res {
			if r.Success {
				ok++
			}
		}
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "payments/s")
	if cpu := processCPU() - startCPU; cpu > 0 {
		b.ReportMetric(float64(n)/cpu.Seconds(), "payments/cpu-s")
	}
	b.ReportMetric(100*float64(ok)/float64(n), "success%")
}

// BenchmarkMemoryPerEdge measures the heap held per directed edge by
// everything a simulation keeps: the sim topology, the routing graph, the
// engine's channel state and the graph's search index (built by a
// snapshot's second search, so a few searches run before measuring), on a
// scale-free graph (default 20,000 nodes, 10 channels per new node;
// SIM_BENCH_NODES and SIM_BENCH_M scale it, e.g. 100000 and 10 for
// 1,000,000 channels). It also reports the index's share (index-bytes/edge)
// and the scratch space one search keeps between searches
// (scratch-bytes/edge: one pathfinder, held by routing's sync.Pool, one per
// concurrent search; measured as what the pool's second GC frees, so it
// reads 0 if the pool ever stops keeping a victim generation).
func BenchmarkMemoryPerEdge(b *testing.B) {
	n, m := 20_000, 10
	if v, err := strconv.Atoi(os.Getenv("SIM_BENCH_NODES")); err == nil {
		n = v
	}
	if v, err := strconv.Atoi(os.Getenv("SIM_BENCH_M")); err == nil {
		m = v
	}
	for b.Loop() {
		var before, noIndex, withScratch, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		topo, err := Generate(GeneratorConfig{Model: "ba", Nodes: n, M: m, Capacity: Dist{Kind: "lognormal", Mean: 5e8, Sigma: 1}}, seedStream(1, "mem"))
		if err != nil {
			b.Fatal(err)
		}
		if err := InitBalances(topo, BalanceUniform, seedStream(1, "b")); err != nil {
			b.Fatal(err)
		}
		NormalizeOrder(topo)
		g, err := BuildGraph(topo, 10*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		e, err := NewEngine(EngineConfig{}, topo, g, builder(&Scenario{}, "probabilistic"), nil, seedStream(1))
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&noIndex)
		searchAFew(b, e, topo)
		runtime.GC() // the routing pool's scratch survives one GC (victim) ...
		runtime.ReadMemStats(&withScratch)
		runtime.GC() // ... and is freed by the second
		runtime.ReadMemStats(&after)
		edges := float64(2 * len(topo.Channels))
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/edges, "bytes/edge")
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(noIndex.HeapAlloc))/edges, "index-bytes/edge")
		b.ReportMetric(float64(int64(withScratch.HeapAlloc)-int64(after.HeapAlloc))/edges, "scratch-bytes/edge")
		b.ReportMetric(edges, "edges")
		runtime.KeepAlive(g)
		runtime.KeepAlive(e)
	}
}

// searchAFew runs a few of e's searches between nodes of t, enough for the
// graph's search index to be built; a search needs only to run, not to
// find a route.
func searchAFew(b *testing.B, e *Engine, t *Topology) {
	b.Helper()
	n := len(t.Nodes)
	for i := range 3 {
		req := routing.Request{Source: routing.NodeID(t.Nodes[i]), Target: routing.NodeID(t.Nodes[n-1-i]), Amount: 10_000_000}
		if _, err := e.strategy.FindRoutes(routing.Input{Graph: e.graph, Request: req}); err != nil && !errors.Is(err, routing.ErrNoRoute) {
			b.Fatal(err)
		}
	}
}
