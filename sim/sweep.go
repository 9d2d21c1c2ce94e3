package sim

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/BurntSushi/toml"
)

// SweepAxis is one swept key and its values in TOML syntax.
type SweepAxis struct {
	Key    string
	Values []string
}

// ParseAxis parses "key=v1,v2,v3" (values in TOML syntax; bare words are
// strings).
func ParseAxis(s string) (SweepAxis, error) {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" || strings.TrimSpace(v) == "" {
		return SweepAxis{}, fmt.Errorf("%w: sweep axis %q: want key=v1,v2", ErrScenario, s)
	}
	a := SweepAxis{Key: k}
	for _, x := range strings.Split(v, ",") {
		a.Values = append(a.Values, strings.TrimSpace(x))
	}
	return a, nil
}

// Axes returns the scenario's [sweep] table as axes, sorted by key, with
// extra axes appended (an extra axis replaces a [sweep] key of that name).
func (sc *Scenario) Axes(extra ...SweepAxis) ([]SweepAxis, error) {
	var out []SweepAxis
	keys := make([]string, 0, len(sc.Sweep))
	for k := range sc.Sweep {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if slices.ContainsFunc(extra, func(a SweepAxis) bool { return a.Key == k }) {
			continue
		}
		a := SweepAxis{Key: k}
		for _, v := range sc.Sweep[k] {
			lit, err := tomlLiteral(v)
			if err != nil {
				return nil, fmt.Errorf("sweep.%s: %w", k, err)
			}
			a.Values = append(a.Values, lit)
		}
		out = append(out, a)
	}
	out = append(out, extra...)
	n := 1
	for _, a := range out {
		n *= len(a.Values)
		if n > 100_000 {
			return nil, fmt.Errorf("%w: sweep grid has more than 100000 points", ErrScenario)
		}
	}
	return out, nil
}

func tomlLiteral(v any) (string, error) {
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(map[string]any{"v": v}); err != nil {
		return "", err
	}
	return strings.TrimSpace(strings.TrimPrefix(b.String(), "v = ")), nil
}

// SweepPoint is one point of a sweep grid.
type SweepPoint struct {
	Index     int
	Overrides []Override
	Result    *Result
}

// Points expands axes into the cartesian product, first axis slowest.
func Points(axes []SweepAxis) [][]Override {
	pts := [][]Override{nil}
	for _, a := range axes {
		var next [][]Override
		for _, p := range pts {
			for _, v := range a.Values {
				next = append(next, append(slices.Clone(p), Override{Key: a.Key, Value: v}))
			}
		}
		pts = next
	}
	return pts
}

// Sweep runs sc once per grid point (its overrides plus the point's). It
// spreads points over opts.Workers goroutines when there are at least as
// many points as workers, else gives each point's Run all workers. each is
// called in point order with every result.
func Sweep(ctx context.Context, sc *Scenario, axes []SweepAxis, opts Options, each func(SweepPoint) error) error {
	pts := Points(axes)
	base := make([]Override, 0, len(sc.Overrides))
	for _, o := range sc.Overrides {
		ov, err := ParseOverride(o)
		if err != nil {
			return err
		}
		base = append(base, ov)
	}
	scens := make([]*Scenario, len(pts))
	for i, p := range pts {
		s, err := ParseScenario(sc.File, sc.raw, append(slices.Clone(base), p...)...)
		if err != nil {
			return fmt.Errorf("sweep point %d: %w", i, err)
		}
		scens[i] = s
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	inner := opts
	inner.Progress = nil
	// Progress over the whole sweep: payments done at every point, out of
	// the mean per-point total seen so far times the number of points.
	var mu sync.Mutex
	doneAt := make([]int64, len(pts))
	totalAt := make([]int64, len(pts))
	var doneSum, totalSum, known int64
	results := make([]*Result, len(pts))
	errs := make([]error, len(pts))
	runPoint := func(i int, w int) {
		o := inner
		o.Workers = w
		if opts.Progress != nil {
			o.Progress = func(d, t int64) {
				mu.Lock()
				if totalAt[i] == 0 {
					totalAt[i] = t
					totalSum += t
					known++
				}
				doneSum += d - doneAt[i]
				doneAt[i] = d
				ds, ts := doneSum, totalSum*int64(len(pts))/known
				mu.Unlock()
				opts.Progress(ds, ts)
			}
		}
		results[i], errs[i] = Run(ctx, scens[i], o)
	}
	if len(pts) >= workers {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= len(pts) || ctx.Err() != nil {
						return
					}
					runPoint(i, 1)
				}
			}()
		}
		wg.Wait()
	} else {
		for i := range pts {
			runPoint(i, workers)
		}
	}
	for i := range pts {
		if errs[i] != nil {
			return fmt.Errorf("sweep point %d (%v): %w", i, pts[i], errs[i])
		}
		if err := each(SweepPoint{Index: i, Overrides: pts[i], Result: results[i]}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// WriteSweep runs a sweep and writes each point's outputs to
// dir/point-NNN and a sweep.csv table of every (point, strategy).
func WriteSweep(ctx context.Context, dir string, sc *Scenario, axes []SweepAxis, opts Options) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "sweep.csv"))
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	w.WriteString("point")
	for _, a := range axes {
		w.WriteString("," + csvSafe(a.Key))
	}
	w.WriteString(",strategy,success_ratio,success_ci95,volume_ratio,volume_ci95,fee_ppm,fee_ppm_ci95,attempts,hops,latency_p50_ms\n")
	err = Sweep(ctx, sc, axes, opts, func(p SweepPoint) error {
		sub := filepath.Join(dir, fmt.Sprintf("point-%03d", p.Index))
		if err := WriteOutputs(sub, p.Result); err != nil {
			return err
		}
		for _, s := range p.Result.Strategies {
			fmt.Fprintf(w, "%d", p.Index)
			for _, o := range p.Overrides {
				w.WriteString("," + csvSafe(o.Value))
			}
			a := s.Aggregate
			fmt.Fprintf(w, ",%s,%.6f,%.6f,%.6f,%.6f,%.3f,%.3f,%.4f,%.4f,%.3f\n", csvSafe(s.Label),
				a.SuccessRatio.Mean, a.SuccessRatio.CI95, a.VolumeRatio.Mean, a.VolumeRatio.CI95,
				a.FeePPM.Mean, a.FeePPM.CI95, a.AttemptsMean.Mean, a.HopsMean.Mean, a.LatencyP50Ms.Mean)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return f.Close()
}
