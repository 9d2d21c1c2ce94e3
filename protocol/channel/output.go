package channel

import (
	"github.com/paymesh/paymesh/protocol/wire"
)

// Output is what the caller must do after an operation, in this order:
//
//  1. append Records to the channel's durable log and sync;
//  2. send Messages to the peer, in order;
//  3. handle Events.
//
// Outputs of consecutive calls may be merged (Merge) and executed as one:
// one synced write for all records, then all messages. Sending a message
// before its output's records are durable breaks the crash-safety
// guarantee: a peer could hold a signature or preimage the node forgot.
// The records of one Output (or of merged Outputs) must be written
// atomically. Outputs share memory with the machine: read, don't modify.
type Output struct {
	Records  []Record
	Messages []*wire.ChanMessage
	Events   []Event
}

// Merge appends o2 to o.
func (o *Output) Merge(o2 Output) {
	o.Records = append(o.Records, o2.Records...)
	o.Messages = append(o.Messages, o2.Messages...)
	o.Events = append(o.Events, o2.Events...)
}

// Empty reports whether there is nothing to do.
func (o *Output) Empty() bool {
	return len(o.Records) == 0 && len(o.Messages) == 0 && len(o.Events) == 0
}

// EventKind is the kind of an Event.
type EventKind uint8

// Event kinds. HTLC events are reported once the change is in a co-signed
// state, i.e. irrevocable; they are not durable: after Restore, rebuild
// pending work from Machine.State and Machine.IncomingPending.
const (
	// EventOpened: the opening state is co-signed (State set).
	EventOpened EventKind = iota + 1
	// EventHTLCAdded: the peer offered HTLC (with its Onion); forward it,
	// or fulfill/fail it as the payee.
	EventHTLCAdded
	// EventHTLCFulfilled: the peer fulfilled an HTLC we offered; Preimage
	// is its preimage.
	EventHTLCFulfilled
	// EventHTLCFailed: the peer failed an HTLC we offered, with Reason.
	EventHTLCFailed
	// EventCoSigned: a new state is co-signed (State set).
	EventCoSigned
	// EventClosed: the final state of a cooperative close is co-signed
	// (State set); settle it with the Settlement.
	EventClosed
	// EventFailed: the channel is failed (Err says why); only a
	// settlement of the latest co-signed state remains.
	EventFailed
)

func (k EventKind) String() string {
	return [...]string{"?", "opened", "htlc-added", "htlc-fulfilled", "htlc-failed",
		"co-signed", "closed", "failed"}[min(int(k), 7)]
}

// Event reports a change to the node.
type Event struct {
	Kind     EventKind
	HTLC     HTLC
	Preimage Hash
	Reason   []byte
	State    *SignedState
	Err      error
}
