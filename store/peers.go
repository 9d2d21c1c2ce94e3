package store

import (
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
	ma "github.com/multiformats/go-multiaddr"
)

// Peer addresses.
//
//	peer/<peer id bytes>/addrs    the multiaddrs last seen for a channel peer,
//	                              each as uvarint length + binary multiaddr
const maxStoredAddrs = 16

func peerAddrsKey(id string) []byte { return []byte("peer/" + id + "/addrs") }

// SetPeerAddrs records up to 16 addresses of a peer (asynchronous write: an
// address lost in a crash is only a slower redial).
func (s *Store) SetPeerAddrs(id string, addrs []ma.Multiaddr) error {
	var b []byte
	for i, a := range addrs {
		if i == maxStoredAddrs {
			break
		}
		raw := a.Bytes()
		b = appendUvarint(b, uint64(len(raw)))
		b = append(b, raw...)
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	if err := wb.Set(peerAddrsKey(id), b); err != nil {
		return fmt.Errorf("store: peer addresses: %w", err)
	}
	return wb.Flush()
}

// PeerAddrs returns the addresses recorded for a peer; none is not an error.
func (s *Store) PeerAddrs(id string) ([]ma.Multiaddr, error) {
	var out []ma.Multiaddr
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(peerAddrsKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error {
			for len(b) > 0 && len(out) < maxStoredAddrs {
				n, k := uvarint(b)
				if k <= 0 || uint64(len(b)-k) < n {
					return errors.New("corrupt address record")
				}
				a, err := ma.NewMultiaddrBytes(b[k : k+int(n)])
				if err == nil {
					out = append(out, a)
				}
				b = b[k+int(n):]
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: peer addresses: %w", err)
	}
	return out, nil
}
