package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/protocol/onion"
	"github.com/paymesh/paymesh/routing"
)

// Bad input to the payment stack (issue 6, "Bad input"), over real nodes on
// loopback. Each case sends an HTLC whose onion is built by hand, the way
// payRun.send builds it, then spoiled; the HTLC must come back failed with
// the right BOLT 4 code, attributed (as the payer's attribute does) to the
// right hop, nothing may stay pending, and every channel's balances must be
// as before.

// handOnion is an onion built by hand for route rt, before it is sent.
type handOnion struct {
	rt       routing.Route
	hash     channel.Hash
	payloads []onion.HopPayload
	keys     []*secp256k1.PublicKey
	// htlcAmount and htlcExpiry are the first HTLC's (expiry relative to
	// the send time, ms).
	htlcAmount uint64
	htlcExpiry uint64
}

// newHandOnion builds the route over channels from payer carrying amount
// with finalDelta (ms) for the payee, and the payloads payRun.send would put
// in its onion: secret and total for the final hop.
func newHandOnion(t *testing.T, payer *Node, channels []channel.ID, amount, finalDelta uint64, hash, secret channel.Hash, total uint64) *handOnion {
	t.Helper()
	var path []routing.ChannelID
	for _, id := range channels {
		path = append(path, routing.ChannelID(id.ShortID()))
	}
	rt, err := routing.BuildRoute(payer.Graph().Snapshot(), routing.NodeID(payer.ID()), path, amount, finalDelta)
	if err != nil {
		t.Fatal(err)
	}
	h := &handOnion{rt: rt, hash: hash, htlcAmount: rt.Hops[0].Amount, htlcExpiry: rt.Hops[0].Expiry}
	last := len(rt.Hops) - 1
	for i, hop := range rt.Hops {
		key, err := payer.payer.onionKey(peer.ID(hop.To))
		if err != nil {
			t.Fatal(err)
		}
		h.keys = append(h.keys, key)
		if i < last {
			next := rt.Hops[i+1]
			// Expiries stay relative here; send makes them absolute.
			h.payloads = append(h.payloads, onion.HopPayload{AmountToForward: next.Amount, OutgoingExpiry: next.Expiry,
				ShortChannelID: uint64(next.Channel), HasShortChannelID: true})
			continue
		}
		h.payloads = append(h.payloads, onion.HopPayload{AmountToForward: hop.Amount, OutgoingExpiry: hop.Expiry,
			PaymentData: &onion.PaymentData{Secret: secret, TotalAmount: total}})
	}
	return h
}

// offer encodes the onion (expiries made absolute at now), lets spoil
// alter its bytes and offers the HTLC on the payer's first channel. It
// returns the outcome's channel and the hops' shared secrets.
func (h *handOnion) offer(t *testing.T, payer *Node, first channel.ID, spoil func([]byte)) (<-chan HTLCResult, []onion.SharedSecret) {
	t.Helper()
	now := uint64(time.Now().UnixMilli())
	hops := make([]onion.Hop, len(h.payloads))
	for i, pl := range h.payloads {
		pl.OutgoingExpiry += now
		b, err := pl.Encode()
		if err != nil {
			t.Fatal(err)
		}
		hops[i] = onion.Hop{PubKey: h.keys[i], Payload: b}
	}
	sk, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	pkt, secrets, err := onion.NewPacket(sk, hops, h.hash[:])
	if err != nil {
		t.Fatal(err)
	}
	raw := pkt.Encode()
	if spoil != nil {
		spoil(raw)
	}
	res, err := payer.OfferHTLC(context.Background(), first, h.htlcAmount, h.hash, time.UnixMilli(int64(now+h.htlcExpiry)), raw)
	if err != nil {
		t.Fatal(err)
	}
	return res, secrets
}

// send offers the HTLC (see offer) and waits for its outcome.
func (h *handOnion) send(t *testing.T, payer *Node, first channel.ID, spoil func([]byte)) partResult {
	t.Helper()
	res, secrets := h.offer(t, payer, first, spoil)
	select {
	case r := <-res:
		return partResult{route: h.rt, res: r, ss: secrets}
	case <-time.After(20 * time.Second):
		t.Fatal("the HTLC was neither fulfilled nor failed in 20 s")
	}
	return partResult{}
}

func randomHash(t *testing.T) channel.Hash {
	t.Helper()
	var h channel.Hash
	if _, err := rand.Read(h[:]); err != nil {
		t.Fatal(err)
	}
	return h
}

// balancesOf records every channel's balances seen by its opener.
func balancesOf(t *testing.T, nodes []*Node, ids []channel.ID) [][2]uint64 {
	t.Helper()
	var out [][2]uint64
	for i, id := range ids {
		c := channelOf(t, nodes[i], id)
		out = append(out, [2]uint64{c.LocalBalance, c.RemoteBalance})
	}
	return out
}

// TestBadInputFailedBack runs every bad input on one line A→B→C→D (hop 0
// is B, hop 1 C, hop 2 D, as attribute counts them).
func TestBadInputFailedBack(t *testing.T) {
	nodes := startCluster(t, 4)
	ids := openLine(t, nodes, 10_000_000, 0)
	payer, payee := nodes[0], nodes[3]
	const amount = 50_000
	const finalDelta = 40_000
	before := balancesOf(t, nodes, ids)

	// forHash builds a valid onion for D, paying hash with secret.
	forHash := func(t *testing.T, hash, secret channel.Hash, amt, total uint64) *handOnion {
		return newHandOnion(t, payer, ids, amt, finalDelta, hash, secret, total)
	}
	// invoiced builds a valid onion paying a fresh invoice of D.
	invoiced := func(t *testing.T, expiry time.Duration, amt, total uint64) *handOnion {
		rec, err := payee.CreateInvoice(amount, "bad input", expiry, nil)
		if err != nil {
			t.Fatal(err)
		}
		return forHash(t, rec.Invoice.PaymentHash, rec.Invoice.PaymentSecret, amt, total)
	}
	valid := func(t *testing.T) *handOnion { return forHash(t, randomHash(t), randomHash(t), amount, amount) }

	const hmacAt = onion.PacketSize - onion.HMACSize
	cases := []struct {
		name  string
		build func(t *testing.T) *handOnion
		spoil func([]byte)
		hop   int
		code  onion.FailureCode
		// badOnion: B answers with reason kind 0x01 (it could not read the
		// onion), not with an error packet.
		badOnion bool
	}{
		{name: "forged HMAC", build: valid, spoil: func(b []byte) { b[hmacAt+7] ^= 0x01 },
			hop: 0, code: onion.CodeInvalidOnionHMAC, badOnion: true},
		{name: "forged routing info", build: valid, spoil: func(b []byte) { b[1+onion.PubKeySize+100] ^= 0x80 },
			hop: 0, code: onion.CodeInvalidOnionHMAC, badOnion: true},
		{name: "tampered ephemeral key", build: valid, spoil: func(b []byte) { b[1+onion.PubKeySize-1] ^= 0x01 },
			// Either the point is off the curve or it is another key: the
			// HMAC then fails.
			hop: 0, code: 0, badOnion: true},
		{name: "unknown version", build: valid, spoil: func(b []byte) { b[0] = 1 },
			hop: 0, code: onion.CodeInvalidOnionVersion, badOnion: true},
		{name: "onion for another node at hop 1", build: func(t *testing.T) *handOnion {
			h := valid(t)
			h.keys[1] = h.keys[2] // C cannot authenticate its layer
			return h
		}, hop: 0, code: onion.CodeInvalidOnionHMAC},
		{name: "amount below the invoice", build: func(t *testing.T) *handOnion {
			return invoiced(t, time.Hour, amount-1, amount-1)
		}, hop: 2, code: onion.CodeIncorrectOrUnknownPaymentDetails},
		{name: "HTLC below the final payload's amount", build: func(t *testing.T) *handOnion {
			h := invoiced(t, time.Hour, amount, amount)
			h.payloads[2].AmountToForward++ // C forwards what its own layer says
			return h
		}, hop: 2, code: onion.CodeFinalIncorrectHTLCAmount},
		{name: "invoice expired in flight", build: func(t *testing.T) *handOnion {
			return invoiced(t, time.Millisecond, amount, amount)
		}, hop: 2, code: onion.CodeIncorrectOrUnknownPaymentDetails},
		{name: "fee too low at hop 1", build: func(t *testing.T) *handOnion {
			h := valid(t) // route and fees computed with C's old policy
			setFees(t, nodes[2], ids[2], 1000, 1000, 20_000)
			t.Cleanup(func() { setFees(t, nodes[2], ids[2], 1, 1000, 20_000) })
			return h
		}, hop: 1, code: onion.CodeFeeInsufficient},
		{name: "expiry delta too short at hop 1", build: func(t *testing.T) *handOnion {
			h := valid(t)
			h.payloads[1].OutgoingExpiry = h.payloads[0].OutgoingExpiry - 10_000 // C asks for 20 s
			return h
		}, hop: 1, code: onion.CodeIncorrectCLTVExpiry},
		{name: "outgoing expiry in the past at hop 1", build: func(t *testing.T) *handOnion {
			h := valid(t)
			// C's incoming expiry leaves its delta, but what it should
			// offer D expired 5 s ago (send adds the relative expiry to
			// now modulo 2^64).
			past := int64(-5_000)
			h.payloads[1].OutgoingExpiry = uint64(past)
			return h
		}, hop: 1, code: onion.CodeExpiryTooSoon},
		{name: "unknown next channel at hop 1", build: func(t *testing.T) *handOnion {
			h := valid(t)
			h.payloads[1].ShortChannelID ^= 0x5a5a
			return h
		}, hop: 1, code: onion.CodeUnknownNextPeer},
		{name: "next channel not the hop's at hop 1", build: func(t *testing.T) *handOnion {
			h := valid(t)
			h.payloads[1].ShortChannelID = ids[0].ShortID() // A–B: in the graph, not C's
			return h
		}, hop: 1, code: onion.CodeUnknownNextPeer},
		{name: "next channel is the incoming one at hop 1", build: func(t *testing.T) *handOnion {
			h := valid(t)
			h.payloads[1].ShortChannelID = ids[1].ShortID()
			return h
		}, hop: 1, code: onion.CodeUnknownNextPeer},
		{name: "unknown payment hash, no invoice", build: valid,
			hop: 2, code: onion.CodeIncorrectOrUnknownPaymentDetails},
		{name: "spontaneous payment with a wrong preimage", build: func(t *testing.T) *handOnion {
			h := valid(t)
			pre := [32]byte(randomHash(t))
			h.payloads[2].KeysendPreimage = &pre
			return h
		}, hop: 2, code: onion.CodeIncorrectOrUnknownPaymentDetails},
		{name: "payee holds a part that is never completed", build: func(t *testing.T) *handOnion {
			reg := payee.invoiceReg()
			reg.mu.Lock()
			reg.mppTimeout = time.Second
			reg.mu.Unlock()
			t.Cleanup(func() {
				reg.mu.Lock()
				reg.mppTimeout = MPPTimeout
				reg.mu.Unlock()
			})
			return invoiced(t, time.Hour, amount/2, amount) // the other half never comes
		}, hop: 2, code: onion.CodeMPPTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.build(t)
			var sent []byte
			pr := h.send(t, payer, ids[0], func(b []byte) {
				if tc.spoil != nil {
					tc.spoil(b)
				}
				sent = append([]byte(nil), b...)
			})
			if pr.res.Preimage != nil || pr.res.Err != nil || len(pr.res.Reason) < 2 {
				t.Fatalf("outcome %+v, want a failure from the peer", pr.res)
			}
			if kind := pr.res.Reason[0]; (kind == reasonBadOnion) != tc.badOnion {
				t.Fatalf("reason kind %#x (bad onion expected: %v)", kind, tc.badOnion)
			}
			hop, msg, desc := attribute(pr)
			if msg == nil {
				t.Fatalf("unattributed failure at hop %d: %s", hop, desc)
			}
			code := tc.code
			if code == 0 && msg.Code.IsBadOnion() {
				code = msg.Code
			}
			if hop != tc.hop || msg.Code != code || desc != code.String() {
				t.Fatalf("failure %s at hop %d, want %s at hop %d", desc, hop, code, tc.hop)
			}
			if tc.badOnion && msg.OnionSHA256 != sha256.Sum256(sent) {
				t.Fatal("BADONION failure does not carry the SHA-256 of the onion sent")
			}
			waitNoPending(t, nodes, ids)
			if after := balancesOf(t, nodes, ids); after != nil && !equalBalances(after, before) {
				t.Fatalf("balances moved: %v, were %v", after, before)
			}
		})
	}
	// Control: the same hand-built onion, unspoiled, pays an invoice, so
	// the failures above come from the bad input alone.
	h := invoiced(t, time.Hour, amount, amount)
	pr := h.send(t, payer, ids[0], nil)
	if pr.res.Preimage == nil {
		_, _, desc := attribute(pr)
		t.Fatalf("hand-built payment failed: %s (%+v)", desc, pr.res)
	}
	waitNoPending(t, nodes, ids)
	for i, b := range balancesOf(t, nodes, ids) {
		if moved := before[i][0] - b[0]; moved != h.rt.Hops[i].Amount {
			t.Fatalf("channel %d: %d moved, want %d", i, moved, h.rt.Hops[i].Amount)
		}
	}
	if r, err := payee.Invoice(h.hash); err != nil || r.State != InvoiceStatePaid {
		t.Fatalf("control invoice: %+v %v", r, err)
	}
	rec, err := payee.Invoices(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rec {
		if r.State == InvoiceStatePaid && r.Invoice.PaymentHash != h.hash {
			t.Fatalf("invoice %x paid by bad input", r.Invoice.PaymentHash)
		}
	}
}

func equalBalances(a, b [][2]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// setFees changes n's policy on its side of channel id and checks the
// switch sees it at once.
func setFees(t *testing.T, n *Node, id channel.ID, base uint64, ppm, deltaMS uint32) {
	t.Helper()
	if err := n.SetFees(id.ShortID(), base, ppm, deltaMS); err != nil {
		t.Fatal(err)
	}
	if p := n.ownPolicyOrDefault(id.ShortID()); p.FeeBase != base || p.FeePPM != ppm || p.ExpiryDeltaMS != deltaMS {
		t.Fatalf("policy after SetFees: %+v", p)
	}
}

// TestBadInputSilentPayee stops the payee of A→B→C while it holds an HTLC
// (one part of a two-part payment whose second part never comes): B's
// outgoing HTLC gets no answer. A's HTLC must still end, failed back by B,
// no later than its expiry plus the abort grace, and the channel A–B must
// stay open, settled and with its balances unchanged.
func TestBadInputSilentPayee(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for HTLC expiries (~40 s)")
	}
	nodes := startCluster(t, 3)
	ids := openLine(t, nodes, 10_000_000, 0)
	payer, payee := nodes[0], nodes[2]
	before := balancesOf(t, nodes, ids)
	rec, err := payee.CreateInvoice(100_000, "silent", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A short final expiry (5 s) keeps the test short: A's HTLC expires
	// 5 s + B's 20 s delta after it leaves.
	h := newHandOnion(t, payer, ids, 50_000, 5_000, rec.Invoice.PaymentHash, rec.Invoice.PaymentSecret, 100_000)
	sentAt := time.Now()
	expiry := sentAt.Add(time.Duration(h.htlcExpiry) * time.Millisecond)
	deadline := expiry.Add(payer.chans.abortGrace)
	res, secrets := h.offer(t, payer, ids[0], nil)
	// Wait until C holds the part, then stop C.
	eventually(t, 3*time.Second, func() bool { return channelOf(t, payee, ids[1]).PendingHTLCs > 0 },
		func() string { return "the part never reached the payee" })
	if err := payee.Close(); err != nil {
		t.Fatal(err)
	}
	var pr partResult
	select {
	case r := <-res:
		pr = partResult{route: h.rt, res: r, ss: secrets}
	case <-time.After(time.Until(deadline) + 3*time.Second):
		t.Fatalf("A's HTLC still pending %v after its expiry", time.Since(expiry).Round(time.Second))
	}
	ended := time.Now()
	t.Logf("A's HTLC ended %v after it was sent (expiry %v, abort grace %v): %+v",
		ended.Sub(sentAt).Round(100*time.Millisecond), expiry.Sub(sentAt), payer.chans.abortGrace, pr.res)
	if pr.res.Preimage != nil {
		t.Fatal("fulfilled by a payee that was stopped before the payment completed")
	}
	if pr.res.Err != nil {
		t.Fatalf("A's HTLC ended with its channel (%v), not failed back by B", pr.res.Err)
	}
	at, msg, desc := attribute(pr)
	if at != 0 || msg == nil || msg.Code != onion.CodeTemporaryChannelFailure && msg.Code != onion.CodePermanentChannelFailure {
		t.Fatalf("failure %s at hop %d, want a channel failure (B–C) at hop 0 (B)", desc, at)
	}
	if ended.After(deadline) {
		t.Fatalf("A's HTLC failed %v after its expiry, past the %v grace", ended.Sub(expiry), payer.chans.abortGrace)
	}
	waitNoPending(t, nodes[:2], ids[:1])
	if c := channelOf(t, payer, ids[0]); c.State != "open" || c.LocalBalance != before[0][0] || c.RemoteBalance != before[0][1] {
		t.Fatalf("channel A–B after the payee went silent: %+v (balances were %v)", c, before[0])
	}
}
