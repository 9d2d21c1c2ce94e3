package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Summary is the content of summary.json: everything needed to reproduce
// and cite a run, and nothing that varies between identical runs (no wall
// clock, no host names).
type Summary struct {
	Version    string           `json:"version"`
	Scenario   *Scenario        `json:"scenario"`
	Seed       uint64           `json:"seed"`
	Runs       int              `json:"runs"`
	Inputs     []Input          `json:"inputs"`
	Topology   TopologyStats    `json:"topology"`
	Strategies []StrategyResult `json:"strategies"`
}

// Summary returns the result's summary.
func (r *Result) Summary() Summary {
	return Summary{Version: r.Version, Scenario: r.Scenario, Seed: r.Scenario.Seed, Runs: r.Scenario.Runs,
		Inputs: r.Inputs, Topology: r.Topology, Strategies: r.Strategies}
}

// WriteOutputs writes summary.json, payments.csv, timeseries.csv,
// report.md and (unless disabled) plots into dir, creating it.
func WriteOutputs(dir string, r *Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write outputs: %w", err)
	}
	b, err := json.MarshalIndent(r.Summary(), "", "  ")
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	sc := r.Scenario
	if sc.Output.PaymentsCSV == nil || *sc.Output.PaymentsCSV {
		if err := writeCSV(filepath.Join(dir, "payments.csv"), func(w *bufio.Writer) {
			writePaymentsCSV(w, r)
		}); err != nil {
			return err
		}
	}
	if err := writeCSV(filepath.Join(dir, "timeseries.csv"), func(w *bufio.Writer) {
		writeSeriesCSV(w, r)
	}); err != nil {
		return err
	}
	if sc.Output.Plots == nil || *sc.Output.Plots {
		if err := WritePlots(dir, r); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(Report(r)), 0o644)
}

func writeCSV(path string, fill func(w *bufio.Writer)) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	fill(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return f.Close()
}

func ms(t Time) string { return strconv.FormatFloat(float64(t)/float64(Millisecond), 'f', 3, 64) }

func writePaymentsCSV(w *bufio.Writer, r *Result) {
	w.WriteString("strategy,run,seed,id,time_ms,sender,receiver,amount_msat,flow,success,cause,attempts,parts,hops,fee_msat,latency_ms\n")
	nodes := r.topologyNodes()
	var b []byte
	for _, j := range r.Jobs {
		for i, p := range j.Payments {
			b = b[:0]
			b = append(b, j.Strategy...)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(j.Run), 10)
			b = append(b, ',')
			b = strconv.AppendUint(b, j.Seed, 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, ',')
			b = append(b, ms(p.Time)...)
			b = append(b, ',')
			b = append(b, nodeName(nodes, p.Sender)...)
			b = append(b, ',')
			b = append(b, nodeName(nodes, p.Receiver)...)
			b = append(b, ',')
			b = strconv.AppendUint(b, p.Amount, 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(p.Flow), 10)
			b = append(b, ',')
			b = strconv.AppendBool(b, p.Success)
			b = append(b, ',')
			b = append(b, p.Cause...)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(p.Attempts), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(p.Parts), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(p.Hops), 10)
			b = append(b, ',')
			b = strconv.AppendUint(b, p.FeeMsat, 10)
			b = append(b, ',')
			b = append(b, ms(p.End-p.Time)...)
			b = append(b, '\n')
			w.Write(b)
		}
	}
}

func writeSeriesCSV(w *bufio.Writer, r *Result) {
	w.WriteString("strategy,run,t_s,succeeded,failed,pending,inflight_msat,depleted_fraction\n")
	for _, j := range r.Jobs {
		for _, s := range j.Series {
			fmt.Fprintf(w, "%s,%d,%.3f,%d,%d,%d,%d,%.6f\n", j.Strategy, j.Run, float64(s.T)/float64(Second),
				s.Succeeded, s.Failed, s.Pending, s.InFlightMsat, s.Depleted)
		}
	}
}

// topologyNodes returns node names for CSV output (nil if unknown).
func (r *Result) topologyNodes() []string { return r.nodes }

func nodeName(nodes []string, i int32) string {
	if int(i) < len(nodes) {
		return csvSafe(nodes[i])
	}
	return strconv.Itoa(int(i))
}

// csvSafe keeps a node id from breaking the CSV (ids come from files).
func csvSafe(s string) string {
	if strings.ContainsAny(s, ",\"\n\r") {
		return strconv.Quote(s)
	}
	return s
}
