package store

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func testInvoice(i byte, created time.Time) *Invoice {
	return &Invoice{
		Hash:      [32]byte{i},
		Secret:    [32]byte{i, 1},
		Preimage:  [32]byte{i, 2},
		Amount:    uint64(i) * 100,
		CreatedAt: time.UnixMilli(created.UnixMilli()),
		ExpiresAt: time.UnixMilli(created.Add(time.Hour).UnixMilli()),
		State:     InvoiceOpen,
		Text:      "pm1test" + string('a'+rune(i)),
	}
}

func TestInvoicesPersistAndList(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	base := time.UnixMilli(1_700_000_000_000)
	var all []*Invoice
	for i := range byte(5) {
		// Inserted out of time order: the index must sort them.
		r := testInvoice(i+1, base.Add(time.Duration((i*3)%5)*time.Second))
		if err := s.AddInvoice(r); err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	if err := s.AddInvoice(testInvoice(1, base)); !errors.Is(err, ErrInvoiceExists) {
		t.Fatalf("duplicate AddInvoice: %v, want ErrInvoiceExists", err)
	}
	paid := *all[2]
	paid.State = InvoicePaid
	paid.Received = 310
	paid.PaidAt = time.UnixMilli(base.Add(time.Minute).UnixMilli())
	paid.HTLCs = []InvoiceHTLC{{Channel: [32]byte{9}, ID: 7, Amount: 300}, {Channel: [32]byte{8}, ID: 1<<64 - 1, Amount: 10}}
	if err := s.UpdateInvoice(&paid); err != nil {
		t.Fatal(err)
	}
	moved := paid
	moved.CreatedAt = moved.CreatedAt.Add(time.Millisecond)
	if err := s.UpdateInvoice(&moved); !errors.Is(err, ErrBadInvoiceRecord) {
		t.Fatalf("UpdateInvoice changing creation time: %v, want ErrBadInvoiceRecord", err)
	}
	if err := s.UpdateInvoice(testInvoice(42, base)); !errors.Is(err, ErrNoInvoice) {
		t.Fatalf("UpdateInvoice of unknown invoice: %v, want ErrNoInvoice", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Invoice(paid.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, &paid) {
		t.Fatalf("after reopen:\n got %+v\nwant %+v", got, &paid)
	}
	if _, err := s.Invoice([32]byte{42}); !errors.Is(err, ErrNoInvoice) {
		t.Fatalf("unknown invoice: %v, want ErrNoInvoice", err)
	}

	tests := []struct {
		limit int
		want  []byte // first hash byte, newest first
	}{
		{0, []byte{4, 2, 5, 3, 1}},
		{-1, []byte{4, 2, 5, 3, 1}},
		{2, []byte{4, 2}},
		{5, []byte{4, 2, 5, 3, 1}},
		{9, []byte{4, 2, 5, 3, 1}},
	}
	for _, tt := range tests {
		list, err := s.Invoices(tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var hashes []byte
		for _, r := range list {
			hashes = append(hashes, r.Hash[0])
		}
		if !reflect.DeepEqual(hashes, tt.want) {
			t.Errorf("Invoices(%d) = %v, want %v", tt.limit, hashes, tt.want)
		}
	}

	hashTests := []struct {
		prefix []byte
		limit  int
		want   int
	}{
		{nil, 0, 5},
		{nil, 3, 3},
		{[]byte{2}, 0, 1},
		{[]byte{2, 0}, 0, 1},
		{[]byte{2, 1}, 0, 0},
		{[]byte{9}, 0, 0},
	}
	for _, tt := range hashTests {
		hs, err := s.InvoiceHashes(tt.prefix, tt.limit)
		if err != nil || len(hs) != tt.want {
			t.Errorf("InvoiceHashes(%x, %d) = %d hashes, %v; want %d", tt.prefix, tt.limit, len(hs), err, tt.want)
		}
		for _, h := range hs {
			if string(h[:len(tt.prefix)]) != string(tt.prefix) {
				t.Errorf("InvoiceHashes(%x) returned %x", tt.prefix, h)
			}
		}
	}

	var seen int
	var states []InvoiceState
	if err := s.ForEachInvoice(func(r *Invoice) error {
		seen++
		states = append(states, r.State)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen != 5 || states[2] != InvoicePaid {
		t.Fatalf("ForEachInvoice saw %d invoices with states %v", seen, states)
	}
	stop := errors.New("stop")
	if err := s.ForEachInvoice(func(*Invoice) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("ForEachInvoice error: %v", err)
	}
}

func TestInvoiceRecordRejects(t *testing.T) {
	s, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := time.UnixMilli(1_700_000_000_000)
	tests := []struct {
		name string
		edit func(*Invoice)
	}{
		{"no state", func(r *Invoice) { r.State = 0 }},
		{"unknown state", func(r *Invoice) { r.State = 9 }},
		{"no text", func(r *Invoice) { r.Text = "" }},
		{"no creation time", func(r *Invoice) { r.CreatedAt = time.Time{} }},
	}
	for _, tt := range tests {
		r := testInvoice(1, base)
		tt.edit(r)
		if err := s.AddInvoice(r); !errors.Is(err, ErrBadInvoiceRecord) {
			t.Errorf("%s: AddInvoice = %v, want ErrBadInvoiceRecord", tt.name, err)
		}
	}
}

func FuzzUnmarshalInvoice(f *testing.F) {
	r := testInvoice(3, time.UnixMilli(1_700_000_000_000))
	f.Add(r.marshal())
	r.State = InvoicePaid
	r.HTLCs = []InvoiceHTLC{{Channel: [32]byte{1}, ID: 2, Amount: 3}}
	f.Add(r.marshal())
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := unmarshalInvoice([32]byte{7}, b)
		if err != nil {
			return
		}
		again, err := unmarshalInvoice([32]byte{7}, r.marshal())
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", r, again)
		}
	})
}
