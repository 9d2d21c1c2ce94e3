package routing

import (
	"errors"
	"testing"
)

// TestDenseChannelIDs checks the channel id table's dense prefix: ids equal
// to their indices need no map entry, lookups agree with the map's, and an
// aborted transaction rolls the prefix back.
func TestDenseChannelIDs(t *testing.T) {
	g := NewGraph()
	up := func(ids ...ChannelID) {
		t.Helper()
		for _, id := range ids {
			if err := g.UpsertChannel(ChannelInfo{ID: id, Node1: "a", Node2: "b", Capacity: 1000}); err != nil {
				t.Fatal(err)
			}
		}
	}
	up(0, 1, 2, 1) // 1 again: an update, not a new channel
	if d, n := g.Snapshot().ids.dense, len(g.Snapshot().ids.chans); d != 3 || n != 0 {
		t.Fatalf("dense %d, map %d entries; want 3, 0", d, n)
	}
	errAbort := errors.New("abort")
	err := g.Update(func(tx *Tx) error {
		for _, id := range []ChannelID{3, 4, 9} {
			if err := tx.UpsertChannel(ChannelInfo{ID: id, Node1: "a", Node2: "c", Capacity: 1000}); err != nil {
				return err
			}
		}
		if _, ok := tx.Snapshot().Channel(9); !ok {
			t.Error("channel 9 not visible inside its transaction")
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatal(err)
	}
	if d, n := g.Snapshot().ids.dense, len(g.Snapshot().ids.chans); d != 3 || n != 0 {
		t.Fatalf("after abort: dense %d, map %d entries; want 3, 0", d, n)
	}
	old := g.Snapshot()
	up(3, 7, 4) // 7 at index 4 ends the dense prefix; 4 goes to the map
	s := g.Snapshot()
	for i, id := range []ChannelID{0, 1, 2, 3, 7, 4} {
		if ci, ok := s.chanIndex(id); !ok || ci != uint32(i) {
			t.Errorf("channel %d: index %d, %v; want %d", id, ci, ok, i)
		}
	}
	for _, id := range []ChannelID{5, 6, 8, 9} {
		if _, ok := s.Channel(id); ok {
			t.Errorf("channel %d found", id)
		}
	}
	if _, ok := old.Channel(3); ok {
		t.Error("a later channel is visible in an older snapshot")
	}
	if d, n := s.ids.dense, len(s.ids.chans); d != 4 || n != 2 {
		t.Errorf("dense %d, map %d entries; want 4, 2", d, n)
	}
}
