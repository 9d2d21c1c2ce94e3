package sim

import (
	"errors"
	"reflect"
	"testing"

	"go.uber.org/goleak"
)

// TestSpeculationWorkers: speculative first routes (Engine.Workers > 1)
// give exactly the results of the serial engine, for every strategy, while
// actually being used and actually being invalidated (a high arrival rate
// on a small graph makes payers' mission control and channels change
// between a batch and the arrivals it covers).
func TestSpeculationWorkers(t *testing.T) {
	sc, base, g, pays := smallRun(t, Override{"runs", "1"}, Override{"workload.payments", "300"},
		Override{"workload.rate", "40.0"}, Override{"workload.senders", `"zipf"`})
	for _, tc := range []struct {
		label string
		pure  bool
	}{
		{"probabilistic", true}, {"lnd-v0.10", true}, {"mpp", true}, {"cheapest", true}, {"oracle", false},
	} {
		t.Run(tc.label, func(t *testing.T) {
			run := func(workers int) ([]PaymentResult, []Sample, specState) {
				e, err := NewEngine(sc.Engine, base, g, builder(sc, tc.label), pays, seedStream(1, tc.label))
				if err != nil {
					t.Fatal(err)
				}
				e.Workers = workers
				e.AfterEvent = func(e *Engine) error { return e.CheckConservation() }
				res, series, err := e.Run()
				if err != nil {
					t.Fatal(err)
				}
				return res, series, e.spec
			}
			want, wantSeries, serial := run(1)
			if serial.on {
				t.Fatal("speculation on with one worker")
			}
			for _, w := range []int{2, 5} {
				got, gotSeries, st := run(w)
				if st.on != tc.pure {
					t.Fatalf("%d workers: speculation on = %v, want %v", w, st.on, tc.pure)
				}
				if tc.pure && (st.hits == 0 || st.stale == 0 || st.batches < 2) {
					t.Fatalf("%d workers: %d hits, %d stale, %d batches: speculation not exercised", w, st.hits, st.stale, st.batches)
				}
				for i := range want {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("%d workers: payment %d: got %+v, want %+v", w, i, got[i], want[i])
					}
				}
				if !reflect.DeepEqual(gotSeries, wantSeries) {
					t.Fatalf("%d workers: time series differ", w)
				}
			}
		})
	}
}

// TestSpeculationStops: a run that ends early (an AfterEvent error, a
// cancellation) while searches are still queued stops the speculation
// goroutines before Run returns.
func TestSpeculationStops(t *testing.T) {
	sc, base, g, pays := smallRun(t, Override{"runs", "1"}, Override{"workload.payments", "300"},
		Override{"workload.rate", "40.0"})
	errStop := errors.New("stop")
	for _, tc := range []struct {
		label string
		setup func(e *Engine)
		want  error
	}{
		{"after-event", func(e *Engine) {
			n := 0
			e.AfterEvent = func(*Engine) error {
				if n++; n == 50 {
					return errStop
				}
				return nil
			}
		}, errStop},
		{"cancel", func(e *Engine) {
			c := make(chan struct{})
			n := 0
			e.AfterEvent = func(*Engine) error {
				if n++; n == 2000 {
					close(c)
				}
				return nil
			}
			e.Cancel = c
		}, ErrCanceled},
	} {
		t.Run(tc.label, func(t *testing.T) {
			e, err := NewEngine(sc.Engine, base, g, builder(sc, "probabilistic"), pays, seedStream(1, "probabilistic"))
			if err != nil {
				t.Fatal(err)
			}
			e.Workers = 3
			tc.setup(e)
			if _, _, err := e.Run(); !errors.Is(err, tc.want) {
				t.Fatalf("Run: %v, want %v", err, tc.want)
			}
			if !e.spec.on || e.spec.batches == 0 {
				t.Fatalf("speculation on = %v after %d chunks: not exercised", e.spec.on, e.spec.batches)
			}
			if e.spec.pool != nil {
				t.Fatal("speculation pool not stopped")
			}
			goleak.VerifyNone(t)
		})
	}
}
