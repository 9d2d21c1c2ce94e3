package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/paymesh/paymesh/api"
	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/protocol/onion"
	"github.com/paymesh/paymesh/store"
)

// The switch handles every HTLC a peer offers this node that carries an
// onion: it peels its layer, and either settles it as the payee or forwards
// it on the channel the onion names, checking the fee and expiry this node's
// policy asks for, and brings the outcome back upstream.
//
// Failure reasons on the wire (ChanFailHTLC.reason) start with a kind byte:
//
//	0x00 | error packet   BOLT 4 error packet; each hop wraps it on the way back
//	0x01 | failure msg    the next node could not read the onion (BADONION):
//	                      the node receiving it builds the error packet itself
//
// A reason without a known kind byte (direct HTLCs without an onion) is
// passed up as is.
const (
	reasonPacket   byte = 0x00
	reasonBadOnion byte = 0x01
	// minFinalMargin is how far in the future an HTLC's expiry must be
	// when it arrives at the payee or is forwarded.
	minExpiryMargin = 3 * time.Second
)

type htlcRef struct {
	Ch channel.ID
	ID uint64
}

// circuit ties a forwarded HTLC to the incoming HTLC that paid for it.
type circuit struct {
	In       htlcRef
	InPeer   peer.ID `json:"-"`
	InAmount uint64
	Out      htlcRef
	OutAmt   uint64
	Hash     channel.Hash
	Secret   onion.SharedSecret
	Created  int64 // unix ms
	// Preimage is set once the outgoing HTLC is fulfilled: the circuit,
	// rewritten with it in the same transaction as the state that holds
	// the fulfill, is where a restart finds it (see fulfilledKVs).
	Preimage *channel.Hash
	// stream is the payment stream the HTLC belongs to, if any (not
	// stored: a circuit restored after a restart is logged on its own).
	stream *hopStream
}

// A circuit is stored (fwd/ keys, see store/forwards.go) in a compact
// binary form:
//
//	0       version 1
//	1:33    incoming channel     33:41   incoming HTLC id (u64, big endian)
//	41:49   incoming amount      49:81   outgoing channel
//	81:89   outgoing amount      89:121  payment hash
//	121:153 shared secret        153:161 created (unix ms)
//	161     length n of the incoming peer id
//	162:    incoming peer id (n bytes), then the preimage (32 bytes) once
//	        the outgoing HTLC is fulfilled
//
// The outgoing HTLC id is the key's. Records written before version 1 are
// JSON (they start with '{') and still read.
const circuitV1 byte = 1

type circuitJSON struct {
	InCh     []byte `json:"in_ch"`
	InID     uint64 `json:"in_id"`
	InPeer   []byte `json:"in_peer"`
	InAmount uint64 `json:"in_amount"`
	OutCh    []byte `json:"out_ch"`
	OutID    uint64 `json:"out_id"`
	OutAmt   uint64 `json:"out_amount"`
	Hash     []byte `json:"hash"`
	Secret   []byte `json:"secret"`
	Created  int64  `json:"created"`
}

func (c *circuit) marshal() []byte {
	b := make([]byte, 0, 162+len(c.InPeer)+32)
	b = append(b, circuitV1)
	b = append(b, c.In.Ch[:]...)
	b = binary.BigEndian.AppendUint64(b, c.In.ID)
	b = binary.BigEndian.AppendUint64(b, c.InAmount)
	b = append(b, c.Out.Ch[:]...)
	b = binary.BigEndian.AppendUint64(b, c.OutAmt)
	b = append(b, c.Hash[:]...)
	b = append(b, c.Secret[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Created))
	b = append(b, byte(len(c.InPeer)))
	b = append(b, c.InPeer...)
	if c.Preimage != nil {
		b = append(b, c.Preimage[:]...)
	}
	return b
}

func unmarshalCircuit(b []byte) (*circuit, error) {
	if len(b) > 0 && b[0] == '{' {
		return unmarshalCircuitJSON(b)
	}
	if len(b) < 162 || b[0] != circuitV1 || len(b) != 162+int(b[161]) && len(b) != 162+int(b[161])+32 {
		return nil, fmt.Errorf("circuit record of %d bytes: want version %d and a consistent length", len(b), circuitV1)
	}
	c := &circuit{}
	u64 := func(off int) uint64 { return binary.BigEndian.Uint64(b[off:]) }
	c.In.Ch, c.In.ID, c.InAmount = channel.ID(b[1:33]), u64(33), u64(41)
	c.Out.Ch, c.OutAmt = channel.ID(b[49:81]), u64(81)
	c.Hash, c.Secret, c.Created = channel.Hash(b[89:121]), onion.SharedSecret(b[121:153]), int64(u64(153))
	n := int(b[161])
	c.InPeer = peer.ID(b[162 : 162+n])
	if rest := b[162+n:]; len(rest) == 32 {
		pre := channel.Hash(rest)
		c.Preimage = &pre
	}
	return c, nil
}

func unmarshalCircuitJSON(b []byte) (*circuit, error) {
	var j circuitJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, err
	}
	if len(j.InCh) != 32 || len(j.OutCh) != 32 || len(j.Hash) != 32 || len(j.Secret) != 32 {
		return nil, errors.New("circuit record with bad field lengths")
	}
	return &circuit{
		In: htlcRef{channel.ID(j.InCh), j.InID}, InPeer: peer.ID(j.InPeer), InAmount: j.InAmount,
		Out: htlcRef{channel.ID(j.OutCh), j.OutID}, OutAmt: j.OutAmt,
		Hash: channel.Hash(j.Hash), Secret: onion.SharedSecret(j.Secret), Created: j.Created,
	}, nil
}

// ForwardRecord is one settled forward, as `paymesh forwards` lists it.
type ForwardRecord = api.Forward

// JamLimits bound what one incoming peer may keep pending through this
// node, across all of its channels: HTLC slots and locked amount.
type JamLimits struct {
	MaxPending int
	MaxLocked  uint64
}

// DefaultJamLimits leaves room for micropayment streams while keeping any
// one peer from locking up the node's liquidity.
func DefaultJamLimits() JamLimits { return JamLimits{MaxPending: 2048, MaxLocked: 1 << 40} }

type peerBudget struct {
	pending int
	locked  uint64
}

type htlcSwitch struct {
	n   *Node
	log *slog.Logger

	mu       sync.Mutex
	byOut    map[htlcRef]*circuit
	byIn     map[htlcRef]*circuit
	replay   map[[32]byte]htlcRef // onion replay keys → the HTLC that used them
	budgets  map[peer.ID]*peerBudget
	jam      JamLimits
	forwards prometheus.Counter
	fees     prometheus.Counter
	jammed   prometheus.Counter
	failures *prometheus.CounterVec

	streams        *streamTable
	streamPayments prometheus.Counter
	streamAmount   prometheus.Counter
}

func newSwitch(n *Node) *htlcSwitch {
	sw := &htlcSwitch{
		n:       n,
		log:     n.log.With("component", "switch"),
		byOut:   make(map[htlcRef]*circuit),
		byIn:    make(map[htlcRef]*circuit),
		replay:  make(map[[32]byte]htlcRef),
		budgets: make(map[peer.ID]*peerBudget),
		jam:     n.cfg.Jam,
		forwards: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paymesh_switch_forwards_total", Help: "HTLCs forwarded and settled."}),
		fees: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paymesh_switch_fees_earned_total", Help: "Fees earned by settled forwards."}),
		jammed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paymesh_switch_jamming_refusals_total", Help: "HTLCs refused because the incoming peer exceeded its pending budget."}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paymesh_switch_failures_total", Help: "HTLCs failed by this node, by failure code."}, []string{"code"}),
		streams: newStreamTable(),
		streamPayments: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paymesh_stream_payments_received_total", Help: "Stream payments this node received as the payee."}),
		streamAmount: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paymesh_stream_amount_received_total", Help: "Amount received by stream payments."}),
	}
	n.registry.MustRegister(sw.forwards, sw.fees, sw.jammed, sw.failures, sw.streamPayments, sw.streamAmount)
	return sw
}

// switchHooks routes channel events to the switch, keeping the preimage
// behaviour for direct HTLCs without an onion.
type switchHooks struct {
	preimageHooks
	sw *htlcSwitch
}

func (h switchHooks) incoming(s *peerSession, id channel.ID, htlc channel.HTLC, now time.Time) {
	if len(htlc.Onion) == 0 {
		h.preimageHooks.incoming(s, id, htlc, now)
		return
	}
	h.sw.incoming(s, id, htlc, now)
}

func (h switchHooks) resolved(id channel.ID, htlcID uint64, r HTLCResult) {
	h.sw.resolved(htlcRef{id, htlcID}, r)
	h.sw.n.payer.resolved(htlcRef{id, htlcID}, r)
}

// fulfilledKVs keeps what the node needs of a preimage a peer revealed
// for an HTLC it offered. A forwarded HTLC's circuit is rewritten with the
// preimage: it is what a restart reads to claim the incoming HTLC, and it
// goes, with the preimage, when the incoming HTLC is settled, so forwards
// leave no preimage behind. The node's own stream payments keep nothing:
// the stream's key derives their preimages. Anything else (the node's own
// payments) is stored under pre/ as the default hooks do.
func (h switchHooks) fulfilledKVs(id channel.ID, htlc channel.HTLC, pre channel.Hash) []store.KV {
	h.sw.mu.Lock()
	c := h.sw.byOut[htlcRef{id, htlc.ID}]
	var rec []byte
	if c != nil {
		withPre := *c
		withPre.Preimage = &pre
		rec = withPre.marshal()
	}
	h.sw.mu.Unlock()
	switch {
	case c != nil:
		return []store.KV{{Key: store.CircuitKey(id, htlc.ID), Value: rec}}
	case onion.IsStreamPacket(htlc.Onion):
		return nil
	}
	return h.preimageHooks.fulfilledKVs(id, htlc, pre)
}

func (h switchHooks) holds(id channel.ID, htlc channel.HTLC) bool {
	h.sw.mu.Lock()
	_, ok := h.sw.byIn[htlcRef{id, htlc.ID}]
	h.sw.mu.Unlock()
	return ok || h.sw.n.invoiceHoldsHTLC(id, htlc)
}

// failWith fails incoming HTLC ref with failure message msg, encrypted
// for the payer with the hop's shared secret.
// failWith, failRaw and fulfill settle an incoming HTLC; each reports
// whether the channel took the settlement.
func (sw *htlcSwitch) failWith(s *peerSession, id channel.ID, htlcID uint64, ss onion.SharedSecret, msg *onion.FailureMessage) bool {
	sw.failures.WithLabelValues(msg.Code.String()).Inc()
	pkt, err := onion.NewErrorPacket(ss, msg.Encode())
	if err == nil {
		return sw.failRaw(s, id, htlcID, append([]byte{reasonPacket}, pkt...))
	}
	sw.log.Error("build error packet", "err", err)
	return sw.failRaw(s, id, htlcID, []byte{reasonPacket})
}

func (sw *htlcSwitch) failRaw(s *peerSession, id channel.ID, htlcID uint64, reason []byte) bool {
	e := s.chans[id]
	if e == nil {
		return false
	}
	out, err := e.m.FailHTLC(htlcID, reason)
	if err != nil {
		s.log.Debug("fail incoming HTLC", "channel", id, "htlc", htlcID, "err", err)
		return false
	}
	s.apply(id, out)
	return true
}

func (sw *htlcSwitch) fulfill(s *peerSession, id channel.ID, htlcID uint64, pre channel.Hash, now time.Time) bool {
	e := s.chans[id]
	if e == nil {
		return false
	}
	out, err := e.m.Fulfill(htlcID, pre, now)
	if err != nil {
		s.log.Warn("fulfill incoming HTLC", "channel", id, "htlc", htlcID, "err", err)
		return false
	}
	s.apply(id, out)
	return true
}

// stillIncoming reports whether the peer's HTLC ref is still pending
// settlement by this node.
func stillIncoming(s *peerSession, ref htlcRef) bool {
	e := s.chans[ref.Ch]
	if e == nil {
		return false
	}
	for _, h := range e.m.IncomingPending() {
		if h.ID == ref.ID {
			return true
		}
	}
	return false
}

// incoming runs in the upstream session's loop for an HTLC with an onion.
func (sw *htlcSwitch) incoming(s *peerSession, id channel.ID, h channel.HTLC, now time.Time) {
	ref := htlcRef{id, h.ID}
	sw.mu.Lock()
	_, forwarded := sw.byIn[ref]
	sw.mu.Unlock()
	if forwarded {
		return // restored: the circuit waits for its outgoing HTLC
	}
	if onion.IsStreamPacket(h.Onion) {
		sw.streamIncoming(s, id, h, now)
		return
	}
	pkt, err := onion.DecodePacket(h.Onion)
	var peeled *onion.Peeled
	if err == nil {
		peeled, err = onion.Peel(sw.n.cfg.OnionKey, pkt, h.PaymentHash[:])
	}
	if err != nil {
		code, ok := onion.BadOnionCode(err)
		if !ok {
			code = onion.CodeInvalidOnionHMAC
		}
		sw.failures.WithLabelValues(code.String()).Inc()
		body := onion.NewBadOnionFailure(code, h.Onion).Encode()
		sw.failRaw(s, id, h.ID, append([]byte{reasonBadOnion}, body...))
		return
	}
	ss := peeled.SharedSecret
	rk := ss.ReplayKey()
	sw.mu.Lock()
	prev, seen := sw.replay[rk]
	if !seen {
		sw.replay[rk] = ref
	}
	sw.mu.Unlock()
	if seen && prev != ref {
		sw.log.Warn("replayed onion refused", "channel", id, "htlc", h.ID, "first_channel", prev.Ch, "first_htlc", prev.ID)
		sw.failWith(s, id, h.ID, ss, &onion.FailureMessage{Code: onion.CodeTemporaryNodeFailure})
		return
	}
	payload, err := onion.DecodeHopPayload(peeled.Payload)
	if err == nil {
		err = payload.Validate(peeled.IsFinal())
	}
	if err != nil {
		msg := &onion.FailureMessage{Code: onion.CodeInvalidOnionPayload}
		var pe *onion.PayloadError
		if errors.As(err, &pe) {
			msg = pe.Failure()
		}
		sw.failWith(s, id, h.ID, ss, msg)
		return
	}
	if peeled.IsFinal() {
		sw.final(s, id, h, ss, payload, now)
		return
	}
	sw.forward(s, id, h, ss, payload, peeled.Next, now)
}

// final settles an HTLC addressed to this node.
func (sw *htlcSwitch) final(s *peerSession, id channel.ID, h channel.HTLC, ss onion.SharedSecret, p *onion.HopPayload, now time.Time) {
	switch {
	case h.Amount < p.AmountToForward:
		sw.failWith(s, id, h.ID, ss, &onion.FailureMessage{Code: onion.CodeFinalIncorrectHTLCAmount, HTLCAmount: h.Amount})
		return
	case uint64(h.Expiry) < p.OutgoingExpiry:
		sw.failWith(s, id, h.ID, ss, &onion.FailureMessage{Code: onion.CodeFinalIncorrectCLTVExpiry, Expiry: uint32(h.Expiry / 1000)})
		return
	case h.Expiry < now.Add(minExpiryMargin).UnixMilli():
		sw.failWith(s, id, h.ID, ss, &onion.FailureMessage{Code: onion.CodeExpiryTooSoon})
		return
	}
	details := &onion.FailureMessage{Code: onion.CodeIncorrectOrUnknownPaymentDetails, HTLCAmount: h.Amount, Height: uint32(now.Unix())}
	if p.StreamKey != nil {
		sw.finalStream(s, id, h, ss, *p.StreamKey, now)
		return
	}
	if p.KeysendPreimage != nil {
		pre := channel.Hash(*p.KeysendPreimage)
		if sha256.Sum256(pre[:]) != h.PaymentHash {
			sw.failWith(s, id, h.ID, ss, details)
			return
		}
		sw.fulfill(s, id, h.ID, pre, now)
		return
	}
	var secret [32]byte
	total := p.TotalAmount()
	if p.PaymentData != nil {
		secret = p.PaymentData.Secret
	}
	d := sw.n.settleInvoice(h.PaymentHash, secret, h.Amount, total, htlcRef{id, h.ID}, ss, now)
	switch d.kind {
	case decideFulfill:
		// This part may complete a multi-part payment: settle every part.
		self := htlcRef{id, h.ID}
		settled := false
		for _, ref := range d.release {
			if ref == self {
				settled = true
				sw.fulfill(s, id, h.ID, d.preimage, now)
				continue
			}
			ref := ref
			sw.n.chans.post(ref.Ch, func(s2 *peerSession) { sw.fulfill(s2, ref.Ch, ref.ID, d.preimage, time.Now()) })
		}
		if !settled {
			sw.fulfill(s, id, h.ID, d.preimage, now)
		}
	case decideHold:
		// Held until the other parts arrive, or failed by the MPP timeout.
	case decideTemporary:
		sw.failWith(s, id, h.ID, ss, &onion.FailureMessage{Code: onion.CodeTemporaryNodeFailure})
	default:
		sw.failWith(s, id, h.ID, ss, details)
	}
}

// run does the switch's periodic work until ctx ends.
func (sw *htlcSwitch) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			sw.logStreams(time.Now(), true)
			return
		case now := <-t.C:
			sw.expireHeld(now)
			sw.logStreams(now, false)
		}
	}
}

// expireHeld fails the parts of multi-part payments that did not complete
// in time, with mpp_timeout. The node runs it periodically.
func (sw *htlcSwitch) expireHeld(now time.Time) {
	for _, ref := range sw.n.expireHeldParts(now) {
		r := htlcRef{ref.Channel, ref.ID}
		sw.n.chans.post(r.Ch, func(s *peerSession) {
			ss, ok := sw.secretOf(s, r)
			if !ok {
				sw.failRaw(s, r.Ch, r.ID, []byte{reasonPacket})
				return
			}
			sw.failWith(s, r.Ch, r.ID, ss, &onion.FailureMessage{Code: onion.CodeMPPTimeout})
		})
	}
}

// secretOf recomputes the shared secret of an incoming HTLC by peeling its
// onion again.
func (sw *htlcSwitch) secretOf(s *peerSession, r htlcRef) (onion.SharedSecret, bool) {
	e := s.chans[r.Ch]
	if e == nil || e.m.State() == nil {
		return onion.SharedSecret{}, false
	}
	for _, h := range e.m.IncomingPending() {
		if h.ID != r.ID || len(h.Onion) == 0 {
			continue
		}
		pkt, err := onion.DecodePacket(h.Onion)
		if err != nil {
			return onion.SharedSecret{}, false
		}
		p, err := onion.Peel(sw.n.cfg.OnionKey, pkt, h.PaymentHash[:])
		if err != nil {
			return onion.SharedSecret{}, false
		}
		return p.SharedSecret, true
	}
	return onion.SharedSecret{}, false
}

// forward checks the hop's policy and offers the HTLC on the next channel.
func (sw *htlcSwitch) forward(s *peerSession, id channel.ID, h channel.HTLC, ss onion.SharedSecret, p *onion.HopPayload, next *onion.Packet, now time.Time) {
	short := p.ShortChannelID
	outID, outSess, ok := sw.n.chans.byShortID(short)
	if !ok || outSess.peer == s.peer && outID == id {
		sw.failWith(s, id, h.ID, ss, &onion.FailureMessage{Code: onion.CodeUnknownNextPeer})
		return
	}
	pol := sw.n.ownPolicyOrDefault(short)
	fwd := p.AmountToForward
	fee := pol.FeeBase + fwd/1_000_000*uint64(pol.FeePPM) + (fwd%1_000_000)*uint64(pol.FeePPM)/1_000_000
	outExpiry := int64(p.OutgoingExpiry)
	if msg := policyFailure(pol, fwd); msg != nil {
		sw.failWith(s, id, h.ID, ss, msg)
		return
	}
	switch {
	case h.Amount < fwd || h.Amount-fwd < fee:
		sw.failWith(s, id, h.ID, ss, &onion.FailureMessage{Code: onion.CodeFeeInsufficient, HTLCAmount: h.Amount})
		return
	case h.Expiry < outExpiry+int64(pol.ExpiryDeltaMS):
		sw.failWith(s, id, h.ID, ss, &onion.FailureMessage{Code: onion.CodeIncorrectCLTVExpiry, Expiry: uint32(h.Expiry / 1000)})
		return
	case outExpiry < now.Add(minExpiryMargin).UnixMilli():
		sw.failWith(s, id, h.ID, ss, &onion.FailureMessage{Code: onion.CodeExpiryTooSoon})
		return
	}
	var st *hopStream
	if p.StreamHop != nil {
		if st = sw.openStream(s, id, h, ss, short, p.StreamHop, pol); st == nil {
			return
		}
	}
	sw.offer(s, id, h, ss, outID, outSess, fwd, outExpiry, next.Encode(), now, st)
}

// offer reserves the incoming peer's budget, records the circuit and
// offers the outgoing HTLC on channel outID (in outSess's loop). A payment
// stream's HTLCs name their stream (st), whose counters the settlement
// feeds; other HTLCs pass nil.
func (sw *htlcSwitch) offer(s *peerSession, id channel.ID, h channel.HTLC, ss onion.SharedSecret, outID channel.ID, outSess *peerSession, fwd uint64, outExpiry int64, nextBytes []byte, now time.Time, st *hopStream) {
	if !sw.reserve(s.peer, h.Amount) {
		sw.jammed.Inc()
		sw.failWith(s, id, h.ID, ss, &onion.FailureMessage{Code: onion.CodeTemporaryChannelFailure})
		return
	}
	c := &circuit{In: htlcRef{id, h.ID}, InPeer: s.peer, InAmount: h.Amount, OutAmt: fwd, Hash: h.PaymentHash, Secret: ss, Created: now.UnixMilli(), stream: st}
	sw.mu.Lock()
	sw.byIn[c.In] = c
	sw.mu.Unlock()
	expiry := time.UnixMilli(outExpiry)
	fail := func(msg *onion.FailureMessage) {
		sw.mu.Lock()
		delete(sw.byIn, c.In)
		sw.mu.Unlock()
		sw.release(c.InPeer, c.InAmount)
		sw.n.chans.post(id, func(s *peerSession) { sw.failWith(s, id, h.ID, ss, msg) })
	}
	sw.n.chans.postTo(outSess, func(o *peerSession) {
		e := o.chans[outID]
		if e == nil {
			fail(&onion.FailureMessage{Code: onion.CodeUnknownNextPeer})
			return
		}
		hid, out, err := e.m.AddHTLC(fwd, h.PaymentHash, expiry, nextBytes, time.Now())
		if err != nil {
			fail(&onion.FailureMessage{Code: onion.CodeTemporaryChannelFailure})
			return
		}
		c.Out = htlcRef{outID, hid}
		sw.mu.Lock()
		sw.byOut[c.Out] = c
		sw.mu.Unlock()
		o.apply(outID, out)
		o.addKV(outID, store.KV{Key: store.CircuitKey(outID, hid), Value: c.marshal()})
	})
}

// policyFailure is the failure this node's policy for an outgoing channel
// gives an HTLC that would forward fwd on it, if any: the direction is
// disabled, or fwd is below its minimum or above its maximum.
func policyFailure(pol ChannelPolicy, fwd uint64) *onion.FailureMessage {
	switch {
	case pol.Disabled:
		return &onion.FailureMessage{Code: onion.CodeChannelDisabled}
	case fwd < max(pol.HTLCMin, 1):
		return &onion.FailureMessage{Code: onion.CodeAmountBelowMinimum, HTLCAmount: fwd}
	case pol.HTLCMax != 0 && fwd > pol.HTLCMax:
		return &onion.FailureMessage{Code: onion.CodeTemporaryChannelFailure}
	}
	return nil
}

func (sw *htlcSwitch) reserve(p peer.ID, amount uint64) bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	b := sw.budgets[p]
	if b == nil {
		b = &peerBudget{}
		sw.budgets[p] = b
	}
	if b.pending+1 > sw.jam.MaxPending || b.locked+amount > sw.jam.MaxLocked {
		return false
	}
	b.pending++
	b.locked += amount
	return true
}

func (sw *htlcSwitch) release(p peer.ID, amount uint64) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if b := sw.budgets[p]; b != nil {
		b.pending--
		b.locked -= amount
		if b.pending <= 0 {
			delete(sw.budgets, p)
		}
	}
}

// resolved brings an outgoing HTLC's outcome back to its incoming HTLC.
func (sw *htlcSwitch) resolved(out htlcRef, r HTLCResult) {
	// The incoming HTLC stays held (byIn) until its settlement runs in its
	// session: in between, that session's expiry sweep must not take it
	// for an unclaimed HTLC and fail it while the downstream was paid.
	sw.mu.Lock()
	c := sw.byOut[out]
	if c != nil {
		delete(sw.byOut, out)
	}
	sw.mu.Unlock()
	if c == nil {
		return
	}
	sw.release(c.InPeer, c.InAmount)
	rec := ForwardRecord{InChannel: c.In.Ch.String(), OutChannel: c.Out.Ch.String(), InAmount: c.InAmount, OutAmount: c.OutAmt,
		Fee: c.InAmount - c.OutAmt, StartedMS: c.Created, EndedMS: time.Now().UnixMilli()}
	in := c.In
	entryKVs := func(rec ForwardRecord) []store.KV {
		if c.stream != nil {
			// A stream's forwards are logged as one record per stream
			// and period (see hopStream.account), not one per payment.
			c.stream.account(rec)
			return store.CloseCircuitKVs(out.Ch, out.ID, rec.EndedMS, nil)
		}
		entry, _ := json.Marshal(rec)
		return store.CloseCircuitKVs(out.Ch, out.ID, rec.EndedMS, entry)
	}
	// settle runs in the incoming HTLC's session: the circuit is closed in
	// the same transaction as the incoming fulfill or fail, so a restart
	// never finds an unsettled incoming HTLC without its circuit.
	// If the channel refuses the settlement while the incoming HTLC is
	// still pending, the circuit stays, so that a restart settles it again
	// rather than forwarding the HTLC a second time.
	settle := func(rec ForwardRecord, f func(s *peerSession) bool) {
		sw.n.chans.post(in.Ch, func(s *peerSession) {
			ok := f(s)
			sw.mu.Lock()
			delete(sw.byIn, in)
			sw.mu.Unlock()
			if !ok && stillIncoming(s, in) {
				sw.log.Error("incoming HTLC not settled; circuit kept", "channel", in.Ch, "htlc", in.ID)
				return
			}
			for _, kv := range entryKVs(rec) {
				s.addKV(in.Ch, kv)
			}
		})
	}
	switch {
	case r.Preimage != nil:
		pre := *r.Preimage
		rec.Settled = true
		sw.forwards.Inc()
		sw.fees.Add(float64(rec.Fee))
		settle(rec, func(s *peerSession) bool { return sw.fulfill(s, in.Ch, in.ID, pre, time.Now()) })
	case len(r.Reason) > 0 && r.Reason[0] == reasonPacket && len(r.Reason) > 1:
		wrapped := onion.WrapError(c.Secret, r.Reason[1:])
		rec.Failure = "downstream"
		settle(rec, func(s *peerSession) bool {
			return sw.failRaw(s, in.Ch, in.ID, append([]byte{reasonPacket}, wrapped...))
		})
	case len(r.Reason) > 0 && r.Reason[0] == reasonBadOnion:
		msg, err := onion.DecodeFailureMessage(r.Reason[1:])
		if err != nil || !msg.Code.IsBadOnion() {
			msg = &onion.FailureMessage{Code: onion.CodeTemporaryChannelFailure}
		}
		rec.Failure = msg.Code.String()
		settle(rec, func(s *peerSession) bool { return sw.failWith(s, in.Ch, in.ID, c.Secret, msg) })
	default:
		rec.Failure = "temporary_channel_failure"
		settle(rec, func(s *peerSession) bool {
			return sw.failWith(s, in.Ch, in.ID, c.Secret, &onion.FailureMessage{Code: onion.CodeTemporaryChannelFailure})
		})
	}
}

// loadCircuits reloads open circuits after a restart, before any incoming
// HTLC is replayed into the switch: an incoming HTLC with a circuit was
// forwarded already and must wait for its outgoing HTLC, never be
// forwarded a second time.
func (sw *htlcSwitch) loadCircuits() error {
	recs, err := sw.n.store.Circuits()
	if err != nil {
		return err
	}
	for k, v := range recs {
		c, err := unmarshalCircuit(v)
		if err != nil {
			sw.log.Warn("unreadable circuit dropped", "err", err)
			continue
		}
		c.Out = htlcRef{channel.ID(k[:32]), binary.BigEndian.Uint64(k[32:])}
		sw.mu.Lock()
		sw.byOut[c.Out] = c
		sw.byIn[c.In] = c
		sw.mu.Unlock()
		sw.reserve(c.InPeer, c.InAmount)
	}
	return nil
}

// settleRestored settles the circuits whose outgoing HTLC ended while the
// node was down: from the stored preimage, or failed back. Circuits whose
// outgoing HTLC is still pending wait for it as usual.
//
// Start runs it while the sessions already re-establish with their peers
// and step their messages, so an outgoing HTLC may end at any moment, and
// mid-round: the machine no longer lists it while the round's synced write
// (with the preimage of a fulfill) and its event are still to come. A look
// at the machine from outside the round would take a fulfill in flight for
// "ended while down, no preimage" and fail the incoming HTLC although the
// peer is paid. So each circuit is looked at in its outgoing session at the
// start of a round (peerSession.later), where the machine holds exactly
// what is on disk and every event of it has been handled: see
// settleIfEnded.
func (sw *htlcSwitch) settleRestored() {
	sw.mu.Lock()
	outs := make([]htlcRef, 0, len(sw.byOut))
	for out := range sw.byOut {
		outs = append(outs, out)
	}
	sw.mu.Unlock()
	for _, out := range outs {
		s, err := sw.n.chans.sessionOf(out.Ch)
		if err != nil {
			// Nothing tells how the outgoing HTLC ended: the incoming one
			// stays pending rather than be refunded while it may be paid.
			sw.log.Error("circuit on an unknown outgoing channel kept", "channel", out.Ch, "htlc", out.ID, "err", err)
			continue
		}
		sw.n.chans.postTo(s, func(s *peerSession) {
			s.later = append(s.later, func(s *peerSession) { sw.settleIfEnded(s, out) })
		})
	}
}

// settleIfEnded settles the circuit of outgoing HTLC out if the HTLC has
// ended. It runs in out's session at the start of a round: an HTLC that
// ended in this process has had its circuit resolved by its event
// already, so a circuit still open whose HTLC is no longer pending ended
// before the restart, and the store says how — a fulfill's preimage is
// written in the same transaction as the state that holds the fulfill.
func (sw *htlcSwitch) settleIfEnded(s *peerSession, out htlcRef) {
	e := s.chans[out.Ch]
	if e == nil {
		return
	}
	for _, h := range e.m.OfferedPending() {
		if h.ID == out.ID {
			return // its event settles the circuit
		}
	}
	sw.mu.Lock()
	c := sw.byOut[out]
	sw.mu.Unlock()
	if c == nil {
		return
	}
	pre, ok, err := sw.n.store.Preimage(c.Hash)
	if c.Preimage != nil {
		pre, ok, err = *c.Preimage, true, nil
	}
	switch {
	case err != nil:
		sw.log.Error("read preimage; circuit kept", "channel", out.Ch, "htlc", out.ID, "err", err)
	case ok:
		p := channel.Hash(pre)
		sw.resolved(out, HTLCResult{Preimage: &p})
	default:
		sw.resolved(out, HTLCResult{Err: errors.New("outgoing HTLC ended while the node was down")})
	}
}

// Forwards returns up to limit settled forwards, newest first.
func (n *Node) Forwards(limit int) ([]ForwardRecord, error) {
	raw, err := n.store.ForwardLog(limit)
	if err != nil {
		return nil, err
	}
	out := make([]ForwardRecord, 0, len(raw))
	for _, b := range raw {
		var r ForwardRecord
		if json.Unmarshal(b, &r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}
