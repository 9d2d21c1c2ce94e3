package onion

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// DefaultFailurePadding is the failure_len + pad_len BOLT 4 asks the erring
// node to use, so that every error packet has the same size (292 bytes) and
// says nothing about which failure it carries.
const DefaultFailurePadding = 256

// errorHeaderSize is the HMAC and the two u16 lengths around the message.
const errorHeaderSize = HMACSize + 2 + 2

// Errors of the error-packet functions.
var (
	// ErrUnattributable means no hop's um key authenticates the decrypted
	// packet: it was corrupted or forged on the way back, so the origin
	// cannot tell which hop failed.
	ErrUnattributable = errors.New("onion: error packet not attributable to any hop")
	// ErrErrorPacketSize means an error packet is too short to be one, or a
	// failure message too long to wrap.
	ErrErrorPacketSize = errors.New("onion: bad error packet size")
)

// errorPayload is the unauthenticated body of an error packet: failure_len,
// failuremsg, pad_len and pad_len zero bytes, such that failure_len + pad_len
// equals total.
func errorPayload(failure []byte, total int) []byte {
	pad := total - len(failure)
	b := make([]byte, 0, 4+total)
	b = binary.BigEndian.AppendUint16(b, uint16(len(failure)))
	b = append(b, failure...)
	b = binary.BigEndian.AppendUint16(b, uint16(pad))
	return append(b, make([]byte, pad)...)
}

// NewErrorPacket is what the erring node does (BOLT 4 "Returning Errors"):
// it pads the encoded failure message so that failure_len + pad_len is
// DefaultFailurePadding (or the message's own length when longer), prefixes
// the HMAC keyed by its um key, and obfuscates the whole with its ammag
// stream. ss is the shared secret Peel returned for the HTLC that failed.
func NewErrorPacket(ss SharedSecret, failure []byte) ([]byte, error) {
	return NewErrorPacketPadded(ss, failure, max(DefaultFailurePadding, len(failure)))
}

// NewErrorPacketPadded is NewErrorPacket with failure_len + pad_len set to
// total, which must be at least DefaultFailurePadding and len(failure), and at
// most 0xffff.
func NewErrorPacketPadded(ss SharedSecret, failure []byte, total int) ([]byte, error) {
	if len(failure) < 2 || total < DefaultFailurePadding || total < len(failure) || total > 0xffff {
		return nil, fmt.Errorf("failure of %d bytes padded to %d: %w", len(failure), total, ErrErrorPacketSize)
	}
	payload := errorPayload(failure, total)
	um := generateKey(keyUm, ss[:])
	mac := hmac.New(sha256.New, um[:])
	mac.Write(payload)
	pkt := make([]byte, 0, HMACSize+len(payload))
	pkt = mac.Sum(pkt)
	pkt = append(pkt, payload...)
	xorStream(generateKey(keyAmmag, ss[:]), pkt)
	return pkt, nil
}

// WrapError is what each hop does to an error packet on its way back to the
// origin: it XORs the packet with its ammag stream, using the shared secret
// of the HTLC it forwarded. It returns a new slice and never fails: a hop
// cannot read the packet and does not judge it.
func WrapError(ss SharedSecret, packet []byte) []byte {
	out := append([]byte(nil), packet...)
	xorStream(generateKey(keyAmmag, ss[:]), out)
	return out
}

// DecryptError is what the origin does with an error packet: it peels the
// ammag layers in route order (secrets as NewPacket returned them) and finds
// the first hop whose um key authenticates the packet; that hop is the erring
// node, and its message is decoded. To avoid leaking the route length through
// timing, it always performs MaxHops rounds (BOLT 4 SHOULD).
//
// It returns the failing hop's index into secrets and its message. When no hop
// authenticates the packet it returns -1 and ErrUnattributable (the payer
// should penalize the route as a whole). When a hop authenticates it but the
// message is malformed, it returns the hop's index, a nil message and an error
// wrapping ErrMalformedFailure: the failure is still attributed.
func DecryptError(secrets []SharedSecret, packet []byte) (int, *FailureMessage, error) {
	if len(packet) < errorHeaderSize+2 || len(packet) > errorHeaderSize+2*0xffff {
		return -1, nil, fmt.Errorf("%d bytes: %w", len(packet), ErrErrorPacketSize)
	}
	buf := append([]byte(nil), packet...)
	found := -1
	var payload []byte
	rounds := max(len(secrets), MaxHops)
	var dummy SharedSecret
	var mac [HMACSize]byte
	for i := 0; i < rounds; i++ {
		ss := &dummy
		if i < len(secrets) {
			ss = &secrets[i]
		}
		xorStream(generateKey(keyAmmag, ss[:]), buf)
		um := generateKey(keyUm, ss[:])
		h := hmac.New(sha256.New, um[:])
		h.Write(buf[HMACSize:])
		ok := hmac.Equal(h.Sum(mac[:0]), buf[:HMACSize])
		if ok && found < 0 && i < len(secrets) {
			found = i
			payload = append([]byte(nil), buf[HMACSize:]...)
		}
	}
	if found < 0 {
		return -1, nil, ErrUnattributable
	}
	failure, err := parseErrorPayload(payload)
	if err != nil {
		return found, nil, fmt.Errorf("hop %d: %w", found, err)
	}
	msg, err := DecodeFailureMessage(failure)
	if err != nil {
		return found, nil, fmt.Errorf("hop %d: %w", found, err)
	}
	return found, msg, nil
}

// parseErrorPayload extracts failuremsg from an authenticated error payload,
// checking that failure_len and pad_len account for every byte.
func parseErrorPayload(p []byte) ([]byte, error) {
	if len(p) < 4 {
		return nil, fmt.Errorf("payload of %d bytes: %w", len(p), ErrMalformedFailure)
	}
	n := int(binary.BigEndian.Uint16(p))
	if 2+n+2 > len(p) {
		return nil, fmt.Errorf("failure_len %d in %d bytes: %w", n, len(p), ErrMalformedFailure)
	}
	pad := int(binary.BigEndian.Uint16(p[2+n:]))
	if 2+n+2+pad != len(p) {
		return nil, fmt.Errorf("pad_len %d, %d bytes left: %w", pad, len(p)-4-n, ErrMalformedFailure)
	}
	return p[2 : 2+n], nil
}
