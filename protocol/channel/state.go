package channel

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/paymesh/paymesh/protocol/wire"
)

// Side names a party of a channel.
type Side uint8

const (
	// Opener is the party that proposed the channel.
	Opener Side = 0
	// Acceptor is the party that accepted it.
	Acceptor Side = 1
)

// Other returns the other party.
func (s Side) Other() Side { return 1 - s }

func (s Side) String() string {
	if s == Opener {
		return "opener"
	}
	return "acceptor"
}

// ID identifies a channel: SHA-256 over the opener's nonce and both keys.
type ID [32]byte

// ShortID is the big-endian value of the first 8 bytes, used by routing.
func (id ID) ShortID() uint64 { return binary.BigEndian.Uint64(id[:8]) }

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Hash is a SHA-256 digest.
type Hash [32]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// HTLC is a hash- and time-locked pending payment. Offerer pays Amount to
// the other side if it reveals a preimage of PaymentHash before Expiry.
type HTLC struct {
	Offerer     Side
	ID          uint64 // numbered by the offerer from 0
	Amount      uint64
	PaymentHash Hash
	Expiry      int64 // unix milliseconds
	OnionHash   Hash  // SHA-256 of Onion
	// Onion is the routing packet; it is not part of the signed state
	// (only its hash is) and may be nil in states decoded from bytes.
	Onion []byte
}

// State is one channel state. The states of a channel form a hash chain:
// Prev is the hash of the previous state (of the channel parameters for
// state 0). States are immutable once built.
type State struct {
	Channel ID
	Seq     uint64
	Balance [2]uint64 // indexed by Side
	// Updates counts each side's updates included since the channel opened.
	Updates [2]uint64
	// NextHTLC is each side's next HTLC id.
	NextHTLC [2]uint64
	// Final marks the closing state of a cooperative close.
	Final bool
	Prev  Hash
	// HTLCs are the pending HTLCs sorted by (Offerer, ID).
	HTLCs []HTLC
}

const (
	stateHeaderLen = 32 + 8 + 2*8 + 2*8 + 2*8 + 1 + 32 + 4
	htlcLen        = 1 + 8 + 8 + 32 + 8 + 32
	// MaxStateHTLCs bounds the pending HTLCs a decoded state may hold.
	MaxStateHTLCs = 1 << 16
)

// Encode returns the canonical encoding of s, the bytes that signatures
// cover (after wire.DomainChannelState). All integers are big-endian:
//
//	channel id (32) | seq (8) | balance opener (8) | balance acceptor (8) |
//	updates opener (8) | updates acceptor (8) | next htlc opener (8) |
//	next htlc acceptor (8) | final (1: 0 or 1) | prev hash (32) |
//	htlc count (4) | per HTLC in (offerer, id) order: offerer (1) | id (8) |
//	amount (8) | payment hash (32) | expiry unix ms (8, two's complement) |
//	onion hash (32)
func (s *State) Encode() []byte {
	return s.appendEncoding(make([]byte, 0, stateHeaderLen+htlcLen*len(s.HTLCs)))
}

// appendEncoding appends the canonical encoding of s to b.
func (s *State) appendEncoding(b []byte) []byte {
	b = append(b, s.Channel[:]...)
	b = binary.BigEndian.AppendUint64(b, s.Seq)
	b = binary.BigEndian.AppendUint64(b, s.Balance[0])
	b = binary.BigEndian.AppendUint64(b, s.Balance[1])
	b = binary.BigEndian.AppendUint64(b, s.Updates[0])
	b = binary.BigEndian.AppendUint64(b, s.Updates[1])
	b = binary.BigEndian.AppendUint64(b, s.NextHTLC[0])
	b = binary.BigEndian.AppendUint64(b, s.NextHTLC[1])
	if s.Final {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = append(b, s.Prev[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.HTLCs)))
	for i := range s.HTLCs {
		h := &s.HTLCs[i]
		b = append(b, byte(h.Offerer))
		b = binary.BigEndian.AppendUint64(b, h.ID)
		b = binary.BigEndian.AppendUint64(b, h.Amount)
		b = append(b, h.PaymentHash[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(h.Expiry))
		b = append(b, h.OnionHash[:]...)
	}
	return b
}

// DecodeState parses a canonical encoding. It accepts exactly the outputs
// of Encode for well-formed states: HTLCs strictly sorted, sides and flags
// in range, nothing trailing.
func DecodeState(b []byte) (*State, error) {
	if len(b) < stateHeaderLen {
		return nil, fmt.Errorf("%w: state of %d bytes", ErrBadMessage, len(b))
	}
	s := &State{}
	copy(s.Channel[:], b)
	p := 32
	u64 := func() uint64 { v := binary.BigEndian.Uint64(b[p:]); p += 8; return v }
	s.Seq = u64()
	s.Balance[0], s.Balance[1] = u64(), u64()
	s.Updates[0], s.Updates[1] = u64(), u64()
	s.NextHTLC[0], s.NextHTLC[1] = u64(), u64()
	switch b[p] {
	case 0:
	case 1:
		s.Final = true
	default:
		return nil, fmt.Errorf("%w: final flag %d", ErrBadMessage, b[p])
	}
	p++
	copy(s.Prev[:], b[p:])
	p += 32
	n := binary.BigEndian.Uint32(b[p:])
	p += 4
	if n > MaxStateHTLCs || uint64(len(b)-p) != uint64(n)*htlcLen {
		return nil, fmt.Errorf("%w: %d HTLCs in %d bytes", ErrBadMessage, n, len(b)-p)
	}
	s.HTLCs = make([]HTLC, n)
	for i := range s.HTLCs {
		h := &s.HTLCs[i]
		if b[p] > 1 {
			return nil, fmt.Errorf("%w: HTLC side %d", ErrBadMessage, b[p])
		}
		h.Offerer = Side(b[p])
		p++
		h.ID = u64()
		h.Amount = u64()
		copy(h.PaymentHash[:], b[p:])
		p += 32
		h.Expiry = int64(u64())
		copy(h.OnionHash[:], b[p:])
		p += 32
		if i > 0 && !htlcLess(&s.HTLCs[i-1], h) {
			return nil, fmt.Errorf("%w: HTLCs not strictly sorted", ErrBadMessage)
		}
	}
	return s, nil
}

func htlcLess(a, b *HTLC) bool {
	if a.Offerer != b.Offerer {
		return a.Offerer < b.Offerer
	}
	return a.ID < b.ID
}

// Hash returns SHA-256 of the canonical encoding.
func (s *State) Hash() Hash { return sha256.Sum256(s.Encode()) }

// Pending returns the number and total amount of pending HTLCs offered by side.
func (s *State) Pending(side Side) (n int, amount uint64) {
	for i := range s.HTLCs {
		if s.HTLCs[i].Offerer == side {
			n++
			amount += s.HTLCs[i].Amount
		}
	}
	return n, amount
}

// Total returns balance of both sides plus all pending amounts. It reports
// false on overflow.
func (s *State) Total() (uint64, bool) {
	t := s.Balance[0]
	var ok bool
	if t, ok = add64(t, s.Balance[1]); !ok {
		return 0, false
	}
	for i := range s.HTLCs {
		if t, ok = add64(t, s.HTLCs[i].Amount); !ok {
			return 0, false
		}
	}
	return t, true
}

// find returns the index of HTLC (offerer, id) in s.HTLCs, or -1.
func (s *State) find(offerer Side, id uint64) int {
	key := HTLC{Offerer: offerer, ID: id}
	i := sort.Search(len(s.HTLCs), func(i int) bool { return !htlcLess(&s.HTLCs[i], &key) })
	if i < len(s.HTLCs) && s.HTLCs[i].Offerer == offerer && s.HTLCs[i].ID == id {
		return i
	}
	return -1
}

// signing returns what a party signs for s (the domain prefix, then the
// canonical encoding) and the state's hash, in one buffer.
func (s *State) signing() ([]byte, Hash) {
	d := len(wire.DomainChannelState)
	b := make([]byte, 0, d+stateHeaderLen+htlcLen*len(s.HTLCs))
	b = append(b, wire.DomainChannelState...)
	b = s.appendEncoding(b)
	return b, sha256.Sum256(b[d:])
}

// signingBytes is what a party signs for a state.
func signingBytes(enc []byte) []byte {
	msg := make([]byte, 0, len(wire.DomainChannelState)+len(enc))
	msg = append(msg, wire.DomainChannelState...)
	return append(msg, enc...)
}

// SignState signs the canonical encoding of s under DomainChannelState.
func SignState(key ed25519.PrivateKey, s *State) []byte {
	return ed25519.Sign(key, signingBytes(s.Encode()))
}

// VerifyState checks sig by pub over s.
func VerifyState(pub ed25519.PublicKey, s *State, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && len(sig) == ed25519.SignatureSize &&
		ed25519.Verify(pub, signingBytes(s.Encode()), sig)
}

// SignedState is a state with both parties' signatures: the unit the
// channel's audit log is made of.
type SignedState struct {
	State *State
	Hash  Hash
	Sigs  [2][]byte // indexed by Side
}

// Verify checks both signatures against the parties' keys.
func (ss *SignedState) Verify(keys [2]ed25519.PublicKey) error {
	enc := signingBytes(ss.State.Encode())
	if sha256.Sum256(enc[len(wire.DomainChannelState):]) != ss.Hash {
		return fmt.Errorf("%w: hash of state %d", ErrStateMismatch, ss.State.Seq)
	}
	for side := range 2 {
		if len(keys[side]) != ed25519.PublicKeySize || len(ss.Sigs[side]) != ed25519.SignatureSize ||
			!ed25519.Verify(keys[side], enc, ss.Sigs[side]) {
			return fmt.Errorf("%w: %s on state %d", ErrBadSignature, Side(side), ss.State.Seq)
		}
	}
	return nil
}

func add64(a, b uint64) (uint64, bool) {
	s := a + b
	return s, s >= a
}
