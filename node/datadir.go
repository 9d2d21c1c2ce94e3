package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ErrAlreadyInitialized is returned by Init when the data dir already holds
// an identity: overwriting it would destroy the node's channels' keys.
var ErrAlreadyInitialized = errors.New("data dir already holds an identity")

// ErrNotInitialized is returned when a data dir has no identity yet.
var ErrNotInitialized = errors.New("data dir is not initialised (run `paymesh init`)")

// ErrDataDirLocked is returned when another daemon uses the data dir.
var ErrDataDirLocked = errors.New("data dir is locked by another paymesh process")

// DefaultDataDir returns $PAYMESH_DIR, else ~/.paymesh.
func DefaultDataDir() string {
	if d := os.Getenv("PAYMESH_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".paymesh"
	}
	return filepath.Join(home, ".paymesh")
}

// Init creates a data dir: an Ed25519 identity, a secp256k1 onion key, an API
// token (all mode 0600) and a commented config.toml. It refuses to touch a
// dir that already has an identity.
func Init(dir string) (peer.ID, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	idPath := filepath.Join(dir, IdentityFile)
	if _, err := os.Stat(idPath); err == nil {
		return "", fmt.Errorf("%w: %s", ErrAlreadyInitialized, idPath)
	}
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate identity: %w", err)
	}
	skBytes, err := crypto.MarshalPrivateKey(sk)
	if err != nil {
		return "", fmt.Errorf("marshal identity: %w", err)
	}
	onion, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return "", fmt.Errorf("generate onion key: %w", err)
	}
	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		return "", fmt.Errorf("generate API token: %w", err)
	}
	// Write the identity last and exclusively: it is what marks the dir as
	// initialised, so a failed init can simply be run again.
	files := []struct {
		name string
		data []byte
	}{
		{OnionKeyFile, []byte(hex.EncodeToString(onion.Serialize()) + "\n")},
		{TokenFile, []byte(hex.EncodeToString(token) + "\n")},
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
			return "", err
		}
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	if _, err := os.Stat(cfgPath); errors.Is(err, os.ErrNotExist) {
		if err := writeFileAtomic(cfgPath, []byte(ConfigTemplate), 0o644); err != nil {
			return "", err
		}
	}
	f, err := os.OpenFile(idPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("write identity: %w", err)
	}
	if _, err := f.Write(skBytes); err != nil {
		f.Close()
		os.Remove(idPath)
		return "", fmt.Errorf("write identity: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(idPath)
		return "", fmt.Errorf("write identity: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write identity: %w", err)
	}
	return peer.IDFromPrivateKey(sk)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp, mode); err != nil { // WriteFile keeps an old file's mode
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Keys are a node's secrets as read from its data dir.
type Keys struct {
	Identity crypto.PrivKey
	Onion    *secp256k1.PrivateKey
	APIToken string
}

// LoadKeys reads the identity, onion key and API token of a data dir,
// refusing key files that others can read.
func LoadKeys(dir string) (Keys, error) {
	var k Keys
	idPath := filepath.Join(dir, IdentityFile)
	b, err := readSecret(idPath)
	if errors.Is(err, os.ErrNotExist) {
		return k, fmt.Errorf("%w: no %s", ErrNotInitialized, idPath)
	}
	if err != nil {
		return k, err
	}
	k.Identity, err = crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return k, fmt.Errorf("identity key %s is unreadable: %w", idPath, err)
	}
	if k.Identity.Type() != crypto.Ed25519 {
		return k, fmt.Errorf("identity key %s is %s, want Ed25519", idPath, k.Identity.Type())
	}
	onionPath := filepath.Join(dir, OnionKeyFile)
	b, err = readSecret(onionPath)
	if err != nil {
		return k, err
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(raw) != secp256k1.PrivKeyBytesLen {
		return k, fmt.Errorf("onion key %s is unreadable: want %d hex-encoded bytes", onionPath, secp256k1.PrivKeyBytesLen)
	}
	k.Onion = secp256k1.PrivKeyFromBytes(raw)
	tokPath := filepath.Join(dir, TokenFile)
	b, err = readSecret(tokPath)
	if err != nil {
		return k, err
	}
	k.APIToken = strings.TrimSpace(string(b))
	if len(k.APIToken) < 32 {
		return k, fmt.Errorf("API token %s is too short (%d chars)", tokPath, len(k.APIToken))
	}
	return k, nil
}

func readSecret(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %v; secrets must be 0600 (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// DirLock is an exclusive advisory lock on a data dir.
type DirLock struct{ f *os.File }

// LockDataDir takes the data dir's lock or fails with ErrDataDirLocked,
// naming the holder's pid when known.
func LockDataDir(dir string) (*DirLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if pid := strings.TrimSpace(string(holder)); pid != "" {
			return nil, fmt.Errorf("%w: %s (pid %s)", ErrDataDirLocked, dir, pid)
		}
		return nil, fmt.Errorf("%w: %s", ErrDataDirLocked, dir)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &DirLock{f: f}, nil
}

// Unlock releases the lock.
func (l *DirLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close() // closing releases the flock
	l.f = nil
	return err
}

// ParsePeerAddr parses a multiaddr that ends in /p2p/PEERID.
func ParsePeerAddr(s string) (peer.AddrInfo, error) {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("bad multiaddr %q: %w", s, err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(m)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("multiaddr %q must end in /p2p/PEERID: %w", s, err)
	}
	return *ai, nil
}
