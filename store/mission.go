package store

import (
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// Mission control.
//
//	mc/observations        the payer's routing observations (JSON written by
//	                       the node), saved periodically and at shutdown

var keyMission = []byte("mc/observations")

// PutMission stores the payer's observations.
func (s *Store) PutMission(b []byte) error {
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(keyMission, b) }); err != nil {
		return fmt.Errorf("store: mission control: %w", err)
	}
	return nil
}

// Mission returns the stored observations, or nil.
func (s *Store) Mission() ([]byte, error) {
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyMission)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	return out, err
}
