package node

import (
	"errors"
	"fmt"
	"slices"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/paymesh/paymesh/protocol/gossip"
)

// Errors of the publishing methods.
var (
	// ErrNotOwnChannel is returned for a channel this node is not an end
	// of, or does not know.
	ErrNotOwnChannel = errors.New("node: not a known channel of this node")
	// ErrGossipRefused wraps a message the node's own validator did not
	// accept (the error names the reason, e.g. rate_limited).
	ErrGossipRefused = errors.New("node: gossip refused the message")
	// ErrGossipStopped is returned once the node is closing.
	ErrGossipStopped = errors.New("node: gossip is not running")
)

// ownNodeKey marks the node announcement in ownKey.
const ownNodeKey = -1

// ownKey names what this node signs with a timestamp: one direction of a
// channel, or (dir = ownNodeKey) its node announcement.
type ownKey struct {
	short uint64
	dir   int8
}

// ownChannel is a channel this node is an end of.
type ownChannel struct {
	ann  *gossip.ChannelAnnouncement
	side gossip.Direction      // the direction this node signs
	upd  *gossip.ChannelUpdate // the newest accepted update of that direction
}

// ChannelPolicy is the forwarding policy a node announces for its side of a
// channel. Fees are FeeBase + amount*FeePPM/1e6.
type ChannelPolicy struct {
	FeeBase       uint64
	FeePPM        uint32
	ExpiryDeltaMS uint32
	HTLCMin       uint64
	// HTLCMax 0 means the channel capacity.
	HTLCMax  uint64
	Disabled bool
}

// noteTS records a timestamp this node signed. The caller holds s.mu.
func (s *gossipService) noteTS(k ownKey, ts int64) {
	s.lastTS[k] = max(s.lastTS[k], ts)
}

// nextTS returns a timestamp for a new message of k: now, or one
// millisecond after the last one if the clock has not moved past it, so
// that the network never sees two messages with one timestamp.
func (s *gossipService) nextTS(k ownKey, now time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := max(now.UnixMilli(), s.lastTS[k]+1)
	s.lastTS[k] = ts
	return ts
}

// publish runs m through the node's own validator (which applies it) and
// sends it on the topic. A message the validator ignores as a duplicate is
// not an error.
func (s *gossipService) publish(m gossip.Message) error {
	data, err := gossip.Encode(m)
	if err != nil {
		return fmt.Errorf("node: encode %s: %w", m.Kind(), err)
	}
	if s.topic == nil || s.ctx.Err() != nil {
		return ErrGossipStopped
	}
	res := &gossip.Result{}
	key := string(data)
	s.local.Store(key, res)
	defer s.local.Delete(key)
	perr := s.topic.Publish(s.ctx, data)
	switch {
	case res.Verdict == gossip.Accept && perr == nil:
		s.m.published.WithLabelValues(m.Kind().String()).Inc()
		return nil
	case res.Verdict == 0 && perr == nil:
		return nil // pubsub had delivered these very bytes already
	case res.Verdict == gossip.Ignore && (res.Reason == gossip.ReasonDuplicate):
		return nil
	case res.Verdict == gossip.Reject || res.Verdict == gossip.Ignore:
		return fmt.Errorf("%w: %s: %s: %w", ErrGossipRefused, m.Kind(), res.Reason, res.Err)
	}
	if s.ctx.Err() != nil {
		return ErrGossipStopped
	}
	return fmt.Errorf("node: publish %s: %w", m.Kind(), perr)
}

// AnnounceChannel applies a complete (both-signed) channel announcement
// and publishes it. When this node is an end, it then publishes its side's
// policy (the configured default fees, unless it has announced one
// already) and, if the network has no announcement of this node yet, its
// node announcement. Announcing a channel the graph already holds is not
// an error.
func (n *Node) AnnounceChannel(ann *gossip.ChannelAnnouncement) error {
	s := n.gossip
	if s == nil {
		return ErrGossipStopped
	}
	if !ann.Complete() {
		return fmt.Errorf("node: announce channel: %w", gossip.ErrIncomplete)
	}
	if err := ann.Verify(); err != nil {
		return fmt.Errorf("node: announce channel: %w", err)
	}
	if err := s.publish(ann); err != nil {
		return err
	}
	short := ann.ChannelID.Short()
	s.mu.Lock()
	oc := s.own[short]
	needPolicy := oc != nil && oc.upd == nil
	needAnn := oc != nil && !s.annOK
	s.mu.Unlock()
	if needPolicy {
		f := n.cfg.Settings.Fees
		p := ChannelPolicy{FeeBase: f.Base, FeePPM: uint32(min(f.PPM, gossip.MaxFeePPM)), ExpiryDeltaMS: uint32(min(f.ExpiryDeltaMS, gossip.MaxExpiryDelta)), HTLCMin: 1}
		if err := n.PublishChannelUpdate(short, p); err != nil {
			return err
		}
	}
	if needAnn {
		if err := s.announceNode(); err != nil {
			return err
		}
	}
	return nil
}

// PublishChannelUpdate signs this node's policy for its side of an own
// channel and publishes it.
func (n *Node) PublishChannelUpdate(short uint64, p ChannelPolicy) error {
	s := n.gossip
	if s == nil {
		return ErrGossipStopped
	}
	s.mu.Lock()
	oc := s.own[short]
	s.mu.Unlock()
	if oc == nil {
		return fmt.Errorf("%w: %d", ErrNotOwnChannel, short)
	}
	if p.HTLCMax == 0 {
		p.HTLCMax = oc.ann.Capacity
	}
	if p.HTLCMin == 0 {
		p.HTLCMin = 1
	}
	u := &gossip.ChannelUpdate{
		FeeBase:     p.FeeBase,
		FeePPM:      p.FeePPM,
		ExpiryDelta: p.ExpiryDeltaMS,
		HTLCMin:     p.HTLCMin,
		HTLCMax:     p.HTLCMax,
		Disabled:    p.Disabled,
		Timestamp:   s.nextTS(ownKey{short: short, dir: int8(oc.side)}, time.Now()),
	}
	if err := u.Sign(oc.ann, n.cfg.Identity); err != nil {
		return fmt.Errorf("node: sign channel update %d: %w", short, err)
	}
	return s.publish(u)
}

// OwnPolicy returns the newest policy this node announced for its side of
// an own channel; ok is false when it has announced none.
func (n *Node) OwnPolicy(short uint64) (p ChannelPolicy, ok bool) {
	s := n.gossip
	if s == nil {
		return p, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	oc := s.own[short]
	if oc == nil || oc.upd == nil {
		return p, false
	}
	u := oc.upd
	return ChannelPolicy{FeeBase: u.FeeBase, FeePPM: u.FeePPM, ExpiryDeltaMS: u.ExpiryDelta, HTLCMin: u.HTLCMin, HTLCMax: u.HTLCMax, Disabled: u.Disabled}, true
}

// ownPolicyOrDefault is the current policy of an own channel, or the
// configured defaults.
func (n *Node) ownPolicyOrDefault(short uint64) ChannelPolicy {
	if p, ok := n.OwnPolicy(short); ok {
		return p
	}
	f := n.cfg.Settings.Fees
	return ChannelPolicy{FeeBase: f.Base, FeePPM: uint32(min(f.PPM, gossip.MaxFeePPM)), ExpiryDeltaMS: uint32(min(f.ExpiryDeltaMS, gossip.MaxExpiryDelta)), HTLCMin: 1}
}

// SetFees changes the fees and expiry delta of this node's side of an own
// channel, keeping its HTLC limits and disabled flag, and publishes the
// update.
func (n *Node) SetFees(short uint64, base uint64, ppm uint32, deltaMS uint32) error {
	p := n.ownPolicyOrDefault(short)
	p.FeeBase, p.FeePPM, p.ExpiryDeltaMS = base, ppm, deltaMS
	return n.PublishChannelUpdate(short, p)
}

// SetChannelDisabled publishes this node's side of an own channel as
// disabled (or enabled again), keeping the rest of its policy.
func (n *Node) SetChannelDisabled(short uint64, disabled bool) error {
	p := n.ownPolicyOrDefault(short)
	p.Disabled = disabled
	return n.PublishChannelUpdate(short, p)
}

// AnnounceClosed signs and publishes the closed notice of an own channel;
// the channel leaves the graph.
func (n *Node) AnnounceClosed(short uint64) error {
	s := n.gossip
	if s == nil {
		return ErrGossipStopped
	}
	s.mu.Lock()
	oc := s.own[short]
	s.mu.Unlock()
	if oc == nil {
		return fmt.Errorf("%w: %d", ErrNotOwnChannel, short)
	}
	c := &gossip.ChannelClosed{Timestamp: s.nextTS(ownKey{short: short, dir: 2}, time.Now())}
	if err := c.Sign(oc.ann, n.cfg.Identity); err != nil {
		return fmt.Errorf("node: sign closed notice %d: %w", short, err)
	}
	return s.publish(c)
}

// announceNode signs and publishes the node announcement: alias, listen
// addresses (public ones first, at most gossip.MaxAddrs) and onion key.
func (s *gossipService) announceNode() error {
	n := s.n
	a := &gossip.NodeAnnouncement{
		Node:      n.id,
		Alias:     s.cfg.Alias,
		Addrs:     announceAddrs(n.host.Addrs()),
		Timestamp: s.nextTS(ownKey{dir: ownNodeKey}, time.Now()),
	}
	copy(a.OnionKey[:], n.cfg.OnionKey.PubKey().SerializeCompressed())
	if err := a.Sign(n.cfg.Identity); err != nil {
		return fmt.Errorf("node: sign node announcement: %w", err)
	}
	return s.publish(a)
}

// announceAddrs orders addresses public first and keeps what fits in an
// announcement.
func announceAddrs(addrs []ma.Multiaddr) []ma.Multiaddr {
	out := slices.Clone(addrs)
	slices.SortStableFunc(out, func(a, b ma.Multiaddr) int {
		pa, pb := manet.IsPublicAddr(a), manet.IsPublicAddr(b)
		switch {
		case pa && !pb:
			return -1
		case pb && !pa:
			return 1
		}
		return 0
	})
	kept := out[:0]
	for _, a := range out {
		if len(a.Bytes()) <= gossip.MaxAddrBytes && len(kept) < gossip.MaxAddrs {
			kept = append(kept, a)
		}
	}
	return kept
}

// maintain re-announces the node, keeps own channel updates fresh and
// prunes the graph, until the service stops.
func (s *gossipService) maintain() {
	keepCheck := min(s.cfg.KeepAlive/4, time.Hour)
	refresh := time.NewTicker(s.cfg.NodeRefresh)
	keep := time.NewTicker(keepCheck)
	prune := time.NewTicker(s.cfg.PruneInterval)
	defer refresh.Stop()
	defer keep.Stop()
	defer prune.Stop()
	s.refreshNode()
	s.keepAlive(time.Now())
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-refresh.C:
			s.refreshNode()
		case now := <-keep.C:
			s.keepAlive(now)
		case now := <-prune.C:
			s.prune(now)
		}
	}
}

// refreshNode announces the node if it has channels (the network ignores
// announcements of channel-less nodes). It runs at start too: addresses
// change across restarts.
func (s *gossipService) refreshNode() {
	s.mu.Lock()
	has := len(s.own) > 0
	s.mu.Unlock()
	if !has {
		return
	}
	if err := s.announceNode(); err != nil && !errors.Is(err, ErrGossipStopped) {
		s.log.Warn("node announcement", "err", err)
	}
}

// keepAlive re-publishes own updates older than KeepAlive.
func (s *gossipService) keepAlive(now time.Time) {
	cutoff := now.Add(-s.cfg.KeepAlive).UnixMilli()
	var stale []uint64
	s.mu.Lock()
	for short, oc := range s.own {
		if oc.upd != nil && oc.upd.Timestamp < cutoff {
			stale = append(stale, short)
		}
	}
	s.mu.Unlock()
	for _, short := range stale {
		p, ok := s.n.OwnPolicy(short)
		if !ok {
			continue
		}
		if err := s.n.PublishChannelUpdate(short, p); err != nil && !errors.Is(err, ErrGossipStopped) {
			s.log.Warn("keep-alive update", "channel", short, "err", err)
		}
	}
}

// OwnChannels returns the short ids of the open channels this node is an
// end of, as the graph knows them.
func (n *Node) OwnChannels() []uint64 {
	s := n.gossip
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]uint64, 0, len(s.own))
	for short := range s.own {
		out = append(out, short)
	}
	slices.Sort(out)
	return out
}
