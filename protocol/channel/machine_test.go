package channel

import (
	"bytes"
	"errors"
	"testing"
)

func eventsOf(n *node, kind EventKind) []Event {
	var es []Event
	for _, e := range n.events {
		if e.Kind == kind {
			es = append(es, e)
		}
	}
	return es
}

func TestOpen(t *testing.T) {
	p := newPair(t, testParams())
	for s := Side(0); s < 2; s++ {
		m := p.n[s].m
		if len(eventsOf(p.n[s], EventOpened)) != 1 {
			t.Fatalf("%s: opened events %v", s, p.n[s].events)
		}
		st := m.State()
		if st == nil || st.State.Seq != 0 || st.State.Balance != [2]uint64{99_000, 51_000} {
			t.Fatalf("%s: state %+v", s, st)
		}
		if err := st.Verify(m.Params().Keys); err != nil {
			t.Fatal(err)
		}
	}
	if p.n[0].m.State().Hash != p.n[1].m.State().Hash {
		t.Fatal("opening states differ")
	}
	id := p.n[0].m.ID()
	if id.ShortID() != uint64(id[0])<<56|uint64(id[1])<<48|uint64(id[2])<<40|uint64(id[3])<<32|
		uint64(id[4])<<24|uint64(id[5])<<16|uint64(id[6])<<8|uint64(id[7]) {
		t.Fatal("short id is not the big-endian prefix")
	}
}

func TestOpenRejects(t *testing.T) {
	cfgs := testConfigs()
	tests := []struct {
		name   string
		modify func(*Params)
		cfg    Config
		want   error
	}{
		{"wrong key", func(*Params) {}, cfgs[1], ErrBadParams},
		{"push above deposit", func(p *Params) { p.Push = p.OpenerDeposit + 1 }, cfgs[0], ErrBadParams},
		{"zero min htlc", func(p *Params) { p.Limits[1].MinHTLC = 0 }, cfgs[0], ErrBadParams},
		{"capacity overflow", func(p *Params) { p.OpenerDeposit, p.AcceptorDeposit = 1<<63, 1<<63 }, cfgs[0], ErrBadParams},
		{"same keys", func(p *Params) { p.Keys[1] = p.Keys[0] }, cfgs[0], ErrBadParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testParams()
			tt.modify(&p)
			if _, _, err := Open(tt.cfg, p); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// A forged opener signature is refused by the acceptor.
	_, out, err := Open(cfgs[0], testParams())
	if err != nil {
		t.Fatal(err)
	}
	out.Messages[0].GetOpen().Sig[0] ^= 1
	if _, _, err := Accept(cfgs[1], out.Messages[0]); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged open: %v", err)
	}
}

func TestAddFulfillFail(t *testing.T) {
	p := newPair(t, testParams())
	id0 := p.add(Opener, 1_000, 1)
	id1 := p.add(Opener, 2_000, 2)
	if err := p.settle(); err != nil {
		t.Fatal(err)
	}
	added := eventsOf(p.n[1], EventHTLCAdded)
	if len(added) != 2 || added[0].HTLC.ID != id0 || added[1].HTLC.ID != id1 || !bytes.Equal(added[0].HTLC.Onion, []byte("onion")) {
		t.Fatalf("acceptor added events: %+v", added)
	}
	pre, _ := preimageFor(1)
	out, err := p.n[1].m.Fulfill(id0, pre, p.now)
	p.must(Acceptor, out, err)
	out, err = p.n[1].m.FailHTLC(id1, []byte("no route"))
	p.must(Acceptor, out, err)
	if err := p.settle(); err != nil {
		t.Fatal(err)
	}
	ful := eventsOf(p.n[0], EventHTLCFulfilled)
	fail := eventsOf(p.n[0], EventHTLCFailed)
	if len(ful) != 1 || ful[0].Preimage != pre || len(fail) != 1 || string(fail[0].Reason) != "no route" {
		t.Fatalf("opener events: %+v", p.n[0].events)
	}
	for s := Side(0); s < 2; s++ {
		st := p.n[s].m.State().State
		if st.Balance != [2]uint64{98_000, 52_000} || len(st.HTLCs) != 0 {
			t.Fatalf("%s: balances %v, %d pending", s, st.Balance, len(st.HTLCs))
		}
		checkInvariants(t, p.n[s].m)
	}
	if p.n[0].m.State().Hash != p.n[1].m.State().Hash {
		t.Fatal("states differ")
	}
	// The last record of each side is the co-signed state it holds.
	for s := Side(0); s < 2; s++ {
		store := p.n[s].store
		last := store[len(store)-1]
		h, ok := last.StateHash()
		if last.Kind() != RecordCoSigned || !ok || h != p.n[s].m.State().Hash || last.Seq() != p.n[s].m.State().State.Seq {
			t.Fatalf("%s: last record %s seq %d", s, last.Kind(), last.Seq())
		}
	}
}

// TestProposing follows a proposal from Commit to its countersignature.
func TestProposing(t *testing.T) {
	p := newPair(t, testParams())
	a, b := p.n[Opener].m, p.n[Acceptor].m
	if a.Proposing() || b.Proposing() {
		t.Fatal("proposing right after the open")
	}
	p.add(Opener, 1_000, 1)
	if a.Proposing() {
		t.Fatal("proposing before Commit")
	}
	out, err := a.Commit()
	p.must(Opener, out, err)
	if !a.Proposing() {
		t.Fatal("not proposing after Commit")
	}
	// More updates while the proposal is out: Commit does nothing.
	p.add(Opener, 1_000, 2)
	if out, err := a.Commit(); err != nil || len(out.Records) != 0 || len(out.Messages) != 0 {
		t.Fatalf("second Commit while proposing: %+v %v", out, err)
	}
	if err := p.deliverAll(Acceptor); err != nil {
		t.Fatal(err)
	}
	if b.Proposing() {
		t.Fatal("acceptor proposing without a Commit")
	}
	if err := p.deliverAll(Opener); err != nil {
		t.Fatal(err)
	}
	if a.Proposing() {
		t.Fatal("still proposing after the countersignature")
	}
	if err := p.settle(); err != nil {
		t.Fatal(err)
	}
	if a.Proposing() || b.Proposing() || len(a.State().State.HTLCs) != 2 {
		t.Fatalf("after settling: proposing %v %v, %d HTLCs", a.Proposing(), b.Proposing(), len(a.State().State.HTLCs))
	}
}
