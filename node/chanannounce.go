package node

import (
	"errors"

	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/protocol/gossip"
	"github.com/paymesh/paymesh/protocol/wire"
)

// Announcing a channel to the network needs both ends' signatures on one
// gossip announcement. Each end signs once the channel is open and sends
// its signature over the channel stream (ChanAnnouncementSig); whichever
// end completes the announcement publishes it, and duplicates are ignored
// by gossip. Signatures are re-sent whenever a stream comes up until this
// process has seen the announcement complete, so neither a lost message nor
// a restart leaves a channel unannounced.

// startAnnouncement builds and signs this end's half of a channel's
// announcement and sends it.
func (s *peerSession) startAnnouncement(id channel.ID, e *chanEntry) {
	if e.ann == nil {
		p := e.m.Params()
		ann, err := gossip.NewChannelAnnouncement(gossip.ChannelID(id), s.mgr.self, s.peer, p.Capacity())
		if err != nil {
			s.log.Warn("channel cannot be announced", "channel", id, "err", err)
			return
		}
		if err := ann.Sign(s.mgr.n.cfg.Identity); err != nil {
			s.log.Warn("sign channel announcement", "channel", id, "err", err)
			return
		}
		e.ann = ann
	}
	if e.annDone {
		return
	}
	sig := e.ann.Sig1
	if e.ann.Node2 == s.mgr.self {
		sig = e.ann.Sig2
	}
	s.send(&wire.ChanMessage{ChannelId: id[:], Body: &wire.ChanMessage_AnnouncementSig{AnnouncementSig: &wire.ChanAnnouncementSig{Sig: sig}}})
}

// onAnnouncementSig takes the peer's signature; a complete announcement is
// published.
func (s *peerSession) onAnnouncementSig(id channel.ID, e *chanEntry, sig []byte) {
	if e.m.State() == nil || e.m.Failed() != nil || e.m.Closed() {
		return
	}
	if e.ann == nil {
		s.startAnnouncement(id, e)
		if e.ann == nil {
			return
		}
	}
	if e.annDone {
		return
	}
	if err := e.ann.AddSignature(s.peer, sig); err != nil {
		s.mgr.metrics.badMessages.Inc()
		s.log.Warn("bad announcement signature from peer", "channel", id, "err", err)
		return
	}
	if !e.ann.Complete() {
		return
	}
	e.annDone = true
	ann := e.ann
	n := s.mgr.n
	s.mgr.background(func() {
		if err := n.AnnounceChannel(ann); err != nil && !errors.Is(err, ErrGossipStopped) {
			s.log.Warn("announce channel", "channel", id, "err", err)
		}
	})
}

// announceClosed tells the network a channel of this node is closed.
func (s *peerSession) announceClosed(id channel.ID) {
	n := s.mgr.n
	s.mgr.background(func() {
		if err := n.AnnounceClosed(id.ShortID()); err != nil && !errors.Is(err, ErrGossipStopped) && !errors.Is(err, ErrNotOwnChannel) {
			s.log.Debug("announce channel closed", "channel", id, "err", err)
		}
	})
}
