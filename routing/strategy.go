package routing

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Request is one payment to route.
type Request struct {
	Source NodeID
	Target NodeID
	// Amount is what the target must receive, in units.
	Amount uint64
	// MaxFee caps the total fee of all parts; 0 means no cap.
	MaxFee uint64
	// MaxHops caps the number of channels per route; 0 means DefaultMaxHops.
	MaxHops int
	// MaxExpiry caps the total time lock (Route.TimeLock) in milliseconds;
	// 0 means no cap.
	MaxExpiry uint64
	// FinalExpiryDelta is the time lock in milliseconds the target requires
	// on the HTLC it receives.
	FinalExpiryDelta uint64
	// ExcludeNodes are never used as hops (the source and target cannot be
	// excluded).
	ExcludeNodes []NodeID
	// ExcludeChannels are never used, in either direction.
	ExcludeChannels []ChannelID
}

// DefaultMaxHops is the hop cap used when Request.MaxHops is 0 (Lightning's
// onion holds at most 20 hops).
const DefaultMaxHops = 20

// Input is everything a Strategy sees for one query. New fields may be added;
// strategies must ignore what they do not use.
type Input struct {
	// Graph is the read-only channel graph to route over.
	Graph *Snapshot
	// Request is the payment.
	Request Request
	// Mission holds observations from earlier attempts; nil means none.
	Mission *MissionControl
	// Now is the current time, used to decay observations; the zero time is
	// read as the Unix epoch.
	Now time.Time
	// Local optionally gives the payer's spendable balance on each of its
	// own channels (a node knows them; a simulator may pass the payer's true
	// balances). Routes never start on a channel that cannot carry the first
	// hop's amount, and probabilistic strategies count those hops as
	// certain. nil means unknown.
	Local LiquidityOracle
}

// Hop is one channel of a route, from the node that offers the HTLC to the
// node that receives it.
type Hop struct {
	Channel ChannelID
	From    NodeID
	To      NodeID
	// Amount is the value of the HTLC From offers To over this channel.
	Amount uint64
	// Fee is what From keeps for forwarding over this channel, per the
	// channel's From→To policy: the previous hop's Amount minus this Amount.
	// It is 0 on the first hop: the payer pays itself nothing.
	Fee uint64
	// Delta is the expiry delta (ms) From requires per its policy: the
	// previous hop's Expiry minus this Expiry. 0 on the first hop.
	Delta uint64
	// Expiry is the time lock (ms, relative to now) of the HTLC on this
	// channel. The last hop's Expiry is the request's FinalExpiryDelta.
	Expiry uint64
}

// Route is a path from payer to payee with exact per-hop amounts and time
// locks, computed from the payee back to the payer so that fees compound.
type Route struct {
	Hops []Hop
	// Amount is what the payer sends: Hops[0].Amount.
	Amount uint64
	// Fee is the total fee: Amount minus the last hop's Amount.
	Fee uint64
	// TimeLock is the total time lock in ms: Hops[0].Expiry.
	TimeLock uint64
	// Probability is the strategy's estimate that the route succeeds (1 for
	// oracle and for strategies that do not model it).
	Probability float64
}

// Delivered returns the amount the route delivers to the payee.
func (r Route) Delivered() uint64 {
	if len(r.Hops) == 0 {
		return 0
	}
	return r.Hops[len(r.Hops)-1].Amount
}

// Strategy finds routes for a payment. Implementations must be safe for
// concurrent use and must treat Input as read-only. A single-path strategy
// returns one route; a multi-part strategy returns several whose delivered
// amounts sum to Request.Amount.
type Strategy interface {
	// Name returns the registered name.
	Name() string
	// FindRoutes returns the route(s) for in.Request, or an error wrapping
	// ErrNoRoute when none fits the request's limits.
	FindRoutes(in Input) ([]Route, error)
}

// LiquidityOracle knows the true spendable balance of each channel direction:
// how much From can currently send over the channel towards the other end.
// Only a simulator can supply one.
type LiquidityOracle interface {
	Liquidity(ch ChannelID, dir Direction) uint64
}

// Errors returned by strategies.
var (
	// ErrNoRoute means no route satisfies the request.
	ErrNoRoute = errors.New("routing: no route")
	// ErrUnknownNode means the source or target is not in the graph.
	ErrUnknownNode = errors.New("routing: unknown node")
	// ErrInvalidRequest means the request itself is unusable (zero amount,
	// source equals target).
	ErrInvalidRequest = errors.New("routing: invalid request")
	// ErrUnknownStrategy means NewStrategy was given a name nobody registered.
	ErrUnknownStrategy = errors.New("routing: unknown strategy")
	// ErrInvalidConfig means a Config field is out of range.
	ErrInvalidConfig = errors.New("routing: invalid config")
)

// Config configures a strategy. The zero value is valid: Validate fills the
// defaults. The probabilistic strategy minimises, over the hops of a route,
// the sum of
//
//	fee + RiskFactor·amount·delta_ms/1e9 + AttemptCost·(−ln P(success))
//
// in units, where fee and delta are what the hop's sender charges (nothing
// for the payer's own first hop), amount is what the hop carries, and P is
// Model's success probability for that amount given mission control's
// bounds. The mpp strategy minimises Σ AttemptCost·(−ln P_e(f_e)) +
// FeeWeight·fee_e(f_e) over a flow f (see mpp.go). shortest minimises hops,
// cheapest and oracle minimise fees.
type Config struct {
	// Model is the success-probability model; nil means NewBimodalModel with
	// its defaults.
	Model ProbabilityModel
	// RiskFactor prices time-locked capital: a hop adds
	// amount·delta_ms·RiskFactor/1e9 units. Default DefaultRiskFactor.
	RiskFactor float64
	// AttemptCost is what avoiding a failed attempt is worth, in units: it
	// weighs −ln P. Default 100,000 (100 sat, lnd's attempt cost).
	AttemptCost float64
	// MinProbability drops hops whose success probability is below it.
	// Default 0.0001.
	MinProbability float64
	// MaxParts caps the number of parts of an mpp payment. Default 16.
	MaxParts int
	// MinPartSize is the smallest part an mpp split creates, in units
	// (except a payment smaller than it, sent whole). Default 10,000.
	MinPartSize uint64
	// FeeWeight is μ in the mpp cost: fees in units are multiplied by it
	// before being added to AttemptCost·(−ln P). Default 1.
	FeeWeight float64
	// Pieces is the number of linear pieces of −ln P per channel direction
	// in the mpp flow network. Default 5.
	Pieces int
	// Oracle supplies true balances; required by the oracle strategy,
	// ignored by the others.
	Oracle LiquidityOracle
}

// DefaultRiskFactor is the default Config.RiskFactor: lnd's 15 parts per
// billion per block of time lock, converted to milliseconds at MsPerBlock
// (600,000 ms per block), i.e. 15/600,000 = 2.5e-5 per billion per ms.
const DefaultRiskFactor = 15.0 / 600_000

// Validate fills defaults into zero fields and rejects out-of-range values.
func (c *Config) Validate() error {
	if c.Model == nil {
		c.Model = NewBimodalModel(BimodalConfig{})
	}
	if c.RiskFactor == 0 {
		c.RiskFactor = DefaultRiskFactor
	}
	if c.AttemptCost == 0 {
		c.AttemptCost = 100_000
	}
	if c.MinProbability == 0 {
		c.MinProbability = 0.0001
	}
	if c.MaxParts == 0 {
		c.MaxParts = 16
	}
	if c.MinPartSize == 0 {
		c.MinPartSize = 10_000
	}
	if c.FeeWeight == 0 {
		c.FeeWeight = 1
	}
	if c.Pieces == 0 {
		c.Pieces = 5
	}
	switch {
	case c.RiskFactor < 0:
		return fmt.Errorf("%w: negative RiskFactor", ErrInvalidConfig)
	case c.AttemptCost < 0:
		return fmt.Errorf("%w: negative AttemptCost", ErrInvalidConfig)
	case c.MinProbability < 0 || c.MinProbability >= 1:
		return fmt.Errorf("%w: MinProbability %v outside [0,1)", ErrInvalidConfig, c.MinProbability)
	case c.MaxParts < 1 || c.MaxParts > 1000:
		return fmt.Errorf("%w: MaxParts %d outside [1,1000]", ErrInvalidConfig, c.MaxParts)
	case c.FeeWeight < 0:
		return fmt.Errorf("%w: negative FeeWeight", ErrInvalidConfig)
	case c.Pieces < 1 || c.Pieces > 64:
		return fmt.Errorf("%w: Pieces %d outside [1,64]", ErrInvalidConfig, c.Pieces)
	}
	return nil
}

// Factory builds a strategy from a validated Config.
type Factory func(cfg Config) (Strategy, error)

var registry = struct {
	sync.RWMutex
	m map[string]Factory
}{m: map[string]Factory{}}

// Register makes a strategy available under name to NewStrategy. A
// researcher adds a strategy by implementing Strategy and calling Register
// once (typically from an init function). Registering a taken name is an
// error.
func Register(name string, f Factory) error {
	if name == "" || f == nil {
		return fmt.Errorf("routing: register %q: empty name or nil factory", name)
	}
	registry.Lock()
	defer registry.Unlock()
	if _, ok := registry.m[name]; ok {
		return fmt.Errorf("routing: register %q: name already taken", name)
	}
	registry.m[name] = f
	return nil
}

// Strategies returns the registered strategy names, sorted.
func Strategies() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.m))
	for n := range registry.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// NewStrategy builds the strategy registered under name. cfg is validated
// (defaults filled) before the factory sees it.
func NewStrategy(name string, cfg Config) (Strategy, error) {
	registry.RLock()
	f, ok := registry.m[name]
	registry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q (have %v)", ErrUnknownStrategy, name, Strategies())
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := f(cfg)
	if err != nil {
		return nil, fmt.Errorf("strategy %q: %w", name, err)
	}
	return s, nil
}
