// Package invoice is paymesh's payment request: what to pay (amount,
// payment hash, payment secret), to whom (the payee's node id and optional
// route hints into it), until when, and why (a description), signed by the
// payee. Its text form is a compact, checksummed bech32 string with the
// prefix "pm" that users can paste. The package is pure: time is passed in.
//
// # Text encoding
//
// "pm" + "1" + bech32 data + 6-character bech32 checksum (BIP 173's
// checksum and character set, without its 90-character limit). The data is
// the canonical binary body below followed by the payee's 64-byte Ed25519
// signature over wire.DomainInvoice + body. Integers are big-endian:
//
//	version (1, = 1) | payment hash (32) | payment secret (32) |
//	amount (8; 0 = payer chooses) | created unix ms (8) | expiry ms (8) |
//	payee id length (1) | payee id (libp2p peer id bytes) |
//	description length (2) | description (UTF-8) |
//	hint count (1) | per hint: hop count (1) | per hop:
//	  node id length (1) | node id | short channel id (8) | fee base (8) |
//	  fee ppm (4) | expiry delta ms (4)
package invoice

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paymesh/paymesh/protocol/wire"
)

// Prefix is the human-readable part of every invoice.
const Prefix = "pm"

// Limits on an invoice's fields.
const (
	MaxDescription = 640 // bytes of UTF-8
	MaxHints       = 4
	MaxHintHops    = 4
	MaxNodeID      = 64 // bytes of a peer id
	MaxExpiry      = 30 * 24 * time.Hour
	// MaxTextLen bounds the text form, checked before any decoding work.
	MaxTextLen = 4096
	version    = 1
	sigLen     = 64
)

// Sentinel errors callers branch on.
var (
	ErrMalformed    = errors.New("invoice: malformed")
	ErrBadSignature = errors.New("invoice: bad signature")
	ErrExpired      = errors.New("invoice: expired")
	ErrUnsigned     = errors.New("invoice: not signed")
)

// Hop is one channel of a route hint: a hop from Node through channel
// ShortChannelID towards the payee, with that channel's policy.
type Hop struct {
	Node           peer.ID
	ShortChannelID uint64
	FeeBase        uint64
	FeePPM         uint32
	ExpiryDeltaMS  uint32
}

// Invoice is a signed payment request.
type Invoice struct {
	PaymentHash   [32]byte
	PaymentSecret [32]byte
	// Amount is what the payee asks for; 0 lets the payer choose.
	Amount    uint64
	CreatedAt time.Time // millisecond precision
	Expiry    time.Duration
	Payee     peer.ID
	// Description says what the payment is for.
	Description string
	// RouteHints are private paths into the payee, each ending at it.
	RouteHints [][]Hop
	// Signature is the payee's Ed25519 signature, set by Sign or Decode.
	Signature []byte
}

// ExpiresAt is when the invoice stops being payable.
func (inv *Invoice) ExpiresAt() time.Time { return inv.CreatedAt.Add(inv.Expiry) }

// Expired reports whether the invoice can no longer be paid at now.
func (inv *Invoice) Expired(now time.Time) bool { return !now.Before(inv.ExpiresAt()) }

// Pays reports whether preimage is the preimage of the invoice's payment
// hash.
func (inv *Invoice) Pays(preimage [32]byte) bool {
	return sha256.Sum256(preimage[:]) == inv.PaymentHash
}

// validate checks every bound; it is run before signing and after decoding.
func (inv *Invoice) validate() error {
	if inv.Expiry <= 0 || inv.Expiry > MaxExpiry {
		return fmt.Errorf("%w: expiry %v outside (0, %v]", ErrMalformed, inv.Expiry, MaxExpiry)
	}
	if inv.CreatedAt.UnixMilli() <= 0 {
		return fmt.Errorf("%w: creation time %v", ErrMalformed, inv.CreatedAt)
	}
	if err := checkNodeID(inv.Payee); err != nil {
		return fmt.Errorf("payee: %w", err)
	}
	if len(inv.Description) > MaxDescription || !utf8.ValidString(inv.Description) {
		return fmt.Errorf("%w: description must be valid UTF-8 of at most %d bytes", ErrMalformed, MaxDescription)
	}
	if len(inv.RouteHints) > MaxHints {
		return fmt.Errorf("%w: %d route hints, limit %d", ErrMalformed, len(inv.RouteHints), MaxHints)
	}
	for i, h := range inv.RouteHints {
		if len(h) == 0 || len(h) > MaxHintHops {
			return fmt.Errorf("%w: route hint %d has %d hops (1..%d)", ErrMalformed, i, len(h), MaxHintHops)
		}
		for j, hop := range h {
			if err := checkNodeID(hop.Node); err != nil {
				return fmt.Errorf("route hint %d hop %d: %w", i, j, err)
			}
			if hop.FeePPM > 1_000_000 {
				return fmt.Errorf("%w: route hint %d hop %d: fee ppm %d above 1000000", ErrMalformed, i, j, hop.FeePPM)
			}
		}
	}
	return nil
}

func checkNodeID(id peer.ID) error {
	if len(id) == 0 || len(id) > MaxNodeID {
		return fmt.Errorf("%w: node id of %d bytes", ErrMalformed, len(id))
	}
	if _, err := id.ExtractPublicKey(); err != nil {
		return fmt.Errorf("%w: node id %s carries no public key: %v", ErrMalformed, id, err)
	}
	return nil
}

// body is the canonical encoding the signature covers.
func (inv *Invoice) body() []byte {
	b := make([]byte, 0, 256+len(inv.Description))
	b = append(b, version)
	b = append(b, inv.PaymentHash[:]...)
	b = append(b, inv.PaymentSecret[:]...)
	b = binary.BigEndian.AppendUint64(b, inv.Amount)
	b = binary.BigEndian.AppendUint64(b, uint64(inv.CreatedAt.UnixMilli()))
	b = binary.BigEndian.AppendUint64(b, uint64(inv.Expiry.Milliseconds()))
	b = append(b, byte(len(inv.Payee)))
	b = append(b, inv.Payee...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(inv.Description)))
	b = append(b, inv.Description...)
	b = append(b, byte(len(inv.RouteHints)))
	for _, h := range inv.RouteHints {
		b = append(b, byte(len(h)))
		for _, hop := range h {
			b = append(b, byte(len(hop.Node)))
			b = append(b, hop.Node...)
			b = binary.BigEndian.AppendUint64(b, hop.ShortChannelID)
			b = binary.BigEndian.AppendUint64(b, hop.FeeBase)
			b = binary.BigEndian.AppendUint32(b, hop.FeePPM)
			b = binary.BigEndian.AppendUint32(b, hop.ExpiryDeltaMS)
		}
	}
	return b
}

func signedMessage(body []byte) []byte {
	return append([]byte(wire.DomainInvoice), body...)
}

// Sign validates the invoice and signs it with the payee's identity key,
// which must match Payee.
func (inv *Invoice) Sign(sk crypto.PrivKey) error {
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return fmt.Errorf("invoice: signing key: %w", err)
	}
	if id != inv.Payee {
		return fmt.Errorf("invoice: signing key belongs to %s, payee is %s", id, inv.Payee)
	}
	inv.CreatedAt = time.UnixMilli(inv.CreatedAt.UnixMilli())
	if err := inv.validate(); err != nil {
		return err
	}
	sig, err := sk.Sign(signedMessage(inv.body()))
	if err != nil {
		return fmt.Errorf("invoice: sign: %w", err)
	}
	inv.Signature = sig
	return nil
}

// Encode returns the text form of a signed invoice.
func (inv *Invoice) Encode() (string, error) {
	if len(inv.Signature) != sigLen {
		return "", ErrUnsigned
	}
	if err := inv.validate(); err != nil {
		return "", err
	}
	return bech32Encode(Prefix, append(inv.body(), inv.Signature...)), nil
}

// String returns the text form, or a description of why there is none.
func (inv *Invoice) String() string {
	s, err := inv.Encode()
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return s
}

// Decode parses an invoice's text form and verifies its checksum, bounds and
// signature. It does not check expiry: use Expired with the current time.
func Decode(s string) (*Invoice, error) {
	hrp, data, err := bech32Decode(s, MaxTextLen)
	if err != nil {
		return nil, err
	}
	if hrp != Prefix {
		return nil, fmt.Errorf("%w: prefix %q, want %q", ErrMalformed, hrp, Prefix)
	}
	if len(data) < sigLen {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	body, sig := data[:len(data)-sigLen], data[len(data)-sigLen:]
	inv, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	if err := inv.validate(); err != nil {
		return nil, err
	}
	pk, err := inv.Payee.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: payee key: %v", ErrMalformed, err)
	}
	ok, err := pk.Verify(signedMessage(body), sig)
	if err != nil || !ok {
		return nil, ErrBadSignature
	}
	inv.Signature = bytes.Clone(sig)
	return inv, nil
}

// reader walks a byte slice, recording the first short read.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = fmt.Errorf("%w: truncated", ErrMalformed)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() int {
	if v := r.take(1); v != nil {
		return int(v[0])
	}
	return 0
}

func (r *reader) u16() int {
	if v := r.take(2); v != nil {
		return int(binary.BigEndian.Uint16(v))
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *reader) nodeID() peer.ID {
	n := r.u8()
	if n > MaxNodeID {
		if r.err == nil {
			r.err = fmt.Errorf("%w: node id of %d bytes", ErrMalformed, n)
		}
		return ""
	}
	return peer.ID(r.take(n))
}

func parseBody(b []byte) (*Invoice, error) {
	r := &reader{b: b}
	if v := r.u8(); r.err == nil && v != version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformed, v, version)
	}
	inv := &Invoice{}
	copy(inv.PaymentHash[:], r.take(32))
	copy(inv.PaymentSecret[:], r.take(32))
	inv.Amount = r.u64()
	created := r.u64()
	expiry := r.u64()
	if created > 1<<62 || expiry > uint64(MaxExpiry.Milliseconds()) {
		return nil, fmt.Errorf("%w: time out of range", ErrMalformed)
	}
	inv.CreatedAt = time.UnixMilli(int64(created))
	inv.Expiry = time.Duration(expiry) * time.Millisecond
	inv.Payee = r.nodeID()
	dlen := r.u16()
	if dlen > MaxDescription {
		return nil, fmt.Errorf("%w: description of %d bytes", ErrMalformed, dlen)
	}
	inv.Description = string(r.take(dlen))
	nh := r.u8()
	if nh > MaxHints {
		return nil, fmt.Errorf("%w: %d route hints", ErrMalformed, nh)
	}
	for range nh {
		nhops := r.u8()
		if nhops == 0 || nhops > MaxHintHops {
			return nil, fmt.Errorf("%w: route hint of %d hops", ErrMalformed, nhops)
		}
		hint := make([]Hop, nhops)
		for j := range hint {
			hint[j] = Hop{Node: r.nodeID(), ShortChannelID: r.u64(), FeeBase: r.u64(), FeePPM: r.u32(), ExpiryDeltaMS: r.u32()}
		}
		inv.RouteHints = append(inv.RouteHints, hint)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	return inv, nil
}
