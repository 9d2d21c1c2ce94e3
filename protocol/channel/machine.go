package channel

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/paymesh/paymesh/protocol/wire"
)

// Config holds the local side's settings for a machine.
type Config struct {
	// Key is the local party's signing key.
	Key ed25519.PrivateKey
	// ExpiryGrace is how long after an HTLC's expiry an add or a fulfill
	// from the peer is still accepted, to absorb latency and clock skew
	// (e.g. 30 s). Local fulfills are refused from the expiry on.
	ExpiryGrace time.Duration
}

func (c *Config) validate() error {
	if len(c.Key) != ed25519.PrivateKeySize {
		return fmt.Errorf("%w: signing key of %d bytes", ErrBadParams, len(c.Key))
	}
	if c.ExpiryGrace < 0 {
		return fmt.Errorf("%w: negative expiry grace", ErrBadParams)
	}
	return nil
}

// link is the state of the connection to the peer, as far as the machine
// is concerned.
type link uint8

const (
	linkDown     link = iota // no stream: messages are not emitted
	linkAwaiting             // our ChanReestablish sent, waiting for the peer's
	linkUp                   // messages flow
)

// shutdownMark records a side's shutdown: it adds no HTLC after update at.
type shutdownMark struct {
	set bool
	at  uint64
}

// Machine is the state machine of one channel, seen from one side. It is
// not safe for concurrent use. See the package documentation.
type Machine struct {
	params Params
	id     ID
	me     Side
	key    ed25519.PrivateKey
	grace  int64 // milliseconds

	cur     *SignedState // latest co-signed state; nil until open completes
	curByMe bool         // cur was proposed by us
	prop    *SignedState // our proposal for cur.Seq+1 (our signature only), or nil
	// propSigning caches the signing bytes of the proposal of, so that the
	// peer's countersignature is verified without encoding it again.
	propSigning struct {
		of *SignedState
		b  []byte
	}
	logs  [2]updateLog // updates beyond cur, per sender
	flows [2]flow
	// curPending caches cur.State.Pending for each offerer.
	curPending [2]struct{ n, amount uint64 }
	persistR   uint64 // peer updates up to this index are persisted
	shutdown   [2]shutdownMark
	link       link
	failed     error
}

// Open starts a channel as the opener. The output carries ChanOpen with
// the opener's signature on state 0; the channel is open once the peer's
// ChanAccept is stepped in (EventOpened).
func Open(cfg Config, p Params) (*Machine, Output, error) {
	if err := cfg.validate(); err != nil {
		return nil, Output{}, err
	}
	if err := p.Validate(); err != nil {
		return nil, Output{}, err
	}
	if !bytes.Equal(cfg.Key.Public().(ed25519.PublicKey), p.Keys[Opener]) {
		return nil, Output{}, fmt.Errorf("%w: signing key is not the opener key", ErrBadParams)
	}
	m := newMachine(cfg, p, Opener)
	m.prop = m.signed(p.openingState())
	open := p.openMsg(m.prop.Sigs[Opener])
	m.link = linkUp
	var out Output
	out.Records = append(out.Records, recOpen(open))
	out.Messages = append(out.Messages, &wire.ChanMessage{ChannelId: m.id[:], Body: &wire.ChanMessage_Open{Open: open}})
	return m, out, nil
}

// Accept answers a peer's ChanOpen (check its terms with ParseOpen first)
// as the acceptor. The channel is open at once (EventOpened); the output
// carries ChanAccept with the acceptor's signature.
func Accept(cfg Config, msg *wire.ChanMessage) (*Machine, Output, error) {
	if err := cfg.validate(); err != nil {
		return nil, Output{}, err
	}
	open := msg.GetOpen()
	p, err := ParseOpen(open)
	if err != nil {
		return nil, Output{}, err
	}
	id := p.ID()
	if !bytes.Equal(msg.ChannelId, id[:]) {
		return nil, Output{}, fmt.Errorf("%w: channel id is not the hash of nonce and keys", ErrBadMessage)
	}
	if !bytes.Equal(cfg.Key.Public().(ed25519.PublicKey), p.Keys[Acceptor]) {
		return nil, Output{}, fmt.Errorf("%w: signing key is not the acceptor key", ErrBadParams)
	}
	m := newMachine(cfg, p, Acceptor)
	st := m.signed(p.openingState())
	if !ed25519.Verify(p.Keys[Opener], signingBytes(st.State.Encode()), open.Sig) {
		return nil, Output{}, fmt.Errorf("%w: opener on state 0", ErrBadSignature)
	}
	st.Sigs[Opener] = append([]byte(nil), open.Sig...)
	m.link = linkUp
	var out Output
	out.Records = append(out.Records, recOpen(p.openMsg(st.Sigs[Opener])))
	m.adopt(st, false, &out)
	out.Messages = append(out.Messages, m.acceptMsg())
	return m, out, nil
}

func newMachine(cfg Config, p Params, me Side) *Machine {
	return &Machine{params: p, id: p.ID(), me: me, key: cfg.Key, grace: cfg.ExpiryGrace.Milliseconds()}
}

// signed returns st with its hash and our signature, and remembers its
// signing bytes for proposalSigning.
func (m *Machine) signed(st *State) *SignedState {
	signing, hash := st.signing()
	ss := &SignedState{State: st, Hash: hash}
	ss.Sigs[m.me] = ed25519.Sign(m.key, signing)
	m.propSigning.of, m.propSigning.b = ss, signing
	return ss
}

// proposalSigning returns the signing bytes of our proposal.
func (m *Machine) proposalSigning() []byte {
	if m.propSigning.of == m.prop && m.propSigning.b != nil {
		return m.propSigning.b
	}
	b, _ := m.prop.State.signing()
	return b
}

func (m *Machine) acceptMsg() *wire.ChanMessage {
	return &wire.ChanMessage{ChannelId: m.id[:], Body: &wire.ChanMessage_Accept{
		Accept: &wire.ChanAccept{Sig: m.cur.Sigs[Acceptor]}}}
}

// ID returns the channel id.
func (m *Machine) ID() ID { return m.id }

// Side returns the local side.
func (m *Machine) Side() Side { return m.me }

// Params returns the channel's terms.
func (m *Machine) Params() Params { return m.params }

// State returns the latest co-signed state, or nil before the open
// completes. The returned value must not be modified.
func (m *Machine) State() *SignedState { return m.cur }

// Proposing reports whether a proposal of ours awaits the peer's
// countersignature: Commit does nothing until it arrives.
func (m *Machine) Proposing() bool { return m.prop != nil }

// Closing reports whether either side has started a cooperative close.
func (m *Machine) Closing() bool { return m.shutdown[0].set || m.shutdown[1].set }

// Closed reports whether the final state is co-signed.
func (m *Machine) Closed() bool { return m.cur != nil && m.cur.State.Final }

// Failed returns why the channel failed, or nil.
func (m *Machine) Failed() error { return m.failed }

// IncomingPending returns the HTLCs offered by the peer in the co-signed
// state that the local side has not fulfilled or failed yet: after a
// restart, the node's list of incoming HTLCs still to settle.
func (m *Machine) IncomingPending() []HTLC {
	if m.cur == nil {
		return nil
	}
	var hs []HTLC
	peer := m.me.Other()
	for _, h := range m.cur.State.HTLCs {
		if _, done := m.flows[m.me].removed[h.ID]; h.Offerer == peer && !done {
			hs = append(hs, h)
		}
	}
	return hs
}

// OfferedPending returns the HTLCs the local side offered that have not
// ended: pending in the co-signed state, or added since and not yet
// co-signed (they will be, after a re-establish). A node uses it after a
// restart to tell whether an outgoing HTLC may still be settled.
func (m *Machine) OfferedPending() []HTLC {
	var hs []HTLC
	if m.cur != nil {
		for _, h := range m.cur.State.HTLCs {
			if h.Offerer == m.me {
				hs = append(hs, h)
			}
		}
	}
	for _, u := range m.logs[m.me].entries {
		if u.kind == UpdateAdd {
			hs = append(hs, u.htlc)
		}
	}
	return hs
}

// OfferedExpired returns the HTLCs we offered that are still pending at
// now, past their expiry plus the grace, and not being removed by the
// peer. Only the peer can fail them: if it does not, the node should Abort
// the channel and settle the latest co-signed state, which refunds them.
func (m *Machine) OfferedExpired(now time.Time) []HTLC {
	if m.cur == nil {
		return nil
	}
	var hs []HTLC
	ms := now.UnixMilli()
	for _, h := range m.cur.State.HTLCs {
		if _, removing := m.flows[m.me.Other()].removed[h.ID]; h.Offerer == m.me && !removing && ms > h.Expiry+m.grace {
			hs = append(hs, h)
		}
	}
	return hs
}

// usable returns why no update may be made, or nil.
func (m *Machine) usable() error {
	switch {
	case m.failed != nil:
		return fmt.Errorf("%w: %w", ErrFailed, m.failed)
	case m.cur == nil:
		return ErrNotOpen
	case m.cur.State.Final:
		return ErrClosed
	}
	return nil
}

// send queues msg if the link is up. While the link is down, messages are
// dropped: the re-establish exchange retransmits whatever the peer lacks.
func (m *Machine) send(out *Output, msg *wire.ChanMessage) {
	if m.link == linkUp {
		msg.ChannelId = m.id[:]
		out.Messages = append(out.Messages, msg)
	}
}

// AddHTLC offers an HTLC to the peer and returns its id. expiry must be in
// the future; onion is the routing packet (at most MaxOnionSize bytes).
func (m *Machine) AddHTLC(amount uint64, paymentHash Hash, expiry time.Time, onion []byte, now time.Time) (uint64, Output, error) {
	if err := m.usable(); err != nil {
		return 0, Output{}, err
	}
	if m.Closing() {
		return 0, Output{}, ErrClosing
	}
	if len(onion) > MaxOnionSize {
		return 0, Output{}, fmt.Errorf("%w: onion of %d bytes", ErrLimit, len(onion))
	}
	u := update{kind: UpdateAdd, index: m.logs[m.me].end() + 1, htlc: HTLC{
		Offerer: m.me, ID: m.flows[m.me].nextID, Amount: amount, PaymentHash: paymentHash,
		Expiry: expiry.UnixMilli(), Onion: append([]byte(nil), onion...),
	}}
	u.htlc.OnionHash = onionHash(u.htlc.Onion)
	if err := m.checkAdd(m.me, &u, now.UnixMilli()); err != nil {
		return 0, Output{}, err
	}
	return u.htlc.ID, m.appendOwn(u), nil
}

// Fulfill settles the peer's HTLC id with its preimage, before its expiry.
// The HTLC must be in the co-signed state.
func (m *Machine) Fulfill(id uint64, preimage Hash, now time.Time) (Output, error) {
	if err := m.usable(); err != nil {
		return Output{}, err
	}
	u := update{kind: UpdateFulfill, index: m.logs[m.me].end() + 1,
		htlc: HTLC{Offerer: m.me.Other(), ID: id}, preimage: preimage}
	if err := m.checkRemove(m.me, &u, now.UnixMilli()); err != nil {
		return Output{}, err
	}
	return m.appendOwn(u), nil
}

// FailHTLC refunds the peer's HTLC id, giving reason (at most
// MaxReasonSize bytes, e.g. an onion error). Allowed at any time.
func (m *Machine) FailHTLC(id uint64, reason []byte) (Output, error) {
	if err := m.usable(); err != nil {
		return Output{}, err
	}
	if len(reason) > MaxReasonSize {
		return Output{}, fmt.Errorf("%w: reason of %d bytes", ErrLimit, len(reason))
	}
	u := update{kind: UpdateFail, index: m.logs[m.me].end() + 1,
		htlc: HTLC{Offerer: m.me.Other(), ID: id}, reason: append([]byte(nil), reason...)}
	if err := m.checkRemove(m.me, &u, 0); err != nil {
		return Output{}, err
	}
	return m.appendOwn(u), nil
}

// appendOwn logs a checked local update: persist it, then send it. The
// record and the message share one wire form (outputs are read-only).
func (m *Machine) appendOwn(u update) Output {
	var out Output
	m.logs[m.me].entries = append(m.logs[m.me].entries, u)
	m.flows[m.me].apply(&u)
	w := u.toWire()
	// The record, the message and the output's slices of them in one
	// allocation (see toWire).
	b := &struct {
		rec  wire.ChanRecord
		body wire.ChanRecord_Update
		recs [1]Record
		msgs [1]*wire.ChanMessage
	}{}
	b.body.Update = w
	b.rec.Body = &b.body
	b.recs[0] = Record{&b.rec}
	out.Records = b.recs[:]
	if m.link == linkUp {
		b.msgs[0] = updateMessage(m.id[:], w)
		out.Messages = b.msgs[:]
	}
	return out
}

// checkAdd validates an add by side s against the co-signed state plus
// every uncommitted update (see flow).
func (m *Machine) checkAdd(s Side, u *update, now int64) error {
	h := &u.htlc
	f := &m.flows[s]
	lim := &m.params.Limits[s]
	st := m.cur.State
	switch {
	case m.shutdown[s].set && u.index > m.shutdown[s].at:
		return fmt.Errorf("%w: add after shutdown", ErrClosing)
	case h.ID < f.nextID:
		return fmt.Errorf("%w: %s HTLC %d, next is %d", ErrDuplicateHTLC, s, h.ID, f.nextID)
	case h.ID > f.nextID:
		return fmt.Errorf("%w: %s HTLC %d, next is %d", ErrBadSequence, s, h.ID, f.nextID)
	case h.Amount < lim.MinHTLC || h.Amount > lim.MaxHTLC:
		return fmt.Errorf("%w: amount %d outside [%d, %d]", ErrLimit, h.Amount, lim.MinHTLC, lim.MaxHTLC)
	case h.Expiry > now+MaxExpiryDelta.Milliseconds():
		return fmt.Errorf("%w: expiry %d more than %s ahead", ErrLimit, h.Expiry, MaxExpiryDelta)
	case s == m.me && h.Expiry <= now || s != m.me && h.Expiry+m.grace <= now:
		// A peer's add may have expired in transit: within the grace, the
		// payee just fails it.
		return fmt.Errorf("%w: expiry %d not after now %d", ErrExpired, h.Expiry, now)
	}
	// Written to avoid overflow: uncommitted adds never exceed the balance,
	// but a hostile amount may be near 2^64.
	if h.Amount > st.Balance[s] || f.addAmount > st.Balance[s]-h.Amount ||
		st.Balance[s]-h.Amount-f.addAmount < lim.Reserve {
		return fmt.Errorf("%w: %s balance %d, uncommitted adds %d, amount %d, reserve %d",
			ErrInsufficientBalance, s, st.Balance[s], f.addAmount, h.Amount, lim.Reserve)
	}
	n, amt := m.curPending[s].n, m.curPending[s].amount
	if n+f.adds+1 > uint64(lim.MaxPending) {
		return fmt.Errorf("%w: more than %d pending HTLCs", ErrLimit, lim.MaxPending)
	}
	// pending + balance <= capacity: no overflow.
	if amt+f.addAmount+h.Amount > lim.MaxInFlight {
		return fmt.Errorf("%w: more than %d in flight", ErrLimit, lim.MaxInFlight)
	}
	return nil
}

// checkRemove validates a fulfill or fail by side s of an HTLC offered by
// the other side. now is only used for fulfills.
func (m *Machine) checkRemove(s Side, u *update, now int64) error {
	i := m.cur.State.find(s.Other(), u.htlc.ID)
	if i < 0 {
		return fmt.Errorf("%w: %s HTLC %d", ErrUnknownHTLC, s.Other(), u.htlc.ID)
	}
	if _, dup := m.flows[s].removed[u.htlc.ID]; dup {
		return fmt.Errorf("%w: %s HTLC %d", ErrAlreadyResolved, s.Other(), u.htlc.ID)
	}
	if u.kind != UpdateFulfill {
		return nil
	}
	h := &m.cur.State.HTLCs[i]
	if sha256.Sum256(u.preimage[:]) != h.PaymentHash {
		return fmt.Errorf("%w: HTLC %d", ErrBadPreimage, h.ID)
	}
	deadline := h.Expiry
	if s != m.me {
		deadline += m.grace
	}
	if s == m.me && now >= deadline || s != m.me && now > deadline {
		return fmt.Errorf("%w: HTLC %d expired at %d, now %d", ErrExpired, h.ID, h.Expiry, now)
	}
	return nil
}

// Commit proposes a new state holding every update so far from both
// sides. It does nothing if there is no new update or a proposal is
// already in flight (call it again after the peer's countersignature).
// Calling it after every batch of inputs is the intended use.
func (m *Machine) Commit() (Output, error) {
	if err := m.usable(); err != nil {
		return Output{}, err
	}
	var out Output
	if m.prop != nil {
		return out, nil
	}
	counts := [2]uint64{m.logs[0].end(), m.logs[1].end()}
	if counts == m.cur.State.Updates {
		return out, nil
	}
	m.propose(counts, false, &out)
	return out, nil
}

// propose signs and sends the next state; the updates must have been checked.
func (m *Machine) propose(counts [2]uint64, final bool, out *Output) {
	st, err := m.nextState(counts, final)
	if err != nil {
		// Unreachable: every update in the logs was checked on entry.
		m.fail(fmt.Errorf("%w: building own proposal: %w", ErrCorrupt, err), out)
		return
	}
	m.prop = m.signed(st)
	out.Records = append(out.Records, recState(m.prop, m.takeRemote(counts[m.me.Other()])))
	m.send(out, &wire.ChanMessage{Body: &wire.ChanMessage_Commit{Commit: m.commitMsg()}})
}

func (m *Machine) commitMsg() *wire.ChanCommit {
	st := m.prop.State
	return &wire.ChanCommit{Seq: st.Seq, OpenerUpdates: st.Updates[0], AcceptorUpdates: st.Updates[1],
		Final: st.Final, StateHash: m.prop.Hash[:], Sig: m.prop.Sigs[m.me]}
}

// takeRemote returns the peer updates up to index upTo that are not yet
// persisted, and counts them as persisted (they go into a record now).
func (m *Machine) takeRemote(upTo uint64) []update {
	if upTo <= m.persistR {
		return nil
	}
	from := max(m.persistR, m.logs[m.me.Other()].base)
	m.persistR = upTo
	return m.logs[m.me.Other()].between(from, upTo)
}

// StartClose begins a cooperative close: no new HTLCs from either side;
// once none is pending, the opener proposes the final state.
func (m *Machine) StartClose() (Output, error) {
	if err := m.usable(); err != nil {
		return Output{}, err
	}
	var out Output
	m.shutdownSelf(&out)
	m.maybeFinal(&out)
	return out, nil
}

func (m *Machine) shutdownSelf(out *Output) {
	if m.shutdown[m.me].set {
		return
	}
	at := m.logs[m.me].end()
	m.shutdown[m.me] = shutdownMark{set: true, at: at}
	out.Records = append(out.Records, recShutdown(at))
	m.send(out, m.shutdownMsg())
}

func (m *Machine) shutdownMsg() *wire.ChanMessage {
	return &wire.ChanMessage{Body: &wire.ChanMessage_Shutdown{Shutdown: &wire.ChanShutdown{UpdatesSent: m.shutdown[m.me].at}}}
}

// finalReady reports whether the final state may be proposed now: both
// sides shut down, every update of both committed, no HTLC pending.
func (m *Machine) finalReady() bool {
	if m.cur == nil || m.cur.State.Final || !m.shutdown[0].set || !m.shutdown[1].set {
		return false
	}
	st := m.cur.State
	return len(st.HTLCs) == 0 &&
		st.Updates[0] == m.logs[0].end() && st.Updates[1] == m.logs[1].end() &&
		st.Updates[0] >= m.shutdown[0].at && st.Updates[1] >= m.shutdown[1].at
}

// maybeFinal lets the opener propose the final state when it is due.
func (m *Machine) maybeFinal(out *Output) {
	if m.me == Opener && m.failed == nil && m.prop == nil && m.finalReady() {
		m.propose(m.cur.State.Updates, true, out)
	}
}

// Abort fails the channel locally with reason, telling the peer. Use it
// when the peer keeps misbehaving, or leaves an HTLC we offered pending
// past its expiry; what remains is settling the latest co-signed state.
func (m *Machine) Abort(reason string) Output {
	var out Output
	if m.failed == nil {
		m.fail(errors.New(truncate(reason)), &out)
	}
	return out
}

// fail marks the channel failed: persist, tell the peer, report.
func (m *Machine) fail(err error, out *Output) {
	m.failed = err
	m.prop = nil
	out.Records = append(out.Records, recFailed(truncate(err.Error())))
	m.send(out, &wire.ChanMessage{Body: &wire.ChanMessage_Error{Error: &wire.ChanError{Reason: truncate(err.Error())}}})
	out.Events = append(out.Events, Event{Kind: EventFailed, Err: err})
}

func truncate(s string) string {
	if len(s) > MaxReasonSize {
		return s[:MaxReasonSize]
	}
	return s
}

// Disconnect tells the machine the stream to the peer is gone. Messages
// are no longer emitted until Reconnect and the peer's ChanReestablish.
func (m *Machine) Disconnect() { m.link = linkDown }

// Reconnect starts the re-establish exchange on a new stream: send its
// output first, then step the peer's messages; its ChanReestablish (or, for
// a channel whose opening the acceptor never answered, ChanOpen) comes first.
func (m *Machine) Reconnect() Output {
	var out Output
	if m.failed != nil {
		m.link = linkUp
		m.send(&out, &wire.ChanMessage{Body: &wire.ChanMessage_Error{Error: &wire.ChanError{Reason: truncate(m.failed.Error())}}})
		m.link = linkDown
		return out
	}
	m.link = linkUp // to emit the message below
	if m.cur == nil {
		// Opener whose ChanOpen may never have arrived: send it again.
		m.send(&out, &wire.ChanMessage{Body: &wire.ChanMessage_Open{Open: m.params.openMsg(m.prop.Sigs[Opener])}})
	} else {
		r := &wire.ChanReestablish{HasState: true, Seq: m.cur.State.Seq, StateHash: m.cur.Hash[:],
			Sig: m.cur.Sigs[m.me], UpdatesReceived: m.logs[m.me.Other()].end()}
		m.send(&out, &wire.ChanMessage{Body: &wire.ChanMessage_Reestablish{Reestablish: r}})
	}
	m.link = linkAwaiting
	return out
}
