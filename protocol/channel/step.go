package channel

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/paymesh/paymesh/protocol/wire"
)

// Step feeds one message from the peer into the machine at time now.
//
// Step is transactional: if it returns an error, the machine is unchanged
// and the output is empty; the message was bad (each error wraps a
// sentinel: ErrBadSignature, ErrBadSequence, ...). The node may then
// disconnect, or give up with Abort. Where the channel cannot continue
// (histories diverged, the peer sent ChanError), Step succeeds and
// reports EventFailed.
func (m *Machine) Step(msg *wire.ChanMessage, now time.Time) (Output, error) {
	var out Output
	if msg == nil || msg.Body == nil {
		return out, fmt.Errorf("%w: empty message", ErrBadMessage)
	}
	if !bytes.Equal(msg.ChannelId, m.id[:]) {
		return out, fmt.Errorf("%w: %x", ErrUnknownChannel, msg.ChannelId)
	}
	if e, ok := msg.Body.(*wire.ChanMessage_Error); ok {
		if m.failed == nil {
			m.failed = fmt.Errorf("%w: %q", ErrPeerFailed, truncate(e.Error.GetReason()))
			out.Records = append(out.Records, recFailed(m.failed.Error()))
			out.Events = append(out.Events, Event{Kind: EventFailed, Err: m.failed})
		}
		return out, nil
	}
	if m.failed != nil {
		return out, fmt.Errorf("%w: %w", ErrFailed, m.failed)
	}
	switch b := msg.Body.(type) {
	case *wire.ChanMessage_Open:
		return m.stepOpen(b.Open)
	case *wire.ChanMessage_Reestablish:
		return m.stepReestablish(b.Reestablish)
	case *wire.ChanMessage_Accept:
		if m.link == linkAwaiting && m.cur == nil {
			// A new acceptor answered the ChanOpen we re-sent.
			return m.stepAcceptAfterReconnect(b.Accept.GetSig())
		}
	}
	if m.link != linkUp {
		return out, ErrNotConnected
	}
	switch b := msg.Body.(type) {
	case *wire.ChanMessage_Accept:
		return m.stepCountersign(0, nil, b.Accept.GetSig())
	case *wire.ChanMessage_Countersign:
		return m.stepCountersign(b.Countersign.GetSeq(), b.Countersign.GetStateHash(), b.Countersign.GetSig())
	}
	if _, ok := msg.Body.(*wire.ChanMessage_Shutdown); ok && m.Closed() {
		return out, nil // retransmitted by a re-establish that found us closed
	}
	if err := m.usable(); err != nil {
		return out, err
	}
	now64 := now.UnixMilli()
	switch b := msg.Body.(type) {
	case *wire.ChanMessage_Add:
		u, err := addFromWire(m.me.Other(), b.Add)
		if err != nil {
			return out, err
		}
		return m.stepUpdate(u, now64)
	case *wire.ChanMessage_Fulfill:
		u, err := fulfillFromWire(m.me.Other(), b.Fulfill)
		if err != nil {
			return out, err
		}
		return m.stepUpdate(u, now64)
	case *wire.ChanMessage_Fail:
		u, err := failFromWire(m.me.Other(), b.Fail)
		if err != nil {
			return out, err
		}
		return m.stepUpdate(u, now64)
	case *wire.ChanMessage_Commit:
		return m.stepCommit(b.Commit)
	case *wire.ChanMessage_Shutdown:
		return m.stepShutdown(b.Shutdown)
	}
	return out, fmt.Errorf("%w: unknown body", ErrBadMessage)
}

// stepUpdate appends a checked peer update to its log. Peer updates are
// persisted with the first state record that covers them.
func (m *Machine) stepUpdate(u update, now int64) (Output, error) {
	peer := m.me.Other()
	if want := m.logs[peer].end() + 1; u.index != want {
		return Output{}, fmt.Errorf("%w: update %d, expected %d", ErrBadSequence, u.index, want)
	}
	var err error
	if u.kind == UpdateAdd {
		err = m.checkAdd(peer, &u, now)
	} else {
		err = m.checkRemove(peer, &u, now)
	}
	if err != nil {
		return Output{}, err
	}
	m.logs[peer].entries = append(m.logs[peer].entries, u)
	m.flows[peer].apply(&u)
	return Output{}, nil
}

// stepCommit countersigns the peer's proposal for the next state, after
// checking that it is exactly the state the named updates produce.
func (m *Machine) stepCommit(c *wire.ChanCommit) (Output, error) {
	var out Output
	cur := m.cur.State
	if m.me == Opener && (m.prop != nil && c.Seq == m.prop.State.Seq || m.curByMe && c.Seq == cur.Seq && c.Seq > 0) {
		// Both sides proposed the same sequence: the opener's proposal
		// wins. The acceptor drops its own when ours arrives and proposes
		// what ours left out later.
		return out, nil
	}
	if c.Seq != cur.Seq+1 {
		return out, fmt.Errorf("%w: commit for state %d, at %d", ErrBadSequence, c.Seq, cur.Seq)
	}
	if len(c.StateHash) != 32 || len(c.Sig) != ed25519.SignatureSize {
		return out, fmt.Errorf("%w: commit hash or signature length", ErrBadMessage)
	}
	counts := [2]uint64{c.OpenerUpdates, c.AcceptorUpdates}
	if c.Final {
		if m.me != Acceptor || !m.finalReady() || counts != cur.Updates {
			return out, fmt.Errorf("%w: final state proposed while not ready", ErrUnexpected)
		}
	} else if counts == cur.Updates {
		return out, fmt.Errorf("%w: commit without updates", ErrUnexpected)
	}
	st, err := m.nextState(counts, c.Final)
	if err != nil {
		return out, err
	}
	signing, hash := st.signing()
	ss := &SignedState{State: st, Hash: hash}
	if !bytes.Equal(ss.Hash[:], c.StateHash) {
		return out, fmt.Errorf("%w: state %d", ErrStateMismatch, st.Seq)
	}
	peer := m.me.Other()
	if !ed25519.Verify(m.params.Keys[peer], signing, c.Sig) {
		return out, fmt.Errorf("%w: %s on state %d", ErrBadSignature, peer, st.Seq)
	}
	ss.Sigs[peer] = append([]byte(nil), c.Sig...)
	ss.Sigs[m.me] = ed25519.Sign(m.key, signing)
	m.adopt(ss, false, &out) // drops our own conflicting proposal, if any
	m.send(&out, &wire.ChanMessage{Body: &wire.ChanMessage_Countersign{Countersign: &wire.ChanCountersign{
		Seq: st.Seq, StateHash: ss.Hash[:], Sig: ss.Sigs[m.me]}}})
	m.maybeFinal(&out)
	return out, nil
}

// stepCountersign completes our proposal with the peer's signature (for
// state 0, the acceptor's ChanAccept: hash is nil).
func (m *Machine) stepCountersign(seq uint64, hash, sig []byte) (Output, error) {
	var out Output
	if m.prop == nil || m.prop.State.Seq != seq {
		if m.cur != nil && m.cur.State.Seq == seq && bytes.Equal(sig, m.cur.Sigs[m.me.Other()]) {
			return out, nil // a retransmission we already have
		}
		return out, fmt.Errorf("%w: countersignature for state %d without proposal", ErrBadSequence, seq)
	}
	if hash != nil && !bytes.Equal(hash, m.prop.Hash[:]) {
		return out, fmt.Errorf("%w: countersigned hash differs from proposal %d", ErrStateMismatch, seq)
	}
	if err := m.completeProposal(sig, &out); err != nil {
		return Output{}, err
	}
	return out, nil
}

// completeProposal adopts our proposal with the peer's signature sig.
func (m *Machine) completeProposal(sig []byte, out *Output) error {
	peer := m.me.Other()
	if len(sig) != ed25519.SignatureSize ||
		!ed25519.Verify(m.params.Keys[peer], m.proposalSigning(), sig) {
		return fmt.Errorf("%w: %s on state %d", ErrBadSignature, peer, m.prop.State.Seq)
	}
	ss := *m.prop
	ss.Sigs[peer] = append([]byte(nil), sig...)
	m.adopt(&ss, true, out)
	m.maybeFinal(out)
	return nil
}

// stepAcceptAfterReconnect completes the open from a ChanAccept received
// instead of a ChanReestablish.
func (m *Machine) stepAcceptAfterReconnect(sig []byte) (Output, error) {
	var out Output
	if err := m.completeProposal(sig, &out); err != nil {
		return Output{}, err
	}
	m.link = linkUp
	return out, nil
}

// stepShutdown records the peer's shutdown and answers with ours.
func (m *Machine) stepShutdown(s *wire.ChanShutdown) (Output, error) {
	var out Output
	if err := m.peerShutdown(s.GetUpdatesSent()); err != nil {
		return out, err
	}
	m.shutdownSelf(&out)
	m.maybeFinal(&out)
	return out, nil
}

// peerShutdown records that the peer adds nothing after its update at.
// A shutdown may arrive again after a re-establish; it must not move.
func (m *Machine) peerShutdown(at uint64) error {
	peer := m.me.Other()
	if sd := m.shutdown[peer]; sd.set {
		if sd.at != at {
			return fmt.Errorf("%w: shutdown moved from update %d to %d", ErrUnexpected, sd.at, at)
		}
		return nil
	}
	if at > m.logs[peer].end() {
		return fmt.Errorf("%w: shutdown after update %d, received %d", ErrBadSequence, at, m.logs[peer].end())
	}
	for i := range m.logs[peer].entries {
		if u := &m.logs[peer].entries[i]; u.kind == UpdateAdd && u.index > at {
			return fmt.Errorf("%w: add %d after shutdown at %d", ErrClosing, u.index, at)
		}
	}
	m.shutdown[peer] = shutdownMark{set: true, at: at}
	return nil
}

// stepOpen handles a repeated ChanOpen: the opener never saw our accept
// and has re-sent its open as its re-establish message.
func (m *Machine) stepOpen(o *wire.ChanOpen) (Output, error) {
	var out Output
	if m.me != Acceptor || m.link != linkAwaiting {
		return out, fmt.Errorf("%w: open on an existing channel", ErrUnexpected)
	}
	p, err := ParseOpen(o)
	if err != nil {
		return out, err
	}
	if p.digest() != m.params.digest() {
		return out, fmt.Errorf("%w: open with other terms", ErrUnexpected)
	}
	if m.cur.State.Seq != 0 {
		return out, fmt.Errorf("%w: opener lost states up to %d", ErrUnexpected, m.cur.State.Seq)
	}
	m.link = linkUp
	out.Messages = append(out.Messages, m.acceptMsg())
	m.resume(0, &out)
	return out, nil
}

// stepReestablish reconciles with the peer's latest co-signed state, then
// retransmits whatever the peer lacks: our updates after the ones it holds
// and our pending proposal.
func (m *Machine) stepReestablish(r *wire.ChanReestablish) (Output, error) {
	var out Output
	if m.link != linkAwaiting {
		return out, fmt.Errorf("%w: re-establish without reconnect", ErrUnexpected)
	}
	if !r.HasState || len(r.StateHash) != 32 || len(r.Sig) != ed25519.SignatureSize {
		return out, fmt.Errorf("%w: re-establish without a state", ErrBadMessage)
	}
	var hash Hash
	copy(hash[:], r.StateHash)
	mySeq, haveCur := uint64(0), m.cur != nil
	if haveCur {
		mySeq = m.cur.State.Seq
	}
	var complete bool // the peer holds our proposal countersigned
	switch {
	case !haveCur && r.Seq == 0 || haveCur && r.Seq == mySeq+1:
		if m.prop == nil || m.prop.Hash != hash {
			m.fail(fmt.Errorf("%w: peer at state %d with a hash we never proposed", ErrDiverged, r.Seq), &out)
			return out, nil
		}
		complete = true
	case !haveCur:
		m.fail(fmt.Errorf("%w: peer at state %d before we opened", ErrDiverged, r.Seq), &out)
		return out, nil
	case r.Seq == mySeq:
		if hash != m.cur.Hash {
			m.fail(fmt.Errorf("%w: state %d differs", ErrDiverged, r.Seq), &out)
			return out, nil
		}
	case r.Seq+1 == mySeq:
		if hash != m.cur.State.Prev {
			m.fail(fmt.Errorf("%w: state %d differs", ErrDiverged, r.Seq), &out)
			return out, nil
		}
	default:
		m.fail(fmt.Errorf("%w: peer at state %d, we are at %d", ErrDiverged, r.Seq, mySeq), &out)
		return out, nil
	}
	if complete {
		if err := m.completeProposal(r.Sig, &out); err != nil {
			return Output{}, err
		}
	}
	if r.UpdatesReceived < m.cur.State.Updates[m.me] || r.UpdatesReceived > m.logs[m.me].end() {
		m.fail(fmt.Errorf("%w: peer holds %d of our updates, we sent %d, co-signed %d", ErrDiverged,
			r.UpdatesReceived, m.logs[m.me].end(), m.cur.State.Updates[m.me]), &out)
		return out, nil
	}
	m.link = linkUp
	m.resume(r.UpdatesReceived, &out)
	return out, nil
}

// resume retransmits our updates after the first received, our shutdown
// in its place among them, and our pending proposal.
func (m *Machine) resume(received uint64, out *Output) {
	me := m.me
	sd := m.shutdown[me]
	if sd.set && sd.at <= received {
		m.send(out, m.shutdownMsg())
	}
	for _, u := range m.logs[me].between(received, m.logs[me].end()) {
		m.send(out, u.message(m.id[:]))
		if sd.set && u.index == sd.at {
			m.send(out, m.shutdownMsg())
		}
	}
	if m.prop != nil {
		if m.prop.State.Seq == 0 {
			m.send(out, &wire.ChanMessage{Body: &wire.ChanMessage_Open{Open: m.params.openMsg(m.prop.Sigs[Opener])}})
		} else {
			m.send(out, &wire.ChanMessage{Body: &wire.ChanMessage_Commit{Commit: m.commitMsg()}})
		}
	}
	if m.failed == nil {
		m.maybeFinal(out)
	}
}
