package gossip

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

// world is a validator that knows channel 1 between nodes 1 and 2
// (capacity 1,000,000) and channel 2 between nodes 2 and 3, and had
// channel 3 between nodes 1 and 3 closed.
type world struct {
	v          *Validator
	ann1, ann2 *ChannelAnnouncement
	ann3       *ChannelAnnouncement
}

func newWorld(t testing.TB, cfg Config) *world {
	t.Helper()
	w := &world{
		v:    newValidator(t, cfg),
		ann1: chanAnn(t, 1, 1, 2, 1_000_000),
		ann2: chanAnn(t, 2, 2, 3, 1_000_000),
		ann3: chanAnn(t, 3, 1, 3, 1_000_000),
	}
	for _, a := range []*ChannelAnnouncement{w.ann1, w.ann2, w.ann3} {
		mustAccept(t, w.v, enc(t, a), t0, FromGossip)
	}
	mustAccept(t, w.v, enc(t, closedNotice(t, w.ann3, 3, t0)), t0, FromGossip)
	return w
}

func TestValidatorVerdicts(t *testing.T) {
	min := time.Minute
	type step struct {
		data func(w *world) []byte
		now  time.Time
		src  Source
	}
	cases := []struct {
		name    string
		cfg     Config
		before  []step // each must be accepted
		data    func(w *world) []byte
		now     time.Time
		src     Source
		verdict Verdict
		reason  Reason
	}{
		// Node announcements.
		{name: "node accepted", data: func(w *world) []byte { return enc(t, nodeAnn(t, 1, t0)) }, verdict: Accept},
		{name: "node without channel", data: func(w *world) []byte { return enc(t, nodeAnn(t, 9, t0)) }, verdict: Ignore, reason: ReasonUnknownNode},
		{name: "node with only a closed channel", cfg: Config{},
			data: func(w *world) []byte {
				// Node 3 still has channel 2; close it too.
				mustAccept(t, w.v, enc(t, closedNotice(t, w.ann2, 2, t0)), t0, FromGossip)
				return enc(t, nodeAnn(t, 3, t0))
			}, verdict: Ignore, reason: ReasonUnknownNode},
		{name: "channelless node accepted when allowed", cfg: Config{AcceptChannellessNodes: true},
			data: func(w *world) []byte { return enc(t, nodeAnn(t, 9, t0)) }, verdict: Accept},
		{name: "node bad signature", data: func(w *world) []byte {
			a := nodeAnn(t, 1, t0)
			a.Signature[5] ^= 1
			return enc(t, a)
		}, verdict: Reject, reason: ReasonBadSignature},
		{name: "node signed by another key", data: func(w *world) []byte {
			a := nodeAnn(t, 1, t0)
			a.Signature = nodeAnn(t, 2, t0).Signature
			return enc(t, a)
		}, verdict: Reject, reason: ReasonBadSignature},
		{name: "node altered after signing", data: func(w *world) []byte {
			a := nodeAnn(t, 1, t0)
			a.Alias = "mallory"
			return enc(t, a)
		}, verdict: Reject, reason: ReasonBadSignature},
		{name: "node duplicate", before: []step{{data: func(w *world) []byte { return enc(t, nodeAnn(t, 1, t0)) }}},
			data: func(w *world) []byte { return enc(t, nodeAnn(t, 1, t0)) }, verdict: Ignore, reason: ReasonDuplicate},
		{name: "node older", before: []step{{data: func(w *world) []byte { return enc(t, nodeAnn(t, 1, t0)) }}},
			data: func(w *world) []byte { return enc(t, nodeAnn(t, 1, t0.Add(-min))) }, verdict: Ignore, reason: ReasonStale},
		{name: "node newer", before: []step{{data: func(w *world) []byte { return enc(t, nodeAnn(t, 1, t0.Add(-min))) }}},
			data: func(w *world) []byte { return enc(t, nodeAnn(t, 1, t0)) }, verdict: Accept},
		{name: "node 10 min ahead", data: func(w *world) []byte { return enc(t, nodeAnn(t, 1, t0.Add(10*min))) }, verdict: Accept},
		{name: "node future", data: func(w *world) []byte { return enc(t, nodeAnn(t, 1, t0.Add(10*min+time.Millisecond))) }, verdict: Ignore, reason: ReasonFuture},
		{name: "node too old", data: func(w *world) []byte { return enc(t, nodeAnn(t, 1, t0.Add(-15*24*time.Hour))) }, verdict: Ignore, reason: ReasonStale},
		{name: "node max addrs of max size", data: func(w *world) []byte {
			k, _ := testKey(t, 1)
			a := nodeAnn(t, 1, t0)
			a.Alias = strings.Repeat("é", MaxAliasBytes/2)
			a.Features = make([]byte, MaxFeatureBytes)
			a.Addrs = nil
			for range MaxAddrs {
				a.Addrs = append(a.Addrs, ma.StringCast("/dns4/"+strings.Repeat("a", 250)+"/tcp/1"))
			}
			if err := a.Sign(k); err != nil {
				t.Fatal(err)
			}
			return enc(t, a)
		}, verdict: Accept},

		// Channel announcements.
		{name: "channel accepted", data: func(w *world) []byte { return enc(t, chanAnn(t, 4, 4, 5, 10)) }, verdict: Accept},
		{name: "channel duplicate", data: func(w *world) []byte { return enc(t, w.ann1) }, verdict: Ignore, reason: ReasonDuplicate},
		{name: "channel closed", data: func(w *world) []byte { return enc(t, w.ann3) }, verdict: Ignore, reason: ReasonClosedChannel},
		{name: "channel short id conflict", data: func(w *world) []byte {
			id := testChannelID(99)
			copy(id[:8], w.ann1.ChannelID[:8])
			a := chanAnn(t, 99, 4, 5, 10)
			a.ChannelID = id
			k4, _ := testKey(t, 4)
			k5, _ := testKey(t, 5)
			a.Sig1, a.Sig2 = nil, nil
			if err := a.Sign(k4); err != nil {
				t.Fatal(err)
			}
			if err := a.Sign(k5); err != nil {
				t.Fatal(err)
			}
			return enc(t, a)
		}, verdict: Ignore, reason: ReasonConflict},
		{name: "channel one bad signature", data: func(w *world) []byte {
			a := chanAnn(t, 4, 4, 5, 10)
			a.Sig2[0] ^= 1
			return enc(t, a)
		}, verdict: Reject, reason: ReasonBadSignature},
		{name: "channel signatures swapped", data: func(w *world) []byte {
			a := chanAnn(t, 4, 4, 5, 10)
			a.Sig1, a.Sig2 = a.Sig2, a.Sig1
			return enc(t, a)
		}, verdict: Reject, reason: ReasonBadSignature},
		{name: "channel signed twice by one end", data: func(w *world) []byte {
			a := chanAnn(t, 4, 4, 5, 10)
			a.Sig2 = a.Sig1
			return enc(t, a)
		}, verdict: Reject, reason: ReasonBadSignature},
		{name: "channel capacity inflated after signing", data: func(w *world) []byte {
			a := chanAnn(t, 4, 4, 5, 10)
			a.Capacity = 10_000
			return enc(t, a)
		}, verdict: Reject, reason: ReasonBadSignature},
		{name: "channel full", cfg: Config{MaxChannels: 3},
			before: []step{{data: func(w *world) []byte { return enc(t, chanAnn(t, 4, 4, 5, 10)) }}},
			data:   func(w *world) []byte { return enc(t, chanAnn(t, 5, 4, 5, 10)) }, verdict: Ignore, reason: ReasonFull},

		// Channel updates.
		{name: "update dir 1->2", data: func(w *world) []byte { return enc(t, update(t, w.ann1, 1, t0)) }, verdict: Accept},
		{name: "update dir 2->1", data: func(w *world) []byte { return enc(t, update(t, w.ann1, 2, t0)) }, verdict: Accept},
		{name: "update unknown channel", data: func(w *world) []byte { return enc(t, update(t, chanAnn(t, 4, 4, 5, 10), 4, t0)) },
			verdict: Ignore, reason: ReasonUnknownChannel},
		{name: "update unknown channel, strict", cfg: Config{RejectUnknownChannel: true},
			data: func(w *world) []byte { return enc(t, update(t, chanAnn(t, 4, 4, 5, 10), 4, t0)) }, verdict: Reject, reason: ReasonUnknownChannel},
		{name: "update unknown channel, strict, from sync", cfg: Config{RejectUnknownChannel: true}, src: FromSync,
			data: func(w *world) []byte { return enc(t, update(t, chanAnn(t, 4, 4, 5, 10), 4, t0)) }, verdict: Ignore, reason: ReasonUnknownChannel},
		{name: "update closed channel", data: func(w *world) []byte { return enc(t, update(t, w.ann3, 1, t0)) }, verdict: Ignore, reason: ReasonClosedChannel},
		{name: "update above capacity", data: func(w *world) []byte {
			a := *w.ann1
			a.Capacity = 2_000_000 // sign against a bigger capacity
			u := update(t, &a, 1, t0)
			return enc(t, u)
		}, verdict: Reject, reason: ReasonOutOfBounds},
		{name: "update signed by the other end", data: func(w *world) []byte {
			u := update(t, w.ann1, 2, t0)
			u.Direction ^= 1
			return enc(t, u)
		}, verdict: Reject, reason: ReasonBadSignature},
		{name: "update fee changed after signing", data: func(w *world) []byte {
			u := update(t, w.ann1, 1, t0)
			u.FeePPM++
			return enc(t, u)
		}, verdict: Reject, reason: ReasonBadSignature},
		{name: "update replayed", before: []step{{data: func(w *world) []byte { return enc(t, update(t, w.ann1, 1, t0)) }}},
			data: func(w *world) []byte { return enc(t, update(t, w.ann1, 1, t0)) }, verdict: Ignore, reason: ReasonDuplicate},
		{name: "update same timestamp other fees", before: []step{{data: func(w *world) []byte { return enc(t, update(t, w.ann1, 1, t0)) }}},
			data: func(w *world) []byte {
				k, _ := testKey(t, 1)
				u := update(t, w.ann1, 1, t0)
				u.FeeBase = 7
				if err := u.Sign(w.ann1, k); err != nil {
					t.Fatal(err)
				}
				return enc(t, u)
			}, verdict: Ignore, reason: ReasonDuplicate},
		{name: "update older", before: []step{{data: func(w *world) []byte { return enc(t, update(t, w.ann1, 1, t0)) }}},
			data: func(w *world) []byte { return enc(t, update(t, w.ann1, 1, t0.Add(-time.Millisecond))) }, verdict: Ignore, reason: ReasonStale},
		{name: "update other direction independent", before: []step{{data: func(w *world) []byte { return enc(t, update(t, w.ann1, 1, t0)) }}},
			data: func(w *world) []byte { return enc(t, update(t, w.ann1, 2, t0.Add(-min))) }, verdict: Accept},
		{name: "update future", data: func(w *world) []byte { return enc(t, update(t, w.ann1, 1, t0.Add(11*min))) }, verdict: Ignore, reason: ReasonFuture},
		{name: "update future, from sync", src: FromSync,
			data: func(w *world) []byte { return enc(t, update(t, w.ann1, 1, t0.Add(11*min))) }, verdict: Ignore, reason: ReasonFuture},
		{name: "update too old", data: func(w *world) []byte { return enc(t, update(t, w.ann1, 1, t0.Add(-14*24*time.Hour-1))) }, verdict: Ignore, reason: ReasonStale},

		// Closed notices.
		{name: "closed by node1", data: func(w *world) []byte { return enc(t, closedNotice(t, w.ann1, 1, t0)) }, verdict: Accept},
		{name: "closed by node2", data: func(w *world) []byte { return enc(t, closedNotice(t, w.ann1, 2, t0)) }, verdict: Accept},
		{name: "closed twice", data: func(w *world) []byte { return enc(t, closedNotice(t, w.ann3, 1, t0)) }, verdict: Ignore, reason: ReasonDuplicate},
		{name: "closed unknown channel", data: func(w *world) []byte { return enc(t, closedNotice(t, chanAnn(t, 4, 4, 5, 10), 4, t0)) },
			verdict: Ignore, reason: ReasonUnknownChannel},
		{name: "closed forged", data: func(w *world) []byte {
			c := closedNotice(t, w.ann1, 1, t0)
			c.Side ^= 1 // claims the other end closed it
			return enc(t, c)
		}, verdict: Reject, reason: ReasonBadSignature},
		{name: "closed by outsider", data: func(w *world) []byte {
			// Node 3 signs a notice for channel 1 using its own channel's
			// short id trick: sign ann2's notice, relabel to channel 1.
			c := closedNotice(t, w.ann2, 3, t0)
			c.ShortID = w.ann1.ChannelID.Short()
			return enc(t, c)
		}, verdict: Reject, reason: ReasonBadSignature},
		{name: "closed future", data: func(w *world) []byte { return enc(t, closedNotice(t, w.ann1, 1, t0.Add(time.Hour))) }, verdict: Ignore, reason: ReasonFuture},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.cfg)
			for _, s := range tc.before {
				now := s.now
				if now.IsZero() {
					now = t0
				}
				mustAccept(t, w.v, s.data(w), now, s.src)
			}
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			data := tc.data(w)
			r := w.v.Validate(data, now, tc.src)
			if r.Verdict != tc.verdict || r.Reason != tc.reason {
				t.Fatalf("got %s %q (%v), want %s %q", r.Verdict, r.Reason, r.Err, tc.verdict, tc.reason)
			}
			if (r.Verdict == Accept) != (r.Err == nil) {
				t.Fatalf("verdict %s with err %v", r.Verdict, r.Err)
			}
			if r.Message == nil {
				t.Fatal("decoded message missing from result")
			}
			if r.Verdict == Accept {
				// Accepting records the message: the same bytes again are
				// never accepted twice.
				if again := w.v.Validate(data, now, tc.src); again.Verdict == Accept {
					t.Fatal("accepted the same message twice")
				}
			}
		})
	}
}

func TestReasonsAreFixed(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range Reasons() {
		if seen[r] || r == "" || strings.ContainsAny(string(r), " -ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Errorf("bad or repeated reason %q", r)
		}
		seen[r] = true
	}
	if len(seen) != 13 {
		t.Errorf("%d reasons", len(seen))
	}
}

func TestResultCarriesChannel(t *testing.T) {
	w := newWorld(t, Config{})
	r := mustAccept(t, w.v, enc(t, update(t, w.ann1, 2, t0)), t0, FromGossip)
	if r.Channel.Node1 != w.ann1.Node1 || r.Channel.Node2 != w.ann1.Node2 || r.Channel.ID != w.ann1.ChannelID || r.Channel.Capacity != w.ann1.Capacity {
		t.Fatalf("channel %+v", r.Channel)
	}
	if _, id2 := testKey(t, 2); w.ann1.Endpoint(r.Message.(*ChannelUpdate).Direction) != id2 {
		t.Fatal("update by node 2 does not start at node 2")
	}
	info, ok := w.v.Channel(w.ann1.ChannelID.Short())
	if !ok || info != r.Channel {
		t.Fatalf("Channel() = %+v %v", info, ok)
	}
	if _, ok := w.v.Channel(w.ann3.ChannelID.Short()); ok {
		t.Fatal("closed channel still known")
	}
}

func TestPrematureUpdatesParked(t *testing.T) {
	v := newValidator(t, Config{PendingTTL: 5 * time.Minute})
	ann := chanAnn(t, 1, 1, 2, 1000)
	u1 := enc(t, update(t, ann, 1, t0))
	u2 := enc(t, update(t, ann, 2, t0))
	for _, u := range [][]byte{u1, u2, u1} {
		if r := v.Validate(u, t0, FromGossip); r.Verdict != Ignore || r.Reason != ReasonUnknownChannel || !errors.Is(r.Err, ErrUnknownChannel) {
			t.Fatalf("premature update: %s %s %v", r.Verdict, r.Reason, r.Err)
		}
	}
	if s := v.Stats(); s.Pending != 1 {
		t.Fatalf("pending %d", s.Pending)
	}
	r := mustAccept(t, v, enc(t, ann), t0.Add(time.Minute), FromGossip)
	if len(r.Released) != 2 {
		t.Fatalf("released %d, want 2 (duplicates parked once)", len(r.Released))
	}
	for _, b := range r.Released {
		mustAccept(t, v, b, t0.Add(time.Minute), FromGossip)
	}
	if s := v.Stats(); s.Pending != 0 {
		t.Fatalf("pending %d after release", s.Pending)
	}

	// Parked messages expire.
	ann2 := chanAnn(t, 2, 1, 2, 1000)
	v.Validate(enc(t, update(t, ann2, 1, t0)), t0, FromGossip)
	r = mustAccept(t, v, enc(t, ann2), t0.Add(6*time.Minute), FromGossip)
	if len(r.Released) != 0 {
		t.Fatalf("released %d expired messages", len(r.Released))
	}
}

func TestPendingBounded(t *testing.T) {
	v := newValidator(t, Config{MaxPending: 3})
	for i := range 10 {
		ann := chanAnn(t, 10+i, 1, 2, 1000)
		for j := range 5 {
			v.Validate(enc(t, update(t, ann, 1, t0.Add(time.Duration(j)*time.Second))), t0, FromGossip)
		}
	}
	if s := v.Stats(); s.Pending != 3 {
		t.Fatalf("pending %d, want 3", s.Pending)
	}
	total := 0
	for _, l := range v.pending {
		if len(l) > maxParkedPerChannel {
			t.Fatalf("%d parked for one channel", len(l))
		}
		total += len(l)
	}
	if total != 3*maxParkedPerChannel {
		t.Fatalf("%d parked", total)
	}
}

func TestRateLimits(t *testing.T) {
	cfg := Config{
		UpdateLimit:              Limit{Burst: 4, Every: 15 * time.Minute},
		NodeAnnouncementLimit:    Limit{Burst: 2, Every: time.Hour},
		ChannelAnnouncementLimit: Limit{Burst: 2, Every: time.Hour},
	}
	t.Run("updates per direction", func(t *testing.T) {
		w := newWorld(t, cfg)
		ts := t0
		send := func(node int, now time.Time) Result {
			ts = ts.Add(time.Second)
			return w.v.Validate(enc(t, update(t, w.ann1, node, ts)), now, FromGossip)
		}
		for i := range 4 {
			if r := send(1, t0); r.Verdict != Accept {
				t.Fatalf("update %d: %s %s", i, r.Verdict, r.Reason)
			}
		}
		if r := send(1, t0); r.Verdict != Ignore || r.Reason != ReasonRateLimited {
			t.Fatalf("5th update: %s %s", r.Verdict, r.Reason)
		}
		// The other direction has its own bucket.
		if r := send(2, t0); r.Verdict != Accept {
			t.Fatalf("other direction: %s %s", r.Verdict, r.Reason)
		}
		// Forged updates do not spend tokens.
		for range 10 {
			ts = ts.Add(time.Second)
			u := update(t, w.ann1, 1, ts)
			u.Signature[0] ^= 1
			if r := w.v.Validate(enc(t, u), t0.Add(15*time.Minute), FromGossip); r.Verdict != Reject {
				t.Fatalf("forged: %s", r.Verdict)
			}
		}
		// One token back after 15 minutes, not two.
		if r := send(1, t0.Add(15*time.Minute-time.Millisecond)); r.Reason != ReasonRateLimited {
			t.Fatalf("just before refill: %s %s", r.Verdict, r.Reason)
		}
		if r := send(1, t0.Add(15*time.Minute)); r.Verdict != Accept {
			t.Fatalf("after refill: %s %s", r.Verdict, r.Reason)
		}
		if r := send(1, t0.Add(15*time.Minute)); r.Reason != ReasonRateLimited {
			t.Fatalf("second after refill: %s %s", r.Verdict, r.Reason)
		}
		// A full refill after an hour: the burst again.
		for i := range 4 {
			if r := send(1, t0.Add(2*time.Hour)); r.Verdict != Accept {
				t.Fatalf("burst after idle, update %d: %s %s", i, r.Verdict, r.Reason)
			}
		}
		// Graph sync is not rate limited.
		for i := range 10 {
			if r := send(1, t0.Add(2*time.Hour)); i == 0 && r.Reason != ReasonRateLimited {
				t.Fatalf("gossip after burst: %s", r.Reason)
			}
			ts = ts.Add(time.Second)
			if r := w.v.Validate(enc(t, update(t, w.ann1, 1, ts)), t0.Add(2*time.Hour), FromSync); r.Verdict != Accept {
				t.Fatalf("sync update %d: %s %s", i, r.Verdict, r.Reason)
			}
		}
	})
	t.Run("node announcements per node", func(t *testing.T) {
		w := newWorld(t, cfg)
		for i := range 3 {
			r := w.v.Validate(enc(t, nodeAnn(t, 1, t0.Add(time.Duration(i)*time.Second))), t0, FromGossip)
			want := Accept
			if i == 2 {
				want = Ignore
			}
			if r.Verdict != want {
				t.Fatalf("announcement %d: %s %s", i, r.Verdict, r.Reason)
			}
		}
		mustAccept(t, w.v, enc(t, nodeAnn(t, 2, t0)), t0, FromGossip)
		mustAccept(t, w.v, enc(t, nodeAnn(t, 1, t0.Add(time.Minute))), t0.Add(time.Hour), FromGossip)
	})
	t.Run("channel announcements per node", func(t *testing.T) {
		v := newValidator(t, cfg)
		mustAccept(t, v, enc(t, chanAnn(t, 1, 1, 2, 10)), t0, FromGossip)
		mustAccept(t, v, enc(t, chanAnn(t, 2, 1, 3, 10)), t0, FromGossip)
		// Node 1's burst is spent; node 4's is not, but both must pay.
		if r := v.Validate(enc(t, chanAnn(t, 3, 1, 4, 10)), t0, FromGossip); r.Reason != ReasonRateLimited {
			t.Fatalf("third channel of node 1: %s %s", r.Verdict, r.Reason)
		}
		// The refused channel cost node 4 nothing.
		mustAccept(t, v, enc(t, chanAnn(t, 4, 4, 5, 10)), t0, FromGossip)
		mustAccept(t, v, enc(t, chanAnn(t, 5, 4, 6, 10)), t0, FromGossip)
		// Sync is not limited.
		mustAccept(t, v, enc(t, chanAnn(t, 3, 1, 4, 10)), t0, FromSync)
		mustAccept(t, v, enc(t, chanAnn(t, 6, 1, 7, 10)), t0.Add(time.Hour), FromGossip)
	})
}

func TestBucket(t *testing.T) {
	l := Limit{Burst: 3, Every: 10 * time.Second}
	var b bucket
	base := int64(1_000_000)
	steps := []struct {
		at   int64
		want bool
	}{
		{0, true}, {0, true}, {0, true}, {0, false},
		{9_999, false}, {10_000, true}, {10_000, false},
		{5_000, false}, // time going backwards refills nothing
		{40_000, true}, {40_000, true}, {40_000, true}, {40_000, false},
	}
	for i, s := range steps {
		if got := b.allow(l, base+s.at); got != s.want {
			t.Fatalf("step %d at %d: %v, want %v", i, s.at, got, s.want)
		}
	}
	var u bucket
	for range 100 {
		if !u.allow(Unlimited, base) {
			t.Fatal("unlimited refused")
		}
	}
	var z bucket
	if z.allow(Limit{Burst: 0, Every: time.Second}, base) {
		t.Fatal("zero burst allowed")
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c != DefaultConfig() {
		t.Fatalf("defaults %+v", c)
	}
	for _, bad := range []Config{
		{MaxAge: -1},
		{MaxPending: -1},
		{UpdateLimit: Limit{Burst: 2, Every: -time.Second}},
		{NodeAnnouncementLimit: Limit{Burst: 2_000_000, Every: time.Second}},
	} {
		if _, err := NewValidator(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("config %+v: %v", bad, err)
		}
	}
}

func TestConcurrentValidation(t *testing.T) {
	w := newWorld(t, Config{UpdateLimit: Unlimited})
	// Eight different updates with the same timestamp race: exactly one wins.
	k, _ := testKey(t, 1)
	var data [][]byte
	for i := range 8 {
		u := update(t, w.ann1, 1, t0)
		u.FeeBase = uint64(i)
		if err := u.Sign(w.ann1, k); err != nil {
			t.Fatal(err)
		}
		data = append(data, enc(t, u))
	}
	var wg sync.WaitGroup
	verdicts := make([]Verdict, len(data))
	for i := range data {
		wg.Go(func() { verdicts[i] = w.v.Validate(data[i], t0, FromGossip).Verdict })
	}
	wg.Wait()
	accepted := 0
	for _, v := range verdicts {
		if v == Accept {
			accepted++
		}
	}
	if accepted != 1 {
		t.Fatalf("%d accepted, want 1", accepted)
	}
}

// A channel pruned and announced again between nodes 3 and 4 while an
// update from node 1 waited for its second look: the signature, good for
// the old channel, must be checked against the new one and refused.
func TestSecondLookRechecksReplacedChannel(t *testing.T) {
	v := newValidator(t, Config{})
	ann := chanAnn(t, 1, 1, 2, 1000)
	mustAccept(t, v, enc(t, ann), t0, FromGossip)
	now := t0.Add(time.Minute)
	p, r, decided := v.begin(enc(t, update(t, ann, 1, now)), now, FromSync)
	if decided {
		t.Fatalf("first look decided: %s %v", r.Verdict, r.Err)
	}
	ok := []bool{verifyOne(p.checks()[0])}
	if !ok[0] {
		t.Fatal("update's signature does not check")
	}
	later := now.Add(15 * 24 * time.Hour)
	if res := v.Prune(later, 14*24*time.Hour); len(res.Channels) != 1 {
		t.Fatalf("pruned %+v", res)
	}
	mustAccept(t, v, enc(t, chanAnn(t, 1, 3, 4, 1000)), later, FromGossip)
	if r := v.end(&p, ok, false); r.Verdict != Reject || !errors.Is(r.Err, ErrBadSignature) {
		t.Fatalf("update of the replaced channel: %s %s %v", r.Verdict, r.Reason, r.Err)
	}
}
