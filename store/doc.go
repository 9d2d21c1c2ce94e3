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
//	chan/ID/r/INDEX        a channel's durable log: one record, or the records
//	                       of one round grouped (channels.go)
//	chan/ID/c/SEQ          a co-signed checkpoint kept after compaction
//	peer/PEERID/addrs      last known addresses of a channel peer (peers.go)
//	pre/HASH               a preimage learnt from a peer for an HTLC of this
//	                       node's own payments, 7-day TTL, deleted once the
//	                       payment record holds it (forwards.go)
//	fwd/CHANNEL HTLCID     an open forwarding circuit (forwards.go)
//	fwdlog/MS CHANNEL ID   a settled or failed forward
//	pay/HASH               a payment this node makes (payments.go)
//	inv/HASH               an invoice this node issued (invoices.go)
//	invt/MS HASH           the invoices' creation-time index (empty value)
//	mc/observations        the payer's mission control (mission.go)
//
// Each namespace is documented in full beside the code that owns it.
package store
