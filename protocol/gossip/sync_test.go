package gossip

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/paymesh/paymesh/protocol/wire"
)

func TestSyncRequestRoundTrip(t *testing.T) {
	for _, since := range []int64{0, 1, t0.UnixMilli()} {
		b, err := SyncRequest{Since: since}.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeSyncRequest(b)
		if err != nil || got.Since != since {
			t.Fatalf("since %d: got %d, %v", since, got.Since, err)
		}
	}
	if _, err := (SyncRequest{Since: -1}).Encode(); !errors.Is(err, ErrOutOfBounds) {
		t.Fatalf("negative since: %v", err)
	}
	if _, err := DecodeSyncRequest([]byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}); !errors.Is(err, ErrOutOfBounds) {
		t.Fatalf("since beyond int64: %v", err)
	}
	if _, err := DecodeSyncRequest([]byte{0xff}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage: %v", err)
	}
}

// graph returns the sync items of n channels between nodes in a ring, with
// two updates each and the nodes' announcements, in sync order.
func graph(t testing.TB, n int) [][]byte {
	var anns, upds, nodes [][]byte
	for i := range n {
		a := chanAnn(t, i, i, (i+1)%n, 1_000_000)
		anns = append(anns, enc(t, a))
		upds = append(upds, enc(t, update(t, a, i, t0)), enc(t, update(t, a, (i+1)%n, t0)))
		nodes = append(nodes, enc(t, nodeAnn(t, i, t0)))
	}
	return append(append(anns, upds...), nodes...)
}

func pack(t testing.TB, items [][]byte, maxItems int) [][]byte {
	p := NewChunkPacker(maxItems)
	var frames [][]byte
	for _, it := range items {
		f, err := p.Add(it)
		if err != nil {
			t.Fatal(err)
		}
		if f != nil {
			frames = append(frames, f)
		}
	}
	f, err := p.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return append(frames, f)
}

func TestChunkPacker(t *testing.T) {
	items := graph(t, 10) // 40 items
	frames := pack(t, items, 16)
	if len(frames) != 3 {
		t.Fatalf("%d frames, want 3", len(frames))
	}
	var got [][]byte
	for i, f := range frames {
		c, err := DecodeSyncChunk(f)
		if err != nil {
			t.Fatal(err)
		}
		last := i == len(frames)-1
		if c.Done != last || (last && c.Total != 40) || (!last && len(c.Items) != 16) {
			t.Fatalf("frame %d: %d items done=%v total=%d", i, len(c.Items), c.Done, c.Total)
		}
		got = append(got, c.Items...)
	}
	if len(got) != len(items) {
		t.Fatalf("%d items, want %d", len(got), len(items))
	}
	for i := range items {
		if !bytes.Equal(got[i], items[i]) {
			t.Fatalf("item %d differs", i)
		}
	}

	// An empty answer is one empty last chunk.
	frames = pack(t, nil, 0)
	c, err := DecodeSyncChunk(frames[0])
	if len(frames) != 1 || err != nil || !c.Done || c.Total != 0 || len(c.Items) != 0 {
		t.Fatalf("empty answer: %d frames, %+v, %v", len(frames), c, err)
	}

	// Big items are split by bytes, every frame within the limit.
	big := make([][]byte, 600)
	for i := range big {
		big[i] = bytes.Repeat([]byte{byte(i)}, wire.MaxGossipMessage)
	}
	frames = pack(t, big, 0)
	n := 0
	for _, f := range frames {
		if len(f) > wire.MaxGraphSyncFrame {
			t.Fatalf("frame of %d bytes", len(f))
		}
		c, err := DecodeSyncChunk(f)
		if err != nil {
			t.Fatal(err)
		}
		n += len(c.Items)
	}
	if n != 600 || len(frames) != 3 {
		t.Fatalf("%d items in %d frames", n, len(frames))
	}
	if _, err := NewChunkPacker(0).Add(nil); err == nil {
		t.Fatal("packed an empty item")
	}
}

func TestDecodeSyncChunkRejects(t *testing.T) {
	item := []byte{1}
	many := make([][]byte, MaxSyncChunkItems+1)
	for i := range many {
		many[i] = item
	}
	mk := func(c *wire.SyncChunk) []byte {
		b, err := marshalOpts.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"oversize frame", make([]byte, wire.MaxGraphSyncFrame+1), ErrOversize},
		{"garbage", []byte{0xff, 0x01}, ErrMalformed},
		{"too many items", mk(&wire.SyncChunk{Items: many}), ErrOutOfBounds},
		{"empty item", mk(&wire.SyncChunk{Items: [][]byte{item, {}}}), ErrMalformed},
		{"oversize item", mk(&wire.SyncChunk{Items: [][]byte{make([]byte, wire.MaxGossipMessage+1)}}), ErrOversize},
		{"total before the end", mk(&wire.SyncChunk{Items: [][]byte{item}, TotalItems: 1}), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeSyncChunk(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSyncSession(t *testing.T) {
	const n = 12
	items := graph(t, n)

	// The serving node accepted everything through gossip.
	server := newValidator(t, Config{})
	for _, it := range items {
		mustAccept(t, server, it, t0, FromSync)
	}

	t.Run("full sync", func(t *testing.T) {
		client := newValidator(t, Config{})
		s := NewSyncSession(client)
		accepted := 0
		frames := pack(t, items, 10)
		for i, f := range frames {
			res, done, err := s.Receive(f, t0)
			if err != nil {
				t.Fatal(err)
			}
			if done != (i == len(frames)-1) {
				t.Fatalf("frame %d done=%v", i, done)
			}
			for _, r := range res {
				if r.Verdict == Accept {
					accepted++
				}
			}
		}
		if accepted != len(items) || s.Items() != uint64(len(items)) {
			t.Fatalf("accepted %d of %d", accepted, len(items))
		}
		if st := client.Stats(); st != server.Stats() {
			t.Fatalf("client %+v, server %+v", st, server.Stats())
		}
		if _, _, err := s.Receive(frames[0], t0); !errors.Is(err, ErrSyncPeer) {
			t.Fatalf("chunk after the last: %v", err)
		}
	})
	t.Run("parallel", func(t *testing.T) {
		// Each kind's run is large enough to split into two batches.
		items := graph(t, 2*minBatchPerWorker)
		server := newValidator(t, Config{})
		for _, it := range items {
			mustAccept(t, server, it, t0, FromSync)
		}
		client := newValidator(t, Config{})
		s := NewSyncSession(client)
		s.Workers = 2
		calls := 0
		s.Run = func(n int, f func(int)) {
			calls++
			if n < 2 || n > 4 {
				t.Errorf("run of %d batches, want 2 to 4 for 2 workers", n)
			}
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { f(i) })
			}
			wg.Wait()
		}
		for _, f := range pack(t, items, 0) {
			res, _, err := s.Receive(f, t0)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if r.Verdict != Accept {
					t.Fatalf("item %d: %s %s", i, r.Verdict, r.Reason)
				}
			}
		}
		if calls != 3 || client.Stats() != server.Stats() {
			t.Fatalf("%d groups, stats %+v", calls, client.Stats())
		}
	})
	t.Run("sync is idempotent", func(t *testing.T) {
		client := newValidator(t, Config{})
		for range 2 {
			s := NewSyncSession(client)
			for _, f := range pack(t, items, 0) {
				if _, _, err := s.Receive(f, t0); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	t.Run("forged item", func(t *testing.T) {
		bad := append([][]byte(nil), items...)
		a := chanAnn(t, 100, 1, 2, 10)
		a.Capacity = 11
		bad[3] = enc(t, a)
		s := NewSyncSession(newValidator(t, Config{}))
		res, _, err := s.Receive(pack(t, bad, 0)[0], t0)
		// The bad item is among the channel announcements: the results of
		// that group come back.
		if !errors.Is(err, ErrSyncPeer) || len(res) != n || res[3].Reason != ReasonBadSignature {
			t.Fatalf("forged item: %d results, %v", len(res), err)
		}
	})
	t.Run("wrong total", func(t *testing.T) {
		frame, err := SyncChunk{Items: items[:2], Done: true, Total: 3}.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := NewSyncSession(newValidator(t, Config{})).Receive(frame, t0); !errors.Is(err, ErrSyncPeer) {
			t.Fatalf("wrong total: %v", err)
		}
	})
	t.Run("garbled chunk", func(t *testing.T) {
		if _, _, err := NewSyncSession(newValidator(t, Config{})).Receive([]byte{0xff}, t0); !errors.Is(err, ErrSyncPeer) {
			t.Fatalf("garbled: %v", err)
		}
	})
	t.Run("stale and future items are ignored, not fatal", func(t *testing.T) {
		client := newValidator(t, Config{})
		a := chanAnn(t, 200, 1, 2, 10)
		its := [][]byte{enc(t, a), enc(t, update(t, a, 1, t0.Add(time.Hour))), enc(t, update(t, a, 2, t0.Add(-30*24*time.Hour)))}
		res, done, err := NewSyncSession(client).Receive(pack(t, its, 0)[0], t0)
		if err != nil || !done || res[1].Reason != ReasonFuture || res[2].Reason != ReasonStale {
			t.Fatalf("%v %v %+v", err, done, res)
		}
	})
}

// TestSyncBytesPerChannel checks the goal of issue 4: a full sync costs
// under 500 bytes per channel (announcement + two updates, framed).
func TestSyncBytesPerChannel(t *testing.T) {
	const n = 200
	var items [][]byte
	for i := range n {
		a := chanAnn(t, i, 2*i, 2*i+1, 5_000_000_000) // 0.05 BTC in msat
		items = append(items, enc(t, a), enc(t, realisticUpdate(t, a, 2*i)), enc(t, realisticUpdate(t, a, 2*i+1)))
	}
	total := 0
	for _, f := range pack(t, items, 0) {
		total += len(f) + 3 // the varint length prefix of the frame
	}
	per := float64(total) / n
	t.Logf("%.1f bytes per channel", per)
	if per >= 500 {
		t.Fatalf("%.1f bytes per channel, goal < 500", per)
	}
}

func realisticUpdate(t testing.TB, a *ChannelAnnouncement, i int) *ChannelUpdate {
	k, _ := testKey(t, i)
	u := &ChannelUpdate{
		FeeBase:     1000,
		FeePPM:      1,
		ExpiryDelta: 40 * 60_000,
		HTLCMin:     1000,
		HTLCMax:     a.Capacity * 99 / 100,
		Timestamp:   t0.UnixMilli() - int64(i)*997,
	}
	if err := u.Sign(a, k); err != nil {
		t.Fatal(err)
	}
	return u
}
