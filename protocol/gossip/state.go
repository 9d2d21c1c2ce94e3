package gossip

import (
	"fmt"
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Restore records a message the node accepted earlier and persisted, so
// that a restarted validator knows its channels and latest timestamps. It
// decodes and bounds-checks data but trusts the store for signatures, rate
// limits and time (verifying 80,000 channels' signatures at every start
// would take seconds). Restore channel announcements before the updates,
// closed notices and node announcements that depend on them; an update of
// an unrestored channel returns ErrUnknownChannel. now stands for the
// arrival time of restored announcements (it delays their pruning).
func (v *Validator) Restore(data []byte, now time.Time) error {
	m, err := Decode(data)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch m := m.(type) {
	case *ChannelAnnouncement:
		short := m.ChannelID.Short()
		if c := v.channels[short]; c != nil {
			if c.info.ID != m.ChannelID {
				return fmt.Errorf("restore channel %s: short id taken by %s", m.ChannelID, c.info.ID)
			}
			return nil
		}
		delete(v.closed, short)
		n1, err := v.restoreNodeLocked(m.Node1)
		if err != nil {
			return err
		}
		n2, err := v.restoreNodeLocked(m.Node2)
		if err != nil {
			return err
		}
		v.channels[short] = &channelState{
			info:    ChannelInfo{ID: m.ChannelID, Node1: m.Node1, Node2: m.Node2, Capacity: m.Capacity},
			n1:      n1,
			n2:      n2,
			addedAt: now.UnixMilli(),
		}
		n1.channels++
		n2.channels++
	case *ChannelUpdate:
		c := v.channels[m.ShortID]
		if c == nil {
			return fmt.Errorf("restore update: %w: %d", ErrUnknownChannel, m.ShortID)
		}
		c.updTS[m.Direction] = max(c.updTS[m.Direction], m.Timestamp)
	case *ChannelClosed:
		if c := v.channels[m.ShortID]; c != nil {
			v.closeLocked(m.ShortID, c, m.Timestamp)
		} else if _, ok := v.closed[m.ShortID]; !ok {
			return fmt.Errorf("restore closed notice: %w: %d", ErrUnknownChannel, m.ShortID)
		}
	case *NodeAnnouncement:
		n, err := v.restoreNodeLocked(m.Node)
		if err != nil {
			return err
		}
		n.annTS = max(n.annTS, m.Timestamp)
	}
	return nil
}

func (v *Validator) restoreNodeLocked(id peer.ID) (*nodeState, error) {
	if n := v.nodes[id]; n != nil {
		return n, nil
	}
	pub, err := nodePubKey(id)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	n := v.nodeLocked(id, pub)
	if n == nil {
		return nil, fmt.Errorf("restore %s: %d nodes tracked, MaxNodes reached", id, len(v.nodes))
	}
	return n, nil
}

// PruneResult lists what Prune forgot, for the node to delete from its
// store and from the routing graph.
type PruneResult struct {
	// Channels had no update (nor arrival, if never updated) within maxAge.
	Channels []ChannelInfo
	// Nodes were left without channels (or, with AcceptChannellessNodes,
	// without channels and without an announcement within maxAge).
	Nodes []peer.ID
	// Closed are the short ids of closed notices older than maxAge, whose
	// tombstones are dropped: their announcements could be accepted again.
	Closed []uint64
}

// Prune forgets channels whose latest update (or arrival, if they have
// none) is older than now-maxAge, the nodes this leaves without channels,
// closed-channel tombstones older than maxAge and expired parked messages.
// The results are sorted.
func (v *Validator) Prune(now time.Time, maxAge time.Duration) PruneResult {
	nowMs := now.UnixMilli()
	cutoff := nowMs - maxAge.Milliseconds()
	var res PruneResult
	v.mu.Lock()
	defer v.mu.Unlock()
	for short, c := range v.channels {
		if c.lastSeen() < cutoff {
			delete(v.channels, short)
			c.n1.channels--
			c.n2.channels--
			res.Channels = append(res.Channels, c.info)
		}
	}
	for id, n := range v.nodes {
		if n.channels == 0 && (!v.cfg.AcceptChannellessNodes || n.annTS < cutoff) {
			delete(v.nodes, id)
			res.Nodes = append(res.Nodes, id)
		}
	}
	for short, c := range v.closed {
		if c.ts < cutoff {
			delete(v.closed, short)
			res.Closed = append(res.Closed, short)
		}
	}
	ttl := nowMs - v.cfg.PendingTTL.Milliseconds()
	for short, list := range v.pending {
		kept := list[:0]
		for _, p := range list {
			if p.at >= ttl {
				kept = append(kept, p)
			}
		}
		if len(kept) == 0 {
			delete(v.pending, short)
		} else {
			v.pending[short] = kept
		}
	}
	sort.Slice(res.Channels, func(i, j int) bool { return res.Channels[i].ID.Short() < res.Channels[j].ID.Short() })
	sort.Slice(res.Nodes, func(i, j int) bool { return res.Nodes[i] < res.Nodes[j] })
	sort.Slice(res.Closed, func(i, j int) bool { return res.Closed[i] < res.Closed[j] })
	return res
}

// Channel returns what the validator knows of an open channel.
func (v *Validator) Channel(short uint64) (ChannelInfo, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if c := v.channels[short]; c != nil {
		return c.info, true
	}
	return ChannelInfo{}, false
}

// Stats counts what the validator tracks.
type Stats struct {
	Nodes    int // nodes with a channel or an accepted announcement
	Channels int // open channels
	Closed   int // closed-channel tombstones
	Pending  int // channels with parked premature messages
}

// Stats returns current counts.
func (v *Validator) Stats() Stats {
	v.mu.Lock()
	defer v.mu.Unlock()
	return Stats{Nodes: len(v.nodes), Channels: len(v.channels), Closed: len(v.closed), Pending: len(v.pending)}
}
