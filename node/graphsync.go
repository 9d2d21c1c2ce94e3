package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"

	"github.com/paymesh/paymesh/protocol/gossip"
	"github.com/paymesh/paymesh/protocol/wire"
	"github.com/paymesh/paymesh/store"
)

// Graph sync: a node that has just started, or that has been without
// peers, asks one connected peer for the graph (since a timestamp when it
// already has one) over wire.GraphSyncProtocol. The request is one frame,
// the answer a sequence of chunk frames in kind order, the last marked
// done. Every item is validated as if gossiped. A peer that serves garbage
// or stalls is disconnected and never asked again.

// graphSyncMemory is reserved on each served sync stream's scope: a frame
// being read or written plus the buffers.
const graphSyncMemory = 2*wire.MaxGraphSyncFrame + 64<<10

// graphSyncClientMemory is reserved on each sync stream a node asks on: a
// frame being read, one read ahead, one being validated, and the buffers.
const graphSyncClientMemory = 3*wire.MaxGraphSyncFrame + 64<<10

// requestTimeout bounds the wait for a sync request on a served stream.
const requestTimeout = 10 * time.Second

// errSyncStalled is returned when the serving peer sends nothing for
// SyncStall.
var errSyncStalled = errors.New("graph sync peer stalled")

// handleSync serves one graph sync request.
func (s *gossipService) handleSync(st network.Stream) {
	from := st.Conn().RemotePeer()
	result := "error"
	defer func() { s.m.syncs.WithLabelValues("server", result).Inc() }()
	if err := st.Scope().SetService(graphSyncService); err != nil {
		st.Reset()
		return
	}
	if err := st.Scope().ReserveMemory(graphSyncMemory, network.ReservationPriorityAlways); err != nil {
		s.log.Debug("graph sync refused: no memory", "peer", from, "err", err)
		st.Reset()
		return
	}
	defer st.Scope().ReleaseMemory(graphSyncMemory)
	select {
	case s.serveSem <- struct{}{}:
		defer func() { <-s.serveSem }()
	default:
		result = "busy"
		st.Reset()
		return
	}
	s.mu.Lock()
	if s.serving[from] {
		s.mu.Unlock()
		result = "busy"
		st.Reset()
		return
	}
	s.serving[from] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.serving, from)
		s.mu.Unlock()
	}()
	stop := context.AfterFunc(s.ctx, func() { st.Reset() })
	defer stop()

	_ = st.SetReadDeadline(time.Now().Add(requestTimeout))
	frame, err := wire.NewFrameReader(st, wire.MaxGraphSyncFrame).ReadFrame()
	if err != nil {
		st.Reset()
		return
	}
	req, err := gossip.DecodeSyncRequest(frame)
	if err != nil {
		s.log.Debug("bad graph sync request", "peer", from, "err", err)
		st.Reset()
		return
	}
	n, err := s.serve(st, req)
	s.m.syncItems.WithLabelValues("server").Add(float64(n))
	if err != nil {
		s.log.Debug("graph sync serve ended", "peer", from, "items", n, "err", err)
		st.Reset()
		return
	}
	result = "ok"
	st.Close()
}

// serve streams the graph (or what changed since req.Since) to w in kind
// order and returns the number of items sent.
func (s *gossipService) serve(st network.Stream, req gossip.SyncRequest) (uint64, error) {
	if !s.flushWrites() {
		return 0, ErrGossipStopped
	}
	fw := wire.NewFrameWriter(st, wire.MaxGraphSyncFrame)
	send := func(frame []byte) error {
		_ = st.SetWriteDeadline(time.Now().Add(s.cfg.SyncStall))
		if err := fw.WriteFrame(frame); err != nil {
			return err
		}
		s.m.syncBytes.WithLabelValues("server").Add(float64(len(frame) + uvarintLen(len(frame))))
		return fw.Flush()
	}
	return serveGraph(s.n.store.Graph(), req, send)
}

// serveGraph packs the store's graph records into chunks and passes each
// chunk frame to send. With req.Since, only records dated at or after it are
// sent, with the announcements of their channels and of channels that
// arrived since.
func serveGraph(gs *store.GraphStore, req gossip.SyncRequest, send func([]byte) error) (uint64, error) {
	var touched map[uint64]bool
	if req.Since > 0 {
		touched = make(map[uint64]bool)
		for _, kind := range []store.GraphKind{store.GraphUpdate, store.GraphClosed} {
			err := gs.Each(kind, func(r store.GraphRecord) error {
				if r.Time >= req.Since {
					touched[r.Short] = true
				}
				return nil
			}, nil)
			if err != nil {
				return 0, err
			}
		}
	}
	p := gossip.NewChunkPacker(0)
	var sent uint64
	for _, kind := range store.GraphKinds {
		err := gs.Each(kind, func(r store.GraphRecord) error {
			if req.Since > 0 && r.Time < req.Since && !(kind == store.GraphChannel && touched[r.Short]) {
				return nil
			}
			frame, err := p.Add(r.Data)
			if err != nil {
				return nil // a record too large for the protocol: skip it
			}
			sent++
			if frame != nil {
				return send(frame)
			}
			return nil
		}, nil)
		if err != nil {
			return sent, err
		}
	}
	frame, err := p.Finish()
	if err != nil {
		return sent, err
	}
	return sent, send(frame)
}

// startSyncLoop watches peers come and go and syncs the graph when needed.
func (s *gossipService) startSyncLoop() error {
	if s.cfg.noAutoSync {
		return nil
	}
	sub, err := s.n.host.EventBus().Subscribe([]any{new(event.EvtPeerIdentificationCompleted), new(event.EvtPeerConnectednessChanged)}, eventbus.BufSize(256))
	if err != nil {
		return fmt.Errorf("node: subscribe to peer events: %w", err)
	}
	done := make(chan peer.ID, 1)
	s.goRun(func() {
		defer sub.Close()
		s.maybeSync(done)
		tick := time.NewTicker(s.cfg.AntiEntropy)
		defer tick.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-tick.C:
				if ps := s.n.host.Network().Peers(); len(ps) > 0 {
					s.pullRecent(ps[rand.IntN(len(ps))])
				}
			case e := <-sub.Out():
				if ev, ok := e.(event.EvtPeerIdentificationCompleted); ok {
					s.pullRecent(ev.Peer)
				}
				if ev, ok := e.(event.EvtPeerConnectednessChanged); ok && ev.Connectedness != network.Connected {
					if len(s.n.host.Network().Peers()) == 0 {
						s.mu.Lock()
						s.needSync = true
						clear(s.tried)
						s.mu.Unlock()
					}
					continue
				}
				s.maybeSync(done)
			case <-done:
				s.maybeSync(done)
			}
		}
	})
	return nil
}

// pullRecent asks p, in the background, for what changed in the last
// SyncOverlap; at most one such pull runs at a time, and peers that do not
// speak graph sync or misbehaved are skipped.
func (s *gossipService) pullRecent(p peer.ID) {
	if protos, err := s.n.host.Peerstore().GetProtocols(p); err != nil || !slices.Contains(protos, protocol.ID(wire.GraphSyncProtocol)) {
		return
	}
	s.mu.Lock()
	if s.banned[p] || s.pulling || s.syncing {
		s.mu.Unlock()
		return
	}
	s.pulling = true
	s.mu.Unlock()
	since := max(time.Now().Add(-s.cfg.SyncOverlap).UnixMilli(), 1)
	s.goRun(func() {
		defer func() {
			s.mu.Lock()
			s.pulling = false
			s.mu.Unlock()
		}()
		if _, err := s.syncFrom(s.ctx, p, since); err != nil && s.ctx.Err() == nil {
			s.log.Debug("anti-entropy pull failed", "peer", p, "err", err)
		}
	})
}

// maybeSync starts a sync with a connected peer that supports the protocol,
// was not tried since the last sync and never misbehaved, if the node needs
// one and none is running. done receives when it ends.
func (s *gossipService) maybeSync(done chan<- peer.ID) {
	s.mu.Lock()
	if !s.needSync || s.syncing {
		s.mu.Unlock()
		return
	}
	var target peer.ID
	for _, p := range s.n.host.Network().Peers() {
		if s.banned[p] || s.tried[p] {
			continue
		}
		// Skip peers identify says are not paymesh nodes; a peer not yet
		// identified is tried (the stream negotiation tells).
		if protos, err := s.n.host.Peerstore().GetProtocols(p); err == nil && len(protos) > 0 && !slices.Contains(protos, protocol.ID(wire.GraphSyncProtocol)) {
			continue
		}
		target = p
		break
	}
	if target == "" {
		s.mu.Unlock()
		return
	}
	s.syncing = true
	s.tried[target] = true
	s.mu.Unlock()
	var since int64
	if l := s.latest.Load(); l > 0 {
		since = max(l-s.cfg.SyncOverlap.Milliseconds(), 1)
	}
	s.goRun(func() {
		n, err := s.syncFrom(s.ctx, target, since)
		s.mu.Lock()
		s.syncing = false
		if err == nil && n > 0 {
			s.needSync = false
			clear(s.tried)
		}
		s.mu.Unlock()
		if s.ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Warn("graph sync failed", "peer", target, "err", err)
		} else {
			s.log.Info("graph synced", "peer", target, "items", n, "since", since)
		}
		select {
		case done <- target:
		default:
		}
	})
}

// SyncGraph asks peer p for the graph (only what changed at or after since,
// unless it is zero) and applies what it sends; it returns the number of
// items received. A peer that serves garbage or stalls is disconnected and
// not asked again by the automatic sync.
func (n *Node) SyncGraph(ctx context.Context, p peer.ID, since time.Time) (uint64, error) {
	if n.gossip == nil {
		return 0, ErrGossipStopped
	}
	var ms int64
	if !since.IsZero() {
		ms = max(since.UnixMilli(), 1)
	}
	return n.gossip.syncFrom(ctx, p, ms)
}

// syncFrom runs one graph sync as the client.
func (s *gossipService) syncFrom(ctx context.Context, p peer.ID, since int64) (items uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SyncTimeout)
	defer cancel()
	result := "error"
	defer func() {
		s.m.syncs.WithLabelValues("client", result).Inc()
		s.m.syncItems.WithLabelValues("client").Add(float64(items))
		s.notify() // wake whoever waits for the sync to end
	}()
	st, err := s.n.host.NewStream(ctx, p, protocol.ID(wire.GraphSyncProtocol))
	if err != nil {
		return 0, fmt.Errorf("open graph sync stream to %s: %w", p, err)
	}
	if err := st.Scope().SetService(graphSyncService); err != nil {
		st.Reset()
		return 0, err
	}
	if err := st.Scope().ReserveMemory(graphSyncClientMemory, network.ReservationPriorityAlways); err != nil {
		st.Reset()
		return 0, err
	}
	defer st.Scope().ReleaseMemory(graphSyncClientMemory)
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()

	items, err = s.receive(ctx, st, since)
	if err != nil {
		st.Reset()
		if ctx.Err() != nil && s.ctx.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w: whole sync over %v: %w", errSyncStalled, s.cfg.SyncTimeout, err)
		}
		if errors.Is(err, gossip.ErrSyncPeer) || errors.Is(err, errSyncStalled) {
			result = "misbehaved"
			s.mu.Lock()
			s.banned[p] = true
			s.mu.Unlock()
			s.log.Warn("graph sync peer misbehaved; disconnecting", "peer", p, "err", err)
			_ = s.n.host.Network().ClosePeer(p)
		}
		return items, err
	}
	st.Close()
	result = "ok"
	return items, nil
}

// receive sends the request and validates and applies the answer.
func (s *gossipService) receive(ctx context.Context, st network.Stream, since int64) (uint64, error) {
	req, err := gossip.SyncRequest{Since: since}.Encode()
	if err != nil {
		return 0, err
	}
	// A timer rather than only a read deadline: not every transport
	// honours deadlines (mocknet does not), and a stalled peer must end.
	var stalled atomic.Bool
	timer := time.AfterFunc(s.cfg.SyncStall, func() { stalled.Store(true); st.Reset() })
	defer timer.Stop()
	stallErr := func(err error) error {
		if stalled.Load() || errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("%w: nothing for %v", errSyncStalled, s.cfg.SyncStall)
		}
		return fmt.Errorf("send graph sync request: %w", err)
	}
	_ = st.SetWriteDeadline(time.Now().Add(s.cfg.SyncStall))
	fw := wire.NewFrameWriter(st, wire.MaxGraphSyncFrame)
	if err := fw.WriteFrame(req); err != nil {
		return 0, stallErr(err)
	}
	if err := fw.Flush(); err != nil {
		return 0, stallErr(err)
	}
	_ = st.CloseWrite()
	sess := gossip.NewSyncSession(s.v)
	sess.Run = parallel
	sess.Workers = runtime.GOMAXPROCS(0)

	// A reader fetches the next frame while the current one is validated,
	// so that the serving peer and the network work meanwhile. Frames are
	// copied out of the frame reader's buffer into two buffers that go
	// round: one being validated, one read ahead (graphSyncClientMemory).
	type read struct {
		frame []byte
		err   error
	}
	frames := make(chan read)
	free := make(chan []byte, 2)
	free <- nil
	free <- nil
	quit := make(chan struct{})
	var reader sync.WaitGroup
	reader.Go(func() {
		fr := wire.NewFrameReader(st, wire.MaxGraphSyncFrame)
		for {
			var buf []byte
			select {
			case buf = <-free:
			case <-quit:
				return
			}
			timer.Reset(s.cfg.SyncStall)
			_ = st.SetReadDeadline(time.Now().Add(s.cfg.SyncStall))
			frame, err := fr.ReadFrame()
			timer.Stop() // waiting for the validation is not the peer's stall
			if err == nil {
				s.m.syncBytes.WithLabelValues("client").Add(float64(len(frame) + uvarintLen(len(frame))))
				buf = append(buf[:0], frame...)
			}
			select {
			case frames <- read{buf, err}:
			case <-quit:
				return
			}
			if err != nil {
				return
			}
		}
	})
	defer func() {
		close(quit)
		_ = st.CloseRead() // ends a read of a frame nobody will take
		reader.Wait()
	}()

	// The gate is held while a chunk is validated and applied, so that no
	// gossip interleaves with its channels. While frames keep coming, it
	// stays held (for at most maxGateHold) and a chunk's application to
	// the graph runs alongside the next chunk's validation; it is let go,
	// once the application is done, whenever the next frame is not there
	// yet.
	var (
		held    bool
		heldAt  time.Time
		applied chan struct{} // closed when the last chunk is applied
	)
	release := func() {
		if applied != nil {
			<-applied
			applied = nil
		}
		if held {
			s.gate.Unlock()
			held = false
		}
	}
	defer release()
	for {
		var r read
		select {
		case r = <-frames:
		default:
			release()
			r = <-frames
		}
		if err := r.err; err != nil {
			release()
			switch {
			case stalled.Load() || errors.Is(err, os.ErrDeadlineExceeded):
				return sess.Items(), fmt.Errorf("%w: nothing for %v", errSyncStalled, s.cfg.SyncStall)
			case ctx.Err() != nil:
				return sess.Items(), ctx.Err()
			case errors.Is(err, io.EOF), errors.Is(err, wire.ErrBadFrame), errors.Is(err, wire.ErrFrameTooLarge):
				return sess.Items(), fmt.Errorf("%w: %w", gossip.ErrSyncPeer, err)
			}
			return sess.Items(), fmt.Errorf("read graph sync: %w", err)
		}
		if held && time.Since(heldAt) > maxGateHold {
			release()
		}
		if !held {
			s.gate.Lock()
			held, heldAt = true, time.Now()
			if s.closed {
				return sess.Items(), ErrGossipStopped
			}
		}
		now := time.Now()
		results, done, err := sess.Receive(r.frame, now)
		free <- r.frame // the items are copies: the buffer is free
		if applied != nil {
			<-applied // chunks reach the graph in order
		}
		c := make(chan struct{})
		applied = c
		go func() {
			defer close(c)
			s.applyResults(results, now)
		}()
		if err != nil || done {
			return sess.Items(), err
		}
	}
}

// maxGateHold bounds how long a sync keeps gossip waiting.
const maxGateHold = 100 * time.Millisecond

// applyResults applies what a chunk's validation accepted (and what that
// releases) to the graph and the store, and counts every verdict. The
// caller holds the gate.
func (s *gossipService) applyResults(results []gossip.Result, now time.Time) {
	var muts []graphMutation
	for _, r := range results {
		s.count(r)
		if r.Verdict != gossip.Accept {
			continue
		}
		data := r.Data
		if data == nil {
			data, _ = gossip.Encode(r.Message)
		}
		muts = s.prepare(muts, r, data, now)
		muts, _ = s.release(muts, r, now, gossip.FromSync)
	}
	s.commit(muts)
}

// parallel runs f(0..n-1) on up to GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// uvarintLen is the size of a frame's length prefix.
func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}
