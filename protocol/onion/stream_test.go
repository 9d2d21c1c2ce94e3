package onion

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math"
	"testing"

	"pgregory.net/rapid"
)

func TestStreamPacketRoundTrip(t *testing.T) {
	key := [32]byte{1, 2, 3}
	hash := sha256.Sum256([]byte("x"))
	p := &StreamPacket{ID: StreamID{9, 8, 7}, Seq: 42, Amount: 1000}
	p.Tag = StreamTag(key, p.ID, p.Seq, p.Amount, hash)
	b := p.Encode()
	if len(b) != StreamPacketSize || !IsStreamPacket(b) {
		t.Fatalf("encoded %d bytes, stream=%v", len(b), IsStreamPacket(b))
	}
	q, err := DecodeStreamPacket(b)
	if err != nil {
		t.Fatal(err)
	}
	if *q != *p {
		t.Fatalf("round trip: %+v != %+v", q, p)
	}
	if !CheckStreamTag(key, q, hash) {
		t.Fatal("tag refused")
	}
	// Any change to what the tag covers is caught.
	for name, mut := range map[string]func(*StreamPacket, *[32]byte, *[32]byte){
		"seq":    func(p *StreamPacket, _, _ *[32]byte) { p.Seq++ },
		"amount": func(p *StreamPacket, _, _ *[32]byte) { p.Amount-- },
		"id":     func(p *StreamPacket, _, _ *[32]byte) { p.ID[0] ^= 1 },
		"hash":   func(_ *StreamPacket, h, _ *[32]byte) { h[0] ^= 1 },
		"key":    func(_ *StreamPacket, _, k *[32]byte) { k[31] ^= 1 },
	} {
		q2, h2, k2 := *q, hash, key
		mut(&q2, &h2, &k2)
		if CheckStreamTag(k2, &q2, h2) {
			t.Errorf("%s changed, tag still accepted", name)
		}
	}
}

func TestDecodeStreamPacketErrors(t *testing.T) {
	good := (&StreamPacket{Seq: 1, Amount: 1}).Encode()
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrNotStream},
		{"sphinx version byte", append([]byte{0}, good[1:]...), ErrNotStream},
		{"short", good[:StreamPacketSize-1], ErrStreamPacket},
		{"long", append(append([]byte(nil), good...), 0), ErrStreamPacket},
		{"version", append([]byte{'S', 2}, good[2:]...), ErrStreamPacket},
	} {
		if _, err := DecodeStreamPacket(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestStreamIDsDifferPerSecret(t *testing.T) {
	a, b := StreamIDOf(SharedSecret{1}), StreamIDOf(SharedSecret{2})
	if a == b || a != StreamIDOf(SharedSecret{1}) {
		t.Fatalf("ids %s %s", a, b)
	}
	p0, p1 := StreamPreimage([32]byte{1}, 0), StreamPreimage([32]byte{1}, 1)
	if p0 == p1 || p0 == StreamPreimage([32]byte{2}, 0) {
		t.Fatal("preimages collide")
	}
}

func TestStreamFee(t *testing.T) {
	for _, tc := range []struct {
		base, ppm uint32
		amt, want uint64
	}{
		{0, 0, 1000, 0},
		{1, 1000, 1000, 2},
		{1, 1000, 999, 1},
		{1000, 1_000_000, 5, 1005},
		{0, 1, math.MaxUint64, math.MaxUint64 / 1_000_000},
		{math.MaxUint32, math.MaxUint32, math.MaxUint64, math.MaxUint64},
	} {
		if got := StreamFee(tc.base, tc.ppm, tc.amt); got != tc.want {
			t.Errorf("fee(%d,%d,%d) = %d, want %d", tc.base, tc.ppm, tc.amt, got, tc.want)
		}
	}
}

// A hop that forwards ForwardAmount(out + fee(out)) forwards exactly out,
// and never forwards more than its fee allows.
func TestForwardAmountInvertsFee(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base := rapid.Uint32Range(0, 1_000_000).Draw(t, "base")
		ppm := rapid.Uint32Range(0, 2_000_000).Draw(t, "ppm")
		out := rapid.Uint64Range(1, 1<<50).Draw(t, "out")
		in := out + StreamFee(base, ppm, out)
		got, ok := ForwardAmount(in, base, ppm)
		if !ok || got != out {
			t.Fatalf("ForwardAmount(%d, %d, %d) = %d, %v; want %d", in, base, ppm, got, ok, out)
		}
		extra := rapid.Uint64Range(0, 1<<40).Draw(t, "in")
		x, ok := ForwardAmount(in+extra, base, ppm)
		if !ok || x+StreamFee(base, ppm, x) > in+extra || x < out {
			t.Fatalf("ForwardAmount(%d) = %d: fee not left or too little forwarded", in+extra, x)
		}
	})
}

func TestForwardAmountTooSmall(t *testing.T) {
	if _, ok := ForwardAmount(10, 10, 0); ok {
		t.Fatal("forwarded although the base fee eats everything")
	}
	if x, ok := ForwardAmount(11, 10, 0); !ok || x != 1 {
		t.Fatalf("got %d %v", x, ok)
	}
}

func TestStreamPayloadRecords(t *testing.T) {
	hop := &StreamHop{Next: StreamID{1, 2, 3}, FeeBase: 1, FeePPM: 1000, ExpiryDelta: 20_000}
	p := HopPayload{AmountToForward: 5, OutgoingExpiry: 6, ShortChannelID: 7, HasShortChannelID: true, StreamHop: hop}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	q, err := DecodeHopPayload(b)
	if err != nil || q.StreamHop == nil || *q.StreamHop != *hop || q.Validate(false) != nil {
		t.Fatalf("intermediate: %+v %v", q, err)
	}
	if err := q.Validate(true); err == nil {
		t.Fatal("final hop accepted a stream hop record")
	}
	key := [32]byte{4}
	f := HopPayload{AmountToForward: 5, OutgoingExpiry: 6, PaymentData: &PaymentData{TotalAmount: 5}, StreamKey: &key}
	b, err = f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	q, err = DecodeHopPayload(b)
	if err != nil || q.StreamKey == nil || *q.StreamKey != key || q.Validate(true) != nil {
		t.Fatalf("final: %+v %v", q, err)
	}
	q.HasShortChannelID = true
	q.PaymentData = nil
	if err := q.Validate(false); err == nil {
		t.Fatal("intermediate hop accepted a stream key")
	}
	// Wrong record lengths are refused.
	bad := bytes.Replace(b, key[:], key[:31], 1)
	bad[len(bad)-32] = 31 // length byte of the stream key record
	if _, err := DecodeHopPayload(bad); err == nil {
		t.Fatal("31-byte stream key accepted")
	}
}

func FuzzDecodeStreamPacket(f *testing.F) {
	f.Add((&StreamPacket{ID: StreamID{1}, Seq: 2, Amount: 3}).Encode())
	f.Add([]byte{'S', 1})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeStreamPacket(b)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Encode(), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzForwardAmount(f *testing.F) {
	f.Add(uint64(1000), uint32(1), uint32(1000))
	f.Fuzz(func(t *testing.T, in uint64, base, ppm uint32) {
		x, ok := ForwardAmount(in, base, ppm)
		if !ok {
			return
		}
		if x == 0 || x+StreamFee(base, ppm, x) > in {
			t.Fatalf("ForwardAmount(%d,%d,%d) = %d leaves no fee", in, base, ppm, x)
		}
		if x < math.MaxUint64 && StreamFee(base, ppm, x+1) != math.MaxUint64 && x+1+StreamFee(base, ppm, x+1) <= in {
			t.Fatalf("ForwardAmount(%d,%d,%d) = %d is not the largest", in, base, ppm, x)
		}
	})
}
