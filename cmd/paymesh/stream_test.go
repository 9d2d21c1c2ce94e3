package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paymesh/paymesh/api"
)

// TestStreamCommand runs a 3-node devnet as a process and pays over a
// payment stream with the CLI, as a user would: `stream send` reports every
// payment settled and the forwarding node logs them as stream forwards.
func TestStreamCommand(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "devnet", "--nodes", "3", "--no-pay", "--dir", dir, "--duration", "2m")
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Error("devnet did not stop within 15 s of SIGINT")
		}
	})
	ids := map[string]string{}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) >= 2 && (f[0] == "0" || f[0] == "1" || f[0] == "2") {
				ids[f[0]] = f[1]
			}
			if strings.HasPrefix(sc.Text(), "network up") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("devnet exited: %v\n%s", err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("devnet not up within 60 s")
	}
	// Node 0 pays node 2 over a stream of 500 payments.
	out := run(t, bin, "stream", "send", ids["2"], "--amount", "100", "--count", "500", "--concurrency", "64", "--json", "--datadir", filepath.Join(dir, "node0"))
	var res api.StreamPayResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if res.Succeeded != 500 || res.Failed != 0 || res.Amount != 500*100 || res.Stream.Routes != 1 {
		t.Fatalf("stream send: %+v", res)
	}
	if out := run(t, bin, "stream", "list", "--datadir", filepath.Join(dir, "node0")); !strings.Contains(out, "no payment streams") {
		t.Fatalf("stream left open: %q", out)
	}
	// Bad input: one clear line, non-zero exit.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"stream", "send", ids["2"]}, "--amount is required"},
		{[]string{"stream", "send", "nope", "--amount", "1"}, "bad node id"},
		{[]string{"stream", "send", ids["2"], "--amount", "1", "--count", "0"}, "count 0 out of range"},
		{[]string{"stream", "close", "0123"}, "no such payment stream"},
	} {
		c := exec.Command(bin, append(tc.args, "--datadir", filepath.Join(dir, "node0"))...)
		var e strings.Builder
		c.Stderr = &e
		if err := c.Run(); err == nil || !strings.Contains(e.String(), tc.want) {
			t.Errorf("%v: err %v, stderr %q, want %q", tc.args, err, e.String(), tc.want)
		}
	}
}
