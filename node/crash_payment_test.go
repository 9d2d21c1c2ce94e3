package node

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paymesh/paymesh/api"
	"github.com/paymesh/paymesh/protocol/channel"
)

// TestCrashKill9Intermediary kills the middle node of a payment path with
// SIGKILL while payments cross it, twice, and restarts it on its data dir
// each time. A (the payer) and C (the payee) run in this process; B, the
// intermediary, runs in a child process started from this test binary
// (TestCrashIntermediaryChild), a node built from its data dir exactly as
// `paymesh daemon` builds one: Badger on disk, gossip, API.
//
// A streams spontaneous payments to C, one attempt each, all along. Each
// payment must end, succeeded or failed, before its first HTLC's expiry
// (plus the channel's grace); afterwards both channels hold no HTLC, both
// ends of each agree on the co-signed state, and the balances are exactly
// what the succeeded payments and their fees say.
//
// C opens B→C and pushes all of it to B, so that B can forward to C and C's
// balance is what it received.

const (
	interChildEnv = "PAYMESH_CRASH_INTERMEDIARY"
	interCapacity = 10_000_000
	interAmount   = 1000
	// B's forwarding policy, from its config.toml.
	interFeeBase = 1
	interFeePPM  = 1000
	interDeltaMS = 4000
	interFee     = interFeeBase + interAmount*interFeePPM/1_000_000
	// interFinal is the payee's time lock: A's HTLC expires interFinal +
	// interDeltaMS after it is sent, which bounds how long a payment may
	// wait for an intermediary that crashed.
	interFinal    = 8 * time.Second
	interGrace    = 5 * time.Second // DefaultChannelConfig().ExpiryGrace
	interPayBound = interFinal + interDeltaMS*time.Millisecond + interGrace
	interPerRun   = 100 // payments that succeed through each run of B before it is killed
	interInFlight = 64  // payments A has in flight at most
	interPace     = time.Millisecond
	interMaxPays  = 5000
	// interKillPending is how many of A's HTLCs B must hold when killed.
	interKillPending = 8
)

// interDowntimes are how long B stays dead after each kill. The second
// outage outlasts the payee's time lock of the HTLCs B forwarded (but not
// A's, which has B's expiry delta on top): B comes back to HTLCs past
// their expiry on its outgoing channel, some fulfilled by C while B was
// dead, some that C may never have received.
var interDowntimes = []time.Duration{0, interFinal + 500*time.Millisecond}

// TestCrashIntermediaryChild is node B of TestCrashKill9Intermediary: it
// runs a node on the data dir named by interChildEnv, reports
//
//	CRASHCHILD ready API-ADDR
//
// on stdout, and stops the node cleanly once its stdin closes.
func TestCrashIntermediaryChild(t *testing.T) {
	dir := os.Getenv(interChildEnv)
	if dir == "" {
		t.Skip("helper process of TestCrashKill9Intermediary; runs only when started by it")
	}
	cfg, err := ConfigFromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = testLogger(t)
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := n.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	fmt.Fprintf(os.Stdout, crashLinePrefix+"ready %s\n", n.APIAddr())
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it (or dies)
}

// startIntermediaryChild starts a run of B on dir; its lines go through
// crashProc like those of TestCrashChild.
func startIntermediaryChild(t *testing.T, dir string, kick chan<- struct{}) *crashProc {
	t.Helper()
	return startChildTest(t, "TestCrashIntermediaryChild", interChildEnv+"="+dir, kick)
}

// interPayment is what one Pay call returned, and when.
type interPayment struct {
	pay        *Payment
	err        error
	start, end time.Time
}

func tcpAddr(t *testing.T, n *Node) string {
	t.Helper()
	for _, m := range n.Addrs() {
		if strings.Contains(m.String(), "/tcp/") {
			return m.String()
		}
	}
	t.Fatalf("node %s has no TCP address: %v", n.ID(), n.Addrs())
	return ""
}

func TestCrashKill9Intermediary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process three times and streams hundreds of payments")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kick := make(chan struct{}, 1)
	signal := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}

	a := startDir(t, initDir(t))
	c := startDir(t, initDir(t))
	if _, err := a.Connect(ctx, tcpAddr(t, c)); err != nil {
		t.Fatal(err)
	}

	// B's data dir: TCP on loopback, A and C as bootstrap peers (a
	// restarted B listens on a new port, so it is B that redials), and a
	// forwarding policy with a short expiry delta.
	dirB := filepath.Join(t.TempDir(), "b")
	bID, err := Init(dirB)
	if err != nil {
		t.Fatal(err)
	}
	cfgB := fmt.Sprintf("[network]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\nbootstrap = [%q, %q]\n"+
		"[api]\naddress = \"127.0.0.1:0\"\n[fees]\nbase = %d\nppm = %d\nexpiry_delta_ms = %d\n",
		tcpAddr(t, a), tcpAddr(t, c), interFeeBase, interFeePPM, interDeltaMS)
	if err := os.WriteFile(filepath.Join(dirB, ConfigFile), []byte(cfgB), 0o644); err != nil {
		t.Fatal(err)
	}

	var (
		procs  []*crashProc
		ids    []channel.ID // A→B, B→C
		mu     sync.Mutex
		pays   []interPayment
		late   []string // HTLCs seen pending past their expiry and grace
		nSent  atomic.Int64
		nDone  atomic.Int64
		nOK    atomic.Int64
		stop   atomic.Bool
		paused atomic.Bool // B is down on purpose: A sends nothing new
		paysWG sync.WaitGroup
	)
	t.Cleanup(func() {
		// Pay waits for its HTLC whatever its context says: a payment
		// stuck by a bug must fail the test, not hang it.
		cancel()
		done := make(chan struct{})
		go func() { paysWG.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("%d payments still running at the end of the test", nSent.Load()-nDone.Load())
		}
	})
	inFlight := func() int64 { return nSent.Load() - nDone.Load() }
	cur := func() *crashProc { return procs[len(procs)-1] }
	clientB := func() (*api.Client, error) {
		if p := cur(); p.exited() {
			return nil, fmt.Errorf("B (pid %d) is not running", p.cmd.Process.Pid)
		}
		return api.ClientForDataDir(dirB)
	}
	diag := func() string {
		qctx, qcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer qcancel()
		var b strings.Builder
		fmt.Fprintf(&b, "payments: %d sent, %d ended, %d succeeded\n", nSent.Load(), nDone.Load(), nOK.Load())
		for i, id := range ids {
			end := []*Node{a, c}[i]
			ci, err := end.Channel(qctx, id)
			fmt.Fprintf(&b, "channel %d, %s's view: seq %d local %d remote %d pending %d connected %v state %s %s (%v)\n",
				i, []string{"A", "C"}[i], ci.Seq, ci.LocalBalance, ci.RemoteBalance, ci.PendingHTLCs, ci.Connected, ci.State, ci.Failure, err)
			cl, err := clientB()
			if err != nil {
				fmt.Fprintf(&b, "channel %d, B's view: %v\n", i, err)
				continue
			}
			cb, err := cl.Channel(qctx, id.String())
			fmt.Fprintf(&b, "channel %d, B's view: seq %d local %d remote %d pending %d connected %v state %s %s (%v)\n",
				i, cb.Seq, cb.LocalBalance, cb.RemoteBalance, cb.PendingHTLCs, cb.Connected, cb.State, cb.Failure, err)
		}
		return b.String()
	}
	// checkExpiry records HTLCs that A or C hold past their expiry and the
	// channel's grace: a crashed intermediary must not keep any there.
	checkExpiry := func() {
		now := time.Now()
		for i, id := range ids {
			end := []*Node{a, c}[i]
			ci, err := end.Channel(ctx, id)
			if err != nil {
				continue
			}
			for _, h := range ci.HTLCs {
				if over := now.Sub(time.UnixMilli(h.Expiry)); over > interGrace {
					mu.Lock()
					if len(late) < 20 {
						late = append(late, fmt.Sprintf("channel %d: HTLC %d (incoming %v) pending %v past its expiry", i, h.ID, h.Incoming, over.Round(time.Millisecond)))
					}
					mu.Unlock()
				}
			}
		}
	}
	// poll waits until cond holds, checking it on every event and every
	// 20 ms, and watches expiries meanwhile.
	poll := func(timeout time.Duration, what string, cond func() bool) {
		t.Helper()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		deadline := time.NewTimer(timeout)
		defer deadline.Stop()
		for {
			checkExpiry()
			if cond() {
				return
			}
			select {
			case <-kick:
			case <-tick.C:
			case <-deadline.C:
				t.Fatalf("timed out after %v waiting for %s\n%s", timeout, what, diag())
			}
		}
	}
	waitReady := func(p *crashProc) {
		t.Helper()
		poll(20*time.Second, "B to start", func() bool {
			if p.exited() {
				t.Fatalf("B exited before it was ready")
			}
			addr, _, _, _ := p.snapshot()
			return addr != ""
		})
	}

	// Start B, open both channels and wait until A can route to C.
	procs = append(procs, startIntermediaryChild(t, dirB, kick))
	waitReady(cur())
	waitConnected(t, a, bID)
	waitConnected(t, c, bID)
	idAB, err := a.OpenChannel(ctx, bID, interCapacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	idBC, err := c.OpenChannel(ctx, bID, interCapacity, interCapacity)
	if err != nil {
		t.Fatal(err)
	}
	gctx, gcancel := context.WithTimeout(ctx, 20*time.Second)
	if err := (&Cluster{Nodes: []*Node{a, c}}).WaitGraph(gctx, []channel.ID{idAB, idBC}); err != nil {
		t.Fatal(err)
	}
	gcancel()
	poll(10*time.Second, "A to learn B's onion key", func() bool {
		_, err := a.payer.onionKey(bID)
		return err == nil
	})
	ids = []channel.ID{idAB, idBC}

	// A's stream of payments, paced, with at most interInFlight at once.
	pay := func() {
		defer paysWG.Done()
		start := time.Now()
		p, err := a.Pay(ctx, PayRequest{Dest: c.ID(), Amount: interAmount, MaxFee: 10 * interFee, MaxAttempts: 1,
			FinalExpiryDelta: interFinal, Timeout: interFinal})
		end := time.Now()
		mu.Lock()
		pays = append(pays, interPayment{p, err, start, end})
		mu.Unlock()
		if err == nil && p.Status == PaymentSucceeded {
			nOK.Add(1)
		}
		nDone.Add(1)
		signal()
	}
	paysWG.Add(1)
	go func() {
		defer paysWG.Done()
		tick := time.NewTicker(interPace)
		defer tick.Stop()
		for !stop.Load() && nSent.Load() < interMaxPays {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
			if inFlight() >= interInFlight || paused.Load() {
				continue
			}
			nSent.Add(1)
			paysWG.Add(1)
			go pay()
		}
	}()

	// Kill B mid-stream and restart it, once at once and once after an
	// outage; then let a last run carry payments too.
	kills := len(interDowntimes)
	for run := 0; ; run++ {
		base := nOK.Load()
		poll(25*time.Second, fmt.Sprintf("%d payments to succeed through B's run %d", interPerRun, run+1), func() bool {
			if cur().exited() {
				t.Fatalf("B's run %d exited on its own", run+1)
			}
			if nSent.Load() >= interMaxPays {
				t.Fatalf("A sent all of its %d payments", interMaxPays)
			}
			if nOK.Load() < base+interPerRun {
				return false
			}
			if run == kills {
				return true
			}
			// Kill only while B holds HTLCs of A's.
			ci, err := a.Channel(ctx, idAB)
			return err == nil && ci.PendingHTLCs >= interKillPending
		})
		if run == kills {
			break
		}
		var pending [2]int
		for i, id := range ids {
			if ci, err := []*Node{a, c}[i].Channel(ctx, id); err == nil {
				pending[i] = ci.PendingHTLCs
			}
		}
		cur().kill9()
		killed := time.Now()
		down := interDowntimes[run]
		if down > 0 {
			// Payments sent during the outage fail at once for want of
			// a route: hold them back, so that the stream stays a few
			// hundred payments.
			paused.Store(true)
		}
		t.Logf("killed B's run %d with %d payments in flight (HTLCs pending just before: %d on A→B, %d on B→C); so far %d sent, %d succeeded; B down for %v",
			run+1, inFlight(), pending[0], pending[1], nSent.Load(), nOK.Load(), down)
		poll(down+5*time.Second, "B's outage to end", func() bool { return time.Since(killed) >= down })
		restart := time.Now()
		procs = append(procs, startIntermediaryChild(t, dirB, kick))
		waitReady(cur())
		paused.Store(false)
		t.Logf("B's run %d ready %v after its start", run+2, time.Since(restart).Round(time.Millisecond))
	}
	stop.Store(true)
	poll(interPayBound+10*time.Second, "every payment to end", func() bool { return inFlight() == 0 })
	paysWG.Wait()

	// Every payment ended, in time, with a definite outcome.
	var nSucc, sumFee uint64
	failures := map[string]int{}
	mu.Lock()
	all := append([]interPayment(nil), pays...)
	lateSeen := append([]string(nil), late...)
	mu.Unlock()
	var slowest time.Duration
	for i, p := range all {
		slowest = max(slowest, p.end.Sub(p.start))
		switch {
		case p.err != nil:
			t.Errorf("payment %d: %v", i, p.err)
			continue
		case p.end.Sub(p.start) > interPayBound:
			t.Errorf("payment %s took %v, beyond its first HTLC's expiry and grace (%v): %s %s",
				p.pay.Hash, p.end.Sub(p.start).Round(time.Millisecond), interPayBound, p.pay.Status, p.pay.Failure)
		}
		switch p.pay.Status {
		case PaymentSucceeded:
			nSucc++
			sumFee += p.pay.Fee
			if p.pay.Fee != interFee {
				t.Errorf("payment %s paid a fee of %d, want %d", p.pay.Hash, p.pay.Fee, interFee)
			}
		case PaymentFailed:
			reason := p.pay.Failure
			if len(p.pay.Attempts) == 1 {
				reason = p.pay.Attempts[0].Failure
			}
			if i := strings.Index(reason, " for "); i > 0 { // no route for AMOUNT to PEER
				reason = reason[:i]
			}
			// A clean failure comes back through the channels, readable
			// by the payer, or never leaves it.
			if strings.Contains(reason, "channel failed") || strings.HasPrefix(reason, "unreadable") {
				t.Errorf("payment %s failed uncleanly: %s", p.pay.Hash, reason)
			}
			failures[reason]++
		default:
			t.Errorf("payment %s returned with status %q", p.pay.Hash, p.pay.Status)
		}
	}
	for _, l := range lateSeen {
		t.Errorf("%s", l)
	}
	// A's durable records agree: none is left in flight.
	recs, err := a.Payments(0)
	if err != nil {
		t.Fatal(err)
	}
	recOK := 0
	for _, r := range recs {
		switch r.Status {
		case PaymentSucceeded:
			recOK++
		case PaymentInFlight:
			t.Errorf("payment record %s still in flight", r.Hash)
		}
	}
	if len(recs) != len(all) || uint64(recOK) != nSucc {
		t.Errorf("A's records: %d payments, %d succeeded; Pay returned %d, %d succeeded", len(recs), recOK, len(all), nSucc)
	}

	// Converge: nothing pending on either end of either channel, both ends
	// at the same sequence, connected.
	cl, err := clientB()
	if err != nil {
		t.Fatal(err)
	}
	var views [2][2]api.Channel // channel, then end: [0] A or C, [1] B
	poll(15*time.Second, "both channels to converge with nothing pending", func() bool {
		ok := true
		for i, id := range ids {
			ci, err := []*Node{a, c}[i].Channel(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			views[i][0] = api.Channel{ID: ci.ID, Capacity: ci.Capacity, LocalBalance: ci.LocalBalance, RemoteBalance: ci.RemoteBalance,
				PendingHTLCs: ci.PendingHTLCs, PendingAmount: ci.PendingAmount, Seq: ci.Seq, State: ci.State, Failure: ci.Failure, Connected: ci.Connected}
			if views[i][1], err = cl.Channel(ctx, id.String()); err != nil {
				t.Fatal(err)
			}
			for _, v := range views[i] {
				ok = ok && v.PendingHTLCs == 0 && v.Connected
			}
			ok = ok && views[i][0].Seq == views[i][1].Seq
		}
		return ok
	})

	// Balances: exactly the succeeded payments moved money, with B's fee.
	ab, bc := views[0], views[1]
	if got, want := bc[0].LocalBalance, nSucc*interAmount; got != want {
		t.Errorf("C received %d, want %d for %d succeeded payments", got, want, nSucc)
	}
	if got, want := ab[0].LocalBalance, interCapacity-nSucc*interAmount-sumFee; got != want {
		t.Errorf("A holds %d, want %d - %d paid - %d fees = %d", got, uint64(interCapacity), nSucc*interAmount, sumFee, want)
	}
	for i, v := range views {
		if v[0].LocalBalance != v[1].RemoteBalance || v[0].RemoteBalance != v[1].LocalBalance || v[0].Capacity != v[1].Capacity {
			t.Errorf("channel %d: ends disagree:\n %+v\n %+v", i, v[0], v[1])
		}
		for end, e := range v {
			if e.LocalBalance+e.RemoteBalance+e.PendingAmount != e.Capacity || e.Capacity != interCapacity {
				t.Errorf("channel %d end %d: invariant broken: %d + %d + %d != %d", i, end, e.LocalBalance, e.RemoteBalance, e.PendingAmount, e.Capacity)
			}
			if e.State != "open" {
				t.Errorf("channel %d end %d: state %s %s", i, end, e.State, e.Failure)
			}
		}
	}

	// B recorded one settled forward per succeeded payment, with its fee.
	fws, err := cl.Forwards(ctx, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	var fwOK, fwFees uint64
	for _, f := range fws {
		if f.Settled {
			fwOK++
			fwFees += f.Fee
		}
	}
	if fwOK != nSucc || fwFees != sumFee {
		t.Errorf("B's forwards: %d settled earning %d, want %d earning %d", fwOK, fwFees, nSucc, sumFee)
	}

	// Every log audits clean, both ends at the same co-signed state.
	for i, id := range ids {
		rep, err := []*Node{a, c}[i].AuditChannel(id)
		if err != nil {
			t.Fatal(err)
		}
		repB, err := cl.AuditChannel(ctx, id.String())
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK || !repB.OK || rep.Seq != repB.Seq || rep.StateHash != repB.StateHash || rep.Seq != views[i][0].Seq {
			t.Errorf("channel %d: audits %+v and B's %+v (channel at seq %d)", i, rep, repB, views[i][0].Seq)
		}
	}

	cur().stop()
	t.Logf("%d payments: %d succeeded, failures %v; slowest took %v; A→B seq %d, B→C seq %d",
		len(all), nSucc, failures, slowest.Round(time.Millisecond), ab[0].Seq, bc[0].Seq)
}
