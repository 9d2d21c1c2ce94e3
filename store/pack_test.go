package store

import (
	"bytes"
	"math/rand"
	"testing"
)

func TestPackRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for iter := 0; iter < 2000; iter++ {
		n := r.Intn(50)
		var recs [][]byte
		for range n {
			l := r.Intn(40)
			if r.Intn(20) == 0 {
				l = r.Intn(200 << 10)
			}
			b := make([]byte, l)
			r.Read(b)
			if l > 0 && r.Intn(5) == 0 {
				b[0] = 0
			}
			recs = append(recs, b)
		}
		var got [][]byte
		for _, v := range packRecords(recs) {
			var err error
			if got, err = unpackRecords(got, v); err != nil {
				t.Fatal(err)
			}
			if len(v) > groupBytes+1+10 && !(len(v) > 0 && v[0] != 0) {
				// a group larger than groupBytes must hold a single record
				g, _ := unpackRecords(nil, v)
				if len(g) != 1 {
					t.Fatalf("group of %d bytes with %d records", len(v), len(g))
				}
			}
		}
		if len(got) != len(recs) {
			t.Fatalf("%d records back, want %d", len(got), len(recs))
		}
		for i := range recs {
			if !bytes.Equal(got[i], recs[i]) {
				t.Fatalf("record %d differs", i)
			}
		}
	}
	if _, err := unpackRecords(nil, []byte{0, 5, 1}); err == nil {
		t.Fatal("truncated group accepted")
	}
}

func FuzzUnpackRecords(f *testing.F) {
	f.Add(packRecords([][]byte{{1, 2}, {3}, nil, {0, 9}})[0])
	f.Add([]byte{0, 5, 1})
	f.Add([]byte{7})
	f.Fuzz(func(t *testing.T, v []byte) {
		recs, err := unpackRecords(nil, v)
		if err != nil {
			return
		}
		// What decodes re-encodes to records that decode the same.
		var again [][]byte
		for _, w := range packRecords(recs) {
			if again, err = unpackRecords(again, w); err != nil {
				t.Fatal(err)
			}
		}
		if len(again) != len(recs) {
			t.Fatalf("%d records, then %d", len(recs), len(again))
		}
		for i := range recs {
			if !bytes.Equal(again[i], recs[i]) {
				t.Fatalf("record %d differs", i)
			}
		}
	})
}
