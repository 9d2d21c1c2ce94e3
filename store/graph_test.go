package store

import (
	"bytes"
	"errors"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

func TestGraphRecordsRoundTripAndOrder(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	g := s.Graph()
	recs := []GraphRecord{
		{Kind: GraphNode, Node: []byte("node-b"), Time: 5, Data: []byte("nb")},
		{Kind: GraphChannel, Short: 300, Time: 1, Data: []byte("c300")},
		{Kind: GraphChannel, Short: 2, Time: 2, Data: []byte("c2")},
		{Kind: GraphUpdate, Short: 2, Dir: 1, Time: 3, Data: []byte("u2/1")},
		{Kind: GraphUpdate, Short: 2, Dir: 0, Time: 4, Data: []byte("u2/0")},
		{Kind: GraphClosed, Short: 300, Time: 6, Data: []byte("x300")},
		{Kind: GraphNode, Node: []byte("node-a"), Time: 7, Data: []byte("na")},
	}
	b := g.Batch()
	for _, r := range recs {
		if err := b.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	// A newer update replaces the older one under the same key.
	if err := b.Put(GraphRecord{Kind: GraphUpdate, Short: 2, Dir: 0, Time: 9, Data: []byte("u2/0 new")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g = s.Graph()
	want := map[GraphKind][]string{
		GraphChannel: {"c2", "c300"},
		GraphUpdate:  {"u2/0 new", "u2/1"},
		GraphClosed:  {"x300"},
		GraphNode:    {"na", "nb"},
	}
	for _, kind := range GraphKinds {
		var got []string
		err := g.Each(kind, func(r GraphRecord) error {
			if r.Kind != kind {
				t.Errorf("record of kind %d in a scan of %d", r.Kind, kind)
			}
			got = append(got, string(r.Data))
			return nil
		}, func(k []byte, err error) { t.Errorf("bad record %q: %v", k, err) })
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want[kind]) {
			t.Fatalf("kind %d: %q, want %q", kind, got, want[kind])
		}
		for i := range got {
			if got[i] != want[kind][i] {
				t.Fatalf("kind %d: %q, want %q", kind, got, want[kind])
			}
		}
	}
	r, ok, err := g.Get(GraphRecord{Kind: GraphUpdate, Short: 2, Dir: 0})
	if err != nil || !ok || r.Time != 9 || string(r.Data) != "u2/0 new" {
		t.Fatalf("Get update: %+v %v %v", r, ok, err)
	}

	// Deleting a channel removes its announcement, updates and closed notice.
	b = g.Batch()
	if err := b.DeleteChannel(2); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteNode([]byte("node-a")); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, q := range []GraphRecord{{Kind: GraphChannel, Short: 2}, {Kind: GraphUpdate, Short: 2, Dir: 1}, {Kind: GraphNode, Node: []byte("node-a")}} {
		if _, ok, err := g.Get(q); ok || err != nil {
			t.Fatalf("%+v survived deletion (%v)", q, err)
		}
	}
	if _, ok, _ := g.Get(GraphRecord{Kind: GraphChannel, Short: 300}); !ok {
		t.Fatal("deleting channel 2 removed channel 300")
	}
}

func TestGraphBadRecords(t *testing.T) {
	s, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g := s.Graph()
	b := g.Batch()
	defer b.Cancel()
	for _, r := range []GraphRecord{
		{Kind: 0, Data: []byte("x")},
		{Kind: 9, Data: []byte("x")},
		{Kind: GraphUpdate, Dir: 2, Data: []byte("x")},
		{Kind: GraphNode, Data: []byte("x")},
		{Kind: GraphNode, Node: bytes.Repeat([]byte{1}, MaxGraphNodeID+1), Data: []byte("x")},
		{Kind: GraphChannel, Short: 1},
	} {
		if err := b.Put(r); !errors.Is(err, ErrBadGraphRecord) {
			t.Errorf("Put(%+v) = %v, want ErrBadGraphRecord", r, err)
		}
	}
	// A garbled value is reported and skipped, not fatal.
	if err := s.DB().Update(func(txn *badger.Txn) error {
		return txn.Set([]byte("graph/c/\x00\x00\x00\x00\x00\x00\x00\x01"), []byte("short"))
	}); err != nil {
		t.Fatal(err)
	}
	var bad int
	err = g.Each(GraphChannel, func(GraphRecord) error { t.Fatal("garbled record returned"); return nil }, func([]byte, error) { bad++ })
	if err != nil || bad != 1 {
		t.Fatalf("Each over a garbled record: %v, %d reported", err, bad)
	}
	if err := g.DeleteKey([]byte("meta/schema")); !errors.Is(err, ErrBadGraphRecord) {
		t.Fatalf("DeleteKey outside the namespace: %v", err)
	}
	if err := g.DeleteKey([]byte("graph/c/\x00\x00\x00\x00\x00\x00\x00\x01")); err != nil {
		t.Fatal(err)
	}
}

// FuzzGraphRecord checks that any stored key and value either decode into a
// record that encodes back to the same bytes or are refused as bad.
func FuzzGraphRecord(f *testing.F) {
	f.Add(uint8(GraphUpdate), []byte("\x00\x00\x00\x00\x00\x00\x00\x02\x01"), []byte("\x00\x00\x00\x00\x00\x00\x00\x09data"))
	f.Add(uint8(GraphNode), []byte("node"), []byte("\x00\x00\x00\x00\x00\x00\x00\x01x"))
	f.Add(uint8(GraphChannel), []byte("short"), []byte("v"))
	f.Fuzz(func(t *testing.T, kind uint8, rest, val []byte) {
		k := GraphKind(kind%4 + 1)
		key := append(append([]byte(nil), graphPrefixes[k]...), rest...)
		r, err := decodeGraphRecord(k, key, val)
		if err != nil {
			if !errors.Is(err, ErrBadGraphRecord) {
				t.Fatalf("error %v does not wrap ErrBadGraphRecord", err)
			}
			return
		}
		k2, err := r.key()
		if err != nil {
			t.Fatalf("decoded record %+v has no key: %v", r, err)
		}
		if !bytes.Equal(k2, key) || !bytes.Equal(r.value(), val) {
			t.Fatalf("round trip: key %q → %q, value %q → %q", key, k2, val, r.value())
		}
	})
}
