package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paymesh/paymesh/routing"
)

// TestGraphCommands runs the graph and fees commands against a daemon: an
// empty graph answers, exports a file the simulator's loader reads, and
// errors are one line with a non-zero exit.
func TestGraphCommands(t *testing.T) {
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "a")
	run(t, bin, "init", "--datadir", dir)
	d := startDaemon(t, bin, dir)

	var info struct {
		Nodes, Channels int
	}
	if err := json.Unmarshal([]byte(run(t, bin, "graph", "info", "--json", "--datadir", dir)), &info); err != nil {
		t.Fatal(err)
	}
	if info.Nodes != 0 || info.Channels != 0 {
		t.Fatalf("fresh node's graph: %+v", info)
	}
	if out := run(t, bin, "graph", "info", "--datadir", dir); !strings.Contains(out, "last update:    never") {
		t.Fatalf("graph info: %q", out)
	}
	if out := strings.TrimSpace(run(t, bin, "graph", "channels", "--json", "--datadir", dir)); out != "[]" {
		t.Fatalf("graph channels --json: %q", out)
	}
	file := filepath.Join(t.TempDir(), "g.json")
	run(t, bin, "graph", "export", file, "--datadir", dir)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, rep, err := routing.LoadExport(f, routing.LoadOptions{Strict: true}); err != nil || rep.Format != routing.FormatExport {
		t.Fatalf("load export: %+v, %v", rep, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"graph", "node", d.peerID}, "unknown node"},
		{[]string{"graph", "node", "nope"}, "bad node id"},
		{[]string{"graph", "channels", "--node", "nope"}, "bad node id"},
		{[]string{"fees", "set", "123", "--base", "1", "--ppm", "2", "--delta", "3000"}, "not a known channel"},
		{[]string{"fees", "set", "123", "--base", "1"}, "--ppm is required"},
		{[]string{"fees", "set", "x", "--base", "1", "--ppm", "2", "--delta", "3000"}, "bad channel"},
	} {
		cmd := exec.Command(bin, append(tc.args, "--datadir", dir)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil {
			t.Errorf("%v: exit 0, want failure", tc.args)
			continue
		}
		msg := stderr.String()
		if !strings.Contains(msg, tc.want) || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
			t.Errorf("%v: stderr %q, want one line containing %q", tc.args, msg, tc.want)
		}
	}
}
