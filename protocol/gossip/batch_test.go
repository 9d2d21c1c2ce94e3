package gossip

import (
	"bytes"
	stded25519 "crypto/ed25519"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
)

// goodChecks returns n valid signatures by 7 keys.
func goodChecks(n int) []sigCheck { return checksBy(n, 7) }

// checksBy returns n valid signatures by nkeys keys.
func checksBy(n, nkeys int) []sigCheck {
	var keys []stded25519.PrivateKey
	for i := range nkeys {
		seed := make([]byte, stded25519.SeedSize)
		binary.BigEndian.PutUint32(seed, uint32(i+1))
		keys = append(keys, stded25519.NewKeyFromSeed(seed))
	}
	checks := make([]sigCheck, n)
	for i := range checks {
		k := keys[i%len(keys)]
		msg := fmt.Appendf(nil, "message %d", i)
		checks[i] = sigCheck{key: k.Public().(stded25519.PublicKey), msg: msg, sig: stded25519.Sign(k, msg)}
	}
	return checks
}

// groupOrder is ℓ, little-endian, the order of the Ed25519 base point.
var groupOrder = []byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}

// addOrder returns s + ℓ (little-endian, 32 bytes): the same scalar, not
// reduced, which crypto/ed25519 refuses.
func addOrder(s []byte) []byte {
	out := make([]byte, 32)
	var carry uint16
	for i := range out {
		v := uint16(s[i]) + uint16(groupOrder[i]) + carry
		out[i], carry = byte(v), v>>8
	}
	return out
}

// identityKeySig is a key that crypto/ed25519 accepts although it is the
// identity point (small order) and a signature that verifies under it.
func identityKeySig(msg []byte) sigCheck {
	key := make([]byte, 32)
	key[0] = 1 // y = 1, x = 0: the identity
	var s scalar.Scalar
	_, _ = s.SetBytesModOrder(binary.LittleEndian.AppendUint64(make([]byte, 0, 32), 12345))
	var sb [32]byte
	_ = s.ToBytes(sb[:])
	var R curve.EdwardsPoint
	R.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, &s)
	var rc curve.CompressedEdwardsY
	rc.SetEdwardsPoint(&R)
	return sigCheck{key: key, msg: msg, sig: append(rc[:], sb[:]...)}
}

func TestVerifySigs(t *testing.T) {
	const n, bad = 40, 17
	for _, tc := range []struct {
		name    string
		corrupt func(c *sigCheck)
		want    bool // what crypto/ed25519 says of the corrupted item
	}{
		{"all good", func(c *sigCheck) {}, true},
		{"other message", func(c *sigCheck) { c.msg = append([]byte(nil), "other"...) }, false},
		{"bit of R", func(c *sigCheck) { c.sig = append([]byte(nil), c.sig...); c.sig[3] ^= 0x10 }, false},
		{"bit of S", func(c *sigCheck) { c.sig = append([]byte(nil), c.sig...); c.sig[40] ^= 0x01 }, false},
		{"S not reduced", func(c *sigCheck) { c.sig = append(append([]byte(nil), c.sig[:32]...), addOrder(c.sig[32:])...) }, false},
		{"other key", func(c *sigCheck) { c.key = goodChecks(bad + 2)[bad+1].key }, false},
		{"short signature", func(c *sigCheck) { c.sig = c.sig[:63] }, false},
		{"short key", func(c *sigCheck) { c.key = c.key[:31] }, false},
		{"no signature", func(c *sigCheck) { c.sig = nil }, false},
		{"identity key", func(c *sigCheck) { *c = identityKeySig(c.msg) }, true},
		{"key not a point", func(c *sigCheck) { c.key = notAPoint(t) }, false},
		// The identity key encoded with y = p+1: crypto/ed25519 takes
		// it, and hashes those bytes.
		{"non-canonical key", func(c *sigCheck) {
			*c = identityKeySig(c.msg)
			c.key = append([]byte{0xee}, bytes.Repeat([]byte{0xff}, 30)...)
			c.key = append(c.key, 0x7f)
		}, true},
		// R = s = 0 signs anything under the identity key; R must be
		// encoded canonically (y = 1, sign bit clear).
		{"zero signature, identity key", func(c *sigCheck) {
			c.key, c.sig = identityKeySig(nil).key, append([]byte{1}, make([]byte, 63)...)
		}, true},
		{"R with y = p+1", func(c *sigCheck) {
			c.key = identityKeySig(nil).key
			c.sig = append(append([]byte{0xee}, bytes.Repeat([]byte{0xff}, 30)...), 0x7f)
			c.sig = append(c.sig, make([]byte, 32)...)
		}, false},
		{"R with x = 0 and the sign bit", func(c *sigCheck) {
			c.key = identityKeySig(nil).key
			c.sig = append([]byte{1}, make([]byte, 63)...)
			c.sig[31] = 0x80
		}, false},
	} {
		for _, size := range []int{minBatch - 1, n} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, size), func(t *testing.T) {
				checks := goodChecks(size)
				at := min(bad, size-1)
				tc.corrupt(&checks[at])
				if got := verifyOne(checks[at]); got != tc.want {
					t.Fatalf("crypto/ed25519 says %v, want %v", got, tc.want)
				}
				ok := make([]bool, size)
				verifySigs(checks, ok, newKeyCache())
				for i := range checks {
					want := i != at || tc.want
					if ok[i] != want {
						t.Errorf("signature %d: %v, want %v", i, ok[i], want)
					}
				}
			})
		}
	}
}

// TestVerifySigsCofactored pins down the one documented difference of the
// batch equation: a signer who adds a small-order point to R gets its
// signature past a batch, though crypto/ed25519 refuses it alone.
func TestVerifySigsCofactored(t *testing.T) {
	var a, r, k, s scalar.Scalar
	_, _ = a.SetBytesModOrder(binary.LittleEndian.AppendUint64(make([]byte, 0, 32), 987654321))
	_, _ = r.SetBytesModOrder(binary.LittleEndian.AppendUint64(make([]byte, 0, 32), 123456789))
	var A, R curve.EdwardsPoint
	A.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, &a)
	R.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, &r)
	var ac curve.CompressedEdwardsY
	ac.SetEdwardsPoint(&A)
	sign := func(R *curve.EdwardsPoint, msg []byte) []byte {
		var rc curve.CompressedEdwardsY
		rc.SetEdwardsPoint(R)
		h := sha512.New()
		h.Write(rc[:])
		h.Write(ac[:])
		h.Write(msg)
		_, _ = k.SetBytesModOrderWide(h.Sum(nil))
		s.Mul(&k, &a)
		s.Add(&s, &r)
		var sb [32]byte
		_ = s.ToBytes(sb[:])
		return append(rc[:], sb[:]...)
	}
	msg := []byte("crafted")
	honest := sigCheck{key: ac[:], msg: msg, sig: sign(&R, msg)}
	if !verifyOne(honest) {
		t.Fatal("the honest signature made here does not verify: the test's arithmetic is wrong")
	}
	var crafted curve.EdwardsPoint
	crafted.Add(&R, curve.EIGHT_TORSION[1])
	c := sigCheck{key: ac[:], msg: msg, sig: sign(&crafted, msg)}
	if verifyOne(c) {
		t.Fatal("crypto/ed25519 accepts an R offset by a torsion point")
	}
	checks := append(goodChecks(minBatch), c)
	ok := make([]bool, len(checks))
	verifySigs(checks, ok, newKeyCache())
	for i := range ok {
		if !ok[i] {
			t.Fatalf("signature %d refused; the cofactored batch equation passes them all", i)
		}
	}
}

// TestSyncOneBadSignatureInBatch: a chunk whose runs are checked in
// batches, with one forged update among many good ones, rejects exactly
// that update (as Validate does), accepts every other item, and reports
// the peer.
func TestSyncOneBadSignatureInBatch(t *testing.T) {
	const channels = 2 * minBatchPerWorker
	items := graph(t, channels)
	const forged = channels + 301 // an update, in the second batch
	m, err := Decode(items[forged])
	if err != nil {
		t.Fatal(err)
	}
	u := m.(*ChannelUpdate)
	u.Signature = append([]byte(nil), u.Signature...)
	u.Signature[10] ^= 0x40
	items[forged] = enc(t, u)

	// What one-by-one validation decides.
	want := make([]Result, len(items))
	seq := newValidator(t, Config{})
	for i, it := range items {
		want[i] = seq.Validate(it, t0, FromSync)
	}

	for _, workers := range []int{1, 2, 3} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			s := NewSyncSession(newValidator(t, Config{}))
			s.Workers = workers
			s.Run = func(n int, f func(int)) {
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() { f(i) })
				}
				wg.Wait()
			}
			frames := pack(t, items, 0)
			if len(frames) != 1 {
				t.Fatalf("%d frames", len(frames))
			}
			res, _, err := s.Receive(frames[0], t0)
			if !errors.Is(err, ErrSyncPeer) || !strings.Contains(err.Error(), fmt.Sprintf("item %d rejected", forged)) {
				t.Fatalf("err %v", err)
			}
			// The announcements and the updates come back, not the nodes.
			if len(res) != 3*channels {
				t.Fatalf("%d results, want %d", len(res), 3*channels)
			}
			for i, r := range res {
				if r.Verdict != want[i].Verdict || r.Reason != want[i].Reason {
					t.Errorf("item %d: %s %s, one by one %s %s", i, r.Verdict, r.Reason, want[i].Verdict, want[i].Reason)
				}
				if (i == forged) != (r.Verdict == Reject) {
					t.Errorf("item %d: %s", i, r.Verdict)
				}
			}
			if r := res[forged]; r.Reason != ReasonBadSignature || !errors.Is(r.Err, ErrBadSignature) || r.Channel.ID != testChannelID((forged-channels)/2) {
				t.Errorf("forged update: %s %v, channel %s", r.Reason, r.Err, r.Channel.ID)
			}
		})
	}
}

// TestVerifyBatch checks the batch equation itself, which verifySigs
// backs with one-by-one checks: it passes a good set and fails a set with
// one bad signature.
func TestVerifyBatch(t *testing.T) {
	checks := goodChecks(64)
	if !verifyBatch(checks, newKeyCache()) {
		t.Fatal("a good batch fails")
	}
	checks[63].msg = []byte("tampered")
	if verifyBatch(checks, newKeyCache()) {
		t.Fatal("a bad batch passes")
	}
}

// notAPoint returns 32 bytes that encode no point of the curve.
func notAPoint(tb testing.TB) []byte {
	for i := range 256 {
		key := make([]byte, 32)
		key[0] = byte(i)
		var kc curve.CompressedEdwardsY
		copy(kc[:], key)
		var p curve.EdwardsPoint
		if _, err := p.SetCompressedY(&kc); err != nil {
			return key
		}
	}
	tb.Fatal("no encoding found that is not a point")
	return nil
}

// TestVerifySigsRandom compares verifySigs with crypto/ed25519 on random
// sets: random sizes, keys shared by several signatures, and a few
// signatures broken in random ways.
func TestVerifySigsRandom(t *testing.T) {
	rng := mathrand.New(mathrand.NewPCG(1, 2))
	pool := goodChecks(200)
	keys := newKeyCache() // shared across sets, as in a sync
	for round := range 60 {
		n := 1 + rng.IntN(120)
		checks := make([]sigCheck, n)
		for i := range checks {
			checks[i] = pool[rng.IntN(len(pool))]
		}
		for range rng.IntN(3) {
			i := rng.IntN(n)
			c := checks[i]
			switch rng.IntN(4) {
			case 0:
				c.msg = append(append([]byte(nil), c.msg...), 'x')
			case 1:
				c.sig = append([]byte(nil), c.sig...)
				c.sig[rng.IntN(64)] ^= byte(1 << rng.IntN(8))
			case 2:
				c.key = pool[rng.IntN(len(pool))].key
			case 3:
				c.sig = c.sig[:rng.IntN(64)]
			}
			checks[i] = c
		}
		ok := make([]bool, n)
		verifySigs(checks, ok, keys)
		for i, c := range checks {
			if want := verifyOne(c); ok[i] != want {
				t.Fatalf("round %d, signature %d of %d: %v, crypto/ed25519 %v", round, i, n, ok[i], want)
			}
		}
	}
}

// BenchmarkVerifySigs compares the cost per signature of a sync-sized
// batch with checking one by one.
func BenchmarkVerifySigs(b *testing.B) {
	// A sync chunk's worth for one of two workers; 15,000 nodes sign
	// 80,000 channels, so a batch sees most keys once or twice.
	checks := checksBy(4096, 3000)
	for _, size := range []int{256, 1024, 2048, 4096} {
		b.Run(fmt.Sprintf("batch-%d", size), func(b *testing.B) {
			ok := make([]bool, size)
			keys := newKeyCache()
			for b.Loop() {
				verifySigs(checks[:size], ok, keys)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size)/1000, "µs/sig")
		})
	}
	checks = checks[:1024]
	b.Run("one-by-one", func(b *testing.B) {
		for b.Loop() {
			for _, c := range checks {
				if !verifyOne(c) {
					b.Fatal("bad signature")
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(checks))/1000, "µs/sig")
	})
	// What a failed batch costs on top: the cofactored checks one by one.
	b.Run("cofactored-one-by-one", func(b *testing.B) {
		p, keys := newSigParser(), newKeyCache()
		for b.Loop() {
			for _, c := range checks {
				if !p.verifyCofactored(c, keys) {
					b.Fatal("bad signature")
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(checks))/1000, "µs/sig")
	})
}

// FuzzVerifySigs breaks signatures, keys and messages of a batch in ways
// the fuzzer picks: every verdict must be crypto/ed25519's.
func FuzzVerifySigs(f *testing.F) {
	pool := goodChecks(48)
	f.Add([]byte{0})
	f.Add([]byte{10, 3, 5, 1})
	f.Add([]byte{30, 1, 70, 0x80, 2, 100, 7, 9, 63, 0x10})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		n := minBatch + int(data[0])%40
		checks := append([]sigCheck(nil), pool[:n]...)
		for b := data[1:]; len(b) >= 3; b = b[3:] {
			c := &checks[int(b[0])%n]
			switch pos, val := int(b[1]), b[2]; {
			case pos < 64:
				if len(c.sig) > 0 {
					c.sig = append([]byte(nil), c.sig...)
					c.sig[pos%len(c.sig)] ^= val
				}
			case pos < 96:
				c.key = append([]byte(nil), c.key...)
				c.key[pos-64] ^= val
			case pos < 128:
				c.sig = c.sig[:int(val)%(len(c.sig)+1)]
			default:
				c.msg = append(append([]byte(nil), c.msg...), val)
			}
		}
		ok := make([]bool, n)
		verifySigs(checks, ok, newKeyCache())
		for i, c := range checks {
			if want := verifyOne(c); ok[i] != want {
				t.Fatalf("signature %d: %v, crypto/ed25519 %v", i, ok[i], want)
			}
		}
	})
}

// BenchmarkSyncSession validates a sync answer of 2,000 channels (their
// announcements, updates and node announcements, 8,000 items) with two
// workers, as a node on two cores does.
func BenchmarkSyncSession(b *testing.B) {
	items := graph(b, 2000)
	frames := pack(b, items, 0)
	run := func(n int, f func(int)) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { f(i) })
		}
		wg.Wait()
	}
	b.ReportAllocs()
	for b.Loop() {
		s := NewSyncSession(newValidator(b, Config{}))
		s.Run, s.Workers = run, 2
		for _, f := range frames {
			if _, _, err := s.Receive(f, t0); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items))/1000, "µs/item")
}

// TestValidateRunMatchesValidate feeds the same messy runs (duplicates,
// stale and future items, updates of unknown channels, forged and
// out-of-bounds items, short-id conflicts, closed channels, nodes without
// channels) to validateRun, in batches on several workers, and to Validate
// one by one: every verdict and reason, and the validator's state after,
// must be the same.
func TestValidateRunMatchesValidate(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { testValidateRunMatchesValidate(t, seed) })
	}
}

func testValidateRunMatchesValidate(t *testing.T, seed uint64) {
	rng := mathrand.New(mathrand.NewPCG(seed, 4))
	const n = 60
	var anns, upds, closes, nodes [][]byte
	var annMsgs []*ChannelAnnouncement
	for i := range n {
		a := chanAnn(t, i, i%20, (i%20+1+i/20)%20, 1_000_000)
		annMsgs = append(annMsgs, a)
		anns = append(anns, enc(t, a))
	}
	// A short-id conflict: another channel id whose short id is taken.
	conflict := chanAnn(t, 0, 3, 4, 1000)
	conflict.ChannelID[31] ^= 1
	if err := conflict.Sign(mustKey(t, 3)); err != nil {
		t.Fatal(err)
	}
	anns = append(anns, enc(t, conflict))
	forgedAnn := chanAnn(t, 500, 5, 6, 1000)
	forgedAnn.Sig2 = append([]byte(nil), forgedAnn.Sig2...)
	forgedAnn.Sig2[7] ^= 2
	anns = append(anns, enc(t, forgedAnn), anns[3]) // and a duplicate
	for i, a := range annMsgs {
		for _, end := range []int{i % 20, (i%20 + 1 + i/20) % 20} {
			for range 1 + rng.IntN(3) {
				upds = append(upds, enc(t, update(t, a, end, t0.Add(-time.Duration(rng.IntN(5))*time.Minute))))
			}
		}
	}
	unknown := chanAnn(t, 900, 1, 2, 1000) // never announced: parked
	upds = append(upds, enc(t, update(t, unknown, 1, t0)), enc(t, update(t, annMsgs[0], 0, t0.Add(time.Hour))),
		enc(t, update(t, annMsgs[1], 1, t0.Add(-30*24*time.Hour))))
	forgedUpd := update(t, annMsgs[2], 2, t0.Add(time.Minute))
	forgedUpd.Signature[0] ^= 1
	upds = append(upds, enc(t, forgedUpd))
	for i := 0; i < n; i += 7 {
		closes = append(closes, enc(t, closedNotice(t, annMsgs[i], i%20, t0)))
	}
	closes = append(closes, closes[0])
	for i := range 25 { // nodes 20..24 have no channel
		nodes = append(nodes, enc(t, nodeAnn(t, i, t0.Add(-time.Duration(rng.IntN(3))*time.Minute))))
	}
	run := func(n int, f func(int)) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { f(i) })
		}
		wg.Wait()
	}
	seq := newValidator(t, Config{})
	batched := newValidator(t, Config{})
	keys := newKeyCache()
	for _, items := range [][][]byte{anns, upds, closes, nodes} {
		rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		got := make([]Result, len(items))
		batched.validateRun(items, got, t0, FromSync, run, 3, keys)
		for i, it := range items {
			want := seq.Validate(it, t0, FromSync)
			if got[i].Verdict != want.Verdict || got[i].Reason != want.Reason {
				t.Errorf("item %d: %s %s (%v), one by one %s %s (%v)", i, got[i].Verdict, got[i].Reason, got[i].Err, want.Verdict, want.Reason, want.Err)
			}
		}
	}
	if s, b := seq.Stats(), batched.Stats(); s != b {
		t.Fatalf("stats: one by one %+v, batched %+v", s, b)
	}
}

func mustKey(tb testing.TB, i int) crypto.PrivKey {
	k, _ := testKey(tb, i)
	return k
}

// signTorsion signs msg with the Ed25519 key of seed as an honest signer
// would, except that it offsets R by a point of order 8: crypto/ed25519
// refuses the signature, the cofactored equation passes it. Only the key's
// owner can make one.
func signTorsion(seed, msg []byte) (pub, sig []byte) {
	h := sha512.Sum512(seed)
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	var a, r, k, s scalar.Scalar
	_, _ = a.SetBytesModOrder(h[:32])
	nonce := sha512.Sum512(append([]byte("nonce"), msg...)) // any nonce
	_, _ = r.SetBytesModOrderWide(nonce[:])
	var A, R curve.EdwardsPoint
	A.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, &a)
	R.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, &r)
	R.Add(&R, curve.EIGHT_TORSION[1])
	var ac, rc curve.CompressedEdwardsY
	ac.SetEdwardsPoint(&A)
	rc.SetEdwardsPoint(&R)
	d := sha512.New()
	d.Write(rc[:])
	d.Write(ac[:])
	d.Write(msg)
	_, _ = k.SetBytesModOrderWide(d.Sum(nil))
	s.Mul(&k, &a)
	s.Add(&s, &r)
	var sb [32]byte
	_ = s.ToBytes(sb[:])
	return ac[:], append(rc[:], sb[:]...)
}

// TestVerifySigsVerdictIndependentOfSet: the verdict on a signature must
// not depend on the set it is checked in (alone, in a batch that passes, in
// a batch that fails for another signature). Otherwise a node that accepts
// an item in a batch and serves it in its sync answers gets banned by a
// node that checks it alone.
func TestVerifySigsVerdictIndependentOfSet(t *testing.T) {
	seed := make([]byte, stded25519.SeedSize)
	seed[0] = 42
	msg := []byte("torsion")
	pub, sig := signTorsion(seed, msg)
	c := sigCheck{key: pub, msg: msg, sig: sig}
	if !bytes.Equal(pub, stded25519.NewKeyFromSeed(seed).Public().(stded25519.PublicKey)) {
		t.Fatal("signTorsion derives another key than crypto/ed25519")
	}
	if verifyOne(c) {
		t.Fatal("crypto/ed25519 accepts an R offset by a torsion point")
	}
	bad := goodChecks(1)[0]
	bad.msg = []byte("tampered")
	for _, tc := range []struct {
		name string
		set  []sigCheck
	}{
		{"alone", []sigCheck{c}},
		{"small set", append(goodChecks(minBatch-2), c)},
		{"good batch", append(goodChecks(minBatch), c)},
		{"failing batch", append(append(goodChecks(minBatch), bad), c)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, keys := range []*keyCache{nil, newKeyCache()} {
				ok := make([]bool, len(tc.set))
				verifySigs(tc.set, ok, keys)
				if !ok[len(ok)-1] {
					t.Errorf("cache %v: the torsion-offset signature is refused here, accepted in a good batch", keys != nil)
				}
				for i, want := range tc.set[:len(tc.set)-1] {
					if ok[i] != verifyOne(want) {
						t.Errorf("cache %v: signature %d: %v, crypto/ed25519 %v", keys != nil, i, ok[i], !ok[i])
					}
				}
			}
		})
	}
}

// TestSyncTorsionSignatureServedOn: node 0 signs one of its updates with R
// offset by a torsion point. A node that synced it (in a batch) and serves
// it on must not get banned by a node to whom it arrives in a short run,
// checked alone: the same answer gets the same verdicts however it is cut
// into chunks.
func TestSyncTorsionSignatureServedOn(t *testing.T) {
	const channels = 10
	items := graph(t, channels) // 10 announcements, 20 updates, 10 nodes
	k0, _ := testKey(t, 0)
	raw0, err := k0.Raw()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(items[channels]) // node 0's update of channel 0
	if err != nil {
		t.Fatal(err)
	}
	u := m.(*ChannelUpdate)
	_, u.Signature = signTorsion(raw0[:stded25519.SeedSize], u.SigningBytes(testChannelID(0)))
	items[channels] = enc(t, u)

	receive := func(frames [][]byte) (res []Result, err error) {
		s := NewSyncSession(newValidator(t, Config{}))
		for _, f := range frames {
			r, _, err := s.Receive(f, t0)
			res = append(res, r...)
			if err != nil {
				return res, err
			}
		}
		return res, nil
	}
	// One chunk: the update is in a run of 20, checked in a batch.
	whole, err := receive(pack(t, items, 0))
	if err != nil {
		t.Fatalf("one chunk: %v", err)
	}
	// Chunks of 11: the first ends with the update, a run of one.
	cut, err := receive(pack(t, items, channels+1))
	if err != nil {
		t.Fatalf("chunks of %d: %v", channels+1, err)
	}
	for i := range items {
		if whole[i].Verdict != cut[i].Verdict {
			t.Errorf("item %d: %s in one chunk, %s in chunks of %d", i, whole[i].Verdict, cut[i].Verdict, channels+1)
		}
	}
}
