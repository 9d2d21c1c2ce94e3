package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	ma "github.com/multiformats/go-multiaddr"
)

// File names inside a data directory.
const (
	ConfigFile   = "config.toml"
	IdentityFile = "identity.key"
	OnionKeyFile = "onion.key"
	TokenFile    = "api.token"
	APIAddrFile  = "api.addr"
	LockFile     = "LOCK"
	DBDir        = "db"
)

// FileConfig is the operator's config.toml. Every field has a default, so an
// empty file is a valid configuration.
type FileConfig struct {
	Network NetworkConfig `toml:"network"`
	API     APIConfig     `toml:"api"`
	Log     LogConfig     `toml:"log"`
	Fees    FeeConfig     `toml:"fees"`
	Store   StoreConfig   `toml:"store"`
}

// NetworkConfig configures the libp2p host.
type NetworkConfig struct {
	// Listen lists the multiaddrs to listen on (TCP and QUIC).
	Listen []string `toml:"listen"`
	// Bootstrap lists peers (multiaddrs ending in /p2p/ID) to keep connected.
	Bootstrap []string `toml:"bootstrap"`
	// ConnLowWater and ConnHighWater are the connection manager's watermarks.
	ConnLowWater  int `toml:"conn_low_water"`
	ConnHighWater int `toml:"conn_high_water"`
	// MaxConnections, MaxStreams and MaxMemoryMB bound the resource manager.
	MaxConnections int `toml:"max_connections"`
	MaxStreams     int `toml:"max_streams"`
	MaxMemoryMB    int `toml:"max_memory_mb"`
	// DialTimeout bounds one dial attempt, e.g. "10s".
	DialTimeout Duration `toml:"dial_timeout"`
}

// APIConfig configures the local HTTP/JSON API.
type APIConfig struct {
	// Address is HOST:PORT on a loopback address; port 0 picks a free port.
	Address string `toml:"address"`
}

// LogConfig configures logging.
type LogConfig struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// FeeConfig holds the default policy for new channels.
type FeeConfig struct {
	Base          uint64 `toml:"base"`
	PPM           uint64 `toml:"ppm"`
	ExpiryDeltaMS uint64 `toml:"expiry_delta_ms"`
}

// StoreConfig sizes Badger for the machine.
type StoreConfig struct {
	MemTableMB    int      `toml:"memtable_mb"`
	BlockCacheMB  int      `toml:"block_cache_mb"`
	IndexCacheMB  int      `toml:"index_cache_mb"`
	NumCompactors int      `toml:"num_compactors"`
	GCInterval    Duration `toml:"gc_interval"`
}

// Duration is a time.Duration that reads from TOML as a string like "10m".
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText formats the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// DefaultPort is the default TCP and UDP (QUIC) port of a node.
const DefaultPort = 4141

// DefaultFileConfig returns the configuration `paymesh init` writes.
func DefaultFileConfig() FileConfig {
	return FileConfig{
		Network: NetworkConfig{
			Listen: []string{
				fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", DefaultPort),
				fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", DefaultPort),
			},
			ConnLowWater:   32,
			ConnHighWater:  96,
			MaxConnections: 256,
			MaxStreams:     4096,
			MaxMemoryMB:    256,
			DialTimeout:    Duration{10 * time.Second},
		},
		API:   APIConfig{Address: fmt.Sprintf("127.0.0.1:%d", DefaultPort+1)},
		Log:   LogConfig{Level: "info", Format: "text"},
		Fees:  FeeConfig{Base: 1000, PPM: 100, ExpiryDeltaMS: 30_000},
		Store: StoreConfig{MemTableMB: 8, BlockCacheMB: 16, IndexCacheMB: 8, NumCompactors: 2, GCInterval: Duration{10 * time.Minute}},
	}
}

// ConfigTemplate is the commented config.toml written by `paymesh init`. It
// states every default, so an operator sees what can be changed.
const ConfigTemplate = `# paymesh node configuration. Every setting is optional; the values shown
# are the defaults. Command-line flags override this file.

[network]
# Multiaddrs to listen on: TCP and QUIC. Port 0 picks a free port.
listen = ["/ip4/0.0.0.0/tcp/4141", "/ip4/0.0.0.0/udp/4141/quic-v1"]
# Peers to dial at start and keep connected (with backoff), as
# multiaddrs ending in /p2p/PEERID.
bootstrap = []
# Connection manager: trim connections above the high watermark down to the
# low one. Channel peers and bootstrap peers are protected from trimming.
conn_low_water = 32
conn_high_water = 96
# Resource manager limits.
max_connections = 256
max_streams = 4096
max_memory_mb = 256
# How long one dial may take.
dial_timeout = "10s"

[api]
# The local HTTP/JSON API. Only loopback addresses are accepted. Every request
# needs "Authorization: Bearer <token>", the token being in api.token.
# Port 0 picks a free port; the address in use is written to api.addr.
address = "127.0.0.1:4142"

[log]
level = "info"   # debug, info, warn, error
format = "text"  # text or json

[fees]
# Default forwarding policy for new channels: fee = base + amount*ppm/1e6.
base = 1000
ppm = 100
# Extra time a forwarded HTLC's incoming expiry must exceed its outgoing one.
expiry_delta_ms = 30000

[store]
# Badger sizing, small by default (a 2-core node with little memory).
memtable_mb = 8
block_cache_mb = 16
index_cache_mb = 8
num_compactors = 2
# How often to garbage-collect the value log.
gc_interval = "10m"
`

// LoadFileConfig reads DIR/config.toml over the defaults. A missing file
// yields the defaults; an unknown key is an error (it is almost always a
// typo).
func LoadFileConfig(dir string) (FileConfig, error) {
	cfg := DefaultFileConfig()
	path := filepath.Join(dir, ConfigFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	md, err := toml.Decode(string(b), &cfg)
	if err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return cfg, fmt.Errorf("config %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Validate rejects nonsense: bad multiaddrs, a non-loopback API address,
// inverted watermarks, unknown log levels.
func (c *FileConfig) Validate() error {
	for _, s := range c.Network.Listen {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return fmt.Errorf("network.listen: bad multiaddr %q: %w", s, err)
		}
	}
	for _, s := range c.Network.Bootstrap {
		if _, err := ParsePeerAddr(s); err != nil {
			return fmt.Errorf("network.bootstrap: %w", err)
		}
	}
	if c.Network.ConnLowWater < 0 || c.Network.ConnHighWater < c.Network.ConnLowWater {
		return fmt.Errorf("network: conn_low_water (%d) must be ≥ 0 and ≤ conn_high_water (%d)", c.Network.ConnLowWater, c.Network.ConnHighWater)
	}
	if c.Network.MaxConnections <= 0 || c.Network.MaxStreams <= 0 || c.Network.MaxMemoryMB <= 0 {
		return errors.New("network: max_connections, max_streams and max_memory_mb must be positive")
	}
	if c.Network.DialTimeout.Duration <= 0 {
		return errors.New("network.dial_timeout must be positive")
	}
	if err := CheckLoopback(c.API.Address); err != nil {
		return fmt.Errorf("api.address: %w", err)
	}
	if _, err := ParseLogLevel(c.Log.Level); err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format: %q is neither text nor json", c.Log.Format)
	}
	if c.Fees.PPM > 1_000_000 {
		return fmt.Errorf("fees.ppm: %d exceeds 1000000", c.Fees.PPM)
	}
	return nil
}

// CheckLoopback accepts HOST:PORT only when HOST is a loopback address or
// "localhost": the API must never be reachable from the network.
func CheckLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT: %w", addr, err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%q: bad port: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address; the API only listens on 127.0.0.1 or ::1", addr)
	}
	return nil
}

// ParseLogLevel maps a level name to a slog level.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown level %q (want debug, info, warn or error)", s)
}

// NewLogger builds the node's slog logger from the log config.
func NewLogger(c LogConfig, w *os.File) (*slog.Logger, error) {
	lvl, err := ParseLogLevel(c.Level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch c.Format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("unknown log format %q", c.Format)
}
