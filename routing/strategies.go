package routing

import (
	"errors"
	"fmt"
	"sync"
)

// Names of the built-in strategies.
const (
	// StrategyShortest minimises the number of hops.
	StrategyShortest = "shortest"
	// StrategyCheapest minimises the total fee.
	StrategyCheapest = "cheapest"
	// StrategyProbabilistic minimises fee + time-lock risk + attempt cost
	// weighted by −ln P(success) (see Config).
	StrategyProbabilistic = "probabilistic"
	// StrategyMPP splits the payment by min-cost flow (see mpp.go).
	StrategyMPP = "mpp"
	// StrategyOracle routes only over edges whose true balance (from
	// Config.Oracle) suffices, minimising fees: an upper bound for
	// simulations. Its search is exact (it never misses a route with enough
	// liquidity within MaxFee) when no hop's HTLC minimum exceeds the amount
	// and the hop and expiry limits do not bind: the required amount only
	// grows toward the payer, so minimal amounts settle first.
	StrategyOracle = "oracle"
)

// ErrNoOracle is returned by NewStrategy("oracle", cfg) when cfg.Oracle is
// nil.
var ErrNoOracle = errors.New("routing: oracle strategy needs Config.Oracle")

func init() {
	mustRegister := func(name string, f Factory) {
		if err := Register(name, f); err != nil {
			panic(err) // programming error in this package's own names
		}
	}
	mustRegister(StrategyShortest, func(c Config) (Strategy, error) { return newSinglePath(StrategyShortest, costHops, c), nil })
	mustRegister(StrategyCheapest, func(c Config) (Strategy, error) { return newSinglePath(StrategyCheapest, costFee, c), nil })
	mustRegister(StrategyProbabilistic, func(c Config) (Strategy, error) {
		return newSinglePath(StrategyProbabilistic, costProbabilistic, c), nil
	})
	mustRegister(StrategyOracle, func(c Config) (Strategy, error) {
		if c.Oracle == nil {
			return nil, ErrNoOracle
		}
		return newSinglePath(StrategyOracle, costOracle, c), nil
	})
	mustRegister(StrategyMPP, func(c Config) (Strategy, error) { return newMPP(c), nil })
}

// pool hands out pathfinders; each keeps scratch sized to the largest graph
// it has seen.
var pool = sync.Pool{New: func() any { return &pathfinder{} }}

// singlePath is a Dijkstra-based strategy with a fixed cost kind.
type singlePath struct {
	name string
	kind costKind
	cfg  Config
}

func newSinglePath(name string, kind costKind, cfg Config) *singlePath {
	return &singlePath{name: name, kind: kind, cfg: cfg}
}

// Name implements Strategy.
func (s *singlePath) Name() string { return s.name }

// FindRoutes implements Strategy.
func (s *singlePath) FindRoutes(in Input) ([]Route, error) {
	r, err := s.find(in)
	if err != nil {
		return nil, err
	}
	return []Route{r}, nil
}

func (s *singlePath) find(in Input) (Route, error) {
	q, err := prepare(in, &s.cfg, s.kind)
	if err != nil {
		return Route{}, err
	}
	if s.kind == costOracle {
		q.oracle = s.cfg.Oracle
	}
	p := pool.Get().(*pathfinder)
	defer pool.Put(p)
	p.reset(q.g, true)
	p.applyExclusions(&q, &in.Request)
	p.loadObservations(&q)
	defer p.clearObservations()
	path, err := p.run(&q)
	if err != nil {
		return Route{}, fmt.Errorf("%s from %x to %x: %w", s.name, string(in.Request.Source), string(in.Request.Target), err)
	}
	route, err := buildRoute(q.g, path, q.amount, q.final)
	if err != nil {
		return Route{}, err
	}
	if s.kind == costProbabilistic {
		route.Probability = p.routeProbability(&q, path, route)
	}
	return route, nil
}
