// Package node wires a paymesh node together: the libp2p host, the Badger
// store, the local HTTP API and (as later issues land) channels, gossip, the
// switch and the router. It is the only package that owns goroutines,
// streams and the store; the daemon, the devnet, the emulator and embedding
// apps all use it through New, Start and Close.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/paymesh/paymesh/store"
)

// Version is the paymesh release; the build may override it with
// -ldflags "-X github.com/paymesh/paymesh/node.Version=v1.2.3".
var Version = "0.1.0-dev"

// FullVersion returns Version with the VCS revision when the binary knows it.
func FullVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return Version + "+" + s.Value[:12]
		}
	}
	return Version
}

// Config is everything a node needs. Settings holds what an operator puts in
// config.toml; the rest comes from the data dir or the embedding program.
type Config struct {
	// Identity is the node's Ed25519 libp2p key. Required.
	Identity crypto.PrivKey
	// OnionKey is the node's secp256k1 key for Sphinx ECDH. Required.
	OnionKey *secp256k1.PrivateKey
	// APIToken is the bearer token the local API demands. Required unless
	// DisableAPI is set.
	APIToken string
	// DataDir holds the database, the lock and api.addr. Empty means an
	// in-memory store and no files at all (tests, emulation).
	DataDir string
	// InMemoryStore keeps the database in memory even with a DataDir, which
	// then holds only the lock and api.addr (devnet).
	InMemoryStore bool
	// Settings are the operator's settings (config.toml plus flags).
	Settings FileConfig
	// Channels is the channel policy; zero fields take DefaultChannelConfig.
	Channels ChannelConfig
	// Jam bounds what one peer may keep pending through this node; zero
	// takes DefaultJamLimits.
	Jam JamLimits
	// DisableAPI runs the node without the HTTP API.
	DisableAPI bool
	// Logger receives the node's logs. Nil discards them.
	Logger *slog.Logger
	// Gossip tunes gossip, graph sync and the graph store. Zero means defaults.
	Gossip GossipConfig
}

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if c.Identity == nil {
		return errors.New("node: config has no identity key")
	}
	if c.Identity.Type() != crypto.Ed25519 {
		return fmt.Errorf("node: identity key is %s, want Ed25519", c.Identity.Type())
	}
	if c.OnionKey == nil {
		return errors.New("node: config has no onion key")
	}
	if !c.DisableAPI && len(c.APIToken) < 32 {
		return errors.New("node: API token missing or shorter than 32 characters")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Channels == (ChannelConfig{}) {
		c.Channels = DefaultChannelConfig()
	}
	if c.Jam == (JamLimits{}) {
		c.Jam = DefaultJamLimits()
	}
	return c.Settings.Validate()
}

// ConfigFromDataDir loads config.toml and the keys of an initialised data dir.
func ConfigFromDataDir(dir string) (Config, error) {
	settings, err := LoadFileConfig(dir)
	if err != nil {
		return Config{}, err
	}
	keys, err := LoadKeys(dir)
	if err != nil {
		return Config{}, err
	}
	return Config{
		Identity: keys.Identity,
		OnionKey: keys.Onion,
		APIToken: keys.APIToken,
		DataDir:  dir,
		Settings: settings,
	}, nil
}

// Node is a running paymesh node.
type Node struct {
	cfg   Config
	log   *slog.Logger
	id    peer.ID
	start time.Time

	lock     *DirLock
	store    *store.Store
	host     host.Host
	registry *prometheus.Registry
	api      *http.Server
	apiAddr  net.Addr

	chans    *chanManager
	sw       *htlcSwitch
	payer    *payer
	invoices *invoiceRegistry
	gossip   *gossipService

	streamsMu sync.Mutex
	streams   map[string]*Stream // payment streams this node pays on

	bootstrap []peer.AddrInfo
	wake      chan struct{} // nudges the bootstrap loop after a disconnect

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	started   bool
	closeOnce sync.Once
	closeErr  error
}

// New validates cfg and returns a node that is not yet started.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(cfg.Identity)
	if err != nil {
		return nil, fmt.Errorf("node: peer id: %w", err)
	}
	boot := make([]peer.AddrInfo, 0, len(cfg.Settings.Network.Bootstrap))
	for _, s := range cfg.Settings.Network.Bootstrap {
		ai, err := ParsePeerAddr(s)
		if err != nil {
			return nil, fmt.Errorf("node: bootstrap: %w", err)
		}
		if ai.ID == id {
			continue // a node listed as its own bootstrap peer, as in a shared config
		}
		boot = append(boot, ai)
	}
	return &Node{
		cfg:       cfg,
		log:       cfg.Logger,
		id:        id,
		bootstrap: boot,
		wake:      make(chan struct{}, 1),
	}, nil
}

// ID returns the node's peer id.
func (n *Node) ID() peer.ID { return n.id }

// Host returns the libp2p host. Valid after Start.
func (n *Node) Host() host.Host { return n.host }

// Store returns the node's database. Valid after Start.
func (n *Node) Store() *store.Store { return n.store }

// Registry returns the node's Prometheus registry. Valid after Start.
func (n *Node) Registry() *prometheus.Registry { return n.registry }

// APIAddr returns the address the API serves on, or "" without an API.
func (n *Node) APIAddr() string {
	if n.apiAddr == nil {
		return ""
	}
	return n.apiAddr.String()
}

// Addrs returns the node's listen multiaddrs with its /p2p/ID appended.
func (n *Node) Addrs() []ma.Multiaddr {
	p2p, err := ma.NewComponent("p2p", n.id.String())
	if err != nil {
		return n.host.Addrs()
	}
	var out []ma.Multiaddr
	for _, a := range n.host.Addrs() {
		out = append(out, a.Encapsulate(p2p.Multiaddr()))
	}
	return out
}

// Start opens the store, starts the libp2p host and the API and begins
// dialing the bootstrap peers. ctx bounds start-up only; the node runs until
// Close. On error everything started so far is stopped again.
func (n *Node) Start(ctx context.Context) (err error) {
	n.start = time.Now()
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel

	sopts := store.Options{
		InMemory:      n.cfg.DataDir == "" || n.cfg.InMemoryStore,
		MemTableMB:    n.cfg.Settings.Store.MemTableMB,
		BlockCacheMB:  n.cfg.Settings.Store.BlockCacheMB,
		IndexCacheMB:  n.cfg.Settings.Store.IndexCacheMB,
		NumCompactors: n.cfg.Settings.Store.NumCompactors,
		Logger:        n.log,
	}
	if n.cfg.DataDir != "" {
		if n.lock, err = LockDataDir(n.cfg.DataDir); err != nil {
			return err
		}
		if !sopts.InMemory {
			sopts.Dir = filepath.Join(n.cfg.DataDir, DBDir)
		}
	}
	if n.store, err = store.Open(sopts); err != nil {
		return fmt.Errorf("node: %w", err)
	}

	n.registry = prometheus.NewRegistry()
	n.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if n.host, err = n.newHost(); err != nil {
		return err
	}
	n.registerMetrics()
	if n.chans, err = newChanManager(n); err != nil {
		return err
	}
	n.sw = newSwitch(n)
	n.payer = newPayer(n)
	n.chans.hooks = switchHooks{preimageHooks{n.chans}, n.sw}
	n.invoices = newInvoiceRegistry()
	if err = n.loadInvoicePreimages(); err != nil {
		return fmt.Errorf("node: load invoices: %w", err)
	}
	if err = n.sw.loadCircuits(); err != nil {
		return fmt.Errorf("node: load forwarding circuits: %w", err)
	}
	if err = n.chans.start(); err != nil {
		return err
	}
	n.sw.settleRestored()

	n.host.Network().Notify(&network.NotifyBundle{
		DisconnectedF: func(_ network.Network, c network.Conn) {
			for _, b := range n.bootstrap {
				if b.ID == c.RemotePeer() {
					select {
					case n.wake <- struct{}{}:
					default:
					}
				}
			}
		},
	})

	if err = n.startGossip(runCtx); err != nil {
		return err
	}
	if !n.cfg.DisableAPI {
		if err = n.startAPI(); err != nil {
			return err
		}
	}
	n.goRun(func() { n.store.RunGC(runCtx, n.cfg.Settings.Store.GCInterval.Duration) })
	n.goRun(func() { n.sw.run(runCtx) })
	if err = n.payer.loadMission(); err != nil {
		return fmt.Errorf("node: load mission control: %w", err)
	}
	n.goRun(func() { n.payer.keepMission(runCtx, 5*time.Minute) })
	n.goRun(func() { n.payer.forgetPreimages(runCtx) })
	if err = n.payer.resume(runCtx); err != nil {
		return fmt.Errorf("node: resume payments: %w", err)
	}
	if len(n.bootstrap) > 0 {
		n.goRun(func() { n.keepBootstrapped(runCtx) })
	}
	n.started = true
	n.log.Info("node started", "peer_id", n.id, "addrs", n.host.Addrs(), "api", n.APIAddr(), "version", FullVersion())
	return ctx.Err()
}

func (n *Node) goRun(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

func (n *Node) newHost() (host.Host, error) {
	nc := n.cfg.Settings.Network
	listen := make([]ma.Multiaddr, 0, len(nc.Listen))
	for _, s := range nc.Listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("node: listen address %q: %w", s, err)
		}
		listen = append(listen, a)
	}
	cm, err := connmgr.NewConnManager(nc.ConnLowWater, nc.ConnHighWater, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("node: connection manager: %w", err)
	}
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	mem := int64(nc.MaxMemoryMB) << 20
	limits := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns:   rcmgr.LimitVal(nc.MaxConnections),
			Streams: rcmgr.LimitVal(nc.MaxStreams),
			Memory:  rcmgr.LimitVal64(mem),
		},
	}.Build(scaling.Scale(mem, 1024))
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits))
	if err != nil {
		return nil, fmt.Errorf("node: resource manager: %w", err)
	}
	h, err := libp2p.New(
		libp2p.Identity(n.cfg.Identity),
		libp2p.ListenAddrs(listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
		libp2p.PrometheusRegisterer(n.registry),
		libp2p.WithDialTimeout(nc.DialTimeout.Duration),
		libp2p.UserAgent("paymesh/"+Version),
		libp2p.DisableRelay(),
	)
	if err != nil {
		rm.Close()
		cm.Close()
		return nil, fmt.Errorf("node: start libp2p host: %w", describeListenError(err))
	}
	return h, nil
}

// describeListenError turns libp2p's long listen failure into the cause an
// operator can act on.
func describeListenError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "listen" {
		return fmt.Errorf("cannot listen on %v (port in use?): %w", op.Addr, err)
	}
	return err
}

func (n *Node) registerMetrics() {
	n.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "paymesh_peers", Help: "Number of connected peers.",
		}, func() float64 { return float64(len(n.host.Network().Peers())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "paymesh_uptime_seconds", Help: "Seconds since the node started.",
		}, func() float64 { return time.Since(n.start).Seconds() }),
	)
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "paymesh_build_info", Help: "Build information; the value is always 1.",
	}, []string{"version"})
	info.WithLabelValues(FullVersion()).Set(1)
	n.registry.MustRegister(info)
}

// keepBootstrapped dials every bootstrap peer that is not connected, backing
// off exponentially (1 s to 1 min) per peer while it stays unreachable.
func (n *Node) keepBootstrapped(ctx context.Context) {
	type state struct {
		next    time.Time
		backoff time.Duration
	}
	st := make([]state, len(n.bootstrap))
	for _, b := range n.bootstrap {
		n.host.Peerstore().AddAddrs(b.ID, b.Addrs, peerstore.PermanentAddrTTL)
		n.host.ConnManager().Protect(b.ID, "bootstrap")
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		wait := time.Minute
		for i, b := range n.bootstrap {
			if n.host.Network().Connectedness(b.ID) == network.Connected {
				st[i] = state{}
				continue
			}
			if now.Before(st[i].next) {
				wait = min(wait, st[i].next.Sub(now))
				continue
			}
			dctx, cancel := context.WithTimeout(ctx, n.cfg.Settings.Network.DialTimeout.Duration)
			err := n.host.Connect(dctx, b)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				st[i].backoff = min(max(2*st[i].backoff, time.Second), time.Minute)
				st[i].next = time.Now().Add(st[i].backoff)
				wait = min(wait, st[i].backoff)
				n.log.Warn("bootstrap dial failed", "peer", b.ID, "retry_in", st[i].backoff, "err", err)
				continue
			}
			st[i] = state{}
			n.log.Info("connected to bootstrap peer", "peer", b.ID)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		case <-timer.C:
		}
	}
}

// Uptime returns how long the node has been running.
func (n *Node) Uptime() time.Duration { return time.Since(n.start) }

// Close stops the node: the API, the background loops, the host and the
// store, in that order, and releases the data dir lock. It is safe to call
// more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
		if n.api != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			if err := n.api.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("api: %w", err))
			}
			cancel()
			if n.cfg.DataDir != "" {
				os.Remove(filepath.Join(n.cfg.DataDir, APIAddrFile))
			}
		}
		if n.cancel != nil {
			n.cancel()
		}
		n.wg.Wait()
		n.stopGossip()
		if n.chans != nil {
			n.chans.close()
		}
		if n.host != nil {
			if err := n.host.Close(); err != nil {
				errs = append(errs, fmt.Errorf("host: %w", err))
			}
		}
		if n.store != nil {
			if err := n.store.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := n.lock.Unlock(); err != nil {
			errs = append(errs, fmt.Errorf("unlock: %w", err))
		}
		n.closeErr = errors.Join(errs...)
		if n.started {
			n.log.Info("node stopped", "peer_id", n.id)
		}
	})
	return n.closeErr
}
