package channel

import (
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// The property test drives two machines with random local operations
// from both sides, random delivery (each direction a FIFO of which any
// prefix may be delivered at any time), disconnects with re-establish,
// crashes right after a persist (un-sent messages and events lost, the
// machine rebuilt from its durable records only) and log compaction.
// After every action: the balance invariant on both sides, and no two
// different co-signed states with the same sequence. At the end, after
// quiescence: identical latest co-signed states, every HTLC offered by an
// operation present exactly once and settled as the payee decided.

type htlcModel struct {
	amount   uint64
	decided  bool
	fulfills bool
}

type chanModel struct {
	*pair
	t         *rapid.T
	connected bool
	htlcs     map[htlcKey]*htlcModel
	coSigned  map[uint64]Hash // every co-signed state seen, by sequence
	seen      map[string]bool // (side, event kind, htlc) reported
	closing   bool
	start     [2]uint64
	stats     *rapidStats
}

// rapidStats counts interesting situations, to show what the test covers.
type rapidStats struct {
	conflicts, crashes, completedByReestablish, retransmits int
}

func (c *chanModel) init(t *rapid.T) {
	c.pair = newPair(t, testParams())
	c.t = t
	c.connected = true
	c.htlcs = make(map[htlcKey]*htlcModel)
	c.coSigned = make(map[uint64]Hash)
	c.seen = make(map[string]bool)
	c.start = c.n[0].m.State().State.Balance
	c.observeEvents()
}

// run executes an output of side s, crashing s right after its records
// are persisted when crash is set.
func (c *chanModel) run(s Side, out Output, crash bool) {
	if !c.connected && len(out.Messages) > 0 {
		c.t.Fatalf("%s emitted %d messages while disconnected", s, len(out.Messages))
	}
	if crash {
		c.n[s].store = append(c.n[s].store, out.Records...)
		c.crash(s)
		return
	}
	c.exec(s, out)
	c.observeEvents()
}

func (c *chanModel) observeEvents() {
	for s := Side(0); s < 2; s++ {
		for _, e := range c.n[s].events {
			if e.Kind == EventFailed {
				c.t.Fatalf("%s: channel failed: %v", s, e.Err)
			}
			if e.Kind == EventHTLCAdded || e.Kind == EventHTLCFulfilled || e.Kind == EventHTLCFailed {
				key := fmt.Sprint(s, e.Kind, e.HTLC.Offerer, e.HTLC.ID)
				if c.seen[key] {
					c.t.Fatalf("duplicate event %s", key)
				}
				c.seen[key] = true
			}
		}
		c.n[s].events = nil
	}
}

func (c *chanModel) disconnect() {
	c.connected = false
	for s := range 2 {
		c.n[s].inbox = nil
		c.n[s].m.Disconnect()
	}
}

// crash loses everything of s that is not in its store.
func (c *chanModel) crash(s Side) {
	if c.stats != nil {
		c.stats.crashes++
	}
	before := c.n[s].m.State()
	c.disconnect()
	m, err := Restore(c.n[s].cfg, c.n[s].store)
	if err != nil {
		c.t.Fatalf("%s: restore: %v", s, err)
	}
	if before != nil && (m.State() == nil || m.State().Hash != before.Hash) {
		c.t.Fatalf("%s: restore lost the latest co-signed state", s)
	}
	c.n[s].m = m
	c.n[s].events = nil
}

// chance is true with about the given per-mille probability. (rapid draws
// small integers more often than others, so the window sits mid-range.)
func chance(t *rapid.T, label string, perMille int) bool {
	v := rapid.IntRange(0, 999).Draw(t, label)
	return v >= 400 && v < 400+perMille
}

func (c *chanModel) crashNow(t *rapid.T) bool { return chance(t, "crash", 25) }

func (c *chanModel) Add(t *rapid.T) {
	s := Side(rapid.IntRange(0, 1).Draw(t, "side"))
	amount := rapid.Uint64Range(1, 3_000).Draw(t, "amount")
	ttl := time.Hour
	if rapid.Bool().Draw(t, "short") {
		ttl = 2 * time.Second
	}
	label := uint64(len(c.htlcs))<<1 | uint64(s)
	_, hash := preimageFor(label)
	id, out, err := c.n[s].m.AddHTLC(amount, hash, c.now.Add(ttl), []byte{byte(label)}, c.now)
	switch {
	case errors.Is(err, ErrInsufficientBalance) || errors.Is(err, ErrLimit) || errors.Is(err, ErrClosing) || errors.Is(err, ErrClosed):
		return
	case err != nil:
		t.Fatalf("%s add: %v", s, err)
	}
	key := htlcKey{s, id}
	if _, dup := c.htlcs[key]; dup {
		t.Fatalf("%s reused HTLC id %d", s, id)
	}
	if uint64(len(c.htlcs)) != label>>1 {
		t.Fatalf("label bookkeeping")
	}
	c.htlcs[key] = &htlcModel{amount: amount}
	c.run(s, out, c.crashNow(t))
}

// Resolve lets a payee fulfill or fail one of its pending incoming HTLCs.
func (c *chanModel) Resolve(t *rapid.T) {
	s := Side(rapid.IntRange(0, 1).Draw(t, "side"))
	pending := c.n[s].m.IncomingPending()
	if len(pending) == 0 {
		return // nothing to resolve
	}
	h := pending[rapid.IntRange(0, len(pending)-1).Draw(t, "htlc")]
	c.resolve(s, h, rapid.Bool().Draw(t, "fulfill"), c.crashNow(t))
}

func (c *chanModel) resolve(s Side, h HTLC, fulfill, crash bool) {
	mh := c.htlcs[htlcKey{h.Offerer, h.ID}]
	if mh == nil || mh.decided {
		c.t.Fatalf("%s: pending HTLC %v/%d unknown or already decided", s, h.Offerer, h.ID)
	}
	var out Output
	var err error
	if fulfill {
		pre, _ := preimageFor(c.labelOf(h))
		out, err = c.n[s].m.Fulfill(h.ID, pre, c.now)
		if errors.Is(err, ErrExpired) {
			fulfill = false
		} else if err != nil {
			c.t.Fatalf("%s fulfill: %v", s, err)
		}
	}
	if !fulfill {
		out, err = c.n[s].m.FailHTLC(h.ID, []byte("no"))
		if err != nil {
			c.t.Fatalf("%s fail: %v", s, err)
		}
	}
	mh.decided, mh.fulfills = true, fulfill
	c.run(s, out, crash)
}

// labelOf recovers the label an HTLC's preimage was derived from by
// matching its payment hash.
func (c *chanModel) labelOf(h HTLC) uint64 {
	for label := uint64(0); label < uint64(2*len(c.htlcs)+2); label++ {
		if _, hash := preimageFor(label); hash == h.PaymentHash {
			return label
		}
	}
	c.t.Fatalf("no label for HTLC %d", h.ID)
	return 0
}

func (c *chanModel) Commit(t *rapid.T) {
	s := Side(rapid.IntRange(0, 1).Draw(t, "side"))
	out, err := c.n[s].m.Commit()
	if errors.Is(err, ErrClosed) {
		return
	}
	if err != nil {
		t.Fatalf("%s commit: %v", s, err)
	}
	c.run(s, out, c.crashNow(t))
}

// Deliver delivers a prefix of one direction's queue (reconnecting first
// if the link is down).
func (c *chanModel) Deliver(t *rapid.T) {
	if !c.connected {
		c.reconnect()
	}
	s := Side(rapid.IntRange(0, 1).Draw(t, "side"))
	if len(c.n[s].inbox) == 0 {
		s = s.Other()
	}
	if len(c.n[s].inbox) == 0 {
		return // empty inboxes
	}
	k := rapid.IntRange(1, len(c.n[s].inbox)).Draw(t, "count")
	for i := 0; i < k && len(c.n[s].inbox) > 0; i++ {
		msg := c.pop(s)
		m := c.n[s].m
		if cm := msg.GetCommit(); cm != nil && m.prop != nil && m.prop.State.Seq == cm.Seq && c.stats != nil {
			c.stats.conflicts++
		}
		if r := msg.GetReestablish(); r != nil && c.stats != nil {
			if m.cur != nil && r.Seq == m.cur.State.Seq+1 {
				c.stats.completedByReestablish++
			}
			if r.UpdatesReceived < m.logs[m.me].end() {
				c.stats.retransmits++
			}
		}
		out, err := m.Step(msg, c.now)
		if err != nil {
			t.Fatalf("%s step: %v", s, err)
		}
		c.run(s, out, i == k-1 && c.crashNow(t))
	}
}

func (c *chanModel) Disconnect(t *rapid.T) {
	if !c.connected {
		return // already disconnected
	}
	c.disconnect()
}

func (c *chanModel) Reconnect(t *rapid.T) {
	if c.connected {
		return // connected
	}
	c.reconnect()
}

func (c *chanModel) reconnect() {
	c.connected = true
	for s := Side(0); s < 2; s++ {
		c.exec(s, c.n[s].m.Reconnect())
	}
}

func (c *chanModel) Crash(t *rapid.T) {
	c.crash(Side(rapid.IntRange(0, 1).Draw(t, "side")))
}

// Compact replaces a side's log by a snapshot, as a store does.
func (c *chanModel) Compact(t *rapid.T) {
	s := Side(rapid.IntRange(0, 1).Draw(t, "side"))
	c.n[s].store = []Record{c.n[s].m.Snapshot()}
}

func (c *chanModel) Tick(t *rapid.T) {
	c.now = c.now.Add(time.Duration(rapid.IntRange(0, 1500).Draw(t, "ms")) * time.Millisecond)
}

func (c *chanModel) Close(t *rapid.T) {
	if !chance(t, "rare close", 30) {
		return // close is rare
	}
	s := Side(rapid.IntRange(0, 1).Draw(t, "side"))
	out, err := c.n[s].m.StartClose()
	if errors.Is(err, ErrClosed) {
		return
	}
	if err != nil {
		t.Fatalf("%s close: %v", s, err)
	}
	c.closing = true
	c.run(s, out, c.crashNow(t))
}

func (c *chanModel) Check(t *rapid.T) {
	for s := Side(0); s < 2; s++ {
		m := c.n[s].m
		checkInvariants(t, m)
		if m.Failed() != nil {
			t.Fatalf("%s failed: %v", s, m.Failed())
		}
		if cur := m.State(); cur != nil {
			if h, ok := c.coSigned[cur.State.Seq]; ok && h != cur.Hash {
				t.Fatalf("diverged at state %d", cur.State.Seq)
			}
			c.coSigned[cur.State.Seq] = cur.Hash
		}
	}
}

// quiesce reconnects, then delivers, commits and resolves every pending
// incoming HTLC until nothing moves.
func (c *chanModel) quiesce() {
	if !c.connected {
		c.reconnect()
	}
	for round := 0; ; round++ {
		if round > 50 {
			c.t.Fatalf("no quiescence")
		}
		if err := c.settle(); err != nil {
			c.t.Fatalf("settle: %v", err)
		}
		c.observeEvents()
		c.Check(c.t)
		resolved := false
		for s := Side(0); s < 2; s++ {
			for _, h := range c.n[s].m.IncomingPending() {
				c.resolve(s, h, h.ID%2 == 0, false)
				resolved = true
			}
		}
		if !resolved {
			return
		}
	}
}

// actions weights the model's actions: mostly payments and delivery,
// sometimes faults.
func (c *chanModel) actions() map[string]func(*rapid.T) {
	rarely := func(f func(*rapid.T)) func(*rapid.T) {
		return func(t *rapid.T) {
			if !chance(t, "rarely", 200) {
				return // rare action
			}
			f(t)
		}
	}
	// rapid samples the sorted keys with a bias towards the first ones.
	return map[string]func(*rapid.T){
		"":             c.Check,
		"1deliver":     c.Deliver,
		"2add":         c.Add,
		"3resolve":     c.Resolve,
		"4commit":      c.Commit,
		"5deliver":     c.Deliver,
		"6add":         c.Add,
		"7resolve":     c.Resolve,
		"8commit":      c.Commit,
		"9tick":        c.Tick,
		"reconnect":    c.Reconnect,
		"x-disconnect": rarely(c.Disconnect),
		"x-crash":      rarely(c.Crash),
		"x-compact":    rarely(c.Compact),
		"x-close":      c.Close,
	}
}

// runModel plays one random history of up to maxSteps actions and checks
// the end state. (rapid's Repeat makes mostly short histories; a channel
// needs long ones.)
func runModel(t *rapid.T, c *chanModel, maxSteps int) {
	c.init(t)
	actions := c.actions()
	keys := make([]string, 0, len(actions))
	for k := range actions {
		if k != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	steps := rapid.IntRange(maxSteps/4, maxSteps).Draw(t, "steps")
	for range steps {
		actions[rapid.SampledFrom(keys).Draw(t, "action")](t)
		c.Check(t)
	}
	c.quiesce()
	c.checkEnd()
}

func TestRapidTwoMachines(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		runModel(t, &chanModel{}, 400)
	})
}

// checkEnd verifies the end state after quiescence.
func (c *chanModel) checkEnd() {
	t := c.t
	{
		a, b := c.n[0].m.State(), c.n[1].m.State()
		if a.Hash != b.Hash {
			t.Fatalf("final states differ: %d vs %d", a.State.Seq, b.State.Seq)
		}
		st := a.State
		if len(st.HTLCs) != 0 {
			t.Fatalf("%d HTLCs still pending", len(st.HTLCs))
		}
		want := c.start
		var adds [2]uint64
		for k, h := range c.htlcs {
			adds[k.Offerer]++
			if !h.decided {
				t.Fatalf("HTLC %v never settled", k)
			}
			if h.fulfills {
				want[k.Offerer] -= h.amount
				want[k.Offerer.Other()] += h.amount
			}
		}
		if st.NextHTLC != adds {
			t.Fatalf("state counts %v HTLCs, operations added %v", st.NextHTLC, adds)
		}
		if st.Balance != want {
			t.Fatalf("balances %v, want %v", st.Balance, want)
		}
		if c.closing && !(c.n[0].m.Closed() && c.n[1].m.Closed()) {
			t.Fatalf("close started but channel not closed")
		}
	}
}

// TestRapidCoverage runs the model and checks that the histories reach
// the situations the protocol exists for, so the property test cannot
// pass by never getting there.
func TestRapidCoverage(t *testing.T) {
	var st rapidStats
	var htlcs, closed, fulfilled int
	rapid.Check(t, func(rt *rapid.T) {
		c := &chanModel{stats: &st}
		runModel(rt, c, 400)
		htlcs += len(c.htlcs)
		for _, h := range c.htlcs {
			if h.fulfills {
				fulfilled++
			}
		}
		if c.n[0].m.Closed() {
			closed++
		}
	})
	t.Logf("htlcs %d (fulfilled %d), closed %d, %+v", htlcs, fulfilled, closed, st)
	if htlcs == 0 || fulfilled == 0 || closed == 0 || st.conflicts == 0 || st.crashes == 0 ||
		st.completedByReestablish == 0 || st.retransmits == 0 {
		t.Fatalf("the model missed a situation: htlcs %d fulfilled %d closed %d %+v", htlcs, fulfilled, closed, st)
	}
}
