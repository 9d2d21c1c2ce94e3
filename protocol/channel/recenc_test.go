package channel

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/paymesh/paymesh/protocol/wire"
)

// genBytes draws a byte string that is nil, empty or up to max bytes.
func genBytes(t *rapid.T, label string, max int) []byte {
	switch rapid.IntRange(0, 2).Draw(t, label+"-shape") {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	return rapid.SliceOfN(rapid.Byte(), 1, max).Draw(t, label)
}

// genUint draws a uint64 biased to zero and to the varint length edges.
func genUint(t *rapid.T, label string) uint64 {
	return rapid.OneOf(rapid.Just(uint64(0)), rapid.Uint64Range(1, 300),
		rapid.Just(uint64(1<<63)), rapid.Uint64()).Draw(t, label)
}

func genUpdate(t *rapid.T) *wire.ChanUpdate {
	switch rapid.IntRange(0, 2).Draw(t, "kind") {
	case 0:
		return &wire.ChanUpdate{Kind: &wire.ChanUpdate_Add{Add: &wire.ChanAddHTLC{
			UpdateIndex: genUint(t, "index"), HtlcId: genUint(t, "id"), Amount: genUint(t, "amount"),
			PaymentHash: genBytes(t, "hash", 40), ExpiryUnixMs: int64(genUint(t, "expiry")),
			Onion: genBytes(t, "onion", 300),
		}}}
	case 1:
		return &wire.ChanUpdate{Kind: &wire.ChanUpdate_Fulfill{Fulfill: &wire.ChanFulfillHTLC{
			UpdateIndex: genUint(t, "index"), HtlcId: genUint(t, "id"), Preimage: genBytes(t, "pre", 40),
		}}}
	}
	return &wire.ChanUpdate{Kind: &wire.ChanUpdate_Fail{Fail: &wire.ChanFailHTLC{
		UpdateIndex: genUint(t, "index"), HtlcId: genUint(t, "id"), Reason: genBytes(t, "reason", 300),
	}}}
}

// TestRecordEncodingMatchesProto checks that the records encoded by hand
// are byte for byte what proto.Marshal makes of them, and that the others
// still go through proto.Marshal.
func TestRecordEncodingMatchesProto(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var pb *wire.ChanRecord
		if rapid.Bool().Draw(t, "state") {
			st := &wire.ChanRecordState{
				Seq: genUint(t, "seq"), OpenerUpdates: genUint(t, "ou"), AcceptorUpdates: genUint(t, "au"),
				Final: rapid.Bool().Draw(t, "final"), StateHash: genBytes(t, "sh", 40),
				OpenerSig: genBytes(t, "os", 70), AcceptorSig: genBytes(t, "as", 70),
			}
			for range rapid.IntRange(0, 5).Draw(t, "remote") {
				st.RemoteUpdates = append(st.RemoteUpdates, genUpdate(t))
			}
			pb = &wire.ChanRecord{Body: &wire.ChanRecord_State{State: st}}
		} else {
			pb = &wire.ChanRecord{Body: &wire.ChanRecord_Update{Update: genUpdate(t)}}
		}
		want, err := proto.Marshal(pb)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := recordSize(pb); !ok {
			t.Fatalf("record not encoded by hand: %v", pb)
		}
		got, err := Record{pb}.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("encoding of %v:\n got %x\nwant %x", pb, got, want)
		}
		back, err := UnmarshalRecord(got)
		if err != nil || !proto.Equal(back.pb, pb) {
			t.Fatalf("round trip of %v: %v %v", pb, back.pb, err)
		}
	})
}

func TestRecordEncodingFallback(t *testing.T) {
	withUnknown := &wire.ChanRecord{Body: &wire.ChanRecord_Update{Update: &wire.ChanUpdate{
		Kind: &wire.ChanUpdate_Fulfill{Fulfill: &wire.ChanFulfillHTLC{UpdateIndex: 1}}}}}
	withUnknown.GetUpdate().GetFulfill().ProtoReflect().SetUnknown([]byte{0x78, 0x01}) // field 15 = 1
	tests := []struct {
		name string
		pb   *wire.ChanRecord
	}{
		{"empty record", &wire.ChanRecord{}},
		{"empty update", &wire.ChanRecord{Body: &wire.ChanRecord_Update{Update: &wire.ChanUpdate{}}}},
		{"nil update", &wire.ChanRecord{Body: &wire.ChanRecord_Update{}}},
		{"nil add", &wire.ChanRecord{Body: &wire.ChanRecord_Update{Update: &wire.ChanUpdate{Kind: &wire.ChanUpdate_Add{}}}}},
		{"shutdown", recShutdown(7).pb},
		{"failed", recFailed("boom").pb},
		{"unknown field", withUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := recordSize(tt.pb); ok {
				t.Fatalf("encoded by hand")
			}
			want, err := proto.Marshal(tt.pb)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Record{tt.pb}.Marshal()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("got %x %v, want %x", got, err, want)
			}
		})
	}
}

// TestMarshalRecords checks that records marshalled together are each what
// Marshal makes of them alone, whether encoded by hand or not.
func TestMarshalRecords(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var recs []Record
		for range rapid.IntRange(0, 8).Draw(t, "n") {
			switch rapid.IntRange(0, 2).Draw(t, "which") {
			case 0:
				recs = append(recs, Record{&wire.ChanRecord{Body: &wire.ChanRecord_Update{Update: genUpdate(t)}}})
			case 1:
				st := &wire.ChanRecordState{Seq: genUint(t, "seq"), StateHash: genBytes(t, "sh", 40)}
				for range rapid.IntRange(0, 3).Draw(t, "remote") {
					st.RemoteUpdates = append(st.RemoteUpdates, genUpdate(t))
				}
				recs = append(recs, Record{&wire.ChanRecord{Body: &wire.ChanRecord_State{State: st}}})
			default:
				recs = append(recs, recShutdown(genUint(t, "at")))
			}
		}
		got, err := MarshalRecords(recs)
		if err != nil || len(got) != len(recs) {
			t.Fatalf("%d records: %d, %v", len(recs), len(got), err)
		}
		for i, r := range recs {
			want, err := r.Marshal()
			if err != nil || !bytes.Equal(got[i], want) {
				t.Fatalf("record %d: got %x, want %x (%v)", i, got[i], want, err)
			}
			if cap(got[i]) != len(got[i]) {
				t.Fatalf("record %d: capacity %d beyond its %d bytes", i, cap(got[i]), len(got[i]))
			}
		}
	})
}

// FuzzRecordEncoding checks, for any record that parses, that Marshal
// gives what proto.Marshal gives (encoded by hand or not).
func FuzzRecordEncoding(f *testing.F) {
	p := fuzzPair(f)
	for _, r := range p.n[0].store {
		b, _ := r.Marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalRecord(b)
		if err != nil {
			return
		}
		want, err := proto.Marshal(r.pb)
		if err != nil {
			return
		}
		got, err := r.Marshal()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("record %v: got %x (%v), want %x", r.pb, got, err, want)
		}
		all, err := MarshalRecords([]Record{r, r})
		if err != nil || !bytes.Equal(all[0], want) || !bytes.Equal(all[1], want) {
			t.Fatalf("record %v together: got %x (%v), want %x", r.pb, all, err, want)
		}
	})
}
