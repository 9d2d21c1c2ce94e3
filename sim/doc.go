// Package sim is paymesh's discrete-event payment-network simulator.
//
// A simulation has four ingredients, each replaceable:
//
//   - a Topology: nodes and channels with per-direction fee policies, either
//     generated (Barabási–Albert, Watts–Strogatz, Erdős–Rényi, grid) or loaded
//     from real snapshots (CLoTH's CSV triple, Spider's NetworkX edge lists,
//     and, through package routing, lnd describegraph and Core Lightning
//     listchannels dumps);
//   - balances: how each channel's capacity is split between its two ends
//     (even, uniform at random, or as given by the file);
//   - a Workload: the payments to make, generated once per seed so that every
//     strategy sees exactly the same payments;
//   - one or more routing strategies. Pathfinding is never re-implemented
//     here: every strategy is package routing code, and the payer learns from
//     failures through routing's mission control.
//
// The Engine advances simulated time through a heap of events: an HTLC
// arriving at a hop, a failure or a preimage travelling back, a payment
// arriving at its sender. Every hop adds a latency drawn from the latency
// model; channels lock the forwarded amount in the forwarding direction, then
// either settle it to the other side or release it. The invariant
//
//	balance[0] + balance[1] + locked = capacity
//
// holds for every channel after every event (see TestConservation).
//
// Determinism: a run is a pure function of the scenario and its seed. Each
// (strategy, run) pair's events are processed by one goroutine with random
// streams derived from (seed, strategy, run); Run may spread pairs over
// several goroutines, but the outputs are assembled in a fixed order, so
// one seed yields byte-identical outputs with one worker or many. Spare
// workers compute payments' first routes ahead of their arrival
// (speculate.go); a speculative route is used only when every input of its
// search is unchanged at the arrival, so it is the route the arrival would
// have computed.
//
// Scenario files (TOML) describe all of this; LoadScenario parses them with
// strict validation, Run executes them and WriteOutputs writes summary.json,
// payments.csv, timeseries.csv, plots and report.md. Package sim/simcli wraps
// it all in cobra commands. See docs/simulator.md for the scenario reference and
// worked examples.
package sim
