package channel

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/paymesh/paymesh/protocol/wire"
)

// fuzzPair is a channel in an interesting state: HTLCs co-signed both
// ways, an uncommitted add from the acceptor at the opener, and an opener
// proposal in flight.
func fuzzPair(t fataler) *pair {
	p := hostilePair(t)
	p.add(Acceptor, 100, 3)
	if err := p.deliverAll(Opener); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	p.add(Opener, 200, 4)
	out, err := p.n[0].m.Commit()
	p.must(Opener, out, err)
	return p
}

func FuzzStep(f *testing.F) {
	// Seeds: the messages of a real exchange, to both sides.
	seed := func(target byte, m *wire.ChanMessage) {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(target, b)
	}
	{
		p := fuzzPair(f)
		for s := Side(0); s < 2; s++ {
			for _, b := range p.n[s].inbox {
				f.Add(byte(s), b)
			}
		}
		pre, _ := preimageFor(1)
		seed(0, fulfillMsg(p, 3, 0, pre))
		seed(0, addMsg(p, 3, 2, 50, t0.Add(time.Minute)))
		id := p.n[0].m.ID()
		seed(0, &wire.ChanMessage{ChannelId: id[:], Body: &wire.ChanMessage_Shutdown{Shutdown: &wire.ChanShutdown{UpdatesSent: 2}}})
		seed(1, &wire.ChanMessage{ChannelId: id[:], Body: &wire.ChanMessage_Error{Error: &wire.ChanError{Reason: "x"}}})
		r := p.n[1].m.Reconnect()
		seed(0, r.Messages[0])
	}
	f.Fuzz(func(t *testing.T, target byte, data []byte) {
		msg := &wire.ChanMessage{}
		if err := proto.Unmarshal(data, msg); err != nil {
			return
		}
		p := fuzzPair(t)
		s := Side(target & 1)
		m := p.n[s].m
		if target&2 != 0 {
			// Also exercise the re-establish path.
			m.Disconnect()
			m.Reconnect()
		}
		before := fingerprint(m)
		out, err := m.Step(msg, p.now)
		if err != nil {
			if !out.Empty() {
				t.Fatalf("output with error %v", err)
			}
			if !bytes.Equal(before, fingerprint(m)) {
				t.Fatalf("machine changed on error %v", err)
			}
			return
		}
		checkInvariants(t, m)
		if cur := m.State(); cur != nil && m.Failed() == nil {
			if err := cur.Verify(m.Params().Keys); err != nil {
				t.Fatalf("co-signed state does not verify: %v", err)
			}
		}
		// What the machine asked to persist restores to the same state.
		p.exec(s, out)
		r, err := Restore(p.n[s].cfg, p.n[s].store)
		if err != nil {
			t.Fatalf("restore: %v", err)
		}
		if (r.State() == nil) != (m.State() == nil) || r.State() != nil && r.State().Hash != m.State().Hash {
			t.Fatal("restored state differs")
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	p := fuzzPair(f)
	f.Add(p.n[0].m.State().State.Encode())
	f.Add(p.n[0].m.prop.State.Encode())
	f.Add(p.n[0].m.params.openingState().Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := DecodeState(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// The encoding is canonical: decoding accepts exactly one form.
		if !bytes.Equal(st.Encode(), b) {
			t.Fatal("decode/encode is not the identity")
		}
	})
}

func FuzzRecord(f *testing.F) {
	p := fuzzPair(f)
	for _, r := range p.n[0].store {
		b, _ := r.Marshal()
		f.Add(b)
	}
	snap, _ := p.n[0].m.Snapshot().Marshal()
	f.Add(snap)
	cfg := p.n[0].cfg
	open := p.n[0].store[0]
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalRecord(b)
		if err != nil {
			return
		}
		// Alone (must be an open or a snapshot) and after the open record.
		for _, recs := range [][]Record{{r}, {open, r}} {
			m, err := Restore(cfg, recs)
			if err != nil {
				continue
			}
			checkInvariants(t, m)
		}
	})
}

// TestSnapshotRestore: a machine restored from its snapshot is the machine.
func TestSnapshotRestore(t *testing.T) {
	p := fuzzPair(t)
	for s := Side(0); s < 2; s++ {
		m := p.n[s].m
		b, err := m.Snapshot().Marshal()
		if err != nil {
			t.Fatal(err)
		}
		rec, err := UnmarshalRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		fromSnap, err := Restore(p.n[s].cfg, []Record{rec})
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		fromLog, err := Restore(p.n[s].cfg, p.n[s].store)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		m.Disconnect()
		m.persistR = m.logs[m.me.Other()].end() // the fingerprint compares persisted state only
		for _, r := range []*Machine{fromSnap, fromLog} {
			r.curByMe = m.curByMe
			if !bytes.Equal(fingerprint(r), fingerprint(m)) {
				t.Fatalf("%s: restored machine differs", s)
			}
		}
	}
	// A tampered log is refused, naming the record.
	store := append([]Record(nil), p.n[0].store...)
	last := proto.Clone(store[len(store)-1].pb).(*wire.ChanRecord)
	last.GetState().StateHash[0] ^= 1
	store[len(store)-1] = Record{last}
	if _, err := Restore(p.n[0].cfg, store); !errors.Is(err, ErrStateMismatch) {
		t.Fatalf("tampered log: %v", err)
	}
}
