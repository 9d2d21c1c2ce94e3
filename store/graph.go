package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// GraphKind says which gossip message a graph record holds. The values and
// their order are the order in which a graph is restored and served by
// graph sync: a channel before its updates and closed notice, nodes last.
type GraphKind uint8

// The kinds of graph records (the same numbering as protocol/gossip.Kind).
const (
	GraphChannel GraphKind = iota + 1 // a channel announcement
	GraphUpdate                       // a channel update, one per direction
	GraphClosed                       // a channel-closed notice
	GraphNode                         // a node announcement
)

// GraphKinds lists every kind in restore and sync order.
var GraphKinds = []GraphKind{GraphChannel, GraphUpdate, GraphClosed, GraphNode}

var graphPrefixes = [...][]byte{
	GraphChannel: []byte("graph/c/"),
	GraphUpdate:  []byte("graph/u/"),
	GraphClosed:  []byte("graph/x/"),
	GraphNode:    []byte("graph/n/"),
}

// MaxGraphNodeID bounds the node id of a node record (a libp2p peer id).
const MaxGraphNodeID = 64

// ErrBadGraphRecord is returned for a record whose fields do not fit its kind
// or whose stored bytes are garbled.
var ErrBadGraphRecord = errors.New("store: bad graph record")

// GraphRecord is one persisted gossip message: the signed envelope exactly as
// it was gossiped, and what the node needs to index it without decoding it.
type GraphRecord struct {
	Kind GraphKind
	// Short is the short channel id (channel kinds).
	Short uint64
	// Dir is the direction of an update (0 or 1).
	Dir uint8
	// Node is the raw peer id of a node announcement.
	Node []byte
	// Time is unix milliseconds: the message's timestamp for updates,
	// closed notices and node announcements; the arrival time for channel
	// announcements (which carry none).
	Time int64
	// Data is the gossip envelope.
	Data []byte
}

func (r *GraphRecord) key() ([]byte, error) {
	if r.Kind < GraphChannel || r.Kind > GraphNode {
		return nil, fmt.Errorf("%w: kind %d", ErrBadGraphRecord, r.Kind)
	}
	k := append([]byte(nil), graphPrefixes[r.Kind]...)
	switch r.Kind {
	case GraphNode:
		if len(r.Node) == 0 || len(r.Node) > MaxGraphNodeID {
			return nil, fmt.Errorf("%w: node id of %d bytes", ErrBadGraphRecord, len(r.Node))
		}
		return append(k, r.Node...), nil
	case GraphUpdate:
		if r.Dir > 1 {
			return nil, fmt.Errorf("%w: direction %d", ErrBadGraphRecord, r.Dir)
		}
		return append(binary.BigEndian.AppendUint64(k, r.Short), r.Dir), nil
	}
	return binary.BigEndian.AppendUint64(k, r.Short), nil
}

func (r *GraphRecord) value() []byte {
	v := make([]byte, 8, 8+len(r.Data))
	binary.BigEndian.PutUint64(v, uint64(r.Time))
	return append(v, r.Data...)
}

// decodeGraphRecord rebuilds a record from its key and value. The returned
// slices are copies.
func decodeGraphRecord(kind GraphKind, key, val []byte) (GraphRecord, error) {
	r := GraphRecord{Kind: kind}
	rest := key[len(graphPrefixes[kind]):]
	switch kind {
	case GraphNode:
		if len(rest) == 0 || len(rest) > MaxGraphNodeID {
			return r, fmt.Errorf("%w: key %q", ErrBadGraphRecord, key)
		}
		r.Node = append([]byte(nil), rest...)
	case GraphUpdate:
		if len(rest) != 9 || rest[8] > 1 {
			return r, fmt.Errorf("%w: key %q", ErrBadGraphRecord, key)
		}
		r.Short, r.Dir = binary.BigEndian.Uint64(rest), rest[8]
	default:
		if len(rest) != 8 {
			return r, fmt.Errorf("%w: key %q", ErrBadGraphRecord, key)
		}
		r.Short = binary.BigEndian.Uint64(rest)
	}
	if len(val) < 9 {
		return r, fmt.Errorf("%w: value of %d bytes under %q", ErrBadGraphRecord, len(val), key)
	}
	r.Time = int64(binary.BigEndian.Uint64(val))
	r.Data = append([]byte(nil), val[8:]...)
	return r, nil
}

// GraphStore persists the channel graph learnt by gossip: every accepted
// announcement, update, closed notice and node announcement, keyed so that
// a newer message replaces the one it supersedes. Graph data can be
// rebuilt from peers, so writes go through a WriteBatch and the node does
// not wait for them before forwarding gossip.
type GraphStore struct{ db *badger.DB }

// Graph returns the store's graph records.
func (s *Store) Graph() *GraphStore { return &GraphStore{db: s.db} }

// GraphBatch collects graph writes and deletes and commits them together.
// It is not safe for concurrent use.
type GraphBatch struct {
	wb *badger.WriteBatch
	n  int
}

// Batch starts a batch of graph writes.
func (g *GraphStore) Batch() *GraphBatch { return &GraphBatch{wb: g.db.NewWriteBatch()} }

// Put writes r, replacing the record with the same key.
func (b *GraphBatch) Put(r GraphRecord) error {
	k, err := r.key()
	if err != nil {
		return err
	}
	if len(r.Data) == 0 {
		return fmt.Errorf("%w: empty data", ErrBadGraphRecord)
	}
	b.n++
	return b.wb.Set(k, r.value())
}

// DeleteChannel deletes a channel's announcement, both updates and its
// closed notice.
func (b *GraphBatch) DeleteChannel(short uint64) error {
	if err := b.DeleteUpdates(short); err != nil {
		return err
	}
	for _, kind := range []GraphKind{GraphChannel, GraphClosed} {
		r := GraphRecord{Kind: kind, Short: short}
		k, _ := r.key()
		b.n++
		if err := b.wb.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// DeleteUpdates deletes both directions' updates of a channel.
func (b *GraphBatch) DeleteUpdates(short uint64) error {
	for d := range uint8(2) {
		r := GraphRecord{Kind: GraphUpdate, Short: short, Dir: d}
		k, _ := r.key()
		b.n++
		if err := b.wb.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// DeleteNode deletes a node's announcement.
func (b *GraphBatch) DeleteNode(id []byte) error {
	r := GraphRecord{Kind: GraphNode, Node: id}
	k, err := r.key()
	if err != nil {
		return err
	}
	b.n++
	return b.wb.Delete(k)
}

// Len returns the number of writes and deletes in the batch.
func (b *GraphBatch) Len() int { return b.n }

// Flush commits the batch and waits for it. The batch cannot be reused.
func (b *GraphBatch) Flush() error {
	if err := b.wb.Flush(); err != nil {
		return fmt.Errorf("store: write graph: %w", err)
	}
	return nil
}

// Cancel discards the batch.
func (b *GraphBatch) Cancel() { b.wb.Cancel() }

// Each calls fn for every record of one kind, in key order (by short channel
// id, or by node id), until fn returns an error, which Each returns. A
// garbled record is passed to bad (if non-nil) and skipped.
func (g *GraphStore) Each(kind GraphKind, fn func(GraphRecord) error, bad func(key []byte, err error)) error {
	if kind < GraphChannel || kind > GraphNode {
		return fmt.Errorf("%w: kind %d", ErrBadGraphRecord, kind)
	}
	prefix := graphPrefixes[kind]
	return g.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefix
		opts.PrefetchSize = 256
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			var r GraphRecord
			err := item.Value(func(v []byte) error {
				var err error
				r, err = decodeGraphRecord(kind, item.Key(), v)
				return err
			})
			if err != nil {
				if errors.Is(err, ErrBadGraphRecord) {
					if bad != nil {
						bad(item.KeyCopy(nil), err)
					}
					continue
				}
				return fmt.Errorf("store: read graph: %w", err)
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// Get reads one record; r names it by Kind and Short, Dir or Node. found is
// false when there is no such record.
func (g *GraphStore) Get(r GraphRecord) (rec GraphRecord, found bool, err error) {
	k, err := r.key()
	if err != nil {
		return GraphRecord{}, false, err
	}
	err = g.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			rec, err = decodeGraphRecord(r.Kind, k, v)
			return err
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return GraphRecord{}, false, nil
	}
	if err != nil {
		return GraphRecord{}, false, fmt.Errorf("store: read graph: %w", err)
	}
	return rec, true, nil
}

// DeleteKey deletes one raw key of the graph namespace: a garbled record
// reported by Each.
func (g *GraphStore) DeleteKey(key []byte) error {
	if len(key) < len("graph/") || string(key[:len("graph/")]) != "graph/" {
		return fmt.Errorf("%w: key %q is not in the graph namespace", ErrBadGraphRecord, key)
	}
	return g.db.Update(func(txn *badger.Txn) error { return txn.Delete(key) })
}
