package simcli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	c := Command()
	var out, errb bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&errb)
	c.SetArgs(args)
	err := c.Execute()
	return out.String(), errb.String(), err
}

func TestRunWritesOutputs(t *testing.T) {
	dir := t.TempDir()
	out, stderr, err := run(t, "run", "../testdata/small.toml", "--out", dir, "--payments", "60", "--runs", "1",
		"--strategies", "shortest,lnd-v0.10", "--set", "output.plots=false")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(out, "lnd-v0.10") || !strings.Contains(stderr, "ETA") {
		t.Fatalf("stdout %q stderr %q", out, stderr)
	}
	for _, f := range []string{"summary.json", "payments.csv", "timeseries.csv", "report.md"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "payments.csv"))
	if n := strings.Count(string(b), "\n"); n != 1+2*60 {
		t.Errorf("payments.csv has %d lines, want %d", n, 1+2*60)
	}
}

func TestSweepAndTopo(t *testing.T) {
	dir := t.TempDir()
	_, stderr, err := run(t, "sweep", "../testdata/small.toml", "--out", dir, "-q", "--payments", "40", "--runs", "1",
		"--strategies", "shortest", "--set", "output.plots=false", "--grid", "balances.scale=1,0.5")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "sweep.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[2], "1,0.5,shortest,") {
		t.Fatalf("sweep.csv:\n%s", b)
	}
	out, _, err := run(t, "topo", "../testdata/small.toml")
	if err != nil || !strings.Contains(out, "nodes               150") {
		t.Fatalf("topo: %v\n%s", err, out)
	}
	if _, _, err := run(t, "run", "../testdata/small.toml", "--set", "workload.rate=-1", "--out", dir); err == nil || !strings.Contains(err.Error(), "workload.rate") {
		t.Fatalf("bad override accepted or error unclear: %v", err)
	}
}
