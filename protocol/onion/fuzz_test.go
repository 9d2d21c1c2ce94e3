package onion

import (
	"bytes"
	"errors"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// fuzzRoute is a fixed three-hop route and a valid packet for it.
func fuzzRoute(f *testing.F) ([]*secp256k1.PrivateKey, *Packet, []SharedSecret, []byte) {
	f.Helper()
	keys := []*secp256k1.PrivateKey{testKey(11), testKey(12), testKey(13)}
	assoc := bytes.Repeat([]byte{0x42}, 32)
	var hops []Hop
	for i, k := range keys {
		hp := HopPayload{AmountToForward: uint64(1000 - i), OutgoingExpiry: 1_767_225_600_000, ShortChannelID: uint64(i + 1), HasShortChannelID: i < 2}
		b, err := hp.Encode()
		if err != nil {
			f.Fatal(err)
		}
		hops = append(hops, Hop{PubKey: k.PubKey(), Payload: b})
	}
	pkt, secrets, err := NewPacket(testKey(10), hops, assoc)
	if err != nil {
		f.Fatal(err)
	}
	return keys, pkt, secrets, assoc
}

func FuzzDecodePacket(f *testing.F) {
	_, pkt, _, _ := fuzzRoute(f)
	f.Add(pkt.Encode())
	f.Add([]byte{})
	f.Add(make([]byte, PacketSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePacket(b)
		if err != nil {
			if len(b) == PacketSize || !errors.Is(err, ErrPacketSize) {
				t.Fatalf("%d bytes: %v", len(b), err)
			}
			return
		}
		if !bytes.Equal(p.Encode(), b) {
			t.Fatal("Encode(Decode(b)) != b")
		}
	})
}

// FuzzPeel feeds Peel hostile packets in three modes: raw (b is the whole
// wire packet), delta (b is XORed into a valid packet at offset off, which
// keeps inputs small and reaches every field), and crafted (b is the
// decrypted routing info of a correctly MACed one-hop packet, exercising the
// parsing after the HMAC check). Only the untouched packet may be accepted in
// the first two modes.
func FuzzPeel(f *testing.F) {
	keys, pkt, _, assoc := fuzzRoute(f)
	valid := pkt.Encode()
	f.Add(uint8(0), uint16(0), valid)
	f.Add(uint8(0), uint16(0), []byte{0})
	f.Add(uint8(1), uint16(0), []byte{1})
	f.Add(uint8(1), uint16(40), []byte{0, 0, 1})
	f.Add(uint8(1), uint16(PacketSize-1), []byte{0x80})
	f.Add(uint8(2), uint16(0), []byte{0x14, 0x02, 0x02, 0x03, 0xe8})
	f.Add(uint8(2), uint16(0), []byte{0x00})
	f.Add(uint8(2), uint16(0), []byte{0xfd, 0x04, 0xf1})
	f.Fuzz(func(t *testing.T, mode uint8, off uint16, b []byte) {
		var in *Packet
		switch mode % 3 {
		case 0:
			var err error
			if in, err = DecodePacket(b); err != nil {
				return
			}
		case 1:
			w := append([]byte(nil), valid...)
			changed := false
			for i, c := range b {
				if j := int(off) + i; j < len(w) && c != 0 {
					w[j] ^= c
					changed = true
				}
			}
			in, _ = DecodePacket(w)
			if _, err := Peel(keys[0], in, assoc); err == nil && changed {
				t.Fatalf("tampered packet accepted (off %d delta %x)", off, b)
			}
			return
		case 2:
			if len(b) > RoutingInfoSize {
				b = b[:RoutingInfoSize]
			}
			in = craftPacket(keys[0].PubKey(), b, assoc)
		}
		p, err := Peel(keys[0], in, assoc)
		if err != nil {
			if mode%3 == 0 && bytes.Equal(b, valid) {
				t.Fatalf("valid packet refused: %v", err)
			}
			return
		}
		if len(p.Payload) < MinPayloadSize || len(p.Payload) > MaxPayloadSize {
			t.Fatalf("payload of %d bytes accepted", len(p.Payload))
		}
		if !p.IsFinal() && p.Next.Version != Version {
			t.Fatal("next packet has a bad version")
		}
		if mode%3 == 2 {
			// A successful crafted peel returns exactly the framed payload.
			plain := make([]byte, RoutingInfoSize)
			copy(plain, b)
			l, n, _ := ReadBigSize(plain)
			if int(l) != len(p.Payload) || !bytes.Equal(plain[n:n+int(l)], p.Payload) {
				t.Fatalf("payload %x from plaintext %x", p.Payload, b)
			}
		}
	})
}

func FuzzDecodeTLV(f *testing.F) {
	f.Add([]byte{0x02, 0x01, 0xaa, 0x03, 0x00})
	f.Add([]byte{0xfd, 0x00, 0xfd, 0x00})
	f.Add([]byte{0xff, 0, 0, 0, 1, 0, 0, 0, 1, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeTLV(b, func(t uint64) bool { return t < 100 })
		if err != nil {
			var te *TLVError
			if !errors.As(err, &te) || te.Offset < 0 || te.Offset > len(b) {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		enc, err := EncodeTLV(recs)
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded %x, %v; input %x", enc, err, b)
		}
	})
}

func FuzzDecodeHopPayload(f *testing.F) {
	for _, hp := range []HopPayload{
		{AmountToForward: 15000, OutgoingExpiry: 1500, ShortChannelID: 1, HasShortChannelID: true},
		{AmountToForward: 1, OutgoingExpiry: 2, PaymentData: &PaymentData{TotalAmount: 3}},
		{AmountToForward: 1, OutgoingExpiry: 2, KeysendPreimage: &[32]byte{7}, Unknown: []Record{{Type: 65541, Value: []byte{1}}}},
		{AmountToForward: 1, OutgoingExpiry: 2, ShortChannelID: 1, HasShortChannelID: true, StreamHop: &StreamHop{Next: StreamID{1}, FeePPM: 7}},
		{AmountToForward: 1, OutgoingExpiry: 2, PaymentData: &PaymentData{TotalAmount: 3}, StreamKey: &[32]byte{9}},
	} {
		b, err := hp.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeHopPayload(b)
		if err != nil {
			var pe *PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *PayloadError", err)
			}
			_ = pe.Failure().Encode()
			return
		}
		_ = p.Validate(true)
		_ = p.Validate(false)
		enc, err := p.Encode()
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded %x, %v; input %x", enc, err, b)
		}
	})
}

func FuzzDecodeFailureMessage(f *testing.F) {
	f.Add([]byte{0x20, 0x02})
	f.Add([]byte{0x10, 0x07, 0x00, 0x01, 0xaa})
	f.Add([]byte{0x40, 0x16, 0xfd, 0x01, 0x00, 0x00, 0x06})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeFailureMessage(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedFailure) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if enc := m.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded %x; input %x", enc, b)
		}
	})
}

func FuzzDecryptError(f *testing.F) {
	_, _, secrets, _ := fuzzRoute(f)
	good, err := NewErrorPacket(secrets[2], (&FailureMessage{Code: CodeUnknownNextPeer}).Encode())
	if err != nil {
		f.Fatal(err)
	}
	good = WrapError(secrets[0], WrapError(secrets[1], good))
	f.Add(good)
	f.Add(make([]byte, 292))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, msg, err := DecryptError(secrets, b)
		switch {
		case err == nil:
			if idx < 0 || idx >= len(secrets) || msg == nil {
				t.Fatalf("success with hop %d msg %v", idx, msg)
			}
		case idx >= 0:
			if idx >= len(secrets) || !errors.Is(err, ErrMalformedFailure) {
				t.Fatalf("hop %d with %v", idx, err)
			}
		}
	})
}
