package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/routing"
)

// ClusterConfig describes a set of nodes run in one process on loopback:
// the devnet, integration tests and emulation.
type ClusterConfig struct {
	// Nodes is the number of nodes (at least 1).
	Nodes int
	// Dir, when set, gets a subdirectory per node holding api.addr and
	// api.token so that the CLI can talk to each node with --datadir. The
	// databases stay in memory.
	Dir string
	// DisableAPI runs the nodes without HTTP APIs.
	DisableAPI bool
	// QUIC adds a QUIC listener beside TCP.
	QUIC bool
	// Logger receives every node's logs, tagged with "node".
	Logger *slog.Logger
}

// Cluster is a set of running nodes, all connected to each other.
type Cluster struct {
	Nodes []*Node
	Dirs  []string
}

// StartCluster starts cfg.Nodes nodes with fresh keys and in-memory stores
// and connects every pair. On error the nodes started so far are closed.
func StartCluster(ctx context.Context, cfg ClusterConfig) (c *Cluster, err error) {
	if cfg.Nodes < 1 {
		return nil, fmt.Errorf("cluster: need at least 1 node, got %d", cfg.Nodes)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c = &Cluster{}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	for i := range cfg.Nodes {
		nc, err := ephemeralConfig()
		if err != nil {
			return nil, err
		}
		nc.DisableAPI = cfg.DisableAPI
		nc.Logger = cfg.Logger.With("node", i)
		nc.Settings.Network.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
		if cfg.QUIC {
			nc.Settings.Network.Listen = append(nc.Settings.Network.Listen, "/ip4/127.0.0.1/udp/0/quic-v1")
		}
		nc.Settings.API.Address = "127.0.0.1:0"
		// Micropayment fees: a base of 1 unit plus 0.1%.
		nc.Settings.Fees = FeeConfig{Base: 1, PPM: 1000, ExpiryDeltaMS: 20_000}
		if cfg.Dir != "" {
			dir := filepath.Join(cfg.Dir, fmt.Sprintf("node%d", i))
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("cluster: %w", err)
			}
			if err := writeFileAtomic(filepath.Join(dir, TokenFile), []byte(nc.APIToken+"\n"), 0o600); err != nil {
				return nil, err
			}
			nc.DataDir = dir
			nc.InMemoryStore = true
			c.Dirs = append(c.Dirs, dir)
		}
		n, err := New(nc)
		if err != nil {
			return nil, err
		}
		if err := n.Start(ctx); err != nil {
			return nil, fmt.Errorf("cluster: start node %d: %w", i, err)
		}
		c.Nodes = append(c.Nodes, n)
	}
	for i, a := range c.Nodes {
		for _, b := range c.Nodes[:i] {
			if err := a.host.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.host.Addrs()}); err != nil {
				return nil, fmt.Errorf("cluster: connect %s to %s: %w", a.ID(), b.ID(), err)
			}
		}
	}
	return c, nil
}

// ephemeralConfig returns a node config with fresh in-memory keys.
func ephemeralConfig() (Config, error) {
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return Config{}, err
	}
	onion, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return Config{}, err
	}
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return Config{}, err
	}
	return Config{
		Identity: sk,
		OnionKey: onion,
		APIToken: hex.EncodeToString(tok),
		Settings: DefaultFileConfig(),
	}, nil
}

// Close stops every node.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.Nodes {
		errs = append(errs, n.Close())
	}
	return errors.Join(errs...)
}

// OpenRing opens a channel from every node to the next (the last to the
// first), each funded with amount of which push goes to the other side, so
// that payments can flow both ways around the ring. With two nodes it opens
// one channel.
func (c *Cluster) OpenRing(ctx context.Context, amount, push uint64) ([]channel.ID, error) {
	n := len(c.Nodes)
	if n < 2 {
		return nil, nil
	}
	pairs := n
	if n == 2 {
		pairs = 1
	}
	ids := make([]channel.ID, pairs)
	errs := make([]error, pairs)
	var wg sync.WaitGroup
	for i := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, b := c.Nodes[i], c.Nodes[(i+1)%n]
			ids[i], errs[i] = a.OpenChannel(ctx, b.ID(), amount, push)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("open channel %d→%d: %w", i, (i+1)%n, errs[i])
			}
		}()
	}
	wg.Wait()
	return ids, errors.Join(errs...)
}

// WaitGraph waits until every node's graph holds every channel of ids with
// both directions' policies, and knows every node's onion key: the point
// from which any node can route to any other.
func (c *Cluster) WaitGraph(ctx context.Context, ids []channel.ID) error {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if c.graphComplete(ids) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: graph incomplete: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func (c *Cluster) graphComplete(ids []channel.ID) bool {
	for _, n := range c.Nodes {
		g := n.Graph()
		if g == nil {
			return false
		}
		snap := g.Snapshot()
		for _, id := range ids {
			ch, ok := snap.Channel(routing.ChannelID(id.ShortID()))
			if !ok || ch.Policy[0] == nil || ch.Policy[1] == nil {
				return false
			}
		}
		for _, m := range c.Nodes {
			if _, err := n.payer.onionKey(m.ID()); err != nil {
				return false
			}
		}
	}
	return true
}
