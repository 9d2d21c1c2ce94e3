package sim

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// CauseCounts counts failed payments by cause.
type CauseCounts struct {
	NoPath      int `json:"no_path"`
	NoBalance   int `json:"no_balance"`
	OfflineNode int `json:"offline_node"`
	Timeout     int `json:"timeout"`
}

func (c *CauseCounts) add(cause string) {
	switch cause {
	case CauseNoPath:
		c.NoPath++
	case CauseNoBalance:
		c.NoBalance++
	case CauseOfflineNode:
		c.OfflineNode++
	case CauseTimeout:
		c.Timeout++
	}
}

// Get returns the count for one of Causes.
func (c CauseCounts) Get(cause string) int {
	switch cause {
	case CauseNoPath:
		return c.NoPath
	case CauseNoBalance:
		return c.NoBalance
	case CauseOfflineNode:
		return c.OfflineNode
	case CauseTimeout:
		return c.Timeout
	}
	return 0
}

// Metrics summarises one (strategy, run) simulation.
type Metrics struct {
	Payments            int         `json:"payments"`
	Succeeded           int         `json:"succeeded"`
	SuccessRatio        float64     `json:"success_ratio"`
	VolumeMsat          uint64      `json:"volume_msat"`
	SucceededVolumeMsat uint64      `json:"succeeded_volume_msat"`
	VolumeRatio         float64     `json:"volume_ratio"`
	Failures            CauseCounts `json:"failures"`
	FeesMsat            uint64      `json:"fees_msat"`
	FeePPM              float64     `json:"fee_ppm"`
	AttemptsMean        float64     `json:"attempts_mean"`
	AttemptsMeanSuccess float64     `json:"attempts_mean_success"`
	PartsMean           float64     `json:"parts_mean"`
	HopsMean            float64     `json:"hops_mean"`
	HopsMax             int         `json:"hops_max"`
	LatencyMeanMs       float64     `json:"latency_mean_ms"`
	LatencyP50Ms        float64     `json:"latency_p50_ms"`
	LatencyP90Ms        float64     `json:"latency_p90_ms"`
	LatencyP99Ms        float64     `json:"latency_p99_ms"`
	DepletedFinal       float64     `json:"depleted_final"`
	SimulatedSeconds    float64     `json:"simulated_seconds"`
}

// ComputeMetrics summarises payment results and a time series.
func ComputeMetrics(res []PaymentResult, series []Sample) Metrics {
	m := Metrics{Payments: len(res)}
	var att, attOK, parts, hops float64
	var lat []float64
	for _, r := range res {
		m.VolumeMsat += r.Amount
		att += float64(r.Attempts)
		parts += float64(r.Parts)
		if r.Success {
			m.Succeeded++
			m.SucceededVolumeMsat += r.Amount
			m.FeesMsat += r.FeeMsat
			attOK += float64(r.Attempts)
			hops += float64(r.Hops)
			m.HopsMax = max(m.HopsMax, r.Hops)
			lat = append(lat, float64(r.End-r.Time)/float64(Millisecond))
		} else {
			m.Failures.add(r.Cause)
		}
	}
	if m.Payments > 0 {
		m.SuccessRatio = float64(m.Succeeded) / float64(m.Payments)
		m.AttemptsMean = att / float64(m.Payments)
		m.PartsMean = parts / float64(m.Payments)
	}
	if m.VolumeMsat > 0 {
		m.VolumeRatio = float64(m.SucceededVolumeMsat) / float64(m.VolumeMsat)
	}
	if m.SucceededVolumeMsat > 0 {
		m.FeePPM = float64(m.FeesMsat) / float64(m.SucceededVolumeMsat) * 1e6
	}
	if m.Succeeded > 0 {
		m.AttemptsMeanSuccess = attOK / float64(m.Succeeded)
		m.HopsMean = hops / float64(m.Succeeded)
		slices.Sort(lat)
		m.LatencyMeanMs = stat.Mean(lat, nil)
		m.LatencyP50Ms = stat.Quantile(0.5, stat.Empirical, lat, nil)
		m.LatencyP90Ms = stat.Quantile(0.9, stat.Empirical, lat, nil)
		m.LatencyP99Ms = stat.Quantile(0.99, stat.Empirical, lat, nil)
	}
	if n := len(series); n > 0 {
		m.DepletedFinal = series[n-1].Depleted
		m.SimulatedSeconds = float64(series[n-1].T) / float64(Second)
	}
	return m
}

// Estimate is a mean over runs with the half-width of its 95% confidence
// interval (Student's t; 0 with a single run).
type Estimate struct {
	Mean float64 `json:"mean"`
	CI95 float64 `json:"ci95"`
}

func estimate(xs []float64) Estimate {
	if len(xs) == 0 {
		return Estimate{}
	}
	mean, sd := stat.MeanStdDev(xs, nil)
	e := Estimate{Mean: mean}
	if n := float64(len(xs)); n > 1 && !math.IsNaN(sd) {
		t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: n - 1}.Quantile(0.975)
		e.CI95 = t * sd / math.Sqrt(n)
	}
	return e
}

// Aggregate summarises one strategy over all runs.
type Aggregate struct {
	SuccessRatio  Estimate `json:"success_ratio"`
	VolumeRatio   Estimate `json:"volume_ratio"`
	FeePPM        Estimate `json:"fee_ppm"`
	AttemptsMean  Estimate `json:"attempts_mean"`
	HopsMean      Estimate `json:"hops_mean"`
	LatencyP50Ms  Estimate `json:"latency_p50_ms"`
	LatencyP99Ms  Estimate `json:"latency_p99_ms"`
	NoPath        Estimate `json:"no_path"`
	NoBalance     Estimate `json:"no_balance"`
	OfflineNode   Estimate `json:"offline_node"`
	Timeout       Estimate `json:"timeout"`
	DepletedFinal Estimate `json:"depleted_final"`
}

// AggregateRuns computes means and 95% confidence intervals over runs.
func AggregateRuns(ms []Metrics) Aggregate {
	col := func(f func(Metrics) float64) Estimate {
		xs := make([]float64, len(ms))
		for i, m := range ms {
			xs[i] = f(m)
		}
		return estimate(xs)
	}
	return Aggregate{
		SuccessRatio:  col(func(m Metrics) float64 { return m.SuccessRatio }),
		VolumeRatio:   col(func(m Metrics) float64 { return m.VolumeRatio }),
		FeePPM:        col(func(m Metrics) float64 { return m.FeePPM }),
		AttemptsMean:  col(func(m Metrics) float64 { return m.AttemptsMean }),
		HopsMean:      col(func(m Metrics) float64 { return m.HopsMean }),
		LatencyP50Ms:  col(func(m Metrics) float64 { return m.LatencyP50Ms }),
		LatencyP99Ms:  col(func(m Metrics) float64 { return m.LatencyP99Ms }),
		NoPath:        col(func(m Metrics) float64 { return float64(m.Failures.NoPath) }),
		NoBalance:     col(func(m Metrics) float64 { return float64(m.Failures.NoBalance) }),
		OfflineNode:   col(func(m Metrics) float64 { return float64(m.Failures.OfflineNode) }),
		Timeout:       col(func(m Metrics) float64 { return float64(m.Failures.Timeout) }),
		DepletedFinal: col(func(m Metrics) float64 { return m.DepletedFinal }),
	}
}
