package channel

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/paymesh/paymesh/protocol/wire"
)

// Limits bounds the HTLCs one side may offer; they are agreed at open,
// one set per direction.
type Limits struct {
	MaxPending  uint32 // pending HTLCs offered by the side
	MaxInFlight uint64 // total amount of those HTLCs
	MinHTLC     uint64 // smallest HTLC amount, at least 1
	MaxHTLC     uint64 // largest HTLC amount
	Reserve     uint64 // balance the side must keep after an add
}

func (l Limits) validate() error {
	switch {
	case l.MaxPending == 0:
		return fmt.Errorf("%w: max pending is 0", ErrBadParams)
	case l.MinHTLC == 0:
		return fmt.Errorf("%w: min HTLC is 0", ErrBadParams)
	case l.MaxHTLC < l.MinHTLC:
		return fmt.Errorf("%w: max HTLC %d below min %d", ErrBadParams, l.MaxHTLC, l.MinHTLC)
	case l.MaxInFlight < l.MinHTLC:
		return fmt.Errorf("%w: max in flight %d below min HTLC %d", ErrBadParams, l.MaxInFlight, l.MinHTLC)
	case l.MaxPending > MaxStateHTLCs/2:
		return fmt.Errorf("%w: max pending %d above %d", ErrBadParams, l.MaxPending, MaxStateHTLCs/2)
	}
	return nil
}

// Params are the terms of a channel, fixed at open and bound into the
// opening state (its Prev is the hash of Params).
type Params struct {
	Nonce           [32]byte
	Keys            [2]ed25519.PublicKey // indexed by Side
	OpenerDeposit   uint64
	AcceptorDeposit uint64
	// Push moves part of the opener's deposit to the acceptor at open.
	Push uint64
	// Limits[s] bounds the HTLCs offered by side s.
	Limits [2]Limits
}

// ID returns the channel identifier SHA-256(nonce | opener key | acceptor key).
func (p *Params) ID() ID {
	h := sha256.New()
	h.Write([]byte("paymesh/channel/id/v1\x00"))
	h.Write(p.Nonce[:])
	h.Write(p.Keys[Opener])
	h.Write(p.Keys[Acceptor])
	var id ID
	h.Sum(id[:0])
	return id
}

// Capacity is the sum of both deposits.
func (p *Params) Capacity() uint64 { return p.OpenerDeposit + p.AcceptorDeposit }

// Validate rejects parameters no state machine can run with.
func (p *Params) Validate() error {
	for s := range 2 {
		if len(p.Keys[s]) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: %s key of %d bytes", ErrBadParams, Side(s), len(p.Keys[s]))
		}
		if err := p.Limits[s].validate(); err != nil {
			return fmt.Errorf("%s limits: %w", Side(s), err)
		}
	}
	if string(p.Keys[0]) == string(p.Keys[1]) {
		return fmt.Errorf("%w: both sides have the same key", ErrBadParams)
	}
	if _, ok := add64(p.OpenerDeposit, p.AcceptorDeposit); !ok {
		return fmt.Errorf("%w: capacity overflows", ErrBadParams)
	}
	if p.Capacity() == 0 {
		return fmt.Errorf("%w: zero capacity", ErrBadParams)
	}
	if p.Push > p.OpenerDeposit {
		return fmt.Errorf("%w: push %d above opener deposit %d", ErrBadParams, p.Push, p.OpenerDeposit)
	}
	return nil
}

// digest is the hash of the canonical parameter encoding, the Prev of state 0.
func (p *Params) digest() Hash {
	b := []byte("paymesh/channel/params/v1\x00")
	b = append(b, p.Nonce[:]...)
	b = append(b, p.Keys[0]...)
	b = append(b, p.Keys[1]...)
	b = binary.BigEndian.AppendUint64(b, p.OpenerDeposit)
	b = binary.BigEndian.AppendUint64(b, p.AcceptorDeposit)
	b = binary.BigEndian.AppendUint64(b, p.Push)
	for _, l := range p.Limits {
		b = binary.BigEndian.AppendUint32(b, l.MaxPending)
		b = binary.BigEndian.AppendUint64(b, l.MaxInFlight)
		b = binary.BigEndian.AppendUint64(b, l.MinHTLC)
		b = binary.BigEndian.AppendUint64(b, l.MaxHTLC)
		b = binary.BigEndian.AppendUint64(b, l.Reserve)
	}
	return sha256.Sum256(b)
}

// openingState is state 0: deposits minus push, no HTLCs.
func (p *Params) openingState() *State {
	return &State{
		Channel: p.ID(),
		Balance: [2]uint64{p.OpenerDeposit - p.Push, p.AcceptorDeposit + p.Push},
		Prev:    p.digest(),
	}
}

func limitsMsg(l Limits) *wire.ChanLimits {
	return &wire.ChanLimits{MaxPending: l.MaxPending, MaxInFlight: l.MaxInFlight,
		MinHtlc: l.MinHTLC, MaxHtlc: l.MaxHTLC, Reserve: l.Reserve}
}

func limitsFromMsg(m *wire.ChanLimits) Limits {
	return Limits{MaxPending: m.GetMaxPending(), MaxInFlight: m.GetMaxInFlight(),
		MinHTLC: m.GetMinHtlc(), MaxHTLC: m.GetMaxHtlc(), Reserve: m.GetReserve()}
}

func (p *Params) openMsg(sig []byte) *wire.ChanOpen {
	return &wire.ChanOpen{
		Nonce: p.Nonce[:], OpenerKey: p.Keys[0], AcceptorKey: p.Keys[1],
		OpenerDeposit: p.OpenerDeposit, AcceptorDeposit: p.AcceptorDeposit, Push: p.Push,
		OpenerLimits: limitsMsg(p.Limits[0]), AcceptorLimits: limitsMsg(p.Limits[1]),
		Sig: sig,
	}
}

// ParseOpen extracts and validates the parameters of a ChanOpen, so that
// a node can decide whether to Accept it: the opener proposes the limits
// of both directions, and accepting them is the acceptor's agreement.
func ParseOpen(m *wire.ChanOpen) (Params, error) {
	var p Params
	if m == nil || len(m.Nonce) != 32 || m.OpenerLimits == nil || m.AcceptorLimits == nil {
		return p, fmt.Errorf("%w: incomplete open", ErrBadMessage)
	}
	copy(p.Nonce[:], m.Nonce)
	p.Keys = [2]ed25519.PublicKey{
		ed25519.PublicKey(append([]byte(nil), m.OpenerKey...)),
		ed25519.PublicKey(append([]byte(nil), m.AcceptorKey...)),
	}
	p.OpenerDeposit, p.AcceptorDeposit, p.Push = m.OpenerDeposit, m.AcceptorDeposit, m.Push
	p.Limits = [2]Limits{limitsFromMsg(m.OpenerLimits), limitsFromMsg(m.AcceptorLimits)}
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p, nil
}
