package routing

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// graphModel is the reference: channels by id, normalised.
type graphModel map[ChannelID]ChannelInfo

func (m graphModel) normalise(c ChannelInfo) ChannelInfo {
	if c.Node1 > c.Node2 {
		c.Node1, c.Node2 = c.Node2, c.Node1
		c.Policy[0], c.Policy[1] = c.Policy[1], c.Policy[0]
	}
	for d, p := range c.Policy {
		if p != nil {
			q := *p
			if q.HTLCMax == 0 || q.HTLCMax > c.Capacity {
				q.HTLCMax = c.Capacity
			}
			c.Policy[d] = &q
		}
	}
	return c
}

func sameInfo(a, b ChannelInfo) bool {
	if a.ID != b.ID || a.Node1 != b.Node1 || a.Node2 != b.Node2 || a.Capacity != b.Capacity {
		return false
	}
	for d := range 2 {
		pa, pb := a.Policy[d], b.Policy[d]
		if (pa == nil) != (pb == nil) || (pa != nil && *pa != *pb) {
			return false
		}
	}
	return true
}

// checkSnapshot compares a snapshot with the model it should equal.
func checkSnapshot(t *rapid.T, s *Snapshot, m graphModel) {
	if s.NumChannels() != len(m) {
		t.Fatalf("snapshot has %d channels, model %d", s.NumChannels(), len(m))
	}
	seen := 0
	s.Channels(func(c ChannelInfo) bool {
		seen++
		if want, ok := m[c.ID]; !ok || !sameInfo(c, want) {
			t.Fatalf("channel %v: snapshot %+v, model %+v (present %v)", c.ID, c, want, ok)
		}
		return true
	})
	if seen != len(m) {
		t.Fatalf("iterated %d channels, want %d", seen, len(m))
	}
	adj := map[NodeID][]ChannelID{}
	for id, c := range m {
		adj[c.Node1] = append(adj[c.Node1], id)
		adj[c.Node2] = append(adj[c.Node2], id)
	}
	s.Nodes(func(n NodeID) bool {
		got := s.ChannelsOf(n)
		slices.Sort(got)
		want := adj[n]
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("ChannelsOf(%s) = %v, want %v", n, got, want)
		}
		return true
	})
}

// TestPropertyGraphMatchesModel applies random transactions (some aborted)
// and checks every snapshot ever published still equals the model state at
// its commit: copy-on-write never leaks a later change into an older
// snapshot.
func TestPropertyGraphMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g := NewGraph()
		model := graphModel{}
		type published struct {
			s *Snapshot
			m graphModel
		}
		var history []published
		nodes := []NodeID{"a", "b", "c", "d", "e", "f"}
		drawPolicy := func(t *rapid.T) *Policy {
			if rapid.IntRange(0, 3).Draw(t, "nil") == 0 {
				return nil
			}
			return &Policy{FeeBase: rapid.Uint64Range(0, 5000).Draw(t, "base"), FeePPM: rapid.Uint32().Draw(t, "ppm"),
				HTLCMax: rapid.Uint64Range(0, 2000).Draw(t, "max"), Disabled: rapid.Bool().Draw(t, "dis")}
		}
		for range rapid.IntRange(1, 30).Draw(t, "txs") {
			next := maps.Clone(model)
			abort := rapid.IntRange(0, 5).Draw(t, "abort") == 0
			err := g.Update(func(tx *Tx) error {
				for range rapid.IntRange(1, 6).Draw(t, "ops") {
					id := ChannelID(rapid.IntRange(1, 12).Draw(t, "id"))
					switch rapid.IntRange(0, 3).Draw(t, "op") {
					case 0, 1:
						c := ChannelInfo{ID: id, Node1: rapid.SampledFrom(nodes).Draw(t, "n1"), Node2: rapid.SampledFrom(nodes).Draw(t, "n2"),
							Capacity: rapid.Uint64Range(0, 1500).Draw(t, "cap"), Policy: [2]*Policy{drawPolicy(t), drawPolicy(t)}}
						err := tx.UpsertChannel(c)
						valid := c.Node1 != c.Node2 && c.Capacity > 0
						if (err == nil) != valid {
							t.Fatalf("UpsertChannel(%+v) = %v", c, err)
						}
						if err == nil {
							next[id] = next.normalise(c)
						}
					case 2:
						p := drawPolicy(t)
						d := Direction(rapid.IntRange(0, 1).Draw(t, "dir"))
						err := tx.UpdatePolicy(id, d, p)
						c, ok := next[id]
						if ok != (err == nil) || (!ok && !errors.Is(err, ErrUnknownChannel)) {
							t.Fatalf("UpdatePolicy(%v): %v, known %v", id, err, ok)
						}
						if ok {
							c.Policy[d] = p
							next[id] = next.normalise(c)
						}
					case 3:
						tx.RemoveChannel(id)
						delete(next, id)
					}
				}
				if abort {
					return errors.New("abort")
				}
				return nil
			})
			if abort != (err != nil) {
				t.Fatalf("abort %v, err %v", abort, err)
			}
			if !abort {
				model = next
				history = append(history, published{g.Snapshot(), maps.Clone(model)})
			}
			checkSnapshot(t, g.Snapshot(), model)
		}
		for _, h := range history {
			checkSnapshot(t, h.s, h.m)
		}
	})
}
