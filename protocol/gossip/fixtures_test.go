package gossip

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// t0 is the fixed "now" of the tests: 2027-01-15T08:00:00Z.
var t0 = time.UnixMilli(1_800_000_000_000)

// testKey returns the i-th deterministic node key and its id.
func testKey(tb testing.TB, i int) (crypto.PrivKey, peer.ID) {
	tb.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.New(rand.NewSource(int64(i) + 1)))
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	return k, id
}

func testOnionKey(i int) [OnionKeySize]byte {
	seed := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("onion"), uint64(i)))
	var k [OnionKeySize]byte
	copy(k[:], secp256k1.PrivKeyFromBytes(seed[:]).PubKey().SerializeCompressed())
	return k
}

func testChannelID(i int) ChannelID {
	return ChannelID(sha256.Sum256(binary.BigEndian.AppendUint64([]byte("channel"), uint64(i))))
}

// nodeAnn returns node i's signed announcement at ts.
func nodeAnn(tb testing.TB, i int, ts time.Time) *NodeAnnouncement {
	tb.Helper()
	k, _ := testKey(tb, i)
	a := &NodeAnnouncement{
		Alias:     "node-" + string(rune('a'+i%26)),
		Addrs:     []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4001"), ma.StringCast("/ip6/::1/udp/4001/quic-v1")},
		OnionKey:  testOnionKey(i),
		Features:  []byte{0x01},
		Timestamp: ts.UnixMilli(),
	}
	if err := a.Sign(k); err != nil {
		tb.Fatal(err)
	}
	return a
}

// chanAnn returns the announcement of channel c between nodes i and j,
// signed by both.
func chanAnn(tb testing.TB, c, i, j int, capacity uint64) *ChannelAnnouncement {
	tb.Helper()
	ki, idi := testKey(tb, i)
	kj, idj := testKey(tb, j)
	a, err := NewChannelAnnouncement(testChannelID(c), idi, idj, capacity)
	if err != nil {
		tb.Fatal(err)
	}
	if err := a.Sign(ki); err != nil {
		tb.Fatal(err)
	}
	if err := a.Sign(kj); err != nil {
		tb.Fatal(err)
	}
	return a
}

// update returns the update of ann's direction starting at node i.
func update(tb testing.TB, ann *ChannelAnnouncement, i int, ts time.Time) *ChannelUpdate {
	tb.Helper()
	k, _ := testKey(tb, i)
	u := &ChannelUpdate{
		FeeBase:     1000,
		FeePPM:      100,
		ExpiryDelta: 40_000,
		HTLCMin:     1,
		HTLCMax:     ann.Capacity,
		Timestamp:   ts.UnixMilli(),
	}
	if err := u.Sign(ann, k); err != nil {
		tb.Fatal(err)
	}
	return u
}

func closedNotice(tb testing.TB, ann *ChannelAnnouncement, i int, ts time.Time) *ChannelClosed {
	tb.Helper()
	k, _ := testKey(tb, i)
	c := &ChannelClosed{Timestamp: ts.UnixMilli()}
	if err := c.Sign(ann, k); err != nil {
		tb.Fatal(err)
	}
	return c
}

func enc(tb testing.TB, m Message) []byte {
	tb.Helper()
	b, err := Encode(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// raw marshals m without the checks Encode makes, to build bad messages.
func raw(tb testing.TB, m Message) []byte {
	tb.Helper()
	b, err := marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func newValidator(tb testing.TB, cfg Config) *Validator {
	tb.Helper()
	v, err := NewValidator(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func mustAccept(tb testing.TB, v *Validator, data []byte, now time.Time, src Source) Result {
	tb.Helper()
	r := v.Validate(data, now, src)
	if r.Verdict != Accept {
		tb.Fatalf("verdict %s (%s): %v", r.Verdict, r.Reason, r.Err)
	}
	return r
}
