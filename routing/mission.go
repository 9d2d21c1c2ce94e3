package routing

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"time"
)

// MissionConfig configures mission control.
type MissionConfig struct {
	// HalfLife is how fast knowledge decays toward the prior: after one
	// half-life a learnt lower bound has moved halfway back to 0 and a learnt
	// upper bound halfway back to the capacity. Default 1 hour.
	HalfLife time.Duration
}

// Observation is what mission control knows about one channel direction,
// as plain data for the node to persist and import after a restart.
type Observation struct {
	Channel   ChannelID
	Direction Direction
	// Lower is a liquidity the direction was seen to carry (success) at
	// LowerTime; zero LowerTime means no lower bound.
	Lower     uint64
	LowerTime time.Time
	// Upper is the largest liquidity the direction can have had at
	// UpperTime (one less than an amount that failed there); zero UpperTime
	// means no upper bound.
	Upper     uint64
	UpperTime time.Time
}

type obsRec struct {
	lower, upper     uint64
	lowerAt, upperAt int64 // unix ns; 0 = absent
}

// MissionControl learns liquidity bounds from payment outcomes: a success
// through a channel direction raises its lower bound to the amount carried,
// a failure at a channel direction lowers its upper bound to just below the
// amount that failed. Knowledge decays exponentially toward the prior with
// the configured half-life. It is safe for concurrent use; it never reads the
// clock (now is passed in).
type MissionControl struct {
	mu       sync.RWMutex
	halfLife float64 // ns
	obs      map[EdgeKey]*obsRec
}

// NewMissionControl returns an empty mission control.
func NewMissionControl(cfg MissionConfig) *MissionControl {
	if cfg.HalfLife <= 0 {
		cfg.HalfLife = time.Hour
	}
	return &MissionControl{halfLife: float64(cfg.HalfLife), obs: map[EdgeKey]*obsRec{}}
}

// decay returns the fraction of knowledge left after the interval from at to
// now: 2^(−Δt/halfLife), 1 for Δt ≤ 0.
func (m *MissionControl) decay(at, now int64) float64 {
	if at == 0 {
		return 0
	}
	dt := float64(now - at)
	if dt <= 0 {
		return 1
	}
	return math.Exp2(-dt / m.halfLife)
}

// bounds returns the decayed bounds of r for a channel of capacity c at now.
func (m *MissionControl) bounds(r *obsRec, capacity uint64, now int64) Bounds {
	b := Bounds{0, capacity}
	if r.lowerAt != 0 {
		b.Lower = uint64(float64(min(r.lower, capacity)) * m.decay(r.lowerAt, now))
	}
	if r.upperAt != 0 && r.upper < capacity {
		gap := float64(capacity - r.upper)
		b.Upper = capacity - uint64(gap*m.decay(r.upperAt, now))
	}
	return normBounds(capacity, b)
}

// Bounds returns what is known at now about the liquidity of one channel
// direction of the given capacity.
func (m *MissionControl) Bounds(k EdgeKey, capacity uint64, now time.Time) Bounds {
	if m == nil {
		return Bounds{0, capacity}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	r, ok := m.obs[k]
	if !ok {
		return Bounds{0, capacity}
	}
	return m.bounds(r, capacity, now.UnixNano())
}

func (m *MissionControl) rec(k EdgeKey) *obsRec {
	r, ok := m.obs[k]
	if !ok {
		r = &obsRec{}
		m.obs[k] = r
	}
	return r
}

// success records that a channel direction carried amount at now.
func (m *MissionControl) success(k EdgeKey, amount uint64, now int64) {
	r := m.rec(k)
	cur := uint64(0)
	if r.lowerAt != 0 {
		cur = uint64(float64(r.lower) * m.decay(r.lowerAt, now))
	}
	r.lower, r.lowerAt = max(cur, amount), now
	if r.upperAt != 0 && r.upper < r.lower {
		// Newer evidence contradicts the old upper bound: drop it.
		r.upper, r.upperAt = 0, 0
	}
}

// failure records that a channel direction could not carry amount at now.
func (m *MissionControl) failure(k EdgeKey, amount uint64, now int64) {
	r := m.rec(k)
	up := uint64(0)
	if amount > 0 {
		up = amount - 1
	}
	// A capacity-free decay of an older upper bound is impossible; the
	// fresh failure replaces it unless the old one is tighter and no older
	// than one half-life (then it is kept, refreshed).
	if r.upperAt != 0 && r.upper < up && m.decay(r.upperAt, now) >= 0.5 {
		up = r.upper
	}
	r.upper, r.upperAt = up, now
	if r.lowerAt != 0 && uint64(float64(r.lower)*m.decay(r.lowerAt, now)) > up {
		r.lower, r.lowerAt = 0, 0
	}
}

// ReportSuccess records that every hop of r carried its amount at now.
func (m *MissionControl) ReportSuccess(r Route, now time.Time) {
	t := now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range r.Hops {
		m.success(EdgeKey{h.Channel, DirectionOf(h.From, h.To)}, h.Amount, t)
	}
}

// ReportFailure records that hop failingHop of r (an index into r.Hops)
// could not forward amount (normally r.Hops[failingHop].Amount) for lack of
// liquidity, so every earlier hop carried its amount. amount 0 records that
// the direction forwards nothing at all (for failures that are not about
// liquidity, such as a disabled channel). An index out of range records
// nothing.
func (m *MissionControl) ReportFailure(r Route, failingHop int, amount uint64, now time.Time) {
	if failingHop < 0 || failingHop >= len(r.Hops) {
		return
	}
	t := now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range r.Hops[:failingHop] {
		m.success(EdgeKey{h.Channel, DirectionOf(h.From, h.To)}, h.Amount, t)
	}
	h := r.Hops[failingHop]
	m.failure(EdgeKey{h.Channel, DirectionOf(h.From, h.To)}, amount, t)
}

// Observations exports everything mission control knows, sorted by channel
// and direction, for persistence.
func (m *MissionControl) Observations() []Observation {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Observation, 0, len(m.obs))
	for k, r := range m.obs {
		o := Observation{Channel: k.Channel, Direction: k.Direction}
		if r.lowerAt != 0 {
			o.Lower, o.LowerTime = r.lower, time.Unix(0, r.lowerAt).UTC()
		}
		if r.upperAt != 0 {
			o.Upper, o.UpperTime = r.upper, time.Unix(0, r.upperAt).UTC()
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b Observation) int {
		return cmp.Or(cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Direction, b.Direction))
	})
	return out
}

// Import replaces the knowledge about each channel direction named in obs.
// Observations with neither bound, or a direction above 1, are ignored.
func (m *MissionControl) Import(obs []Observation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range obs {
		if o.Direction > 1 || (o.LowerTime.IsZero() && o.UpperTime.IsZero()) {
			continue
		}
		r := &obsRec{}
		if !o.LowerTime.IsZero() {
			r.lower, r.lowerAt = o.Lower, max(o.LowerTime.UnixNano(), 1)
		}
		if !o.UpperTime.IsZero() {
			r.upper, r.upperAt = o.Upper, max(o.UpperTime.UnixNano(), 1)
		}
		m.obs[EdgeKey{o.Channel, o.Direction}] = r
	}
}

// Len returns the number of channel directions with observations.
func (m *MissionControl) Len() int {
	if m == nil {
		return 0
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.obs)
}

// Prune forgets observations that have decayed to under 0.1% of their
// weight (about ten half-lives old) and returns how many channel directions
// it dropped, so that a long-running node's knowledge stays bounded by what
// still matters.
func (m *MissionControl) Prune(now time.Time) int {
	t := now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	dropped := 0
	for k, r := range m.obs {
		if r.lowerAt != 0 && m.decay(r.lowerAt, t) < 1e-3 {
			r.lower, r.lowerAt = 0, 0
		}
		if r.upperAt != 0 && m.decay(r.upperAt, t) < 1e-3 {
			r.upper, r.upperAt = 0, 0
		}
		if r.lowerAt == 0 && r.upperAt == 0 {
			delete(m.obs, k)
			dropped++
		}
	}
	return dropped
}
