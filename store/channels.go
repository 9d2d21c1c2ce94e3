package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Channel logs.
//
//	chan/<id:32>/r/<index:8>      one or more records of the channel's
//	                              durable log (bytes of channel.Record.Marshal),
//	                              indexes increasing from 0 and never reused
//	chan/<id:32>/c/<seq:8>        a checkpoint: a co-signed state kept after
//	                              compaction (opaque bytes, written by the node)
//
// A channel's log is append-only between compactions. Compaction writes a
// snapshot record (which replaces everything before it) and deletes the
// older records in the same transaction, so a reader never sees a log
// without its base. Checkpoints are never deleted: they keep the audit trail
// of a channel whose records were compacted away, at one entry per
// checkpoint interval, so disk stays bounded by the number of checkpoints
// rather than by the number of updates.
//
// The records one group commit appends to a channel are stored as few
// entries, not one each: an entry's value is either one record as is (the
// original layout, still read), or a group: a 0x00 byte, then each record
// as a uvarint length and its bytes. A record's protobuf encoding never
// starts with 0x00 (no field has number 0), so the first byte tells them
// apart; a record that does start with 0x00 (or is empty) is written in a
// group of one. A group holds at most groupBytes of records, well under a
// Badger transaction's size limit. One entry per channel and round rather
// than per record is what keeps a busy channel's writes, memtable inserts
// and compaction deletes cheap: a round may carry thousands of updates.

const channelIDLen = 32

// groupMark starts a value holding a group of records.
const groupMark = 0x00

// groupBytes bounds the records packed into one entry.
const groupBytes = 128 << 10

// packRecords splits recs into entry values, in order, each a single record
// or a group of at most about groupBytes.
func packRecords(recs [][]byte) [][]byte {
	var vals [][]byte
	for i := 0; i < len(recs); {
		j, size := i, 0
		for j < len(recs) && (j == i || size+len(recs[j])+binary.MaxVarintLen32 <= groupBytes) {
			size += len(recs[j]) + binary.MaxVarintLen32
			j++
		}
		if j == i+1 && len(recs[i]) > 0 && recs[i][0] != groupMark {
			vals = append(vals, recs[i])
			i = j
			continue
		}
		v := make([]byte, 1, 1+size)
		v[0] = groupMark
		for _, r := range recs[i:j] {
			v = binary.AppendUvarint(v, uint64(len(r)))
			v = append(v, r...)
		}
		vals = append(vals, v)
		i = j
	}
	return vals
}

// unpackRecords appends the records of one entry value to recs.
func unpackRecords(recs [][]byte, v []byte) ([][]byte, error) {
	if len(v) == 0 || v[0] != groupMark {
		return append(recs, v), nil
	}
	v = v[1:]
	for len(v) > 0 {
		n, k := binary.Uvarint(v)
		if k <= 0 || n > uint64(len(v)-k) {
			return recs, errors.New("truncated record group")
		}
		recs = append(recs, v[k:k+int(n):k+int(n)])
		v = v[k+int(n):]
	}
	return recs, nil
}

var prefixChan = []byte("chan/")

func chanKey(id [channelIDLen]byte, kind byte, n uint64) []byte {
	k := make([]byte, 0, len(prefixChan)+channelIDLen+3+8)
	k = append(k, prefixChan...)
	k = append(k, id[:]...)
	k = append(k, '/', kind, '/')
	return binary.BigEndian.AppendUint64(k, n)
}

func chanPrefix(id [channelIDLen]byte, kind byte) []byte {
	k := chanKey(id, kind, 0)
	return k[:len(k)-8]
}

// ChannelAppend is one channel's share of a group commit: records to append
// and, optionally, a compaction.
type ChannelAppend struct {
	ID      [channelIDLen]byte
	Records [][]byte
	// Compact, when set, is a snapshot record written after Records; every
	// earlier record of the channel is deleted in the same transaction.
	Compact []byte
	// Checkpoint, when set, is stored under CheckpointSeq.
	Checkpoint    []byte
	CheckpointSeq uint64
	// KVs are other records that must be durable together with these
	// (a forwarding circuit with the HTLC that forwards it, a preimage with
	// the state that revealed it).
	KVs []KV
}

// KV is a key and value written in a group commit, or a key deleted.
type KV struct {
	Key, Value []byte
	Delete     bool
	// TTL, when positive, lets Badger drop the record after that long.
	TTL time.Duration
}

// ChannelLog is the durable log of every channel, with the next index of
// each cached in memory. It is not safe for concurrent appends to the same
// channel; the node serialises them per peer.
type ChannelLog struct {
	s    *Store
	next map[[channelIDLen]byte]uint64 // next record index
	base map[[channelIDLen]byte]uint64 // index of the first live record
}

// Channels returns the store's channel logs.
func (s *Store) Channels() *ChannelLog {
	return &ChannelLog{s: s, next: map[[channelIDLen]byte]uint64{}, base: map[[channelIDLen]byte]uint64{}}
}

// ErrNoChannel is returned for a channel with no log.
var ErrNoChannel = errors.New("store: no such channel")

// IDs lists every channel with a log.
func (l *ChannelLog) IDs() ([][channelIDLen]byte, error) {
	var ids [][channelIDLen]byte
	err := l.s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = prefixChan
		it := txn.NewIterator(opts)
		defer it.Close()
		var last []byte
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) < len(prefixChan)+channelIDLen {
				continue
			}
			id := k[len(prefixChan) : len(prefixChan)+channelIDLen]
			if bytes.Equal(id, last) {
				continue
			}
			last = append(last[:0], id...)
			ids = append(ids, [channelIDLen]byte(id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list channels: %w", err)
	}
	return ids, nil
}

// Load returns a channel's live records in order, and caches where the log
// ends for later appends.
func (l *ChannelLog) Load(id [channelIDLen]byte) ([][]byte, error) {
	var recs [][]byte
	var first, last, entries uint64
	err := l.s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = chanPrefix(id, 'r')
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			idx := binary.BigEndian.Uint64(k[len(k)-8:])
			if entries == 0 {
				first = idx
			} else if idx != last+1 {
				return fmt.Errorf("store: channel %x: record %d follows %d", id[:8], idx, last)
			}
			last = idx
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if recs, err = unpackRecords(recs, v); err != nil {
				return fmt.Errorf("store: channel %x: entry %d: %w", id[:8], idx, err)
			}
			entries++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if entries == 0 {
		return nil, fmt.Errorf("%w: %x", ErrNoChannel, id)
	}
	l.base[id], l.next[id] = first, last+1
	return recs, nil
}

// Checkpoints returns a channel's checkpoints in sequence order.
func (l *ChannelLog) Checkpoints(id [channelIDLen]byte) ([][]byte, error) {
	var out [][]byte
	err := l.s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = chanPrefix(id, 'c')
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// Append writes every channel's records in one transaction, synced to disk
// before it returns: the node's group commit. A channel appended for the
// first time starts at index 0.
func (l *ChannelLog) Append(batch []ChannelAppend) error {
	next := make(map[[channelIDLen]byte]uint64, len(batch))
	base := make(map[[channelIDLen]byte]uint64)
	txn := l.s.db.NewTransaction(true)
	defer txn.Discard()
	setEntry := func(e *badger.Entry) error {
		err := txn.SetEntry(e)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err = txn.Commit(); err != nil {
				return err
			}
			txn = l.s.db.NewTransaction(true)
			err = txn.SetEntry(e)
		}
		return err
	}
	set := func(k, v []byte) error { return setEntry(badger.NewEntry(k, v)) }
	del := func(k []byte) error {
		err := txn.Delete(k)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err = txn.Commit(); err != nil {
				return err
			}
			txn = l.s.db.NewTransaction(true)
			err = txn.Delete(k)
		}
		return err
	}
	for _, a := range batch {
		n, ok := next[a.ID]
		if !ok {
			n = l.next[a.ID]
		}
		for _, r := range packRecords(a.Records) {
			if err := set(chanKey(a.ID, 'r', n), r); err != nil {
				return fmt.Errorf("store: append to channel %x: %w", a.ID[:8], err)
			}
			n++
		}
		if a.Compact != nil {
			// The snapshot goes in first, then the old records go: a
			// transaction split by ErrTxnTooBig still leaves a loadable log.
			snap := n
			if err := set(chanKey(a.ID, 'r', snap), packRecords([][]byte{a.Compact})[0]); err != nil {
				return fmt.Errorf("store: compact channel %x: %w", a.ID[:8], err)
			}
			n++
			b, ok := base[a.ID]
			if !ok {
				b = l.base[a.ID]
			}
			for i := b; i < snap; i++ {
				if err := del(chanKey(a.ID, 'r', i)); err != nil {
					return fmt.Errorf("store: compact channel %x: %w", a.ID[:8], err)
				}
			}
			base[a.ID] = snap
		}
		for _, kv := range a.KVs {
			if kv.Delete {
				if err := del(kv.Key); err != nil {
					return fmt.Errorf("store: channel %x: %w", a.ID[:8], err)
				}
				continue
			}
			e := badger.NewEntry(kv.Key, kv.Value)
			if kv.TTL > 0 {
				e = e.WithTTL(kv.TTL)
			}
			if err := setEntry(e); err != nil {
				return fmt.Errorf("store: channel %x: %w", a.ID[:8], err)
			}
		}
		if a.Checkpoint != nil {
			if err := set(chanKey(a.ID, 'c', a.CheckpointSeq), a.Checkpoint); err != nil {
				return fmt.Errorf("store: checkpoint channel %x: %w", a.ID[:8], err)
			}
		}
		next[a.ID] = n
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("store: commit channel records: %w", err)
	}
	for id, n := range next {
		l.next[id] = n
	}
	for id, b := range base {
		l.base[id] = b
	}
	return nil
}

// Live returns how many live entries a channel has (since its base); an
// entry holds one or more records.
func (l *ChannelLog) Live(id [channelIDLen]byte) uint64 { return l.next[id] - l.base[id] }
