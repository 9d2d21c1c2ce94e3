package channel

import (
	"crypto/sha256"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/paymesh/paymesh/protocol/wire"
)

// RecordKind is the kind of a Record.
type RecordKind uint8

// Record kinds.
const (
	// RecordOpen is the first record of a channel: its parameters.
	RecordOpen RecordKind = iota + 1
	// RecordUpdate is an update of the local side, persisted before it is sent.
	RecordUpdate
	// RecordProposal is a state the local side signed and proposes.
	RecordProposal
	// RecordCoSigned is a state signed by both sides.
	RecordCoSigned
	// RecordShutdown is the local side's shutdown.
	RecordShutdown
	// RecordFailed marks the channel failed.
	RecordFailed
	// RecordSnapshot replaces every earlier record.
	RecordSnapshot
)

func (k RecordKind) String() string {
	return [...]string{"?", "open", "update", "proposal", "co-signed", "shutdown", "failed",
		"snapshot"}[min(int(k), 7)]
}

// Record is one entry of a channel's durable log. A store appends the
// records of each Output in order, and gives Restore the records since the
// last snapshot (a snapshot first, or the open record first). Records are
// stored with Marshal and read back with UnmarshalRecord.
type Record struct {
	pb *wire.ChanRecord
}

// Kind returns the record's kind.
func (r Record) Kind() RecordKind {
	switch b := r.pb.GetBody().(type) {
	case *wire.ChanRecord_Open:
		return RecordOpen
	case *wire.ChanRecord_Update:
		return RecordUpdate
	case *wire.ChanRecord_State:
		if len(b.State.OpenerSig) > 0 && len(b.State.AcceptorSig) > 0 {
			return RecordCoSigned
		}
		return RecordProposal
	case *wire.ChanRecord_Shutdown:
		return RecordShutdown
	case *wire.ChanRecord_Failed:
		return RecordFailed
	case *wire.ChanRecord_Snapshot:
		return RecordSnapshot
	}
	return 0
}

// Seq returns the state sequence of a proposal or co-signed record.
func (r Record) Seq() uint64 { return r.pb.GetState().GetSeq() }

// StateHash returns the state hash of a proposal or co-signed record: a
// store can index the hash chain by it.
func (r Record) StateHash() (Hash, bool) {
	var h Hash
	st := r.pb.GetState()
	if st == nil || len(st.StateHash) != len(h) {
		return h, false
	}
	copy(h[:], st.StateHash)
	return h, true
}

// Marshal returns the record's storage bytes.
func (r Record) Marshal() ([]byte, error) {
	b, err := marshalRecord(r.pb)
	if err != nil {
		return nil, fmt.Errorf("channel: marshal record: %w", err)
	}
	return b, nil
}

// UnmarshalRecord parses storage bytes written by Record.Marshal.
func UnmarshalRecord(b []byte) (Record, error) {
	pb := &wire.ChanRecord{}
	if err := proto.Unmarshal(b, pb); err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	r := Record{pb: pb}
	if r.Kind() == 0 {
		return Record{}, fmt.Errorf("%w: empty record", ErrCorrupt)
	}
	return r, nil
}

func recOpen(m *wire.ChanOpen) Record {
	return Record{&wire.ChanRecord{Body: &wire.ChanRecord_Open{Open: m}}}
}

func recShutdown(at uint64) Record {
	return Record{&wire.ChanRecord{Body: &wire.ChanRecord_Shutdown{Shutdown: &wire.ChanShutdown{UpdatesSent: at}}}}
}

func recFailed(reason string) Record {
	return Record{&wire.ChanRecord{Body: &wire.ChanRecord_Failed{Failed: &wire.ChanError{Reason: reason}}}}
}

func stateRecordPB(ss *SignedState) *wire.ChanRecordState {
	st := ss.State
	return &wire.ChanRecordState{
		Seq: st.Seq, OpenerUpdates: st.Updates[0], AcceptorUpdates: st.Updates[1], Final: st.Final,
		StateHash: ss.Hash[:], OpenerSig: ss.Sigs[0], AcceptorSig: ss.Sigs[1],
	}
}

// recState records a signed state with the peer updates it persists first.
func recState(ss *SignedState, remote []update) Record {
	pb := stateRecordPB(ss)
	if len(remote) > 0 {
		pb.RemoteUpdates = toWireAll(remote)
	}
	return Record{&wire.ChanRecord{Body: &wire.ChanRecord_State{State: pb}}}
}

// emptyOnionHash is the SHA-256 of an empty onion: an HTLC without an
// onion (a direct payment) need not hash it again.
var emptyOnionHash = Hash(sha256.Sum256(nil))

func onionHash(onion []byte) Hash {
	if len(onion) == 0 {
		return emptyOnionHash
	}
	return sha256.Sum256(onion)
}
