package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/paymesh/paymesh/protocol/wire"
)

// The channel protocol runs over one outbound stream per peer in each
// direction: a node writes every message for every channel it has with a peer
// on the stream it opened to that peer, and reads the peer's messages from
// the stream the peer opened. Why one stream per peer rather than per channel:
// a yamux stream and a multistream negotiation per channel buy nothing (the
// envelope names the channel), while a single writer per peer can coalesce
// many messages of many channels into one flush. Why unidirectional: two
// peers opening streams to each other at the same moment never have to agree
// on which one survives; ordering per direction is all the protocol needs.
const (
	linkServiceName = "paymesh.channel"
	// linkMemory is reserved on each stream's resource scope: read buffer,
	// frame buffer and write buffer.
	linkMemory     = wire.MaxChannelFrame + 32<<10
	linkIdle       = 10 * time.Minute // an inbound stream silent this long is closed
	linkWriteLimit = 15 * time.Second // one flush may take this long
	linkQueue      = 8192             // messages queued per peer before senders block
)

// ErrLinkClosed is returned when sending on a link that was shut down.
var ErrLinkClosed = errors.New("channel link closed")

// linkHandler receives every well-formed message from peers.
type linkHandler func(from peer.ID, msg *wire.ChanMessage)

// links owns the channel-protocol streams of a host.
type links struct {
	host    host.Host
	log     *slog.Logger
	handle  linkHandler
	onError func(from peer.ID, err error) // a peer sent a garbled or oversize frame
	// onOpen returns the messages written first on every new outbound
	// stream: the re-establish messages of the channels with that peer.
	onOpen func(to peer.ID) []*wire.ChanMessage

	mu     sync.Mutex
	out    map[peer.ID]*outLink
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

func newLinks(h host.Host, log *slog.Logger, handle linkHandler, onError func(peer.ID, error), onOpen func(peer.ID) []*wire.ChanMessage) *links {
	ctx, cancel := context.WithCancel(context.Background())
	l := &links{host: h, log: log, handle: handle, onError: onError, onOpen: onOpen, out: make(map[peer.ID]*outLink), ctx: ctx, cancel: cancel}
	h.SetStreamHandler(protocol.ID(wire.ChannelProtocol), l.handleStream)
	return l
}

// handleStream reads a peer's outbound stream until it ends.
func (l *links) handleStream(s network.Stream) {
	if err := s.Scope().SetService(linkServiceName); err != nil {
		s.Reset()
		return
	}
	if err := s.Scope().ReserveMemory(linkMemory, network.ReservationPriorityAlways); err != nil {
		l.log.Debug("channel stream refused: no memory", "peer", s.Conn().RemotePeer(), "err", err)
		s.Reset()
		return
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		s.Reset()
		return
	}
	l.wg.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.wg.Done()
		defer s.Scope().ReleaseMemory(linkMemory)
		from := s.Conn().RemotePeer()
		stop := context.AfterFunc(l.ctx, func() { s.Reset() })
		defer stop()
		fr := wire.NewFrameReader(s, wire.MaxChannelFrame)
		for {
			_ = s.SetReadDeadline(time.Now().Add(linkIdle))
			var m wire.ChanMessage
			if err := fr.ReadMsg(&m); err != nil {
				if errors.Is(err, io.EOF) {
					s.Close()
					return
				}
				if errors.Is(err, wire.ErrBadFrame) || errors.Is(err, wire.ErrFrameTooLarge) {
					l.onError(from, err)
				}
				s.Reset()
				return
			}
			l.handle(from, &m)
		}
	}()
}

// send queues msgs for p, opening the stream if needed. It blocks while the
// peer's queue is full (backpressure) or until ctx ends.
func (l *links) send(ctx context.Context, p peer.ID, msgs ...*wire.ChanMessage) error {
	ol, err := l.outLink(p)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		select {
		case ol.q <- m:
		case <-ol.done:
			return fmt.Errorf("%w: %s", ErrLinkClosed, p)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (l *links) outLink(p peer.ID) (*outLink, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrLinkClosed
	}
	if ol := l.out[p]; ol != nil {
		return ol, nil
	}
	ol := &outLink{peer: p, q: make(chan *wire.ChanMessage, linkQueue), stop: make(chan struct{}), done: make(chan struct{})}
	l.out[p] = ol
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		err := l.runOut(ol)
		l.mu.Lock()
		if l.out[p] == ol {
			delete(l.out, p)
		}
		l.mu.Unlock()
		close(ol.done)
		if err != nil && l.ctx.Err() == nil {
			l.log.Debug("channel link to peer ended", "peer", p, "err", err)
		}
	}()
	return ol, nil
}

// outLink is the writer side of one peer's stream.
type outLink struct {
	peer     peer.ID
	q        chan *wire.ChanMessage
	stop     chan struct{} // closed by drop
	stopOnce sync.Once
	done     chan struct{} // closed when the writer has ended
}

// runOut opens the stream and writes queued messages, flushing whenever the
// queue runs dry. It ends on a write error; the next send opens a new link.
// Messages lost with a broken stream are recovered by channel re-establish.
func (l *links) runOut(ol *outLink) error {
	ctx, cancel := context.WithTimeout(l.ctx, linkWriteLimit)
	s, err := l.host.NewStream(network.WithAllowLimitedConn(ctx, "channel"), ol.peer, protocol.ID(wire.ChannelProtocol))
	cancel()
	if err != nil {
		return fmt.Errorf("open channel stream: %w", err)
	}
	if err := s.Scope().SetService(linkServiceName); err != nil {
		s.Reset()
		return err
	}
	if err := s.Scope().ReserveMemory(linkMemory, network.ReservationPriorityAlways); err != nil {
		s.Reset()
		return err
	}
	defer s.Scope().ReleaseMemory(linkMemory)
	fw := wire.NewFrameWriter(s, wire.MaxChannelFrame)
	if l.onOpen != nil {
		_ = s.SetWriteDeadline(time.Now().Add(linkWriteLimit))
		for _, m := range l.onOpen(ol.peer) {
			if err := fw.WriteMsg(m); err != nil {
				s.Reset()
				return err
			}
		}
	}
	idle := time.NewTimer(linkIdle)
	defer idle.Stop()
	for {
		var m *wire.ChanMessage
		idle.Reset(linkIdle)
		select {
		case m = <-ol.q:
		case <-l.ctx.Done():
			s.Reset()
			return l.ctx.Err()
		case <-ol.stop:
			s.Close()
			return nil
		case <-idle.C:
			s.Close() // idle: the peer's reader would time out anyway
			return nil
		}
		_ = s.SetWriteDeadline(time.Now().Add(linkWriteLimit))
		for m != nil {
			if err := fw.WriteMsg(m); err != nil {
				s.Reset()
				return err
			}
			select {
			case m = <-ol.q:
			default:
				m = nil
			}
		}
		if err := fw.Flush(); err != nil {
			s.Reset()
			return err
		}
	}
}

// drop closes the outbound link to p, if any, so the next send reconnects.
func (l *links) drop(p peer.ID) {
	l.mu.Lock()
	ol := l.out[p]
	delete(l.out, p)
	l.mu.Unlock()
	if ol != nil {
		ol.stopOnce.Do(func() { close(ol.stop) })
	}
}

// close stops every link and waits for their goroutines.
func (l *links) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.host.RemoveStreamHandler(protocol.ID(wire.ChannelProtocol))
	l.cancel()
	l.wg.Wait()
}
