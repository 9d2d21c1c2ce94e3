package channel

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/paymesh/paymesh/protocol/wire"
)

// Test fixtures and a two-machine harness shared by the table, rapid,
// fuzz and benchmark tests. The harness executes outputs the way a node
// must: persist records, then send messages (marshalled to bytes and back,
// as on a stream), then handle events.

var t0 = time.UnixMilli(1_800_000_000_000)

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
}

func testLimits() Limits {
	return Limits{MaxPending: 30, MaxInFlight: 50_000, MinHTLC: 1, MaxHTLC: 10_000, Reserve: 100}
}

func testParams() Params {
	p := Params{
		Keys:          [2]ed25519.PublicKey{testKey(1).Public().(ed25519.PublicKey), testKey(2).Public().(ed25519.PublicKey)},
		OpenerDeposit: 100_000, AcceptorDeposit: 50_000, Push: 1_000,
		Limits: [2]Limits{testLimits(), testLimits()},
	}
	p.Nonce[0] = 42
	return p
}

func testConfigs() [2]Config {
	return [2]Config{{Key: testKey(1), ExpiryGrace: time.Hour}, {Key: testKey(2), ExpiryGrace: time.Hour}}
}

// preimageFor derives a test preimage from a label.
func preimageFor(label uint64) (pre Hash, hash Hash) {
	binary.BigEndian.PutUint64(pre[:], label)
	pre[31] = 0x77
	return pre, sha256.Sum256(pre[:])
}

// node is one side: a machine, its durable log, and its inbox.
type node struct {
	m      *Machine
	cfg    Config
	store  []Record
	inbox  [][]byte // marshalled messages from the peer, in order
	events []Event
}

// fataler is what the harness needs of *testing.T, *testing.B and *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

type pair struct {
	tb  fataler
	n   [2]*node
	now time.Time
}

// newPair opens a channel between two machines and delivers everything.
func newPair(tb fataler, p Params) *pair {
	tb.Helper()
	cfgs := testConfigs()
	pr := &pair{tb: tb, now: t0, n: [2]*node{{cfg: cfgs[0]}, {cfg: cfgs[1]}}}
	m, out, err := Open(cfgs[0], p)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	pr.n[0].m = m
	pr.exec(Opener, out)
	msg := pr.pop(Acceptor)
	m, out, err = Accept(cfgs[1], msg)
	if err != nil {
		tb.Fatalf("accept: %v", err)
	}
	pr.n[1].m = m
	pr.exec(Acceptor, out)
	if err := pr.deliverAll(Opener); err != nil {
		tb.Fatalf("deliver accept: %v", err)
	}
	return pr
}

// exec carries out an output of side s: persist, send, report.
func (p *pair) exec(s Side, out Output) {
	p.tb.Helper()
	n, peer := p.n[s], p.n[s.Other()]
	n.store = append(n.store, out.Records...)
	for _, msg := range out.Messages {
		b, err := proto.Marshal(msg)
		if err != nil {
			p.tb.Fatalf("marshal: %v", err)
		}
		peer.inbox = append(peer.inbox, b)
	}
	n.events = append(n.events, out.Events...)
}

func (p *pair) pop(s Side) *wire.ChanMessage {
	p.tb.Helper()
	n := p.n[s]
	if len(n.inbox) == 0 {
		p.tb.Fatalf("%s: empty inbox", s)
	}
	msg := &wire.ChanMessage{}
	if err := proto.Unmarshal(n.inbox[0], msg); err != nil {
		p.tb.Fatalf("unmarshal: %v", err)
	}
	n.inbox = n.inbox[1:]
	return msg
}

// deliver steps the next message of side s's inbox into s.
func (p *pair) deliver(s Side) error {
	out, err := p.n[s].m.Step(p.pop(s), p.now)
	if err != nil {
		return fmt.Errorf("%s step: %w", s, err)
	}
	p.exec(s, out)
	return nil
}

func (p *pair) deliverAll(s Side) error {
	for len(p.n[s].inbox) > 0 {
		if err := p.deliver(s); err != nil {
			return err
		}
	}
	return nil
}

// settle delivers and commits from both sides until nothing moves.
func (p *pair) settle() error {
	for range 1000 {
		moved := false
		for s := Side(0); s < 2; s++ {
			if len(p.n[s].inbox) > 0 {
				moved = true
				if err := p.deliverAll(s); err != nil {
					return err
				}
			}
			if p.n[s].m.Failed() != nil || p.n[s].m.Closed() {
				continue
			}
			out, err := p.n[s].m.Commit()
			if err != nil {
				return fmt.Errorf("%s commit: %w", s, err)
			}
			if len(out.Messages) > 0 {
				moved = true
			}
			p.exec(s, out)
		}
		if !moved {
			return nil
		}
	}
	return fmt.Errorf("no quiescence")
}

func (p *pair) must(s Side, out Output, err error) {
	p.tb.Helper()
	if err != nil {
		p.tb.Fatalf("%s: %v", s, err)
	}
	p.exec(s, out)
}

// add offers an HTLC from s with a preimage derived from label.
func (p *pair) add(s Side, amount, label uint64) uint64 {
	p.tb.Helper()
	_, hash := preimageFor(label)
	id, out, err := p.n[s].m.AddHTLC(amount, hash, p.now.Add(time.Minute), []byte("onion"), p.now)
	p.must(s, out, err)
	return id
}

// fingerprint captures everything of a machine that Step must not change
// on error.
func fingerprint(m *Machine) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Snapshot().pb)
	if err != nil {
		panic(err)
	}
	peer := m.me.Other()
	b = fmt.Appendf(b, "|%d|%d|%d|%v|%v|%d|%d|%d", m.link, m.logs[peer].end(), m.persistR, m.curByMe,
		m.shutdown, m.flows[0].adds, m.flows[1].adds, len(m.flows[0].removed)+len(m.flows[1].removed))
	return b
}

// checkInvariants verifies the balance invariant on every state a machine
// holds.
func checkInvariants(tb fataler, m *Machine) {
	tb.Helper()
	for _, ss := range []*SignedState{m.cur, m.prop} {
		if ss == nil {
			continue
		}
		if total, ok := ss.State.Total(); !ok || total != m.params.Capacity() {
			tb.Fatalf("%s: state %d holds %d, capacity %d", m.me, ss.State.Seq, total, m.params.Capacity())
		}
	}
}
