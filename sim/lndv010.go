package sim

import (
	"github.com/paymesh/paymesh/routing"
)

// StrategyLND010 is the name of the strategy that follows CLoTH's model of
// lnd v0.10 pathfinding.
const StrategyLND010 = "lnd-v0.10"

// CLoTH's lnd-v0.10 constants.
const (
	// LND010AprioriHop is the a-priori success probability of a hop with
	// no history.
	LND010AprioriHop = 0.6
	// LND010PrevSuccess is the probability of a hop that recently carried
	// at least the amount.
	LND010PrevSuccess = 0.95
	// LND010AttemptPenaltyMsat is the payment attempt penalty (100 sat).
	LND010AttemptPenaltyMsat = 100_000
	// LND010RiskFactor is lnd's time-lock risk factor per block (15e-9).
	LND010RiskFactor = 15.0
)

// AprioriModel is lnd v0.10's success-probability estimate as CLoTH models
// it, expressed over mission control's liquidity bounds: a hop that
// recently carried at least the amount (amount ≤ lower bound) succeeds with
// PrevSuccess; a hop that recently failed at or below the amount (amount >
// upper bound, which relaxes back to the capacity with mission control's
// half-life) has probability 0; any other hop has the a-priori Hop
// probability, whatever the amount.
type AprioriModel struct {
	Hop         float64
	PrevSuccess float64
}

// Name returns "apriori".
func (AprioriModel) Name() string { return "apriori" }

// Probability implements routing.ProbabilityModel.
func (m AprioriModel) Probability(amount, capacity uint64, b routing.Bounds) float64 {
	if amount > capacity {
		return 0
	}
	if b.Upper > capacity || b.Lower > b.Upper {
		b = routing.Bounds{Lower: 0, Upper: capacity}
	}
	switch {
	case b.Lower > 0 && amount <= b.Lower:
		return m.PrevSuccess
	case amount > b.Upper:
		return 0
	}
	return m.Hop
}

// lnd010 wraps routing's probabilistic search with CLoTH's lnd-v0.10
// parameters.
type lnd010 struct{ inner routing.Strategy }

// Name implements routing.Strategy.
func (s *lnd010) Name() string { return StrategyLND010 }

// FindRoutes implements routing.Strategy.
func (s *lnd010) FindRoutes(in routing.Input) ([]routing.Route, error) {
	return s.inner.FindRoutes(in)
}

// newLND010 builds the strategy. The edge cost is routing's probabilistic
// cost with CLoTH's constants: fee + amount·delta·15e-9 per block +
// 100 sat·(−ln P), P from AprioriModel. CLoTH's own distance is weight +
// 100 sat / P(path); routing exposes no hook for a non-additive label, so
// the attempt penalty is the additive −ln P form (see docs/simulator.md).
func newLND010(cfg routing.Config) (routing.Strategy, error) {
	// Config arrives validated with defaults; override the model-defining
	// fields only where the scenario left routing's defaults.
	c := cfg
	if _, isDefault := c.Model.(*routing.BimodalModel); isDefault || c.Model == nil {
		c.Model = AprioriModel{Hop: LND010AprioriHop, PrevSuccess: LND010PrevSuccess}
	}
	// CLoTH's PROBABILITYLIMIT (0.01) bounds the whole path's probability;
	// routing's MinProbability is per hop, so it keeps routing's default
	// and MaxHops (27) bounds the path instead.
	inner, err := routing.NewStrategy(routing.StrategyProbabilistic, c)
	if err != nil {
		return nil, err
	}
	return &lnd010{inner: inner}, nil
}

func init() {
	if err := routing.Register(StrategyLND010, newLND010); err != nil {
		panic(err) // programming error: the name is ours
	}
}
