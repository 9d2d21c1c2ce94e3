package gossip

import (
	stded25519 "crypto/ed25519"
	cryptorand "crypto/rand"
	"crypto/sha512"
	"hash"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
)

// sigCheck is one Ed25519 signature to check: key is the signer's raw
// 32-byte public key.
type sigCheck struct {
	key []byte
	msg []byte
	sig []byte
}

// verifyOne checks one signature exactly as crypto/ed25519 (and so libp2p's
// Ed25519PublicKey.Verify) does: the gossip rule.
func verifyOne(c sigCheck) bool {
	return len(c.key) == stded25519.PublicKeySize && len(c.sig) == SignatureSize &&
		stded25519.Verify(c.key, c.msg, c.sig)
}

// minBatch is the smallest set of signatures checked with one batch
// equation; below it a batch saves too little to risk a second pass.
const minBatch = 8

// verifySigs sets ok[i] to whether checks[i] passes the cofactored check
// (verifyCofactored). Sets of minBatch or more are first checked together
// with one randomised batch equation (verifyBatch), which costs about a
// fifth of checking each; when the batch fails, every signature is checked
// alone with verifyCofactored. keys caches decompressed public keys; nil
// decompresses every time.
//
// The check is cofactored because a batch equation can only be: the
// cofactorless one of crypto/ed25519 (verifyOne, the gossip rule) passes a
// batch holding a signature it refuses alone with a probability of 1/2 or
// more. The fallback is cofactored too, so that the verdict on a signature
// never depends on the set it is checked in (which batch it lands in,
// whether another signature fails that batch): otherwise a node that
// accepted an item in a batch and serves it on gets banned by a node to
// which it comes in a run too short to batch.
//
// The cofactored check passes every signature crypto/ed25519 passes and,
// beyond them, only signatures whose R its own signer offset by a
// small-order point (or made under a key with a small-order component),
// which no honest signer does (see the package doc).
func verifySigs(checks []sigCheck, ok []bool, keys *keyCache) {
	if len(checks) >= minBatch && verifyBatch(checks, keys) {
		for i := range checks {
			ok[i] = true
		}
		return
	}
	p := newSigParser()
	for i, c := range checks {
		ok[i] = p.verifyCofactored(c, keys)
	}
}

// sigParser parses signatures for the cofactored checks; it holds their
// hash state.
type sigParser struct {
	h   hash.Hash
	sum [sha512.Size]byte
}

func newSigParser() *sigParser { return &sigParser{h: sha512.New()} }

// parse parses c as crypto/ed25519 does: a 32-byte key, s reduced (< ℓ)
// and R the canonical encoding of a point. It sets r and s, and k to
// SHA-512(R ‖ A ‖ M) mod ℓ over the key's exact bytes.
func (p *sigParser) parse(c sigCheck, r *curve.EdwardsPoint, s, k *scalar.Scalar) bool {
	if len(c.key) != curve.CompressedPointSize || len(c.sig) != SignatureSize || !scalar.ScMinimalVartime(c.sig[32:]) {
		return false
	}
	var rc curve.CompressedEdwardsY
	copy(rc[:], c.sig[:32])
	if !rc.IsCanonicalVartime() {
		return false
	}
	if _, err := r.SetCompressedY(&rc); err != nil {
		return false
	}
	if _, err := s.SetBytesModOrder(c.sig[32:]); err != nil {
		return false
	}
	p.h.Reset()
	p.h.Write(c.sig[:32])
	p.h.Write(c.key)
	p.h.Write(c.msg)
	_, err := k.SetBytesModOrderWide(p.h.Sum(p.sum[:0]))
	return err == nil
}

// verifyCofactored reports whether c passes the single equation the batch
// equation sums, [8]([s]B - R - [k]A) = identity, parsed as by verifyBatch.
func (p *sigParser) verifyCofactored(c sigCheck, keys *keyCache) bool {
	var r, negA, d curve.EdwardsPoint
	var s, k scalar.Scalar
	if !p.parse(c, &r, &s, &k) {
		return false
	}
	a, ok := keys.point(c.key)
	if !ok {
		return false
	}
	negA.Neg(a)
	// d = [δk](-A) + [δs]B - [δ]R for some δ invertible mod ℓ: of small
	// order exactly when [s]B - R - [k]A is.
	return d.TripleScalarMulBasepointVartime(&k, &negA, &s, &r).IsSmallOrder()
}

// verifyBatch reports whether every signature passes the batch equation
//
//	[-Σ zᵢsᵢ]B + Σ [zᵢ]Rᵢ + Σ_A [Σ_{i signed by A} zᵢkᵢ]A = small order
//
// with zᵢ random 128-bit scalars and kᵢ = SHA-512(Rᵢ ‖ A ‖ mᵢ), the sum of
// the single cofactored equations [8]([sᵢ]B - Rᵢ - [kᵢ]A) = identity each
// multiplied by zᵢ: a signature that fails its own makes it fail except
// with probability 2⁻¹²⁸. Terms of the same key share one point. It parses
// as crypto/ed25519 does: s must be reduced and R canonical; a key may be
// non-canonical or of small order. The multi-scalar multiplication is
// curve25519-voi's (Pippenger's method for large batches).
func verifyBatch(checks []sigCheck, keys *keyCache) bool {
	n := len(checks)
	var seed [32]byte
	if _, err := cryptorand.Read(seed[:]); err != nil {
		return false
	}
	rng := rand.NewChaCha8(seed)
	// Terms: B, R₁…Rₙ, then one per distinct key.
	scalars := make([]scalar.Scalar, 1+n, 1+2*n)
	points := make([]*curve.EdwardsPoint, 1+n, 1+2*n)
	points[0] = curve.ED25519_BASEPOINT_POINT
	rs := make([]curve.EdwardsPoint, n)
	termOf := make(map[string]int)
	p := newSigParser()
	var (
		z, s, k, t scalar.Scalar
		zb         [32]byte // the high half stays zero: 128-bit z
	)
	for i, c := range checks {
		if !p.parse(c, &rs[i], &s, &k) {
			return false
		}
		_, _ = rng.Read(zb[:16])
		if _, err := z.SetBytesModOrder(zb[:]); err != nil {
			return false
		}
		scalars[0].Sub(&scalars[0], t.Mul(&z, &s))
		scalars[1+i].Set(&z)
		points[1+i] = &rs[i]
		j, seen := termOf[string(c.key)]
		if !seen {
			a, ok := keys.point(c.key)
			if !ok {
				return false
			}
			j = len(scalars)
			termOf[string(c.key)] = j
			scalars = append(scalars, scalar.Scalar{})
			points = append(points, a)
		}
		scalars[j].Add(&scalars[j], t.Mul(&z, &k))
	}
	ptrs := make([]*scalar.Scalar, len(scalars))
	for i := range scalars {
		ptrs[i] = &scalars[i]
	}
	var sum curve.EdwardsPoint
	return sum.MultiscalarMulVartime(ptrs, points).IsSmallOrder()
}

// maxCachedKeys bounds a keyCache (about 250 bytes a key).
const maxCachedKeys = 1 << 16

// keyCache keeps decompressed public keys for the signatures of one sync,
// where every node signs many items. It is safe for concurrent use; a nil
// cache caches nothing.
type keyCache struct {
	mu     sync.Mutex
	points map[string]*curve.EdwardsPoint // nil: the key is not a point
}

func newKeyCache() *keyCache {
	return &keyCache{points: make(map[string]*curve.EdwardsPoint)}
}

// point returns the decompressed key, or false when key is not the
// encoding of a curve point.
func (c *keyCache) point(key []byte) (*curve.EdwardsPoint, bool) {
	if c != nil {
		c.mu.Lock()
		p, ok := c.points[string(key)]
		c.mu.Unlock()
		if ok {
			return p, p != nil
		}
	}
	var kc curve.CompressedEdwardsY
	var p *curve.EdwardsPoint
	if _, err := kc.SetBytes(key); err == nil {
		p = new(curve.EdwardsPoint)
		if _, err := p.SetCompressedY(&kc); err != nil {
			p = nil
		}
	}
	if c != nil {
		c.mu.Lock()
		if len(c.points) < maxCachedKeys {
			c.points[string(key)] = p
		}
		c.mu.Unlock()
	}
	return p, p != nil
}

// validateRun sets results[i] to what Validate(items[i], now, src) one
// after another would return, except that it takes the first look at every
// item before checking any signature and checks the signatures in
// batches: items split into up to 2×workers parts, each part's first looks
// and batch check one call of run (run nil: one after another). The
// second looks then go in order, each deciding on the state the earlier
// items left, before a bad signature counts (end with lookFirst), so that
// an item one-by-one validation would ignore (a duplicate of an earlier
// one, say) is not rejected for its signature. Use it on items that do not
// depend on each other (one kind), as a sync chunk's runs are.
func (v *Validator) validateRun(items [][]byte, results []Result, now time.Time, src Source, run func(n int, f func(i int)), workers int, keys *keyCache) {
	n := len(items)
	if n == 0 {
		return
	}
	// Twice as many batches as workers, so that a worker slowed by the
	// rest of the node's work (applying the previous chunk, serving, the
	// garbage collector) does not keep the others waiting.
	parts := max(1, min(2*workers, n/minBatchPerWorker))
	if run == nil {
		parts = 1
	}
	ps := make([]pending, n)
	decided := make([]bool, n)
	ok := make([]bool, 2*n) // item i's signatures at 2i and 2i+1
	part := func(j int) {
		lo, hi := j*n/parts, (j+1)*n/parts
		checks := make([]sigCheck, 0, hi-lo)
		slots := make([]int, 0, hi-lo)
		for i := lo; i < hi; i++ {
			p, r, d := v.begin(items[i], now, src)
			if d {
				results[i], decided[i] = r, true
				continue
			}
			ps[i] = p
			for k, c := range p.checks() {
				checks = append(checks, c)
				slots = append(slots, 2*i+k)
			}
		}
		good := make([]bool, len(checks))
		verifySigs(checks, good, keys)
		for k, slot := range slots {
			ok[slot] = good[k]
		}
	}
	if parts == 1 {
		part(0)
	} else {
		run(parts, part)
	}
	for i := range items {
		if !decided[i] {
			results[i] = v.end(&ps[i], ok[2*i:2*i+ps[i].nsigs], true)
		}
		if results[i].Message != nil {
			results[i].Data = items[i]
		}
	}
}
