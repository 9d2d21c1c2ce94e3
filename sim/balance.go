package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// ErrNoBalances is returned when balances "as given" are asked of a
// topology whose source has none.
var ErrNoBalances = errors.New("topology has no balances")

// Balance initialisation modes.
const (
	// BalanceFile keeps the balances the topology file gives (CLoTH).
	BalanceFile = "file"
	// BalanceEven gives each end half the capacity (the odd msat to Node[0]).
	BalanceEven = "even"
	// BalanceUniform splits each capacity uniformly at random, as
	// Pickhardt–Richter do.
	BalanceUniform = "uniform"
	// BalanceFunder gives the whole capacity to Node[0], like a freshly
	// opened single-funded channel.
	BalanceFunder = "funder"
)

// ScaleCapacities multiplies every capacity (and balance, keeping the
// split's proportion) by f, as in Spider's "funds scaled down" experiments.
// Capacities never fall below 1 msat.
func ScaleCapacities(t *Topology, f float64) error {
	if !(f > 0) || math.IsInf(f, 0) {
		return fmt.Errorf("scale factor %g: must be a positive finite number", f)
	}
	if f == 1 {
		return nil
	}
	for i := range t.Channels {
		c := &t.Channels[i]
		nc := math.Round(float64(c.CapacityMsat) * f)
		if nc > float64(MaxCapacityMsat) {
			return fmt.Errorf("scale factor %g: channel %q capacity overflows", f, c.ID)
		}
		ncap := max(uint64(nc), 1)
		if t.HasBalances {
			b0 := uint64(math.Round(float64(c.Balance[0]) / float64(c.CapacityMsat) * float64(ncap)))
			b0 = min(b0, ncap)
			c.Balance = [2]uint64{b0, ncap - b0}
		}
		c.CapacityMsat = ncap
	}
	return nil
}

// InitBalances sets every channel's balances according to mode, drawing
// from r for the random modes, and sets t.HasBalances.
func InitBalances(t *Topology, mode string, r *rand.Rand) error {
	switch mode {
	case BalanceFile:
		if !t.HasBalances {
			return fmt.Errorf("%w: %s gives no balances; use even or uniform", ErrNoBalances, t.Name)
		}
		return nil
	case BalanceEven:
		for i := range t.Channels {
			c := &t.Channels[i]
			h := c.CapacityMsat / 2
			c.Balance = [2]uint64{c.CapacityMsat - h, h}
		}
	case BalanceUniform:
		for i := range t.Channels {
			c := &t.Channels[i]
			b := r.Uint64N(c.CapacityMsat + 1)
			c.Balance = [2]uint64{b, c.CapacityMsat - b}
		}
	case BalanceFunder:
		for i := range t.Channels {
			c := &t.Channels[i]
			c.Balance = [2]uint64{c.CapacityMsat, 0}
		}
	default:
		return fmt.Errorf("unknown balance mode %q (file, even, uniform, funder)", mode)
	}
	t.HasBalances = true
	return nil
}
