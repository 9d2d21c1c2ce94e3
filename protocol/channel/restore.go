package channel

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/paymesh/paymesh/protocol/wire"
)

// Snapshot returns one record that replaces every record persisted so far:
// the latest co-signed state with its onions, the pending proposal, and
// the updates not yet co-signed. Write it, then drop the earlier records
// (atomically); Restore accepts it as the first record.
func (m *Machine) Snapshot() Record {
	peer := m.me.Other()
	s := &wire.ChanRecordSnapshot{Open: m.params.openMsg(nil)}
	if m.cur != nil {
		s.State = m.cur.State.Encode()
		s.OpenerSig, s.AcceptorSig = m.cur.Sigs[0], m.cur.Sigs[1]
		s.Onions = make([][]byte, len(m.cur.State.HTLCs))
		for i := range m.cur.State.HTLCs {
			s.Onions[i] = m.cur.State.HTLCs[i].Onion
		}
	}
	if m.prop != nil {
		s.Proposal = stateRecordPB(m.prop)
	}
	for i := range m.logs[m.me].entries {
		s.OwnUpdates = append(s.OwnUpdates, m.logs[m.me].entries[i].toWire())
	}
	for _, u := range m.logs[peer].between(m.logs[peer].base, m.persistR) {
		s.RemoteUpdates = append(s.RemoteUpdates, u.toWire())
	}
	if sd := m.shutdown[m.me]; sd.set {
		s.Shutdown = &wire.ChanShutdown{UpdatesSent: sd.at}
	}
	if m.failed != nil {
		s.Failed = truncate(m.failed.Error())
	}
	return Record{&wire.ChanRecord{Body: &wire.ChanRecord_Snapshot{Snapshot: s}}}
}

// Restore rebuilds a machine from its durable log: an open record or a
// snapshot, then the records appended after it, in order. It recomputes
// every state from the updates and verifies each hash and signature, so it
// doubles as the audit of a channel's log: an error names the first bad
// record. The restored machine's link is down: call Reconnect once a
// stream to the peer is up.
func Restore(cfg Config, records []Record) (*Machine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if len(records) == 0 {
		return nil, fmt.Errorf("%w: no records", ErrCorrupt)
	}
	var m *Machine
	for i, r := range records {
		var err error
		switch b := r.pb.GetBody().(type) {
		case *wire.ChanRecord_Open:
			if i == 0 {
				m, err = restoreOpen(cfg, b.Open)
			} else {
				err = fmt.Errorf("%w: open record after the first", ErrCorrupt)
			}
		case *wire.ChanRecord_Snapshot:
			if i == 0 {
				m, err = restoreSnapshot(cfg, b.Snapshot)
			} else {
				err = fmt.Errorf("%w: snapshot record after the first", ErrCorrupt)
			}
		default:
			if m == nil {
				err = fmt.Errorf("%w: log does not start with open or snapshot", ErrCorrupt)
			} else {
				err = m.replay(r)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("record %d (%s): %w", i, r.Kind(), err)
		}
	}
	if m.cur != nil {
		m.trimLogs()
	}
	m.link = linkDown
	return m, nil
}

func restoreParams(cfg Config, o *wire.ChanOpen) (*Machine, error) {
	p, err := ParseOpen(o)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	pub := cfg.Key.Public().(ed25519.PublicKey)
	switch {
	case bytes.Equal(pub, p.Keys[Opener]):
		return newMachine(cfg, p, Opener), nil
	case bytes.Equal(pub, p.Keys[Acceptor]):
		return newMachine(cfg, p, Acceptor), nil
	}
	return nil, fmt.Errorf("%w: signing key is not a party of the channel", ErrBadParams)
}

func restoreOpen(cfg Config, o *wire.ChanOpen) (*Machine, error) {
	m, err := restoreParams(cfg, o)
	if err != nil {
		return nil, err
	}
	if m.me == Opener {
		// The opener's proposal of state 0 travels in ChanOpen.
		return m, m.restoreProposal0(o.Sig)
	}
	return m, nil
}

func (m *Machine) restoreProposal0(sig []byte) error {
	ss := m.signed(m.params.openingState())
	if !bytes.Equal(ss.Sigs[m.me], sig) {
		return fmt.Errorf("%w: own signature on state 0", ErrBadSignature)
	}
	m.prop = ss
	return nil
}

func restoreSnapshot(cfg Config, s *wire.ChanRecordSnapshot) (*Machine, error) {
	m, err := restoreParams(cfg, s.Open)
	if err != nil {
		return nil, err
	}
	peer := m.me.Other()
	if len(s.State) > 0 {
		st, err := DecodeState(s.State)
		if err != nil {
			return nil, err
		}
		if st.Channel != m.id || len(s.Onions) != len(st.HTLCs) {
			return nil, fmt.Errorf("%w: snapshot state of another channel or onions missing", ErrCorrupt)
		}
		for i := range st.HTLCs {
			if onionHash(s.Onions[i]) != st.HTLCs[i].OnionHash {
				return nil, fmt.Errorf("%w: onion of HTLC %d", ErrCorrupt, st.HTLCs[i].ID)
			}
			st.HTLCs[i].Onion = s.Onions[i]
		}
		if err := m.checkInvariant(st); err != nil {
			return nil, err
		}
		ss := &SignedState{State: st, Hash: sha256.Sum256(s.State), Sigs: [2][]byte{s.OpenerSig, s.AcceptorSig}}
		if err := ss.Verify(m.params.Keys); err != nil {
			return nil, err
		}
		m.cur = ss
		m.logs[0].base, m.logs[1].base = st.Updates[0], st.Updates[1]
	}
	if err := m.appendRecorded(m.me, s.OwnUpdates); err != nil {
		return nil, err
	}
	if err := m.appendRecorded(peer, s.RemoteUpdates); err != nil {
		return nil, err
	}
	m.persistR = m.logs[peer].end()
	if s.Proposal != nil {
		if err := m.replayState(s.Proposal); err != nil {
			return nil, err
		}
	} else if m.cur == nil {
		return nil, fmt.Errorf("%w: snapshot with neither state nor proposal", ErrCorrupt)
	}
	if s.Shutdown != nil {
		m.shutdown[m.me] = shutdownMark{set: true, at: s.Shutdown.UpdatesSent}
	}
	if s.Failed != "" {
		m.failed = errors.New(s.Failed)
	}
	return m, nil
}

// appendRecorded appends stored updates sent by side to its log.
func (m *Machine) appendRecorded(side Side, us []*wire.ChanUpdate) error {
	for _, w := range us {
		u, err := updateFromRecord(side, w)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		if u.index != m.logs[side].end()+1 {
			return fmt.Errorf("%w: %s update %d after %d", ErrCorrupt, side, u.index, m.logs[side].end())
		}
		m.logs[side].entries = append(m.logs[side].entries, u)
	}
	return nil
}

// replay applies one record after the first.
func (m *Machine) replay(r Record) error {
	switch b := r.pb.GetBody().(type) {
	case *wire.ChanRecord_Update:
		return m.appendRecorded(m.me, []*wire.ChanUpdate{b.Update})
	case *wire.ChanRecord_State:
		peer := m.me.Other()
		if err := m.appendRecorded(peer, b.State.RemoteUpdates); err != nil {
			return err
		}
		m.persistR = m.logs[peer].end()
		return m.replayState(b.State)
	case *wire.ChanRecord_Shutdown:
		m.shutdown[m.me] = shutdownMark{set: true, at: b.Shutdown.GetUpdatesSent()}
		return nil
	case *wire.ChanRecord_Failed:
		m.failed = errors.New(b.Failed.GetReason())
		return nil
	}
	return fmt.Errorf("%w: unknown record", ErrCorrupt)
}

// replayState recomputes a recorded state, checks it against the record's
// hash and signatures, and makes it the proposal or the co-signed state.
func (m *Machine) replayState(r *wire.ChanRecordState) error {
	var st *State
	switch {
	case r.Seq == 0 && m.cur == nil:
		st = m.params.openingState()
	case m.cur != nil && r.Seq == m.cur.State.Seq+1:
		var err error
		if st, err = m.nextState([2]uint64{r.OpenerUpdates, r.AcceptorUpdates}, r.Final); err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	default:
		return fmt.Errorf("%w: state %d out of order", ErrCorrupt, r.Seq)
	}
	ss := &SignedState{State: st, Hash: st.Hash(), Sigs: [2][]byte{r.OpenerSig, r.AcceptorSig}}
	if !bytes.Equal(ss.Hash[:], r.StateHash) {
		return fmt.Errorf("%w: state %d", ErrStateMismatch, r.Seq)
	}
	if len(r.OpenerSig) > 0 && len(r.AcceptorSig) > 0 {
		if err := ss.Verify(m.params.Keys); err != nil {
			return err
		}
		byMe := m.prop != nil && m.prop.Hash == ss.Hash
		m.cur, m.curByMe, m.prop = ss, byMe, nil
		m.trimLogs()
		return nil
	}
	if !VerifyState(m.params.Keys[m.me], st, ss.Sigs[m.me]) {
		return fmt.Errorf("%w: own signature on proposal %d", ErrBadSignature, r.Seq)
	}
	m.prop = ss
	return nil
}
