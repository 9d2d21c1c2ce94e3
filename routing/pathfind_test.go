package routing

import (
	"errors"
	"slices"
	"testing"
	"time"
)

type testChan struct {
	id       ChannelID
	from, to NodeID
	capacity uint64
	fwd      *Policy // policy of from→to
	back     *Policy // policy of to→from
}

func buildGraph(t testing.TB, chans []testChan) *Graph {
	t.Helper()
	g := NewGraph()
	err := g.Update(func(tx *Tx) error {
		for _, c := range chans {
			if err := tx.UpsertChannel(ChannelInfo{ID: c.id, Node1: c.from, Node2: c.to, Capacity: c.capacity, Policy: [2]*Policy{c.fwd, c.back}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func channels(r Route) []ChannelID {
	var out []ChannelID
	for _, h := range r.Hops {
		out = append(out, h.Channel)
	}
	return out
}

func TestRouteAmountsCompoundBackwards(t *testing.T) {
	g := buildGraph(t, []testChan{
		{1, "A", "B", 1_000_000, pol(0, 0, 0), pol(0, 0, 0)},
		{2, "B", "C", 1_000_000, pol(1000, 1000, 100), pol(0, 0, 0)},
		{3, "C", "D", 1_000_000, pol(10, 100_000, 50), pol(0, 0, 0)},
	})
	st, err := NewStrategy(StrategyCheapest, Config{})
	if err != nil {
		t.Fatal(err)
	}
	routes, err := st.FindRoutes(Input{Graph: g.Snapshot(), Request: Request{Source: "A", Target: "D", Amount: 100_000, FinalExpiryDelta: 20}})
	if err != nil {
		t.Fatal(err)
	}
	// Hand-computed: C charges 10 + 100000·10% = 10010 and adds 50 ms;
	// B charges 1000 + floor(110010·0.1%) = 1110 and adds 100 ms.
	want := Route{
		Hops: []Hop{
			{Channel: 1, From: "A", To: "B", Amount: 111_120, Fee: 0, Delta: 0, Expiry: 170},
			{Channel: 2, From: "B", To: "C", Amount: 110_010, Fee: 1110, Delta: 100, Expiry: 70},
			{Channel: 3, From: "C", To: "D", Amount: 100_000, Fee: 10_010, Delta: 50, Expiry: 20},
		},
		Amount: 111_120, Fee: 11_120, TimeLock: 170, Probability: 1,
	}
	got := routes[0]
	if !slices.Equal(got.Hops, want.Hops) || got.Amount != want.Amount || got.Fee != want.Fee || got.TimeLock != want.TimeLock {
		t.Errorf("route:\n got %+v\nwant %+v", got, want)
	}
	// BuildRoute over the same channels gives the same route.
	br, err := BuildRoute(g.Snapshot(), "A", []ChannelID{1, 2, 3}, 100_000, 20)
	if err != nil || !slices.Equal(br.Hops, want.Hops) {
		t.Errorf("BuildRoute = %+v, %v", br, err)
	}
	if _, err := BuildRoute(g.Snapshot(), "A", []ChannelID{1, 3}, 100_000, 20); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("BuildRoute over disconnected channels: %v", err)
	}
}

func TestStrategiesChooseDifferently(t *testing.T) {
	// A–B–D is short but B charges 50,000; A–C–E–D is free but longer;
	// A–F–D is short and cheap but F→D has tiny capacity relative to the
	// amount (low success probability).
	free := pol(0, 0, 0)
	g := buildGraph(t, []testChan{
		{1, "A", "B", 10_000_000, free, free},
		{2, "B", "D", 10_000_000, pol(50_000, 0, 0), free},
		{3, "A", "C", 10_000_000, free, free},
		{4, "C", "E", 10_000_000, free, free},
		{5, "E", "D", 10_000_000, pol(1, 0, 0), free},
	})
	req := Request{Source: "A", Target: "D", Amount: 1_000_000}
	for _, tt := range []struct {
		name string
		want []ChannelID
	}{
		{StrategyShortest, []ChannelID{1, 2}},
		{StrategyCheapest, []ChannelID{3, 4, 5}},
	} {
		st, _ := NewStrategy(tt.name, Config{})
		routes, err := st.FindRoutes(Input{Graph: g.Snapshot(), Request: req})
		if err != nil || !slices.Equal(channels(routes[0]), tt.want) {
			t.Errorf("%s: %v %v, want %v", tt.name, routes, err, tt.want)
		}
	}
	// Limits: MaxHops 2 forces the expensive path; MaxFee 10 then fails.
	st, _ := NewStrategy(StrategyCheapest, Config{})
	r2 := req
	r2.MaxHops = 2
	if routes, err := st.FindRoutes(Input{Graph: g.Snapshot(), Request: r2}); err != nil || !slices.Equal(channels(routes[0]), []ChannelID{1, 2}) {
		t.Errorf("MaxHops 2: %v %v", routes, err)
	}
	r2.MaxFee = 10
	if _, err := st.FindRoutes(Input{Graph: g.Snapshot(), Request: r2}); !errors.Is(err, ErrNoRoute) {
		t.Errorf("MaxFee 10 with MaxHops 2: %v, want ErrNoRoute", err)
	}
	// Exclusions.
	r3 := req
	r3.ExcludeNodes = []NodeID{"E"}
	if routes, err := st.FindRoutes(Input{Graph: g.Snapshot(), Request: r3}); err != nil || !slices.Equal(channels(routes[0]), []ChannelID{1, 2}) {
		t.Errorf("exclude E: %v %v", routes, err)
	}
	r3.ExcludeChannels = []ChannelID{2}
	if _, err := st.FindRoutes(Input{Graph: g.Snapshot(), Request: r3}); !errors.Is(err, ErrNoRoute) {
		t.Errorf("exclude E and channel 2: %v", err)
	}
	// Request validation.
	for _, bad := range []Request{
		{Source: "A", Target: "A", Amount: 1},
		{Source: "A", Target: "D"},
	} {
		if _, err := st.FindRoutes(Input{Graph: g.Snapshot(), Request: bad}); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if _, err := st.FindRoutes(Input{Graph: g.Snapshot(), Request: Request{Source: "A", Target: "Z", Amount: 1}}); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("unknown target: %v", err)
	}
}

func TestProbabilisticLearnsFromFailure(t *testing.T) {
	free := pol(0, 0, 0)
	// Two equal two-hop paths; the one through B is slightly cheaper.
	g := buildGraph(t, []testChan{
		{1, "A", "B", 10_000_000, free, free},
		{2, "B", "D", 10_000_000, pol(10, 0, 0), free},
		{3, "A", "C", 10_000_000, free, free},
		{4, "C", "D", 10_000_000, pol(20, 0, 0), free},
	})
	st, _ := NewStrategy(StrategyProbabilistic, Config{Model: UniformModel{}})
	mc := NewMissionControl(MissionConfig{HalfLife: time.Hour})
	now := time.Unix(1_700_000_000, 0)
	in := Input{Graph: g.Snapshot(), Request: Request{Source: "A", Target: "D", Amount: 5_000_000}, Mission: mc, Now: now}
	routes, err := st.FindRoutes(in)
	if err != nil || !slices.Equal(channels(routes[0]), []ChannelID{1, 2}) {
		t.Fatalf("first: %v %v", routes, err)
	}
	// Uniform prior, (c+1−a)/(c+1) per hop; the first hop carries B's fee
	// of 10 too.
	p0 := float64(10_000_001-5_000_010) / 10_000_001
	p1 := float64(10_000_001-5_000_000) / 10_000_001
	if got := routes[0].Probability; !near(got, p0*p1) {
		t.Errorf("route probability %v, want %v", got, p0*p1)
	}
	mc.ReportFailure(routes[0], 1, routes[0].Hops[1].Amount, now)
	routes, err = st.FindRoutes(in)
	if err != nil || !slices.Equal(channels(routes[0]), []ChannelID{3, 4}) {
		t.Fatalf("after failure: %v %v", routes, err)
	}
	// Ten half-lives later the failure is mostly forgotten.
	in.Now = now.Add(10 * time.Hour)
	routes, err = st.FindRoutes(in)
	if err != nil || !slices.Equal(channels(routes[0]), []ChannelID{1, 2}) {
		t.Fatalf("after decay: %v %v", routes, err)
	}
}

type mapOracle map[EdgeKey]uint64

func (m mapOracle) Liquidity(ch ChannelID, d Direction) uint64 { return m[EdgeKey{ch, d}] }

func TestOracleUsesTrueBalances(t *testing.T) {
	free := pol(0, 0, 0)
	g := buildGraph(t, []testChan{
		{1, "A", "B", 10_000_000, free, free},
		{2, "B", "D", 10_000_000, free, free},
		{3, "A", "C", 10_000_000, free, free},
		{4, "C", "D", 10_000_000, pol(1000, 0, 0), free},
	})
	if _, err := NewStrategy(StrategyOracle, Config{}); !errors.Is(err, ErrNoOracle) {
		t.Errorf("oracle without oracle: %v", err)
	}
	o := mapOracle{{1, 0}: 10_000_000, {2, 0}: 100, {3, 0}: 10_000_000, {4, 0}: 10_000_000}
	st, err := NewStrategy(StrategyOracle, Config{Oracle: o})
	if err != nil {
		t.Fatal(err)
	}
	routes, err := st.FindRoutes(Input{Graph: g.Snapshot(), Request: Request{Source: "A", Target: "D", Amount: 1000}})
	if err != nil || !slices.Equal(channels(routes[0]), []ChannelID{3, 4}) {
		t.Errorf("oracle: %v %v", routes, err)
	}
}

func TestRegistry(t *testing.T) {
	want := []string{"cheapest", "mpp", "oracle", "probabilistic", "shortest"}
	got := Strategies()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("Strategies() = %v, missing %q", got, w)
		}
	}
	if _, err := NewStrategy("nope", Config{}); !errors.Is(err, ErrUnknownStrategy) {
		t.Errorf("unknown: %v", err)
	}
	if err := Register("shortest", func(Config) (Strategy, error) { return nil, nil }); err == nil {
		t.Error("duplicate registration accepted")
	}
	if !slices.Contains(Strategies(), "test-reverse-cheapest") { // -count > 1
		if err := Register("test-reverse-cheapest", func(c Config) (Strategy, error) {
			return newSinglePath("test-reverse-cheapest", costFee, c), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := NewStrategy("test-reverse-cheapest", Config{}); err != nil || s.Name() != "test-reverse-cheapest" {
		t.Errorf("registered strategy: %v %v", s, err)
	}
	if _, err := NewStrategy("cheapest", Config{MaxParts: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad config: %v", err)
	}
}

func near(a, b float64) bool {
	d := a - b
	return d < 1e-12 && d > -1e-12
}

func TestLocalBalances(t *testing.T) {
	free := pol(0, 0, 0)
	g := buildGraph(t, []testChan{
		{1, "A", "B", 10_000_000, free, free},
		{2, "B", "D", 10_000_000, free, free},
		{3, "A", "C", 10_000_000, free, free},
		{4, "C", "D", 10_000_000, pol(500, 0, 0), free},
	})
	// A has only 1,000 left on channel 1 (direction 0: A→B).
	local := mapOracle{{1, 0}: 1_000, {3, 0}: 10_000_000}
	req := Request{Source: "A", Target: "D", Amount: 50_000}
	for _, name := range []string{StrategyCheapest, StrategyProbabilistic} {
		st, _ := NewStrategy(name, Config{})
		routes, err := st.FindRoutes(Input{Graph: g.Snapshot(), Request: req})
		if err != nil || !slices.Equal(channels(routes[0]), []ChannelID{1, 2}) {
			t.Errorf("%s without local balances: %v %v", name, routes, err)
		}
		routes, err = st.FindRoutes(Input{Graph: g.Snapshot(), Request: req, Local: local})
		if err != nil || !slices.Equal(channels(routes[0]), []ChannelID{3, 4}) {
			t.Errorf("%s with local balances: %v %v", name, routes, err)
		}
	}
	// The known first hop counts as certain.
	st, _ := NewStrategy(StrategyProbabilistic, Config{Model: UniformModel{}})
	routes, _ := st.FindRoutes(Input{Graph: g.Snapshot(), Request: req, Local: local})
	want := float64(10_000_001-50_000) / 10_000_001
	if !near(routes[0].Probability, want) {
		t.Errorf("probability %v, want %v (first hop certain)", routes[0].Probability, want)
	}
}
