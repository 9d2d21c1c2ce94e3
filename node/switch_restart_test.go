package node

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	dto "github.com/prometheus/client_model/go"

	"github.com/paymesh/paymesh/protocol/channel"
)

// sessionWith returns n's session with peer p.
func sessionWith(t *testing.T, n *Node, p peer.ID) *peerSession {
	t.Helper()
	n.chans.mu.Lock()
	s := n.chans.sessions[p]
	n.chans.mu.Unlock()
	if s == nil {
		t.Fatalf("node %s has no session with %s", n.ID(), p)
	}
	return s
}

// blockSession stops s's loop inside an operation until the returned
// function is called (or the test ends): whatever reaches the session
// meanwhile, peer messages and operations alike, queues in its inbox in
// arrival order and is handled as one round afterwards.
func blockSession(t *testing.T, s *peerSession) (release func()) {
	t.Helper()
	running, rel := make(chan struct{}), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(rel) }) }
	t.Cleanup(release)
	s.mgr.postTo(s, func(*peerSession) {
		close(running)
		select {
		case <-rel:
		case <-s.mgr.ctx.Done():
		}
	})
	select {
	case <-running:
	case <-time.After(10 * time.Second):
		t.Fatal("session did not pick up the blocking operation")
	}
	return release
}

// waitInbox waits until at least n items queue in s's inbox.
func waitInbox(t *testing.T, s *peerSession, n int) {
	t.Helper()
	eventually(t, 10*time.Second, func() bool { return len(s.inbox) >= n },
		func() string { return fmt.Sprintf("%d items in the session's inbox, want %d", len(s.inbox), n) })
}

// payResult is the outcome of a payment made in the background.
type payResult struct {
	p   *Payment
	err error
}

// payThrough starts a payment of 1000 from a to c in the background and
// returns once the intermediary b has forwarded it.
func payThrough(ctx context.Context, t *testing.T, a, b, c *Node) <-chan payResult {
	t.Helper()
	paid := make(chan payResult, 1)
	go func() {
		p, err := a.Pay(ctx, PayRequest{Dest: c.ID(), Amount: 1000, MaxAttempts: 1})
		paid <- payResult{p, err}
	}()
	eventually(t, 10*time.Second, func() bool {
		b.sw.mu.Lock()
		defer b.sw.mu.Unlock()
		return len(b.sw.byOut) == 1
	}, func() string { return "B did not forward the HTLC" })
	return paid
}

// TestSettleRestoredRacesFulfill: the intermediary B settles its restored
// circuits (settleRestored, run by Start) while its sessions already
// re-establish and step its peers' messages. Here the payee C's fulfill of
// B's outgoing HTLC, and C's commit that co-signs it, reach B in the same
// session round as settleRestored's look at that HTLC, and the round's
// synced write (with the preimage) is held back until settleRestored has
// decided.
//
// The HTLC has left the channel machine's pending set, but the round that
// removed it is neither on disk nor reported (its EventHTLCFulfilled comes
// after the write). settleRestored must not take that for "the HTLC ended
// while the node was down, no preimage stored: fail it upstream" — B
// would pay C and refund A. The payment must succeed, C must be paid
// exactly once, and B must earn its fee.
func TestSettleRestoredRacesFulfill(t *testing.T) {
	nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	b.chans.splitReads.Store(true) // the test counts B's inbox in messages
	ids := openLine(t, nodes, 10_000_000, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bToC, cToB := sessionWith(t, b, c.ID()), sessionWith(t, c, b.ID())

	// C takes nothing from B until released: B's HTLC and commit wait in
	// C's inbox.
	releaseC := blockSession(t, cToB)
	// Once B forwarded, its circuit names the outgoing HTLC, whose round
	// (add, circuit, commit) is written and sent before the next one.
	paid := payThrough(ctx, t, a, b, c)
	releaseB := blockSession(t, bToC)

	// C countersigns B's commit, fulfills (spontaneous payment), and
	// commits its fulfill: countersign, fulfill and commit queue at B.
	releaseC()
	waitInbox(t, bToC, 3)
	// Start's settleRestored looks at the circuit in the same round, and
	// the round's write waits until settleRestored has decided.
	settled := make(chan struct{})
	go func() {
		defer close(settled)
		b.sw.settleRestored()
	}()
	waitInbox(t, bToC, 4)
	b.chans.postTo(bToC, func(*peerSession) {
		select {
		case <-settled:
		case <-ctx.Done():
		}
	})
	waitInbox(t, bToC, 5)
	releaseB()

	var r payResult
	select {
	case r = <-paid:
	case <-ctx.Done():
		t.Fatal("payment did not end")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.p.Status != PaymentSucceeded {
		t.Errorf("payment %s: %s (attempts %+v)", r.p.Status, r.p.Failure, r.p.Attempts)
	}
	waitNoPending(t, nodes, ids)
	if got := channelOf(t, c, ids[1]).LocalBalance; got != 1000 {
		t.Errorf("payee received %d, want 1000", got)
	}
	in, out := channelOf(t, b, ids[0]).LocalBalance, 10_000_000-channelOf(t, b, ids[1]).LocalBalance
	if in < out {
		t.Errorf("intermediary received %d upstream and paid %d downstream", in, out)
	}
	fw, err := b.Forwards(10)
	if err != nil || len(fw) != 1 || !fw[0].Settled {
		t.Errorf("B's forwards: %+v %v", fw, err)
	}
}

// TestSettleRestoredAfterRestart: B stops after C fulfilled B's outgoing
// HTLC (the fulfill and its preimage are on B's disk) but before B
// fulfilled the incoming HTLC from A, as if it crashed between the two
// channels' writes. Restarted, B finds the circuit open, the outgoing HTLC
// no longer pending and its preimage stored: it fulfills A's HTLC.
func TestSettleRestoredAfterRestart(t *testing.T) {
	dirs := []string{initDir(t), initDir(t), initDir(t)}
	nodes := []*Node{startDir(t, dirs[0]), startDir(t, dirs[1]), startDir(t, dirs[2])}
	a, c := nodes[0], nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	connectAll := func() { connectNodes(ctx, t, nodes) }
	connectAll()
	var ids []channel.ID
	for i := range 2 {
		id, err := nodes[i].OpenChannel(ctx, nodes[i+1].ID(), 10_000_000, 0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := (&Cluster{Nodes: nodes}).WaitGraph(ctx, ids); err != nil {
		t.Fatal(err)
	}
	b := nodes[1]
	releaseC := blockSession(t, sessionWith(t, c, b.ID()))
	paid := payThrough(ctx, t, a, b, c)
	// B's session with A takes nothing more; when B stops, what queued
	// there meanwhile (the fulfill of A's HTLC) is lost, as in a crash.
	bToA := sessionWith(t, b, a.ID())
	running := make(chan struct{})
	b.chans.postTo(bToA, func(s *peerSession) {
		close(running)
		<-s.mgr.ctx.Done()
		for {
			select {
			case <-s.inbox:
			default:
				return
			}
		}
	})
	<-running
	releaseC()
	// B's forward settled downstream: the settlement upstream waits in
	// the session with A.
	eventually(t, 10*time.Second, func() bool {
		var m dto.Metric
		return b.sw.forwards.Write(&m) == nil && m.GetCounter().GetValue() == 1
	}, func() string { return "C's fulfill did not reach B's switch" })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	nodes[1] = startDir(t, dirs[1])
	b = nodes[1]
	connectAll()
	var r payResult
	select {
	case r = <-paid:
	case <-ctx.Done():
		t.Fatal("payment did not end")
	}
	if r.err != nil || r.p.Status != PaymentSucceeded {
		t.Fatalf("payment: %+v %v", r.p, r.err)
	}
	waitNoPending(t, nodes, ids)
	if got := channelOf(t, c, ids[1]).LocalBalance; got != 1000 {
		t.Errorf("payee received %d, want 1000", got)
	}
	if in, want := channelOf(t, b, ids[0]).LocalBalance, 1000+r.p.Fee; in != want {
		t.Errorf("intermediary received %d upstream, want %d", in, want)
	}
	fw, err := b.Forwards(10)
	if err != nil || len(fw) != 1 || !fw[0].Settled {
		t.Errorf("B's forwards: %+v %v", fw, err)
	}
}
