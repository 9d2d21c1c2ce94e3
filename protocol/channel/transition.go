package channel

import (
	"fmt"
	"slices"
)

// nextState builds the state after cur holding the first counts[s]
// updates of each side s. It is a pure function of cur and those
// updates, computed identically by both sides: the opener's updates are
// applied first, then the acceptor's, each in stream order. A fulfill or
// fail may only name an HTLC pending in cur.
func (m *Machine) nextState(counts [2]uint64, final bool) (*State, error) {
	prev := m.cur.State
	st := &State{Channel: prev.Channel, Seq: prev.Seq + 1, Balance: prev.Balance, Updates: counts,
		NextHTLC: prev.NextHTLC, Final: final, Prev: m.cur.Hash}
	var removed []bool // by index in prev.HTLCs
	nRemoved := 0
	var nAdds [2]int
	for s := Side(0); s < 2; s++ {
		if counts[s] < prev.Updates[s] || counts[s] > m.logs[s].end() {
			return nil, fmt.Errorf("%w: %s updates %d outside [%d, %d]", ErrBadSequence, s,
				counts[s], prev.Updates[s], m.logs[s].end())
		}
		us := m.logs[s].between(prev.Updates[s], counts[s])
		for j := range us {
			u := &us[j]
			h := &u.htlc
			switch u.kind {
			case UpdateAdd:
				if h.ID != st.NextHTLC[s] {
					return nil, fmt.Errorf("%w: %s HTLC %d, next is %d", ErrDuplicateHTLC, s, h.ID, st.NextHTLC[s])
				}
				if h.Amount > st.Balance[s] {
					return nil, fmt.Errorf("%w: %s HTLC %d", ErrInsufficientBalance, s, h.ID)
				}
				st.NextHTLC[s]++
				st.Balance[s] -= h.Amount
				nAdds[s]++
			case UpdateFulfill, UpdateFail:
				i := prev.find(s.Other(), h.ID)
				if i < 0 {
					return nil, fmt.Errorf("%w: %s HTLC %d", ErrUnknownHTLC, s.Other(), h.ID)
				}
				if removed == nil {
					removed = make([]bool, len(prev.HTLCs))
				}
				if removed[i] {
					return nil, fmt.Errorf("%w: %s HTLC %d", ErrAlreadyResolved, s.Other(), h.ID)
				}
				removed[i] = true
				nRemoved++
				payee := s // fulfilled: the remover is paid
				if u.kind == UpdateFail {
					payee = s.Other() // failed: refund the offerer
				}
				st.Balance[payee] += prev.HTLCs[i].Amount
			}
		}
	}
	// prev.HTLCs are sorted by (offerer, id), and each side's adds carry
	// ids above its pending ones: keep each side's block, then its adds
	// (taken from the log in a second pass, so that they are copied once,
	// into a list allocated at its final size).
	st.HTLCs = make([]HTLC, 0, len(prev.HTLCs)-nRemoved+nAdds[0]+nAdds[1])
	i := 0
	for s := Side(0); s < 2; s++ {
		for ; i < len(prev.HTLCs) && prev.HTLCs[i].Offerer == s; i++ {
			if removed == nil || !removed[i] {
				st.HTLCs = append(st.HTLCs, prev.HTLCs[i])
			}
		}
		if nAdds[s] == 0 {
			continue
		}
		us := m.logs[s].between(prev.Updates[s], counts[s])
		for j := range us {
			if us[j].kind == UpdateAdd {
				st.HTLCs = append(st.HTLCs, us[j].htlc)
			}
		}
	}
	if final && len(st.HTLCs) > 0 {
		return nil, fmt.Errorf("%w: final state with pending HTLCs", ErrUnexpected)
	}
	if err := m.checkInvariant(st); err != nil {
		return nil, err
	}
	return st, nil
}

// htlcKey identifies an HTLC within a channel.
type htlcKey struct {
	Offerer Side
	ID      uint64
}

// checkInvariant verifies balance_opener + balance_acceptor + Σ pending =
// capacity.
func (m *Machine) checkInvariant(st *State) error {
	if total, ok := st.Total(); !ok || total != m.params.Capacity() {
		return fmt.Errorf("%w: state %d holds %d, capacity %d", ErrCorrupt, st.Seq, total, m.params.Capacity())
	}
	return nil
}

// adopt makes ss the latest co-signed state: persist it (with the peer
// updates it covers that are not persisted yet), report what it settled,
// and drop the updates it covers from the logs.
func (m *Machine) adopt(ss *SignedState, byMe bool, out *Output) {
	peer := m.me.Other()
	st := ss.State
	out.Records = append(out.Records, recState(ss, m.takeRemote(st.Updates[peer])))
	if m.cur == nil {
		out.Events = append(out.Events, Event{Kind: EventOpened, State: ss})
	} else {
		prev := m.cur.State
		covered := m.logs[peer].between(prev.Updates[peer], st.Updates[peer])
		out.Events = slices.Grow(out.Events, len(covered)+2)
		for _, u := range covered {
			switch u.kind {
			case UpdateAdd:
				out.Events = append(out.Events, Event{Kind: EventHTLCAdded, HTLC: u.htlc})
			case UpdateFulfill:
				h := prev.HTLCs[prev.find(m.me, u.htlc.ID)]
				out.Events = append(out.Events, Event{Kind: EventHTLCFulfilled, HTLC: h, Preimage: u.preimage})
			case UpdateFail:
				h := prev.HTLCs[prev.find(m.me, u.htlc.ID)]
				out.Events = append(out.Events, Event{Kind: EventHTLCFailed, HTLC: h, Reason: u.reason})
			}
		}
		out.Events = append(out.Events, Event{Kind: EventCoSigned, State: ss})
	}
	m.cur, m.curByMe, m.prop = ss, byMe, nil
	m.propSigning.of, m.propSigning.b = nil, nil
	m.trimLogs()
	if st.Final {
		out.Events = append(out.Events, Event{Kind: EventClosed, State: ss})
	}
}

// trimLogs drops the updates covered by cur and recomputes the flows and
// the pending totals.
func (m *Machine) trimLogs() {
	m.curPending = [2]struct{ n, amount uint64 }{}
	for _, h := range m.cur.State.HTLCs {
		m.curPending[h.Offerer].n++
		m.curPending[h.Offerer].amount += h.Amount
	}
	for s := range 2 {
		m.logs[s].trim(m.cur.State.Updates[s])
		// The removal set is cleared rather than reallocated: a busy
		// channel refills it with as many removals every state.
		removed := m.flows[s].removed
		clear(removed)
		m.flows[s] = flow{nextID: m.cur.State.NextHTLC[s], removed: removed}
		for i := range m.logs[s].entries {
			m.flows[s].apply(&m.logs[s].entries[i])
		}
	}
}
