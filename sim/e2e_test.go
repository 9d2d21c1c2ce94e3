package sim

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// dataDir is ../shared/data beside the module root.
func dataDir(t testing.TB, sub string) string {
	t.Helper()
	d := filepath.Join("..", "..", "shared", "data", sub)
	if _, err := os.Stat(d); err != nil {
		t.Skipf("reference data %s absent (see shared/data/README.md): %v", d, err)
	}
	return d
}

func TestCLoTHDefaultSmoke(t *testing.T) {
	dataDir(t, "cloth")
	n := os.Getenv("SIM_N") // the full experiment is BenchmarkCLoTHDefault
	if n == "" {
		n = "300"
	}
	sc, err := LoadScenario("testdata/cloth-default.toml", Override{"workload.payments", n})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), sc, Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Strategies[0].Aggregate
	t.Logf("%+v", res.Jobs[0].Metrics)
	if m.SuccessRatio.Mean < 0.5 {
		t.Errorf("success ratio %v implausibly low", m.SuccessRatio.Mean)
	}
}
