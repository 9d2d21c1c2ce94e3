package sim

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerators(t *testing.T) {
	capDist := Dist{Kind: "uniform", Min: 1000, Max: 5000}
	tests := []struct {
		cfg      GeneratorConfig
		nodes    int
		channels int // exact, or -1 to skip
	}{
		{GeneratorConfig{Model: "ba", Nodes: 500, M: 3}, 500, 6 + 3*(500-4)},
		{GeneratorConfig{Model: "ws", Nodes: 300, K: 4, Beta: 0.3}, 300, 600},
		{GeneratorConfig{Model: "grid", Rows: 7, Cols: 9}, 63, 7*8 + 6*9},
		{GeneratorConfig{Model: "er", Nodes: 2000, AvgDegree: 6}, 2000, -1},
	}
	for _, tc := range tests {
		t.Run(tc.cfg.Model, func(t *testing.T) {
			tc.cfg.Capacity = capDist
			topo, err := Generate(tc.cfg, seedStream(1, "gen"))
			if err != nil {
				t.Fatal(err)
			}
			if err := topo.Validate(); err != nil {
				t.Fatal(err)
			}
			st := Inspect(topo)
			if st.Nodes != tc.nodes || tc.channels >= 0 && st.Channels != tc.channels {
				t.Fatalf("%d nodes %d channels, want %d %d", st.Nodes, st.Channels, tc.nodes, tc.channels)
			}
			if tc.cfg.Model == "er" {
				if d := st.DegreeMean; math.Abs(d-6) > 0.5 {
					t.Fatalf("mean degree %.2f, want ≈6", d)
				}
			}
			seen := map[[2]int32]bool{}
			for _, c := range topo.Channels {
				k := [2]int32{min(c.Node[0], c.Node[1]), max(c.Node[0], c.Node[1])}
				if seen[k] {
					t.Fatalf("duplicate pair %v", k)
				}
				seen[k] = true
				if c.CapacityMsat < 1000 || c.CapacityMsat > 5000 || c.Policy[0].FeeBaseMsat != 1000 || c.Policy[1].CLTVDelta != 40 {
					t.Fatalf("channel %+v", c)
				}
			}
			again, _ := Generate(tc.cfg, seedStream(1, "gen"))
			if len(again.Channels) != len(topo.Channels) || again.Channels[len(again.Channels)-1] != topo.Channels[len(topo.Channels)-1] {
				t.Fatal("same seed gave a different topology")
			}
		})
	}
	// Barabási–Albert is scale-free: hubs far above the mean degree.
	ba, _ := Generate(GeneratorConfig{Model: "ba", Nodes: 5000, M: 2, Capacity: capDist}, seedStream(2))
	if st := Inspect(ba); float64(st.DegreeMax) < 10*st.DegreeMean {
		t.Fatalf("BA max degree %d vs mean %.1f: not scale-free", st.DegreeMax, st.DegreeMean)
	}
}

func TestGeneratorErrors(t *testing.T) {
	c := Constant(1000)
	for _, tc := range []struct {
		cfg  GeneratorConfig
		want string
	}{
		{GeneratorConfig{Model: "ba", Nodes: 0, M: 1, Capacity: c}, "nodes: must be in [2"},
		{GeneratorConfig{Model: "ba", Nodes: 10, M: 10, Capacity: c}, "m: must be in [1, nodes-1]"},
		{GeneratorConfig{Model: "ws", Nodes: 10, K: 3, Capacity: c}, "k: must be even"},
		{GeneratorConfig{Model: "er", Nodes: 10, P: 2, Capacity: c}, "p: must be in (0, 1]"},
		{GeneratorConfig{Model: "er", Nodes: 1_000_000, P: 0.5, Capacity: c}, "exceeds 50 million"},
		{GeneratorConfig{Model: "grid", Rows: 1, Cols: 1, Capacity: c}, "rows*cols"},
		{GeneratorConfig{Model: "hex", Nodes: 10, Capacity: c}, `unknown "hex"`},
		{GeneratorConfig{Model: "ba", Nodes: 10, M: 2}, "capacity: missing"},
		{GeneratorConfig{Model: "ba", Nodes: 10, M: 2, Capacity: Dist{Kind: "pareto", Xm: 1}}, "xm and alpha"},
	} {
		_, err := Generate(tc.cfg, seedStream(1))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestDistSample(t *testing.T) {
	r := seedStream(9, "dist")
	for _, tc := range []struct {
		d    Dist
		mean float64
	}{
		{Constant(500), 500},
		{Dist{Kind: "uniform", Min: 100, Max: 300}, 200},
		{Dist{Kind: "exponential", Mean: 1000}, 1000},
		{Dist{Kind: "lognormal", Mean: 1000, Sigma: 0.5}, 1000},
		{Dist{Kind: "pareto", Xm: 100, Alpha: 3}, 150},
	} {
		if err := tc.d.Validate(); err != nil {
			t.Fatal(err)
		}
		var s float64
		const n = 200_000
		for range n {
			s += float64(tc.d.Sample(r))
		}
		if got := s / n; math.Abs(got-tc.mean) > 0.03*tc.mean {
			t.Errorf("%s: sample mean %.1f, want ≈%.1f", tc.d.Kind, got, tc.mean)
		}
		if m := tc.d.MeanValue(); math.Abs(m-tc.mean) > 1e-9*tc.mean {
			t.Errorf("%s: MeanValue %g, want %g", tc.d.Kind, m, tc.mean)
		}
	}
	if err := (Dist{Kind: "lognormal", Mu: 1, Mean: 2, Sigma: 1}).Validate(); err == nil {
		t.Error("lognormal with both mu and mean accepted")
	}
	if err := (Dist{Kind: "uniform", Min: 5, Max: math.NaN()}).Validate(); err == nil {
		t.Error("NaN accepted")
	}
}

func TestTraceWorkload(t *testing.T) {
	topo := &Topology{Name: "t", Nodes: []string{"a", "b", "c"}, Channels: []Channel{
		{ID: "1", Node: [2]int32{0, 1}, CapacityMsat: 1000}, {ID: "2", Node: [2]int32{1, 2}, CapacityMsat: 1000}}}
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ok.csv", "time_ms,sender,receiver,amount_msat\n0,a,c,10\n1.5,c,a,20\n")
	write("back.csv", "time_ms,sender,receiver,amount_msat\n5,a,c,10\n1,c,a,20\n")
	write("who.csv", "time_ms,sender,receiver,amount_msat\n5,a,z,10\n")
	write("amounts.csv", "id,amount_msat\n1,5\n2,7\n")
	env := WorkloadEnv{Topology: topo, Rand: seedStream(1), Dir: dir}
	w, err := NewWorkload(WorkloadSpec{Kind: "trace", Path: "ok.csv"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.Payments(env)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 2 || p[1].Time != 1500*Microsecond || p[1].Sender != 2 || p[1].Amount != 20 {
		t.Fatalf("%+v", p)
	}
	for file, want := range map[string]string{"back.csv": "back.csv:3: time_ms: times must not decrease", "who.csv": `who.csv:2: receiver: unknown node "z"`} {
		w, _ := NewWorkload(WorkloadSpec{Kind: "trace", Path: file})
		if _, err := w.Payments(env); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", file, err, want)
		}
	}
	w, err = NewWorkload(WorkloadSpec{Payments: 5, Rate: 1, Amount: AmountSpec{Dist: Dist{Kind: "trace"}, Path: "amounts.csv"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err = w.Payments(env)
	if err != nil {
		t.Fatal(err)
	}
	if got := [3]uint64{p[0].Amount, p[1].Amount, p[2].Amount}; got != [3]uint64{5, 7, 5} {
		t.Fatalf("amount trace replay %v", got)
	}
}

// TestHoldBeyondTimeout: a receiver holding HTLCs past their expiry makes
// the payment fail with "timeout", and funds return.
func TestHoldBeyondExpiry(t *testing.T) {
	topo := &Topology{Name: "line", Nodes: []string{"a", "b", "c"}, Channels: []Channel{
		{ID: "ab", Node: [2]int32{0, 1}, CapacityMsat: 1_000_000, Policy: [2]Policy{{CLTVDelta: 1}, {CLTVDelta: 1}}},
		{ID: "bc", Node: [2]int32{1, 2}, CapacityMsat: 1_000_000, Policy: [2]Policy{{CLTVDelta: 1}, {CLTVDelta: 1}}},
	}}
	if err := InitBalances(topo, BalanceEven, nil); err != nil {
		t.Fatal(err)
	}
	NormalizeOrder(topo)
	cfg := EngineConfig{BlockTime: Duration(1e9), FinalCLTVDelta: 1, MaxCLTV: 10, HopLatency: Duration(6e8)} // 1 s blocks, 0.6 s hops
	g, err := BuildGraph(topo, cfg.BlockTime.D())
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(cfg, topo, g, builder(&Scenario{}, "shortest"), []Payment{{Sender: 0, Receiver: 2, Amount: 1000, Flow: -1}}, seedStream(1))
	if err != nil {
		t.Fatal(err)
	}
	e.AfterEvent = func(e *Engine) error { return e.CheckConservation() }
	res, _, err := e.Run()
	if err != nil {
		t.Fatal(err)
	}
	// Two hops of 0.6 s reach c at 1.2 s, after the final HTLC's 1 s expiry.
	if res[0].Success || res[0].Cause != CauseTimeout {
		t.Fatalf("%+v", res[0])
	}
	if e.ch[0].bal != [2]uint64{500_000, 500_000} || e.ch[1].bal != [2]uint64{500_000, 500_000} {
		t.Fatalf("funds did not return: %v %v", e.ch[0].bal, e.ch[1].bal)
	}
}
