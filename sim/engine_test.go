package sim

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/paymesh/paymesh/routing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestConservation checks balance[0]+balance[1]+locked = capacity on
// every channel after every event, for every strategy, with offline nodes
// and hold times in play.
// smallRun loads testdata/small.toml with overrides and prepares what an
// engine needs: the topology with uniform random balances, its routing
// graph and the workload's payments (seed 1).
func smallRun(t *testing.T, overrides ...Override) (*Scenario, *Topology, *routing.Snapshot, []Payment) {
	t.Helper()
	sc, err := LoadScenario("testdata/small.toml", overrides...)
	if err != nil {
		t.Fatal(err)
	}
	base, _, err := LoadTopology(sc, sc.Seed)
	if err != nil {
		t.Fatal(err)
	}
	NormalizeOrder(base)
	if err := InitBalances(base, BalanceUniform, seedStream(1, "b")); err != nil {
		t.Fatal(err)
	}
	g, err := BuildGraph(base, sc.Engine.BlockTime.D())
	if err != nil {
		t.Fatal(err)
	}
	wl, err := NewWorkload(sc.Workload)
	if err != nil {
		t.Fatal(err)
	}
	pays, err := wl.Payments(WorkloadEnv{Topology: base, Rand: seedStream(1, "w")})
	if err != nil {
		t.Fatal(err)
	}
	return sc, base, g, pays
}

func TestConservation(t *testing.T) {
	sc, base, g, pays := smallRun(t, Override{"runs", "1"})
	for _, label := range sc.Strategies {
		t.Run(label, func(t *testing.T) {
			events := 0
			e, err := NewEngine(sc.Engine, base, g, builder(sc, label), pays, seedStream(1, label))
			if err != nil {
				t.Fatal(err)
			}
			e.AfterEvent = func(e *Engine) error {
				events++
				return e.CheckConservation()
			}
			res, _, err := e.Run()
			if err != nil {
				t.Fatal(err)
			}
			ok := 0
			for _, r := range res {
				if r.Success {
					ok++
				}
				if !r.Success && r.Cause == "" {
					t.Fatalf("payment failed without a cause: %+v", r)
				}
			}
			if ok == 0 || events < len(pays) {
				t.Fatalf("%d successes, %d events: the test exercised nothing", ok, events)
			}
			if e.inflight != 0 {
				t.Fatalf("%d msat still in flight after the run", e.inflight)
			}
			var locked uint64
			for _, c := range e.ch {
				locked += c.locked[0] + c.locked[1]
			}
			if locked != 0 {
				t.Fatalf("%d msat still locked after the run", locked)
			}
		})
	}
}

// TestSettledFundsMove checks that a successful payment moves exactly
// amount+fees out of the sender and amount into the receiver.
func TestSettledFundsMove(t *testing.T) {
	topo := &Topology{Name: "line", Nodes: []string{"a", "b", "c"}, Channels: []Channel{
		{ID: "ab", Node: [2]int32{0, 1}, CapacityMsat: 1_000_000, Policy: [2]Policy{{FeeBaseMsat: 10, FeePPM: 1000}, {}}},
		{ID: "bc", Node: [2]int32{1, 2}, CapacityMsat: 1_000_000, Policy: [2]Policy{{FeeBaseMsat: 10, FeePPM: 1000}, {}}},
	}}
	if err := InitBalances(topo, BalanceFunder, nil); err != nil {
		t.Fatal(err)
	}
	NormalizeOrder(topo)
	g, err := BuildGraph(topo, 600_000_000_000)
	if err != nil {
		t.Fatal(err)
	}
	sc := &Scenario{}
	pays := []Payment{{Time: 0, Sender: 0, Receiver: 2, Amount: 100_000, Flow: -1}, {Time: Second, Sender: 0, Receiver: 2, Amount: 950_000, Flow: -1}}
	e, err := NewEngine(EngineConfig{}, topo, g, builder(sc, "cheapest"), pays, seedStream(1))
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := e.Run()
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Success || res[0].FeeMsat != 10+100 || res[0].Hops != 2 {
		t.Fatalf("first payment: %+v", res[0])
	}
	// b forwards 100,000 to c and keeps 110 from a.
	if got := e.ch[0].bal; got != [2]uint64{1_000_000 - 100_110, 100_110} {
		t.Fatalf("channel ab balances %v", got)
	}
	if got := e.ch[1].bal; got != [2]uint64{1_000_000 - 100_000, 100_000} {
		t.Fatalf("channel bc balances %v", got)
	}
	if res[1].Success || res[1].Cause != CauseNoPath {
		t.Fatalf("second payment should find no path (a lacks funds): %+v", res[1])
	}
}

// TestDeterminism runs the same scenario with one and with three workers
// and requires byte-identical output files.
func TestDeterminism(t *testing.T) {
	var dirs []string
	for _, workers := range []int{1, 3} {
		sc, err := LoadScenario("testdata/small.toml", Override{"workload.payments", "150"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), sc, Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := WriteOutputs(dir, res); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	files, err := os.ReadDir(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("only %d output files", len(files))
	}
	for _, f := range files {
		a, err := os.ReadFile(filepath.Join(dirs[0], f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dirs[1], f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between 1 and 3 workers", f.Name())
		}
	}
	// A different seed must change the results.
	sc, err := LoadScenario("testdata/small.toml", Override{"workload.payments", "150"}, Override{"seed", "8"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), sc, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteOutputs(dir, res); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(dirs[0], "payments.csv"))
	b, _ := os.ReadFile(filepath.Join(dir, "payments.csv"))
	if bytes.Equal(a, b) {
		t.Error("seed 8 gave the same payments as seed 7")
	}
}

// TestMultiPartSplit: a payment larger than any single path settles in
// several parts with mpp, and fails with a single-path strategy.
func TestMultiPartSplit(t *testing.T) {
	mk := func() *Topology {
		topo := &Topology{Name: "diamond", Nodes: []string{"a", "b", "c", "d"}}
		for i, p := range [][2]int32{{0, 1}, {1, 3}, {0, 2}, {2, 3}} {
			topo.Channels = append(topo.Channels, Channel{ID: string(rune('0' + i)), Node: p, CapacityMsat: 1_000_000})
		}
		if err := InitBalances(topo, BalanceFunder, nil); err != nil {
			t.Fatal(err)
		}
		NormalizeOrder(topo)
		return topo
	}
	pays := []Payment{{Sender: 0, Receiver: 3, Amount: 1_500_000, Flow: -1}}
	for _, tc := range []struct {
		strategy string
		ok       bool
	}{{"mpp", true}, {"probabilistic", false}} {
		topo := mk()
		g, err := BuildGraph(topo, 600_000_000_000)
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewEngine(EngineConfig{}, topo, g, builder(&Scenario{}, tc.strategy), pays, seedStream(1))
		if err != nil {
			t.Fatal(err)
		}
		e.AfterEvent = func(e *Engine) error { return e.CheckConservation() }
		res, _, err := e.Run()
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Success != tc.ok {
			t.Fatalf("%s: %+v", tc.strategy, res[0])
		}
		if tc.ok {
			var atD uint64
			for _, c := range []int{1, 3} { // channels into d
				ch := topo.Channels[c]
				d := 0
				if topo.Nodes[ch.Node[1]] == "d" {
					d = 1
				}
				atD += e.ch[c].bal[d]
			}
			if atD != 1_500_000 || res[0].Parts < 2 {
				t.Fatalf("d received %d in %d parts", atD, res[0].Parts)
			}
		}
	}
}

// TestPrecomputeWorkers: precomputed first routes do not depend on the
// number of goroutines computing them.
func TestPrecomputeWorkers(t *testing.T) {
	var outs [][]byte
	for _, w := range []int{1, 4} {
		sc, err := LoadScenario("testdata/small.toml", Override{"runs", "1"}, Override{"engine.precompute_first", "true"},
			Override{"strategies", `["lnd-v0.10", "mpp"]`}, Override{"output.plots", "false"})
		if err != nil {
			t.Fatal(err)
		}
		// One job per strategy; give each engine w precompute workers.
		res, err := Run(context.Background(), sc, Options{Workers: 2 * w})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := WriteOutputs(dir, res); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "payments.csv"))
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatal("payments.csv differs between 1 and 4 precompute workers")
	}
}
