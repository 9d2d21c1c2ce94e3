package channel

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/paymesh/paymesh/protocol/wire"
)

// hostilePair is a channel where the acceptor (the peer under test's
// control) has little money: balance 4 500 after offering HTLC 0 (500);
// the opener offered HTLC 0 (1 000, preimage label 1). Both are co-signed.
func hostilePair(t fataler) *pair {
	p := testParams()
	p.AcceptorDeposit, p.Push = 5_000, 0
	p.Limits[Acceptor].MaxInFlight = 3_000
	pr := newPair(t, p)
	pr.add(Opener, 1_000, 1)
	pr.add(Acceptor, 500, 2)
	if err := pr.settle(); err != nil {
		t.Fatalf("settle: %v", err)
	}
	return pr
}

func addMsg(p *pair, index, htlcID, amount uint64, expiry time.Time) *wire.ChanMessage {
	_, hash := preimageFor(100 + index)
	id := p.n[0].m.ID()
	return &wire.ChanMessage{ChannelId: id[:], Body: &wire.ChanMessage_Add{Add: &wire.ChanAddHTLC{
		UpdateIndex: index, HtlcId: htlcID, Amount: amount, PaymentHash: hash[:],
		ExpiryUnixMs: expiry.UnixMilli(), Onion: []byte("o"),
	}}}
}

func fulfillMsg(p *pair, index, htlcID uint64, pre Hash) *wire.ChanMessage {
	id := p.n[0].m.ID()
	return &wire.ChanMessage{ChannelId: id[:], Body: &wire.ChanMessage_Fulfill{Fulfill: &wire.ChanFulfillHTLC{
		UpdateIndex: index, HtlcId: htlcID, Preimage: pre[:],
	}}}
}

// acceptorCommit has the acceptor add an HTLC and propose it; the add is
// delivered to the opener, the commit returned undelivered.
func acceptorCommit(t *testing.T, p *pair) *wire.ChanMessage {
	p.add(Acceptor, 100, 3)
	if err := p.deliverAll(Opener); err != nil {
		t.Fatal(err)
	}
	out, err := p.n[1].m.Commit()
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("commit: %v, %d messages", err, len(out.Messages))
	}
	p.n[1].store = append(p.n[1].store, out.Records...)
	return proto.Clone(out.Messages[0]).(*wire.ChanMessage)
}

func TestHostileMessages(t *testing.T) {
	good, _ := preimageFor(1)
	tests := []struct {
		name string
		// build prepares the pair and returns the message the opener gets.
		build func(t *testing.T, p *pair) *wire.ChanMessage
		want  error
	}{
		{"bad signature", func(t *testing.T, p *pair) *wire.ChanMessage {
			m := acceptorCommit(t, p)
			m.GetCommit().Sig[3] ^= 1
			return m
		}, ErrBadSignature},
		{"state hash not matching the updates", func(t *testing.T, p *pair) *wire.ChanMessage {
			m := acceptorCommit(t, p)
			m.GetCommit().StateHash[0] ^= 1
			return m
		}, ErrStateMismatch},
		{"commit names updates never sent", func(t *testing.T, p *pair) *wire.ChanMessage {
			m := acceptorCommit(t, p)
			m.GetCommit().AcceptorUpdates++
			return m
		}, ErrBadSequence},
		{"skipped sequence", func(t *testing.T, p *pair) *wire.ChanMessage {
			m := acceptorCommit(t, p)
			m.GetCommit().Seq++
			return m
		}, ErrBadSequence},
		{"replayed commit", func(t *testing.T, p *pair) *wire.ChanMessage {
			m := acceptorCommit(t, p)
			if _, err := p.n[0].m.Step(proto.Clone(m).(*wire.ChanMessage), p.now); err != nil {
				t.Fatal(err)
			}
			return m
		}, ErrBadSequence},
		{"countersignature without proposal", func(t *testing.T, p *pair) *wire.ChanMessage {
			id := p.n[0].m.ID()
			return &wire.ChanMessage{ChannelId: id[:], Body: &wire.ChanMessage_Countersign{Countersign: &wire.ChanCountersign{
				Seq: p.n[0].m.State().State.Seq + 1, StateHash: make([]byte, 32), Sig: make([]byte, 64)}}}
		}, ErrBadSequence},
		{"final state while HTLCs pending", func(t *testing.T, p *pair) *wire.ChanMessage {
			m := acceptorCommit(t, p)
			m.GetCommit().Final = true
			return m
		}, ErrUnexpected},
		{"amount over balance", func(t *testing.T, p *pair) *wire.ChanMessage {
			return addMsg(p, 2, 1, 4_501, p.now.Add(time.Minute))
		}, ErrInsufficientBalance},
		{"amount eating the reserve", func(t *testing.T, p *pair) *wire.ChanMessage {
			return addMsg(p, 2, 1, 4_450, p.now.Add(time.Minute))
		}, ErrInsufficientBalance},
		{"amount over max HTLC", func(t *testing.T, p *pair) *wire.ChanMessage {
			return addMsg(p, 2, 1, 10_001, p.now.Add(time.Minute))
		}, ErrLimit},
		{"amount under min HTLC", func(t *testing.T, p *pair) *wire.ChanMessage {
			return addMsg(p, 2, 1, 0, p.now.Add(time.Minute))
		}, ErrLimit},
		{"over max in flight", func(t *testing.T, p *pair) *wire.ChanMessage {
			if _, err := p.n[0].m.Step(addMsg(p, 2, 1, 2_000, p.now.Add(time.Minute)), p.now); err != nil {
				t.Fatal(err)
			}
			return addMsg(p, 3, 2, 600, p.now.Add(time.Minute))
		}, ErrLimit},
		{"over max pending", func(t *testing.T, p *pair) *wire.ChanMessage {
			for i := uint64(1); i < 30; i++ {
				if _, err := p.n[0].m.Step(addMsg(p, i+1, i, 1, p.now.Add(time.Minute)), p.now); err != nil {
					t.Fatal(err)
				}
			}
			return addMsg(p, 31, 30, 1, p.now.Add(time.Minute))
		}, ErrLimit},
		{"duplicate HTLC id", func(t *testing.T, p *pair) *wire.ChanMessage {
			return addMsg(p, 2, 0, 10, p.now.Add(time.Minute))
		}, ErrDuplicateHTLC},
		{"replayed update", func(t *testing.T, p *pair) *wire.ChanMessage {
			return addMsg(p, 1, 1, 10, p.now.Add(time.Minute))
		}, ErrBadSequence},
		{"expired HTLC", func(t *testing.T, p *pair) *wire.ChanMessage {
			return addMsg(p, 2, 1, 10, p.now.Add(-2*time.Hour)) // beyond the 1 h grace
		}, ErrExpired},
		{"expiry too far ahead", func(t *testing.T, p *pair) *wire.ChanMessage {
			m := addMsg(p, 2, 1, 10, p.now)
			m.GetAdd().ExpiryUnixMs = math.MaxInt64
			return m
		}, ErrLimit},
		{"wrong preimage", func(t *testing.T, p *pair) *wire.ChanMessage {
			bad := good
			bad[0] ^= 1
			return fulfillMsg(p, 2, 0, bad)
		}, ErrBadPreimage},
		{"fulfill after expiry", func(t *testing.T, p *pair) *wire.ChanMessage {
			p.now = p.now.Add(time.Minute + time.Hour + time.Millisecond)
			return fulfillMsg(p, 2, 0, good)
		}, ErrExpired},
		{"fulfill of unknown HTLC", func(t *testing.T, p *pair) *wire.ChanMessage {
			return fulfillMsg(p, 2, 7, good)
		}, ErrUnknownHTLC},
		{"fulfill of an HTLC not co-signed yet", func(t *testing.T, p *pair) *wire.ChanMessage {
			p.add(Opener, 10, 5)
			pre, _ := preimageFor(5)
			return fulfillMsg(p, 2, 1, pre)
		}, ErrUnknownHTLC},
		{"fulfill twice", func(t *testing.T, p *pair) *wire.ChanMessage {
			if _, err := p.n[0].m.Step(fulfillMsg(p, 2, 0, good), p.now); err != nil {
				t.Fatal(err)
			}
			return fulfillMsg(p, 3, 0, good)
		}, ErrAlreadyResolved},
		{"add after shutdown", func(t *testing.T, p *pair) *wire.ChanMessage {
			id := p.n[0].m.ID()
			out, err := p.n[0].m.Step(&wire.ChanMessage{ChannelId: id[:], Body: &wire.ChanMessage_Shutdown{
				Shutdown: &wire.ChanShutdown{UpdatesSent: 1}}}, p.now)
			if err != nil || !p.n[0].m.Closing() || len(out.Messages) != 1 {
				t.Fatalf("shutdown: %v", err)
			}
			return addMsg(p, 2, 1, 10, p.now.Add(time.Minute))
		}, ErrClosing},
		{"unknown channel", func(t *testing.T, p *pair) *wire.ChanMessage {
			m := addMsg(p, 2, 1, 10, p.now.Add(time.Minute))
			m.ChannelId = bytes.Repeat([]byte{9}, 32)
			return m
		}, ErrUnknownChannel},
		{"garbled payment hash", func(t *testing.T, p *pair) *wire.ChanMessage {
			m := addMsg(p, 2, 1, 10, p.now.Add(time.Minute))
			m.GetAdd().PaymentHash = m.GetAdd().PaymentHash[:5]
			return m
		}, ErrBadMessage},
		{"oversized onion", func(t *testing.T, p *pair) *wire.ChanMessage {
			m := addMsg(p, 2, 1, 10, p.now.Add(time.Minute))
			m.GetAdd().Onion = make([]byte, MaxOnionSize+1)
			return m
		}, ErrBadMessage},
		{"empty message", func(t *testing.T, p *pair) *wire.ChanMessage {
			id := p.n[0].m.ID()
			return &wire.ChanMessage{ChannelId: id[:]}
		}, ErrBadMessage},
		{"re-establish without reconnect", func(t *testing.T, p *pair) *wire.ChanMessage {
			id := p.n[0].m.ID()
			return &wire.ChanMessage{ChannelId: id[:], Body: &wire.ChanMessage_Reestablish{Reestablish: &wire.ChanReestablish{}}}
		}, ErrUnexpected},
		{"message while disconnected", func(t *testing.T, p *pair) *wire.ChanMessage {
			p.n[0].m.Disconnect()
			return addMsg(p, 2, 1, 10, p.now.Add(time.Minute))
		}, ErrNotConnected},
		{"open on an existing channel", func(t *testing.T, p *pair) *wire.ChanMessage {
			id := p.n[0].m.ID()
			return &wire.ChanMessage{ChannelId: id[:], Body: &wire.ChanMessage_Open{Open: p.n[0].m.params.openMsg(nil)}}
		}, ErrUnexpected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := hostilePair(t)
			msg := tt.build(t, p)
			m := p.n[0].m
			before := fingerprint(m)
			out, err := m.Step(msg, p.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !out.Empty() {
				t.Fatalf("output on error: %+v", out)
			}
			if !bytes.Equal(before, fingerprint(m)) {
				t.Fatal("machine changed on error")
			}
			checkInvariants(t, m)
		})
	}
}

// TestHugeAmount: amounts near 2^64 do not overflow the balance check.
func TestHugeAmount(t *testing.T) {
	params := testParams()
	params.Limits[Acceptor].MaxHTLC, params.Limits[Acceptor].MaxInFlight = math.MaxUint64, math.MaxUint64
	p := newPair(t, params)
	m := p.n[0].m
	if _, err := m.Step(addMsg(p, 1, 0, 1_000, p.now.Add(time.Minute)), p.now); err != nil {
		t.Fatal(err)
	}
	before := fingerprint(m)
	if _, err := m.Step(addMsg(p, 2, 1, math.MaxUint64-500, p.now.Add(time.Minute)), p.now); !errors.Is(err, ErrInsufficientBalance) {
		t.Fatalf("huge add: %v", err)
	}
	if !bytes.Equal(before, fingerprint(m)) {
		t.Fatal("changed on error")
	}
}

// TestLocalRules checks what the local side may not do.
func TestLocalRules(t *testing.T) {
	p := hostilePair(t)
	a, b := p.n[0].m, p.n[1].m
	_, hash := preimageFor(9)
	if _, _, err := b.AddHTLC(4_500, hash, p.now.Add(time.Minute), nil, p.now); !errors.Is(err, ErrInsufficientBalance) {
		t.Errorf("over balance: %v", err)
	}
	if _, _, err := a.AddHTLC(10, hash, p.now, nil, p.now); !errors.Is(err, ErrExpired) {
		t.Errorf("expired add: %v", err)
	}
	pre2, _ := preimageFor(2)
	if _, err := a.Fulfill(0, pre2, p.now.Add(time.Minute)); !errors.Is(err, ErrExpired) {
		t.Errorf("fulfill at expiry: %v", err)
	}
	if _, err := a.Fulfill(0, Hash{}, p.now); !errors.Is(err, ErrBadPreimage) {
		t.Errorf("wrong preimage: %v", err)
	}
	if _, err := a.Fulfill(5, pre2, p.now); !errors.Is(err, ErrUnknownHTLC) {
		t.Errorf("unknown HTLC: %v", err)
	}
	if got := b.OfferedExpired(p.now.Add(time.Minute + time.Hour + time.Millisecond)); len(got) != 1 || got[0].ID != 0 || got[0].Offerer != Acceptor {
		t.Errorf("offered expired: %+v", got)
	}
	if got := b.OfferedExpired(p.now.Add(time.Minute + time.Hour)); len(got) != 0 {
		t.Errorf("offered expired within grace: %+v", got)
	}
	// An expired HTLC can still be failed, once.
	p.now = p.now.Add(2 * time.Minute)
	out, err := a.FailHTLC(0, []byte("expired"))
	p.must(Opener, out, err)
	if _, err := a.FailHTLC(0, nil); !errors.Is(err, ErrAlreadyResolved) {
		t.Errorf("fail twice: %v", err)
	}
	out, err = b.StartClose()
	p.must(Acceptor, out, err)
	if _, _, err := b.AddHTLC(10, hash, p.now.Add(time.Minute), nil, p.now); !errors.Is(err, ErrClosing) {
		t.Errorf("add while closing: %v", err)
	}
}

// TestConcurrentCommits: both sides propose the same sequence; the
// opener's proposal wins, the acceptor's updates land in the next state.
func TestConcurrentCommits(t *testing.T) {
	p := newPair(t, testParams())
	p.add(Opener, 100, 1)
	p.add(Acceptor, 200, 2)
	for s := Side(0); s < 2; s++ {
		out, err := p.n[s].m.Commit()
		p.must(s, out, err)
	}
	// Both inboxes: the peer's add, then its commit for state 1.
	if err := p.deliverAll(Opener); err != nil { // ignores the acceptor's commit
		t.Fatal(err)
	}
	if err := p.deliverAll(Acceptor); err != nil { // drops its own, countersigns
		t.Fatal(err)
	}
	if err := p.deliverAll(Opener); err != nil {
		t.Fatal(err)
	}
	a, b := p.n[0].m.State(), p.n[1].m.State()
	// The opener proposed before it saw the acceptor's add.
	if a.State.Seq != 1 || a.Hash != b.Hash || a.State.Updates != [2]uint64{1, 0} {
		t.Fatalf("state 1: opener %d %v, acceptor %d", a.State.Seq, a.State.Updates, b.State.Seq)
	}
	if err := p.settle(); err != nil {
		t.Fatal(err)
	}
	a, b = p.n[0].m.State(), p.n[1].m.State()
	if a.Hash != b.Hash || len(a.State.HTLCs) != 2 {
		t.Fatalf("after settle: %d HTLCs, same %v", len(a.State.HTLCs), a.Hash == b.Hash)
	}
}

// TestCooperativeClose: close waits for pending HTLCs, then the final
// state is co-signed and settled through the bilateral-credit settlement.
func TestCooperativeClose(t *testing.T) {
	p := newPair(t, testParams())
	id := p.add(Opener, 700, 1)
	if err := p.settle(); err != nil {
		t.Fatal(err)
	}
	out, err := p.n[1].m.StartClose()
	p.must(Acceptor, out, err)
	if err := p.settle(); err != nil {
		t.Fatal(err)
	}
	if p.n[0].m.Closed() || !p.n[0].m.Closing() {
		t.Fatal("closed with an HTLC pending")
	}
	pre, _ := preimageFor(1)
	out, err = p.n[1].m.Fulfill(id, pre, p.now)
	p.must(Acceptor, out, err)
	if err := p.settle(); err != nil {
		t.Fatal(err)
	}
	for s := Side(0); s < 2; s++ {
		if !p.n[s].m.Closed() || len(eventsOf(p.n[s], EventClosed)) != 1 {
			t.Fatalf("%s not closed", s)
		}
	}
	final := p.n[0].m.State()
	if !final.State.Final || final.Hash != p.n[1].m.State().Hash {
		t.Fatal("final states differ")
	}
	credit := NewCredit()
	params := p.n[0].m.Params()
	if err := credit.Deposit(final.State.Channel, params.Keys[0], params.OpenerDeposit); err != nil {
		t.Fatal(err)
	}
	if err := credit.Deposit(final.State.Channel, params.Keys[1], params.AcceptorDeposit); err != nil {
		t.Fatal(err)
	}
	if err := credit.Settle(final.State.Channel, params.Keys, final); err != nil {
		t.Fatal(err)
	}
	if got := credit.Position(params.Keys[1]); got != 1_000+700 {
		t.Fatalf("acceptor position %d, want push + payment = 1700", got)
	}
	if err := credit.Settle(final.State.Channel, params.Keys, final); !errors.Is(err, ErrSettlement) {
		t.Fatalf("second settle: %v", err)
	}
	if _, err := p.n[0].m.Commit(); !errors.Is(err, ErrClosed) {
		t.Fatalf("commit after close: %v", err)
	}
}

// TestDivergence: a peer re-establishing with another history fails the
// channel; so does the peer's ChanError.
func TestDivergence(t *testing.T) {
	p := newPair(t, testParams())
	m := p.n[0].m
	m.Disconnect()
	m.Reconnect()
	id := m.ID()
	out, err := m.Step(&wire.ChanMessage{ChannelId: id[:], Body: &wire.ChanMessage_Reestablish{Reestablish: &wire.ChanReestablish{
		HasState: true, Seq: 0, StateHash: make([]byte, 32), Sig: make([]byte, 64)}}}, p.now)
	if err != nil || len(out.Events) != 1 || out.Events[0].Kind != EventFailed || !errors.Is(out.Events[0].Err, ErrDiverged) {
		t.Fatalf("diverged re-establish: %v %+v", err, out.Events)
	}
	if len(out.Records) != 1 || out.Records[0].Kind() != RecordFailed {
		t.Fatal("failure not persisted")
	}
	if _, _, err := m.AddHTLC(1, Hash{}, p.now.Add(time.Minute), nil, p.now); !errors.Is(err, ErrFailed) {
		t.Fatalf("add on failed channel: %v", err)
	}
	b := p.n[1].m
	out, err = b.Step(&wire.ChanMessage{ChannelId: id[:], Body: &wire.ChanMessage_Error{Error: &wire.ChanError{Reason: "bye"}}}, p.now)
	if err != nil || b.Failed() == nil || !errors.Is(out.Events[0].Err, ErrPeerFailed) {
		t.Fatalf("peer error: %v %v", err, b.Failed())
	}
}

// TestOpenReestablish: the acceptor's ChanAccept is lost; the opener
// completes the open from the acceptor's ChanReestablish. Then the
// opener's ChanOpen is lost altogether and re-sent on reconnect.
func TestOpenReestablish(t *testing.T) {
	cfgs := testConfigs()
	m0, out0, err := Open(cfgs[0], testParams())
	if err != nil {
		t.Fatal(err)
	}
	m1, out1, err := Accept(cfgs[1], out0.Messages[0])
	if err != nil {
		t.Fatal(err)
	}
	// Lost ChanAccept; both reconnect.
	m0.Disconnect()
	m1.Disconnect()
	r0, r1 := m0.Reconnect(), m1.Reconnect()
	if r0.Messages[0].GetOpen() == nil || r1.Messages[0].GetReestablish() == nil {
		t.Fatal("wrong reconnect messages")
	}
	out, err := m0.Step(r1.Messages[0], t0)
	if err != nil || m0.State() == nil || out.Events[0].Kind != EventOpened {
		t.Fatalf("opener not open after re-establish: %v", err)
	}
	out, err = m1.Step(r0.Messages[0], t0)
	if err != nil || len(out.Messages) != 1 || out.Messages[0].GetAccept() == nil {
		t.Fatalf("acceptor did not re-send its accept: %v", err)
	}
	if _, err := m0.Step(out.Messages[0], t0); err != nil {
		t.Fatalf("duplicate accept: %v", err)
	}
	_ = out1

	// Lost ChanOpen: the opener restores, reconnects, a fresh acceptor answers.
	_, out0, err = Open(cfgs[0], testParams())
	if err != nil {
		t.Fatal(err)
	}
	m0, err = Restore(cfgs[0], out0.Records)
	if err != nil {
		t.Fatal(err)
	}
	r0 = m0.Reconnect()
	m1, out1, err = Accept(cfgs[1], r0.Messages[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m0.Step(out1.Messages[0], t0); err != nil || m0.State() == nil {
		t.Fatalf("open after lost ChanOpen: %v", err)
	}
	if m0.State().Hash != m1.State().Hash {
		t.Fatal("opening states differ")
	}
}
