package routing

import "math"

// Bounds is what is known about the liquidity x of one channel direction
// (how much its sender can currently forward): Lower ≤ x ≤ Upper, both
// inclusive. With no knowledge, Lower = 0 and Upper = capacity.
type Bounds struct {
	Lower uint64
	Upper uint64
}

// ProbabilityModel estimates the probability that a channel direction can
// forward an amount. Implementations must be pure and safe for concurrent
// use.
type ProbabilityModel interface {
	// Name identifies the model in reports ("uniform", "bimodal").
	Name() string
	// Probability returns P(x ≥ amount | Lower ≤ x ≤ Upper) for a channel of
	// the given capacity, in [0, 1]. Bounds outside [0, capacity] are
	// clamped; contradictory bounds (Lower > Upper) fall back to the prior.
	Probability(amount, capacity uint64, b Bounds) float64
}

// normBounds clamps b into [0, capacity] and resets contradictions.
func normBounds(capacity uint64, b Bounds) Bounds {
	if b.Upper > capacity {
		b.Upper = capacity
	}
	if b.Lower > b.Upper {
		return Bounds{0, capacity}
	}
	return b
}

// UniformModel is Pickhardt–Richter's uniform liquidity prior: liquidity is
// uniformly distributed on the integers 0..c, so
//
//	P(a) = (c + 1 − a) / (c + 1)
//
// and with known bounds [l, u] the posterior is uniform on l..u:
// P(a) = 1 for a ≤ l, 0 for a > u, else (u + 1 − a) / (u + 1 − l).
type UniformModel struct{}

// Name returns "uniform".
func (UniformModel) Name() string { return "uniform" }

// Probability implements ProbabilityModel.
func (UniformModel) Probability(amount, capacity uint64, b Bounds) float64 {
	b = normBounds(capacity, b)
	switch {
	case amount <= b.Lower:
		return 1
	case amount > b.Upper:
		return 0
	}
	return float64(b.Upper+1-amount) / float64(b.Upper+1-b.Lower)
}

// BimodalConfig configures the bimodal model.
type BimodalConfig struct {
	// Scale s is how far liquidity leaks from the channel ends, in units;
	// default 300,000,000 (300,000 sat, lnd's default BimodalScaleMsat).
	Scale float64
}

// BimodalModel is the bimodal liquidity prior lnd uses: liquidity tends to
// sit at either end of a channel. The density on [0, c] is proportional to
//
//	exp(−x/s) + exp((x − c)/s) + 1/c
//
// (the 1/c term keeps the distribution well-defined when observations
// contradict bimodality). With known bounds [l, u], the fail amount is
// f = min(u+1, c) and P(a) = ∫_a^f / ∫_l^f for l < a < f, 1 for a ≤ l and 0
// for a ≥ f, as lnd's probabilityFormula does. lnd additionally blends in
// what it has learnt about the channel's other node pairs (its node weight);
// here knowledge comes only from the channel direction's own bounds, decayed
// by MissionControl's half-life (lnd decays with a time constant instead).
type BimodalModel struct {
	scale float64
}

// NewBimodalModel returns a bimodal model, filling defaults.
func NewBimodalModel(cfg BimodalConfig) *BimodalModel {
	if cfg.Scale <= 0 || math.IsNaN(cfg.Scale) || math.IsInf(cfg.Scale, 0) {
		cfg.Scale = 300_000_000
	}
	return &BimodalModel{scale: cfg.Scale}
}

// Name returns "bimodal".
func (*BimodalModel) Name() string { return "bimodal" }

// primitive is an antiderivative of the unnormalised density (scaled by
// 1/s; the factor cancels in the ratios used).
func (m *BimodalModel) primitive(c, x float64) float64 {
	s := m.scale
	return -math.Exp(-x/s) + math.Exp((x-c)/s) + x/(c*s)
}

// Probability implements ProbabilityModel.
func (m *BimodalModel) Probability(amount, capacity uint64, b Bounds) float64 {
	if capacity == 0 {
		return 0
	}
	b = normBounds(capacity, b)
	if amount <= b.Lower {
		return 1
	}
	fail := b.Upper
	if fail < capacity {
		fail++
	}
	if amount >= fail {
		return 0
	}
	c := float64(capacity)
	lo, a, f := float64(b.Lower), float64(amount), float64(fail)
	num := m.primitive(c, f) - m.primitive(c, a)
	den := m.primitive(c, f) - m.primitive(c, lo)
	if !(den > 0) || !(num >= 0) {
		return 0
	}
	return min(num/den, 1)
}

// amountTerms caches the parts of a bimodal prior probability that depend only on
// the amount, so that a search evaluating one amount over many channels
// (all edges into one settled node carry the same amount) pays one
// exponential per edge instead of three.
type amountTerms struct {
	a, ea, eai float64 // amount, e^(−a/s), e^(a/s)
	ok         bool
}

func (m *BimodalModel) terms(amount uint64) amountTerms {
	a := float64(amount)
	if a/m.scale > 700 {
		return amountTerms{}
	}
	return amountTerms{a: a, ea: math.Exp(-a / m.scale), eai: math.Exp(a / m.scale), ok: true}
}

// prior evaluates P(amount | Bounds{0, capacity}) from cached terms:
// with E = e^(−c/s), F(c) = 1 − E + 1/s, F(a) = −e^(−a/s) + e^(a/s)·E + a/(c·s)
// and F(c) − F(0) = 2 − 2E + 1/s.
func (m *BimodalModel) prior(t *amountTerms, amount, capacity uint64) float64 {
	return m.priorE(t, amount, capacity, m.capTerm(capacity))
}

// capTerm returns E = e^(−c/s), the only capacity-dependent exponential of
// the prior; searches cache it per channel (see pathfinder.capE).
func (m *BimodalModel) capTerm(capacity uint64) float64 {
	return math.Exp(-float64(capacity) / m.scale)
}

// priorE is prior with E = capTerm(capacity) supplied by the caller: with
// cached amount terms it evaluates the prior without any exponential.
func (m *BimodalModel) priorE(t *amountTerms, amount, capacity uint64, e float64) float64 {
	if !t.ok {
		return m.Probability(amount, capacity, Bounds{0, capacity})
	}
	if amount == 0 {
		return 1
	}
	if capacity == 0 || amount >= capacity {
		return 0
	}
	s, c := m.scale, float64(capacity)
	fc := 1 - e + 1/s
	num := fc - (-t.ea + t.eai*e + t.a/(c*s))
	den := 2 - 2*e + 1/s
	if !(den > 0) || !(num >= 0) {
		return 0
	}
	return min(num/den, 1)
}

// hopBound returns a lower bound, valid for every channel whatever its
// capacity, on the attempt-cost term attemptCost·(−ln P) of a hop carrying
// at least amount under the prior (or under bounds without a lower
// bound, which only lower P), or 0 when the bound is too small to help.
//
// From the density e^(−x/s) + e^((x−c)/s) + 1/c on [0, c]:
//
//	1 − P(a) = ∫₀ᵃ / ∫₀ᶜ ≥ s(1 − e^(−a/s)) / (2s + 1)
//
// (dropping the numerator's other non-negative terms and bounding the
// denominator 2s(1 − e^(−c/s)) + 1 by 2s + 1), so −ln P ≥ −ln(1 − q) with
// q = (1 − e^(−a/s)) / (2 + 1/s), decreasing in a: every hop of a route
// for amount carries at least amount. The result is shrunk by a relative
// 1e-6, far above the rounding of the search's computed −ln P.
func (m *BimodalModel) hopBound(amount uint64, attemptCost float64) float64 {
	q := -math.Expm1(-float64(amount)/m.scale) / (2 + 1/m.scale)
	if !(q >= 1e-6) || !(attemptCost > 0) {
		return 0
	}
	h := -attemptCost * math.Log1p(-q) * (1 - 1e-6)
	if !(h >= 1) || math.IsInf(h, 0) {
		return 0
	}
	return h
}
