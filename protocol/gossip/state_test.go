package gossip

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestPrune(t *testing.T) {
	day := 24 * time.Hour
	v := newValidator(t, Config{MaxAge: 30 * day})
	fresh := chanAnn(t, 1, 1, 2, 1000)  // updated recently
	old := chanAnn(t, 2, 3, 4, 1000)    // last update 20 days ago
	silent := chanAnn(t, 3, 5, 6, 1000) // never updated, arrived 20 days ago
	closed := chanAnn(t, 4, 1, 3, 1000) // closed 20 days ago
	start := t0.Add(-20 * day)
	for _, a := range []*ChannelAnnouncement{fresh, old, silent, closed} {
		mustAccept(t, v, enc(t, a), start, FromGossip)
	}
	mustAccept(t, v, enc(t, update(t, old, 3, start)), start, FromGossip)
	mustAccept(t, v, enc(t, update(t, old, 4, start.Add(-time.Hour))), start, FromGossip)
	mustAccept(t, v, enc(t, update(t, fresh, 1, start)), start, FromGossip)
	mustAccept(t, v, enc(t, update(t, fresh, 2, t0.Add(-day))), t0, FromGossip)
	mustAccept(t, v, enc(t, closedNotice(t, closed, 1, start)), start, FromGossip)
	mustAccept(t, v, enc(t, nodeAnn(t, 5, start)), start, FromGossip)

	res := v.Prune(t0, 14*day)
	gotCh := []uint64{}
	for _, c := range res.Channels {
		gotCh = append(gotCh, c.ID.Short())
	}
	wantCh := []uint64{old.ChannelID.Short(), silent.ChannelID.Short()}
	slices.Sort(wantCh)
	if !slices.Equal(gotCh, wantCh) {
		t.Fatalf("pruned channels %v, want %v", gotCh, wantCh)
	}
	_, id3 := testKey(t, 3)
	_, id4 := testKey(t, 4)
	_, id5 := testKey(t, 5)
	_, id6 := testKey(t, 6)
	wantNodes := []peer.ID{id3, id4, id5, id6}
	slices.Sort(wantNodes)
	if !slices.Equal(res.Nodes, wantNodes) {
		t.Fatalf("pruned nodes %v, want %v", res.Nodes, wantNodes)
	}
	if !slices.Equal(res.Closed, []uint64{closed.ChannelID.Short()}) {
		t.Fatalf("forgotten tombstones %v", res.Closed)
	}
	if s := v.Stats(); s.Channels != 1 || s.Nodes != 2 || s.Closed != 0 {
		t.Fatalf("stats after prune %+v", s)
	}
	// The fresh channel and its nodes still work.
	mustAccept(t, v, enc(t, update(t, fresh, 1, t0)), t0, FromGossip)
	mustAccept(t, v, enc(t, nodeAnn(t, 1, t0)), t0, FromGossip)
	// A pruned channel comes back when re-announced; its node too.
	mustAccept(t, v, enc(t, old), t0, FromGossip)
	mustAccept(t, v, enc(t, nodeAnn(t, 3, t0)), t0, FromGossip)
	// Pruning again at once removes nothing new but the re-announced
	// channel is fresh (arrived now).
	if res := v.Prune(t0, 14*day); len(res.Channels)+len(res.Nodes)+len(res.Closed) != 0 {
		t.Fatalf("second prune %+v", res)
	}
}

func TestPruneChannellessNodes(t *testing.T) {
	day := 24 * time.Hour
	v := newValidator(t, Config{AcceptChannellessNodes: true, MaxAge: 30 * day})
	mustAccept(t, v, enc(t, nodeAnn(t, 1, t0.Add(-20*day))), t0, FromGossip)
	mustAccept(t, v, enc(t, nodeAnn(t, 2, t0.Add(-day))), t0, FromGossip)
	res := v.Prune(t0, 14*day)
	_, id1 := testKey(t, 1)
	if !slices.Equal(res.Nodes, []peer.ID{id1}) {
		t.Fatalf("pruned %v", res.Nodes)
	}
}

func TestPrunePending(t *testing.T) {
	v := newValidator(t, Config{PendingTTL: time.Minute})
	v.Validate(enc(t, update(t, chanAnn(t, 1, 1, 2, 10), 1, t0)), t0, FromGossip)
	v.Prune(t0.Add(30*time.Second), 14*24*time.Hour)
	if v.Stats().Pending != 1 {
		t.Fatal("fresh parked message pruned")
	}
	v.Prune(t0.Add(2*time.Minute), 14*24*time.Hour)
	if v.Stats().Pending != 0 {
		t.Fatal("expired parked message kept")
	}
}

func TestRestore(t *testing.T) {
	// What a node persisted: announcements, latest updates, a closed
	// notice and a node announcement.
	ann1 := chanAnn(t, 1, 1, 2, 1000)
	ann2 := chanAnn(t, 2, 2, 3, 1000)
	stored := [][]byte{
		enc(t, ann1), enc(t, ann2),
		enc(t, update(t, ann1, 1, t0)), enc(t, update(t, ann1, 2, t0)),
		enc(t, closedNotice(t, ann2, 3, t0)),
		enc(t, nodeAnn(t, 1, t0)),
	}
	v := newValidator(t, Config{})
	for _, b := range stored {
		if err := v.Restore(b, t0); err != nil {
			t.Fatal(err)
		}
	}
	// Restoring twice is harmless.
	for _, b := range stored {
		if err := v.Restore(b, t0); err != nil {
			t.Fatalf("second restore: %v", err)
		}
	}
	if s := v.Stats(); s.Channels != 1 || s.Closed != 1 || s.Nodes != 3 {
		t.Fatalf("stats %+v", s)
	}
	later := t0.Add(time.Minute)
	for i, b := range stored {
		if r := v.Validate(b, later, FromGossip); r.Verdict == Accept {
			t.Fatalf("stored message %d accepted again after restore", i)
		}
	}
	mustAccept(t, v, enc(t, update(t, ann1, 1, later)), later, FromGossip)
	mustAccept(t, v, enc(t, nodeAnn(t, 1, later)), later, FromGossip)

	// Order matters: an update needs its channel.
	if err := newValidator(t, Config{}).Restore(enc(t, update(t, ann1, 1, t0)), t0); !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("restore orphan update: %v", err)
	}
	if err := v.Restore([]byte{1, 2, 3}, t0); !errors.Is(err, ErrMalformed) {
		t.Fatalf("restore garbage: %v", err)
	}
}
