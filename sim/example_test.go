package sim_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/paymesh/paymesh/routing"
	"github.com/paymesh/paymesh/sim"
)

// shortHops is a research strategy: routing's cheapest search, but never
// more than three hops. A strategy is one small interface (Name,
// FindRoutes) registered once with routing.Register.
type shortHops struct{ inner routing.Strategy }

func (s shortHops) Name() string { return "cheapest-3hops" }

func (s shortHops) FindRoutes(in routing.Input) ([]routing.Route, error) {
	in.Request.MaxHops = 3
	return s.inner.FindRoutes(in)
}

// ring is a workload generator: node i pays node i+1, round and round.
type ring struct{ amount uint64 }

func (w ring) Payments(env sim.WorkloadEnv) ([]sim.Payment, error) {
	n := int32(len(env.Topology.Nodes))
	var out []sim.Payment
	for i := int32(0); i < 3*n; i++ {
		out = append(out, sim.Payment{Time: sim.Time(i) * sim.Second, Sender: i % n, Receiver: (i + 1) % n, Amount: w.amount, Flow: -1})
	}
	return out, nil
}

func init() {
	if err := routing.Register("cheapest-3hops", func(cfg routing.Config) (routing.Strategy, error) {
		inner, err := routing.NewStrategy(routing.StrategyCheapest, cfg)
		return shortHops{inner}, err
	}); err != nil {
		panic(err)
	}
	if err := sim.RegisterWorkload("ring", func(spec sim.WorkloadSpec) (sim.Workload, error) {
		amt, _ := spec.Params["amount_msat"].(int64)
		if amt <= 0 {
			return nil, fmt.Errorf("workload.amount_msat: must be > 0")
		}
		return ring{amount: uint64(amt)}, nil
	}); err != nil {
		panic(err)
	}
}

// Example shows a custom strategy and a custom workload used from a
// scenario.
func Example() {
	scenario := `
strategies = ["cheapest-3hops", "shortest"]
[topology]
source = "generate"
[topology.generate]
model = "ws"
nodes = 12
k = 4
beta = 0.2
capacity = { kind = "constant", value = 1_000_000 }
[balances]
init = "even"
[workload]
kind = "ring"
amount_msat = 200_000
[output]
plots = false
`
	sc, err := sim.ParseScenario("example.toml", []byte(scenario))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := sim.Run(context.Background(), sc, sim.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range res.Strategies {
		fmt.Printf("%s: %d/%d payments\n", s.Label, s.Runs[0].Succeeded, s.Runs[0].Payments)
	}
	// Output:
	// cheapest-3hops: 35/36 payments
	// shortest: 36/36 payments
}

// ExampleGenerate builds a Barabási–Albert topology and inspects it.
func ExampleGenerate() {
	t, err := sim.Generate(sim.GeneratorConfig{Model: "ba", Nodes: 1000, M: 2,
		Capacity: sim.Dist{Kind: "lognormal", Mean: 5e8, Sigma: 1}}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		fmt.Println(err)
		return
	}
	st := sim.Inspect(t)
	fmt.Println(st.Nodes, st.Channels, st.Components)
	// Output: 1000 1997 1
}
