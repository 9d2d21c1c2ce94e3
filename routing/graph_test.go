package routing

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func pol(base uint64, ppm uint32, delta uint64) *Policy {
	return &Policy{FeeBase: base, FeePPM: ppm, ExpiryDelta: delta, HTLCMin: 1}
}

func TestChannelIDString(t *testing.T) {
	tests := []struct {
		in   string
		want ChannelID
		ok   bool
	}{
		{"513887x1177x0", ChannelID(513887<<40 | 1177<<16), true},
		{"1x2x3", ChannelID(1<<40 | 2<<16 | 3), true},
		{"123456789", 123456789, true},
		{"1x2", 0, false},
		{"1x2x70000", 0, false},
		{"axbxc", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseChannelID(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseChannelID(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && tt.in != "123456789" && got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
	if got := ChannelIDFromBytes([]byte{0, 0, 0, 0, 0, 0, 1, 2, 9, 9}); got != 0x0102 {
		t.Errorf("ChannelIDFromBytes = %#x", uint64(got))
	}
}

func TestFee(t *testing.T) {
	tests := []struct {
		base, ppm uint32
		amount    uint64
		want      uint64
	}{
		{1000, 1, 1_000_000, 1001},
		{0, 1000, 110_010, 110},        // 110.01 rounds down
		{10, 100_000, 100_000, 10_010}, // 10%
		{0, 1, 999_999, 0},
		{5, 0, 1 << 63, 5},
		{0, 1_000_000, 1 << 63, 1 << 63},
		{0, 4_000_000_000, 1 << 63, ^uint64(0)}, // saturates
	}
	for _, tt := range tests {
		if got := fee(tt.base, tt.ppm, tt.amount); got != tt.want {
			t.Errorf("fee(%d,%d,%d) = %d, want %d", tt.base, tt.ppm, tt.amount, got, tt.want)
		}
	}
}

func TestGraphCopyOnWrite(t *testing.T) {
	g := NewGraph()
	if err := g.UpsertChannel(ChannelInfo{ID: 1, Node1: "b", Node2: "a", Capacity: 100, Policy: [2]*Policy{pol(1, 0, 0), nil}}); err != nil {
		t.Fatal(err)
	}
	s1 := g.Snapshot()
	info, ok := s1.Channel(1)
	if !ok || info.Node1 != "a" || info.Node2 != "b" || info.Policy[0] != nil || info.Policy[1] == nil || info.Policy[1].FeeBase != 1 {
		t.Fatalf("channel 1 not normalised: %+v ok=%v", info, ok)
	}
	if info.Policy[1].HTLCMax != 100 {
		t.Errorf("HTLCMax 0 should mean capacity, got %d", info.Policy[1].HTLCMax)
	}
	err := g.Update(func(tx *Tx) error {
		if err := tx.UpdatePolicy(1, 0, pol(7, 7, 7)); err != nil {
			return err
		}
		if err := tx.UpsertChannel(ChannelInfo{ID: 2, Node1: "a", Node2: "c", Capacity: 5}); err != nil {
			return err
		}
		tx.RemoveChannel(99) // unknown: no-op
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s2 := g.Snapshot()
	if info, _ := s1.Channel(1); info.Policy[0] != nil {
		t.Error("old snapshot saw a later policy update")
	}
	if s1.HasNode("c") || s1.NumChannels() != 1 || len(s1.ChannelsOf("a")) != 1 {
		t.Error("old snapshot saw a later channel")
	}
	if info, _ := s2.Channel(1); info.Policy[0] == nil || info.Policy[0].FeePPM != 7 {
		t.Error("new snapshot misses the policy update")
	}
	if !s2.HasNode("c") || s2.NumChannels() != 2 || len(s2.ChannelsOf("a")) != 2 {
		t.Errorf("new snapshot: nodes %d channels %d", s2.NumNodes(), s2.NumChannels())
	}
	// A failed transaction leaves no trace, not even in the shared id table.
	bad := g.Update(func(tx *Tx) error {
		_ = tx.UpsertChannel(ChannelInfo{ID: 3, Node1: "x", Node2: "y", Capacity: 5})
		return errors.New("boom")
	})
	if bad == nil || g.Snapshot().HasNode("x") || g.Snapshot() != s2 {
		t.Error("aborted transaction leaked")
	}
	if _, ok := g.Snapshot().ids.node("x"); ok {
		t.Error("aborted transaction left an id behind")
	}
	_ = g.Update(func(tx *Tx) error { tx.RemoveChannel(1); return nil })
	s3 := g.Snapshot()
	if _, ok := s3.Channel(1); ok || s3.NumChannels() != 1 || len(s3.ChannelsOf("b")) != 0 {
		t.Error("remove failed")
	}
	if _, ok := s2.Channel(1); !ok || len(s2.ChannelsOf("b")) != 1 {
		t.Error("remove leaked into older snapshot")
	}
	// Re-adding reuses the index.
	if err := g.UpsertChannel(ChannelInfo{ID: 1, Node1: "a", Node2: "c", Capacity: 9}); err != nil {
		t.Fatal(err)
	}
	if s4 := g.Snapshot(); s4.NumChannels() != 2 || len(s4.ChannelsOf("c")) != 2 || len(s4.ChannelsOf("b")) != 0 {
		t.Errorf("re-add: %d channels, c has %v", s4.NumChannels(), s4.ChannelsOf("c"))
	}
}

func TestGraphRejects(t *testing.T) {
	g := NewGraph()
	tests := []ChannelInfo{
		{ID: 1, Node1: "a", Node2: "a", Capacity: 5},
		{ID: 1, Node1: "a", Node2: "b", Capacity: 0},
		{ID: 1, Node1: "a", Node2: "b", Capacity: 5, Policy: [2]*Policy{{FeeBase: 1 << 33}}},
		{ID: 1, Node1: "a", Node2: "b", Capacity: 5, Policy: [2]*Policy{nil, {ExpiryDelta: 1 << 33}}},
		{ID: 1, Node1: "a", Node2: "b", Capacity: 5, Policy: [2]*Policy{{HTLCMin: 5, HTLCMax: 4}}},
	}
	for i, c := range tests {
		if err := g.UpsertChannel(c); !errors.Is(err, ErrInvalidChannel) {
			t.Errorf("case %d: err = %v, want ErrInvalidChannel", i, err)
		}
	}
	if err := g.Update(func(tx *Tx) error { return tx.UpdatePolicy(42, 0, nil) }); !errors.Is(err, ErrUnknownChannel) {
		t.Errorf("UpdatePolicy unknown: %v", err)
	}
	if g.Snapshot().NumNodes() != 0 {
		t.Error("rejected channels left nodes behind")
	}
}

// TestGraphConcurrentReaders runs readers against a writer; run with -race.
func TestGraphConcurrentReaders(t *testing.T) {
	g, err := GenerateScaleFree(GenConfig{Nodes: 200, Channels: 600, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := NewStrategy(StrategyCheapest, Config{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s := g.Snapshot()
				_, _ = st.FindRoutes(Input{Graph: s, Request: Request{Source: GenNodeID(r), Target: GenNodeID(100 + i%100), Amount: 1000}})
			}
		}()
	}
	var ids []ChannelID
	g.Snapshot().Channels(func(c ChannelInfo) bool { ids = append(ids, c.ID); return true })
	for i := range 300 {
		err := g.Update(func(tx *Tx) error {
			if i%3 == 0 {
				tx.RemoveChannel(ids[i])
				return nil
			}
			return tx.UpdatePolicy(ids[i], Direction(i&1), &Policy{FeeBase: uint64(i), LastUpdate: time.Unix(int64(i), 0)})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if got := g.Snapshot().NumChannels(); got != 500 {
		t.Errorf("channels after 100 removals: %d, want 500", got)
	}
}

func TestGenerateScaleFree(t *testing.T) {
	g, err := GenerateScaleFree(GenConfig{Nodes: 1000, Channels: 5000, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	s := g.Snapshot()
	if s.NumNodes() != 1000 || s.NumChannels() != 5000 {
		t.Fatalf("got %d nodes %d channels", s.NumNodes(), s.NumChannels())
	}
	maxDeg := 0
	s.Nodes(func(n NodeID) bool { maxDeg = max(maxDeg, len(s.ChannelsOf(n))); return true })
	// Preferential attachment gives hubs far above the mean degree of 10.
	if maxDeg < 60 {
		t.Errorf("max degree %d: not scale-free", maxDeg)
	}
	if _, err := GenerateScaleFree(GenConfig{Nodes: 3, Channels: 4}); err == nil {
		t.Error("impossible size accepted")
	}
}
