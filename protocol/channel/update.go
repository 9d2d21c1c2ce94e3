package channel

import (
	"fmt"
	"time"

	"github.com/paymesh/paymesh/protocol/wire"
)

// Size limits on update contents.
const (
	// MaxOnionSize bounds an HTLC's onion packet.
	MaxOnionSize = 4096
	// MaxReasonSize bounds a fail reason and an error text.
	MaxReasonSize = 1024
	// MaxExpiryDelta bounds how far ahead an HTLC may expire: funds are not
	// locked for longer, and expiry arithmetic cannot overflow.
	MaxExpiryDelta = 30 * 24 * time.Hour
)

// UpdateKind is the kind of a channel update.
type UpdateKind uint8

// Update kinds.
const (
	UpdateAdd UpdateKind = iota + 1
	UpdateFulfill
	UpdateFail
)

// update is one entry of a side's update stream. For UpdateAdd, htlc is the
// new HTLC (offered by the sender); for UpdateFulfill and UpdateFail,
// htlc.Offerer and htlc.ID name an HTLC offered by the other side.
type update struct {
	kind     UpdateKind
	index    uint64 // position in the sender's stream, from 1
	htlc     HTLC
	preimage Hash
	reason   []byte
}

// toWire returns u in wire form. The result shares no memory with u (only
// the onion and reason, which are never modified): updates live in logs
// that are shifted in place, while records and messages built from them
// are marshalled later.
//
// Each kind's protobuf messages (and the bytes cloned for them) are
// allocated as one block (addWire, fulfillWire): an HTLC's updates are the
// hot path of a busy channel, and one allocation is cheaper than four. The
// messages are only ever used through their pointers, never copied.
func (u *update) toWire() *wire.ChanUpdate {
	switch u.kind {
	case UpdateAdd:
		return new(addWire).set(u)
	case UpdateFulfill:
		return new(fulfillWire).set(u)
	default:
		return &wire.ChanUpdate{Kind: &wire.ChanUpdate_Fail{Fail: &wire.ChanFailHTLC{
			UpdateIndex: u.index, HtlcId: u.htlc.ID, Reason: u.reason,
		}}}
	}
}

// toWireAll returns the wire forms of us, as toWire does, with the blocks
// of each kind allocated together.
func toWireAll(us []update) []*wire.ChanUpdate {
	var nAdd, nFulfill int
	for i := range us {
		switch us[i].kind {
		case UpdateAdd:
			nAdd++
		case UpdateFulfill:
			nFulfill++
		}
	}
	adds := make([]addWire, nAdd)
	fulfills := make([]fulfillWire, nFulfill)
	ws := make([]*wire.ChanUpdate, len(us))
	for i := range us {
		switch us[i].kind {
		case UpdateAdd:
			ws[i] = adds[0].set(&us[i])
			adds = adds[1:]
		case UpdateFulfill:
			ws[i] = fulfills[0].set(&us[i])
			fulfills = fulfills[1:]
		default:
			ws[i] = us[i].toWire()
		}
	}
	return ws
}

// addWire is the wire form of an add, in one block.
type addWire struct {
	u    wire.ChanUpdate
	k    wire.ChanUpdate_Add
	a    wire.ChanAddHTLC
	hash Hash
}

// set fills b with add u (sharing its onion, never modified) and returns
// the update.
func (b *addWire) set(u *update) *wire.ChanUpdate {
	h := &u.htlc
	b.hash = h.PaymentHash
	b.a.UpdateIndex, b.a.HtlcId, b.a.Amount = u.index, h.ID, h.Amount
	b.a.PaymentHash, b.a.ExpiryUnixMs, b.a.Onion = b.hash[:], h.Expiry, h.Onion
	b.k.Add = &b.a
	b.u.Kind = &b.k
	return &b.u
}

// fulfillWire is the wire form of a fulfill, in one block.
type fulfillWire struct {
	u   wire.ChanUpdate
	k   wire.ChanUpdate_Fulfill
	f   wire.ChanFulfillHTLC
	pre Hash
}

// set fills b with fulfill u and returns the update.
func (b *fulfillWire) set(u *update) *wire.ChanUpdate {
	b.pre = u.preimage
	b.f.UpdateIndex, b.f.HtlcId, b.f.Preimage = u.index, u.htlc.ID, b.pre[:]
	b.k.Fulfill = &b.f
	b.u.Kind = &b.k
	return &b.u
}

// message wraps u as a message of channel id.
func (u *update) message(id []byte) *wire.ChanMessage {
	return updateMessage(id, u.toWire())
}

// updateMessage wraps w as a message of channel id (shared, not copied);
// the message shares w's body.
func updateMessage(id []byte, w *wire.ChanUpdate) *wire.ChanMessage {
	switch k := w.Kind.(type) {
	case *wire.ChanUpdate_Add:
		b := &struct {
			m    wire.ChanMessage
			body wire.ChanMessage_Add
		}{}
		b.body.Add = k.Add
		b.m.ChannelId, b.m.Body = id, &b.body
		return &b.m
	case *wire.ChanUpdate_Fulfill:
		b := &struct {
			m    wire.ChanMessage
			body wire.ChanMessage_Fulfill
		}{}
		b.body.Fulfill = k.Fulfill
		b.m.ChannelId, b.m.Body = id, &b.body
		return &b.m
	case *wire.ChanUpdate_Fail:
		return &wire.ChanMessage{ChannelId: id, Body: &wire.ChanMessage_Fail{Fail: k.Fail}}
	}
	return &wire.ChanMessage{ChannelId: id}
}

func addFromWire(sender Side, a *wire.ChanAddHTLC) (update, error) {
	if len(a.PaymentHash) != 32 {
		return update{}, fmt.Errorf("%w: payment hash of %d bytes", ErrBadMessage, len(a.PaymentHash))
	}
	if len(a.Onion) > MaxOnionSize {
		return update{}, fmt.Errorf("%w: onion of %d bytes", ErrBadMessage, len(a.Onion))
	}
	u := update{kind: UpdateAdd, index: a.UpdateIndex, htlc: HTLC{
		Offerer: sender, ID: a.HtlcId, Amount: a.Amount, Expiry: a.ExpiryUnixMs,
		Onion: append([]byte(nil), a.Onion...),
	}}
	copy(u.htlc.PaymentHash[:], a.PaymentHash)
	u.htlc.OnionHash = onionHash(u.htlc.Onion)
	return u, nil
}

func fulfillFromWire(sender Side, f *wire.ChanFulfillHTLC) (update, error) {
	if len(f.Preimage) != 32 {
		return update{}, fmt.Errorf("%w: preimage of %d bytes", ErrBadMessage, len(f.Preimage))
	}
	u := update{kind: UpdateFulfill, index: f.UpdateIndex, htlc: HTLC{Offerer: sender.Other(), ID: f.HtlcId}}
	copy(u.preimage[:], f.Preimage)
	return u, nil
}

func failFromWire(sender Side, f *wire.ChanFailHTLC) (update, error) {
	if len(f.Reason) > MaxReasonSize {
		return update{}, fmt.Errorf("%w: fail reason of %d bytes", ErrBadMessage, len(f.Reason))
	}
	return update{kind: UpdateFail, index: f.UpdateIndex, htlc: HTLC{Offerer: sender.Other(), ID: f.HtlcId},
		reason: append([]byte(nil), f.Reason...)}, nil
}

// updateFromRecord decodes a stored update sent by sender.
func updateFromRecord(sender Side, w *wire.ChanUpdate) (update, error) {
	switch k := w.GetKind().(type) {
	case *wire.ChanUpdate_Add:
		return addFromWire(sender, k.Add)
	case *wire.ChanUpdate_Fulfill:
		return fulfillFromWire(sender, k.Fulfill)
	case *wire.ChanUpdate_Fail:
		return failFromWire(sender, k.Fail)
	}
	return update{}, fmt.Errorf("%w: empty update", ErrBadMessage)
}

// updateLog is one side's stream of updates not yet covered by the latest
// co-signed state: entries[i].index == base+1+i.
type updateLog struct {
	base    uint64
	entries []update
}

// end is the index of the last update received or sent.
func (l *updateLog) end() uint64 { return l.base + uint64(len(l.entries)) }

// between returns the updates with index in (from, to]; from >= l.base and
// to <= l.end() are the caller's duty.
func (l *updateLog) between(from, to uint64) []update {
	return l.entries[from-l.base : to-l.base]
}

// trim drops the updates with index <= upTo.
func (l *updateLog) trim(upTo uint64) {
	if upTo <= l.base {
		return
	}
	k := upTo - l.base
	// Shift in place: the backing array stays as large as the log has been
	// at its largest (bounded by the pending limits), and is reused rather
	// than reallocated at every state; after a burst it is let go.
	n := copy(l.entries, l.entries[k:])
	clear(l.entries[n:])
	l.entries = l.entries[:n]
	if cap(l.entries) > 4096 && n < cap(l.entries)/8 {
		l.entries = append([]update(nil), l.entries...)
	}
	l.base = upTo
}

// flow summarises one side's updates beyond the latest co-signed state, so
// new updates are checked in O(1): as if every uncommitted add were already
// in the state and no uncommitted removal were. Any state built from a
// prefix of the updates is then within balance and limits.
type flow struct {
	adds      uint64              // uncommitted adds
	addAmount uint64              // their total amount
	nextID    uint64              // id of the side's next HTLC
	removed   map[uint64]struct{} // ids of the other side's HTLCs this side removed
}

func (f *flow) apply(u *update) {
	switch u.kind {
	case UpdateAdd:
		f.adds++
		f.addAmount += u.htlc.Amount
		f.nextID = u.htlc.ID + 1
	default:
		if f.removed == nil {
			f.removed = make(map[uint64]struct{})
		}
		f.removed[u.htlc.ID] = struct{}{}
	}
}
