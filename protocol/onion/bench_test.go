package onion

import (
	"bytes"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// benchRoute builds n hops with realistic payloads: intermediate hops carry
// amount, expiry (unix ms) and channel; the final hop amount, expiry and
// payment_data.
func benchRoute(b *testing.B, n int) ([]*secp256k1.PrivateKey, []Hop) {
	b.Helper()
	keys := make([]*secp256k1.PrivateKey, n)
	hops := make([]Hop, n)
	for i := range hops {
		keys[i] = testKey(uint64(1000 + i))
		hp := HopPayload{AmountToForward: 100_000 + uint64(n-i)*10, OutgoingExpiry: 1_767_225_600_000 + uint64(n-i)*40_000}
		if i < n-1 {
			hp.ShortChannelID, hp.HasShortChannelID = uint64(7<<40|i), true
		} else {
			hp.PaymentData = &PaymentData{Secret: [32]byte{1}, TotalAmount: 100_000}
		}
		p, err := hp.Encode()
		if err != nil {
			b.Fatal(err)
		}
		hops[i] = Hop{PubKey: keys[i].PubKey(), Payload: p}
	}
	return keys, hops
}

func benchNewPacket(b *testing.B, n int) {
	_, hops := benchRoute(b, n)
	session := testKey(1)
	assoc := bytes.Repeat([]byte{0x42}, 32)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := NewPacket(session, hops, assoc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewPacket3Hops is the payer's cost to build a 3-hop onion.
func BenchmarkNewPacket3Hops(b *testing.B) { benchNewPacket(b, 3) }

// BenchmarkNewPacket20Hops is the payer's cost to build a 20-hop onion.
func BenchmarkNewPacket20Hops(b *testing.B) { benchNewPacket(b, 20) }

// BenchmarkPeel is one forwarding hop's onion cost: decode the wire packet,
// ECDH, HMAC check, decrypt, blind the key for the next hop, encode it, and
// decode the hop payload.
func BenchmarkPeel(b *testing.B) {
	keys, hops := benchRoute(b, 3)
	assoc := bytes.Repeat([]byte{0x42}, 32)
	pkt, _, err := NewPacket(testKey(1), hops, assoc)
	if err != nil {
		b.Fatal(err)
	}
	wire := pkt.Encode()
	b.ReportAllocs()
	for b.Loop() {
		in, err := DecodePacket(wire)
		if err != nil {
			b.Fatal(err)
		}
		p, err := Peel(keys[0], in, assoc)
		if err != nil || p.IsFinal() {
			b.Fatal(err)
		}
		if _, err := DecodeHopPayload(p.Payload); err != nil {
			b.Fatal(err)
		}
		_ = p.Next.Encode()
	}
}

// BenchmarkNewErrorPacket is the erring node's cost to build a failure.
func BenchmarkNewErrorPacket(b *testing.B) {
	ss := SharedSecret{1}
	msg := (&FailureMessage{Code: CodeTemporaryChannelFailure, ChannelUpdate: make([]byte, 100)}).Encode()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewErrorPacket(ss, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWrapError is one hop's cost to pass a failure back upstream.
func BenchmarkWrapError(b *testing.B) {
	ss := SharedSecret{2}
	pkt, err := NewErrorPacket(SharedSecret{1}, (&FailureMessage{Code: CodeUnknownNextPeer}).Encode())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = WrapError(ss, pkt)
	}
}

// BenchmarkDecryptError3Hops is the payer's cost to attribute a failure
// (always MaxHops rounds, whatever the route length).
func BenchmarkDecryptError3Hops(b *testing.B) {
	secrets := []SharedSecret{{1}, {2}, {3}}
	pkt, err := NewErrorPacket(secrets[2], (&FailureMessage{Code: CodeFeeInsufficient, HTLCAmount: 5}).Encode())
	if err != nil {
		b.Fatal(err)
	}
	pkt = WrapError(secrets[0], WrapError(secrets[1], pkt))
	b.ReportAllocs()
	for b.Loop() {
		if i, _, err := DecryptError(secrets, pkt); err != nil || i != 2 {
			b.Fatal(i, err)
		}
	}
}
