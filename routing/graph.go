package routing

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Policy is the forwarding policy one end of a channel announces for its
// outgoing direction.
type Policy struct {
	// FeeBase is the fixed fee in units (msat for Lightning data). At most
	// math.MaxUint32.
	FeeBase uint64
	// FeePPM is the proportional fee in parts per million of the forwarded
	// amount.
	FeePPM uint32
	// ExpiryDelta is the time-lock delta in milliseconds the forwarding node
	// requires between its incoming and outgoing HTLC. At most math.MaxUint32
	// (about 49 days).
	ExpiryDelta uint64
	// HTLCMin is the smallest HTLC amount the node forwards.
	HTLCMin uint64
	// HTLCMax is the largest HTLC amount the node forwards; 0 means "up to
	// the channel capacity".
	HTLCMax uint64
	// Disabled marks a direction the node refuses to forward on.
	Disabled bool
	// LastUpdate is when the policy was signed; zero if unknown. Stored with
	// one-second resolution.
	LastUpdate time.Time
}

// Fee returns the fee the policy charges to forward amount:
// FeeBase + floor(amount*FeePPM/1e6). The proportional part is computed
// exactly in 128 bits and rounded down, as Lightning does; the result
// saturates at math.MaxUint64.
func (p Policy) Fee(amount uint64) uint64 {
	return fee(uint32(min(p.FeeBase, math.MaxUint32)), p.FeePPM, amount)
}

// ChannelInfo describes one channel: both ends, capacity and the policy of
// each direction. Policy[0] is set by Node1 for Node1→Node2, Policy[1] by
// Node2 for Node2→Node1; a nil policy means that direction is unknown and
// cannot be used.
type ChannelInfo struct {
	ID       ChannelID
	Node1    NodeID
	Node2    NodeID
	Capacity uint64
	Policy   [2]*Policy
}

// Errors returned by graph updates.
var (
	// ErrInvalidChannel is returned when a channel update is self-contradictory
	// (same node on both ends, zero capacity, out-of-range policy values).
	ErrInvalidChannel = errors.New("routing: invalid channel")
	// ErrUnknownChannel is returned when a policy update names a channel the
	// graph does not hold.
	ErrUnknownChannel = errors.New("routing: unknown channel")
)

const (
	chunkBits = 9
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1
)

// chunks is a chunked array whose chunks are shared between snapshots and
// copied on first write inside a transaction (copy-on-write at chunk
// granularity), so an update to one policy copies one chunk and the chunk
// directory rather than the whole graph.
type chunks[T any] struct {
	c []*[chunkSize]T
	n uint32
}

func (s *chunks[T]) at(i uint32) *T { return &s.c[i>>chunkBits][i&chunkMask] }

// edge is the hot part of one direction of a channel: 32 bytes, so two
// edges share a cache line and none straddles two. The cold last-update
// time lives in Snapshot.updated.
type edge struct {
	htlcMin uint64
	htlcMax uint64 // already clamped to capacity
	feeBase uint32
	feePPM  uint32
	delta   uint32
	flags   uint8
}

const (
	edgePresent  = 1 << 0
	edgeDisabled = 1 << 1
)

// usable reports whether the direction has a policy and is enabled.
func (e *edge) usable() bool { return e.flags&(edgePresent|edgeDisabled) == edgePresent }

// channel is the cold direction-independent part of a channel, 16 bytes;
// the hot capacity lives in Snapshot.caps.
type channel struct {
	id    ChannelID
	node1 uint32
	node2 uint32
}

// adjEntry is one channel at a node: ref = channel index<<1 | side, where
// side 0 means this node is node1 of the channel, and peer is the other
// end (kept here so searches can skip settled peers without loading the
// channel record).
type adjEntry struct {
	ref  uint32
	peer uint32
}

// node holds the adjacency list.
type node struct {
	adj []adjEntry
}

const removedNode = math.MaxUint32

// idTable maps NodeID and ChannelID to dense indices. It is append-only and
// shared by all snapshots of one Graph: a snapshot ignores indices at or
// beyond its own counts, so later insertions are invisible to it.
type idTable struct {
	mu    sync.RWMutex
	nodes map[NodeID]uint32
	names []NodeID
	// Channel ids 0 … dense−1 are channel indices 0 … dense−1 and are not
	// in chans: as long as every new channel's id equals its index (as the
	// simulator numbers them) the table holds no map entry per channel, a
	// saving of 9 to 18 bytes per directed edge.
	dense uint32
	chans map[ChannelID]uint32
}

func (t *idTable) node(id NodeID) (uint32, bool) {
	t.mu.RLock()
	i, ok := t.nodes[id]
	t.mu.RUnlock()
	return i, ok
}

func (t *idTable) channel(id ChannelID) (uint32, bool) {
	t.mu.RLock()
	i, ok := t.channelLocked(id)
	t.mu.RUnlock()
	return i, ok
}

// channelLocked is channel with t.mu held.
func (t *idTable) channelLocked(id ChannelID) (uint32, bool) {
	if uint64(id) < uint64(t.dense) {
		return uint32(id), true
	}
	i, ok := t.chans[id]
	return i, ok
}

// addChannel records that channel id has index i (t.mu held for writing).
func (t *idTable) addChannel(id ChannelID, i uint32) {
	if len(t.chans) == 0 && i == t.dense && uint64(id) == uint64(i) {
		t.dense++
		return
	}
	t.chans[id] = i
}

// Snapshot is an immutable view of the channel graph. It is safe for any
// number of concurrent readers, and stays valid and unchanged while the Graph
// it came from is updated. Nodes and channels are addressed by NodeID and
// ChannelID; internally they are dense uint32 indices.
type Snapshot struct {
	ids     *idTable
	names   []NodeID // prefix of ids.names valid for this snapshot
	nodes   chunks[node]
	chans   chunks[channel]
	edges   chunks[edge]   // 2 per channel: index ch<<1 | direction
	updated chunks[uint32] // per directed edge: policy timestamp, unix s
	caps    chunks[uint64] // per channel: capacity
	live    int            // channels present
	version uint64
	// uid identifies this snapshot among all snapshots of the process
	// (never 0 for a published one): searches key per-snapshot caches on
	// it.
	uid uint64
	// index is built from the snapshot by its second search (see
	// searchIndex); every snapshot value gets its own.
	index *searchIndex
}

// snapshotUIDs hands out Snapshot.uid values.
var snapshotUIDs atomic.Uint64

// NumNodes returns the number of nodes known to the snapshot (including nodes
// whose channels have all been removed).
func (s *Snapshot) NumNodes() int { return int(s.nodes.n) }

// NumChannels returns the number of channels present in the snapshot.
func (s *Snapshot) NumChannels() int { return s.live }

// Version increases by one with each committed update of the Graph.
func (s *Snapshot) Version() uint64 { return s.version }

// HasNode reports whether id is a node of the snapshot.
func (s *Snapshot) HasNode(id NodeID) bool {
	_, ok := s.nodeIndex(id)
	return ok
}

func (s *Snapshot) nodeIndex(id NodeID) (uint32, bool) {
	if s.ids == nil {
		return 0, false
	}
	i, ok := s.ids.node(id)
	if !ok || i >= s.nodes.n {
		return 0, false
	}
	return i, true
}

func (s *Snapshot) chanIndex(id ChannelID) (uint32, bool) {
	if s.ids == nil {
		return 0, false
	}
	i, ok := s.ids.channel(id)
	if !ok || i >= s.chans.n || s.chans.at(i).node1 == removedNode {
		return 0, false
	}
	return i, true
}

// Nodes calls fn for every node until fn returns false.
func (s *Snapshot) Nodes(fn func(NodeID) bool) {
	for i := range s.nodes.n {
		if !fn(s.names[i]) {
			return
		}
	}
}

// Channel returns the channel with the given id.
func (s *Snapshot) Channel(id ChannelID) (ChannelInfo, bool) {
	i, ok := s.chanIndex(id)
	if !ok {
		return ChannelInfo{}, false
	}
	return s.channelInfo(i), true
}

func (s *Snapshot) channelInfo(i uint32) ChannelInfo {
	c := s.chans.at(i)
	info := ChannelInfo{ID: c.id, Node1: s.names[c.node1], Node2: s.names[c.node2], Capacity: *s.caps.at(i)}
	for d := range 2 {
		e := s.edges.at(i<<1 | uint32(d))
		if e.flags&edgePresent == 0 {
			continue
		}
		p := e.policy(*s.updated.at(i<<1 | uint32(d)))
		info.Policy[d] = &p
	}
	return info
}

func (e *edge) policy(updated uint32) Policy {
	p := Policy{
		FeeBase: uint64(e.feeBase), FeePPM: e.feePPM, ExpiryDelta: uint64(e.delta),
		HTLCMin: e.htlcMin, HTLCMax: e.htlcMax, Disabled: e.flags&edgeDisabled != 0,
	}
	if updated != 0 {
		p.LastUpdate = time.Unix(int64(updated), 0).UTC()
	}
	return p
}

// Channels calls fn for every channel until fn returns false, in index order
// (the order channels were first added).
func (s *Snapshot) Channels(fn func(ChannelInfo) bool) {
	for i := range s.chans.n {
		if s.chans.at(i).node1 == removedNode {
			continue
		}
		if !fn(s.channelInfo(i)) {
			return
		}
	}
}

// ChannelsOf returns the ids of the channels the node is an end of.
func (s *Snapshot) ChannelsOf(id NodeID) []ChannelID {
	i, ok := s.nodeIndex(id)
	if !ok {
		return nil
	}
	adj := s.nodes.at(i).adj
	out := make([]ChannelID, len(adj))
	for k, a := range adj {
		out[k] = s.chans.at(a.ref >> 1).id
	}
	return out
}

// Graph is the mutable channel graph. Updates are serialised and each commit
// publishes a new immutable Snapshot; readers call Snapshot and are never
// blocked by writers (read-copy-update at chunk granularity: a commit copies
// only the chunks it touches). The zero value is not usable; call NewGraph.
type Graph struct {
	mu  sync.Mutex
	cur atomic.Pointer[Snapshot]
}

// NewGraph returns an empty graph.
func NewGraph() *Graph {
	g := &Graph{}
	g.cur.Store(&Snapshot{ids: &idTable{nodes: map[NodeID]uint32{}, chans: map[ChannelID]uint32{}}, uid: snapshotUIDs.Add(1), index: &searchIndex{}})
	return g
}

// Snapshot returns the current immutable snapshot. It never blocks.
func (g *Graph) Snapshot() *Snapshot { return g.cur.Load() }

// Update runs fn inside a transaction. If fn returns nil the changes are
// published atomically as a new snapshot; otherwise they are discarded and the
// error is returned. Updates are serialised.
func (g *Graph) Update(fn func(tx *Tx) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	tx := newTx(g.cur.Load())
	if err := fn(tx); err != nil {
		tx.abort()
		return err
	}
	g.cur.Store(tx.commit())
	return nil
}

// UpsertChannel adds or replaces one channel in its own transaction.
func (g *Graph) UpsertChannel(c ChannelInfo) error {
	return g.Update(func(tx *Tx) error { return tx.UpsertChannel(c) })
}

// Tx is a graph transaction. It is only valid inside Graph.Update.
type Tx struct {
	s        Snapshot
	ids      *idTable
	owned    map[any]struct{}
	ownedAdj map[uint32]struct{}
	newNames int // names appended to ids during this tx (rolled back on abort)
	newChans []ChannelID
	dense    uint32 // ids.dense when the tx began (restored on abort)
}

func newTx(base *Snapshot) *Tx {
	tx := &Tx{s: *base, ids: base.ids, owned: map[any]struct{}{}, ownedAdj: map[uint32]struct{}{}}
	base.ids.mu.RLock()
	tx.dense = base.ids.dense
	base.ids.mu.RUnlock()
	tx.s.index = nil // the transaction's state is not base's: never share its index
	tx.s.nodes.c = append([]*[chunkSize]node(nil), base.nodes.c...)
	tx.s.chans.c = append([]*[chunkSize]channel(nil), base.chans.c...)
	tx.s.edges.c = append([]*[chunkSize]edge(nil), base.edges.c...)
	tx.s.updated.c = append([]*[chunkSize]uint32(nil), base.updated.c...)
	tx.s.caps.c = append([]*[chunkSize]uint64(nil), base.caps.c...)
	return tx
}

func mut[T any](tx *Tx, s *chunks[T], i uint32) *T {
	ci := i >> chunkBits
	for int(ci) >= len(s.c) {
		c := new([chunkSize]T)
		s.c = append(s.c, c)
		tx.owned[c] = struct{}{}
	}
	c := s.c[ci]
	if _, ok := tx.owned[c]; !ok {
		cp := new([chunkSize]T)
		*cp = *c
		s.c[ci] = cp
		tx.owned[cp] = struct{}{}
		c = cp
	}
	return &c[i&chunkMask]
}

func (tx *Tx) abort() {
	// Roll back id-table insertions so that the table matches the published
	// snapshot again.
	if tx.newNames == 0 && len(tx.newChans) == 0 {
		return
	}
	tx.ids.mu.Lock()
	defer tx.ids.mu.Unlock()
	for _, n := range tx.ids.names[len(tx.ids.names)-tx.newNames:] {
		delete(tx.ids.nodes, n)
	}
	tx.ids.names = tx.ids.names[:len(tx.ids.names)-tx.newNames]
	for _, c := range tx.newChans {
		delete(tx.ids.chans, c)
	}
	tx.ids.dense = tx.dense
}

func (tx *Tx) commit() *Snapshot {
	// Trim adjacency lists grown by appends so snapshots hold no slack.
	for n := range tx.ownedAdj {
		nd := tx.s.nodes.at(n)
		if cap(nd.adj) > len(nd.adj)+len(nd.adj)/8 {
			nd.adj = append([]adjEntry(nil), nd.adj...)
		}
	}
	s := tx.s
	s.version++
	s.uid, s.index = snapshotUIDs.Add(1), &searchIndex{}
	tx.ids.mu.RLock()
	s.names = tx.ids.names[:s.nodes.n:s.nodes.n]
	tx.ids.mu.RUnlock()
	return &s
}

func (tx *Tx) nodeIndex(id NodeID) uint32 {
	if i, ok := tx.ids.node(id); ok {
		return i
	}
	tx.ids.mu.Lock()
	i := uint32(len(tx.ids.names))
	tx.ids.names = append(tx.ids.names, id)
	tx.ids.nodes[id] = i
	tx.ids.mu.Unlock()
	tx.newNames++
	mut(tx, &tx.s.nodes, i)
	tx.s.nodes.n = i + 1
	return i
}

func validatePolicy(p *Policy) error {
	if p == nil {
		return nil
	}
	if p.FeeBase > math.MaxUint32 {
		return fmt.Errorf("%w: fee base %d exceeds %d", ErrInvalidChannel, p.FeeBase, uint64(math.MaxUint32))
	}
	if p.ExpiryDelta > math.MaxUint32 {
		return fmt.Errorf("%w: expiry delta %d ms exceeds %d", ErrInvalidChannel, p.ExpiryDelta, uint64(math.MaxUint32))
	}
	if p.HTLCMax != 0 && p.HTLCMin > p.HTLCMax {
		return fmt.Errorf("%w: htlc min %d above htlc max %d", ErrInvalidChannel, p.HTLCMin, p.HTLCMax)
	}
	return nil
}

// setEdge stores policy p (nil: unknown direction) as directed edge ei.
func (tx *Tx) setEdge(ei uint32, p *Policy, capacity uint64) {
	e, upd := edge{}, uint32(0)
	if p != nil {
		e = edge{htlcMin: p.HTLCMin, htlcMax: p.HTLCMax, feeBase: uint32(p.FeeBase), feePPM: p.FeePPM,
			delta: uint32(p.ExpiryDelta), flags: edgePresent}
		if e.htlcMax == 0 || e.htlcMax > capacity {
			e.htlcMax = capacity
		}
		if p.Disabled {
			e.flags |= edgeDisabled
		}
		if !p.LastUpdate.IsZero() {
			if u := p.LastUpdate.Unix(); u > 0 && u <= math.MaxUint32 {
				upd = uint32(u)
			}
		}
	}
	*mut(tx, &tx.s.edges, ei) = e
	*mut(tx, &tx.s.updated, ei) = upd
}

// UpsertChannel adds the channel or replaces it (ends, capacity and both
// policies). Node1 and Node2 may be given in either order; they are stored
// with Node1 < Node2 and the policies swapped accordingly.
func (tx *Tx) UpsertChannel(c ChannelInfo) error {
	if c.Node1 == c.Node2 {
		return fmt.Errorf("%w: channel %s: both ends are the same node", ErrInvalidChannel, c.ID)
	}
	if c.Capacity == 0 {
		return fmt.Errorf("%w: channel %s: zero capacity", ErrInvalidChannel, c.ID)
	}
	for d := range 2 {
		if err := validatePolicy(c.Policy[d]); err != nil {
			return fmt.Errorf("channel %s direction %d: %w", c.ID, d, err)
		}
	}
	if c.Node1 > c.Node2 {
		c.Node1, c.Node2 = c.Node2, c.Node1
		c.Policy[0], c.Policy[1] = c.Policy[1], c.Policy[0]
	}
	n1, n2 := tx.nodeIndex(c.Node1), tx.nodeIndex(c.Node2)
	ci, ok := tx.ids.channel(c.ID)
	if ok && ci < tx.s.chans.n {
		old := *tx.s.chans.at(ci)
		if old.node1 != removedNode && (old.node1 != n1 || old.node2 != n2) {
			tx.removeAdj(old.node1, ci)
			tx.removeAdj(old.node2, ci)
			tx.s.live--
		}
		if old.node1 == removedNode || old.node1 != n1 || old.node2 != n2 {
			tx.addAdj(n1, ci<<1, n2)
			tx.addAdj(n2, ci<<1|1, n1)
			tx.s.live++
		}
	} else {
		tx.ids.mu.Lock()
		ci = tx.s.chans.n
		tx.ids.addChannel(c.ID, ci)
		tx.ids.mu.Unlock()
		tx.newChans = append(tx.newChans, c.ID)
		tx.s.chans.n = ci + 1
		tx.s.edges.n = (ci + 1) * 2
		tx.s.updated.n = (ci + 1) * 2
		tx.s.caps.n = ci + 1
		tx.addAdj(n1, ci<<1, n2)
		tx.addAdj(n2, ci<<1|1, n1)
		tx.s.live++
	}
	*mut(tx, &tx.s.chans, ci) = channel{id: c.ID, node1: n1, node2: n2}
	*mut(tx, &tx.s.caps, ci) = c.Capacity
	tx.setEdge(ci<<1, c.Policy[0], c.Capacity)
	tx.setEdge(ci<<1|1, c.Policy[1], c.Capacity)
	return nil
}

// AddNode adds a node without channels (a no-op if it exists), so that
// loaders keep nodes a snapshot lists even when none of their channels
// survive.
func (tx *Tx) AddNode(id NodeID) { tx.nodeIndex(id) }

// UpdatePolicy replaces the policy of one direction of an existing channel.
// A nil policy marks the direction unknown.
func (tx *Tx) UpdatePolicy(id ChannelID, dir Direction, p *Policy) error {
	ci, ok := tx.s.chanIndex(id)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownChannel, id)
	}
	if dir > 1 {
		return fmt.Errorf("%w: channel %s: direction %d", ErrInvalidChannel, id, dir)
	}
	if err := validatePolicy(p); err != nil {
		return fmt.Errorf("channel %s direction %d: %w", id, dir, err)
	}
	tx.setEdge(ci<<1|uint32(dir), p, *tx.s.caps.at(ci))
	return nil
}

// RemoveChannel deletes a channel (for example when it is closed on chain).
// Removing an unknown channel is not an error.
func (tx *Tx) RemoveChannel(id ChannelID) {
	ci, ok := tx.s.chanIndex(id)
	if !ok {
		return
	}
	c := mut(tx, &tx.s.chans, ci)
	tx.removeAdj(c.node1, ci)
	tx.removeAdj(c.node2, ci)
	c.node1, c.node2 = removedNode, removedNode
	tx.setEdge(ci<<1, nil, 0)
	tx.setEdge(ci<<1|1, nil, 0)
	tx.s.live--
}

// Snapshot returns a read-only view of the transaction's current state, for
// looking things up during an update. It must not be used after Update
// returns.
func (tx *Tx) Snapshot() *Snapshot {
	s := tx.s
	s.uid, s.index = snapshotUIDs.Add(1), &searchIndex{}
	tx.ids.mu.RLock()
	s.names = tx.ids.names[:s.nodes.n:s.nodes.n]
	tx.ids.mu.RUnlock()
	return &s
}

// ownAdj makes node n's adjacency list private to this transaction (copied
// once), so that later appends and removals in the same transaction do not
// touch a list an older snapshot still reads.
func (tx *Tx) ownAdj(n uint32) *node {
	nd := mut(tx, &tx.s.nodes, n)
	if _, ok := tx.ownedAdj[n]; !ok {
		nd.adj = append(make([]adjEntry, 0, len(nd.adj)+1), nd.adj...)
		tx.ownedAdj[n] = struct{}{}
	}
	return nd
}

func (tx *Tx) addAdj(n, ref, peer uint32) {
	nd := tx.ownAdj(n)
	nd.adj = append(nd.adj, adjEntry{ref, peer})
}

func (tx *Tx) removeAdj(n, ci uint32) {
	nd := tx.ownAdj(n)
	adj := nd.adj[:0]
	for _, a := range nd.adj {
		if a.ref>>1 != ci {
			adj = append(adj, a)
		}
	}
	nd.adj = adj
}
