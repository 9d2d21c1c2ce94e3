package channel

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/paymesh/paymesh/protocol/wire"
)

// A busy channel stores a record per own update and a state record per
// round carrying the peer's updates, so marshalling them is on the hot
// path. The update and state records are encoded here by hand, producing
// exactly the bytes proto.Marshal produces (fields in number order, zero
// scalars and empty bytes left out; see TestRecordEncodingMatchesProto);
// any other record, or one with unknown fields, goes through proto.Marshal.

// Field numbers of the records encoded by hand (protocol/wire/channel.proto).
const (
	fRecordUpdate = 2 // ChanRecord.update
	fRecordState  = 3 // ChanRecord.state

	fUpdateAdd     = 1 // ChanUpdate.add
	fUpdateFulfill = 2 // ChanUpdate.fulfill
	fUpdateFail    = 3 // ChanUpdate.fail

	fStateRemote = 8 // ChanRecordState.remote_updates
)

// marshalRecord returns pb's storage bytes.
func marshalRecord(pb *wire.ChanRecord) ([]byte, error) {
	if n, ok := recordSize(pb); ok {
		b := make([]byte, 0, n)
		b = appendRecord(b, pb)
		if len(b) == n {
			return b, nil
		}
	}
	return proto.Marshal(pb)
}

// MarshalRecords returns the storage bytes of each record, as Marshal
// does; the records encoded by hand share one buffer, so a round's
// thousands of records cost one allocation rather than one each.
func MarshalRecords(recs []Record) ([][]byte, error) {
	out := make([][]byte, len(recs))
	sizes := make([]int, len(recs))
	total := 0
	for i, r := range recs {
		if n, ok := recordSize(r.pb); ok {
			sizes[i] = n
			total += n
		} else {
			sizes[i] = -1
		}
	}
	buf := make([]byte, 0, total)
	for i, r := range recs {
		if sizes[i] < 0 {
			b, err := r.Marshal()
			if err != nil {
				return nil, err
			}
			out[i] = b
			continue
		}
		start := len(buf)
		buf = appendRecord(buf, r.pb)
		if len(buf)-start != sizes[i] {
			// Unreachable: the size and the encoding agree.
			return nil, fmt.Errorf("channel: marshal record: %d bytes, size said %d", len(buf)-start, sizes[i])
		}
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out, nil
}

func known(m proto.Message) bool { return len(m.ProtoReflect().GetUnknown()) == 0 }

func sizeTagged(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func sizeUint(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func sizeBytes(num protowire.Number, v []byte) int {
	if len(v) == 0 {
		return 0
	}
	return sizeTagged(num, len(v))
}

func appendUint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendLen(b []byte, num protowire.Number, n int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n))
}

// recordSize returns the encoded size of pb, and false when pb is not one
// encoded by hand. It is the only pass that checks the messages (types,
// nil bodies, unknown fields); the sizes of nested messages are then
// recomputed without checks, for their length prefixes.
func recordSize(pb *wire.ChanRecord) (int, bool) {
	if !known(pb) {
		return 0, false
	}
	switch body := pb.Body.(type) {
	case *wire.ChanRecord_Update:
		if !updateOK(body.Update) {
			return 0, false
		}
		return sizeTagged(fRecordUpdate, updateSize(body.Update)), true
	case *wire.ChanRecord_State:
		st := body.State
		if st == nil || !known(st) {
			return 0, false
		}
		for _, u := range st.RemoteUpdates {
			if !updateOK(u) {
				return 0, false
			}
		}
		return sizeTagged(fRecordState, stateSize(st)), true
	}
	return 0, false
}

// appendRecord appends pb, which recordSize accepted.
func appendRecord(b []byte, pb *wire.ChanRecord) []byte {
	switch body := pb.Body.(type) {
	case *wire.ChanRecord_Update:
		b = appendLen(b, fRecordUpdate, updateSize(body.Update))
		return appendUpdate(b, body.Update)
	case *wire.ChanRecord_State:
		b = appendLen(b, fRecordState, stateSize(body.State))
		return appendState(b, body.State)
	}
	return b
}

func stateSize(s *wire.ChanRecordState) int {
	n := sizeUint(1, s.Seq) + sizeUint(2, s.OpenerUpdates) + sizeUint(3, s.AcceptorUpdates) +
		sizeBytes(5, s.StateHash) + sizeBytes(6, s.OpenerSig) + sizeBytes(7, s.AcceptorSig)
	if s.Final {
		n += protowire.SizeTag(4) + 1
	}
	for _, u := range s.RemoteUpdates {
		n += sizeTagged(fStateRemote, updateSize(u))
	}
	return n
}

func appendState(b []byte, s *wire.ChanRecordState) []byte {
	b = appendUint(b, 1, s.Seq)
	b = appendUint(b, 2, s.OpenerUpdates)
	b = appendUint(b, 3, s.AcceptorUpdates)
	if s.Final {
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	b = appendBytes(b, 5, s.StateHash)
	b = appendBytes(b, 6, s.OpenerSig)
	b = appendBytes(b, 7, s.AcceptorSig)
	for _, u := range s.RemoteUpdates {
		b = appendLen(b, fStateRemote, updateSize(u))
		b = appendUpdate(b, u)
	}
	return b
}

// updateOK reports whether u is an update encoded by hand: a known kind
// with a body, and no unknown fields.
func updateOK(u *wire.ChanUpdate) bool {
	if u == nil || !known(u) {
		return false
	}
	switch k := u.Kind.(type) {
	case *wire.ChanUpdate_Add:
		return k.Add != nil && known(k.Add)
	case *wire.ChanUpdate_Fulfill:
		return k.Fulfill != nil && known(k.Fulfill)
	case *wire.ChanUpdate_Fail:
		return k.Fail != nil && known(k.Fail)
	}
	return false
}

// updateSize returns the size of u, which updateOK accepted.
func updateSize(u *wire.ChanUpdate) int {
	switch k := u.Kind.(type) {
	case *wire.ChanUpdate_Add:
		return sizeTagged(fUpdateAdd, addSize(k.Add))
	case *wire.ChanUpdate_Fulfill:
		return sizeTagged(fUpdateFulfill, fulfillSize(k.Fulfill))
	case *wire.ChanUpdate_Fail:
		return sizeTagged(fUpdateFail, failSize(k.Fail))
	}
	return 0
}

func appendUpdate(b []byte, u *wire.ChanUpdate) []byte {
	switch k := u.Kind.(type) {
	case *wire.ChanUpdate_Add:
		a := k.Add
		b = appendLen(b, fUpdateAdd, addSize(a))
		b = appendUint(b, 1, a.UpdateIndex)
		b = appendUint(b, 2, a.HtlcId)
		b = appendUint(b, 3, a.Amount)
		b = appendBytes(b, 4, a.PaymentHash)
		b = appendUint(b, 5, uint64(a.ExpiryUnixMs))
		return appendBytes(b, 6, a.Onion)
	case *wire.ChanUpdate_Fulfill:
		f := k.Fulfill
		b = appendLen(b, fUpdateFulfill, fulfillSize(f))
		b = appendUint(b, 1, f.UpdateIndex)
		b = appendUint(b, 2, f.HtlcId)
		return appendBytes(b, 3, f.Preimage)
	case *wire.ChanUpdate_Fail:
		f := k.Fail
		b = appendLen(b, fUpdateFail, failSize(f))
		b = appendUint(b, 1, f.UpdateIndex)
		b = appendUint(b, 2, f.HtlcId)
		return appendBytes(b, 3, f.Reason)
	}
	return b
}

func addSize(a *wire.ChanAddHTLC) int {
	// int64 fields are varints of their two's complement (10 bytes when
	// negative), as proto.Marshal writes them.
	return sizeUint(1, a.UpdateIndex) + sizeUint(2, a.HtlcId) + sizeUint(3, a.Amount) +
		sizeBytes(4, a.PaymentHash) + sizeUint(5, uint64(a.ExpiryUnixMs)) + sizeBytes(6, a.Onion)
}

func fulfillSize(f *wire.ChanFulfillHTLC) int {
	return sizeUint(1, f.UpdateIndex) + sizeUint(2, f.HtlcId) + sizeBytes(3, f.Preimage)
}

func failSize(f *wire.ChanFailHTLC) int {
	return sizeUint(1, f.UpdateIndex) + sizeUint(2, f.HtlcId) + sizeBytes(3, f.Reason)
}
