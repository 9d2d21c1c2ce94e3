package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/protocol/wire"
	"github.com/paymesh/paymesh/routing"
)

// startPair starts two nodes with on-disk stores in temp dirs and connects them.
func startPair(t testing.TB) (a, b *Node, dirA, dirB string) {
	t.Helper()
	dirA, dirB = initDir(t), initDir(t)
	a, b = startDir(t, dirA), startDir(t, dirB)
	if _, err := b.Connect(context.Background(), a.Addrs()[0].String()); err != nil {
		t.Fatal(err)
	}
	return a, b, dirA, dirB
}

func randomPreimage(t testing.TB) channel.Hash {
	var p channel.Hash
	if _, err := rand.Read(p[:]); err != nil {
		t.Fatal(err)
	}
	return p
}

// pay sends count HTLCs of amount from -> to over ch, at most inFlight at a
// time, and returns how many were fulfilled.
func pay(t *testing.T, from, to *Node, ch channel.ID, count, inFlight int, amount uint64) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		settled int
		sem     = make(chan struct{}, inFlight)
	)
	for range count {
		sem <- struct{}{}
		hash := to.AddPreimage(randomPreimage(t))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := from.SendHTLC(ctx, ch, amount, hash, time.Now().Add(time.Minute), nil)
			if err != nil {
				t.Errorf("send HTLC: %v", err)
				return
			}
			if r.Preimage == nil {
				t.Errorf("HTLC failed: %q %v", r.Reason, r.Err)
				return
			}
			mu.Lock()
			settled++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return settled
}

func channelOf(t *testing.T, n *Node, id channel.ID) ChannelInfo {
	t.Helper()
	ci, err := n.Channel(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return ci
}

// checkAgree checks both ends see the same co-signed state and that the
// balance invariant holds.
func checkAgree(t *testing.T, a, b *Node, id channel.ID) (ChannelInfo, ChannelInfo) {
	t.Helper()
	ca, cb := channelOf(t, a, id), channelOf(t, b, id)
	if ca.Seq != cb.Seq || ca.LocalBalance != cb.RemoteBalance || ca.RemoteBalance != cb.LocalBalance || ca.PendingAmount != cb.PendingAmount {
		t.Fatalf("ends disagree:\n a %+v\n b %+v", ca, cb)
	}
	if ca.LocalBalance+ca.RemoteBalance+ca.PendingAmount != ca.Capacity {
		t.Fatalf("invariant broken: %d + %d + %d != %d", ca.LocalBalance, ca.RemoteBalance, ca.PendingAmount, ca.Capacity)
	}
	return ca, cb
}

// waitSettled waits until the channel has no pending HTLC on either side
// and both ends agree.
func waitSettled(t *testing.T, a, b *Node, id channel.ID) {
	t.Helper()
	var ca, cb ChannelInfo
	eventually(t, 20*time.Second, func() bool {
		ca, cb = channelOf(t, a, id), channelOf(t, b, id)
		return ca.PendingHTLCs == 0 && cb.PendingHTLCs == 0 && ca.Seq == cb.Seq && ca.Connected && cb.Connected
	}, func() string { return fmt.Sprintf("channel did not settle:\n a %+v\n b %+v", ca, cb) })
	checkAgree(t, a, b, id)
}

func TestChannelOpenPayBothWaysCloseAudit(t *testing.T) {
	a, b, _, _ := startPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := a.OpenChannel(ctx, b.ID(), 1_000_000, 400_000)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := checkAgree(t, a, b, id)
	if ca.LocalBalance != 600_000 || ca.RemoteBalance != 400_000 || ca.State != "open" || !ca.Opener {
		t.Fatalf("after open: %+v", ca)
	}

	var wg sync.WaitGroup
	wg.Add(2)
	var ab, ba int
	go func() { defer wg.Done(); ab = pay(t, a, b, id, 1500, 64, 10) }()
	go func() { defer wg.Done(); ba = pay(t, b, a, id, 1000, 64, 7) }()
	wg.Wait()
	if ab != 1500 || ba != 1000 {
		t.Fatalf("settled %d a→b and %d b→a", ab, ba)
	}
	waitSettled(t, a, b, id)
	ca = channelOf(t, a, id)
	if want := uint64(600_000 - 1500*10 + 1000*7); ca.LocalBalance != want {
		t.Fatalf("a's balance %d, want %d", ca.LocalBalance, want)
	}

	// An HTLC whose preimage the payee does not know fails back.
	r, err := a.SendHTLC(ctx, id, 5, randomPreimage(t), time.Now().Add(time.Minute), nil)
	if err != nil || r.Preimage != nil || string(r.Reason) != "unknown payment hash" {
		t.Fatalf("unknown hash: %+v %v", r, err)
	}
	// Over the balance: refused locally with nothing changed.
	if _, err := a.SendHTLC(ctx, id, 10_000_000, randomPreimage(t), time.Now().Add(time.Minute), nil); err == nil {
		t.Fatal("HTLC above the balance accepted")
	}

	for _, n := range []*Node{a, b} {
		rep, err := n.AuditChannel(id)
		if err != nil || !rep.OK {
			t.Fatalf("audit: %+v %v", rep, err)
		}
	}
	if err := a.CloseChannel(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitState(t, b, id, "closed")
	if ci := channelOf(t, a, id); ci.State != "closed" {
		t.Fatalf("after close: %+v", ci)
	}
	if _, err := a.SendHTLC(ctx, id, 5, randomPreimage(t), time.Now().Add(time.Minute), nil); err == nil {
		t.Fatal("HTLC accepted on a closed channel")
	}
}

func waitState(t *testing.T, n *Node, id channel.ID, state string) {
	t.Helper()
	eventually(t, 10*time.Second, func() bool { return channelOf(t, n, id).State == state },
		func() string { return fmt.Sprintf("channel never reached %s: %+v", state, channelOf(t, n, id)) })
}

func TestChannelSurvivesRestartMidStream(t *testing.T) {
	a, b, _, dirB := startPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id, err := a.OpenChannel(ctx, b.ID(), 1_000_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Stream HTLCs and stop b in the middle, once some have settled.
	var wg sync.WaitGroup
	results := make(chan HTLCResult, 2000)
	var settledEarly sync.WaitGroup
	settledEarly.Add(100)
	var count int64
	var mu sync.Mutex
	for i := range 2000 {
		hash := b.AddPreimage(randomPreimage(t))
		res, err := a.OfferHTLC(ctx, id, 3, hash, time.Now().Add(time.Minute), nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := <-res
			results <- r
			mu.Lock()
			count++
			if count <= 100 {
				settledEarly.Done()
			}
			mu.Unlock()
		}()
		if i == 1000 {
			settledEarly.Wait()
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Preimages lived in b's memory only: after the restart b knows none,
	// so the HTLCs still pending fail back; those b fulfilled before
	// stopping stay fulfilled.
	b2 := startDir(t, dirB)
	if b2.ID() != b.ID() {
		t.Fatal("identity changed")
	}
	if _, err := b2.Connect(ctx, a.Addrs()[0].String()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(results)
	settled, failed := 0, 0
	for r := range results {
		switch {
		case r.Preimage != nil:
			settled++
		case r.Reason != nil:
			failed++
		default:
			t.Fatalf("HTLC ended without an answer: %v", r.Err)
		}
	}
	if settled+failed != 2000 {
		t.Fatalf("%d settled + %d failed != 2000", settled, failed)
	}
	waitSettled(t, a, b2, id)
	ca := channelOf(t, a, id)
	if ca.RemoteBalance != uint64(settled)*3 {
		t.Fatalf("b's balance %d, want %d for %d settled HTLCs", ca.RemoteBalance, settled*3, settled)
	}
	for _, n := range []*Node{a, b2} {
		if rep, err := n.AuditChannel(id); err != nil || !rep.OK {
			t.Fatalf("audit: %+v %v", rep, err)
		}
	}
	t.Logf("%d settled before the stop, %d failed after", settled, failed)
}

func TestChannelRefusals(t *testing.T) {
	a, b, _, _ := startPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.OpenChannel(ctx, a.ID(), 10, 0); err == nil {
		t.Fatal("channel with self accepted")
	}
	if _, err := a.OpenChannel(ctx, b.ID(), 0, 0); err == nil {
		t.Fatal("zero channel accepted")
	}
	if _, err := a.OpenChannel(ctx, b.ID(), 10, 11); err == nil {
		t.Fatal("push above amount accepted")
	}
	if _, err := a.SendHTLC(ctx, channel.ID{1}, 1, channel.Hash{}, time.Now().Add(time.Minute), nil); !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("unknown channel: %v", err)
	}
	_ = peer.ID("")
}

func TestChannelAnnouncedToGraph(t *testing.T) {
	a, b, _, _ := startPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := a.OpenChannel(ctx, b.ID(), 1_000_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{a, b} {
		eventually(t, 15*time.Second, func() bool {
			c, ok := n.Graph().Snapshot().Channel(routing.ChannelID(id.ShortID()))
			return ok && c.Capacity == 1_000_000 && c.Policy[0] != nil && c.Policy[1] != nil
		}, func() string { return fmt.Sprintf("%s: channel not in the graph with both policies", n.ID()) })
	}
}

// TestChannelRecoversFromFailedWrite fails one group commit of the payer,
// then one of the payee, in the middle of a stream of HTLCs. Nothing of a
// failed round may reach the peer: the node reloads its channels from disk
// and re-establishes; HTLCs of the payer that never reached the disk end
// with an error, every other one is fulfilled exactly once, and both ends
// agree on balances that count exactly the fulfilled HTLCs.
func TestChannelRecoversFromFailedWrite(t *testing.T) {
	for _, side := range []string{"payer", "payee"} {
		t.Run(side, func(t *testing.T) {
			a, b, _, _ := startPair(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			const capacity, amount, count = 1_000_000, 3, 300
			id, err := a.OpenChannel(ctx, b.ID(), capacity, 0)
			if err != nil {
				t.Fatal(err)
			}
			faulty := a
			if side == "payee" {
				faulty = b
			}
			var (
				wg                sync.WaitGroup
				mu                sync.Mutex
				fulfilled, failed int
				sem               = make(chan struct{}, 32)
			)
			for i := range count {
				if i == count/3 {
					faulty.chans.failWrites.Store(1)
				}
				sem <- struct{}{}
				res, err := a.OfferHTLC(ctx, id, amount, b.AddPreimage(randomPreimage(t)), time.Now().Add(time.Minute), nil)
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					select {
					case r := <-res:
						mu.Lock()
						defer mu.Unlock()
						switch {
						case r.Preimage != nil:
							fulfilled++
						case r.Err != nil && side == "payer":
							failed++
						default:
							t.Errorf("HTLC ended without a preimage: %q %v", r.Reason, r.Err)
						}
					case <-ctx.Done():
						t.Error("HTLC never ended")
					}
				}()
			}
			wg.Wait()
			if faulty.chans.failWrites.Load() != 0 {
				t.Fatal("the write failure was never injected")
			}
			waitSettled(t, a, b, id)
			ca, _ := checkAgree(t, a, b, id)
			if fulfilled+failed != count || (side == "payee" && failed != 0) {
				t.Fatalf("%d fulfilled, %d failed, of %d", fulfilled, failed, count)
			}
			if want := uint64(capacity - amount*fulfilled); ca.LocalBalance != want {
				t.Fatalf("payer balance %d, want %d (%d fulfilled)", ca.LocalBalance, want, fulfilled)
			}
			for _, n := range []*Node{a, b} {
				if rep, err := n.AuditChannel(id); err != nil || !rep.OK {
					t.Fatalf("audit: %+v %v", rep, err)
				}
			}
			t.Logf("%d fulfilled, %d ended unpersisted", fulfilled, failed)
		})
	}
}

// TestFrameBuffered checks the test runReader uses to read on without
// blocking: true only when a whole frame (length prefix and body) is
// buffered.
func TestFrameBuffered(t *testing.T) {
	long := make([]byte, 300)
	tests := []struct {
		name string
		in   []byte
		want bool
	}{
		{"empty", nil, false},
		{"prefix only", []byte{3}, false},
		{"body cut short", []byte{3, 1, 2}, false},
		{"whole frame", []byte{3, 1, 2, 3}, true},
		{"whole frame and more", []byte{1, 9, 5, 1}, true},
		{"empty frame", []byte{0}, true},
		{"two-byte prefix cut", []byte{0xac}, false},
		{"two-byte prefix, body cut", append([]byte{0xac, 0x02}, long[:299]...), false},
		{"two-byte prefix, whole", append([]byte{0xac, 0x02}, long...), true},
		{"overlong prefix", bytes.Repeat([]byte{0xff}, 11), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(bytes.NewReader(tt.in), chanReadBuffer)
			if len(tt.in) > 0 {
				if _, err := br.Peek(1); err != nil {
					t.Fatal(err)
				}
			}
			if got := frameBuffered(br); got != tt.want {
				t.Errorf("frameBuffered(%x) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzFrameBuffered checks frameBuffered against the frame reader: when it
// reports a whole frame buffered, the frame reads from the buffered bytes
// alone; when the bytes hold a whole frame, it says so.
func FuzzFrameBuffered(f *testing.F) {
	f.Add([]byte{3, 1, 2, 3})
	f.Add([]byte{3, 1, 2})
	f.Add([]byte{0xac, 0x02, 1})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > chanReadBuffer {
			b = b[:chanReadBuffer]
		}
		br := bufio.NewReaderSize(bytes.NewReader(b), chanReadBuffer)
		if len(b) > 0 {
			if _, err := br.Peek(len(b)); err != nil {
				t.Fatal(err)
			}
		}
		got := frameBuffered(br)
		_, err := wire.NewFrameReader(bytes.NewReader(b), 1<<30).ReadFrame()
		if whole := err == nil; got != whole {
			t.Fatalf("frameBuffered(%x) = %v, but reading the frame: %v", b, got, err)
		}
	})
}

// A direct HTLC (no onion) leaves its preimage with its caller and in the
// channel's log only: the payer's store keeps no pre/ entry for it.
func TestDirectHTLCStoresNoPreimage(t *testing.T) {
	a, b, _, _ := startPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := a.OpenChannel(ctx, b.ID(), 1_000_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	hash := b.AddPreimage(randomPreimage(t))
	r, err := a.SendHTLC(ctx, id, 10, hash, time.Now().Add(time.Minute), nil)
	if err != nil || r.Preimage == nil {
		t.Fatalf("HTLC: %+v %v", r, err)
	}
	waitSettled(t, a, b, id)
	if _, found, err := a.store.Preimage(hash); err != nil || found {
		t.Fatalf("payer stored the preimage of a direct HTLC (%v)", err)
	}
}
