package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	dto "github.com/prometheus/client_model/go"

	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/routing"
)

// openLine opens channels n0→n1→…→nk, each of amount with push, and waits
// until every node's graph holds every channel with both policies and every
// node's announcement.
func openLine(t *testing.T, nodes []*Node, amount, push uint64) []channel.ID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ids []channel.ID
	for i := 0; i+1 < len(nodes); i++ {
		id, err := nodes[i].OpenChannel(ctx, nodes[i+1].ID(), amount, push)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	waitGraphHas(t, nodes, ids)
	return ids
}

func waitGraphHas(t *testing.T, nodes []*Node, ids []channel.ID) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := (&Cluster{Nodes: nodes}).WaitGraph(ctx, ids); err != nil {
		t.Fatal(err)
	}
}

func startCluster(t *testing.T, count int) []*Node {
	t.Helper()
	cl, err := StartCluster(context.Background(), ClusterConfig{Nodes: count, DisableAPI: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl.Nodes
}

func TestPaymentLineOfFive(t *testing.T) {
	nodes := startCluster(t, 5)
	ids := openLine(t, nodes, 10_000_000, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const amount = 100_000
	pay, err := nodes[0].Pay(ctx, PayRequest{Dest: nodes[4].ID(), Amount: amount})
	if err != nil {
		t.Fatal(err)
	}
	if pay.Status != PaymentSucceeded {
		t.Fatalf("payment %s: %s (attempts %+v)", pay.Status, pay.Failure, pay.Attempts)
	}
	// The cluster's policy: 1 + 1000 ppm per forwarding node, compounding
	// backwards from the payee.
	fee := func(a uint64) uint64 { return 1 + a*1000/1_000_000 }
	a3 := uint64(amount)
	a2 := a3 + fee(a3)
	a1 := a2 + fee(a2)
	a0 := a1 + fee(a1)
	if pay.Fee != a0-amount {
		t.Fatalf("fee %d, want %d", pay.Fee, a0-amount)
	}
	waitNoPending(t, nodes, ids)
	// Each intermediate node i received a_{i-1} and forwarded a_i.
	want := map[int]uint64{1: a0 - a1, 2: a1 - a2, 3: a2 - a3}
	for i, earned := range want {
		in := channelOf(t, nodes[i], ids[i-1]).LocalBalance
		out := channelOf(t, nodes[i], ids[i]).LocalBalance
		if in != [3]uint64{a0, a1, a2}[i-1] || 10_000_000-out != [3]uint64{a1, a2, a3}[i-1] {
			t.Fatalf("node %d: in %d out %d", i, in, 10_000_000-out)
		}
		_ = earned
	}
	if got := channelOf(t, nodes[4], ids[3]).LocalBalance; got != amount {
		t.Fatalf("payee received %d, want %d", got, amount)
	}
	fw, err := nodes[2].Forwards(10)
	if err != nil || len(fw) != 1 || !fw[0].Settled || fw[0].Fee != a1-a2 {
		t.Fatalf("forwards of node 2: %+v %v", fw, err)
	}
	// The payer's record holds the preimage; the store's copy goes.
	hash, _ := hex.DecodeString(pay.Hash)
	eventually(t, 10*time.Second, func() bool {
		_, found, err := nodes[0].store.Preimage([32]byte(hash))
		return err == nil && !found
	}, func() string { return "the payer still stores the preimage" })
	// Forwarders kept it in their circuits, which are gone with the
	// settlement: no preimage stays behind.
	for i := 1; i <= 3; i++ {
		if _, found, err := nodes[i].store.Preimage([32]byte(hash)); err != nil || found {
			t.Fatalf("forwarder %d still stores the preimage (%v)", i, err)
		}
	}
}

func waitNoPending(t *testing.T, nodes []*Node, ids []channel.ID) {
	t.Helper()
	for i, id := range ids {
		for _, n := range []*Node{nodes[i], nodes[i+1]} {
			eventually(t, 10*time.Second, func() bool { return channelOf(t, n, id).PendingHTLCs == 0 },
				func() string { return fmt.Sprintf("HTLCs stay pending on channel %d: %+v", i, channelOf(t, n, id)) })
		}
		checkAgree(t, nodes[i], nodes[i+1], id)
	}
}

func TestPaymentFailureAttributed(t *testing.T) {
	nodes := startCluster(t, 5)
	// The last channel has no balance on node 3's side: node 3 cannot forward.
	ids := openLine(t, nodes[:4], 10_000_000, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	last, err := nodes[4].OpenChannel(ctx, nodes[3].ID(), 10_000_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	waitGraphHas(t, nodes, append(ids, last))
	pay, err := nodes[0].Pay(ctx, PayRequest{Dest: nodes[4].ID(), Amount: 100_000, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if pay.Status != PaymentFailed || len(pay.Attempts) != 1 {
		t.Fatalf("payment %+v", pay)
	}
	a := pay.Attempts[0]
	// Hop 2 is node 3 (the node receiving the HTLC on the third channel):
	// it had no balance towards node 4.
	if a.FailingHop != 2 || a.Failure != "temporary_channel_failure" {
		t.Fatalf("failure attributed to hop %d (%s), want hop 2 temporary_channel_failure", a.FailingHop, a.Failure)
	}
	waitNoPending(t, nodes[:4], ids)
	_ = peer.ID("")
}

// diamond builds A→B→D and A→C→D, each channel funded by its opener with
// amount (nothing pushed).
func diamond(t *testing.T, amount uint64) (nodes []*Node, ids []channel.ID) {
	t.Helper()
	nodes = startCluster(t, 4) // A, B, C, D
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, e := range [][2]int{{0, 1}, {1, 3}, {0, 2}, {2, 3}} {
		id, err := nodes[e[0]].OpenChannel(ctx, nodes[e[1]].ID(), amount, 0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	waitGraphHas(t, nodes, ids)
	return nodes, ids
}

func TestPaymentInvoiceMultiPartAcrossDiamond(t *testing.T) {
	nodes, ids := diamond(t, 1_000_000)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// 1.5M cannot fit either path (1M each): it must be split.
	inv, err := nodes[3].CreateInvoice(1_500_000, "diamond", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	pay, err := nodes[0].Pay(ctx, PayRequest{Invoice: inv.Invoice, MaxFee: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	if pay.Status != PaymentSucceeded {
		t.Fatalf("payment %s: %s (%d attempts: %+v)", pay.Status, pay.Failure, len(pay.Attempts), pay.Attempts)
	}
	parts := 0
	for _, a := range pay.Attempts {
		if a.Status == "succeeded" {
			parts++
		}
	}
	if parts < 2 {
		t.Fatalf("paid in %d part(s), want a split", parts)
	}
	waitNoPending(t, []*Node{nodes[0], nodes[1], nodes[3]}, []channel.ID{ids[0], ids[1]})
	waitNoPending(t, []*Node{nodes[0], nodes[2], nodes[3]}, []channel.ID{ids[2], ids[3]})
	got := channelOf(t, nodes[3], ids[1]).LocalBalance + channelOf(t, nodes[3], ids[3]).LocalBalance
	if got != 1_500_000 {
		t.Fatalf("payee received %d, want 1500000", got)
	}
	rec, err := nodes[3].Invoice(inv.Invoice.PaymentHash)
	if err != nil || rec.State != InvoiceStatePaid {
		t.Fatalf("invoice after payment: %+v %v", rec, err)
	}
	// Paying the same invoice again is refused by the payer.
	if _, err := nodes[0].Pay(ctx, PayRequest{Invoice: inv.Invoice}); !errors.Is(err, ErrAlreadyPaid) {
		t.Fatalf("second payment: %v", err)
	}
}

func TestPaymentInvoiceRefusals(t *testing.T) {
	nodes := startCluster(t, 3)
	ids := openLine(t, nodes, 10_000_000, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	payee := nodes[2]

	// A forged secret: the payee refuses, attributed to the final hop, and
	// the payer does not retry.
	inv, err := payee.CreateInvoice(5_000, "secret", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := *inv.Invoice
	forged.PaymentSecret[0] ^= 1
	pay, err := nodes[0].Pay(ctx, PayRequest{Invoice: &forged})
	if err != nil {
		t.Fatal(err)
	}
	if pay.Status != PaymentFailed || len(pay.Attempts) != 1 || pay.Attempts[0].FailingHop != 1 ||
		pay.Attempts[0].Failure != "incorrect_or_unknown_payment_details" {
		t.Fatalf("wrong secret: %+v", pay)
	}
	// An expired invoice is refused before anything is sent.
	exp, err := payee.CreateInvoice(5_000, "short", time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-time.After(time.Until(exp.Invoice.ExpiresAt()) + time.Millisecond) // the expiry passes
	if _, err := nodes[0].Pay(ctx, PayRequest{Invoice: exp.Invoice}); err == nil {
		t.Fatal("expired invoice paid")
	}
	waitNoPending(t, nodes, ids)
	// Nothing moved: the failed payment left every balance as it was.
	if b := channelOf(t, nodes[0], ids[0]).LocalBalance; b != 10_000_000 {
		t.Fatalf("payer balance %d after failed payments", b)
	}
}

// connectNodes connects every pair of nodes.
func connectNodes(ctx context.Context, t *testing.T, nodes []*Node) {
	t.Helper()
	for i := range nodes {
		for j := range i {
			if _, err := nodes[i].Connect(ctx, nodes[j].Addrs()[0].String()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestPaymentIntermediaryRestart stops the middle node of A→B→C while
// payments cross it and starts it again from its data dir: every payment
// ends (succeeded or failed), nothing stays pending, and every channel's
// two ends agree.
func TestPaymentIntermediaryRestart(t *testing.T) {
	dirs := []string{initDir(t), initDir(t), initDir(t)}
	nodes := []*Node{startDir(t, dirs[0]), startDir(t, dirs[1]), startDir(t, dirs[2])}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	connectAll := func() { connectNodes(ctx, t, nodes) }
	connectAll()
	var ids []channel.ID
	for i := 0; i < 2; i++ {
		id, err := nodes[i].OpenChannel(ctx, nodes[i+1].ID(), 10_000_000, 0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	cl := &Cluster{Nodes: nodes}
	if err := cl.WaitGraph(ctx, ids); err != nil {
		t.Fatal(err)
	}
	results := make(chan *Payment, 200)
	for range 200 {
		go func() {
			p, err := nodes[0].Pay(ctx, PayRequest{Dest: nodes[2].ID(), Amount: 1000, MaxFee: 10_000, MaxAttempts: 1})
			if err != nil {
				t.Errorf("pay: %v", err)
				p = &Payment{Status: PaymentFailed}
			}
			results <- p
		}()
	}
	// Stop B once the first payments have gone through.
	first := <-results
	if err := nodes[1].Close(); err != nil {
		t.Fatal(err)
	}
	nodes[1] = startDir(t, dirs[1])
	connectAll()
	got := map[string]int{first.Status: 1}
	failures := map[string]int{}
	for range 199 {
		select {
		case p := <-results:
			got[p.Status]++
			if p.Status == PaymentFailed {
				failures[p.Failure]++
			}
		case <-ctx.Done():
			t.Fatalf("payments still running after the restart: %v (failures %v)", got, failures)
		}
	}
	if got[PaymentSucceeded]+got[PaymentFailed] != 200 {
		t.Fatalf("payment outcomes %v", got)
	}
	if len(failures) > 0 {
		t.Logf("failures: %v", failures)
	}
	waitNoPending(t, nodes, ids)
	// What C received is what A paid for the payments that succeeded.
	if recv := channelOf(t, nodes[2], ids[1]).LocalBalance; recv != uint64(got[PaymentSucceeded])*1000 {
		t.Fatalf("payee received %d for %d successful payments (failures: %v)", recv, got[PaymentSucceeded], failures)
	}
	for i, id := range ids {
		for _, n := range nodes[i : i+2] {
			if rep, err := n.AuditChannel(id); err != nil || !rep.OK {
				t.Fatalf("audit: %+v %v", rep, err)
			}
		}
	}
	t.Logf("outcomes: %v", got)
}

func TestMissionControlSurvivesRestart(t *testing.T) {
	dir := initDir(t)
	n := startDir(t, dir)
	now := time.Now()
	rt := routing.Route{Hops: []routing.Hop{{Channel: 42, From: routing.NodeID(n.ID()), To: "x", Amount: 1000}}, Amount: 1000}
	n.payer.mc.ReportFailure(rt, 0, 1000, now)
	want := n.payer.mc.Observations()
	if len(want) == 0 {
		t.Fatal("no observation recorded")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := startDir(t, dir)
	got := n2.payer.mc.Observations()
	if len(got) != len(want) || got[0].Channel != 42 || got[0].Upper != want[0].Upper {
		t.Fatalf("observations after restart %+v, want %+v", got, want)
	}
}

// TestJammingBudget: an intermediary refuses to lock more of its liquidity
// for one incoming peer than its budget allows, with a temporary failure
// the payer attributes to it, and counts the refusal.
func TestJammingBudget(t *testing.T) {
	nodes := startCluster(t, 3)
	ids := openLine(t, nodes, 10_000_000, 0)
	b := nodes[1]
	b.sw.mu.Lock()
	b.sw.jam = JamLimits{MaxPending: 10, MaxLocked: 500}
	b.sw.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pay, err := nodes[0].Pay(ctx, PayRequest{Dest: nodes[2].ID(), Amount: 1000, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if pay.Status != PaymentFailed || len(pay.Attempts) != 1 || pay.Attempts[0].FailingHop != 0 ||
		pay.Attempts[0].Failure != "temporary_channel_failure" {
		t.Fatalf("payment over B's budget: %+v", pay)
	}
	var m dto.Metric
	if err := b.sw.jammed.Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 1 {
		t.Fatalf("jamming refusals metric %v, want 1", got)
	}
	// Within the budget the same node forwards.
	pay, err = nodes[0].Pay(ctx, PayRequest{Dest: nodes[2].ID(), Amount: 300, MaxAttempts: 1})
	if err != nil || pay.Status != PaymentSucceeded {
		t.Fatalf("payment within B's budget: %+v %v", pay, err)
	}
	waitNoPending(t, nodes, ids)
}
