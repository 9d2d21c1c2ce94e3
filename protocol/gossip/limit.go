package gossip

import "time"

// Limit is a token-bucket rate limit: up to Burst messages at once, then one
// more every Every. A Limit with a negative Burst lets everything through.
type Limit struct {
	Burst int
	Every time.Duration
}

// Unlimited is a Limit that never refuses.
var Unlimited = Limit{Burst: -1}

// bucket is a token bucket driven by explicit times in unix milliseconds.
// The zero bucket is full.
type bucket struct {
	used int64 // tokens spent, scaled by Every in ms: the bucket's debt
	last int64 // time of the last refill
}

// allow spends one token if there is one at time now (unix ms).
func (b *bucket) allow(l Limit, now int64) bool {
	if l.Burst < 0 {
		return true
	}
	every := l.Every.Milliseconds()
	if every <= 0 {
		every = 1
	}
	if now > b.last {
		// Refill: the debt shrinks by the time elapsed.
		b.used -= now - b.last
		if b.used < 0 {
			b.used = 0
		}
		b.last = now
	}
	// The debt is at most (Burst-1)*every before spending one more token.
	if b.used+every > int64(l.Burst)*every {
		return false
	}
	b.used += every
	return true
}
