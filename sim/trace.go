package sim

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in scenario files as a string such as
// "100ms" or "60s".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Seconds returns d in seconds.
func (d Duration) Seconds() float64 { return time.Duration(d).Seconds() }

// Sim returns d in simulated time units (µs).
func (d Duration) Sim() Time { return Time(time.Duration(d) / time.Microsecond) }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: want a number with a unit, like \"100ms\" or \"60s\"", clip(string(b)))
	}
	*d = Duration(v)
	return nil
}

// MarshalText formats d as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// resolvePath makes p relative to dir unless it is absolute.
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// readAmountTrace reads a CSV whose header has an amount_msat column.
func readAmountTrace(path string) ([]uint64, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	lr := newLineReader(path, f)
	h, ok := lr.next()
	if !ok {
		if lr.err != nil {
			return nil, lr.err
		}
		return nil, loadErr(path, 0, "", "empty file, want a header with amount_msat")
	}
	cols := strings.Split(h, ",")
	col := -1
	for i, c := range cols {
		if strings.TrimSpace(c) == "amount_msat" {
			col = i
		}
	}
	if col < 0 {
		return nil, loadErr(path, lr.line, "", "header %q has no amount_msat column", clip(h))
	}
	var out []uint64
	for {
		s, ok := lr.next()
		if !ok {
			break
		}
		fs, err := lr.csvFields(s, cols)
		if err != nil {
			return nil, err
		}
		v, err := lr.uint(fs[col], "amount_msat", MaxCapacityMsat)
		if err != nil {
			return nil, err
		}
		if v == 0 {
			return nil, loadErr(path, lr.line, "amount_msat", "zero amount")
		}
		if len(out) >= MaxPayments {
			return nil, loadErr(path, lr.line, "", "more than %d amounts", MaxPayments)
		}
		out = append(out, v)
	}
	if lr.err != nil {
		return nil, lr.err
	}
	if len(out) == 0 {
		return nil, loadErr(path, 0, "amount_msat", "no amounts")
	}
	return out, nil
}

// traceWorkload replays payments from a CSV.
type traceWorkload struct{ path string }

func newTraceWorkload(spec WorkloadSpec) (Workload, error) {
	if spec.Path == "" {
		return nil, werr("workload.path", "trace workload needs a path")
	}
	return &traceWorkload{path: spec.Path}, nil
}

var traceHeader = []string{"time_ms", "sender", "receiver", "amount_msat"}

func (w *traceWorkload) Payments(env WorkloadEnv) ([]Payment, error) {
	path := resolvePath(env.Dir, w.path)
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	index := make(map[string]int32, len(env.Topology.Nodes))
	for i, n := range env.Topology.Nodes {
		index[n] = int32(i)
	}
	lr := newLineReader(path, f)
	if err := lr.header(traceHeader); err != nil {
		return nil, err
	}
	var out []Payment
	last := -1.0
	for {
		s, ok := lr.next()
		if !ok {
			break
		}
		fs, err := lr.csvFields(s, traceHeader)
		if err != nil {
			return nil, err
		}
		tm, err := strconv.ParseFloat(fs[0], 64)
		if err != nil || !(tm >= 0) || tm > 1e12 {
			return nil, loadErr(path, lr.line, "time_ms", "want a time in ms in [0, 1e12], got %q", clip(fs[0]))
		}
		if tm < last {
			return nil, loadErr(path, lr.line, "time_ms", "times must not decrease (%g after %g)", tm, last)
		}
		last = tm
		a, okA := index[fs[1]]
		b, okB := index[fs[2]]
		if !okA {
			return nil, loadErr(path, lr.line, "sender", "unknown node %q", clip(fs[1]))
		}
		if !okB {
			return nil, loadErr(path, lr.line, "receiver", "unknown node %q", clip(fs[2]))
		}
		if a == b {
			return nil, loadErr(path, lr.line, "receiver", "sender and receiver are the same node")
		}
		amt, err := lr.uint(fs[3], "amount_msat", MaxCapacityMsat)
		if err != nil {
			return nil, err
		}
		if amt == 0 {
			return nil, loadErr(path, lr.line, "amount_msat", "zero amount")
		}
		if len(out) >= MaxPayments {
			return nil, loadErr(path, lr.line, "", "more than %d payments", MaxPayments)
		}
		out = append(out, Payment{Time: Time(math.Round(tm * 1000)), Sender: a, Receiver: b, Amount: amt, Flow: -1})
	}
	if lr.err != nil {
		return nil, lr.err
	}
	if len(out) == 0 {
		return nil, loadErr(path, 0, "", "no payments")
	}
	return out, nil
}
