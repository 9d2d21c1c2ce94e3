package node

import (
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/protocol/onion"
)

// clusterFee is the fee every cluster node charges (1 + 1000 ppm).
func clusterFee(a uint64) uint64 { return 1 + a*1000/1_000_000 }

func TestStreamLineOfFour(t *testing.T) {
	nodes := startCluster(t, 4)
	const capacity = 100_000_000
	ids := openLine(t, nodes, capacity, 0)
	st, err := nodes[0].OpenStream(StreamRequest{Dest: nodes[3].ID(), MaxAmount: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Payments of varied amounts, many in flight: every hop must forward
	// exactly what the payer computed from the agreed fees.
	const count = 2000
	rng := rand.New(rand.NewPCG(1, 2))
	amounts := make([]uint64, count)
	for i := range amounts {
		amounts[i] = 1 + rng.Uint64N(10_000)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		received uint64
		fees     [3]uint64 // what nodes 1 and 2 should earn, by index
		sem      = make(chan struct{}, 64)
	)
	for _, a := range amounts {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p, err := st.Pay(ctx, a)
			if err != nil {
				t.Errorf("pay %d: %v", a, err)
				return
			}
			a2 := a + clusterFee(a)
			a1 := a2 + clusterFee(a2)
			if p.Amount != a || p.Fee != a1-a || sha256.Sum256(p.Preimage[:]) == [32]byte{} {
				t.Errorf("payment %+v, want amount %d fee %d", p, a, a1-a)
			}
			mu.Lock()
			received += a
			fees[1] += a1 - a2
			fees[2] += a2 - a
			mu.Unlock()
		}()
	}
	wg.Wait()
	stats := st.Stats()
	if stats.Succeeded != count || stats.Failed != 0 || stats.Routes != 1 || stats.Amount != received {
		t.Fatalf("stats %+v, want %d succeeded on one route, %d received", stats, count, received)
	}
	waitNoPending(t, nodes, ids)
	if got := channelOf(t, nodes[3], ids[2]).LocalBalance; got != received {
		t.Fatalf("payee holds %d, want %d", got, received)
	}
	for i := 1; i <= 2; i++ {
		in := channelOf(t, nodes[i], ids[i-1]).LocalBalance
		out := capacity - channelOf(t, nodes[i], ids[i]).LocalBalance
		if in-out != fees[i] {
			t.Fatalf("node %d earned %d, want %d", i, in-out, fees[i])
		}
	}
	if paid := capacity - channelOf(t, nodes[0], ids[0]).LocalBalance; paid != received+stats.Fees {
		t.Fatalf("payer paid %d, want %d received + %d fees", paid, received, stats.Fees)
	}
	// The payer keeps no preimage: the stream's key derives them all.
	last, err := st.Pay(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool {
		_, found, err := nodes[0].store.Preimage(sha256.Sum256(last.Preimage[:]))
		return err == nil && !found
	}, func() string { return "the payer still stores a stream payment's preimage" })
	received += 10
	fees[1] += 1
	fees[2] += 1
	// Forwards are logged as one record per stream and period.
	nodes[1].sw.logStreams(time.Now(), true)
	fw, err := nodes[1].Forwards(10)
	if err != nil || len(fw) != 1 || fw[0].Payments != count+1 || fw[0].Fee != fees[1] || fw[0].Stream == "" {
		t.Fatalf("forwards of node 1: %+v %v", fw, err)
	}
}

// A hop that forgot the stream (as after a restart) makes the next payment
// fail with a BADONION code reported by the hop before it; the payer sets
// the stream up again on its own and the payment goes through.
func TestStreamSetUpAgainWhenAHopForgets(t *testing.T) {
	nodes := startCluster(t, 4)
	ids := openLine(t, nodes, 10_000_000, 0)
	st, err := nodes[0].OpenStream(StreamRequest{Dest: nodes[3].ID(), MaxAmount: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 5 {
		if _, err := st.Pay(ctx, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(nodes[2].sw.streams.expire(time.Time{})); n != 1 {
		t.Fatalf("node 2 dropped %d streams, want 1", n)
	}
	p, err := st.Pay(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	stats := st.Stats()
	if p.Attempts != 2 || stats.Routes != 2 || stats.Failed != 1 || stats.Succeeded != 6 {
		t.Fatalf("payment %+v, stats %+v", p, stats)
	}
	waitNoPending(t, nodes, ids)
	if got := channelOf(t, nodes[3], ids[2]).LocalBalance; got != 6000 {
		t.Fatalf("payee holds %d, want 6000", got)
	}
}

// Forged stream packets from the payer's own peer: each fails with the
// right code at the right hop, and nothing moves.
func TestStreamBadPackets(t *testing.T) {
	nodes := startCluster(t, 3)
	ids := openLine(t, nodes, 10_000_000, 0)
	st, err := nodes[0].OpenStream(StreamRequest{Dest: nodes[2].ID(), MaxAmount: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := st.Pay(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	leg := st.leg
	waitNoPending(t, nodes, ids) // the setup payment's state co-signed on both ends
	before := channelOf(t, nodes[2], ids[1]).LocalBalance
	send := func(mut func(p *onion.StreamPacket, amt *uint64, hash *channel.Hash)) (int, string) {
		t.Helper()
		seq := leg.seq.Add(1)
		pre := onion.StreamPreimage(leg.key, seq)
		hash := channel.Hash(sha256.Sum256(pre[:]))
		const amount = 1000
		amt := amount + clusterFee(amount)
		pkt := onion.StreamPacket{ID: leg.ids[0], Seq: seq, Amount: amount}
		pkt.Tag = onion.StreamTag(leg.key, leg.ids[1], seq, amount, hash)
		mut(&pkt, &amt, &hash)
		r, err := nodes[0].SendHTLC(ctx, leg.first, amt, hash, time.Now().Add(40*time.Second), pkt.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if r.Preimage != nil {
			t.Fatal("forged stream payment fulfilled")
		}
		hop, _, desc := attribute(partResult{route: leg.route, res: r, ss: leg.secrets})
		return hop, desc
	}
	for _, tc := range []struct {
		name    string
		mut     func(p *onion.StreamPacket, amt *uint64, hash *channel.Hash)
		hop     int
		failure string
	}{
		{"unknown stream id", func(p *onion.StreamPacket, _ *uint64, _ *channel.Hash) { p.ID[0] ^= 1 }, 0, "invalid_onion_version"},
		{"wrong tag", func(p *onion.StreamPacket, _ *uint64, _ *channel.Hash) { p.Tag[3] ^= 1 }, 1, "incorrect_or_unknown_payment_details"},
		{"hash not of the stream", func(_ *onion.StreamPacket, _ *uint64, h *channel.Hash) { h[0] ^= 1 }, 1, "incorrect_or_unknown_payment_details"},
		{"payee gets less than tagged", func(p *onion.StreamPacket, amt *uint64, _ *channel.Hash) { *amt -= 10 }, 1, "final_incorrect_htlc_amount"},
		{"fee not covered", func(p *onion.StreamPacket, amt *uint64, _ *channel.Hash) { *amt = 1 }, 0, "fee_insufficient"},
		{"setup sequence replayed", func(p *onion.StreamPacket, _ *uint64, h *channel.Hash) {
			pre := onion.StreamPreimage(leg.key, 0)
			*h = sha256.Sum256(pre[:])
			p.Seq = 0
			p.Tag = onion.StreamTag(leg.key, leg.ids[1], 0, p.Amount, *h)
		}, 1, "incorrect_or_unknown_payment_details"},
	} {
		hop, desc := send(tc.mut)
		if hop != tc.hop || desc != tc.failure {
			t.Errorf("%s: failed at hop %d with %s, want hop %d %s", tc.name, hop, desc, tc.hop, tc.failure)
		}
	}
	waitNoPending(t, nodes, ids)
	if got := channelOf(t, nodes[2], ids[1]).LocalBalance; got != before {
		t.Fatalf("payee balance moved from %d to %d", before, got)
	}
}
