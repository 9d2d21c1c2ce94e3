package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// SchemaVersion is the on-disk schema this binary reads and writes. A
// database written by a newer binary is refused rather than misread; one
// written by an older binary is read as is and marked with this version
// (the formats below only add what older ones lack).
//
//	1  first release
//	2  a channel's records of one round grouped in one entry (channels.go);
//	   circuits in a binary form (node/switch.go) that may hold the
//	   preimage; version 1 entries still read
const SchemaVersion uint32 = 2

var keySchema = []byte("meta/schema")

// ErrSchemaTooNew is returned by Open when the database was written by a
// newer paymesh whose schema this binary does not know.
var ErrSchemaTooNew = errors.New("store: on-disk schema is newer than this binary supports")

// ErrLocked is returned by Open when another process holds the database.
var ErrLocked = errors.New("store: database is in use by another process")

// Options sizes and places the database. The zero value of every size picks
// a default suited to a 2-core node with little memory.
type Options struct {
	// Dir is the database directory. Ignored when InMemory is set.
	Dir string
	// InMemory keeps everything in memory: for tests, devnet and emulation.
	InMemory bool
	// MemTableMB is the size of one memtable (default 8).
	MemTableMB int
	// BlockCacheMB is the block cache size (default 16).
	BlockCacheMB int
	// IndexCacheMB is the index cache size (default 8).
	IndexCacheMB int
	// NumCompactors is the number of compaction goroutines (default 2, minimum 2).
	NumCompactors int
	// Logger receives Badger's own log lines. Nil discards them.
	Logger *slog.Logger
}

func (o *Options) fill() {
	if o.MemTableMB <= 0 {
		o.MemTableMB = 8
	}
	if o.BlockCacheMB <= 0 {
		o.BlockCacheMB = 16
	}
	if o.IndexCacheMB <= 0 {
		o.IndexCacheMB = 8
	}
	if o.NumCompactors < 2 {
		o.NumCompactors = 2 // Badger refuses fewer than 2.
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is the node's database.
type Store struct {
	db       *badger.DB
	inMemory bool
	log      *slog.Logger
}

// Open opens (creating if needed) the database described by opts, checks its
// schema version and writes it on first use.
func Open(opts Options) (*Store, error) {
	opts.fill()
	bo := badger.DefaultOptions(opts.Dir).
		WithInMemory(opts.InMemory).
		WithSyncWrites(true).
		WithMemTableSize(int64(opts.MemTableMB) << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(2 << 20).
		WithValueLogFileSize(64 << 20).
		WithBlockCacheSize(int64(opts.BlockCacheMB) << 20).
		WithIndexCacheSize(int64(opts.IndexCacheMB) << 20).
		WithNumCompactors(opts.NumCompactors).
		WithLogger(badgerLogger{opts.Logger})
	if opts.InMemory {
		bo.Dir, bo.ValueDir = "", ""
	}
	db, err := badger.Open(bo)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("%w: %s", ErrLocked, opts.Dir)
		}
		return nil, fmt.Errorf("store: open %s: %w", opts.Dir, err)
	}
	s := &Store{db: db, inMemory: opts.InMemory, log: opts.Logger}
	if err := s.checkSchema(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) checkSchema() error {
	got := SchemaVersion
	err := s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(keySchema)
		if errors.Is(err, badger.ErrKeyNotFound) {
			var v [4]byte
			binary.BigEndian.PutUint32(v[:], SchemaVersion)
			return txn.Set(keySchema, v[:])
		}
		if err != nil {
			return fmt.Errorf("store: read schema version: %w", err)
		}
		return item.Value(func(v []byte) error {
			if len(v) != 4 {
				return fmt.Errorf("store: schema version record is %d bytes, want 4", len(v))
			}
			got = binary.BigEndian.Uint32(v)
			return nil
		})
	})
	if err != nil {
		return err
	}
	switch {
	case got > SchemaVersion:
		return fmt.Errorf("%w: database has schema %d, this binary knows up to %d; upgrade paymesh", ErrSchemaTooNew, got, SchemaVersion)
	case got < SchemaVersion:
		// Older entries still read; what this binary writes from now on
		// an older one could not, so the mark moves up.
		return s.SetSchemaVersion(SchemaVersion)
	}
	return nil
}

// SchemaVersion reports the schema version recorded in the database.
func (s *Store) SchemaVersion() (uint32, error) {
	var v uint32
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keySchema)
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error {
			if len(b) != 4 {
				return fmt.Errorf("schema record is %d bytes", len(b))
			}
			v = binary.BigEndian.Uint32(b)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	return v, nil
}

// SetSchemaVersion overwrites the recorded schema version. Migrations use
// it; tests use it to simulate a database written by a newer binary.
func (s *Store) SetSchemaVersion(v uint32) error {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return s.db.Update(func(txn *badger.Txn) error { return txn.Set(keySchema, b[:]) })
}

// DB exposes the Badger handle to the record stores of this package's
// callers in the node.
func (s *Store) DB() *badger.DB { return s.db }

// RunGC runs value-log garbage collection every interval until ctx ends.
// Each round rewrites value-log files while at least half of a file is
// garbage.
func (s *Store) RunGC(ctx context.Context, interval time.Duration) {
	if s.inMemory || interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n := 0
			for s.db.RunValueLogGC(0.5) == nil {
				n++
				if ctx.Err() != nil {
					return
				}
			}
			if n > 0 {
				s.log.Debug("value log GC", "files_rewritten", n)
			}
		}
	}
}

// Close flushes and closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// badgerLogger routes Badger's printf-style logs into slog. Badger's info
// lines are chatty, so they are logged at debug level.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Debugf(f string, a ...any) {
	b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func uvarint(b []byte) (uint64, int) { return binary.Uvarint(b) }

// Compact flattens the LSM tree so that deleted and overwritten records are
// dropped from disk (an operator's `paymesh` maintenance step and the disk
// benchmark's; the node compacts continuously on its own).
func (s *Store) Compact() error {
	if err := s.db.Flatten(2); err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	return nil
}
