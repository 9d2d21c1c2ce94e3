package channel

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/paymesh/paymesh/protocol/wire"
)

// benchLink passes messages between two machines, optionally through
// protobuf bytes as on a stream; records are dropped (in-memory node).
type benchLink struct {
	b       *testing.B
	m       [2]*Machine
	marshal bool
	now     time.Time
	added   []HTLC // HTLCs reported to the acceptor, to fulfill
}

func (l *benchLink) run(s Side, out Output, err error) {
	if err != nil {
		l.b.Fatal(err)
	}
	for _, e := range out.Events {
		if e.Kind == EventHTLCAdded {
			l.added = append(l.added, e.HTLC)
		}
	}
	for _, msg := range out.Messages {
		if l.marshal {
			data, err := proto.Marshal(msg)
			if err != nil {
				l.b.Fatal(err)
			}
			msg = &wire.ChanMessage{}
			if err := proto.Unmarshal(data, msg); err != nil {
				l.b.Fatal(err)
			}
		}
		o, err := l.m[s.Other()].Step(msg, l.now)
		l.run(s.Other(), o, err)
	}
}

// BenchmarkAddFulfill measures settled HTLCs per second between two
// in-memory machines: the opener adds a batch of HTLCs and commits, the
// acceptor fulfills them all and commits; each batch costs two co-signed
// states. 1 366-byte onions; every output's records are built (not stored).
func BenchmarkAddFulfill(b *testing.B) {
	for _, marshal := range []bool{false, true} {
		for _, inflight := range []int{1, 64, 1024} {
			name := fmt.Sprintf("inflight=%d", inflight)
			if marshal {
				name += "/protobuf"
			}
			b.Run(name, func(b *testing.B) { benchAddFulfill(b, inflight, marshal) })
		}
	}
}

func benchAddFulfill(b *testing.B, inflight int, marshal bool) {
	p := testParams()
	p.OpenerDeposit, p.AcceptorDeposit, p.Push = 1<<62, 1<<62, 0
	lim := Limits{MaxPending: 2048, MaxInFlight: 1 << 60, MinHTLC: 1, MaxHTLC: 1 << 40}
	p.Limits = [2]Limits{lim, lim}
	cfgs := testConfigs()
	l := &benchLink{b: b, marshal: marshal, now: t0}
	m0, out, err := Open(cfgs[0], p)
	if err != nil {
		b.Fatal(err)
	}
	m1, out1, err := Accept(cfgs[1], out.Messages[0])
	if err != nil {
		b.Fatal(err)
	}
	l.m = [2]*Machine{m0, m1}
	l.run(Acceptor, out1, nil)

	pre, hash := preimageFor(7)
	onion := make([]byte, 1366)
	expiry := t0.Add(time.Hour)
	b.ResetTimer()
	for done := 0; done < b.N; {
		k := min(inflight, b.N-done)
		for range k {
			_, out, err := m0.AddHTLC(1_000, hash, expiry, onion, l.now)
			l.run(Opener, out, err)
		}
		out, err := m0.Commit()
		l.run(Opener, out, err)
		added := l.added
		l.added = nil
		for _, h := range added {
			out, err := m1.Fulfill(h.ID, pre, l.now)
			l.run(Acceptor, out, err)
		}
		out, err = m1.Commit()
		l.run(Acceptor, out, err)
		if len(added) != k || len(m0.State().State.HTLCs) != 0 {
			b.Fatalf("batch of %d: %d added, %d pending", k, len(added), len(m0.State().State.HTLCs))
		}
		done += k
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "htlcs/s")
}
