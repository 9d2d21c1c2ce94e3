// Package store is paymesh's persistence on Badger: the database handle
// sized for a small machine, the on-disk schema version, value-log garbage
// collection, and the key layout of every record the node keeps.
//
// # Key layout
//
// Every key starts with a one-word namespace and a slash, so that a prefix
// scan never crosses namespaces:
//
//	meta/schema            uint32 big-endian: the on-disk schema version
//	graph/c/SHORT          channel announcement: SHORT is the uint64 big-endian
//	                       short channel id; value = arrival (int64 BE unix ms)
//	                       then the gossip envelope (graph.go)
//	graph/u/SHORT DIR      channel update of direction DIR (one byte, 0 or 1);
//	                       value = timestamp (int64 BE unix ms) then envelope
//	graph/x/SHORT          channel-closed notice; value = timestamp then envelope
//	graph/n/PEERID         node announcement (raw peer id bytes); value =
//	                       timestamp then envelope
//
// Later issues add their namespaces here (channels, state log, HTLCs,
// payments, invoices, graph); each is documented beside the code that owns
// it.
package store
