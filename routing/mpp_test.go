package routing

import (
	"errors"
	"testing"
	"time"
)

func TestMPPSplits(t *testing.T) {
	free := pol(0, 0, 0)
	g := buildGraph(t, []testChan{
		{1, "A", "B", 6_000_000, free, free},
		{2, "B", "D", 6_000_000, pol(0, 100, 0), free},
		{3, "A", "C", 6_000_000, free, free},
		{4, "C", "D", 6_000_000, pol(0, 200, 0), free},
	})
	st, err := NewStrategy(StrategyMPP, Config{Model: UniformModel{}, MaxParts: 4})
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Source: "A", Target: "D", Amount: 8_000_000}
	routes, err := st.FindRoutes(Input{Graph: g.Snapshot(), Request: req})
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 2 {
		t.Fatalf("want 2 parts, got %d: %+v", len(routes), routes)
	}
	var sum uint64
	for _, r := range routes {
		sum += r.Delivered()
		if r.Delivered() > 6_000_000 || r.Amount > 6_000_000 {
			t.Errorf("part exceeds capacity: %+v", r)
		}
	}
	if sum != req.Amount {
		t.Errorf("parts deliver %d", sum)
	}
	// Uniform −ln P is symmetric and convex: the optimum splits nearly
	// evenly, a little more through the cheaper B.
	if d := routes[0].Delivered(); d < 3_500_000 || d > 4_500_000 {
		t.Errorf("uneven split %d / %d", routes[0].Delivered(), routes[1].Delivered())
	}
	// With MaxParts 1 the payment cannot fit.
	one, _ := NewStrategy(StrategyMPP, Config{Model: UniformModel{}, MaxParts: 1})
	if _, err := one.FindRoutes(Input{Graph: g.Snapshot(), Request: req}); !errors.Is(err, ErrNoRoute) {
		t.Errorf("one part: %v", err)
	}
	// More than the total capacity fails.
	req.Amount = 13_000_000
	if _, err := st.FindRoutes(Input{Graph: g.Snapshot(), Request: req}); !errors.Is(err, ErrNoRoute) {
		t.Errorf("too much: %v", err)
	}
	// A small amount takes one part.
	req.Amount = 50_000
	routes, err = st.FindRoutes(Input{Graph: g.Snapshot(), Request: req})
	if err != nil || len(routes) != 1 || routes[0].Delivered() != 50_000 {
		t.Errorf("small: %+v %v", routes, err)
	}
}

func TestMPPOnGeneratedGraph(t *testing.T) {
	g, err := GenerateScaleFree(GenConfig{Nodes: 2000, Channels: 10000, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := NewStrategy(StrategyMPP, Config{})
	ok := 0
	for i := range 20 {
		req := Request{Source: GenNodeID(i * 37 % 2000), Target: GenNodeID((i*91 + 5) % 2000), Amount: 200_000_000}
		if req.Source == req.Target {
			continue
		}
		routes, err := st.FindRoutes(Input{Graph: g.Snapshot(), Request: req})
		if err != nil {
			t.Logf("query %d: %v", i, err)
			continue
		}
		ok++
		var sum uint64
		for _, r := range routes {
			sum += r.Delivered()
			if _, err := BuildRoute(g.Snapshot(), req.Source, channels(r), r.Delivered(), 0); err != nil {
				t.Errorf("part not rebuildable: %v", err)
			}
		}
		if sum != req.Amount || len(routes) > 16 {
			t.Errorf("query %d: %d parts deliver %d", i, len(routes), sum)
		}
	}
	if ok < 15 {
		t.Errorf("only %d of 20 payments split", ok)
	}
}

func TestMPPRespectsMissionControl(t *testing.T) {
	free := pol(0, 0, 0)
	g := buildGraph(t, []testChan{
		{1, "A", "B", 10_000_000, free, free},
		{2, "B", "D", 10_000_000, free, free},
		{3, "A", "C", 10_000_000, free, free},
		{4, "C", "D", 10_000_000, pol(0, 5000, 0), free},
	})
	now := time.Unix(1_700_000_000, 0)
	mc := NewMissionControl(MissionConfig{})
	// B→D failed to carry 2,000,000 a moment ago.
	mc.ReportFailure(Route{Hops: []Hop{{Channel: 1, From: "A", To: "B", Amount: 2_000_000}, {Channel: 2, From: "B", To: "D", Amount: 2_000_000}}}, 1, 2_000_000, now)
	st, _ := NewStrategy(StrategyMPP, Config{Model: UniformModel{}})
	routes, err := st.FindRoutes(Input{Graph: g.Snapshot(), Request: Request{Source: "A", Target: "D", Amount: 6_000_000}, Mission: mc, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var viaB, total uint64
	for _, r := range routes {
		total += r.Delivered()
		for _, h := range r.Hops {
			if h.Channel == 2 {
				viaB += h.Amount
			}
		}
	}
	if total != 6_000_000 || viaB == 0 || viaB > 1_999_999 {
		t.Errorf("via B %d (known upper bound 1,999,999), total %d: %+v", viaB, total, routes)
	}
	// Cut check: the payee cannot receive 25,000,000.
	_, err = st.FindRoutes(Input{Graph: g.Snapshot(), Request: Request{Source: "A", Target: "D", Amount: 25_000_000}, Now: now})
	if !errors.Is(err, ErrNoRoute) {
		t.Errorf("over capacity: %v", err)
	}
}
