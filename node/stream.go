package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paymesh/paymesh/api"
	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/protocol/onion"
	"github.com/paymesh/paymesh/routing"
)

// Payment streams, the payer's side: many small payments to one payee over
// one route (pay-per-packet). The first payment sets the stream up along
// the route with an ordinary Sphinx onion; every later payment carries a
// 50-byte stream packet (see protocol/onion's stream.go) that the hops
// forward by table lookup, so a stream payment costs no public-key
// operation, no route search and no payment record: only the channel
// updates, which the channels batch into few signatures.
//
// Each payment still is an HTLC at every hop, fulfilled only when the payee
// reveals its preimage, so a stream moves money exactly like separate
// payments would; what it gives up is the payer's proof of payment (the
// payer knows every preimage: they derive from a key it chose) and the
// per-payment record. When a payment fails, the route is dropped and the
// next payment sets the stream up again on a route found afresh (mission
// control learns from the failure as for any payment).

// Errors of payment streams.
var (
	// ErrStreamClosed is returned by Pay on a closed stream.
	ErrStreamClosed = errors.New("payment stream closed")
	// ErrUnknownStream is returned for a stream id the node does not have.
	ErrUnknownStream = errors.New("no such payment stream")
)

// StreamRequest opens a payment stream.
type StreamRequest struct {
	// Dest is the payee.
	Dest peer.ID
	// MaxAmount is the largest single payment of the stream: routes are
	// chosen to carry it.
	MaxAmount uint64
	// MaxFee caps the fee of one payment of MaxAmount (default 5% plus
	// 1000); smaller payments are capped in proportion, plus 1000.
	MaxFee uint64
	// FinalExpiryDelta is the time lock the payee gets (default 20 s).
	FinalExpiryDelta time.Duration
	// MaxAttempts bounds the HTLCs one Pay sends (default 3): each failure
	// drops the route and the next attempt sets the stream up again.
	MaxAttempts int
}

// StreamPayment is the outcome of one payment of a stream.
type StreamPayment struct {
	// Seq is the payment's sequence number on its route.
	Seq uint64
	// Amount is what the payee received; Fee what the hops kept.
	Amount, Fee uint64
	// Preimage proves the payee released the payment.
	Preimage channel.Hash
	// Attempts is how many HTLCs it took.
	Attempts int
}

// StreamStats describes a stream (the API's type).
type StreamStats = api.Stream

// Stream is an open payment stream. Its methods are safe for concurrent
// use: many payments may be in flight at once, and they ride together in
// the channels' commits.
type Stream struct {
	n       *Node
	id      string
	req     StreamRequest
	created time.Time

	mu      sync.Mutex
	leg     *streamLeg
	opening chan struct{} // closed when the running setup ends
	closed  bool
	lastErr string

	sent, succeeded, failed, amount, fees, legs atomic.Uint64
}

// streamLeg is one route of a stream, with its own key.
type streamLeg struct {
	key     [32]byte
	seq     atomic.Uint64
	first   channel.ID
	route   routing.Route
	fees    []streamFee // fees[i]: what the node sending on Hops[i] charges (fees[0] unused)
	ids     []onion.StreamID
	secrets []onion.SharedSecret
	dead    atomic.Bool
}

type streamFee struct{ base, ppm, delta uint32 }

// OpenStream opens a payment stream to req.Dest. No money moves and no
// route is chosen until the first Pay.
func (n *Node) OpenStream(req StreamRequest) (*Stream, error) {
	switch {
	case req.Dest == "" || req.MaxAmount == 0:
		return nil, errors.New("a payment stream needs a destination and a maximum amount")
	case req.Dest == n.id:
		return nil, errors.New("cannot pay self")
	}
	if req.MaxFee == 0 {
		req.MaxFee = req.MaxAmount/20 + 1000
	}
	if req.FinalExpiryDelta <= 0 {
		req.FinalExpiryDelta = 20 * time.Second
	}
	if req.MaxAttempts <= 0 {
		req.MaxAttempts = 3
	}
	var rid [8]byte
	if _, err := rand.Read(rid[:]); err != nil {
		return nil, err
	}
	s := &Stream{n: n, id: hex.EncodeToString(rid[:]), req: req, created: time.Now()}
	n.streamsMu.Lock()
	defer n.streamsMu.Unlock()
	if n.streams == nil {
		n.streams = make(map[string]*Stream)
	}
	if len(n.streams) >= maxStreamsPerPeer {
		return nil, fmt.Errorf("%d payment streams open: close some first", len(n.streams))
	}
	n.streams[s.id] = s
	return s, nil
}

// Stream returns an open stream by id.
func (n *Node) Stream(id string) (*Stream, error) {
	n.streamsMu.Lock()
	defer n.streamsMu.Unlock()
	s := n.streams[id]
	if s == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownStream, id)
	}
	return s, nil
}

// Streams lists the open streams, oldest first.
func (n *Node) Streams() []StreamStats {
	n.streamsMu.Lock()
	ss := make([]*Stream, 0, len(n.streams))
	for _, s := range n.streams {
		ss = append(ss, s)
	}
	n.streamsMu.Unlock()
	sort.Slice(ss, func(i, j int) bool { return ss[i].created.Before(ss[j].created) })
	out := make([]StreamStats, len(ss))
	for i, s := range ss {
		out[i] = s.Stats()
	}
	return out
}

// ID returns the stream's id at this node.
func (s *Stream) ID() string { return s.id }

// Close stops the stream: later Pay calls fail; payments in flight end as
// they would have.
func (s *Stream) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.n.streamsMu.Lock()
	delete(s.n.streams, s.id)
	s.n.streamsMu.Unlock()
}

// Stats returns the stream's counters.
func (s *Stream) Stats() StreamStats {
	st := StreamStats{
		ID: s.id, Dest: s.req.Dest.String(), MaxAmount: s.req.MaxAmount, CreatedMS: s.created.UnixMilli(),
		Payments: s.sent.Load(), Succeeded: s.succeeded.Load(), Failed: s.failed.Load(),
		Amount: s.amount.Load(), Fees: s.fees.Load(), Routes: s.legs.Load(),
	}
	s.mu.Lock()
	st.Closed, st.LastError = s.closed, s.lastErr
	if l := s.leg; l != nil && !l.dead.Load() {
		for _, h := range l.route.Hops {
			st.Route = append(st.Route, api.AttemptHop{Channel: uint64(h.Channel), Node: peer.ID(h.To).String()})
		}
	}
	s.mu.Unlock()
	return st
}

// Pay sends one payment of amount (at most MaxAmount) over the stream and
// waits for its outcome. If ctx ends first the HTLC stays in flight and
// ends on its own (the stream's counters still see it).
func (s *Stream) Pay(ctx context.Context, amount uint64) (StreamPayment, error) {
	if amount == 0 || amount > s.req.MaxAmount {
		return StreamPayment{}, fmt.Errorf("amount %d out of the stream's range 1..%d", amount, s.req.MaxAmount)
	}
	var lastErr error
	for attempt := 1; attempt <= s.req.MaxAttempts; attempt++ {
		leg, setup, err := s.acquire(ctx)
		if err != nil {
			return StreamPayment{}, err
		}
		var p StreamPayment
		if setup {
			p, err = s.setup(ctx, amount)
		} else {
			p, err = s.payOn(ctx, leg, amount)
		}
		if err == nil {
			p.Attempts = attempt
			return p, nil
		}
		lastErr = err
		if ctx.Err() != nil || errors.Is(err, ErrNoRoute) {
			break
		}
	}
	s.mu.Lock()
	s.lastErr = lastErr.Error()
	s.mu.Unlock()
	return StreamPayment{}, lastErr
}

// acquire returns the live route, or setup=true when the caller must set
// one up (it then holds the setup role until setup ends).
func (s *Stream) acquire(ctx context.Context) (*streamLeg, bool, error) {
	for {
		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			return nil, false, ErrStreamClosed
		case s.leg != nil && !s.leg.dead.Load():
			l := s.leg
			s.mu.Unlock()
			return l, false, nil
		case s.opening == nil:
			s.opening = make(chan struct{})
			s.mu.Unlock()
			return nil, true, nil
		}
		wait := s.opening
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// setup finds a route, and sends the stream's first payment with a Sphinx
// onion that sets the stream up at every hop. On success the route becomes
// the stream's.
func (s *Stream) setup(ctx context.Context, amount uint64) (p StreamPayment, err error) {
	var leg *streamLeg
	defer func() {
		s.mu.Lock()
		if err == nil {
			s.leg = leg
		}
		close(s.opening)
		s.opening = nil
		s.mu.Unlock()
	}()
	leg, err = s.newLeg()
	if err != nil {
		return p, err
	}
	s.legs.Add(1)
	now := time.Now()
	amts, exps, err := s.amounts(leg, amount, now)
	if err != nil {
		return p, err
	}
	hops := leg.route.Hops
	last := len(hops) - 1
	// The hops' stream ids derive from their shared secrets, and the
	// payloads carry the ids: compute the secrets first.
	sk, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return p, err
	}
	keys := make([]*secp256k1.PublicKey, len(hops))
	for j := range hops {
		if keys[j], err = s.n.payer.onionKey(peer.ID(hops[j].To)); err != nil {
			return p, err
		}
	}
	if leg.secrets, err = onion.SharedSecrets(sk, keys); err != nil {
		return p, err
	}
	for j := range leg.secrets {
		leg.ids[j] = onion.StreamIDOf(leg.secrets[j])
	}
	payloads := make([]onion.Hop, len(hops))
	for j := range hops {
		pl := onion.HopPayload{AmountToForward: amts[min(j+1, last)], OutgoingExpiry: uint64(exps[min(j+1, last)])}
		if j < last {
			f := leg.fees[j+1]
			pl.ShortChannelID, pl.HasShortChannelID = uint64(hops[j+1].Channel), true
			pl.StreamHop = &onion.StreamHop{Next: leg.ids[j+1], FeeBase: f.base, FeePPM: f.ppm, ExpiryDelta: f.delta}
		} else {
			var secret [32]byte
			if _, err := rand.Read(secret[:]); err != nil {
				return p, err
			}
			pl.PaymentData = &onion.PaymentData{Secret: secret, TotalAmount: amts[last]}
			pl.StreamKey = &leg.key
		}
		b, err := pl.Encode()
		if err != nil {
			return p, err
		}
		payloads[j] = onion.Hop{PubKey: keys[j], Payload: b}
	}
	pre := onion.StreamPreimage(leg.key, 0)
	hash := channel.Hash(sha256.Sum256(pre[:]))
	pkt, _, err := onion.NewPacket(sk, payloads, hash[:])
	if err != nil {
		return p, err
	}
	return s.send(ctx, leg, 0, amts, exps, hash, pkt.Encode())
}

// payOn sends a later payment of the stream on leg.
func (s *Stream) payOn(ctx context.Context, leg *streamLeg, amount uint64) (StreamPayment, error) {
	amts, exps, err := s.amounts(leg, amount, time.Now())
	if err != nil {
		return StreamPayment{}, err
	}
	seq := leg.seq.Add(1)
	pre := onion.StreamPreimage(leg.key, seq)
	hash := channel.Hash(sha256.Sum256(pre[:]))
	last := len(leg.ids) - 1
	pkt := onion.StreamPacket{ID: leg.ids[0], Seq: seq, Amount: amount, Tag: onion.StreamTag(leg.key, leg.ids[last], seq, amount, hash)}
	return s.send(ctx, leg, seq, amts, exps, hash, pkt.Encode())
}

// send offers the payment's first HTLC and waits for its outcome.
func (s *Stream) send(ctx context.Context, leg *streamLeg, seq uint64, amts []uint64, exps []int64, hash channel.Hash, packet []byte) (StreamPayment, error) {
	last := len(amts) - 1
	s.sent.Add(1)
	res, err := s.n.OfferHTLC(ctx, leg.first, amts[0], hash, time.UnixMilli(exps[0]), packet)
	if err != nil {
		s.failed.Add(1)
		leg.dead.Store(true)
		return StreamPayment{}, err
	}
	// A refusal by this node's own channel for its limits (too many HTLCs
	// pending, too much in flight) says nothing about the route: keep it.
	// Any other failure drops it, and the next payment finds another.
	keepLeg := func(r HTLCResult) bool { return r.Reason == nil && errors.Is(r.Err, channel.ErrLimit) }
	done := func(r HTLCResult) (StreamPayment, error) {
		if r.Preimage != nil && sha256.Sum256(r.Preimage[:]) == hash {
			s.succeeded.Add(1)
			if seq == 0 {
				// The setup payment's preimage is stored like any
				// payment's; later ones are not stored at all.
				s.n.payer.forgetLater(hash)
			}
			s.amount.Add(amts[last])
			s.fees.Add(amts[0] - amts[last])
			return StreamPayment{Seq: seq, Amount: amts[last], Fee: amts[0] - amts[last], Preimage: *r.Preimage}, nil
		}
		s.failed.Add(1)
		if keepLeg(r) {
			return StreamPayment{}, fmt.Errorf("stream payment %d: %w", seq, r.Err)
		}
		leg.dead.Store(true)
		hop, msg, desc := attribute(partResult{route: leg.route, res: r, ss: leg.secrets})
		now := time.Now()
		switch {
		case hop >= 0 && hop < len(leg.route.Hops)-1:
			s.n.payer.mc.ReportFailure(leg.route, hop+1, leg.route.Hops[hop+1].Amount, now)
		case hop <= 0 && msg == nil:
			s.n.payer.mc.ReportFailure(leg.route, 0, leg.route.Hops[0].Amount, now)
		}
		return StreamPayment{}, fmt.Errorf("stream payment %d failed at hop %d: %s", seq, hop, desc)
	}
	select {
	case r := <-res:
		return done(r)
	case <-ctx.Done():
		go func() { _, _ = done(<-res) }()
		return StreamPayment{}, ctx.Err()
	}
}

// amounts computes, for a payment delivering amount, what each hop's HTLC
// carries and its expiry (unix ms), from the fees the hops agreed to.
func (s *Stream) amounts(leg *streamLeg, amount uint64, now time.Time) ([]uint64, []int64, error) {
	n := len(leg.route.Hops)
	amts, exps := make([]uint64, n), make([]int64, n)
	amts[n-1], exps[n-1] = amount, now.Add(s.req.FinalExpiryDelta).UnixMilli()
	for i := n - 1; i > 0; i-- {
		f := leg.fees[i]
		fee := onion.StreamFee(f.base, f.ppm, amts[i])
		if fee > 1<<62 || amts[i] > 1<<62 {
			return nil, nil, fmt.Errorf("fee overflow at hop %d", i)
		}
		amts[i-1] = amts[i] + fee
		exps[i-1] = exps[i] + int64(f.delta)
	}
	// The fee cap scales with the amount: MaxFee for MaxAmount, plus 1000.
	hi, lo := bits.Mul64(s.req.MaxFee, amount)
	limit, _ := bits.Div64(hi, lo, s.req.MaxAmount) // hi < MaxAmount: amount <= MaxAmount
	if fee := amts[0] - amount; fee > limit+1000 {
		return nil, nil, fmt.Errorf("fee %d over the stream's cap %d", fee, limit+1000)
	}
	return amts, exps, nil
}

// newLeg finds a route for the stream's largest payment and reads the
// hops' fees from the graph.
func (s *Stream) newLeg() (*streamLeg, error) {
	n := s.n
	g := n.Graph()
	if g == nil {
		return nil, ErrNoRoute
	}
	snap := g.Snapshot()
	chans, err := n.Channels(context.Background())
	if err != nil {
		return nil, err
	}
	in := routing.Input{Request: routing.Request{
		Source: routing.NodeID(n.id), Target: routing.NodeID(s.req.Dest), Amount: s.req.MaxAmount,
		MaxFee: s.req.MaxFee, FinalExpiryDelta: uint64(s.req.FinalExpiryDelta.Milliseconds()),
		MaxExpiry:       uint64((24 * time.Hour).Milliseconds()),
		ExcludeChannels: unusableOwnChannels(chans, s.req.MaxAmount),
	}, Graph: snap, Mission: n.payer.mc, Now: time.Now(), Local: localBalances(chans)}
	st, err := routing.NewStrategy(routing.StrategyProbabilistic, routing.Config{})
	if err != nil {
		return nil, err
	}
	routes, err := st.FindRoutes(in)
	if err != nil || len(routes) == 0 || len(routes[0].Hops) == 0 {
		return nil, fmt.Errorf("%w for %d to %s", ErrNoRoute, s.req.MaxAmount, s.req.Dest)
	}
	rt := routes[0]
	first, _, ok := n.chans.byShortID(uint64(rt.Hops[0].Channel))
	if !ok {
		return nil, fmt.Errorf("route starts on channel %d, which is not ours", rt.Hops[0].Channel)
	}
	leg := &streamLeg{first: first, route: rt, fees: make([]streamFee, len(rt.Hops)), ids: make([]onion.StreamID, len(rt.Hops))}
	if _, err := rand.Read(leg.key[:]); err != nil {
		return nil, err
	}
	for i := 1; i < len(rt.Hops); i++ {
		h := rt.Hops[i]
		info, ok := snap.Channel(h.Channel)
		if !ok {
			return nil, fmt.Errorf("%w: channel %d left the graph", ErrNoRoute, h.Channel)
		}
		d := 0
		if info.Node1 != h.From {
			d = 1
		}
		pol := info.Policy[d]
		if pol == nil {
			return nil, fmt.Errorf("%w: no policy for channel %d", ErrNoRoute, h.Channel)
		}
		leg.fees[i] = streamFee{base: uint32(min(pol.FeeBase, 1<<32-1)), ppm: pol.FeePPM, delta: uint32(min(pol.ExpiryDelta, 1<<32-1))}
	}
	return leg, nil
}
