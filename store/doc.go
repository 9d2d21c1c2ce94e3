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
//
// Later issues add their namespaces here (channels, state log, HTLCs,
// payments, invoices, graph); each is documented beside the code that owns
// it.
package store
