package node

import (
	"crypto/sha256"
	"encoding/json"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/protocol/onion"
	"github.com/paymesh/paymesh/store"
)

// Payment streams at forwarding nodes and payees (the payer's side is
// stream.go; the packet format is protocol/onion's stream.go).
//
// A stream's first payment is a Sphinx payment whose payloads set the
// stream up at every hop; its later payments carry a 50-byte stream packet
// that each hop forwards by table lookup, with no public-key operation.
// Streams live in memory: a node that restarts forgets them, and the payer,
// whose next payment then fails with invalid_onion_version at that hop,
// sets the stream up again. HTLCs in flight are safe either way: they are
// ordinary HTLCs with circuits.

// Stream table limits.
const (
	// streamIdle is how long a stream may go unused before it is dropped.
	streamIdle = 10 * time.Minute
	// streamLogEvery is how often a busy stream's forwards are logged.
	streamLogEvery = 10 * time.Second
	// maxStreams bounds the streams a node keeps, and maxStreamsPerPeer
	// those one incoming peer may set up.
	maxStreams        = 100_000
	maxStreamsPerPeer = 4096
)

// hopStream is a payment stream as a forwarding node or the payee keeps it.
type hopStream struct {
	id     onion.StreamID
	inCh   channel.ID // where its payments arrive (forwarders only)
	inPeer peer.ID
	ss     onion.SharedSecret // wraps the failures this node reports
	// A forwarder's outgoing channel, the next hop's id and the fee and
	// delta the payer agreed to.
	outShort               uint64
	next                   onion.StreamID
	feeBase, feePPM, delta uint32
	// The payee's stream key.
	key *[32]byte

	mu       sync.Mutex
	lastUsed time.Time
	// Settled forwards not logged yet.
	pending ForwardRecord
	logged  time.Time
}

func (st *hopStream) touch(now time.Time) {
	st.mu.Lock()
	st.lastUsed = now
	st.mu.Unlock()
}

// account adds a settled (or failed) forward to the stream's next log record.
func (st *hopStream) account(rec ForwardRecord) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !rec.Settled {
		return
	}
	p := &st.pending
	if p.Payments == 0 {
		p.InChannel, p.OutChannel, p.StartedMS = rec.InChannel, rec.OutChannel, rec.StartedMS
	}
	p.Payments++
	p.InAmount += rec.InAmount
	p.OutAmount += rec.OutAmount
	p.Fee += rec.Fee
	p.EndedMS = max(p.EndedMS, rec.EndedMS)
}

// takeLog returns the stream's forwards to log (and resets them) when
// there are some and the last record is old enough, or force is set.
func (st *hopStream) takeLog(now time.Time, force bool) (ForwardRecord, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.pending.Payments == 0 || !force && now.Sub(st.logged) < streamLogEvery {
		return ForwardRecord{}, false
	}
	rec := st.pending
	rec.Settled, rec.Stream = true, st.id.String()
	st.pending, st.logged = ForwardRecord{}, now
	return rec, true
}

// streamTable holds a node's streams.
type streamTable struct {
	mu      sync.RWMutex
	m       map[onion.StreamID]*hopStream
	perPeer map[peer.ID]int
}

func newStreamTable() *streamTable {
	return &streamTable{m: make(map[onion.StreamID]*hopStream), perPeer: make(map[peer.ID]int)}
}

func (t *streamTable) get(id onion.StreamID) *hopStream {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.m[id]
}

// add registers st; it reports false when the table or the peer's share
// is full. A stream set up again under the same id (the same setup HTLC
// replayed after a restart) replaces the old one.
func (t *streamTable) add(st *hopStream) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.m[st.id]; ok {
		t.perPeer[old.inPeer]--
		delete(t.m, st.id)
	}
	if len(t.m) >= maxStreams || t.perPeer[st.inPeer] >= maxStreamsPerPeer {
		return false
	}
	t.m[st.id] = st
	t.perPeer[st.inPeer]++
	return true
}

// expire removes the streams idle since before cutoff (all when cutoff is
// zero) and returns them.
func (t *streamTable) expire(cutoff time.Time) []*hopStream {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*hopStream
	for id, st := range t.m {
		st.mu.Lock()
		idle := cutoff.IsZero() || st.lastUsed.Before(cutoff)
		st.mu.Unlock()
		if idle {
			delete(t.m, id)
			if t.perPeer[st.inPeer]--; t.perPeer[st.inPeer] <= 0 {
				delete(t.perPeer, st.inPeer)
			}
			out = append(out, st)
		}
	}
	return out
}

func (t *streamTable) all() []*hopStream {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*hopStream, 0, len(t.m))
	for _, st := range t.m {
		out = append(out, st)
	}
	return out
}

// openStream sets a stream up at a forwarding node, from its first
// payment's payload, once that payment passed the policy checks. The fee
// and delta the payer offers must cover this node's policy. It returns nil
// when it failed the HTLC instead.
func (sw *htlcSwitch) openStream(s *peerSession, id channel.ID, h channel.HTLC, ss onion.SharedSecret, short uint64, sh *onion.StreamHop, pol ChannelPolicy) *hopStream {
	switch {
	case uint64(sh.FeeBase) < pol.FeeBase || sh.FeePPM < pol.FeePPM:
		sw.failWith(s, id, h.ID, ss, &onion.FailureMessage{Code: onion.CodeFeeInsufficient, HTLCAmount: h.Amount})
		return nil
	case sh.ExpiryDelta < pol.ExpiryDeltaMS:
		sw.failWith(s, id, h.ID, ss, &onion.FailureMessage{Code: onion.CodeIncorrectCLTVExpiry, Expiry: uint32(h.Expiry / 1000)})
		return nil
	}
	st := &hopStream{id: onion.StreamIDOf(ss), inCh: id, inPeer: s.peer, ss: ss, outShort: short, next: sh.Next,
		feeBase: sh.FeeBase, feePPM: sh.FeePPM, delta: sh.ExpiryDelta, lastUsed: time.Now()}
	if !sw.streams.add(st) {
		sw.failWith(s, id, h.ID, ss, &onion.FailureMessage{Code: onion.CodeTemporaryNodeFailure})
		return nil
	}
	return st
}

// finalStream settles a stream's first payment at the payee and sets the
// stream up: its preimage derives from the stream key with sequence 0.
func (sw *htlcSwitch) finalStream(s *peerSession, id channel.ID, h channel.HTLC, ss onion.SharedSecret, key [32]byte, now time.Time) {
	pre := onion.StreamPreimage(key, 0)
	if sha256.Sum256(pre[:]) != h.PaymentHash {
		sw.failWith(s, id, h.ID, ss, &onion.FailureMessage{Code: onion.CodeIncorrectOrUnknownPaymentDetails, HTLCAmount: h.Amount, Height: uint32(now.Unix())})
		return
	}
	st := &hopStream{id: onion.StreamIDOf(ss), inPeer: s.peer, ss: ss, key: &key, lastUsed: now}
	if !sw.streams.add(st) {
		sw.failWith(s, id, h.ID, ss, &onion.FailureMessage{Code: onion.CodeTemporaryNodeFailure})
		return
	}
	if sw.fulfill(s, id, h.ID, pre, now) {
		sw.streamReceived(h.Amount)
	}
}

// streamIncoming handles an HTLC carrying a stream packet.
func (sw *htlcSwitch) streamIncoming(s *peerSession, id channel.ID, h channel.HTLC, now time.Time) {
	pkt, err := onion.DecodeStreamPacket(h.Onion)
	var st *hopStream
	if err == nil {
		st = sw.streams.get(pkt.ID)
	}
	if st == nil || st.key == nil && st.inCh != id {
		// Not a stream of this node (or not one that arrives here): the
		// upstream node reports it, as for an onion this node cannot read.
		code := onion.CodeInvalidOnionVersion
		sw.failures.WithLabelValues(code.String()).Inc()
		sw.failRaw(s, id, h.ID, append([]byte{reasonBadOnion}, onion.NewBadOnionFailure(code, h.Onion).Encode()...))
		return
	}
	st.touch(now)
	if st.key != nil {
		sw.streamFinal(s, id, h, st, pkt, now)
		return
	}
	fail := func(msg *onion.FailureMessage) { sw.failWith(s, id, h.ID, st.ss, msg) }
	fwd, ok := onion.ForwardAmount(h.Amount, st.feeBase, st.feePPM)
	if !ok {
		fail(&onion.FailureMessage{Code: onion.CodeFeeInsufficient, HTLCAmount: h.Amount})
		return
	}
	outID, outSess, found := sw.n.chans.byShortID(st.outShort)
	if !found {
		fail(&onion.FailureMessage{Code: onion.CodeUnknownNextPeer})
		return
	}
	pol := sw.n.ownPolicyOrDefault(st.outShort)
	outExpiry := h.Expiry - int64(st.delta)
	msg := policyFailure(pol, fwd)
	if msg == nil && outExpiry < now.Add(minExpiryMargin).UnixMilli() {
		msg = &onion.FailureMessage{Code: onion.CodeExpiryTooSoon}
	}
	if msg != nil {
		fail(msg)
		return
	}
	next := *pkt
	next.ID = st.next
	sw.offer(s, id, h, st.ss, outID, outSess, fwd, outExpiry, next.Encode(), now, st)
}

// streamFinal settles a stream payment at the payee.
func (sw *htlcSwitch) streamFinal(s *peerSession, id channel.ID, h channel.HTLC, st *hopStream, pkt *onion.StreamPacket, now time.Time) {
	details := &onion.FailureMessage{Code: onion.CodeIncorrectOrUnknownPaymentDetails, HTLCAmount: h.Amount, Height: uint32(now.Unix())}
	pre := onion.StreamPreimage(*st.key, pkt.Seq)
	switch {
	case pkt.Seq == 0 || !onion.CheckStreamTag(*st.key, pkt, h.PaymentHash) || sha256.Sum256(pre[:]) != h.PaymentHash:
		sw.failWith(s, id, h.ID, st.ss, details)
	case h.Amount < pkt.Amount:
		sw.failWith(s, id, h.ID, st.ss, &onion.FailureMessage{Code: onion.CodeFinalIncorrectHTLCAmount, HTLCAmount: h.Amount})
	case h.Expiry < now.Add(minExpiryMargin).UnixMilli():
		sw.failWith(s, id, h.ID, st.ss, &onion.FailureMessage{Code: onion.CodeExpiryTooSoon})
	default:
		if sw.fulfill(s, id, h.ID, pre, now) {
			sw.streamReceived(h.Amount)
		}
	}
}

func (sw *htlcSwitch) streamReceived(amount uint64) {
	sw.streamPayments.Inc()
	sw.streamAmount.Add(float64(amount))
}

// logStreams writes the forward records of busy streams (all of them with
// force) and drops idle streams.
func (sw *htlcSwitch) logStreams(now time.Time, force bool) {
	var out []store.StreamForward
	add := func(st *hopStream, force bool) {
		if rec, ok := st.takeLog(now, force); ok {
			entry, _ := json.Marshal(rec)
			out = append(out, store.StreamForward{Stream: st.id[:], AtMS: rec.EndedMS, Entry: entry})
		}
	}
	for _, st := range sw.streams.all() {
		add(st, force)
	}
	for _, st := range sw.streams.expire(now.Add(-streamIdle)) {
		add(st, true)
	}
	if len(out) == 0 {
		return
	}
	if err := sw.n.store.LogStreamForwards(out); err != nil {
		sw.log.Warn("log stream forwards", "err", err)
	}
}
