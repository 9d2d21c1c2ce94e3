package gossip

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"github.com/paymesh/paymesh/protocol/wire"
)

func TestRoundTrip(t *testing.T) {
	ann := chanAnn(t, 1, 1, 2, 1_000_000)
	msgs := []Message{
		nodeAnn(t, 1, t0),
		ann,
		update(t, ann, 1, t0),
		update(t, ann, 2, t0.Add(time.Second)),
		closedNotice(t, ann, 2, t0),
	}
	for _, m := range msgs {
		t.Run(m.Kind().String(), func(t *testing.T) {
			b := enc(t, m)
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
			}
			if got.Kind() != m.Kind() {
				t.Fatalf("kind %s, want %s", got.Kind(), m.Kind())
			}
			var verr error
			switch g := got.(type) {
			case *NodeAnnouncement:
				verr = g.Verify()
			case *ChannelAnnouncement:
				verr = g.Verify()
			case *ChannelUpdate:
				verr = g.Verify(ann)
			case *ChannelClosed:
				verr = g.Verify(ann)
			}
			if verr != nil {
				t.Fatalf("verify after round trip: %v", verr)
			}
		})
	}
}

func TestNodeAnnouncementMinimal(t *testing.T) {
	// No alias, no addrs, no features: all optional.
	k, _ := testKey(t, 3)
	a := &NodeAnnouncement{OnionKey: testOnionKey(3), Timestamp: t0.UnixMilli()}
	if err := a.Sign(k); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(enc(t, a))
	if err != nil {
		t.Fatal(err)
	}
	if err := got.(*NodeAnnouncement).Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestTwoPartyChannelAnnouncement(t *testing.T) {
	ka, ida := testKey(t, 1)
	kb, idb := testKey(t, 2)
	kc, idc := testKey(t, 3)
	id := testChannelID(7)

	// Each end builds the unsigned announcement on its own, naming the
	// ends in its own order.
	atA, err := NewChannelAnnouncement(id, ida, idb, 5000)
	if err != nil {
		t.Fatal(err)
	}
	atB, err := NewChannelAnnouncement(id, idb, ida, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(atA.SigningBytes(), atB.SigningBytes()) {
		t.Fatal("the two ends build different signing bytes")
	}
	sigA, err := atA.SignatureFor(ka)
	if err != nil {
		t.Fatal(err)
	}
	sigB, err := atB.SignatureFor(kb)
	if err != nil {
		t.Fatal(err)
	}
	if atA.Complete() || atB.Complete() {
		t.Fatal("SignatureFor must not store the signature")
	}
	if _, err := Encode(atA); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("encode unsigned: %v, want ErrIncomplete", err)
	}
	// Swap signatures.
	for _, s := range []struct {
		ann *ChannelAnnouncement
		own []byte
		oid peer.ID
		got []byte
		gid peer.ID
	}{{atA, sigA, ida, sigB, idb}, {atB, sigB, idb, sigA, ida}} {
		if err := s.ann.AddSignature(s.oid, s.own); err != nil {
			t.Fatal(err)
		}
		if s.ann.Complete() {
			t.Fatal("complete with one signature")
		}
		if err := s.ann.AddSignature(s.gid, s.own); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("own signature stored as the peer's: %v, want ErrBadSignature", err)
		}
		if err := s.ann.AddSignature(s.gid, s.got); err != nil {
			t.Fatal(err)
		}
		if err := s.ann.Verify(); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(enc(t, atA), enc(t, atB)) {
		t.Fatal("the two ends hold different announcements")
	}

	// A third node can neither sign nor add a signature.
	if _, err := atA.SignatureFor(kc); !errors.Is(err, ErrNotEndpoint) {
		t.Fatalf("third party signs: %v", err)
	}
	if err := atA.AddSignature(idc, sigA); !errors.Is(err, ErrNotEndpoint) {
		t.Fatalf("third party adds: %v", err)
	}
	// Nor sign updates or closed notices.
	u := &ChannelUpdate{FeePPM: 1, ExpiryDelta: 1, HTLCMin: 1, HTLCMax: 1, Timestamp: t0.UnixMilli()}
	if err := u.Sign(atA, kc); !errors.Is(err, ErrNotEndpoint) {
		t.Fatalf("third party update: %v", err)
	}
	if err := (&ChannelClosed{Timestamp: t0.UnixMilli()}).Sign(atA, kc); !errors.Is(err, ErrNotEndpoint) {
		t.Fatalf("third party closed: %v", err)
	}
	// The direction follows the signer.
	u1 := update(t, atA, 1, t0)
	u2 := update(t, atA, 2, t0)
	if atA.Endpoint(u1.Direction) != ida || atA.Endpoint(u2.Direction) != idb || u1.Direction == u2.Direction {
		t.Fatalf("directions %d %d", u1.Direction, u2.Direction)
	}
	// An update verified against another channel fails.
	other := chanAnn(t, 8, 1, 2, 5000)
	if err := u1.Verify(other); !errors.Is(err, ErrWrongChannel) {
		t.Fatalf("update for another channel: %v", err)
	}
}

func TestSignWrongKey(t *testing.T) {
	k1, _ := testKey(t, 1)
	_, id2 := testKey(t, 2)
	a := &NodeAnnouncement{Node: id2, OnionKey: testOnionKey(1), Timestamp: t0.UnixMilli()}
	if err := a.Sign(k1); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("sign another node's announcement: %v", err)
	}
	if err := a.Sign(nil); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("nil key: %v", err)
	}
}

// badMessages are the malformed or out-of-bounds encodings every decoder
// must refuse, with the Reason the validator gives.
func badMessages(t testing.TB) []struct {
	name string
	data []byte
	want Reason
} {
	ann := chanAnn(t, 1, 1, 2, 1_000_000)
	good := map[Kind]func() Message{
		KindNodeAnnouncement:    func() Message { return nodeAnn(t, 1, t0) },
		KindChannelAnnouncement: func() Message { return chanAnn(t, 1, 1, 2, 1_000_000) },
		KindChannelUpdate:       func() Message { return update(t, ann, 1, t0) },
		KindChannelClosed:       func() Message { return closedNotice(t, ann, 1, t0) },
	}
	mut := func(k Kind, f func(Message)) []byte {
		m := good[k]()
		f(m)
		return raw(t, m)
	}
	node := func(f func(a *NodeAnnouncement)) []byte {
		return mut(KindNodeAnnouncement, func(m Message) { f(m.(*NodeAnnouncement)) })
	}
	chn := func(f func(a *ChannelAnnouncement)) []byte {
		return mut(KindChannelAnnouncement, func(m Message) { f(m.(*ChannelAnnouncement)) })
	}
	upd := func(f func(u *ChannelUpdate)) []byte {
		return mut(KindChannelUpdate, func(m Message) { f(m.(*ChannelUpdate)) })
	}
	cls := func(f func(u *ChannelClosed)) []byte {
		return mut(KindChannelClosed, func(m Message) { f(m.(*ChannelClosed)) })
	}
	wireBytes := func(env *wire.GossipEnvelope) []byte {
		b, err := proto.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	nodeWire := func(f func(w *wire.GossipNodeAnnouncement)) []byte {
		var env wire.GossipEnvelope
		if err := proto.Unmarshal(raw(t, good[KindNodeAnnouncement]()), &env); err != nil {
			t.Fatal(err)
		}
		f(env.GetNodeAnnouncement())
		return wireBytes(&env)
	}
	_, rsaLike := testKey(t, 9)
	bigAddr := ma.StringCast("/dns4/" + strings.Repeat("a", 251) + "/tcp/1")
	goodUpd := raw(t, good[KindChannelUpdate]())

	return []struct {
		name string
		data []byte
		want Reason
	}{
		{"oversize", make([]byte, wire.MaxGossipMessage+1), ReasonOversize},
		{"empty", nil, ReasonMalformed},
		{"garbage", []byte{0xff, 0xff, 0xff}, ReasonMalformed},
		{"unknown field appended", append(bytes.Clone(goodUpd), 0x78, 0x01), ReasonMalformed},
		{"field repeated", append(bytes.Clone(goodUpd), goodUpd...), ReasonMalformed},
		{"explicit default", wireBytes(&wire.GossipEnvelope{}), ReasonMalformed},
		{"node: short id", node(func(a *NodeAnnouncement) { a.Node = a.Node[:37] }), ReasonMalformed},
		{"node: sha256 peer id", node(func(a *NodeAnnouncement) { a.Node = peer.ID(append([]byte{0x12, 0x20}, make([]byte, 32)...)) }), ReasonMalformed},
		{"node: alias too long", node(func(a *NodeAnnouncement) { a.Alias = strings.Repeat("x", 33) }), ReasonOutOfBounds},
		{"node: control char", node(func(a *NodeAnnouncement) { a.Alias = "a\nb" }), ReasonMalformed},
		{"node: too many addrs", node(func(a *NodeAnnouncement) {
			for len(a.Addrs) <= MaxAddrs {
				a.Addrs = append(a.Addrs, a.Addrs[0])
			}
		}), ReasonOutOfBounds},
		{"node: addr too long", node(func(a *NodeAnnouncement) { a.Addrs = []ma.Multiaddr{bigAddr} }), ReasonOutOfBounds},
		{"node: garbled addr", nodeWire(func(w *wire.GossipNodeAnnouncement) { w.Addrs[0] = []byte{0xff, 0xff, 0x01} }), ReasonMalformed},
		{"node: empty addr", nodeWire(func(w *wire.GossipNodeAnnouncement) { w.Addrs[0] = nil }), ReasonMalformed},
		{"node: invalid UTF-8 alias", bytes.Replace(node(func(a *NodeAnnouncement) { a.Alias = "éé" }), []byte("éé"), []byte{0xff, 0xfe, 0xff, 0xfe}, 1), ReasonMalformed},
		{"node: short onion key", nodeWire(func(w *wire.GossipNodeAnnouncement) { w.OnionKey = w.OnionKey[:32] }), ReasonMalformed},
		{"node: bad onion key prefix", node(func(a *NodeAnnouncement) { a.OnionKey[0] = 4 }), ReasonMalformed},
		{"node: onion key off curve", node(func(a *NodeAnnouncement) {
			for i := 1; i < OnionKeySize; i++ {
				a.OnionKey[i] = 0xff
			}
		}), ReasonMalformed},
		{"node: features too long", node(func(a *NodeAnnouncement) { a.Features = make([]byte, MaxFeatureBytes+1) }), ReasonOutOfBounds},
		{"node: timestamp too early", node(func(a *NodeAnnouncement) { a.Timestamp = MinTimestamp - 1 }), ReasonOutOfBounds},
		{"node: no signature", node(func(a *NodeAnnouncement) { a.Signature = nil }), ReasonBadSignature},
		{"node: short signature", node(func(a *NodeAnnouncement) { a.Signature = a.Signature[:63] }), ReasonBadSignature},
		{"node: timestamp overflows int64", wireBytes(&wire.GossipEnvelope{Msg: &wire.GossipEnvelope_NodeAnnouncement{NodeAnnouncement: &wire.GossipNodeAnnouncement{
			NodeId: []byte(rsaLike), OnionKey: make([]byte, 33), TimestampMs: 1 << 63, Signature: make([]byte, 64)}}}), ReasonOutOfBounds},
		{"channel: zero id", chn(func(a *ChannelAnnouncement) { a.ChannelID = ChannelID{} }), ReasonMalformed},
		{"channel: short id", wireBytes(&wire.GossipEnvelope{Msg: &wire.GossipEnvelope_ChannelAnnouncement{ChannelAnnouncement: &wire.GossipChannelAnnouncement{
			ChannelId: make([]byte, 31)}}}), ReasonMalformed},
		{"channel: ends unordered", chn(func(a *ChannelAnnouncement) { a.Node1, a.Node2 = a.Node2, a.Node1 }), ReasonMalformed},
		{"channel: same ends", chn(func(a *ChannelAnnouncement) { a.Node2 = a.Node1 }), ReasonMalformed},
		{"channel: zero capacity", chn(func(a *ChannelAnnouncement) { a.Capacity = 0 }), ReasonOutOfBounds},
		{"channel: capacity too large", chn(func(a *ChannelAnnouncement) { a.Capacity = MaxCapacity + 1 }), ReasonOutOfBounds},
		{"channel: missing signature", chn(func(a *ChannelAnnouncement) { a.Sig2 = nil }), ReasonBadSignature},
		{"update: direction 2", upd(func(u *ChannelUpdate) { u.Direction = 2 }), ReasonMalformed},
		{"update: fee base too large", upd(func(u *ChannelUpdate) { u.FeeBase = MaxFeeBase + 1 }), ReasonOutOfBounds},
		{"update: ppm too large", upd(func(u *ChannelUpdate) { u.FeePPM = MaxFeePPM + 1 }), ReasonOutOfBounds},
		{"update: zero expiry delta", upd(func(u *ChannelUpdate) { u.ExpiryDelta = 0 }), ReasonOutOfBounds},
		{"update: expiry delta too large", upd(func(u *ChannelUpdate) { u.ExpiryDelta = MaxExpiryDelta + 1 }), ReasonOutOfBounds},
		{"update: zero htlc min", upd(func(u *ChannelUpdate) { u.HTLCMin = 0 }), ReasonOutOfBounds},
		{"update: htlc min above max", upd(func(u *ChannelUpdate) { u.HTLCMin = u.HTLCMax + 1 }), ReasonOutOfBounds},
		{"update: htlc max too large", upd(func(u *ChannelUpdate) { u.HTLCMax = MaxCapacity + 1 }), ReasonOutOfBounds},
		{"update: timestamp too early", upd(func(u *ChannelUpdate) { u.Timestamp = 1 }), ReasonOutOfBounds},
		{"update: no signature", upd(func(u *ChannelUpdate) { u.Signature = nil }), ReasonBadSignature},
		{"closed: side 2", cls(func(c *ChannelClosed) { c.Side = 2 }), ReasonMalformed},
		{"closed: timestamp too early", cls(func(c *ChannelClosed) { c.Timestamp = 0 }), ReasonOutOfBounds},
		{"closed: long signature", cls(func(c *ChannelClosed) { c.Signature = append(c.Signature, 0) }), ReasonBadSignature},
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range badMessages(t) {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(tc.data)
			if err == nil {
				t.Fatalf("decoded %+v", m)
			}
			if got := ReasonOf(err); got != tc.want {
				t.Fatalf("reason %s, want %s (%v)", got, tc.want, err)
			}
			// The validator rejects it too, with the same reason.
			v := newValidator(t, Config{AcceptChannellessNodes: true})
			r := v.Validate(tc.data, t0, FromGossip)
			if r.Verdict != Reject || r.Reason != tc.want {
				t.Fatalf("validator: %s %s (%v), want reject %s", r.Verdict, r.Reason, r.Err, tc.want)
			}
		})
	}
}

func TestEncodeRefusesBadMessages(t *testing.T) {
	ann := chanAnn(t, 1, 1, 2, 1000)
	u := update(t, ann, 1, t0)
	u.FeePPM = MaxFeePPM + 1
	if _, err := Encode(u); !errors.Is(err, ErrOutOfBounds) {
		t.Fatalf("encode out-of-bounds update: %v", err)
	}
	u2 := update(t, ann, 1, t0)
	u2.Signature = nil
	if _, err := Encode(u2); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("encode unsigned update: %v", err)
	}
	if _, err := Encode(nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("encode nil: %v", err)
	}
}

func TestSigningBytesDomains(t *testing.T) {
	ann := chanAnn(t, 1, 1, 2, 1000)
	u := update(t, ann, 1, t0)
	c := &ChannelClosed{ShortID: u.ShortID, Side: u.Direction, Timestamp: u.Timestamp}
	for _, tc := range []struct {
		b      []byte
		domain string
	}{
		{nodeAnn(t, 1, t0).SigningBytes(), wire.DomainNodeAnnouncement},
		{ann.SigningBytes(), wire.DomainChannelAnnouncement},
		{u.SigningBytes(ann.ChannelID), wire.DomainChannelUpdate},
		{c.SigningBytes(ann.ChannelID), wire.DomainChannelClosed},
	} {
		if !bytes.HasPrefix(tc.b, []byte(tc.domain)) {
			t.Errorf("signing bytes %x lack domain %q", tc.b[:16], tc.domain)
		}
	}
	// A closed notice cannot pass for an update with the same fields, nor
	// an update signed for one channel for another.
	if err := verify(mustPub(t, ann.Node1), c.SigningBytes(ann.ChannelID), u.Signature); err == nil {
		t.Fatal("update signature verifies as a closed notice")
	}
	if err := verify(mustPub(t, ann.Node1), u.SigningBytes(testChannelID(2)), u.Signature); err == nil {
		t.Fatal("update signature verifies for another channel id")
	}
}

func mustPub(t *testing.T, id peer.ID) crypto.PubKey {
	pk, err := id.ExtractPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

func TestVerifyDetectsTampering(t *testing.T) {
	ann := chanAnn(t, 1, 1, 2, 1000)
	for _, tc := range []struct {
		name   string
		verify func() error
		want   error
	}{
		{"node alias", func() error { a := nodeAnn(t, 1, t0); a.Alias = "x"; return a.Verify() }, ErrBadSignature},
		{"node timestamp", func() error { a := nodeAnn(t, 1, t0); a.Timestamp++; return a.Verify() }, ErrBadSignature},
		{"node onion key", func() error { a := nodeAnn(t, 1, t0); a.OnionKey = testOnionKey(2); return a.Verify() }, ErrBadSignature},
		{"node out of bounds", func() error { a := nodeAnn(t, 1, t0); a.Features = make([]byte, 17); return a.Verify() }, ErrOutOfBounds},
		{"channel capacity", func() error { a := chanAnn(t, 1, 1, 2, 1000); a.Capacity--; return a.Verify() }, ErrBadSignature},
		{"channel unsigned", func() error { a := chanAnn(t, 1, 1, 2, 1000); a.Sig1 = nil; return a.Verify() }, ErrIncomplete},
		{"update htlc max", func() error { u := update(t, ann, 1, t0); u.HTLCMax--; return u.Verify(ann) }, ErrBadSignature},
		{"update disabled", func() error { u := update(t, ann, 1, t0); u.Disabled = true; return u.Verify(ann) }, ErrBadSignature},
		{"update above capacity", func() error { u := update(t, ann, 1, t0); u.HTLCMax = 1001; return u.Verify(ann) }, ErrOutOfBounds},
		{"closed timestamp", func() error { c := closedNotice(t, ann, 1, t0); c.Timestamp++; return c.Verify(ann) }, ErrBadSignature},
		{"closed other channel", func() error { c := closedNotice(t, ann, 1, t0); return c.Verify(chanAnn(t, 2, 1, 2, 1000)) }, ErrWrongChannel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.verify(); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
