// Package channel is the pure state machine of one bilateral payment
// channel: co-signed states, batched HTLC updates from both sides, limits,
// expiry and cooperative close. It performs no I/O, starts no goroutines and
// never reads a clock; the caller persists its outputs before sending them.
package channel
