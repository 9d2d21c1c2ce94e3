package onion

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Payment streams: many small payments to one payee over one route.
//
// The first payment of a stream is an ordinary Sphinx payment whose hop
// payloads also carry a TypeStreamHop record (intermediate hops: the next
// hop's stream id and the fee and expiry delta the payer will pay) or a
// TypeStreamKey record (the payee: the stream key). Each hop derives its
// own stream id from its Sphinx shared secret (StreamIDOf), so ids differ
// from hop to hop and only the payer knows them all, and remembers the
// stream: where payments come from, where they go, at what fee, and the
// shared secret it wraps failures with.
//
// Every later payment carries a StreamPacket instead of an onion: 50 bytes,
// no public-key operation anywhere. A hop finds its stream by id, forwards
// the largest amount its fee leaves (ForwardAmount), lowers the expiry by
// the delta and rewrites the id for the next hop. The payee derives the
// payment's preimage from the stream key and the sequence number
// (StreamPreimage), checks that it matches the HTLC's hash, that the tag
// (which only the payer and payee can compute) covers the sequence, amount
// and hash, and that at least the tagged amount arrived.
//
// Layout of a StreamPacket:
//
//	0      kind  'S' (0x53): a Sphinx packet's first byte is its version, 0
//	1      version 1
//	2:18   stream id at the receiving hop
//	18:26  sequence number (u64, big endian; 0 is the setup payment)
//	26:34  amount the payee must receive (u64)
//	34:50  tag: HMAC-SHA256(stream key, "paymesh/stream/tag" || payee's
//	       stream id || seq || amount || payment hash), first 16 bytes

// Sizes of stream fields.
const (
	// StreamIDSize is the size of a hop's stream id.
	StreamIDSize = 16
	// StreamTagSize is the size of a stream packet's tag.
	StreamTagSize = 16
	// StreamPacketSize is the size of an encoded StreamPacket.
	StreamPacketSize = 2 + StreamIDSize + 8 + 8 + StreamTagSize
)

const (
	streamKind    byte = 'S'
	streamVersion byte = 1
)

// Errors of stream packets.
var (
	// ErrNotStream means the bytes are not a stream packet (they may be a
	// Sphinx packet).
	ErrNotStream = errors.New("onion: not a stream packet")
	// ErrStreamPacket means a stream packet is malformed.
	ErrStreamPacket = errors.New("onion: malformed stream packet")
)

// StreamID identifies a stream at one hop.
type StreamID [StreamIDSize]byte

// String returns the id in hex.
func (id StreamID) String() string { return fmt.Sprintf("%x", id[:]) }

// StreamIDOf derives a hop's stream id from its shared secret with the
// payer: HMAC-SHA256 keyed with "stream" over the secret, as BOLT 4 derives
// its other per-hop keys, first 16 bytes.
func StreamIDOf(ss SharedSecret) StreamID {
	k := generateKey([]byte("stream"), ss[:])
	return StreamID(k[:StreamIDSize])
}

// StreamHop is the TypeStreamHop record: what an intermediate hop needs to
// forward a stream's later payments.
type StreamHop struct {
	// Next is the next hop's stream id.
	Next StreamID
	// FeeBase and FeePPM are the fee the payer pays this hop per payment;
	// the hop refuses the stream if they are below its policy.
	FeeBase, FeePPM uint32
	// ExpiryDelta (ms) is what the hop subtracts from each payment's
	// expiry; the hop refuses the stream if it is below its policy.
	ExpiryDelta uint32
}

func (h *StreamHop) encode() []byte {
	b := make([]byte, 0, StreamHopSize)
	b = append(b, h.Next[:]...)
	b = binary.BigEndian.AppendUint32(b, h.FeeBase)
	b = binary.BigEndian.AppendUint32(b, h.FeePPM)
	return binary.BigEndian.AppendUint32(b, h.ExpiryDelta)
}

func decodeStreamHop(b []byte) *StreamHop {
	h := new(StreamHop)
	copy(h.Next[:], b)
	b = b[StreamIDSize:]
	h.FeeBase = binary.BigEndian.Uint32(b)
	h.FeePPM = binary.BigEndian.Uint32(b[4:])
	h.ExpiryDelta = binary.BigEndian.Uint32(b[8:])
	return h
}

// StreamPacket is what a stream's later payments carry in place of an onion.
type StreamPacket struct {
	// ID is the stream id at the hop receiving the packet.
	ID StreamID
	// Seq numbers the stream's payments; each is used once.
	Seq uint64
	// Amount is what the payee must receive at least.
	Amount uint64
	// Tag authenticates Seq, Amount and the payment hash to the payee.
	Tag [StreamTagSize]byte
}

// IsStreamPacket reports whether an HTLC's onion field holds a stream
// packet (by its kind byte) rather than a Sphinx packet.
func IsStreamPacket(b []byte) bool { return len(b) > 0 && b[0] == streamKind }

// Encode returns the packet's wire bytes.
func (p *StreamPacket) Encode() []byte {
	b := make([]byte, 0, StreamPacketSize)
	b = append(b, streamKind, streamVersion)
	b = append(b, p.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, p.Seq)
	b = binary.BigEndian.AppendUint64(b, p.Amount)
	return append(b, p.Tag[:]...)
}

// DecodeStreamPacket parses a stream packet: exactly StreamPacketSize
// bytes of kind 'S' and version 1.
func DecodeStreamPacket(b []byte) (*StreamPacket, error) {
	if !IsStreamPacket(b) {
		return nil, ErrNotStream
	}
	if len(b) != StreamPacketSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrStreamPacket, len(b), StreamPacketSize)
	}
	if b[1] != streamVersion {
		return nil, fmt.Errorf("%w: version %d", ErrStreamPacket, b[1])
	}
	p := new(StreamPacket)
	copy(p.ID[:], b[2:])
	p.Seq = binary.BigEndian.Uint64(b[2+StreamIDSize:])
	p.Amount = binary.BigEndian.Uint64(b[10+StreamIDSize:])
	copy(p.Tag[:], b[18+StreamIDSize:])
	return p, nil
}

// StreamPreimage derives payment seq's preimage from the stream key:
// HMAC-SHA256(key, "paymesh/stream/preimage" || seq).
func StreamPreimage(key [32]byte, seq uint64) [32]byte {
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte("paymesh/stream/preimage"))
	m.Write(binary.BigEndian.AppendUint64(nil, seq))
	return [32]byte(m.Sum(nil))
}

// StreamTag computes a packet's tag for the payee whose stream id is id.
func StreamTag(key [32]byte, id StreamID, seq, amount uint64, hash [32]byte) [StreamTagSize]byte {
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte("paymesh/stream/tag"))
	m.Write(id[:])
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], seq)
	binary.BigEndian.PutUint64(b[8:], amount)
	m.Write(b[:])
	m.Write(hash[:])
	return [StreamTagSize]byte(m.Sum(nil))
}

// CheckStreamTag reports whether p's tag is right for the payee's stream id
// and key and the HTLC's payment hash (in constant time).
func CheckStreamTag(key [32]byte, p *StreamPacket, hash [32]byte) bool {
	want := StreamTag(key, p.ID, p.Seq, p.Amount, hash)
	return hmac.Equal(want[:], p.Tag[:])
}

// StreamFee is the fee a stream hop keeps for forwarding amount:
// base + floor(amount*ppm/1e6), computed in 128 bits and saturating.
func StreamFee(base, ppm uint32, amount uint64) uint64 {
	hi, lo := bits.Mul64(amount, uint64(ppm))
	if hi >= 1_000_000 {
		return math.MaxUint64
	}
	prop, _ := bits.Div64(hi, lo, 1_000_000)
	if prop > math.MaxUint64-uint64(base) {
		return math.MaxUint64
	}
	return prop + uint64(base)
}

// ForwardAmount returns the amount a stream hop forwards for an incoming
// amount in: the largest x with x + StreamFee(base, ppm, x) <= in. Since
// x + fee(x) grows strictly with x, a payer that computes each hop's
// incoming amount as out + fee(out) makes the hop forward exactly out. ok
// is false when in does not even cover the fee of forwarding 1.
func ForwardAmount(in uint64, base, ppm uint32) (x uint64, ok bool) {
	cost := func(x uint64) (uint64, bool) {
		f := StreamFee(base, ppm, x)
		s, carry := bits.Add64(x, f, 0)
		return s, carry == 0 && f != math.MaxUint64
	}
	if c, ok := cost(1); !ok || c > in {
		return 0, false
	}
	if in <= uint64(base) {
		return 0, false
	}
	// Estimate from the real-valued solution, then correct by steps: the
	// floor in the fee makes the estimate off by at most a couple of units.
	hi, lo := bits.Mul64(in-uint64(base), 1_000_000)
	x, _ = bits.Div64(hi, lo, 1_000_000+uint64(ppm))
	if x == 0 {
		x = 1
	}
	for {
		c, ok := cost(x)
		if ok && c <= in {
			break
		}
		x--
	}
	for {
		c, ok := cost(x + 1)
		if !ok || c > in {
			return x, true
		}
		x++
	}
}
