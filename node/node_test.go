package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"

	"github.com/paymesh/paymesh/api"
	"github.com/paymesh/paymesh/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Process-wide background goroutines started once by dependencies.
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/quicreuse.(*reuse).gc"),
		goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2/z.(*AllocatorPool).freeupAllocators"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}

// initDir initialises a data dir with loopback, free-port settings.
func initDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "node")
	if _, err := Init(dir); err != nil {
		t.Fatal(err)
	}
	cfg := `[network]
listen = ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"]
[api]
address = "127.0.0.1:0"
`
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startDir(t testing.TB, dir string) *Node {
	t.Helper()
	cfg, err := ConfigFromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = testLogger(t)
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestStartStopNoLeaks(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := initDir(t)
	cfg, err := ConfigFromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // start, stop, start again on the same dir
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, APIAddrFile)); strings.TrimSpace(string(got)) != n.APIAddr() {
			t.Fatalf("api.addr = %q, want %q", got, n.APIAddr())
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, APIAddrFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("api.addr left behind after Close: %v", err)
		}
	}
}

func TestAPIAuth(t *testing.T) {
	dir := initDir(t)
	n := startDir(t, dir)
	ctx := context.Background()

	good, err := api.ClientForDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := good.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.PeerID != n.ID().String() {
		t.Fatalf("status peer id %s, want %s", s.PeerID, n.ID())
	}
	for _, token := range []string{"", "wrong", n.cfg.APIToken + "x", strings.ToUpper(n.cfg.APIToken)} {
		_, err := api.NewClient(n.APIAddr(), token).Status(ctx)
		if !errors.Is(err, api.ErrUnauthorized) {
			t.Errorf("token %q: got %v, want ErrUnauthorized", token, err)
		}
	}
	// No Authorization header at all, on every path including /metrics.
	for _, path := range []string{api.PathStatus, api.PathPeers, api.PathMetrics} {
		resp, err := http.Get("http://" + n.APIAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without token: %d, want 401", path, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+n.APIAddr()+api.PathMetrics, nil)
	req.Header.Set("Authorization", "Bearer "+n.cfg.APIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(body)
	if !strings.Contains(metrics, "paymesh_peers") {
		t.Errorf("/metrics lacks paymesh_peers")
	}
}

func TestAPIBadInput(t *testing.T) {
	n := startDir(t, initDir(t))
	c := api.NewClient(n.APIAddr(), n.cfg.APIToken)
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		code int
	}{
		{"connect bad multiaddr", func() error { _, err := c.Connect(ctx, "not-a-multiaddr"); return err }, 400},
		{"connect without /p2p", func() error { _, err := c.Connect(ctx, "/ip4/127.0.0.1/tcp/1"); return err }, 400},
		{"disconnect bad id", func() error { return c.Disconnect(ctx, "nope") }, 400},
		{"disconnect unknown peer", func() error { return c.Disconnect(ctx, "12D3KooWNgHfnSuLx3d2MJHJVq8Ck9vwhzSc5mR8TDZTgGT6Jeok") }, 404},
		{"unknown body field", func() error {
			return c.Do(ctx, http.MethodPost, api.PathPeersConnect, map[string]string{"adr": "x"}, nil)
		}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var se *api.StatusError
			if !errors.As(err, &se) || se.Code != tt.code {
				t.Fatalf("got %v, want HTTP %d", err, tt.code)
			}
		})
	}
}

func TestDataDirLocked(t *testing.T) {
	dir := initDir(t)
	startDir(t, dir)
	cfg, err := ConfigFromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.Start(context.Background()); !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("second node on the same dir: got %v, want ErrDataDirLocked", err)
	}
	// The first node's api.addr must survive the second one's failure.
	if _, err := os.Stat(filepath.Join(dir, APIAddrFile)); err != nil {
		t.Fatalf("api.addr damaged by the refused start: %v", err)
	}
}

func TestSchemaNewerRefused(t *testing.T) {
	dir := initDir(t)
	n := startDir(t, dir)
	if err := n.Store().SetSchemaVersion(store.SchemaVersion + 1); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigFromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = n2.Start(context.Background())
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("got %v, want ErrSchemaTooNew", err)
	}
}

func TestInitRefusesOverwrite(t *testing.T) {
	dir := initDir(t)
	before, _ := os.ReadFile(filepath.Join(dir, IdentityFile))
	if _, err := Init(dir); !errors.Is(err, ErrAlreadyInitialized) {
		t.Fatalf("got %v, want ErrAlreadyInitialized", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, IdentityFile))
	if string(before) != string(after) {
		t.Fatal("identity changed")
	}
	for _, f := range []string{IdentityFile, OnionKeyFile, TokenFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
}

func TestBadConfigAndKeys(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(dir string) error
		want   string
	}{
		{"bad multiaddr", func(d string) error {
			return os.WriteFile(filepath.Join(d, ConfigFile), []byte("[network]\nlisten = [\"/ip4/300.0.0.1/tcp/1\"]\n"), 0o644)
		}, "bad multiaddr"},
		{"api not loopback", func(d string) error {
			return os.WriteFile(filepath.Join(d, ConfigFile), []byte("[api]\naddress = \"0.0.0.0:1\"\n"), 0o644)
		}, "not a loopback address"},
		{"unknown key", func(d string) error {
			return os.WriteFile(filepath.Join(d, ConfigFile), []byte("[network]\nlisen = []\n"), 0o644)
		}, "unknown keys: network.lisen"},
		{"toml syntax", func(d string) error {
			return os.WriteFile(filepath.Join(d, ConfigFile), []byte("[network\n"), 0o644)
		}, "config.toml"},
		{"garbled identity", func(d string) error {
			return os.WriteFile(filepath.Join(d, IdentityFile), []byte("garbage"), 0o600)
		}, "unreadable"},
		{"identity readable by others", func(d string) error { return os.Chmod(filepath.Join(d, IdentityFile), 0o644) }, "must be 0600"},
		{"not initialised", func(d string) error { return os.Remove(filepath.Join(d, IdentityFile)) }, "not initialised"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := initDir(t)
			if err := tt.mutate(dir); err != nil {
				t.Fatal(err)
			}
			_, err := ConfigFromDataDir(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestPortInUse(t *testing.T) {
	a := startDir(t, initDir(t))
	dir := initDir(t)
	cfg, err := ConfigFromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Settings.API.Address = a.APIAddr()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "port in use") {
		t.Fatalf("got %v, want a port-in-use error", err)
	}
	// The refused node released its lock: a new start on its dir works.
	startDir(t, dir)
}

func TestClusterConnectsAndBootstrapReconnects(t *testing.T) {
	ctx := context.Background()
	cl, err := StartCluster(ctx, ClusterConfig{Nodes: 3, DisableAPI: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, n := range cl.Nodes {
		if got := len(n.Host().Network().Peers()); got != 2 {
			t.Fatalf("node %s has %d peers, want 2", n.ID(), got)
		}
	}

	// A node with a bootstrap peer redials it after being disconnected.
	dir := initDir(t)
	cfg, err := ConfigFromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Settings.Network.Bootstrap = []string{cl.Nodes[0].Addrs()[0].String()}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	boot := cl.Nodes[0].ID()
	waitConnected(t, n, boot)
	if !n.Host().ConnManager().IsProtected(boot, "bootstrap") {
		t.Fatal("bootstrap peer not protected from trimming")
	}
	waitConnected(t, cl.Nodes[0], n.ID())
	sub, err := n.Host().EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := cl.Nodes[0].Disconnect(n.ID()); err != nil {
		t.Fatal(err)
	}
	// Expect the drop, then the redial.
	var seen []network.Connectedness
	timeout := time.After(15 * time.Second)
	for len(seen) < 2 || seen[len(seen)-1] != network.Connected {
		select {
		case e := <-sub.Out():
			if ev := e.(event.EvtPeerConnectednessChanged); ev.Peer == boot {
				seen = append(seen, ev.Connectedness)
			}
		case <-timeout:
			t.Fatalf("no reconnect to bootstrap peer; events %v", seen)
		}
	}
}

// testLogger logs to the test when PAYMESH_TEST_LOG names a level.
func testLogger(t testing.TB) *slog.Logger {
	lvl, ok := os.LookupEnv("PAYMESH_TEST_LOG")
	if !ok {
		return nil
	}
	l, err := ParseLogLevel(lvl)
	if err != nil {
		t.Fatal(err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})).With("test", t.Name())
}

// eventually re-checks cond on a ticker until it holds, failing the test
// with what() after d. For state that offers no event to wait on (a
// channel's view across two nodes, a graph filled by gossip).
func eventually(t testing.TB, d time.Duration, cond func() bool, what func() string) {
	t.Helper()
	if cond() {
		return
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		select {
		case <-tick.C:
			if cond() {
				return
			}
		case <-deadline.C:
			t.Fatalf("after %v: %s", d, what())
		}
	}
}

// waitConnected waits, on the host's event bus, until n is connected to p.
func waitConnected(t *testing.T, n *Node, p peer.ID) {
	t.Helper()
	sub, err := n.Host().EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	timeout := time.After(15 * time.Second)
	for n.Host().Network().Connectedness(p) != network.Connected {
		select {
		case <-sub.Out():
		case <-timeout:
			t.Fatalf("%s not connected to %s within 15s", n.ID(), p)
		}
	}
}
