package node

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/paymesh/paymesh/protocol/wire"
)

func TestLinksDeliverInOrderAndRejectGarbage(t *testing.T) {
	ctx := context.Background()
	cl, err := StartCluster(ctx, ClusterConfig{Nodes: 2, DisableAPI: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	a, b := cl.Nodes[0], cl.Nodes[1]

	type recv struct {
		from peer.ID
		msg  *wire.ChanMessage
	}
	got := make(chan recv, 4096)
	bad := make(chan error, 4)
	opened := make(chan peer.ID, 4)
	lb := newLinks(b.Host(), slog.New(slog.DiscardHandler),
		func(from peer.ID, m *wire.ChanMessage) { got <- recv{from, m} },
		func(_ peer.ID, err error) { bad <- err }, nil)
	defer lb.close()
	la := newLinks(a.Host(), slog.New(slog.DiscardHandler), func(peer.ID, *wire.ChanMessage) {}, func(peer.ID, error) {},
		func(to peer.ID) []*wire.ChanMessage {
			opened <- to
			return []*wire.ChanMessage{{ChannelId: []byte("hello")}}
		})
	defer la.close()

	const n = 2000
	msgs := make([]*wire.ChanMessage, n)
	for i := range msgs {
		msgs[i] = &wire.ChanMessage{ChannelId: []byte{byte(i >> 8), byte(i)}}
	}
	if err := la.send(ctx, b.ID(), msgs...); err != nil {
		t.Fatal(err)
	}
	if p := <-opened; p != b.ID() {
		t.Fatalf("onOpen for %s, want %s", p, b.ID())
	}
	timeout := time.After(10 * time.Second)
	for i := -1; i < n; i++ {
		select {
		case r := <-got:
			if r.from != a.ID() {
				t.Fatalf("message from %s, want %s", r.from, a.ID())
			}
			want := []byte("hello")
			if i >= 0 {
				want = msgs[i].ChannelId
			}
			if string(r.msg.ChannelId) != string(want) {
				t.Fatalf("message %d out of order: %x, want %x", i, r.msg.ChannelId, want)
			}
		case <-timeout:
			t.Fatalf("only %d of %d messages arrived", i, n)
		}
	}

	// A raw stream with an oversize length prefix is reported and reset.
	s, err := a.Host().NewStream(ctx, b.ID(), protocol.ID(wire.ChannelProtocol))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-bad:
		if !errors.Is(err, wire.ErrFrameTooLarge) {
			t.Fatalf("got %v, want ErrFrameTooLarge", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("oversize frame not reported")
	}
	s.Reset()

	// A garbled protobuf body is reported too.
	s, err = a.Host().NewStream(ctx, b.ID(), protocol.ID(wire.ChannelProtocol))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte{3, 0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-bad:
		if !errors.Is(err, wire.ErrBadFrame) {
			t.Fatalf("got %v, want ErrBadFrame", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("garbled frame not reported")
	}
	s.Reset()
}
