package store

import (
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// Payments this node makes.
//
//	pay/<payment hash:32>     the payment's record (JSON written by the
//	                          node: status, attempts with their routes and
//	                          shared secrets, preimage, fee), synced before
//	                          each attempt's HTLC is offered

func paymentKey(hash [32]byte) []byte { return append([]byte("pay/"), hash[:]...) }

// ErrNoPayment is returned for an unknown payment hash.
var ErrNoPayment = errors.New("store: no such payment")

// PutPayment writes a payment record, synced.
func (s *Store) PutPayment(hash [32]byte, rec []byte) error {
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(paymentKey(hash), rec) }); err != nil {
		return fmt.Errorf("store: payment: %w", err)
	}
	return nil
}

// Payment reads a payment record.
func (s *Store) Payment(hash [32]byte) ([]byte, error) {
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(paymentKey(hash))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNoPayment
		}
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	return out, err
}

// Payments returns every payment record.
func (s *Store) Payments() ([][]byte, error) {
	var out [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte("pay/")
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
