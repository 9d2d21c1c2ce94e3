// Package routing is paymesh's one pathfinding library, shared by the node
// and the simulator: a compact channel graph, success-probability models,
// mission control, single-route search and multi-part splitting. It is pure:
// no I/O beyond the io.Reader/io.Writer the loaders are handed, no
// goroutines, and time is always passed in.
//
// # Graph
//
// A Graph holds channels (ChannelInfo: two ends ordered by NodeID bytes,
// capacity, one Policy per direction). Writers call Graph.Update with a
// function that edits a Tx; the commit publishes an immutable Snapshot.
// Readers call Graph.Snapshot, which never blocks, and may search a snapshot
// for as long as they like while gossip keeps updating the graph: storage
// is chunked and a commit copies only the chunks it touches
// (read-copy-update). Nodes and channels are dense uint32 indices inside;
// a directed edge costs under 100 bytes (see BenchmarkGraphMemory).
//
// Units: amounts are uint64 in the smallest unit (msat for Lightning
// data); fees are FeeBase + floor(amount·FeePPM/1e6); time locks are
// milliseconds, and Lightning block delays are converted at MsPerBlock =
// 600,000 ms per block.
//
// # Loading snapshots
//
// LoadLND reads `lncli describegraph` JSON, LoadCLN reads Core Lightning
// `listchannels` JSON (modern and pre-2023 forms), LoadExport reads the
// project's own export format (WriteExport, EXPORT.md), and Load picks one
// by the first key. All stream the big arrays with bounded memory (per
// element and total caps), accept gzip, and return a LoadReport of what was
// skipped and why (with array index and line); a malformed file is an error
// naming the field and line.
//
// # Strategies
//
// A Strategy turns an Input (snapshot, Request, MissionControl, now, and
// optionally the payer's own channel balances) into one or more Routes. Built-ins: "shortest" (hops), "cheapest" (fees),
// "probabilistic" (fee + time-lock risk + AttemptCost·−ln P), "mpp"
// (Pickhardt–Richter min-cost flow split) and "oracle" (true balances from a
// LiquidityOracle; only a simulator has one). NewStrategy builds one by
// name; a researcher adds another by implementing Strategy and calling
// Register once.
//
// Single-path strategies run Dijkstra from the payee back to the payer, so
// each hop's amount is known when the hop before it is priced: amounts and
// time locks compound backwards exactly as each hop's policy says
// (BuildRoute does the same for a given path). Searches reuse per-graph
// scratch space through a sync.Pool and allocate nothing proportional to
// the graph per query. "probabilistic" with the bimodal model is an A*
// search: every hop priced by the prior costs at least a bound that depends
// only on the amount (BimodalModel.hopBound), so a node k channels from the
// payer (k = 0, 1, 2 or more, from a two-level breadth-first scan; channels
// with a known success bound count as 0) is at least k such hops away. The
// potential is consistent, so routes cost exactly what plain Dijkstra's
// cost; only equal-cost ties may resolve differently. These searches also
// skip relaxations that cannot beat the payer's tentative key, and dead
// ends (a node whose every channel leads to the node being settled). From
// its second search on, a snapshot keeps every node's incoming directions
// in one array (24 bytes per directed edge: HTLC limits are kept as a range
// of amounts they certainly admit, checked against the edge record outside
// it, and capacities are read from the snapshot when needed) that searches
// read sequentially.
//
// Loaders stream their input with bounded memory. LoadCLN reads a seekable
// input of the usual shape with a direct scan, and anything else (or
// anything the scan would not load cleanly) with encoding/json, from where
// it started, so errors and reports never depend on which path ran.
//
// # Probability and mission control
//
// A ProbabilityModel gives P(liquidity ≥ amount) for a channel direction
// given known bounds: UniformModel (Pickhardt–Richter, (c+1−a)/(c+1)) or
// BimodalModel (lnd's bimodal prior). MissionControl learns those bounds
// from ReportSuccess and ReportFailure, lets them decay toward the prior
// with a half-life, and exports and imports them as plain Observations for
// the node to persist.
package routing
