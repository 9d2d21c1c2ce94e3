package routing_test

import (
	"fmt"
	"sync"

	"github.com/paymesh/paymesh/routing"
)

func exampleGraph() *routing.Graph {
	g := routing.NewGraph()
	policy := func(base uint64, ppm uint32) *routing.Policy {
		return &routing.Policy{FeeBase: base, FeePPM: ppm, ExpiryDelta: 40 * routing.MsPerBlock, HTLCMin: 1}
	}
	_ = g.Update(func(tx *routing.Tx) error {
		for _, c := range []routing.ChannelInfo{
			{ID: 1, Node1: "alice", Node2: "bob", Capacity: 5_000_000, Policy: [2]*routing.Policy{policy(0, 0), policy(0, 0)}},
			{ID: 2, Node1: "bob", Node2: "carol", Capacity: 5_000_000, Policy: [2]*routing.Policy{policy(1000, 100), policy(1000, 100)}},
		} {
			if err := tx.UpsertChannel(c); err != nil {
				return err
			}
		}
		return nil
	})
	return g
}

func ExampleNewStrategy() {
	g := exampleGraph()
	st, err := routing.NewStrategy(routing.StrategyProbabilistic, routing.Config{})
	if err != nil {
		panic(err)
	}
	routes, err := st.FindRoutes(routing.Input{
		Graph:   g.Snapshot(),
		Request: routing.Request{Source: "alice", Target: "carol", Amount: 1_000_000, FinalExpiryDelta: 18 * routing.MsPerBlock},
	})
	if err != nil {
		panic(err)
	}
	r := routes[0]
	for _, h := range r.Hops {
		fmt.Printf("%s→%s over %v: amount %d, fee %d, expiry %d ms\n", h.From, h.To, h.Channel, h.Amount, h.Fee, h.Expiry)
	}
	fmt.Printf("send %d, fee %d, time lock %d ms\n", r.Amount, r.Fee, r.TimeLock)
	// Output:
	// alice→bob over 0x0x1: amount 1001100, fee 0, expiry 34800000 ms
	// bob→carol over 0x0x2: amount 1000000, fee 1100, expiry 10800000 ms
	// send 1001100, fee 1100, time lock 34800000 ms
}

// hopCapped is a researcher's strategy: cheapest, but never more than three
// hops.
type hopCapped struct{ inner routing.Strategy }

func (s hopCapped) Name() string { return "cheapest-3hops-example" }

func (s hopCapped) FindRoutes(in routing.Input) ([]routing.Route, error) {
	if in.Request.MaxHops == 0 || in.Request.MaxHops > 3 {
		in.Request.MaxHops = 3
	}
	return s.inner.FindRoutes(in)
}

var registerOnce sync.Once // examples may run more than once (-count)

func ExampleRegister() {
	// One interface (Name, FindRoutes) and one call, typically from init.
	registerOnce.Do(func() {
		err := routing.Register("cheapest-3hops-example", func(cfg routing.Config) (routing.Strategy, error) {
			inner, err := routing.NewStrategy(routing.StrategyCheapest, cfg)
			return hopCapped{inner}, err
		})
		if err != nil {
			panic(err)
		}
	})
	st, _ := routing.NewStrategy("cheapest-3hops-example", routing.Config{})
	routes, err := st.FindRoutes(routing.Input{Graph: exampleGraph().Snapshot(), Request: routing.Request{Source: "alice", Target: "carol", Amount: 5000}})
	fmt.Println(st.Name(), len(routes[0].Hops), err)
	// Output: cheapest-3hops-example 2 <nil>
}
