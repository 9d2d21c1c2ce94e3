package routing

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestUniformModel(t *testing.T) {
	m := UniformModel{}
	tests := []struct {
		amount, capacity uint64
		b                Bounds
		want             float64
	}{
		{0, 100, Bounds{0, 100}, 1},
		{1, 100, Bounds{0, 100}, 100.0 / 101},
		{50, 100, Bounds{0, 100}, 51.0 / 101},
		{100, 100, Bounds{0, 100}, 1.0 / 101},
		{101, 100, Bounds{0, 100}, 0},
		{20, 100, Bounds{20, 60}, 1},         // known to carry 20
		{40, 100, Bounds{20, 60}, 21.0 / 41}, // (60+1−40)/(60+1−20)
		{60, 100, Bounds{20, 60}, 1.0 / 41},
		{61, 100, Bounds{20, 60}, 0},
		{50, 100, Bounds{0, 500}, 51.0 / 101}, // upper clamped to capacity
		{50, 100, Bounds{70, 60}, 51.0 / 101}, // contradiction: prior
	}
	for _, tt := range tests {
		if got := m.Probability(tt.amount, tt.capacity, tt.b); math.Abs(got-tt.want) > 1e-15 {
			t.Errorf("P(%d | c=%d, %+v) = %v, want %v", tt.amount, tt.capacity, tt.b, got, tt.want)
		}
	}
}

func TestBimodalModel(t *testing.T) {
	// Expected values computed by hand from the antiderivative
	// F(x) = −e^(−x/s) + e^((x−c)/s) + x/(c·s), P = (F(f)−F(a))/(F(f)−F(l)).
	m := NewBimodalModel(BimodalConfig{Scale: 1e5})
	tests := []struct {
		amount, capacity uint64
		b                Bounds
		want             float64
	}{
		{500_000, 1_000_000, Bounds{0, 1_000_000}, 0.5}, // symmetric density
		{100_000, 1_000_000, Bounds{0, 1_000_000}, 0.6838874447235288},
		{900_000, 1_000_000, Bounds{0, 1_000_000}, 0.31611255527647114},
		{500_000, 1_000_000, Bounds{200_000, 800_000}, 0.5000025123871215},
		{200_000, 1_000_000, Bounds{200_000, 800_000}, 1},
		{800_001, 1_000_000, Bounds{200_000, 800_000}, 0},
		{1_000_000, 1_000_000, Bounds{0, 1_000_000}, 0}, // a ≥ fail amount = capacity
		{5, 0, Bounds{}, 0},
	}
	for _, tt := range tests {
		if got := m.Probability(tt.amount, tt.capacity, tt.b); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("P(%d | c=%d, %+v) = %v, want %v", tt.amount, tt.capacity, tt.b, got, tt.want)
		}
	}
	// lnd's default scale on a 1M sat channel: still symmetric.
	if got := NewBimodalModel(BimodalConfig{}).Probability(5e8, 1e9, Bounds{0, 1e9}); math.Abs(got-0.5) > 1e-9 {
		t.Errorf("default scale: %v", got)
	}
	// Monotone non-increasing in the amount.
	prev := 1.0
	for a := uint64(0); a <= 1_000_000; a += 12_345 {
		p := m.Probability(a, 1_000_000, Bounds{0, 1_000_000})
		if p > prev+1e-12 || p < 0 || p > 1 {
			t.Fatalf("P(%d) = %v after %v", a, p, prev)
		}
		prev = p
	}
}

func TestMissionControlBoundsAndDecay(t *testing.T) {
	mc := NewMissionControl(MissionConfig{HalfLife: time.Hour})
	t0 := time.Unix(1_700_000_000, 0)
	r := Route{Hops: []Hop{
		{Channel: 1, From: "a", To: "b", Amount: 400},
		{Channel: 2, From: "c", To: "b", Amount: 200}, // direction 1
	}}
	mc.ReportFailure(r, 1, 200, t0)
	k1, k2 := EdgeKey{1, 0}, EdgeKey{2, 1}
	tests := []struct {
		k    EdgeKey
		at   time.Time
		want Bounds
	}{
		{k1, t0, Bounds{400, 1000}},                    // carried 400
		{k2, t0, Bounds{0, 199}},                       // failed at 200
		{EdgeKey{2, 0}, t0, Bounds{0, 1000}},           // other direction untouched
		{k1, t0.Add(time.Hour), Bounds{200, 1000}},     // half-life: 400 → 200
		{k2, t0.Add(time.Hour), Bounds{0, 600}},        // gap 801 → 400.5 → 1000−400
		{k2, t0.Add(2 * time.Hour), Bounds{0, 800}},    // gap 801 → 200.25 → 1000−200
		{k1, t0.Add(-time.Hour), Bounds{400, 1000}},    // clock going back: no decay
		{k2, t0.Add(100 * time.Hour), Bounds{0, 1000}}, // forgotten
	}
	for _, tt := range tests {
		if got := mc.Bounds(tt.k, 1000, tt.at); got != tt.want {
			t.Errorf("Bounds(%v, %v) = %+v, want %+v", tt.k, tt.at.Sub(t0), got, tt.want)
		}
	}
	// A later success above the old upper bound replaces it.
	mc.ReportSuccess(Route{Hops: []Hop{{Channel: 2, From: "c", To: "b", Amount: 300}}}, t0.Add(time.Minute))
	if got := mc.Bounds(k2, 1000, t0.Add(time.Minute)); got != (Bounds{300, 1000}) {
		t.Errorf("after contradicting success: %+v", got)
	}
	// A failure below the lower bound drops the lower bound.
	mc.ReportFailure(Route{Hops: []Hop{{Channel: 1, From: "a", To: "b", Amount: 100}}}, 0, 100, t0.Add(time.Minute))
	if got := mc.Bounds(k1, 1000, t0.Add(time.Minute)); got != (Bounds{0, 99}) {
		t.Errorf("after contradicting failure: %+v", got)
	}
	mc.ReportFailure(r, 5, 1, t0) // out of range: ignored
	// Export and import round trip.
	obs := mc.Observations()
	if len(obs) != 2 || obs[0].Channel != 1 || obs[1].Channel != 2 {
		t.Fatalf("observations %+v", obs)
	}
	mc2 := NewMissionControl(MissionConfig{HalfLife: time.Hour})
	mc2.Import(append(obs, Observation{Channel: 9}, Observation{Channel: 8, Direction: 3, LowerTime: t0}))
	if !slices.Equal(mc2.Observations(), obs) {
		t.Errorf("round trip:\n%+v\n%+v", mc2.Observations(), obs)
	}
	for _, k := range []EdgeKey{k1, k2} {
		at := t0.Add(90 * time.Minute)
		if mc.Bounds(k, 5000, at) != mc2.Bounds(k, 5000, at) {
			t.Errorf("imported bounds differ for %v", k)
		}
	}
	// Pruning: nothing is old at t0+1h; at t0+11h everything is.
	if n := mc.Prune(t0.Add(time.Hour)); n != 0 || mc.Len() != 2 {
		t.Errorf("early prune dropped %d, %d left", n, mc.Len())
	}
	if n := mc.Prune(t0.Add(11 * time.Hour)); n != 2 || mc.Len() != 0 {
		t.Errorf("late prune dropped %d, %d left", n, mc.Len())
	}
	var nilMC *MissionControl
	if nilMC.Len() != 0 || nilMC.Bounds(k1, 7, t0) != (Bounds{0, 7}) {
		t.Error("nil mission control should know nothing")
	}
}

// TestBimodalFastPrior checks the cached-terms fast path against
// Probability.
func TestBimodalFastPrior(t *testing.T) {
	for _, scale := range []float64{1e5, 3e8} {
		m := NewBimodalModel(BimodalConfig{Scale: scale})
		for _, c := range []uint64{1, 1000, 99_999, 1_000_000, 500_000_000, 5_000_000_000, 1 << 50} {
			for _, a := range []uint64{0, 1, 999, 50_000, 123_456_789, c / 3, c - 1, c, c + 1} {
				tm := m.terms(a)
				got, want := m.prior(&tm, a, c), m.Probability(a, c, Bounds{0, c})
				if math.Abs(got-want) > 1e-9*max(1, want) {
					t.Errorf("s=%g c=%d a=%d: fast %v, slow %v", scale, c, a, got, want)
				}
			}
		}
	}
}
