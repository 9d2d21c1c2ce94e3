// Package simcli provides the `sim` cobra command tree (run, sweep, topo)
// over package sim, ready to be added to the paymesh root command:
//
//	root.AddCommand(simcli.Command())
//
// Results go to --out DIR; progress with an ETA goes to stderr; the
// one-line outcome goes to stdout.
package simcli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paymesh/paymesh/sim"
	"github.com/spf13/cobra"
)

// Command returns the `sim` command with its run, sweep and topo
// subcommands.
func Command() *cobra.Command {
	c := &cobra.Command{
		Use:   "sim",
		Short: "Simulate payments over Lightning-like topologies with paymesh's routing strategies",
		Long: `sim runs the node's own routing code in a deterministic discrete-event
simulator: load a real snapshot or generate a topology, run a workload through
several strategies side by side, and get JSON/CSV metrics, plots and a report.
Scenario files are described in docs/simulator.md.`,
	}
	c.AddCommand(runCmd(), sweepCmd(), topoCmd())
	return c
}

// common flags shared by run and sweep.
type common struct {
	out        string
	seed       string
	runs       string
	payments   string
	rate       string
	strategies string
	workers    int
	sets       []string
	quiet      bool
}

func (f *common) register(c *cobra.Command, defOut string) {
	fl := c.Flags()
	fl.StringVar(&f.out, "out", defOut, "output directory")
	fl.StringVar(&f.seed, "seed", "", "base seed (overrides the file's seed)")
	fl.StringVar(&f.runs, "runs", "", "number of seeds to run (overrides runs)")
	fl.StringVar(&f.payments, "payments", "", "override workload.payments")
	fl.StringVar(&f.rate, "rate", "", "override workload.rate (payments/s)")
	fl.StringVar(&f.strategies, "strategies", "", "comma-separated strategy labels (overrides strategies)")
	fl.IntVar(&f.workers, "workers", 0, "goroutines (default: all cores): simulations run at once, spare ones route each simulation's payments ahead; results do not depend on it")
	fl.StringArrayVar(&f.sets, "set", nil, "override any scenario key: --set engine.hop_latency='\"50ms\"' (repeatable)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress bar")
}

func (f *common) overrides() ([]sim.Override, error) {
	var ov []sim.Override
	add := func(k, v string) {
		if v != "" {
			ov = append(ov, sim.Override{Key: k, Value: v})
		}
	}
	add("seed", f.seed)
	add("runs", f.runs)
	add("workload.payments", f.payments)
	add("workload.rate", f.rate)
	if f.strategies != "" {
		parts := strings.Split(f.strategies, ",")
		for i := range parts {
			parts[i] = strconv.Quote(strings.TrimSpace(parts[i]))
		}
		add("strategies", "["+strings.Join(parts, ", ")+"]")
	}
	for _, s := range f.sets {
		o, err := sim.ParseOverride(s)
		if err != nil {
			return nil, err
		}
		ov = append(ov, o)
	}
	return ov, nil
}

func runCmd() *cobra.Command {
	var f common
	c := &cobra.Command{
		Use:   "run SCENARIO.toml",
		Short: "Run a scenario and write summary.json, CSVs, plots and report.md to --out",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ov, err := f.overrides()
			if err != nil {
				return err
			}
			sc, err := sim.LoadScenario(args[0], ov...)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			bar := newProgress(cmd.ErrOrStderr(), f.quiet)
			start := time.Now()
			res, err := sim.Run(ctx, sc, sim.Options{Workers: f.workers, Progress: bar.update})
			bar.finish()
			if err != nil {
				return err
			}
			if err := sim.WriteOutputs(f.out, res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, s := range res.Strategies {
				fmt.Fprintf(out, "%-16s success %6.2f%% (volume %6.2f%%)  fee %8.1f ppm  attempts %.2f  hops %.2f\n", s.Label,
					100*s.Aggregate.SuccessRatio.Mean, 100*s.Aggregate.VolumeRatio.Mean, s.Aggregate.FeePPM.Mean,
					s.Aggregate.AttemptsMean.Mean, s.Aggregate.HopsMean.Mean)
			}
			fmt.Fprintf(out, "wrote %s (wall time %.2fs)\n", f.out, time.Since(start).Seconds())
			return nil
		},
	}
	f.register(c, "sim-out")
	return c
}

func sweepCmd() *cobra.Command {
	var f common
	var grid []string
	c := &cobra.Command{
		Use:   "sweep SCENARIO.toml",
		Short: "Run a scenario over a parameter grid ([sweep] table and --grid), using all cores",
		Long: `sweep runs the scenario once per point of the cartesian product of its [sweep]
table and the --grid axes, writing each point to --out/point-NNN and a summary
table to --out/sweep.csv. Example:

  paymesh sim sweep spider.toml --grid balances.scale=1,0.5,0.25 --grid 'strategies=["mpp"],["shortest"]'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ov, err := f.overrides()
			if err != nil {
				return err
			}
			sc, err := sim.LoadScenario(args[0], ov...)
			if err != nil {
				return err
			}
			var extra []sim.SweepAxis
			for _, g := range grid {
				a, err := sim.ParseAxis(g)
				if err != nil {
					return err
				}
				extra = append(extra, a)
			}
			axes, err := sc.Axes(extra...)
			if err != nil {
				return err
			}
			if len(axes) == 0 {
				return fmt.Errorf("sweep: no axes: add a [sweep] table to %s or pass --grid key=v1,v2", args[0])
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			bar := newProgress(cmd.ErrOrStderr(), f.quiet)
			start := time.Now()
			err = sim.WriteSweep(ctx, f.out, sc, axes, sim.Options{Workers: f.workers, Progress: bar.update})
			bar.finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d points to %s (wall time %.2fs)\n", len(sim.Points(axes)), f.out, time.Since(start).Seconds())
			return nil
		},
	}
	f.register(c, "sim-sweep")
	c.Flags().StringArrayVar(&grid, "grid", nil, "sweep axis key=v1,v2,... (values in TOML syntax; repeatable)")
	return c
}

func topoCmd() *cobra.Command {
	var asJSON bool
	var sets []string
	var source, path string
	c := &cobra.Command{
		Use:   "topo [SCENARIO.toml]",
		Short: "Inspect a topology: nodes, channels, capacity statistics, components",
		Long: `topo prints statistics of the topology a scenario names, or of a file given
with --source and --path (cloth: directory of the CSV triple; spider: edge list;
lnd, cln: JSON dumps).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ov []sim.Override
			for _, s := range sets {
				o, err := sim.ParseOverride(s)
				if err != nil {
					return err
				}
				ov = append(ov, o)
			}
			var t *sim.Topology
			var err error
			switch {
			case len(args) == 1:
				var sc *sim.Scenario
				if sc, err = sim.LoadScenario(args[0], ov...); err != nil {
					return err
				}
				t, _, err = sim.LoadTopology(sc, sc.Seed)
			case source != "" && path != "":
				t, err = sim.LoadTopologyFile(source, path)
			default:
				return fmt.Errorf("topo: give a scenario file, or --source and --path")
			}
			if err != nil {
				return err
			}
			st := sim.Inspect(t)
			out := cmd.OutOrStdout()
			if asJSON {
				b, err := json.MarshalIndent(st, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(out, "%s\n", b)
				return err
			}
			fmt.Fprintf(out, "topology            %s\n", st.Name)
			fmt.Fprintf(out, "nodes               %d (%d without channels)\n", st.Nodes, st.IsolatedNodes)
			fmt.Fprintf(out, "channels            %d\n", st.Channels)
			fmt.Fprintf(out, "components          %d (largest %d nodes)\n", st.Components, st.LargestComponent)
			fmt.Fprintf(out, "total capacity      %.4f BTC\n", float64(st.TotalCapacityMsat)/1e11)
			fmt.Fprintf(out, "capacity (sat)      min %d  median %d  mean %.0f  max %d\n", st.CapacityMinMsat/1000,
				st.CapacityMedMsat/1000, st.CapacityMeanMsat/1000, st.CapacityMaxMsat/1000)
			fmt.Fprintf(out, "degree              mean %.2f  max %d\n", st.DegreeMean, st.DegreeMax)
			fmt.Fprintf(out, "policy medians      base %d msat  %d ppm  delta %d\n", st.FeeBaseMedianMsat, st.FeePPMMedian, st.CLTVDeltaMedian)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().StringArrayVar(&sets, "set", nil, "override a scenario key (repeatable)")
	c.Flags().StringVar(&source, "source", "", "cloth, spider, lnd or cln (without a scenario)")
	c.Flags().StringVar(&path, "path", "", "topology file or directory (without a scenario)")
	return c
}

// progress draws a one-line bar with an ETA on w, at most 10 times a
// second.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	off   bool
	start time.Time
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, quiet bool) *progress {
	return &progress{w: w, off: quiet, start: time.Now()}
}

func (p *progress) update(done, total int64) {
	if p.off || total <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond && done < total {
		return
	}
	p.last = now
	frac := min(float64(done)/float64(total), 1)
	const width = 30
	n := int(frac * width)
	eta := "--"
	if el := now.Sub(p.start); done > 0 && frac < 1 {
		eta = (time.Duration(float64(el)/frac) - el).Round(time.Second).String()
	} else if frac >= 1 {
		eta = "0s"
	}
	fmt.Fprintf(p.w, "\r[%s%s] %5.1f%% %d/%d payments  ETA %s   ", strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*frac, done, total, eta)
	p.drawn = true
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
