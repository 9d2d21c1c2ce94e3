package sim

import (
	"fmt"
	"strings"
)

// Report renders report.md: the setup and a results table a researcher can
// paste into a paper.
func Report(r *Result) string {
	sc := r.Scenario
	var b strings.Builder
	fmt.Fprintf(&b, "# Simulation report: %s\n\n", sc.Name)
	if sc.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", sc.Description)
	}
	t := r.Topology
	fmt.Fprintf(&b, "## Setup\n\n")
	fmt.Fprintf(&b, "- Simulator: %s; seed %d; %d run(s) (seeds %d–%d); scenario SHA-256 `%s`.\n",
		r.Version, sc.Seed, sc.Runs, sc.Seed, sc.Seed+uint64(sc.Runs)-1, sc.SHA256)
	fmt.Fprintf(&b, "- Topology: %s (source `%s`): %d nodes, %d channels, %d component(s) (largest %d nodes), total capacity %.2f BTC, median channel %d sat.\n",
		t.Name, sc.Topology.Source, t.Nodes, t.Channels, t.Components, t.LargestComponent,
		float64(t.TotalCapacityMsat)/1e11, t.CapacityMedMsat/1000)
	fmt.Fprintf(&b, "- Balances: %s", sc.Balances.Init)
	if sc.Balances.Scale != 1 {
		fmt.Fprintf(&b, ", capacities scaled by %g", sc.Balances.Scale)
	}
	b.WriteString(".\n")
	w := sc.Workload
	kind := w.Kind
	if kind == "" {
		kind = "poisson"
	}
	fmt.Fprintf(&b, "- Workload: %s", kind)
	if w.Payments > 0 {
		fmt.Fprintf(&b, ", %d payments at %g/s, amounts %s (mean %.0f msat), senders %s, receivers %s, demand %s",
			w.Payments, w.Rate, w.Amount.Kind, w.Amount.MeanValue(), or(w.Senders, "uniform"), or(w.Receivers, "uniform"), or(w.Demand, "random"))
	}
	if len(w.Streams) > 0 {
		fmt.Fprintf(&b, ", %d stream group(s)", len(w.Streams))
	}
	b.WriteString(".\n")
	e := sc.Engine
	fmt.Fprintf(&b, "- Engine: hop latency %v ± %v, hold time %v, payment timeout %v, offline probability %g, max hops %d.\n",
		e.HopLatency.D(), e.HopJitter.D(), e.HoldTime.D(), e.PaymentTimeout.D(), e.OfflineProbability, e.MaxHops)
	if len(sc.Overrides) > 0 {
		fmt.Fprintf(&b, "- Overrides: `%s`.\n", strings.Join(sc.Overrides, "`, `"))
	}
	b.WriteString("- Inputs:\n")
	for _, in := range r.Inputs {
		fmt.Fprintf(&b, "  - `%s` SHA-256 `%s`\n", in.Path, in.SHA256)
	}

	ci := func(x Estimate, scale float64, prec int) string {
		if sc.Runs == 1 {
			return fmt.Sprintf("%.*f", prec, x.Mean*scale)
		}
		return fmt.Sprintf("%.*f ± %.*f", prec, x.Mean*scale, prec, x.CI95*scale)
	}
	b.WriteString("\n## Results\n\n")
	if sc.Runs > 1 {
		fmt.Fprintf(&b, "Means over %d runs with 95%% confidence intervals (Student's t).\n\n", sc.Runs)
	}
	b.WriteString("| strategy | success (count, %) | success (volume, %) | fee (ppm) | attempts | hops | latency p50 (ms) | latency p99 (ms) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.Strategies {
		a := s.Aggregate
		name := s.Label
		if s.Use != s.Label {
			name += " (" + s.Use + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", name,
			ci(a.SuccessRatio, 100, 2), ci(a.VolumeRatio, 100, 2), ci(a.FeePPM, 1, 1),
			ci(a.AttemptsMean, 1, 3), ci(a.HopsMean, 1, 2), ci(a.LatencyP50Ms, 1, 1), ci(a.LatencyP99Ms, 1, 1))
	}
	b.WriteString("\nFailures by cause (CLoTH's names), mean payments per run:\n\n")
	b.WriteString("| strategy | no path | no balance | offline node | timeout |\n|---|---|---|---|---|\n")
	for _, s := range r.Strategies {
		a := s.Aggregate
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", s.Label, ci(a.NoPath, 1, 1), ci(a.NoBalance, 1, 1), ci(a.OfflineNode, 1, 1), ci(a.Timeout, 1, 1))
	}
	if sc.Output.Plots == nil || *sc.Output.Plots {
		b.WriteString("\n## Plots\n\n![success ratio](success.png)\n![success ratio by volume](success_volume.png)\n![fees](fees.png)\n![latency CDF](latency_cdf.png)\n![channel depletion](depletion.png)\n")
	}
	fmt.Fprintf(&b, "\nReproduce: `paymesh sim run %s --seed %d", sc.File, sc.Seed)
	for _, o := range sc.Overrides {
		if strings.HasPrefix(o, "seed=") {
			continue // already given as --seed
		}
		fmt.Fprintf(&b, " --set '%s'", o)
	}
	b.WriteString("`\n")
	return b.String()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
