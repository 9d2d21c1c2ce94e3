package sim

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const minimal = `
strategies = ["shortest"]
[topology]
source = "generate"
[topology.generate]
model = "er"
nodes = 30
avg_degree = 4
capacity = { kind = "constant", value = 1_000_000 }
[workload]
payments = 10
rate = 1
amount = { kind = "constant", value = 1000 }
`

func TestParseScenarioErrors(t *testing.T) {
	tests := []struct {
		name, src string
		ov        []Override
		want      string
	}{
		{"ok", minimal, nil, ""},
		{"syntax", minimal + "\n[[[", nil, "s.toml: line 15"},
		{"unknown key", minimal + "\nbogus = 1\n", nil, "s.toml: unknown field workload.bogus"},
		{"unknown nested", strings.Replace(minimal, "rate = 1", "rate = 1\nratee = 2", 1), nil, "unknown field workload.ratee"},
		{"bad rate", minimal, []Override{{"workload.rate", "0"}}, "workload.rate: must be in (0, 1e7]"},
		{"zero nodes", minimal, []Override{{"topology.generate.nodes", "0"}}, "topology.generate: invalid generator config: nodes: must be in [2"},
		{"unknown strategy", minimal, []Override{{"strategies", `["warp"]`}}, `strategies[0]: unknown strategy "warp"`},
		{"bad duration", minimal, []Override{{"engine.hop_latency", `"fast"`}}, `duration "fast"`},
		{"negative duration", minimal, []Override{{"engine.hop_latency", `"-1s"`}}, "engine.hop_latency"},
		{"bad amount kind", minimal, []Override{{"workload.amount.kind", "gamma"}}, `workload.amount: invalid distribution: unknown kind "gamma"`},
		{"file balances", minimal, []Override{{"balances.init", "file"}}, `balances.init: "file" needs a source with balances`},
		{"runs", minimal, []Override{{"runs", "-1"}}, "runs: -1 not in"},
		{"type", minimal, []Override{{"workload.payments", `"many"`}}, "payments"},
		{"stray strategy table", minimal, []Override{{"strategy.mpp.fee_weight", "3"}}, "strategy.mpp: label not listed"},
		{"unknown model", minimal, []Override{{"strategy.shortest.model", "magic"}}, `model: unknown "magic"`},
		{"bad source", minimal, []Override{{"topology.source", "csv"}}, `topology.source: unknown "csv"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScenario("s.toml", []byte(tc.src), tc.ov...)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrScenario) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestImpossibleAmount: a payment larger than the whole network's capacity
// is rejected before simulating.
func TestImpossibleAmount(t *testing.T) {
	sc, err := ParseScenario("s.toml", []byte(minimal), Override{"workload.amount.value", "1e15"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), sc, Options{Workers: 1})
	if err == nil || !strings.Contains(err.Error(), "exceeds the network's total capacity") {
		t.Fatalf("got %v", err)
	}
}

func TestWorkloadShapes(t *testing.T) {
	sc, err := ParseScenario("s.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	topo, _, err := LoadTopology(sc, 1)
	if err != nil {
		t.Fatal(err)
	}
	gen := func(spec WorkloadSpec) []Payment {
		t.Helper()
		w, err := NewWorkload(spec)
		if err != nil {
			t.Fatal(err)
		}
		p, err := w.Payments(WorkloadEnv{Topology: topo, Rand: seedStream(3, "w")})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	amt := AmountSpec{Dist: Constant(1000)}
	// Circulation: every node sends exactly as often as it receives in the
	// demand matrix, so over many payments net flow per node is small
	// relative to the traffic.
	circ := gen(WorkloadSpec{Payments: 20000, Rate: 10, Amount: amt, Demand: "circulation", Cycles: 20, CycleLen: 5})
	net := map[int32]int{}
	for _, p := range circ {
		net[p.Sender]++
		net[p.Receiver]--
	}
	for n, v := range net {
		if v > 600 || v < -600 {
			t.Errorf("circulation: node %d net %d of 20000", n, v)
		}
	}
	// DAG: no pair appears in both directions.
	dag := gen(WorkloadSpec{Payments: 2000, Rate: 10, Amount: amt, Demand: "dag"})
	seen := map[[2]int32]bool{}
	for _, p := range dag {
		seen[[2]int32{p.Sender, p.Receiver}] = true
	}
	for k := range seen {
		if seen[[2]int32{k[1], k[0]}] {
			t.Fatalf("dag demand has both %v and its reverse", k)
		}
	}
	// Zipf receivers: the top receiver gets far more than uniform share.
	z := gen(WorkloadSpec{Payments: 3000, Rate: 10, Amount: amt, Receivers: "zipf", ZipfS: 1.2})
	cnt := map[int32]int{}
	top := 0
	for _, p := range z {
		cnt[p.Receiver]++
		top = max(top, cnt[p.Receiver])
	}
	if top < 3000/30*5 {
		t.Errorf("zipf: top receiver got %d of 3000", top)
	}
	// Poisson: mean inter-arrival ≈ 1/rate; streams add flows.
	ps := gen(WorkloadSpec{Payments: 4000, Rate: 4, Amount: AmountSpec{Dist: Dist{Kind: "lognormal", Mean: 5000, Sigma: 1}},
		Streams: []StreamSpec{{Count: 2, Rate: 10, AmountMsat: 1, Duration: Duration(10e9)}}})
	flows := 0
	var last Time
	for _, p := range ps {
		if p.Time < last {
			t.Fatal("payments not sorted by time")
		}
		last = p.Time
		if p.Flow >= 0 {
			flows++
		}
	}
	if flows != 200 {
		t.Errorf("streams produced %d payments, want 200", flows)
	}
	if mean := float64(ps[len(ps)-1].Time) / 4000 / float64(Second); mean < 0.23 || mean > 0.27 {
		t.Errorf("mean inter-arrival %.3fs, want ≈0.25", mean)
	}
}

func FuzzParseScenario(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("strategies=[\"x\"]\n[topology]\nsource=\"spider\"\n"))
	f.Add([]byte("[workload]\nstreams = [{count = 1, rate = 1e9}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := ParseScenario("f.toml", data)
		if err != nil {
			if !errors.Is(err, ErrScenario) {
				t.Fatalf("error does not wrap ErrScenario: %v", err)
			}
			return
		}
		if len(sc.Strategies) == 0 || sc.Runs < 1 {
			t.Fatalf("accepted scenario without strategies or runs: %+v", sc)
		}
	})
}

// TestExampleScenarios parses every shipped scenario and simulates a few
// payments of each whose data is present.
func TestExampleScenarios(t *testing.T) {
	files, err := filepath.Glob("scenarios/*.toml")
	if err != nil || len(files) < 4 {
		t.Fatalf("scenarios: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sc, err := LoadScenario(f, Override{"workload.payments", "5"}, Override{"runs", "1"}, Override{"output.plots", "false"}, Override{"workload.streams", "[]"})
			if err != nil {
				t.Fatal(err)
			}
			if sc.Topology.Generate.Nodes > 20_000 {
				t.Skip("large generated topology: run it with `paymesh sim run`")
			}
			if sc.Topology.Source != "generate" {
				if _, err := os.Stat(resolvePath(sc.Dir, sc.Topology.Path)); err != nil {
					t.Skipf("data absent: %v", err)
				}
			}
			if _, err := Run(context.Background(), sc, Options{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
