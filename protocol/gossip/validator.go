package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Verdict is a validator's decision on a message. It mirrors pubsub's
// ValidationAccept, ValidationReject and ValidationIgnore; the zero value is
// not a verdict.
type Verdict uint8

const (
	// Accept: the message is new and valid; deliver it, forward it, apply it.
	Accept Verdict = iota + 1
	// Reject: the message is provably bad (forged, malformed, oversize, out
	// of bounds). Drop it and penalise the peer that sent it.
	Reject
	// Ignore: the message may be honest but is not useful now (stale,
	// duplicate, future-dated, over a rate limit, premature). Drop it
	// without penalising the sender.
	Ignore
)

// String returns "accept", "reject" or "ignore".
func (v Verdict) String() string {
	switch v {
	case Accept:
		return "accept"
	case Reject:
		return "reject"
	case Ignore:
		return "ignore"
	}
	return "invalid"
}

// Reason says why a message was rejected or ignored. The set is small and
// fixed so it can label a metric (paymesh_gossip_rejected_total{reason}).
type Reason string

// The reasons. Each is returned with one verdict only, except
// ReasonUnknownChannel (Ignore, or Reject with Config.RejectUnknownChannel).
const (
	// ReasonOversize (Reject): larger than wire.MaxGossipMessage.
	ReasonOversize Reason = "oversize"
	// ReasonMalformed (Reject): not a canonical, well-formed message.
	ReasonMalformed Reason = "malformed"
	// ReasonOutOfBounds (Reject): a field outside its bounds.
	ReasonOutOfBounds Reason = "out_of_bounds"
	// ReasonBadSignature (Reject): a missing or invalid signature.
	ReasonBadSignature Reason = "bad_signature"
	// ReasonUnknownChannel (Ignore by default): an update or closed notice
	// for a channel whose announcement has not been accepted.
	ReasonUnknownChannel Reason = "unknown_channel"
	// ReasonUnknownNode (Ignore): a node announcement from a node with no
	// channel (unless Config.AcceptChannellessNodes).
	ReasonUnknownNode Reason = "unknown_node"
	// ReasonClosedChannel (Ignore): a message for a channel known closed.
	ReasonClosedChannel Reason = "closed_channel"
	// ReasonConflict (Ignore): a channel announcement whose short id belongs
	// to another channel already.
	ReasonConflict Reason = "short_id_conflict"
	// ReasonStale (Ignore): a timestamp older than the latest accepted for
	// the same node or channel direction, or older than Config.MaxAge.
	ReasonStale Reason = "stale"
	// ReasonDuplicate (Ignore): the same timestamp as the latest accepted,
	// or a channel announcement or closed notice already applied.
	ReasonDuplicate Reason = "duplicate"
	// ReasonFuture (Ignore): a timestamp more than Config.MaxFutureSkew
	// ahead of now.
	ReasonFuture Reason = "future"
	// ReasonRateLimited (Ignore): over the origin's or the direction's
	// rate limit.
	ReasonRateLimited Reason = "rate_limited"
	// ReasonFull (Ignore): the validator tracks Config.MaxChannels channels
	// or Config.MaxNodes nodes already.
	ReasonFull Reason = "full"
)

// Reasons returns every Reason, to pre-register metric labels.
func Reasons() []Reason {
	return []Reason{ReasonOversize, ReasonMalformed, ReasonOutOfBounds, ReasonBadSignature,
		ReasonUnknownChannel, ReasonUnknownNode, ReasonClosedChannel, ReasonConflict,
		ReasonStale, ReasonDuplicate, ReasonFuture, ReasonRateLimited, ReasonFull}
}

// ReasonOf maps an error from Decode, Check or Verify to its Reason.
func ReasonOf(err error) Reason {
	switch {
	case errors.Is(err, ErrOversize):
		return ReasonOversize
	case errors.Is(err, ErrBadSignature):
		return ReasonBadSignature
	case errors.Is(err, ErrOutOfBounds):
		return ReasonOutOfBounds
	}
	return ReasonMalformed
}

// Source says where a message came from. Messages from graph sync get the
// same checks as gossip except the rate limits, since a sync legitimately
// delivers the whole history of busy nodes at once.
type Source uint8

const (
	// FromGossip is a message received on the gossip topic (or published
	// locally).
	FromGossip Source = iota
	// FromSync is an item of a graph sync.
	FromSync
)

// Config holds the validator's limits. Zero fields take the defaults.
type Config struct {
	// MaxFutureSkew is how far ahead of now a timestamp may be (10 min).
	MaxFutureSkew time.Duration
	// MaxAge is how old a timestamp may be (14 days). Use the same value as
	// the node's prune age.
	MaxAge time.Duration
	// UpdateLimit is per channel direction (burst 4, then 1 per 15 min).
	UpdateLimit Limit
	// NodeAnnouncementLimit is per node (burst 3, then 1 per 20 min).
	NodeAnnouncementLimit Limit
	// ChannelAnnouncementLimit is per node, charged to both ends of each
	// new channel (burst 20, then 1 per 3 min).
	ChannelAnnouncementLimit Limit
	// RejectUnknownChannel rejects gossiped updates and closed notices for
	// unknown channels instead of ignoring and parking them (sync items are
	// always ignored and parked). See the package doc for why the default
	// is to ignore.
	RejectUnknownChannel bool
	// AcceptChannellessNodes accepts node announcements from nodes with no
	// known channel. Off by default: such announcements cost nothing to
	// make in bulk and the node is useless to routing.
	AcceptChannellessNodes bool
	// MaxPending is how many channels may have parked premature messages
	// (1024); each parks at most 3 (two directions and a closed notice).
	MaxPending int
	// PendingTTL is how long a parked message waits for its announcement
	// (10 min).
	PendingTTL time.Duration
	// MaxChannels caps the channels tracked (2^21).
	MaxChannels int
	// MaxNodes caps the nodes tracked (2^20).
	MaxNodes int
}

// DefaultConfig returns the default limits.
func DefaultConfig() Config {
	return Config{
		MaxFutureSkew:            10 * time.Minute,
		MaxAge:                   14 * 24 * time.Hour,
		UpdateLimit:              Limit{Burst: 4, Every: 15 * time.Minute},
		NodeAnnouncementLimit:    Limit{Burst: 3, Every: 20 * time.Minute},
		ChannelAnnouncementLimit: Limit{Burst: 20, Every: 3 * time.Minute},
		MaxPending:               1024,
		PendingTTL:               10 * time.Minute,
		MaxChannels:              1 << 21,
		MaxNodes:                 1 << 20,
	}
}

// ErrConfig is returned by Config.Validate for nonsense limits.
var ErrConfig = errors.New("gossip: invalid config")

// Validate fills zero fields with defaults and rejects negative durations,
// negative caps and limits whose burst or interval is absurd.
func (c *Config) Validate() error {
	d := DefaultConfig()
	fill := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	fill(&c.MaxFutureSkew, d.MaxFutureSkew)
	fill(&c.MaxAge, d.MaxAge)
	fill(&c.PendingTTL, d.PendingTTL)
	for _, l := range []struct {
		v   *Limit
		def Limit
	}{{&c.UpdateLimit, d.UpdateLimit}, {&c.NodeAnnouncementLimit, d.NodeAnnouncementLimit}, {&c.ChannelAnnouncementLimit, d.ChannelAnnouncementLimit}} {
		if *l.v == (Limit{}) {
			*l.v = l.def
		}
		if l.v.Burst > 1_000_000 || l.v.Every < 0 || l.v.Every > 365*24*time.Hour {
			return fmt.Errorf("%w: limit %+v", ErrConfig, *l.v)
		}
	}
	if c.MaxPending == 0 {
		c.MaxPending = d.MaxPending
	}
	if c.MaxChannels == 0 {
		c.MaxChannels = d.MaxChannels
	}
	if c.MaxNodes == 0 {
		c.MaxNodes = d.MaxNodes
	}
	if c.MaxFutureSkew < 0 || c.MaxAge < 0 || c.PendingTTL < 0 || c.MaxPending < 0 || c.MaxChannels < 0 || c.MaxNodes < 0 {
		return fmt.Errorf("%w: negative value in %+v", ErrConfig, *c)
	}
	return nil
}

// ChannelInfo is what the validator knows of an accepted channel.
type ChannelInfo struct {
	ID       ChannelID
	Node1    peer.ID
	Node2    peer.ID
	Capacity uint64
}

// Result is the outcome of Validate.
type Result struct {
	Verdict Verdict
	// Reason is empty when the message is accepted.
	Reason Reason
	// Err details a rejection or an ignore, for logs.
	Err error
	// Message is the decoded message, nil when decoding failed.
	Message Message
	// Channel is the message's channel (for channel announcements, updates
	// and closed notices) when the validator knows it: an update's
	// direction runs from Channel.Node1 to Channel.Node2 or back.
	Channel ChannelInfo
	// Released holds premature updates and closed notices that were parked
	// waiting for this channel announcement. Validate each again (they
	// were ignored, so pubsub did not deliver or forward them).
	Released [][]byte
	// Data is the message's envelope as validated (the caller's bytes, not
	// a copy), nil when decoding failed: what to store or forward.
	Data []byte
}

// ErrUnknownChannel is returned by Restore for an update or closed notice
// of a channel it has not restored, and wrapped in Result.Err.
var ErrUnknownChannel = errors.New("gossip: unknown channel")

// Validator decides on gossip messages and keeps the bookkeeping that needs:
// the accepted channels with their ends and capacity, the latest timestamp
// per node and per channel direction, closed channels, rate-limit buckets
// and parked premature messages. It holds no graph for routing and does no
// I/O; time is passed in. It is safe for concurrent use: signatures are
// verified outside its lock.
type Validator struct {
	cfg Config

	mu       sync.Mutex
	nodes    map[peer.ID]*nodeState
	channels map[uint64]*channelState
	closed   map[uint64]closedState
	pending  map[uint64][]parked
}

type nodeState struct {
	pub      crypto.PubKey
	annTS    int64 // latest node announcement, 0 if none
	channels int   // open channels with this node as an end
	annLimit bucket
	chLimit  bucket
}

type channelState struct {
	info    ChannelInfo
	n1, n2  *nodeState
	updTS   [2]int64 // latest update per direction, 0 if none
	limits  [2]bucket
	addedAt int64 // when the announcement was accepted (unix ms)
}

// lastSeen is the latest of the updates and the announcement's arrival.
func (c *channelState) lastSeen() int64 {
	return max(c.addedAt, c.updTS[0], c.updTS[1])
}

type closedState struct {
	id ChannelID
	ts int64
}

type parked struct {
	data []byte
	at   int64
}

// NewValidator returns an empty validator. cfg is completed with defaults.
func NewValidator(cfg Config) (*Validator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Validator{
		cfg:      cfg,
		nodes:    make(map[peer.ID]*nodeState),
		channels: make(map[uint64]*channelState),
		closed:   make(map[uint64]closedState),
		pending:  make(map[uint64][]parked),
	}, nil
}

// Config returns the validator's completed config.
func (v *Validator) Config() Config { return v.cfg }

func reject(m Message, err error) Result {
	return Result{Verdict: Reject, Reason: ReasonOf(err), Err: err, Message: m}
}

func ignore(m Message, r Reason, format string, args ...any) Result {
	return Result{Verdict: Ignore, Reason: r, Err: fmt.Errorf(string(r)+": "+format, args...), Message: m}
}

// Validate decodes data (a gossip envelope), checks its bounds, its
// timestamp and its signature against what the validator knows, applies
// the rate limits (for FromGossip) and, when it accepts, records the
// message so that a replay or an older message is ignored. now is the
// current time.
func (v *Validator) Validate(data []byte, now time.Time, src Source) Result {
	p, r, decided := v.begin(data, now, src)
	if !decided {
		var ok [2]bool
		for i, c := range p.checks() {
			if ok[i] = verifyOne(c); !ok[i] {
				break
			}
		}
		r = v.end(&p, ok[:p.nsigs], false)
	}
	if r.Message != nil {
		r.Data = data
	}
	return r
}

// pending is a message between the validator's two looks at its state:
// the first (decode, time, what the validator knows) let it through and
// its signatures are still to be checked; the second, after the check,
// looks again (the state may have changed meanwhile), applies the rate
// limits and records the message. Validate takes both looks at one
// message; a sync session takes the first at many, checks their
// signatures together, then takes the second at each in order.
type pending struct {
	m     Message
	data  []byte
	now   int64
	src   Source
	sigs  [2]sigCheck
	nsigs int
	pub1  crypto.PubKey // the signer's key; Node1's for a channel announcement
	pub2  crypto.PubKey // Node2's key for a channel announcement
	info  ChannelInfo   // the channel of an update or closed notice
	// state is that channel as the first look found it: if the second look
	// finds another (pruned and announced again in between), the signature,
	// checked against the first one's key, is checked again.
	state *channelState
}

// recheck verifies, under the validator's lock, the signature of an update
// or closed notice (signed by side dir) against channel c as it is now.
func (p *pending) recheck(c *channelState, dir Direction, msg, sig []byte) bool {
	pub := c.n1.pub
	if dir == Dir21 {
		pub = c.n2.pub
	}
	key, err := pub.Raw()
	return err == nil && verifyOne(sigCheck{key: key, msg: msg, sig: sig})
}

func (p *pending) checks() []sigCheck { return p.sigs[:p.nsigs] }

func (p *pending) add(pub crypto.PubKey, msg, sig []byte) {
	key, _ := pub.Raw() // an Ed25519 key from a checked node id
	p.sigs[p.nsigs] = sigCheck{key: key, msg: msg, sig: sig}
	p.nsigs++
}

// badSig is the error for a signature that does not check.
func badSig(sig []byte) error {
	if len(sig) != SignatureSize {
		return fmt.Errorf("%w: %d bytes", ErrBadSignature, len(sig))
	}
	return ErrBadSignature
}

// begin takes the first look at data. It returns the verdict when that
// look decides (decided), or the message with the signatures to check.
func (v *Validator) begin(data []byte, now time.Time, src Source) (p pending, r Result, decided bool) {
	m, err := Decode(data)
	if err != nil {
		return p, reject(nil, err), true
	}
	nowMs := now.UnixMilli()
	if r, ok := v.checkTime(m, nowMs); !ok {
		return p, r, true
	}
	p = pending{m: m, data: data, now: nowMs, src: src}
	switch m := m.(type) {
	case *NodeAnnouncement:
		r, decided = v.beginNode(&p, m)
	case *ChannelAnnouncement:
		r, decided = v.beginChannel(&p, m)
	case *ChannelUpdate:
		r, decided = v.beginUpdate(&p, m)
	case *ChannelClosed:
		r, decided = v.beginClosed(&p, m)
	default:
		return p, reject(m, fmt.Errorf("%w: unknown message", ErrMalformed)), true
	}
	return p, r, decided
}

// end takes the second look at a message begin let through; ok[i] says
// whether its i-th signature checked. A bad signature is rejected before
// the second look, as Validate does, unless lookFirst: then what the
// second look decides (a duplicate, a conflict...) comes first, as if the
// first look had come after every earlier message's second, which is
// what validating a run one by one would decide.
func (v *Validator) end(p *pending, ok []bool, lookFirst bool) Result {
	switch m := p.m.(type) {
	case *NodeAnnouncement:
		return v.endNode(p, m, ok, lookFirst)
	case *ChannelAnnouncement:
		return v.endChannel(p, m, ok, lookFirst)
	case *ChannelUpdate:
		return v.endUpdate(p, m, ok, lookFirst)
	case *ChannelClosed:
		return v.endClosed(p, m, ok, lookFirst)
	}
	return reject(p.m, fmt.Errorf("%w: unknown message", ErrMalformed))
}

// checkTime ignores messages dated too far in the future or too far back.
func (v *Validator) checkTime(m Message, now int64) (Result, bool) {
	var ts int64
	switch m := m.(type) {
	case *NodeAnnouncement:
		ts = m.Timestamp
	case *ChannelUpdate:
		ts = m.Timestamp
	case *ChannelClosed:
		ts = m.Timestamp
	default:
		return Result{}, true
	}
	if ts > now+v.cfg.MaxFutureSkew.Milliseconds() {
		return ignore(m, ReasonFuture, "timestamp %d is %d ms ahead", ts, ts-now), false
	}
	if ts < now-v.cfg.MaxAge.Milliseconds() {
		return ignore(m, ReasonStale, "timestamp %d older than %s", ts, v.cfg.MaxAge), false
	}
	return Result{}, true
}

// pubKeyLocked returns the cached key of a known node, or extracts it.
func (v *Validator) pubKeyLocked(id peer.ID) (crypto.PubKey, error) {
	if n := v.nodes[id]; n != nil && n.pub != nil {
		return n.pub, nil
	}
	return nodePubKey(id)
}

// nodeLocked returns id's state, creating it (with its key) if needed; nil
// when the validator is full.
func (v *Validator) nodeLocked(id peer.ID, pub crypto.PubKey) *nodeState {
	if n := v.nodes[id]; n != nil {
		return n
	}
	if len(v.nodes) >= v.cfg.MaxNodes {
		return nil
	}
	n := &nodeState{pub: pub}
	v.nodes[id] = n
	return n
}

// preNodeLocked is both looks' check of a node announcement.
func (v *Validator) preNodeLocked(m *NodeAnnouncement) (Result, bool) {
	n := v.nodes[m.Node]
	if !v.cfg.AcceptChannellessNodes && (n == nil || n.channels == 0) {
		return ignore(m, ReasonUnknownNode, "node %s has no channel", m.Node), false
	}
	if n != nil && m.Timestamp == n.annTS {
		return ignore(m, ReasonDuplicate, "node %s at %d", m.Node, m.Timestamp), false
	}
	if n != nil && m.Timestamp < n.annTS {
		return ignore(m, ReasonStale, "node %s: %d, have %d", m.Node, m.Timestamp, n.annTS), false
	}
	if n == nil && len(v.nodes) >= v.cfg.MaxNodes {
		return ignore(m, ReasonFull, "%d nodes", len(v.nodes)), false
	}
	return Result{}, true
}

func (v *Validator) beginNode(p *pending, m *NodeAnnouncement) (Result, bool) {
	v.mu.Lock()
	r, ok := v.preNodeLocked(m)
	var pub crypto.PubKey
	var err error
	if ok {
		pub, err = v.pubKeyLocked(m.Node)
	}
	v.mu.Unlock()
	if !ok {
		return r, true
	}
	if err != nil {
		return reject(m, err), true
	}
	p.pub1 = pub
	p.add(pub, m.SigningBytes(), m.Signature)
	return Result{}, false
}

func (v *Validator) endNode(p *pending, m *NodeAnnouncement, ok []bool, lookFirst bool) Result {
	if !ok[0] && !lookFirst {
		return reject(m, fmt.Errorf("node announcement of %s: %w", m.Node, badSig(m.Signature)))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if r, ok := v.preNodeLocked(m); !ok {
		return r
	}
	if !ok[0] {
		return reject(m, fmt.Errorf("node announcement of %s: %w", m.Node, badSig(m.Signature)))
	}
	n := v.nodeLocked(m.Node, p.pub1)
	if p.src == FromGossip && !n.annLimit.allow(v.cfg.NodeAnnouncementLimit, p.now) {
		return ignore(m, ReasonRateLimited, "node announcements of %s", m.Node)
	}
	n.annTS = m.Timestamp
	return Result{Verdict: Accept, Message: m}
}

// preChannelLocked is both looks' check of a channel announcement.
func (v *Validator) preChannelLocked(m *ChannelAnnouncement) (Result, bool) {
	short := m.ChannelID.Short()
	if c := v.channels[short]; c != nil {
		if c.info.ID == m.ChannelID {
			return ignore(m, ReasonDuplicate, "channel %d known", short), false
		}
		return ignore(m, ReasonConflict, "short id %d belongs to %s", short, c.info.ID), false
	}
	if c, ok := v.closed[short]; ok {
		if c.id == m.ChannelID {
			return ignore(m, ReasonClosedChannel, "channel %d closed", short), false
		}
		return ignore(m, ReasonConflict, "short id %d belongs to closed %s", short, c.id), false
	}
	if len(v.channels) >= v.cfg.MaxChannels {
		return ignore(m, ReasonFull, "%d channels", len(v.channels)), false
	}
	return Result{}, true
}

func (v *Validator) beginChannel(p *pending, m *ChannelAnnouncement) (Result, bool) {
	v.mu.Lock()
	r, ok := v.preChannelLocked(m)
	var pub1, pub2 crypto.PubKey
	var err error
	if ok {
		pub1, err = v.pubKeyLocked(m.Node1)
		if err == nil {
			pub2, err = v.pubKeyLocked(m.Node2)
		}
	}
	v.mu.Unlock()
	if !ok {
		return r, true
	}
	if err != nil {
		return reject(m, err), true
	}
	p.pub1, p.pub2 = pub1, pub2
	msg := m.SigningBytes()
	p.add(pub1, msg, m.Sig1)
	p.add(pub2, msg, m.Sig2)
	return Result{}, false
}

func (v *Validator) endChannel(p *pending, m *ChannelAnnouncement, ok []bool, lookFirst bool) Result {
	short := m.ChannelID.Short()
	badSigs := func() (Result, bool) {
		if !ok[0] {
			return reject(m, fmt.Errorf("channel announcement %d: node1: %w", short, badSig(m.Sig1))), true
		}
		if !ok[1] {
			return reject(m, fmt.Errorf("channel announcement %d: node2: %w", short, badSig(m.Sig2))), true
		}
		return Result{}, false
	}
	if !lookFirst {
		if r, bad := badSigs(); bad {
			return r
		}
	}
	now := p.now
	v.mu.Lock()
	defer v.mu.Unlock()
	if r, ok := v.preChannelLocked(m); !ok {
		return r
	}
	if r, bad := badSigs(); bad {
		return r
	}
	if (v.nodes[m.Node1] == nil || v.nodes[m.Node2] == nil) && len(v.nodes)+2 > v.cfg.MaxNodes {
		return ignore(m, ReasonFull, "%d nodes", len(v.nodes))
	}
	n1, n2 := v.nodeLocked(m.Node1, p.pub1), v.nodeLocked(m.Node2, p.pub2)
	if p.src == FromGossip {
		// Both ends must have a token; spend them together.
		l := v.cfg.ChannelAnnouncementLimit
		b1, b2 := n1.chLimit, n2.chLimit
		if !b1.allow(l, now) || !b2.allow(l, now) {
			v.dropIfUnused(m.Node1, n1)
			v.dropIfUnused(m.Node2, n2)
			return ignore(m, ReasonRateLimited, "channel announcements of %s or %s", m.Node1, m.Node2)
		}
		n1.chLimit, n2.chLimit = b1, b2
	}
	info := ChannelInfo{ID: m.ChannelID, Node1: m.Node1, Node2: m.Node2, Capacity: m.Capacity}
	v.channels[short] = &channelState{info: info, n1: n1, n2: n2, addedAt: now}
	n1.channels++
	n2.channels++
	res := Result{Verdict: Accept, Message: m, Channel: info}
	for _, p := range v.pending[short] {
		if p.at >= now-v.cfg.PendingTTL.Milliseconds() {
			res.Released = append(res.Released, p.data)
		}
	}
	delete(v.pending, short)
	return res
}

// dropIfUnused forgets a node state created for a channel that was then
// refused.
func (v *Validator) dropIfUnused(id peer.ID, n *nodeState) {
	if n.channels == 0 && n.annTS == 0 && n.chLimit == (bucket{}) && n.annLimit == (bucket{}) {
		delete(v.nodes, id)
	}
}

// unknownLocked handles an update or closed notice whose channel is not
// known: ignored because closed, or parked and ignored, or rejected.
func (v *Validator) unknownLocked(m Message, short uint64, data []byte, now int64, src Source) Result {
	if _, ok := v.closed[short]; ok {
		if m.Kind() == KindChannelClosed {
			return ignore(m, ReasonDuplicate, "channel %d already closed", short)
		}
		return ignore(m, ReasonClosedChannel, "channel %d closed", short)
	}
	if v.cfg.RejectUnknownChannel && src == FromGossip {
		return Result{Verdict: Reject, Reason: ReasonUnknownChannel, Err: fmt.Errorf("%w: %d", ErrUnknownChannel, short), Message: m}
	}
	v.parkLocked(short, data, now)
	return ignore(m, ReasonUnknownChannel, "%w: %d (parked)", ErrUnknownChannel, short)
}

// maxParkedPerChannel bounds the parked messages of one channel: one update
// per direction and a closed notice is what an honest race produces.
const maxParkedPerChannel = 3

func (v *Validator) parkLocked(short uint64, data []byte, now int64) {
	list, ok := v.pending[short]
	if !ok && len(v.pending) >= v.cfg.MaxPending {
		if v.cfg.MaxPending == 0 {
			return
		}
		// Evict an arbitrary channel's messages (map order is random), so
		// that a flood of junk cannot pin honest parked messages.
		for k := range v.pending {
			delete(v.pending, k)
			break
		}
	}
	for _, p := range list {
		if bytes.Equal(p.data, data) {
			return
		}
	}
	if len(list) >= maxParkedPerChannel {
		list = list[1:]
	}
	v.pending[short] = append(list, parked{data: bytes.Clone(data), at: now})
}

// preUpdateLocked is both looks' check of a channel update; it returns the
// channel when the update may go on.
func (v *Validator) preUpdateLocked(p *pending, m *ChannelUpdate) (*channelState, Result, bool) {
	c := v.channels[m.ShortID]
	if c == nil {
		return nil, v.unknownLocked(m, m.ShortID, p.data, p.now, p.src), false
	}
	if err := m.checkFor(c.info.ID, c.info.Capacity); err != nil {
		return nil, Result{Verdict: Reject, Reason: ReasonOutOfBounds, Err: err, Message: m, Channel: c.info}, false
	}
	if last := c.updTS[m.Direction]; m.Timestamp == last {
		return nil, ignore(m, ReasonDuplicate, "update %d/%d at %d", m.ShortID, m.Direction, m.Timestamp), false
	} else if m.Timestamp < last {
		return nil, ignore(m, ReasonStale, "update %d/%d: %d, have %d", m.ShortID, m.Direction, m.Timestamp, last), false
	}
	return c, Result{}, true
}

func (v *Validator) beginUpdate(p *pending, m *ChannelUpdate) (Result, bool) {
	v.mu.Lock()
	c, r, ok := v.preUpdateLocked(p, m)
	var pub crypto.PubKey
	if ok {
		p.info, p.state = c.info, c
		pub = c.n1.pub
		if m.Direction == Dir21 {
			pub = c.n2.pub
		}
	}
	v.mu.Unlock()
	if !ok {
		return r, true
	}
	p.add(pub, m.SigningBytes(p.info.ID), m.Signature)
	return Result{}, false
}

func (v *Validator) endUpdate(p *pending, m *ChannelUpdate, ok []bool, lookFirst bool) Result {
	rejectSig := func() Result {
		r := reject(m, fmt.Errorf("update %d/%d: %w", m.ShortID, m.Direction, badSig(m.Signature)))
		r.Channel = p.info
		return r
	}
	if !ok[0] && !lookFirst {
		return rejectSig()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	c, r, ok2 := v.preUpdateLocked(p, m)
	if !ok2 {
		return r
	}
	if c != p.state {
		ok = []bool{p.recheck(c, m.Direction, m.SigningBytes(c.info.ID), m.Signature)}
		p.info = c.info
	}
	if !ok[0] {
		return rejectSig()
	}
	if p.src == FromGossip && !c.limits[m.Direction].allow(v.cfg.UpdateLimit, p.now) {
		return ignore(m, ReasonRateLimited, "updates of %d/%d", m.ShortID, m.Direction)
	}
	c.updTS[m.Direction] = m.Timestamp
	return Result{Verdict: Accept, Message: m, Channel: c.info}
}

// preClosedLocked is both looks' check of a closed notice; it returns the
// channel when the notice may go on.
func (v *Validator) preClosedLocked(p *pending, m *ChannelClosed) (*channelState, Result, bool) {
	c := v.channels[m.ShortID]
	if c == nil {
		return nil, v.unknownLocked(m, m.ShortID, p.data, p.now, p.src), false
	}
	return c, Result{}, true
}

func (v *Validator) beginClosed(p *pending, m *ChannelClosed) (Result, bool) {
	v.mu.Lock()
	c, r, ok := v.preClosedLocked(p, m)
	var pub crypto.PubKey
	if ok {
		p.info, p.state = c.info, c
		pub = c.n1.pub
		if m.Side == Dir21 {
			pub = c.n2.pub
		}
	}
	v.mu.Unlock()
	if !ok {
		return r, true
	}
	p.add(pub, m.SigningBytes(p.info.ID), m.Signature)
	return Result{}, false
}

func (v *Validator) endClosed(p *pending, m *ChannelClosed, ok []bool, lookFirst bool) Result {
	rejectSig := func() Result {
		r := reject(m, fmt.Errorf("closed notice %d: %w", m.ShortID, badSig(m.Signature)))
		r.Channel = p.info
		return r
	}
	if !ok[0] && !lookFirst {
		return rejectSig()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	c, r, ok2 := v.preClosedLocked(p, m)
	if !ok2 {
		return r
	}
	if c != p.state {
		ok = []bool{p.recheck(c, m.Side, m.SigningBytes(c.info.ID), m.Signature)}
		p.info = c.info
	}
	if !ok[0] {
		return rejectSig()
	}
	v.closeLocked(m.ShortID, c, m.Timestamp)
	return Result{Verdict: Accept, Message: m, Channel: p.info}
}

func (v *Validator) closeLocked(short uint64, c *channelState, ts int64) {
	delete(v.channels, short)
	delete(v.pending, short)
	c.n1.channels--
	c.n2.channels--
	v.closed[short] = closedState{id: c.info.ID, ts: ts}
}
