package node

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paymesh/paymesh/protocol/wire"
)

// The channel protocol runs over one bidirectional stream per peer, carrying
// every channel the two nodes share (the envelope names the channel). Why
// per peer rather than per channel: a stream and a protocol negotiation per
// channel buy nothing, while one writer per peer coalesces the messages of
// all channels into few flushes, and one reader per peer feeds the peer
// session's group commit.
//
// The life of a stream is an epoch of the channels with that peer: when a
// stream comes up, every channel re-establishes on it (ChanReestablish
// first); when it goes down, every channel is disconnected. If both nodes
// open a stream at once, the one opened by the node with the smaller peer id
// wins and the other is reset, so both sides agree without a round trip.
const (
	chanServiceName = "paymesh.channel"
	// chanStreamMemory is reserved on each stream's resource scope: read
	// buffer, frame buffer and write buffer.
	chanStreamMemory = wire.MaxChannelFrame + chanReadBuffer + 32<<10
	// chanReadBuffer is the stream's read buffer: the frames it holds
	// whole are handed to the session together (see runReader).
	chanReadBuffer = 32 << 10
	// chanReadBatch bounds the messages handed to the session at once.
	chanReadBatch  = 512
	chanIdle       = 30 * time.Minute // a stream silent this long is closed
	chanWriteLimit = 15 * time.Second // one flush may take this long
)

// chanStream is one channel-protocol stream to a peer.
type chanStream struct {
	s        network.Stream
	peer     peer.ID
	outbound bool      // this node opened it
	opened   time.Time // for the tie-break between streams opened by one node
	// heard is set (by the session) once a message arrived on the stream
	// while it was current.
	heard bool

	mu     sync.Mutex
	q      []*wire.ChanMessage
	closed bool
	wake   chan struct{}
	done   chan struct{} // closed when the writer has stopped
}

func newChanStream(s network.Stream, outbound bool) (*chanStream, error) {
	if err := s.Scope().SetService(chanServiceName); err != nil {
		s.Reset()
		return nil, err
	}
	if err := s.Scope().ReserveMemory(chanStreamMemory, network.ReservationPriorityAlways); err != nil {
		s.Reset()
		return nil, err
	}
	return &chanStream{
		s:        s,
		peer:     s.Conn().RemotePeer(),
		outbound: outbound,
		opened:   time.Now(),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}, nil
}

// openerID returns the peer id of the node that opened the stream.
func (cs *chanStream) openerID(self peer.ID) peer.ID {
	if cs.outbound {
		return self
	}
	return cs.peer
}

// send queues messages without blocking: the session that calls it must
// never wait on the network, or two peers' sessions could wait on each
// other. The queue is bounded in practice by the channel limits (pending
// HTLCs and one proposal in flight per channel). It reports false once the
// stream is closed.
func (cs *chanStream) send(msgs ...*wire.ChanMessage) bool {
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		return false
	}
	cs.q = append(cs.q, msgs...)
	cs.mu.Unlock()
	select {
	case cs.wake <- struct{}{}:
	default:
	}
	return true
}

// close stops the writer and resets the stream.
func (cs *chanStream) close() {
	cs.mu.Lock()
	if !cs.closed {
		cs.closed = true
		cs.s.Reset()
	}
	cs.mu.Unlock()
	select {
	case cs.wake <- struct{}{}:
	default:
	}
}

// runWriter writes queued messages, flushing whenever the queue runs dry,
// until the stream is closed or a write fails.
func (cs *chanStream) runWriter(onDown func(error)) {
	defer close(cs.done)
	fw := wire.NewFrameWriter(cs.s, wire.MaxChannelFrame)
	var batch []*wire.ChanMessage
	for {
		<-cs.wake
		cs.mu.Lock()
		batch, cs.q = cs.q, batch[:0]
		closed := cs.closed
		cs.mu.Unlock()
		if closed {
			return
		}
		if len(batch) == 0 {
			continue
		}
		_ = cs.s.SetWriteDeadline(time.Now().Add(chanWriteLimit))
		for i, m := range batch {
			if err := fw.WriteMsg(m); err != nil {
				onDown(err)
				return
			}
			batch[i] = nil
		}
		if err := fw.Flush(); err != nil {
			onDown(err)
			return
		}
	}
}

// runReader reads frames until the stream ends, handing messages to
// deliver: every frame already whole in the read buffer is read before the
// messages go, together (up to chanReadBatch), so a burst of updates costs
// the session one hand-over rather than one per message; a frame not yet
// whole is never waited for while messages are held. Garbled or oversize
// frames end the stream with that error, once the messages before them
// are delivered.
func (cs *chanStream) runReader(deliver func([]*wire.ChanMessage), onDown func(error)) {
	// The frame reader reads from br itself (it is large enough), so what
	// br holds is what the frame reader has not consumed.
	br := bufio.NewReaderSize(cs.s, chanReadBuffer)
	fr := wire.NewFrameReader(br, wire.MaxChannelFrame)
	var armed time.Time
	var batch []*wire.ChanMessage
	for {
		// The idle deadline is pushed back at most once a minute rather
		// than per message (each push costs a timer): a stream is closed
		// after between chanIdle-1m and chanIdle of silence.
		if now := time.Now(); now.Sub(armed) >= time.Minute {
			_ = cs.s.SetReadDeadline(now.Add(chanIdle))
			armed = now
		}
		m := new(wire.ChanMessage)
		if err := fr.ReadMsg(m); err != nil {
			if len(batch) > 0 {
				deliver(batch)
			}
			if errors.Is(err, io.EOF) {
				err = io.EOF
			}
			onDown(err)
			return
		}
		batch = append(batch, m)
		if len(batch) < chanReadBatch && frameBuffered(br) {
			continue
		}
		deliver(batch)
		batch = nil
	}
}

// frameBuffered reports whether br holds a whole frame (its length prefix
// and body), which can then be read without blocking.
func frameBuffered(br *bufio.Reader) bool {
	n := br.Buffered()
	if n == 0 {
		return false
	}
	b, err := br.Peek(n)
	if err != nil {
		return false
	}
	l, k := binary.Uvarint(b)
	return k > 0 && l <= uint64(n-k)
}

// release returns the stream's reserved memory once both loops are done.
func (cs *chanStream) release() { cs.s.Scope().ReleaseMemory(chanStreamMemory) }
