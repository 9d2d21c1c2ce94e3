package onion

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// testKey derives a deterministic private key from a seed.
func testKey(seed uint64) *secp256k1.PrivateKey {
	b := sha256.Sum256([]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 0x5a})
	return secp256k1.PrivKeyFromBytes(b[:])
}

// testRoute returns n node keys and hops whose payloads have the given sizes.
func testRoute(rng *rand.Rand, sizes []int) ([]*secp256k1.PrivateKey, []Hop) {
	keys := make([]*secp256k1.PrivateKey, len(sizes))
	hops := make([]Hop, len(sizes))
	for i, sz := range sizes {
		keys[i] = testKey(rng.Uint64())
		p := make([]byte, sz)
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		hops[i] = Hop{PubKey: keys[i].PubKey(), Payload: p}
	}
	return keys, hops
}

// peelAll walks a packet through every node and returns the payloads seen.
func peelAll(t *testing.T, keys []*secp256k1.PrivateKey, pkt *Packet, assoc []byte) ([][]byte, []SharedSecret) {
	t.Helper()
	var payloads [][]byte
	var secrets []SharedSecret
	for i, k := range keys {
		// Go through the wire form every time, as a node would.
		in, err := DecodePacket(pkt.Encode())
		if err != nil {
			t.Fatalf("hop %d decode: %v", i, err)
		}
		p, err := Peel(k, in, assoc)
		if err != nil {
			t.Fatalf("hop %d peel: %v", i, err)
		}
		payloads = append(payloads, p.Payload)
		secrets = append(secrets, p.SharedSecret)
		if p.IsFinal() != (i == len(keys)-1) {
			t.Fatalf("hop %d of %d: IsFinal=%v", i, len(keys), p.IsFinal())
		}
		pkt = p.Next
	}
	return payloads, secrets
}

// TestRoundTrip builds routes of many shapes, including payloads whose
// length needs a 3-byte BigSize and routes that fill the routing info exactly,
// and checks every hop gets its payload and the origin's shared secrets.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	exactFill := RoutingInfoSize - hopShiftSize(300) - hopShiftSize(400) // third hop fills up
	exactFill -= BigSizeLen(uint64(exactFill)) + HMACSize
	tests := []struct {
		name  string
		sizes []int
	}{
		{"one hop", []int{20}},
		{"min payloads", []int{2, 2, 2}},
		{"three hops", []int{19, 19, 60}},
		{"bigsize 3-byte lengths", []int{252, 253, 300}},
		{"exactly full", []int{300, 400, exactFill}},
		{"one hop max payload", []int{MaxPayloadSize}},
		{"max hops", func() []int {
			s := make([]int, MaxHops)
			for i := range s {
				s[i] = 12
			}
			return s
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, hops := testRoute(rng, tc.sizes)
			session := testKey(rng.Uint64())
			assoc := []byte("payment hash 32 bytes long......")
			pkt, secrets, err := NewPacket(session, hops, assoc)
			if err != nil {
				t.Fatalf("NewPacket: %v", err)
			}
			payloads, nodeSecrets := peelAll(t, keys, pkt, assoc)
			for i := range hops {
				if !bytes.Equal(payloads[i], hops[i].Payload) {
					t.Errorf("hop %d payload differs", i)
				}
				if nodeSecrets[i] != secrets[i] {
					t.Errorf("hop %d secret differs", i)
				}
			}
		})
	}
}

// TestNewPacketRejects covers the routes NewPacket must refuse.
func TestNewPacketRejects(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	_, ok := testRoute(rng, []int{20, 20})
	tooMany := make([]int, MaxHops+1)
	for i := range tooMany {
		tooMany[i] = 2
	}
	_, many := testRoute(rng, tooMany)
	_, big := testRoute(rng, []int{600, 700})
	_, short := testRoute(rng, []int{20, 1})
	tests := []struct {
		name    string
		session *secp256k1.PrivateKey
		hops    []Hop
	}{
		{"nil session", nil, ok},
		{"no hops", testKey(1), nil},
		{"too many hops", testKey(1), many},
		{"payloads too large", testKey(1), big},
		{"payload too short", testKey(1), short},
		{"nil pubkey", testKey(1), []Hop{{Payload: []byte{1, 2}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := NewPacket(tc.session, tc.hops, nil); !errors.Is(err, ErrRoute) {
				t.Fatalf("err = %v, want ErrRoute", err)
			}
		})
	}
}

// TestPeelRejectsForgeries tampers with a valid packet in every way BOLT 4
// names and checks the typed refusal.
func TestPeelRejectsForgeries(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	keys, hops := testRoute(rng, []int{30, 30, 30})
	assoc := bytes.Repeat([]byte{7}, 32)
	pkt, _, err := NewPacket(testKey(99), hops, assoc)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(p *Packet)
		key    *secp256k1.PrivateKey
		assoc  []byte
		want   error
	}{
		{"flipped routing bit", func(p *Packet) { p.RoutingInfo[700] ^= 1 }, keys[0], assoc, ErrInvalidHMAC},
		{"flipped last routing byte", func(p *Packet) { p.RoutingInfo[RoutingInfoSize-1] ^= 0x80 }, keys[0], assoc, ErrInvalidHMAC},
		{"flipped hmac", func(p *Packet) { p.HMAC[0] ^= 1 }, keys[0], assoc, ErrInvalidHMAC},
		{"other associated data", func(*Packet) {}, keys[0], []byte("another payment hash"), ErrInvalidHMAC},
		{"wrong node", func(*Packet) {}, keys[1], assoc, ErrInvalidHMAC},
		{"other valid ephemeral key", func(p *Packet) {
			copy(p.EphemeralKey[:], testKey(5).PubKey().SerializeCompressed())
		}, keys[0], assoc, ErrInvalidHMAC},
		{"version 1", func(p *Packet) { p.Version = 1 }, keys[0], assoc, ErrInvalidVersion},
		{"key prefix 04", func(p *Packet) { p.EphemeralKey[0] = 0x04 }, keys[0], assoc, ErrInvalidKey},
		{"key off curve", func(p *Packet) {
			// x = 5 has no y on secp256k1 (5^3+7 = 132 is a non-residue).
			p.EphemeralKey = [PubKeySize]byte{0x02}
			p.EphemeralKey[PubKeySize-1] = 5
		}, keys[0], assoc, ErrInvalidKey},
		{"key all zero", func(p *Packet) { p.EphemeralKey = [PubKeySize]byte{} }, keys[0], assoc, ErrInvalidKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := *pkt
			tc.mutate(&p)
			before := p
			_, err := Peel(tc.key, &p, tc.assoc)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if p != before {
				t.Fatal("Peel modified the packet")
			}
			if code, ok := BadOnionCode(err); !ok || !code.IsBadOnion() {
				t.Fatalf("BadOnionCode(%v) = %v, %v", err, code, ok)
			}
		})
	}
	// The untouched packet still peels: the failures above are the mutations'.
	if _, err := Peel(keys[0], pkt, assoc); err != nil {
		t.Fatalf("valid packet: %v", err)
	}
}

// craftPacket builds a one-hop packet whose decrypted routing info starts
// with the given bytes, correctly authenticated: a packet an origin could
// send, for testing what Peel does with authenticated but unusable content.
func craftPacket(node *secp256k1.PublicKey, plain []byte, assoc []byte) *Packet {
	session := testKey(4242)
	ss := ecdh(&session.Key, node)
	p := &Packet{Version: Version}
	copy(p.EphemeralKey[:], session.PubKey().SerializeCompressed())
	copy(p.RoutingInfo[:], plain)
	xorStream(generateKey(keyRho, ss[:]), p.RoutingInfo[:])
	mu := generateKey(keyMu, ss[:])
	m := hmac.New(sha256.New, mu[:])
	m.Write(p.RoutingInfo[:])
	m.Write(assoc)
	m.Sum(p.HMAC[:0])
	return p
}

// TestPeelInvalidPayloadLength covers authenticated packets whose payload
// length is reserved or impossible: ErrInvalidPayload, not a BADONION.
func TestPeelInvalidPayloadLength(t *testing.T) {
	node := testKey(7)
	tests := []struct {
		name  string
		plain []byte
	}{
		{"legacy length 0", []byte{0x00}},
		{"reserved length 1", []byte{0x01, 0xaa}},
		{"longer than routing info", []byte{0xfd, 0x05, 0x00}},
		{"leaves no room for hmac", []byte{0xfd, 0x04, 0xf2}},
		{"non-canonical bigsize", []byte{0xfd, 0x00, 0x10}},
		{"huge bigsize", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkt := craftPacket(node.PubKey(), tc.plain, nil)
			_, err := Peel(node, pkt, nil)
			if !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("err = %v, want ErrInvalidPayload", err)
			}
			if _, ok := BadOnionCode(err); ok {
				t.Fatal("invalid payload reported as BADONION")
			}
		})
	}
	// Largest legal length (1300 - 3 - 32) is accepted.
	plain := []byte{0xfd, 0x04, 0xf1}
	if _, err := Peel(node, craftPacket(node.PubKey(), plain, nil), nil); err != nil {
		t.Fatalf("max length: %v", err)
	}
}

func TestDecodePacketSize(t *testing.T) {
	for _, n := range []int{0, 1, PacketSize - 1, PacketSize + 1} {
		if _, err := DecodePacket(make([]byte, n)); !errors.Is(err, ErrPacketSize) {
			t.Errorf("%d bytes: err = %v", n, err)
		}
	}
	b := make([]byte, PacketSize)
	for i := range b {
		b[i] = byte(i * 7)
	}
	p, err := DecodePacket(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Encode(), b) {
		t.Fatal("Encode(Decode(b)) != b")
	}
}

// TestReplayKey: the same packet yields the same replay key at a node; two
// packets for the same route (fresh session keys) yield different ones.
func TestReplayKey(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	keys, hops := testRoute(rng, []int{20, 20})
	p1, _, err := NewPacket(testKey(1), hops, nil)
	if err != nil {
		t.Fatal(err)
	}
	p2, _, err := NewPacket(testKey(2), hops, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := Peel(keys[0], p1, nil)
	b, _ := Peel(keys[0], p1, nil)
	c, _ := Peel(keys[0], p2, nil)
	if a == nil || b == nil || c == nil {
		t.Fatal("peel failed")
	}
	if a.SharedSecret.ReplayKey() != b.SharedSecret.ReplayKey() {
		t.Fatal("same packet, different replay keys")
	}
	if a.SharedSecret.ReplayKey() == c.SharedSecret.ReplayKey() {
		t.Fatal("different packets, same replay key")
	}
	if a.SharedSecret.ReplayKey() == [32]byte(a.SharedSecret) {
		t.Fatal("replay key exposes the shared secret")
	}
}

// TestHopsSeeDifferentKeys checks unlinkability basics: the ephemeral key
// and routing info change at every hop.
func TestHopsSeeDifferentKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	keys, hops := testRoute(rng, []int{20, 20, 20})
	pkt, _, err := NewPacket(testKey(3), hops, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[PubKeySize]byte]bool{}
	for i := 0; i < 2; i++ {
		seen[pkt.EphemeralKey] = true
		p, err := Peel(keys[i], pkt, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.Next.RoutingInfo == pkt.RoutingInfo || seen[p.Next.EphemeralKey] {
			t.Fatalf("hop %d forwards a linkable packet", i)
		}
		pkt = p.Next
	}
}
