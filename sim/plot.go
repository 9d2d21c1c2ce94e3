package sim

import (
	"fmt"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// barsWithCI is a bar series with 95% confidence half-widths.
type barsWithCI struct {
	ys, errs []float64
}

func (b barsWithCI) Len() int                    { return len(b.ys) }
func (b barsWithCI) XY(i int) (float64, float64) { return float64(i), b.ys[i] }
func (b barsWithCI) YError(i int) (float64, float64) {
	return b.errs[i], b.errs[i]
}

// WritePlots writes success.{png,svg} (success ratio by count and volume
// with 95% CIs), fees.{png,svg}, latency_cdf.{png,svg} and
// depletion.{png,svg} comparing the strategies.
func WritePlots(dir string, r *Result) error {
	labels := make([]string, len(r.Strategies))
	for i, s := range r.Strategies {
		labels[i] = s.Label
	}
	bar := func(name, title, ylabel string, get func(Aggregate) Estimate, scale float64) error {
		p := plot.New()
		p.Title.Text = title
		p.Y.Label.Text = ylabel
		var b barsWithCI
		for _, s := range r.Strategies {
			e := get(s.Aggregate)
			b.ys = append(b.ys, e.Mean*scale)
			b.errs = append(b.errs, e.CI95*scale)
		}
		bc, err := plotter.NewBarChart(plotter.Values(b.ys), vg.Points(24))
		if err != nil {
			return err
		}
		bc.Color = plotutil.Color(0)
		p.Add(bc)
		if r.Scenario.Runs > 1 {
			eb, err := plotter.NewYErrorBars(b)
			if err != nil {
				return err
			}
			p.Add(eb)
		}
		p.NominalX(labels...)
		return savePlot(p, dir, name)
	}
	if err := bar("success", "Success ratio (count), 95% CI", "succeeded payments (%)",
		func(a Aggregate) Estimate { return a.SuccessRatio }, 100); err != nil {
		return err
	}
	if err := bar("success_volume", "Success ratio (volume), 95% CI", "succeeded volume (%)",
		func(a Aggregate) Estimate { return a.VolumeRatio }, 100); err != nil {
		return err
	}
	if err := bar("fees", "Fees paid, 95% CI", "fee (ppm of delivered volume)",
		func(a Aggregate) Estimate { return a.FeePPM }, 1); err != nil {
		return err
	}

	// Latency CDF and depletion over time, run 0 of each strategy.
	cdf := plot.New()
	cdf.Title.Text = "Latency of successful payments (run 0)"
	cdf.X.Label.Text = "latency (ms)"
	cdf.Y.Label.Text = "fraction of payments"
	dep := plot.New()
	dep.Title.Text = "Depleted channel directions over time (run 0)"
	dep.X.Label.Text = "simulated time (s)"
	dep.Y.Label.Text = "fraction of directions below threshold"
	for i, j := range r.Jobs {
		if j.Run != 0 {
			continue
		}
		var lat []float64
		for _, p := range j.Payments {
			if p.Success {
				lat = append(lat, float64(p.End-p.Time)/float64(Millisecond))
			}
		}
		slices.Sort(lat)
		if len(lat) > 0 {
			xy := make(plotter.XYs, 0, len(lat))
			for k, l := range lat {
				xy = append(xy, plotter.XY{X: l, Y: float64(k+1) / float64(len(lat))})
			}
			if err := addLine(cdf, xy, j.Strategy, i); err != nil {
				return err
			}
		}
		xy := make(plotter.XYs, len(j.Series))
		for k, s := range j.Series {
			xy[k] = plotter.XY{X: float64(s.T) / float64(Second), Y: s.Depleted}
		}
		if len(xy) > 0 {
			if err := addLine(dep, xy, j.Strategy, i); err != nil {
				return err
			}
		}
	}
	cdf.Legend.Top = false
	cdf.Legend.Left = false
	if err := savePlot(cdf, dir, "latency_cdf"); err != nil {
		return err
	}
	return savePlot(dep, dir, "depletion")
}

func addLine(p *plot.Plot, xy plotter.XYs, label string, i int) error {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return fmt.Errorf("plot %s: %w", label, err)
	}
	l.Color = plotutil.Color(i)
	l.Dashes = plotutil.Dashes(i)
	p.Add(l)
	p.Legend.Add(label, l)
	return nil
}

func savePlot(p *plot.Plot, dir, name string) error {
	for _, ext := range []string{".png", ".svg"} {
		if err := p.Save(16*vg.Centimeter, 10*vg.Centimeter, filepath.Join(dir, name+ext)); err != nil {
			return fmt.Errorf("plot %s%s: %w", name, ext, err)
		}
	}
	return nil
}
