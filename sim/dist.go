package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// ErrInvalidDist is wrapped by distribution validation errors.
var ErrInvalidDist = errors.New("invalid distribution")

// Dist is a distribution of non-negative amounts, as written in scenario
// files. Kind selects the family; only the fields that family uses may be
// set:
//
//	constant     value
//	uniform      min, max                 (inclusive)
//	exponential  mean
//	lognormal    mu, sigma                (of the underlying normal, ln msat)
//	             or mean, sigma           (mean of the log-normal itself)
//	pareto       xm (scale, minimum), alpha (shape)
//
// Samples are rounded to integers and clamped to [min, max] when those are
// set for a family other than uniform.
type Dist struct {
	Kind  string  `toml:"kind" json:"kind"`
	Value float64 `toml:"value" json:"value,omitempty"`
	Min   float64 `toml:"min" json:"min,omitempty"`
	Max   float64 `toml:"max" json:"max,omitempty"`
	Mean  float64 `toml:"mean" json:"mean,omitempty"`
	Mu    float64 `toml:"mu" json:"mu,omitempty"`
	Sigma float64 `toml:"sigma" json:"sigma,omitempty"`
	Xm    float64 `toml:"xm" json:"xm,omitempty"`
	Alpha float64 `toml:"alpha" json:"alpha,omitempty"`
}

// Constant returns the constant distribution v.
func Constant(v float64) Dist { return Dist{Kind: "constant", Value: v} }

// Validate reports whether the parameters fit the family.
func (d Dist) Validate() error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidDist, d.Kind, fmt.Sprintf(f, a...))
	}
	for _, x := range []float64{d.Value, d.Min, d.Max, d.Mean, d.Mu, d.Sigma, d.Xm, d.Alpha} {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return bad("parameters must be finite")
		}
	}
	for _, x := range []float64{d.Value, d.Min, d.Max, d.Mean, d.Sigma, d.Xm, d.Alpha} {
		if x < 0 {
			return bad("parameters other than mu must be non-negative")
		}
	}
	if d.Max != 0 && d.Min > d.Max {
		return bad("min %g > max %g", d.Min, d.Max)
	}
	switch d.Kind {
	case "constant":
		// zero is a valid constant (a zero fee); amounts are at least 1.
	case "uniform":
		if d.Max <= 0 || d.Min > d.Max {
			return bad("need 0 <= min <= max, max > 0")
		}
	case "exponential":
		if d.Mean <= 0 {
			return bad("mean must be > 0")
		}
	case "lognormal":
		if d.Sigma <= 0 || d.Sigma > 10 {
			return bad("sigma must be in (0, 10]")
		}
		if d.Mean < 0 || d.Mu != 0 && d.Mean != 0 {
			return bad("set either mu or mean, not both")
		}
		if math.Abs(d.Mu) > 60 {
			return bad("mu must be in [-60, 60]")
		}
	case "pareto":
		if d.Xm <= 0 || d.Alpha <= 0 {
			return bad("xm and alpha must be > 0")
		}
	case "":
		return fmt.Errorf("%w: kind is missing (constant, uniform, exponential, lognormal, pareto)", ErrInvalidDist)
	default:
		return fmt.Errorf("%w: unknown kind %q (constant, uniform, exponential, lognormal, pareto)", ErrInvalidDist, d.Kind)
	}
	return nil
}

// MeanValue returns the distribution's mean (before clamping), used for
// sanity checks and reports.
func (d Dist) MeanValue() float64 {
	switch d.Kind {
	case "constant":
		return d.Value
	case "uniform":
		return (d.Min + d.Max) / 2
	case "exponential":
		return d.Mean
	case "lognormal":
		if d.Mean > 0 {
			return d.Mean
		}
		return math.Exp(d.Mu + d.Sigma*d.Sigma/2)
	case "pareto":
		if d.Alpha <= 1 {
			return math.Inf(1)
		}
		return d.Alpha * d.Xm / (d.Alpha - 1)
	}
	return 0
}

// LowerBound returns the smallest value the distribution can produce.
func (d Dist) LowerBound() float64 {
	switch d.Kind {
	case "constant":
		return d.Value
	case "pareto":
		return max(d.Xm, d.Min)
	}
	return d.Min
}

// Sample draws one value, rounded to a non-negative integer.
func (d Dist) Sample(r *rand.Rand) uint64 {
	var x float64
	switch d.Kind {
	case "constant":
		x = d.Value
	case "uniform":
		x = d.Min + r.Float64()*(d.Max-d.Min)
	case "exponential":
		x = r.ExpFloat64() * d.Mean
	case "lognormal":
		mu := d.Mu
		if d.Mean > 0 {
			mu = math.Log(d.Mean) - d.Sigma*d.Sigma/2
		}
		x = math.Exp(mu + d.Sigma*r.NormFloat64())
	case "pareto":
		x = d.Xm / math.Pow(1-r.Float64(), 1/d.Alpha)
	}
	if d.Kind != "uniform" {
		if x < d.Min {
			x = d.Min
		}
		if d.Max > 0 && x > d.Max {
			x = d.Max
		}
	}
	x = math.Round(x)
	if !(x >= 0) {
		return 0
	}
	if x >= float64(MaxCapacityMsat) {
		return MaxCapacityMsat
	}
	return uint64(x)
}

func log1m(p float64) float64 { return math.Log1p(-p) }
func logOf(x float64) float64 { return math.Log(x) }
