// Package routing is paymesh's one pathfinding library, shared by the node
// and the simulator: a compact channel graph, success-probability models,
// mission control, single-route search and multi-part splitting. It is pure:
// no I/O, and time is always passed in.
package routing
