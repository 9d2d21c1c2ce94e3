package gossip

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// seeds returns valid encodings of every kind plus the bad ones.
func seeds(t testing.TB) [][]byte {
	ann := chanAnn(t, 1, 1, 2, 1_000_000)
	out := [][]byte{
		enc(t, nodeAnn(t, 1, t0)),
		enc(t, ann),
		enc(t, update(t, ann, 1, t0)),
		enc(t, update(t, ann, 2, t0)),
		enc(t, closedNotice(t, ann, 1, t0)),
	}
	for _, b := range badMessages(t) {
		out = append(out, b.data)
	}
	return out
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if m != nil {
				t.Fatal("message and error")
			}
			if r := ReasonOf(err); r != ReasonOversize && r != ReasonMalformed && r != ReasonOutOfBounds && r != ReasonBadSignature {
				t.Fatalf("reason %q", r)
			}
			return
		}
		// Only canonical encodings decode: encoding gives the input back.
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, data)
		}
		m2, err := Decode(b)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("second decode: %v", err)
		}
	})
}

func FuzzValidate(f *testing.F) {
	// A validator state built from stored messages (no signing per run).
	ann1 := chanAnn(f, 1, 1, 2, 1_000_000)
	ann2 := chanAnn(f, 2, 2, 3, 1_000_000)
	stored := [][]byte{enc(f, ann1), enc(f, ann2), enc(f, update(f, ann1, 1, t0.Add(-time.Hour))),
		enc(f, closedNotice(f, ann2, 2, t0.Add(-time.Hour)))}
	for _, s := range seeds(f) {
		f.Add(s, int64(0), uint8(0))
	}
	f.Add(enc(f, update(f, ann1, 2, t0)), int64(-1), uint8(1))
	f.Add(enc(f, chanAnn(f, 3, 3, 4, 5)), int64(1000), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, offsetMs int64, flags uint8) {
		cfg := Config{RejectUnknownChannel: flags&2 != 0, AcceptChannellessNodes: flags&4 != 0, MaxChannels: 3}
		v := newValidator(t, cfg)
		for _, s := range stored {
			if err := v.Restore(s, t0); err != nil {
				t.Fatal(err)
			}
		}
		src := Source(flags & 1)
		now := t0.Add(time.Duration(offsetMs%(1<<40)) * time.Millisecond)
		r := v.Validate(data, now, src)
		switch r.Verdict {
		case Accept:
			if r.Reason != "" || r.Err != nil || r.Message == nil {
				t.Fatalf("accept with %q %v %v", r.Reason, r.Err, r.Message)
			}
			if _, err := Decode(data); err != nil {
				t.Fatalf("accepted undecodable data: %v", err)
			}
			if again := v.Validate(data, now, src); again.Verdict == Accept {
				t.Fatal("accepted twice")
			}
		case Reject, Ignore:
			known := false
			for _, k := range Reasons() {
				known = known || k == r.Reason
			}
			if !known || r.Err == nil {
				t.Fatalf("%s with reason %q err %v", r.Verdict, r.Reason, r.Err)
			}
		default:
			t.Fatalf("verdict %d", r.Verdict)
		}
		v.Prune(now, 14*24*time.Hour)
	})
}

func FuzzSyncChunk(f *testing.F) {
	items := seeds(f)[:5]
	for _, fr := range pack(f, items, 2) {
		f.Add(fr)
	}
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeSyncChunk(data)
		if err != nil {
			return
		}
		b, err := c.Encode()
		if err != nil {
			t.Fatalf("decoded chunk does not encode: %v", err)
		}
		c2, err := DecodeSyncChunk(b)
		if err != nil || c2.Done != c.Done || c2.Total != c.Total || len(c2.Items) != len(c.Items) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range c.Items {
			if !bytes.Equal(c.Items[i], c2.Items[i]) {
				t.Fatalf("item %d differs", i)
			}
		}
	})
}

func FuzzSyncRequest(f *testing.F) {
	b, _ := SyncRequest{Since: t0.UnixMilli()}.Encode()
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeSyncRequest(data)
		if err != nil {
			return
		}
		b, err := r.Encode()
		if err != nil {
			t.Fatalf("decoded request does not encode: %v", err)
		}
		if r2, err := DecodeSyncRequest(b); err != nil || r2 != r {
			t.Fatalf("round trip %+v %+v %v", r, r2, err)
		}
	})
}

func FuzzSyncSession(f *testing.F) {
	items := seeds(f)[:5]
	for _, fr := range pack(f, items, 0) {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		s := NewSyncSession(newValidator(t, Config{}))
		res, _, err := s.Receive(frame, t0)
		if err == nil {
			for _, r := range res {
				if r.Verdict == Reject {
					t.Fatal("rejected item without error")
				}
			}
		}
		if uint64(len(res)) != s.Items() {
			t.Fatalf("%d results, %d items", len(res), s.Items())
		}
	})
}
