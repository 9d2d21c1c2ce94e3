package onion

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"golang.org/x/crypto/chacha20"
)

// Sizes of a version 0 onion packet (BOLT 4 "Packet Structure").
const (
	// Version is the only packet version this package builds and accepts.
	Version = 0
	// PubKeySize is the size of a compressed secp256k1 point.
	PubKeySize = 33
	// RoutingInfoSize is the size of the obfuscated hop_payloads field.
	RoutingInfoSize = 1300
	// HMACSize is the size of every HMAC-SHA256 in the packet.
	HMACSize = 32
	// PacketSize is the size of an encoded packet: version, ephemeral key,
	// hop_payloads and HMAC.
	PacketSize = 1 + PubKeySize + RoutingInfoSize + HMACSize
	// MaxHops is the longest route a packet may carry. BOLT 4 derives 27 as
	// the maximum route length with TLV payloads; the 1300-byte routing info
	// bounds it anyway.
	MaxHops = 27
	// MinPayloadSize is the smallest hop payload: BOLT 4 reserves lengths 0
	// (the retired legacy format) and 1, since a TLV record takes 2 bytes.
	MinPayloadSize = 2
)

// Sentinel errors for packets that must be refused. The first three are the
// BADONION failures: a forwarding node answers them with the matching
// failure code (see BadOnionCode) and the SHA-256 of the onion it received.
var (
	// ErrInvalidVersion means the version byte is not 0.
	ErrInvalidVersion = errors.New("onion: unknown packet version")
	// ErrInvalidKey means the ephemeral public key is not a valid point.
	ErrInvalidKey = errors.New("onion: invalid ephemeral public key")
	// ErrInvalidHMAC means the packet's HMAC does not authenticate its
	// routing info and associated data for this node: a forged, corrupted or
	// misdirected packet.
	ErrInvalidHMAC = errors.New("onion: hmac mismatch")
	// ErrPacketSize means an encoded packet is not PacketSize bytes long.
	ErrPacketSize = errors.New("onion: wrong packet size")
	// ErrInvalidPayload means the packet authenticated but this hop's
	// payload length is reserved (0 or 1) or runs past the routing info.
	// BOLT 4 answers it with invalid_onion_payload.
	ErrInvalidPayload = errors.New("onion: invalid hop payload length")
	// ErrRoute means NewPacket was asked for an impossible route: no hops,
	// too many, a nil key, or payloads too large for the routing info.
	ErrRoute = errors.New("onion: invalid route")
)

// SharedSecret is the 32-byte secret a hop shares with the origin: the SHA-256
// of the compressed ECDH point. It keys the hop's rho, mu, um and ammag keys.
type SharedSecret [32]byte

// ReplayKey is what a node records in its replay log for a processed packet.
// It is SHA-256 of the shared secret, which is unique per packet and per node
// (a fresh ephemeral key per route), so a node seeing the same key twice is
// seeing a replayed packet, and the log never stores the secret itself. BOLT 4
// lets the log be forgotten once the HTLC's expiry has passed.
func (s SharedSecret) ReplayKey() [32]byte {
	return sha256.Sum256(s[:])
}

// Packet is a version 0 Sphinx onion packet.
type Packet struct {
	// Version is the packet version; only 0 is defined.
	Version byte
	// EphemeralKey is the compressed public key the receiving hop runs ECDH
	// with. It is kept as bytes so that a packet with a bad key still decodes
	// and can be refused (with ErrInvalidKey) by Peel.
	EphemeralKey [PubKeySize]byte
	// RoutingInfo is the obfuscated hop_payloads field.
	RoutingInfo [RoutingInfoSize]byte
	// HMAC authenticates RoutingInfo and the associated data for the
	// receiving hop.
	HMAC [HMACSize]byte
}

// Hop is one hop of a route as the origin sees it.
type Hop struct {
	// PubKey is the hop's onion key (announced in its node announcement).
	PubKey *secp256k1.PublicKey
	// Payload is the hop's TLV payload, without its length prefix (see
	// HopPayload.Encode). It must be at least MinPayloadSize bytes.
	Payload []byte
}

// Encode serializes the packet into its PacketSize-byte wire form.
func (p *Packet) Encode() []byte {
	b := make([]byte, 0, PacketSize)
	b = append(b, p.Version)
	b = append(b, p.EphemeralKey[:]...)
	b = append(b, p.RoutingInfo[:]...)
	return append(b, p.HMAC[:]...)
}

// Decode parses a PacketSize-byte wire packet into p. It checks only the size;
// the version, key and HMAC are checked by Peel, which knows the node's key.
func (p *Packet) Decode(b []byte) error {
	if len(b) != PacketSize {
		return fmt.Errorf("%d bytes, want %d: %w", len(b), PacketSize, ErrPacketSize)
	}
	p.Version = b[0]
	copy(p.EphemeralKey[:], b[1:1+PubKeySize])
	copy(p.RoutingInfo[:], b[1+PubKeySize:1+PubKeySize+RoutingInfoSize])
	copy(p.HMAC[:], b[1+PubKeySize+RoutingInfoSize:])
	return nil
}

// DecodePacket parses a wire packet (see Packet.Decode).
func DecodePacket(b []byte) (*Packet, error) {
	p := new(Packet)
	if err := p.Decode(b); err != nil {
		return nil, err
	}
	return p, nil
}

// Key types of BOLT 4 "Key Generation"; ammag is the error obfuscation key.
var (
	keyRho   = []byte("rho")
	keyMu    = []byte("mu")
	keyUm    = []byte("um")
	keyPad   = []byte("pad")
	keyAmmag = []byte("ammag")
)

// generateKey derives a key of the given type: HMAC-SHA256 keyed by the type
// name over the 32-byte secret.
func generateKey(keyType []byte, secret []byte) [32]byte {
	m := hmac.New(sha256.New, keyType)
	m.Write(secret)
	var k [32]byte
	m.Sum(k[:0])
	return k
}

var zeroNonce [12]byte

// xorStream XORs dst with the ChaCha20 stream of key (zero nonce, counter 0),
// which is BOLT 4's pseudo-random byte stream applied to dst.
func xorStream(key [32]byte, dst []byte) {
	c, err := chacha20.NewUnauthenticatedCipher(key[:], zeroNonce[:])
	if err != nil {
		// Unreachable: key and nonce have fixed valid sizes.
		panic(err)
	}
	c.XORKeyStream(dst, dst)
}

// ecdh returns BOLT 4's shared secret: SHA-256 of the compressed point k*P.
func ecdh(k *secp256k1.ModNScalar, pub *secp256k1.PublicKey) SharedSecret {
	var p, r secp256k1.JacobianPoint
	pub.AsJacobian(&p)
	secp256k1.ScalarMultNonConst(k, &p, &r)
	r.ToAffine()
	return sha256.Sum256(secp256k1.NewPublicKey(&r.X, &r.Y).SerializeCompressed())
}

// blindingFactor is SHA-256(compressed ephemeral key || shared secret) as a
// scalar (reduced modulo the group order, as BOLT 4's reference code does).
func blindingFactor(ephemeral []byte, ss SharedSecret) (secp256k1.ModNScalar, error) {
	h := sha256.New()
	h.Write(ephemeral)
	h.Write(ss[:])
	var s secp256k1.ModNScalar
	s.SetByteSlice(h.Sum(nil))
	if s.IsZero() {
		// Probability 2^-256; refusing keeps the next key well defined.
		return s, ErrInvalidKey
	}
	return s, nil
}

// hopShiftSize is how many bytes a payload takes in the routing info: its
// BigSize length, the payload and the next hop's HMAC.
func hopShiftSize(payloadLen int) int {
	return BigSizeLen(uint64(payloadLen)) + payloadLen + HMACSize
}

// NewPacket builds the onion for a route as BOLT 4 "Packet Construction"
// describes. sessionKey is a fresh random key per packet (never reuse one);
// assocData is what every hop's HMAC also covers: the payment hash. It returns
// the packet for the first hop and the shared secret of each hop, which the
// origin keeps to decrypt a failure coming back (DecryptError).
func NewPacket(sessionKey *secp256k1.PrivateKey, hops []Hop, assocData []byte) (*Packet, []SharedSecret, error) {
	if sessionKey == nil {
		return nil, nil, fmt.Errorf("nil session key: %w", ErrRoute)
	}
	n := len(hops)
	if n == 0 || n > MaxHops {
		return nil, nil, fmt.Errorf("%d hops, want 1..%d: %w", n, MaxHops, ErrRoute)
	}
	total := 0
	for i, h := range hops {
		if h.PubKey == nil {
			return nil, nil, fmt.Errorf("hop %d: nil public key: %w", i, ErrRoute)
		}
		if len(h.Payload) < MinPayloadSize {
			return nil, nil, fmt.Errorf("hop %d: payload of %d bytes: %w", i, len(h.Payload), ErrRoute)
		}
		total += hopShiftSize(len(h.Payload))
	}
	if total > RoutingInfoSize {
		return nil, nil, fmt.Errorf("payloads need %d bytes of %d: %w", total, RoutingInfoSize, ErrRoute)
	}

	keys := make([]*secp256k1.PublicKey, n)
	for i, h := range hops {
		keys[i] = h.PubKey
	}
	secrets, err := SharedSecrets(sessionKey, keys)
	if err != nil {
		return nil, nil, err
	}

	filler := generateFiller(hops, secrets)

	pkt := &Packet{Version: Version}
	copy(pkt.EphemeralKey[:], sessionKey.PubKey().SerializeCompressed())
	sk := sessionKey.Key.Bytes()
	xorStream(generateKey(keyPad, sk[:]), pkt.RoutingInfo[:])

	var next [HMACSize]byte
	for i := n - 1; i >= 0; i-- {
		payload := hops[i].Payload
		shift := hopShiftSize(len(payload))
		ri := pkt.RoutingInfo[:]
		copy(ri[shift:], ri[:RoutingInfoSize-shift])
		w := AppendBigSize(ri[:0], uint64(len(payload)))
		w = append(w, payload...)
		copy(ri[len(w):], next[:])
		xorStream(generateKey(keyRho, secrets[i][:]), ri)
		if i == n-1 {
			copy(ri[RoutingInfoSize-len(filler):], filler)
		}
		muKey := generateKey(keyMu, secrets[i][:])
		mac := hmac.New(sha256.New, muKey[:])
		mac.Write(ri)
		mac.Write(assocData)
		mac.Sum(next[:0])
	}
	pkt.HMAC = next
	return pkt, secrets, nil
}

// generateFiller computes the bytes that the last hop finds at the tail of
// its routing info: what the previous hops' deobfuscation shifted in (zeros)
// and XORed with their rho streams. Hop i reads its routing info followed by
// RoutingInfoSize zero bytes, XORs the whole with its stream and drops its
// first shift_i bytes, so the tail T_i the next hop receives is
// (T_{i-1} || 0^shift_i) XOR stream_i[RoutingInfoSize-len(T_{i-1}) : RoutingInfoSize+shift_i].
func generateFiller(hops []Hop, secrets []SharedSecret) []byte {
	var filler []byte
	var stream [2 * RoutingInfoSize]byte
	for i := 0; i < len(hops)-1; i++ {
		shift := hopShiftSize(len(hops[i].Payload))
		start := RoutingInfoSize - len(filler)
		filler = append(filler, make([]byte, shift)...)
		clear(stream[:])
		xorStream(generateKey(keyRho, secrets[i][:]), stream[:RoutingInfoSize+shift])
		for j := range filler {
			filler[j] ^= stream[start+j]
		}
	}
	return filler
}

// SharedSecrets returns the secret the origin shares with each hop of a
// route for a session key: the ones NewPacket returns for the same key and
// hops. A payer that must put something derived from them in the payloads
// (a payment stream's ids) computes them first.
func SharedSecrets(sessionKey *secp256k1.PrivateKey, keys []*secp256k1.PublicKey) ([]SharedSecret, error) {
	if sessionKey == nil {
		return nil, fmt.Errorf("nil session key: %w", ErrRoute)
	}
	// Walk the route forward: shared secret and blinded ephemeral key per hop.
	secrets := make([]SharedSecret, len(keys))
	ek := sessionKey.Key
	for i, k := range keys {
		if k == nil {
			return nil, fmt.Errorf("hop %d: nil public key: %w", i, ErrRoute)
		}
		secrets[i] = ecdh(&ek, k)
		if i == len(keys)-1 {
			break
		}
		epk := secp256k1.NewPrivateKey(&ek).PubKey().SerializeCompressed()
		bf, err := blindingFactor(epk, secrets[i])
		if err != nil {
			return nil, fmt.Errorf("hop %d: %w", i, err)
		}
		ek.Mul(&bf)
	}
	return secrets, nil
}

// Peeled is the result of a hop processing a packet.
type Peeled struct {
	// Payload is this hop's TLV payload (decode it with DecodeHopPayload).
	Payload []byte
	// Next is the packet to forward, or nil when this hop is the final node.
	Next *Packet
	// SharedSecret is this hop's shared secret with the origin. The node
	// keeps it with the HTLC to wrap a failure coming back (WrapError) or to
	// create one (NewErrorPacket), and logs SharedSecret.ReplayKey to refuse
	// replays.
	SharedSecret SharedSecret
}

// IsFinal reports whether this hop is the payment's final node: BOLT 4 marks
// it with an all-zero next HMAC.
func (p *Peeled) IsFinal() bool { return p.Next == nil }

// Peel processes a packet with the node's onion private key as BOLT 4 "Packet
// Forwarding" says: it checks the version, the ephemeral key and the HMAC
// (over the routing info and assocData, compared in constant time), then
// decrypts this hop's payload and prepares the packet for the next hop.
// Refusals are ErrInvalidVersion, ErrInvalidKey and ErrInvalidHMAC (the
// BADONION cases), or ErrInvalidPayload for an authenticated packet whose
// payload length is unusable; the packet is never modified.
func Peel(nodeKey *secp256k1.PrivateKey, pkt *Packet, assocData []byte) (*Peeled, error) {
	if nodeKey == nil || pkt == nil {
		return nil, errors.New("onion: peel: nil key or packet")
	}
	if pkt.Version != Version {
		return nil, fmt.Errorf("version %d: %w", pkt.Version, ErrInvalidVersion)
	}
	ephemeral, err := secp256k1.ParsePubKey(pkt.EphemeralKey[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	ss := ecdh(&nodeKey.Key, ephemeral)

	muKey := generateKey(keyMu, ss[:])
	mac := hmac.New(sha256.New, muKey[:])
	mac.Write(pkt.RoutingInfo[:])
	mac.Write(assocData)
	var want [HMACSize]byte
	if !hmac.Equal(mac.Sum(want[:0]), pkt.HMAC[:]) {
		return nil, ErrInvalidHMAC
	}

	var buf [2 * RoutingInfoSize]byte
	copy(buf[:], pkt.RoutingInfo[:])
	xorStream(generateKey(keyRho, ss[:]), buf[:])

	length, n, err := ReadBigSize(buf[:])
	if err != nil {
		return nil, fmt.Errorf("payload length: %w: %v", ErrInvalidPayload, err)
	}
	if length < MinPayloadSize || length > uint64(RoutingInfoSize-n-HMACSize) {
		return nil, fmt.Errorf("payload length %d: %w", length, ErrInvalidPayload)
	}
	end := n + int(length)
	out := &Peeled{
		Payload:      append([]byte(nil), buf[n:end]...),
		SharedSecret: ss,
	}
	var nextHMAC [HMACSize]byte
	copy(nextHMAC[:], buf[end:end+HMACSize])
	if nextHMAC == ([HMACSize]byte{}) {
		return out, nil
	}

	bf, err := blindingFactor(pkt.EphemeralKey[:], ss)
	if err != nil {
		return nil, err
	}
	var p, r secp256k1.JacobianPoint
	ephemeral.AsJacobian(&p)
	secp256k1.ScalarMultNonConst(&bf, &p, &r)
	r.ToAffine()
	next := &Packet{Version: Version, HMAC: nextHMAC}
	copy(next.EphemeralKey[:], secp256k1.NewPublicKey(&r.X, &r.Y).SerializeCompressed())
	shift := end + HMACSize
	copy(next.RoutingInfo[:], buf[shift:shift+RoutingInfoSize])
	out.Next = next
	return out, nil
}
