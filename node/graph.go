package node

import (
	"fmt"
	"math"
	"time"

	"github.com/paymesh/paymesh/protocol/gossip"
	"github.com/paymesh/paymesh/routing"
	"github.com/paymesh/paymesh/store"
)

// graphMutation is one accepted message's effect on the routing graph.
type graphMutation struct {
	kind gossip.Kind
	ch   routing.ChannelInfo // announcement: the channel; update: the channel it belongs to
	dir  routing.Direction   // update: its direction
	pol  *routing.Policy     // update: the new policy
	node routing.NodeID      // node announcement
}

// channelInfo converts what the validator knows of a channel.
func channelInfo(c gossip.ChannelInfo) routing.ChannelInfo {
	return routing.ChannelInfo{
		ID:       routing.ChannelID(c.ID.Short()),
		Node1:    routing.NodeID(c.Node1),
		Node2:    routing.NodeID(c.Node2),
		Capacity: c.Capacity,
	}
}

// policyOf converts a channel update to a routing policy. routing caps the
// base fee at 2^32-1 units; a larger one (allowed by gossip) is clamped,
// which prices the direction out of every route just the same.
func policyOf(u *gossip.ChannelUpdate) *routing.Policy {
	return &routing.Policy{
		FeeBase:     min(u.FeeBase, math.MaxUint32),
		FeePPM:      u.FeePPM,
		ExpiryDelta: uint64(u.ExpiryDelta),
		HTLCMin:     u.HTLCMin,
		HTLCMax:     u.HTLCMax,
		Disabled:    u.Disabled,
		LastUpdate:  time.UnixMilli(u.Timestamp),
	}
}

// writeOp is one change for the graph store writer.
type writeOp struct {
	put        *store.GraphRecord
	delChannel bool   // delete every record of channel short
	delUpdates bool   // delete both updates of channel short
	short      uint64 // for the deletes
	delNode    []byte
	barrier    chan struct{} // closed once everything queued before is written
}

// maxWriteBatch bounds the writes committed together.
const maxWriteBatch = 20_000

// runWriter commits queued graph writes in batches until the queue is
// closed.
func (s *gossipService) runWriter() {
	defer close(s.writerDone)
	gs := s.n.store.Graph()
	for op := range s.writes {
		b := gs.Batch()
		var barriers []chan struct{}
		add := func(op writeOp) {
			var err error
			switch {
			case op.barrier != nil:
				barriers = append(barriers, op.barrier)
			case op.put != nil:
				err = b.Put(*op.put)
			case op.delChannel:
				err = b.DeleteChannel(op.short)
			case op.delUpdates:
				err = b.DeleteUpdates(op.short)
			case op.delNode != nil:
				err = b.DeleteNode(op.delNode)
			}
			if err != nil {
				s.log.Error("graph store write", "err", err)
			}
		}
		add(op)
	more:
		for b.Len() < maxWriteBatch {
			select {
			case op, ok := <-s.writes:
				if !ok {
					break more
				}
				add(op)
			default:
				break more
			}
		}
		if b.Len() > 0 {
			if err := b.Flush(); err != nil {
				s.log.Error("graph store flush", "err", err)
			}
		} else {
			b.Cancel()
		}
		for _, c := range barriers {
			close(c)
		}
	}
}

// flushWrites waits until everything queued so far is in the store. It
// returns false when the service is shutting down.
func (s *gossipService) flushWrites() bool {
	c := make(chan struct{})
	s.gate.RLock()
	if s.closed {
		s.gate.RUnlock()
		return false
	}
	s.writes <- writeOp{barrier: c}
	s.gate.RUnlock()
	<-c
	return true
}

// prepare records an accepted message: the store write is queued, the
// node's own-channel bookkeeping updated and the graph mutation appended to
// muts. The caller holds the message's stripe lock or the gate for writing,
// so the store sees the messages of a channel in accepted order.
func (s *gossipService) prepare(muts []graphMutation, r gossip.Result, data []byte, now time.Time) []graphMutation {
	self := s.n.id
	switch m := r.Message.(type) {
	case *gossip.ChannelAnnouncement:
		short := m.ChannelID.Short()
		s.writes <- writeOp{put: &store.GraphRecord{Kind: store.GraphChannel, Short: short, Time: now.UnixMilli(), Data: data}}
		if d, ok := m.Side(self); ok {
			s.mu.Lock()
			if s.own[short] == nil {
				s.own[short] = &ownChannel{ann: m, side: d}
			}
			s.mu.Unlock()
		}
		return append(muts, graphMutation{kind: gossip.KindChannelAnnouncement, ch: channelInfo(r.Channel)})
	case *gossip.ChannelUpdate:
		s.writes <- writeOp{put: &store.GraphRecord{Kind: store.GraphUpdate, Short: m.ShortID, Dir: uint8(m.Direction), Time: m.Timestamp, Data: data}}
		s.bumpLatest(m.Timestamp)
		s.mu.Lock()
		if oc := s.own[m.ShortID]; oc != nil && oc.side == m.Direction {
			oc.upd = m
			s.noteTS(ownKey{short: m.ShortID, dir: int8(m.Direction)}, m.Timestamp)
		}
		s.mu.Unlock()
		return append(muts, graphMutation{kind: gossip.KindChannelUpdate, ch: channelInfo(r.Channel), dir: routing.Direction(m.Direction), pol: policyOf(m)})
	case *gossip.ChannelClosed:
		s.writes <- writeOp{delUpdates: true, short: m.ShortID}
		s.writes <- writeOp{put: &store.GraphRecord{Kind: store.GraphClosed, Short: m.ShortID, Time: m.Timestamp, Data: data}}
		s.bumpLatest(m.Timestamp)
		s.mu.Lock()
		delete(s.own, m.ShortID)
		s.mu.Unlock()
		return append(muts, graphMutation{kind: gossip.KindChannelClosed, ch: channelInfo(r.Channel)})
	case *gossip.NodeAnnouncement:
		s.writes <- writeOp{put: &store.GraphRecord{Kind: store.GraphNode, Node: []byte(m.Node), Time: m.Timestamp, Data: data}}
		s.bumpLatest(m.Timestamp)
		if m.Node == self {
			s.mu.Lock()
			s.annOK = true
			s.noteTS(ownKey{dir: ownNodeKey}, m.Timestamp)
			s.mu.Unlock()
		}
		return append(muts, graphMutation{kind: gossip.KindNodeAnnouncement, node: routing.NodeID(m.Node)})
	}
	return muts
}

func (s *gossipService) bumpLatest(ts int64) {
	for {
		cur := s.latest.Load()
		if ts <= cur || s.latest.CompareAndSwap(cur, ts) {
			return
		}
	}
}

// commit applies mutations to the routing graph in one transaction.
func (s *gossipService) commit(muts []graphMutation) {
	if len(muts) == 0 {
		return
	}
	err := s.graph.Update(func(tx *routing.Tx) error {
		for _, m := range muts {
			if err := applyMutation(tx, m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// One bad mutation must not cost the others: apply them one by one.
		s.log.Warn("routing graph refused a batch; applying one by one", "err", err)
		for _, m := range muts {
			if err := s.graph.Update(func(tx *routing.Tx) error { return applyMutation(tx, m) }); err != nil {
				s.log.Warn("routing graph refused a message", "kind", m.kind, "channel", m.ch.ID, "err", err)
			}
		}
	}
	s.notify()
}

func applyMutation(tx *routing.Tx, m graphMutation) error {
	switch m.kind {
	case gossip.KindChannelAnnouncement:
		if cur, ok := tx.Snapshot().Channel(m.ch.ID); ok && cur.Node1 == m.ch.Node1 && cur.Node2 == m.ch.Node2 && cur.Capacity == m.ch.Capacity {
			return nil
		}
		return tx.UpsertChannel(m.ch)
	case gossip.KindChannelUpdate:
		if _, ok := tx.Snapshot().Channel(m.ch.ID); !ok {
			c := m.ch
			c.Policy[m.dir] = m.pol
			return tx.UpsertChannel(c)
		}
		return tx.UpdatePolicy(m.ch.ID, m.dir, m.pol)
	case gossip.KindChannelClosed:
		tx.RemoveChannel(m.ch.ID)
	case gossip.KindNodeAnnouncement:
		tx.AddNode(m.node)
	}
	return nil
}

// load restores the validator, the routing graph and the node's own
// channels from the store, in kind order.
func (s *gossipService) load(now time.Time) error {
	gs := s.n.store.Graph()
	chans := make(map[uint64]*routing.ChannelInfo)
	var nodes []routing.NodeID
	var bad []string
	var restored int
	onBad := func(key []byte, err error) { bad = append(bad, fmt.Sprintf("%q: %v", key, err)) }
	self := s.n.id
	for _, kind := range store.GraphKinds {
		err := gs.Each(kind, func(r store.GraphRecord) error {
			arrival := now
			if kind == store.GraphChannel {
				arrival = time.UnixMilli(r.Time)
			}
			if err := s.v.Restore(r.Data, arrival); err != nil {
				bad = append(bad, err.Error())
				return nil
			}
			m, err := gossip.Decode(r.Data)
			if err != nil {
				bad = append(bad, err.Error())
				return nil
			}
			restored++
			switch m := m.(type) {
			case *gossip.ChannelAnnouncement:
				c := routing.ChannelInfo{ID: routing.ChannelID(m.ChannelID.Short()), Node1: routing.NodeID(m.Node1), Node2: routing.NodeID(m.Node2), Capacity: m.Capacity}
				chans[m.ChannelID.Short()] = &c
				if d, ok := m.Side(self); ok {
					s.own[m.ChannelID.Short()] = &ownChannel{ann: m, side: d}
				}
			case *gossip.ChannelUpdate:
				if c := chans[m.ShortID]; c != nil {
					c.Policy[m.Direction] = policyOf(m)
				}
				if oc := s.own[m.ShortID]; oc != nil && oc.side == m.Direction {
					oc.upd = m
					s.noteTS(ownKey{short: m.ShortID, dir: int8(m.Direction)}, m.Timestamp)
				}
				s.bumpLatest(m.Timestamp)
			case *gossip.ChannelClosed:
				delete(chans, m.ShortID)
				delete(s.own, m.ShortID)
				s.bumpLatest(m.Timestamp)
			case *gossip.NodeAnnouncement:
				nodes = append(nodes, routing.NodeID(m.Node))
				if m.Node == self {
					s.annOK = true
					s.noteTS(ownKey{dir: ownNodeKey}, m.Timestamp)
				}
				s.bumpLatest(m.Timestamp)
			}
			return nil
		}, onBad)
		if err != nil {
			return fmt.Errorf("node: load graph: %w", err)
		}
	}
	if len(bad) > 0 {
		s.log.Warn("graph store records skipped", "count", len(bad), "first", bad[0])
	}
	err := s.graph.Update(func(tx *routing.Tx) error {
		for _, c := range chans {
			if err := tx.UpsertChannel(*c); err != nil {
				s.log.Warn("stored channel refused by the routing graph", "channel", c.ID, "err", err)
			}
		}
		for _, id := range nodes {
			tx.AddNode(id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("node: load graph: %w", err)
	}
	if restored > 0 {
		s.log.Info("graph loaded", "records", restored, "channels", len(chans), "nodes", len(nodes))
	}
	return nil
}

// prune forgets channels with no update within PruneAge, closed-channel
// tombstones as old, and nodes left without channels.
func (s *gossipService) prune(now time.Time) gossip.PruneResult {
	s.gate.Lock()
	defer s.gate.Unlock()
	if s.closed {
		return gossip.PruneResult{}
	}
	res := s.v.Prune(now, s.cfg.PruneAge)
	for _, c := range res.Channels {
		s.writes <- writeOp{delChannel: true, short: c.ID.Short()}
	}
	for _, short := range res.Closed {
		s.writes <- writeOp{delChannel: true, short: short}
	}
	for _, id := range res.Nodes {
		s.writes <- writeOp{delNode: []byte(id)}
	}
	if len(res.Channels) > 0 {
		err := s.graph.Update(func(tx *routing.Tx) error {
			for _, c := range res.Channels {
				tx.RemoveChannel(routing.ChannelID(c.ID.Short()))
			}
			return nil
		})
		if err != nil {
			s.log.Warn("prune routing graph", "err", err)
		}
		s.mu.Lock()
		for _, c := range res.Channels {
			delete(s.own, c.ID.Short())
		}
		s.mu.Unlock()
		s.notify()
	}
	if n := len(res.Channels) + len(res.Closed) + len(res.Nodes); n > 0 {
		s.log.Info("graph pruned", "channels", len(res.Channels), "closed", len(res.Closed), "nodes", len(res.Nodes))
	}
	return res
}
