package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rssMB reads a process's resident set size from /proc.
func rssMB(b *testing.B, pid int) float64 {
	b.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	b.Fatal("VmRSS not found")
	return 0
}

// settledRSS waits until a process's RSS has stopped growing — two readings
// half a second apart within 0.5 MB, so background start-up work is done —
// and returns it (after 10 s it returns the last reading).
func settledRSS(b *testing.B, pid int) float64 {
	b.Helper()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	prev := rssMB(b, pid)
	for {
		select {
		case <-tick.C:
		case <-deadline:
			return prev
		}
		cur := rssMB(b, pid)
		if cur-prev < 0.5 && prev-cur < 0.5 {
			return cur
		}
		prev = cur
	}
}

// BenchmarkDaemonColdStart measures the wall time from exec of `paymesh
// daemon` (on-disk Badger, TCP+QUIC) until it is listening and its API is
// ready, and the RSS of the idle daemon once it has settled.
func BenchmarkDaemonColdStart(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "paymesh")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	var startTotal time.Duration
	var rss float64
	for i := 0; b.Loop(); i++ {
		dir := filepath.Join(b.TempDir(), "n")
		if out, err := exec.Command(bin, "init", "--datadir", dir).CombinedOutput(); err != nil {
			b.Fatalf("init: %v %s", err, out)
		}
		cmd := exec.Command(bin, "daemon", "--datadir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1", "--api", "127.0.0.1:0", "--log-level", "warn")
		stderr, _ := cmd.StderrPipe()
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stderr)
		ready := false
		for sc.Scan() {
			if strings.Contains(sc.Text(), "running: peer") {
				ready = true
				break
			}
		}
		startTotal += time.Since(t0)
		if !ready {
			b.Fatal("daemon never became ready")
		}
		b.StopTimer()
		rss += settledRSS(b, cmd.Process.Pid)
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		b.StartTimer()
	}
	b.ReportMetric(float64(startTotal.Milliseconds())/float64(b.N), "ms/start")
	b.ReportMetric(rss/float64(b.N), "MB-RSS-idle")
}

// BenchmarkDevnet20RSS measures the RSS of `paymesh devnet --nodes 20
// --no-pay` once all nodes are up, connected, their ring of channels open
// and the graph gossiped to every node.
func BenchmarkDevnet20RSS(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "paymesh")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	var rss float64
	var upTotal time.Duration
	for b.Loop() {
		cmd := exec.Command(bin, "devnet", "--nodes", "20", "--no-pay")
		stdout, _ := cmd.StdoutPipe()
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ctrl-C to stop") {
				break
			}
		}
		upTotal += time.Since(t0)
		b.StopTimer()
		rss += settledRSS(b, cmd.Process.Pid)
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		b.StartTimer()
	}
	b.ReportMetric(rss/float64(b.N), "MB-RSS")
	b.ReportMetric(float64(upTotal.Milliseconds())/float64(b.N), "ms/up")
}
