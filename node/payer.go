package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paymesh/paymesh/api"
	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/protocol/gossip"
	"github.com/paymesh/paymesh/protocol/invoice"
	"github.com/paymesh/paymesh/protocol/onion"
	"github.com/paymesh/paymesh/routing"
	"github.com/paymesh/paymesh/store"
)

// Errors of the payer that callers branch on.
var (
	ErrNoRoute      = errors.New("no route to the payee")
	ErrAlreadyPaid  = errors.New("payment hash already paid")
	ErrPaymentBusy  = errors.New("a payment with this hash is in flight")
	ErrUnknownOnion = errors.New("no onion key known for a node of the route")
)

// Payment statuses.
const (
	PaymentInFlight  = "in_flight"
	PaymentSucceeded = "succeeded"
	PaymentFailed    = "failed"
)

// PayRequest describes a payment: an invoice, or a spontaneous payment
// (Dest and Amount, the preimage travelling in the onion).
type PayRequest struct {
	Invoice *invoice.Invoice
	Dest    peer.ID
	Amount  uint64
	// MaxFee caps the total fee (0: 5% of the amount plus 1000).
	MaxFee uint64
	// Timeout bounds the whole payment (default 60 s; never past the
	// invoice's expiry).
	Timeout time.Duration
	// MaxAttempts bounds the HTLCs sent (default 16).
	MaxAttempts int
	// FinalExpiryDelta is the time lock the payee gets (default 40 s).
	FinalExpiryDelta time.Duration
}

// AttemptHop is one hop of an attempt's route (the API's type).
type AttemptHop = api.AttemptHop

// Attempt is one HTLC sent for a payment.
type Attempt struct {
	Route      []AttemptHop `json:"route"`
	Delivered  uint64       `json:"delivered"`
	Secrets    []string     `json:"secrets"`
	SentMS     int64        `json:"sent_unix_ms"`
	Status     string       `json:"status"`
	Failure    string       `json:"failure,omitempty"`
	FailingHop int          `json:"failing_hop,omitempty"`
}

// Payment is a payment's durable record.
type Payment struct {
	Hash      string    `json:"payment_hash"`
	Dest      string    `json:"dest"`
	Amount    uint64    `json:"amount"`
	Invoice   string    `json:"invoice,omitempty"`
	Keysend   bool      `json:"keysend"`
	Status    string    `json:"status"`
	Preimage  string    `json:"preimage,omitempty"`
	Fee       uint64    `json:"fee"`
	Attempts  []Attempt `json:"attempts"`
	CreatedMS int64     `json:"created_unix_ms"`
	EndedMS   int64     `json:"ended_unix_ms,omitempty"`
	Failure   string    `json:"failure,omitempty"`
	LatencyMS float64   `json:"latency_ms,omitempty"`
	// KeysendPreimage is the preimage a spontaneous payment carries, kept so
	// that the payment can resume after a restart.
	KeysendPreimage string `json:"keysend_preimage,omitempty"`
	// DeadlineMS is when the payer gives up.
	DeadlineMS int64  `json:"deadline_unix_ms"`
	MaxFee     uint64 `json:"max_fee"`
}

type payer struct {
	n   *Node
	log *slog.Logger
	mc  *routing.MissionControl

	mu      sync.Mutex
	waiting map[htlcRef]chan HTLCResult // attempts re-attached after a restart
	// orphans keep outcomes that arrive before resume re-attached their
	// attempt (for the first minutes after start).
	orphans   map[htlcRef]HTLCResult
	orphanTTL time.Time
	active    map[channel.Hash]bool
	onion     map[peer.ID]onionKeyEntry
	// forget queues preimages the payer no longer needs in the store (see
	// forgetPreimages).
	forget chan channel.Hash
}

type onionKeyEntry struct {
	key *secp256k1.PublicKey
	at  time.Time
}

func newPayer(n *Node) *payer {
	return &payer{
		n:       n,
		log:     n.log.With("component", "payer"),
		mc:      routing.NewMissionControl(routing.MissionConfig{HalfLife: time.Hour}),
		waiting: make(map[htlcRef]chan HTLCResult),
		orphans: make(map[htlcRef]HTLCResult),
		active:  make(map[channel.Hash]bool),
		onion:   make(map[peer.ID]onionKeyEntry),
		forget:  make(chan channel.Hash, 1<<16),
	}
}

// forgetLater queues a preimage for deletion from the store: the channel
// session stores every preimage a peer reveals (a forwarder needs it to
// claim its incoming HTLC after a crash), but a payer needs it only until
// its payment record holds it, and a payment stream's payer not at all. A
// full queue drops the request: the preimage then expires with its TTL.
func (p *payer) forgetLater(h channel.Hash) {
	select {
	case p.forget <- h:
	default:
	}
}

// forgetPreimages deletes the queued preimages in batches until ctx ends.
func (p *payer) forgetPreimages(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	batch := make([][32]byte, 0, 4096)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := p.n.store.DeletePreimages(batch); err != nil {
			p.log.Warn("forget preimages", "err", err)
		}
		batch = batch[:0]
	}
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case h := <-p.forget:
					batch = append(batch, h)
				default:
					flush()
					return
				}
			}
		case h := <-p.forget:
			if batch = append(batch, h); len(batch) == cap(batch) {
				flush()
			}
		case <-t.C:
			flush()
		}
	}
}

// loadMission imports the observations saved by the last run.
func (p *payer) loadMission() error {
	b, err := p.n.store.Mission()
	if err != nil || b == nil {
		return err
	}
	var obs []routing.Observation
	if err := json.Unmarshal(b, &obs); err != nil {
		p.log.Warn("stored mission control unreadable; starting afresh", "err", err)
		return nil
	}
	p.mc.Import(obs)
	return nil
}

// saveMission prunes decayed observations and stores the rest.
func (p *payer) saveMission() {
	p.mc.Prune(time.Now())
	b, err := json.Marshal(p.mc.Observations())
	if err == nil {
		err = p.n.store.PutMission(b)
	}
	if err != nil {
		p.log.Warn("save mission control", "err", err)
	}
}

// keepMission saves the observations every interval and when ctx ends.
func (p *payer) keepMission(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.saveMission()
			return
		case <-t.C:
			p.saveMission()
		}
	}
}

// resolved receives the outcome of attempts re-attached after a restart.
func (p *payer) resolved(ref htlcRef, r HTLCResult) {
	p.mu.Lock()
	w := p.waiting[ref]
	delete(p.waiting, ref)
	if w == nil && time.Now().Before(p.orphanTTL) && len(p.orphans) < 100_000 {
		p.orphans[ref] = r
	}
	p.mu.Unlock()
	if w != nil {
		w <- r
	}
}

// attach registers a waiter for an HTLC offered before a restart, handing
// it the outcome at once if it already arrived.
func (p *payer) attach(ref htlcRef) chan HTLCResult {
	w := make(chan HTLCResult, 1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.orphans[ref]; ok {
		delete(p.orphans, ref)
		w <- r
		return w
	}
	p.waiting[ref] = w
	return w
}

// onionKey returns a node's announced onion key.
func (p *payer) onionKey(id peer.ID) (*secp256k1.PublicKey, error) {
	p.mu.Lock()
	e, ok := p.onion[id]
	p.mu.Unlock()
	if ok && time.Since(e.at) < 10*time.Minute {
		return e.key, nil
	}
	if id == p.n.id {
		return p.n.cfg.OnionKey.PubKey(), nil
	}
	rec, found, err := p.n.store.Graph().Get(store.GraphRecord{Kind: store.GraphNode, Node: []byte(id)})
	if err != nil {
		return nil, err
	}
	if !found {
		if s := p.n.gossip; s != nil {
			s.flushWrites()
			rec, found, err = p.n.store.Graph().Get(store.GraphRecord{Kind: store.GraphNode, Node: []byte(id)})
		}
		if err != nil || !found {
			return nil, fmt.Errorf("%w: %s", ErrUnknownOnion, id)
		}
	}
	m, err := gossip.Decode(rec.Data)
	if err != nil {
		return nil, err
	}
	a, ok := m.(*gossip.NodeAnnouncement)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownOnion, id)
	}
	key, err := secp256k1.ParsePubKey(a.OnionKey[:])
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.onion[id] = onionKeyEntry{key, time.Now()}
	p.mu.Unlock()
	return key, nil
}

// Pay makes a payment and returns its record once it has succeeded or
// failed (an error says why it could not be attempted at all).
func (n *Node) Pay(ctx context.Context, req PayRequest) (*Payment, error) {
	p := n.payer
	now := time.Now()
	var hash, secret channel.Hash
	var preimage *channel.Hash
	pay := &Payment{CreatedMS: now.UnixMilli(), Status: PaymentInFlight, Attempts: []Attempt{}}
	deadline := now.Add(60 * time.Second)
	if req.Timeout > 0 {
		deadline = now.Add(req.Timeout)
	}
	if inv := req.Invoice; inv != nil {
		if inv.Expired(now) {
			return nil, fmt.Errorf("%w: at %s", invoice.ErrExpired, inv.ExpiresAt().Format(time.RFC3339))
		}
		if inv.Amount == 0 && req.Amount == 0 {
			return nil, errors.New("the invoice has no amount: give one")
		}
		hash, secret = inv.PaymentHash, inv.PaymentSecret
		pay.Dest, pay.Amount, pay.Invoice = inv.Payee.String(), max(inv.Amount, req.Amount), inv.String()
		req.Dest = inv.Payee
		if inv.ExpiresAt().Before(deadline) {
			deadline = inv.ExpiresAt()
		}
	} else {
		if req.Dest == "" || req.Amount == 0 {
			return nil, errors.New("a spontaneous payment needs a destination and an amount")
		}
		var pre channel.Hash
		if _, err := rand.Read(pre[:]); err != nil {
			return nil, err
		}
		preimage = &pre
		hash = sha256.Sum256(pre[:])
		pay.KeysendPreimage = hex.EncodeToString(pre[:])
		if _, err := rand.Read(secret[:]); err != nil {
			return nil, err
		}
		pay.Dest, pay.Amount, pay.Keysend = req.Dest.String(), req.Amount, true
	}
	if req.Dest == n.id {
		return nil, errors.New("cannot pay self")
	}
	pay.Hash = hex.EncodeToString(hash[:])
	if prev, err := n.Payment(hash); err == nil {
		switch prev.Status {
		case PaymentSucceeded:
			return prev, ErrAlreadyPaid
		case PaymentInFlight:
			return prev, ErrPaymentBusy
		}
	}
	p.mu.Lock()
	if p.active[hash] {
		p.mu.Unlock()
		return nil, ErrPaymentBusy
	}
	p.active[hash] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.active, hash)
		p.mu.Unlock()
	}()
	if req.MaxFee == 0 {
		req.MaxFee = pay.Amount/20 + 1000
	}
	pay.MaxFee, pay.DeadlineMS = req.MaxFee, deadline.UnixMilli()
	if req.MaxAttempts <= 0 {
		req.MaxAttempts = 16
	}
	if req.FinalExpiryDelta <= 0 {
		req.FinalExpiryDelta = 40 * time.Second
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	r := &payRun{n: n, p: p, pay: pay, req: req, hash: hash, secret: secret, preimage: preimage, start: now}
	r.results = make(chan partResult, 64)
	r.run(ctx, pay.Amount)
	return pay, nil
}

// resume picks up, after a restart, every payment that was in flight: its
// HTLCs still pending are waited for, and if none succeeds and the payment
// has time left, it is retried. It runs in the background.
func (p *payer) resume(ctx context.Context) error {
	pays, err := p.n.Payments(0)
	if err != nil {
		return err
	}
	for _, pay := range pays {
		if pay.Status != PaymentInFlight {
			continue
		}
		p.mu.Lock()
		p.orphanTTL = time.Now().Add(5 * time.Minute)
		p.mu.Unlock()
		p.n.goRun(func() { p.resumeOne(ctx, pay) })
	}
	return nil
}

func (p *payer) resumeOne(ctx context.Context, pay *Payment) {
	n := p.n
	hb, err := hex.DecodeString(pay.Hash)
	if err != nil || len(hb) != 32 {
		return
	}
	hash := channel.Hash(hb)
	r := &payRun{n: n, p: p, pay: pay, hash: hash, start: time.UnixMilli(pay.CreatedMS), results: make(chan partResult, 64)}
	dest, err := peer.Decode(pay.Dest)
	if err != nil {
		r.finish(PaymentFailed, "unreadable record: "+err.Error())
		return
	}
	r.req = PayRequest{Dest: dest, Amount: pay.Amount, MaxFee: pay.MaxFee, MaxAttempts: 16, FinalExpiryDelta: 40 * time.Second}
	if pay.Invoice != "" {
		inv, err := invoice.Decode(pay.Invoice)
		if err != nil {
			r.finish(PaymentFailed, "unreadable invoice: "+err.Error())
			return
		}
		r.secret = inv.PaymentSecret
	} else if b, err := hex.DecodeString(pay.KeysendPreimage); err == nil && len(b) == 32 {
		pre := channel.Hash(b)
		r.preimage = &pre
	}
	if pre, ok, _ := n.store.Preimage(hash); ok {
		// An attempt succeeded while the node was down (or just before).
		r.pay.Preimage = hex.EncodeToString(pre[:])
		r.finish(PaymentSucceeded, "")
		return
	}
	// Re-attach the attempts whose HTLCs are still pending.
	pending := n.chans.offeredWithHash(hash)
	var remaining uint64 = pay.Amount
	for i := range pay.Attempts {
		a := &pay.Attempts[i]
		if a.Status != PaymentInFlight {
			continue
		}
		a.Status = "failed"
		a.Failure = "ended while the node was down"
		if len(a.Route) == 0 {
			continue
		}
		for j, ref := range pending {
			if ref.amount != a.Route[0].Amount {
				continue
			}
			pending = append(pending[:j], pending[j+1:]...)
			a.Status, a.Failure = PaymentInFlight, ""
			w := p.attach(ref.htlcRef)
			secrets := make([]onion.SharedSecret, len(a.Secrets))
			for k, sx := range a.Secrets {
				b, _ := hex.DecodeString(sx)
				copy(secrets[k][:], b)
			}
			rt := routeOf(a)
			idx := i
			r.inflight++
			remaining -= a.Delivered
			go func() { r.results <- partResult{idx: idx, route: rt, res: <-w, ss: secrets} }()
			break
		}
	}
	deadline := time.UnixMilli(pay.DeadlineMS)
	if deadline.Before(time.Now()) && r.inflight == 0 {
		r.finish(PaymentFailed, "interrupted by a restart and out of time")
		return
	}
	rctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	r.run(rctx, remaining)
}

// routeOf rebuilds the routing.Route of a stored attempt.
func routeOf(a *Attempt) routing.Route {
	var rt routing.Route
	for i, h := range a.Route {
		hop := routing.Hop{Channel: routing.ChannelID(h.Channel), To: routing.NodeID(mustPeer(h.Node)), Amount: h.Amount, Fee: h.Fee, Expiry: h.Expiry}
		if i > 0 {
			hop.From = rt.Hops[i-1].To
		}
		rt.Hops = append(rt.Hops, hop)
	}
	if len(rt.Hops) > 0 {
		rt.Amount, rt.TimeLock = rt.Hops[0].Amount, rt.Hops[0].Expiry
		rt.Fee = rt.Amount - rt.Hops[len(rt.Hops)-1].Amount
	}
	return rt
}

func mustPeer(s string) peer.ID {
	id, _ := peer.Decode(s)
	return id
}

// payRun is one payment in progress.
type payRun struct {
	n        *Node
	p        *payer
	pay      *Payment
	req      PayRequest
	hash     channel.Hash
	secret   channel.Hash
	preimage *channel.Hash
	start    time.Time

	results  chan partResult
	inflight int
	sent     int
	feePaid  uint64
}

type partResult struct {
	idx   int
	route routing.Route
	res   HTLCResult
	ss    []onion.SharedSecret
}

// persist writes the payment's record; it reports whether it could.
func (r *payRun) persist() bool {
	b, _ := json.Marshal(r.pay)
	if err := r.n.store.PutPayment(r.hash, b); err != nil {
		r.p.log.Error("persist payment", "hash", r.pay.Hash, "err", err)
		return false
	}
	return true
}

// settled persists a succeeded payment whose parts have all ended; once
// its record holds the preimage, the store's copy can go.
func (r *payRun) settled() {
	if r.persist() {
		r.p.forgetLater(r.hash)
	}
}

func (r *payRun) finish(status, failure string) {
	r.pay.Status, r.pay.Failure = status, failure
	r.pay.EndedMS = time.Now().UnixMilli()
	r.pay.LatencyMS = float64(time.Since(r.start).Microseconds()) / 1000
	r.persist()
}

func (r *payRun) run(ctx context.Context, remaining uint64) {
	var lastErr string
	for {
		for remaining > 0 && r.sent < r.req.MaxAttempts && ctx.Err() == nil {
			routes, err := r.findRoutes(remaining)
			if err != nil {
				lastErr = err.Error()
				break
			}
			for _, rt := range routes {
				if err := r.send(ctx, rt); err != nil {
					lastErr = err.Error()
					r.excludeFirst(rt)
					continue
				}
				remaining -= rt.Delivered()
			}
			if len(routes) == 0 {
				break
			}
		}
		if r.pay.Status == PaymentSucceeded && r.inflight == 0 {
			r.settled()
			return
		}
		if r.inflight == 0 {
			if lastErr == "" {
				lastErr = "no route"
			}
			if ctx.Err() != nil {
				lastErr = "timed out: " + lastErr
			}
			r.finish(PaymentFailed, lastErr)
			return
		}
		select {
		case pr := <-r.results:
			r.inflight--
			if done := r.handle(pr, &remaining, &lastErr); done && r.inflight == 0 {
				if r.pay.Status == PaymentSucceeded {
					r.settled()
				} else {
					r.finish(PaymentFailed, lastErr)
				}
				return
			}
		case <-ctx.Done():
			// In-flight HTLCs still resolve; wait for them (they are
			// bounded by their expiry) so that the record ends true.
			pr := <-r.results
			r.inflight--
			r.handle(pr, &remaining, &lastErr)
		}
	}
}

// handle records one part's outcome; it reports whether the payment has
// reached a final state (success, or a permanent failure).
func (r *payRun) handle(pr partResult, remaining *uint64, lastErr *string) bool {
	a := &r.pay.Attempts[pr.idx]
	now := time.Now()
	if pr.res.Preimage != nil && sha256.Sum256(pr.res.Preimage[:]) == r.hash {
		a.Status = "succeeded"
		r.p.mc.ReportSuccess(pr.route, now)
		r.feePaid += pr.route.Fee
		r.pay.Fee = r.feePaid
		if r.pay.Status != PaymentSucceeded {
			r.pay.Preimage = hex.EncodeToString(pr.res.Preimage[:])
			r.finish(PaymentSucceeded, "")
		}
		return true
	}
	a.Status = "failed"
	if r.pay.Status == PaymentSucceeded {
		return true
	}
	*remaining += pr.route.Delivered()
	hop, msg, desc := attribute(pr)
	a.FailingHop, a.Failure = hop, desc
	*lastErr = fmt.Sprintf("attempt %d failed at hop %d: %s", pr.idx+1, hop, desc)
	r.persist()
	last := len(pr.route.Hops) - 1
	switch {
	case msg != nil && hop == last && !msg.Code.IsBadOnion() && msg.Code != onion.CodeMPPTimeout:
		// The payee refused: retrying cannot help.
		return true
	case hop >= 0 && hop < last:
		r.p.mc.ReportFailure(pr.route, hop+1, pr.route.Hops[hop+1].Amount, now)
	case hop == -1 || (msg == nil && hop == 0):
		r.p.mc.ReportFailure(pr.route, 0, pr.route.Hops[0].Amount, now)
	}
	return false
}

// attribute finds which hop of the route failed and why. Hop i is the
// node that received the HTLC on route.Hops[i].
func attribute(pr partResult) (int, *onion.FailureMessage, string) {
	reason := pr.res.Reason
	switch {
	case pr.res.Err != nil && reason == nil:
		return -1, nil, pr.res.Err.Error()
	case len(reason) > 1 && reason[0] == reasonPacket:
		idx, msg, err := onion.DecryptError(pr.ss, reason[1:])
		if err != nil {
			return -1, nil, "unreadable failure: " + err.Error()
		}
		return idx, msg, msg.Code.String()
	case len(reason) > 1 && reason[0] == reasonBadOnion:
		msg, err := onion.DecodeFailureMessage(reason[1:])
		if err != nil {
			return 0, nil, "bad onion at the first hop"
		}
		return 0, msg, msg.Code.String()
	}
	return 0, nil, fmt.Sprintf("first hop failed the HTLC: %q", reason)
}

// findRoutes asks routing for routes carrying amount, single-path first,
// then multi-part.
func (r *payRun) findRoutes(amount uint64) ([]routing.Route, error) {
	n := r.n
	g := n.Graph()
	if g == nil {
		return nil, ErrNoRoute
	}
	in := routing.Input{Request: routing.Request{
		Source:           routing.NodeID(n.id),
		Target:           routing.NodeID(r.req.Dest),
		Amount:           amount,
		MaxFee:           r.req.MaxFee - min(r.req.MaxFee, r.feePaid),
		FinalExpiryDelta: uint64(r.req.FinalExpiryDelta.Milliseconds()),
		MaxExpiry:        uint64((24 * time.Hour).Milliseconds()),
	}, Graph: g.Snapshot(), Mission: r.p.mc, Now: time.Now()}
	chans, err := r.n.Channels(context.Background())
	if err != nil {
		return nil, err
	}
	in.Local = localBalances(chans)
	// A single route must leave through an own channel that can carry the
	// whole amount; parts of a split need only some balance.
	for _, try := range []struct {
		strategy string
		need     uint64
	}{{routing.StrategyProbabilistic, amount}, {routing.StrategyMPP, 1}} {
		in.Request.ExcludeChannels = unusableOwnChannels(chans, try.need)
		st, err := routing.NewStrategy(try.strategy, routing.Config{})
		if err != nil {
			return nil, err
		}
		routes, err := st.FindRoutes(in)
		if err == nil && len(routes) > 0 {
			return routes, nil
		}
	}
	return nil, fmt.Errorf("%w for %d to %s", ErrNoRoute, amount, r.req.Dest)
}

// ownBalances is the payer's spendable balance per own channel, for
// routing.Input.Local: routes never start on a channel that cannot carry
// the first hop.
type ownBalances map[routing.ChannelID]uint64

// Liquidity implements routing.LiquidityOracle for the payer's own
// channels (the only ones routing asks about).
func (o ownBalances) Liquidity(ch routing.ChannelID, _ routing.Direction) uint64 { return o[ch] }

func localBalances(chans []ChannelInfo) ownBalances {
	out := make(ownBalances, len(chans))
	for _, c := range chans {
		if c.State == "open" && c.Connected {
			out[routing.ChannelID(c.ShortID)] = c.LocalBalance
		}
	}
	return out
}

// unusableOwnChannels lists own channels that cannot carry amount now: not
// open, disconnected, or without enough local balance.
func unusableOwnChannels(chans []ChannelInfo, amount uint64) []routing.ChannelID {
	var out []routing.ChannelID
	for _, c := range chans {
		if c.State != "open" || !c.Connected || c.LocalBalance < amount {
			out = append(out, routing.ChannelID(c.ShortID))
		}
	}
	return out
}

func (r *payRun) excludeFirst(rt routing.Route) {
	if len(rt.Hops) > 0 {
		r.p.mc.ReportFailure(rt, 0, rt.Hops[0].Amount, time.Now())
	}
}

// send builds the onion for route rt and offers its first HTLC.
func (r *payRun) send(ctx context.Context, rt routing.Route) error {
	n := r.n
	if len(rt.Hops) == 0 {
		return ErrNoRoute
	}
	first, _, ok := n.chans.byShortID(uint64(rt.Hops[0].Channel))
	if !ok {
		return fmt.Errorf("route starts on channel %d, which is not ours", rt.Hops[0].Channel)
	}
	now := time.Now()
	hops := make([]onion.Hop, len(rt.Hops))
	att := Attempt{Delivered: rt.Delivered(), SentMS: now.UnixMilli(), Status: PaymentInFlight}
	last := len(rt.Hops) - 1
	for i, h := range rt.Hops {
		key, err := r.p.onionKey(peer.ID(h.To))
		if err != nil {
			return err
		}
		var pl onion.HopPayload
		if i < last {
			next := rt.Hops[i+1]
			pl = onion.HopPayload{AmountToForward: next.Amount, OutgoingExpiry: uint64(now.UnixMilli()) + next.Expiry, ShortChannelID: uint64(next.Channel), HasShortChannelID: true}
		} else {
			pl = onion.HopPayload{AmountToForward: h.Amount, OutgoingExpiry: uint64(now.UnixMilli()) + h.Expiry}
			if r.preimage != nil {
				pre := [32]byte(*r.preimage)
				pl.KeysendPreimage = &pre
			}
			pl.PaymentData = &onion.PaymentData{Secret: r.secret, TotalAmount: r.pay.Amount}
		}
		b, err := pl.Encode()
		if err != nil {
			return err
		}
		hops[i] = onion.Hop{PubKey: key, Payload: b}
		att.Route = append(att.Route, AttemptHop{Channel: uint64(h.Channel), Node: peer.ID(h.To).String(), Amount: h.Amount, Fee: h.Fee, Expiry: h.Expiry})
	}
	sk, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return err
	}
	pkt, secrets, err := onion.NewPacket(sk, hops, r.hash[:])
	if err != nil {
		return err
	}
	for _, s := range secrets {
		att.Secrets = append(att.Secrets, hex.EncodeToString(s[:]))
	}
	idx := len(r.pay.Attempts)
	r.pay.Attempts = append(r.pay.Attempts, att)
	r.persist() // the attempt is on disk before its HTLC leaves
	res, err := n.OfferHTLC(ctx, first, rt.Hops[0].Amount, r.hash, now.Add(time.Duration(rt.Hops[0].Expiry)*time.Millisecond), pkt.Encode())
	if err != nil {
		r.pay.Attempts[idx].Status, r.pay.Attempts[idx].Failure = "failed", err.Error()
		return err
	}
	r.sent++
	r.inflight++
	go func() {
		out := <-res
		r.results <- partResult{idx: idx, route: rt, res: out, ss: secrets}
	}()
	return nil
}

// Payment returns a payment's record.
func (n *Node) Payment(hash channel.Hash) (*Payment, error) {
	b, err := n.store.Payment(hash)
	if err != nil {
		return nil, err
	}
	var p Payment
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("payment record: %w", err)
	}
	return &p, nil
}

// Payments lists payments, newest first, at most limit.
func (n *Node) Payments(limit int) ([]*Payment, error) {
	raw, err := n.store.Payments()
	if err != nil {
		return nil, err
	}
	out := make([]*Payment, 0, len(raw))
	for _, b := range raw {
		var p Payment
		if json.Unmarshal(b, &p) == nil {
			out = append(out, &p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedMS > out[j].CreatedMS })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
