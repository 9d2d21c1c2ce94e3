package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Invoices.
//
//	inv/<payment hash:32>         one invoice this node issued (value below)
//	invt/<created:8><hash:32>     time index, empty value: created is the
//	                              invoice's creation time (int64 BE unix ms),
//	                              so a reverse prefix scan lists newest first
//
// The value of an invoice record (version 1, integers big-endian):
//
//	version (1) | state (1) | amount (8) | created unix ms (8) |
//	expires unix ms (8) | payment secret (32) | preimage (32) |
//	amount received (8) | paid at unix ms (8, 0 = not paid) |
//	htlc count (uvarint) | per htlc: channel id (32) | htlc id (8) | amount (8) |
//	invoice text (the rest: the signed "pm1..." string)
//
// Amount, times and secret duplicate what the text encodes so that the
// payee's check of an arriving HTLC needs no bech32 decoding and no
// signature verification. The HTLC list names the HTLCs that paid the
// invoice, so a restart that presents the same HTLC again is recognised.
// Both keys are written in one transaction; the store opens with synced
// writes, so a record is on disk when a write returns.

// InvoiceState is the persisted state of an invoice. An open invoice whose
// expiry has passed is reported as expired by the node; the store keeps it
// open.
type InvoiceState uint8

// The persisted invoice states.
const (
	InvoiceOpen      InvoiceState = 1 // payable until it expires
	InvoicePaid      InvoiceState = 2 // received in full; HTLCs lists the parts
	InvoiceCancelled InvoiceState = 3 // withdrawn by the payee
)

func (s InvoiceState) String() string {
	switch s {
	case InvoiceOpen:
		return "open"
	case InvoicePaid:
		return "paid"
	case InvoiceCancelled:
		return "cancelled"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// InvoiceHTLC is one HTLC that paid an invoice.
type InvoiceHTLC struct {
	Channel [32]byte
	ID      uint64
	Amount  uint64
}

// Invoice is the node's record of an invoice it issued.
type Invoice struct {
	Hash     [32]byte
	Secret   [32]byte
	Preimage [32]byte
	// Amount is what the invoice asks for (0: the payer chooses).
	Amount    uint64
	CreatedAt time.Time // millisecond precision
	ExpiresAt time.Time // millisecond precision
	State     InvoiceState
	// Received is the sum of the HTLCs that paid the invoice.
	Received uint64
	// PaidAt is when the invoice was marked paid; zero while unpaid.
	PaidAt time.Time
	HTLCs  []InvoiceHTLC
	// Text is the signed invoice as given to the payer.
	Text string
}

// Errors of the invoice records.
var (
	ErrNoInvoice        = errors.New("store: no such invoice")
	ErrInvoiceExists    = errors.New("store: invoice already exists")
	ErrBadInvoiceRecord = errors.New("store: bad invoice record")
)

const (
	invoiceVersion   = 1
	invoiceFixedLen  = 1 + 1 + 8 + 8 + 8 + 32 + 32 + 8 + 8
	invoiceHTLCLen   = 32 + 8 + 8
	maxInvoiceText   = 8 << 10
	maxInvoiceHTLCs  = 1 << 16
	invoiceIndexTail = 8 + 32
	maxUnixMS        = 1 << 62
)

var (
	prefixInvoice     = []byte("inv/")
	prefixInvoiceTime = []byte("invt/")
)

func invoiceKey(hash [32]byte) []byte {
	return append(append(make([]byte, 0, len(prefixInvoice)+32), prefixInvoice...), hash[:]...)
}

func invoiceTimeKey(created time.Time, hash [32]byte) []byte {
	k := make([]byte, 0, len(prefixInvoiceTime)+invoiceIndexTail)
	k = append(k, prefixInvoiceTime...)
	k = binary.BigEndian.AppendUint64(k, uint64(created.UnixMilli()))
	return append(k, hash[:]...)
}

func unixMS(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixMilli())
}

func fromUnixMS(v uint64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(v))
}

func (r *Invoice) check() error {
	switch {
	case r.State < InvoiceOpen || r.State > InvoiceCancelled:
		return fmt.Errorf("%w: state %d", ErrBadInvoiceRecord, r.State)
	case r.CreatedAt.UnixMilli() <= 0:
		return fmt.Errorf("%w: creation time %v", ErrBadInvoiceRecord, r.CreatedAt)
	case len(r.Text) == 0 || len(r.Text) > maxInvoiceText:
		return fmt.Errorf("%w: invoice text of %d bytes", ErrBadInvoiceRecord, len(r.Text))
	case len(r.HTLCs) > maxInvoiceHTLCs:
		return fmt.Errorf("%w: %d htlcs", ErrBadInvoiceRecord, len(r.HTLCs))
	}
	return nil
}

func (r *Invoice) marshal() []byte {
	b := make([]byte, 0, invoiceFixedLen+binary.MaxVarintLen64+len(r.HTLCs)*invoiceHTLCLen+len(r.Text))
	b = append(b, invoiceVersion, byte(r.State))
	b = binary.BigEndian.AppendUint64(b, r.Amount)
	b = binary.BigEndian.AppendUint64(b, unixMS(r.CreatedAt))
	b = binary.BigEndian.AppendUint64(b, unixMS(r.ExpiresAt))
	b = append(b, r.Secret[:]...)
	b = append(b, r.Preimage[:]...)
	b = binary.BigEndian.AppendUint64(b, r.Received)
	b = binary.BigEndian.AppendUint64(b, unixMS(r.PaidAt))
	b = appendUvarint(b, uint64(len(r.HTLCs)))
	for _, h := range r.HTLCs {
		b = append(b, h.Channel[:]...)
		b = binary.BigEndian.AppendUint64(b, h.ID)
		b = binary.BigEndian.AppendUint64(b, h.Amount)
	}
	return append(b, r.Text...)
}

// unmarshalInvoice decodes a record value; the hash comes from the key.
func unmarshalInvoice(hash [32]byte, b []byte) (*Invoice, error) {
	if len(b) < invoiceFixedLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadInvoiceRecord, len(b))
	}
	if b[0] != invoiceVersion {
		return nil, fmt.Errorf("%w: version %d", ErrBadInvoiceRecord, b[0])
	}
	r := &Invoice{Hash: hash, State: InvoiceState(b[1])}
	b = b[2:]
	u64 := func() uint64 {
		v := binary.BigEndian.Uint64(b)
		b = b[8:]
		return v
	}
	r.Amount = u64()
	created, expires := u64(), u64()
	if created > maxUnixMS || expires > maxUnixMS {
		return nil, fmt.Errorf("%w: time out of range", ErrBadInvoiceRecord)
	}
	r.CreatedAt, r.ExpiresAt = fromUnixMS(created), fromUnixMS(expires)
	copy(r.Secret[:], b)
	copy(r.Preimage[:], b[32:])
	b = b[64:]
	r.Received = u64()
	paid := u64()
	if paid > maxUnixMS {
		return nil, fmt.Errorf("%w: time out of range", ErrBadInvoiceRecord)
	}
	r.PaidAt = fromUnixMS(paid)
	n, k := uvarint(b)
	if k <= 0 || n > uint64(len(b)-k)/invoiceHTLCLen {
		return nil, fmt.Errorf("%w: htlc list", ErrBadInvoiceRecord)
	}
	b = b[k:]
	if n > 0 {
		r.HTLCs = make([]InvoiceHTLC, n)
	}
	for i := range r.HTLCs {
		copy(r.HTLCs[i].Channel[:], b)
		b = b[32:]
		r.HTLCs[i].ID = u64()
		r.HTLCs[i].Amount = u64()
	}
	r.Text = string(b)
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}

// AddInvoice records a new invoice, synced to disk before it returns. A
// second invoice with the same payment hash is refused with
// ErrInvoiceExists.
func (s *Store) AddInvoice(r *Invoice) error {
	if err := r.check(); err != nil {
		return err
	}
	err := s.db.Update(func(txn *badger.Txn) error {
		_, err := txn.Get(invoiceKey(r.Hash))
		if err == nil {
			return fmt.Errorf("%w: %x", ErrInvoiceExists, r.Hash)
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if err := txn.Set(invoiceKey(r.Hash), r.marshal()); err != nil {
			return err
		}
		return txn.Set(invoiceTimeKey(r.CreatedAt, r.Hash), nil)
	})
	if err != nil {
		return fmt.Errorf("store: add invoice: %w", err)
	}
	return nil
}

// UpdateInvoice overwrites an existing invoice (its state, amount received,
// paid-at time and HTLCs), synced to disk before it returns. The creation
// time, which the time index is keyed by, must not change.
func (s *Store) UpdateInvoice(r *Invoice) error {
	if err := r.check(); err != nil {
		return err
	}
	err := s.db.Update(func(txn *badger.Txn) error {
		old, err := getInvoice(txn, r.Hash)
		if err != nil {
			return err
		}
		if !old.CreatedAt.Equal(r.CreatedAt) {
			return fmt.Errorf("%w: creation time changed from %v to %v", ErrBadInvoiceRecord, old.CreatedAt, r.CreatedAt)
		}
		return txn.Set(invoiceKey(r.Hash), r.marshal())
	})
	if err != nil {
		return fmt.Errorf("store: update invoice: %w", err)
	}
	return nil
}

func getInvoice(txn *badger.Txn, hash [32]byte) (*Invoice, error) {
	item, err := txn.Get(invoiceKey(hash))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: %x", ErrNoInvoice, hash)
	}
	if err != nil {
		return nil, err
	}
	var r *Invoice
	err = item.Value(func(v []byte) error {
		r, err = unmarshalInvoice(hash, v)
		return err
	})
	return r, err
}

// Invoice returns the invoice with the payment hash, or ErrNoInvoice.
func (s *Store) Invoice(hash [32]byte) (*Invoice, error) {
	var r *Invoice
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		r, err = getInvoice(txn, hash)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: invoice: %w", err)
	}
	return r, nil
}

// Invoices returns up to limit invoices, newest first (all of them when
// limit <= 0).
func (s *Store) Invoices(limit int) ([]*Invoice, error) {
	var out []*Invoice
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Reverse = true
		opts.Prefix = prefixInvoiceTime
		it := txn.NewIterator(opts)
		defer it.Close()
		seek := append(append([]byte(nil), prefixInvoiceTime...), make([]byte, invoiceIndexTail)...)
		for i := len(prefixInvoiceTime); i < len(seek); i++ {
			seek[i] = 0xff
		}
		for it.Seek(seek); it.Valid(); it.Next() {
			if limit > 0 && len(out) == limit {
				break
			}
			k := it.Item().Key()
			if len(k) != len(prefixInvoiceTime)+invoiceIndexTail {
				return fmt.Errorf("%w: index key of %d bytes", ErrBadInvoiceRecord, len(k))
			}
			r, err := getInvoice(txn, [32]byte(k[len(k)-32:]))
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list invoices: %w", err)
	}
	return out, nil
}

// ForEachInvoice calls fn for every invoice in payment-hash order, stopping
// at fn's first error.
func (s *Store) ForEachInvoice(fn func(*Invoice) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefixInvoice
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != len(prefixInvoice)+32 {
				return fmt.Errorf("store: %w: key of %d bytes", ErrBadInvoiceRecord, len(k))
			}
			var r *Invoice
			err := it.Item().Value(func(v []byte) error {
				var err error
				r, err = unmarshalInvoice([32]byte(k[len(prefixInvoice):]), v)
				return err
			})
			if err != nil {
				return fmt.Errorf("store: invoice %x: %w", k[len(prefixInvoice):], err)
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// InvoiceHashes returns the payment hashes of the invoices whose hash
// starts with prefix, in order, at most limit of them (all when limit <= 0).
// It reads keys only.
func (s *Store) InvoiceHashes(prefix []byte, limit int) ([][32]byte, error) {
	var out [][32]byte
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = append(append([]byte(nil), prefixInvoice...), prefix...)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if limit > 0 && len(out) == limit {
				break
			}
			k := it.Item().Key()
			if len(k) != len(prefixInvoice)+32 {
				return fmt.Errorf("%w: key of %d bytes", ErrBadInvoiceRecord, len(k))
			}
			out = append(out, [32]byte(k[len(prefixInvoice):]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: invoice hashes: %w", err)
	}
	return out, nil
}
