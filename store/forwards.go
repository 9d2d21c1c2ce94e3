package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Forwarding and settlement records.
//
//	pre/<payment hash:32>             a preimage this node learnt (32 bytes),
//	                                  written in the same transaction as the
//	                                  channel state that revealed it; kept for
//	                                  PreimageTTL, long past any HTLC expiry
//	fwd/<channel:32><htlc id:8>       an open forwarding circuit, keyed by the
//	                                  outgoing HTLC; written with that HTLC's
//	                                  add, deleted with the incoming HTLC's
//	                                  fulfill or fail (opaque bytes of the node)
//	fwdlog/<unix ms:8><channel:32><htlc id:8>
//	                                  a settled forward (opaque bytes)
//
// A circuit is durable exactly when the outgoing HTLC is, so after a crash
// an incoming HTLC with no circuit was never forwarded and may be handled
// afresh, and one with a circuit waits for (or reads) its outgoing HTLC's
// outcome.

// PreimageTTL is how long a learnt preimage is kept: it is needed only
// until the incoming HTLC it pays for, or the payment it proves, is
// settled, and HTLCs expire within a day.
const PreimageTTL = 7 * 24 * time.Hour

// PreimageKey is the key under which a learnt preimage is stored.
func PreimageKey(hash [32]byte) []byte { return append([]byte("pre/"), hash[:]...) }

// CircuitKey is the key of the circuit of outgoing HTLC id on channel ch.
func CircuitKey(ch [32]byte, id uint64) []byte {
	k := append([]byte("fwd/"), ch[:]...)
	return binary.BigEndian.AppendUint64(k, id)
}

// Preimage returns a stored preimage.
func (s *Store) Preimage(hash [32]byte) ([32]byte, bool, error) {
	var p [32]byte
	found := false
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(PreimageKey(hash))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 32 {
				return fmt.Errorf("preimage record of %d bytes", len(v))
			}
			copy(p[:], v)
			found = true
			return nil
		})
	})
	return p, found, err
}

// DeletePreimages removes learnt preimages that nothing needs any more (a
// payer's, once its payment record holds the preimage). The write is not
// synced: a delete lost in a crash leaves the preimage to its TTL.
func (s *Store) DeletePreimages(hashes [][32]byte) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, h := range hashes {
		if err := wb.Delete(PreimageKey(h)); err != nil {
			return err
		}
	}
	return wb.Flush()
}

// Circuits returns every open circuit: key (channel, htlc id) and value.
func (s *Store) Circuits() (map[[40]byte][]byte, error) {
	out := make(map[[40]byte][]byte)
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte("fwd/")
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != 4+40 {
				continue
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[[40]byte(k[4:])] = v
		}
		return nil
	})
	return out, err
}

// CloseCircuitKVs are the writes that close a circuit: its deletion and,
// when entry is non-nil, its forwarding log record. The node commits them
// with the incoming HTLC's settlement, so that a circuit disappears exactly
// when its incoming HTLC is settled on disk.
func CloseCircuitKVs(ch [32]byte, id uint64, atMS int64, entry []byte) []KV {
	kvs := []KV{{Key: CircuitKey(ch, id), Delete: true}}
	if entry != nil {
		k := binary.BigEndian.AppendUint64([]byte("fwdlog/"), uint64(atMS))
		k = append(k, ch[:]...)
		k = binary.BigEndian.AppendUint64(k, id)
		kvs = append(kvs, KV{Key: k, Value: entry})
	}
	return kvs
}

// LogStreamForwards writes the forward records of payment streams: one per
// stream and period, keyed like a forward with the stream's id (at most 32
// bytes, zero-padded) in place of the outgoing channel and 0 as HTLC id.
// Losing the last records in a crash loses bookkeeping only, not money,
// so the write is not synced.
func (s *Store) LogStreamForwards(recs []StreamForward) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, r := range recs {
		var ch [32]byte
		copy(ch[:], r.Stream)
		kvs := CloseCircuitKVs(ch, 0, r.AtMS, r.Entry)
		if err := wb.Set(kvs[1].Key, kvs[1].Value); err != nil {
			return err
		}
	}
	return wb.Flush()
}

// StreamForward is a payment stream's forward record for LogStreamForwards.
type StreamForward struct {
	Stream []byte
	AtMS   int64
	Entry  []byte
}

// ForwardLog returns up to limit settled forwards, newest first.
func (s *Store) ForwardLog(limit int) ([][]byte, error) {
	var out [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Reverse = true
		opts.Prefix = []byte("fwdlog/")
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(append([]byte("fwdlog/"), 0xff)); it.Valid() && len(out) < limit; it.Next() {
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
