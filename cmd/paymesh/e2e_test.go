package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles the paymesh binary once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "paymesh")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// run executes a client command and returns its stdout, failing the test on
// a non-zero exit.
func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("paymesh %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

type daemon struct {
	cmd    *exec.Cmd
	peerID string
	api    string
	done   chan error
	stderr *strings.Builder
}

var runningLine = regexp.MustCompile(`running: peer (\S+), api (\S+)`)

// startDaemon runs `paymesh daemon` as a separate process and waits for the
// line announcing it is ready.
func startDaemon(t *testing.T, bin, dir string, extra ...string) *daemon {
	t.Helper()
	args := append([]string{"daemon", "--datadir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(bin, args...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, done: make(chan error, 1), stderr: &strings.Builder{}}
	go func() { d.done <- cmd.Wait(); pw.Close() }()
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			d.stderr.WriteString(line + "\n")
			if m := runningLine.FindStringSubmatch(line); m != nil {
				ready <- m
			}
		}
	}()
	select {
	case m := <-ready:
		d.peerID, d.api = m[1], m[2]
	case err := <-d.done:
		t.Fatalf("daemon exited before ready: %v", err)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("daemon not ready within 20s")
	}
	t.Cleanup(func() { d.stop(t) })
	return d
}

func (d *daemon) stop(t *testing.T) {
	if d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("daemon exit on SIGTERM: %v", err)
		}
		d.done <- err
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		t.Error("daemon did not stop within 10s of SIGTERM")
	}
}

type statusJSON struct {
	PeerID  string   `json:"peer_id"`
	Addrs   []string `json:"addrs"`
	Peers   []string `json:"peers"`
	Version string   `json:"version"`
}

func status(t *testing.T, bin, dir string) statusJSON {
	t.Helper()
	var s statusJSON
	if err := json.Unmarshal([]byte(run(t, bin, "status", "--json", "--datadir", dir)), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// eventuallyPeer polls a daemon's status (a separate process offers no
// event to wait on) until it lists peer.
func eventuallyPeer(t *testing.T, bin, dir, peer string) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for {
		if slices.Contains(status(t, bin, dir).Peers, peer) {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s never listed peer %s", dir, peer)
		}
	}
}

func TestTwoDaemons(t *testing.T) {
	bin := buildBinary(t)
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	run(t, bin, "init", "--datadir", dirA)
	run(t, bin, "init", "--datadir", dirB)

	a := startDaemon(t, bin, dirA)
	b := startDaemon(t, bin, dirB)
	sa := status(t, bin, dirA)
	if sa.PeerID != a.peerID || len(sa.Addrs) == 0 || sa.Version == "" {
		t.Fatalf("status of A: %+v", sa)
	}
	run(t, bin, "peers", "connect", sa.Addrs[0], "--datadir", dirB)
	eventuallyPeer(t, bin, dirA, b.peerID)
	eventuallyPeer(t, bin, dirB, a.peerID)

	// A second daemon on a data dir in use is refused with a clear error.
	out, err := exec.Command(bin, "daemon", "--datadir", dirA, "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "locked by another paymesh process") {
		t.Fatalf("second daemon on A's dir: err %v, output %q", err, out)
	}

	// Restart B with A as bootstrap peer: same identity, reconnects by itself.
	b.stop(t)
	b2 := startDaemon(t, bin, dirB, "--bootstrap", sa.Addrs[0])
	if b2.peerID != b.peerID {
		t.Fatalf("peer id changed across restart: %s → %s", b.peerID, b2.peerID)
	}
	eventuallyPeer(t, bin, dirB, a.peerID)
	eventuallyPeer(t, bin, dirA, b.peerID)
}

func TestClientErrors(t *testing.T) {
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "a")
	run(t, bin, "init", "--datadir", dir)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no daemon", []string{"status", "--datadir", dir}, "no daemon running"},
		{"init twice", []string{"init", "--datadir", dir}, "already holds an identity"},
		{"bad listen", []string{"daemon", "--datadir", dir, "--listen", "/ip4/1.2.3/tcp/1"}, "bad multiaddr"},
		{"bad bootstrap", []string{"daemon", "--datadir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", "/ip4/127.0.0.1/tcp/1"}, "must end in /p2p/PEERID"},
		{"public api", []string{"daemon", "--datadir", dir, "--api", "0.0.0.0:0"}, "not a loopback address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			if err == nil {
				t.Fatal("exit status 0, want failure")
			}
			msg := strings.TrimSpace(stderr.String())
			if !strings.Contains(msg, tt.want) || strings.Count(msg, "\n") != 0 {
				t.Fatalf("stderr %q: want one line containing %q", msg, tt.want)
			}
		})
	}

	// A wrong token is refused by a running daemon.
	startDaemon(t, bin, dir)
	if err := os.WriteFile(filepath.Join(dir, "api.token"), []byte(strings.Repeat("0", 64)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "status", "--datadir", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unauthorized") {
		t.Fatalf("wrong token: err %v, output %q", err, out)
	}
}
