package onion

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// TLV types of paymesh's hop payload. The first four are BOLT 4's; the
// preimage uses the number keysend uses for spontaneous payments.
const (
	// TypeAmountToForward is amt_to_forward (tu64): the amount the next
	// hop's HTLC carries, or the amount the final node receives.
	TypeAmountToForward uint64 = 2
	// TypeOutgoingExpiry is BOLT 4's outgoing_cltv_value. paymesh's HTLC
	// expiry is wall-clock time, so the value is the outgoing HTLC's expiry
	// in unix milliseconds, encoded as a tu64 (BOLT 4's tu32 is a prefix of
	// that encoding, so BOLT 4 payloads decode unchanged).
	TypeOutgoingExpiry uint64 = 4
	// TypeShortChannelID is short_channel_id (u64): the paymesh channel
	// short id of the outgoing channel. Present only for intermediate hops.
	TypeShortChannelID uint64 = 6
	// TypePaymentData is payment_data: the invoice's 32-byte payment
	// secret followed by the total amount of the payment (tu64), which is
	// larger than amt_to_forward for one part of a multi-part payment.
	// Present only for the final hop.
	TypePaymentData uint64 = 8
	// TypeKeysendPreimage carries the 32-byte preimage of a spontaneous
	// payment to the final hop (keysend's record number).
	TypeKeysendPreimage uint64 = 5482373484
	// TypeStreamHop asks an intermediate hop to set up a payment stream
	// (see stream.go): the next hop's stream id (16 bytes) and the fee
	// base (u32), fee ppm (u32) and expiry delta in ms (u32) the payer
	// will pay on every payment of the stream. Odd: a node that does not
	// know streams forwards the payment and ignores it.
	TypeStreamHop uint64 = 65537
	// TypeStreamKey gives the final hop the 32-byte key of a payment
	// stream, from which every payment's preimage derives.
	TypeStreamKey uint64 = 65539
)

// StreamHopSize is the size of a TypeStreamHop record's value.
const StreamHopSize = StreamIDSize + 12

// MaxPayloadSize is the largest payload that fits in one onion: the routing
// info less the length prefix (3 bytes at this size) and the HMAC.
const MaxPayloadSize = RoutingInfoSize - 3 - HMACSize

// Errors returned by HopPayload decoding and validation, wrapped in a
// *PayloadError that locates them.
var (
	// ErrMissingField means a record the hop requires is absent.
	ErrMissingField = errors.New("onion: required hop payload field missing")
	// ErrForbiddenField means a record is present that this kind of hop
	// (intermediate or final) must not get.
	ErrForbiddenField = errors.New("onion: hop payload field not allowed here")
	// ErrPayloadSize means the payload is empty or larger than an onion holds.
	ErrPayloadSize = errors.New("onion: hop payload size out of bounds")
)

// PaymentData is the final hop's payment_data record.
type PaymentData struct {
	// Secret is the payment secret from the invoice, proving the payer saw it.
	Secret [32]byte
	// TotalAmount is the amount of the whole (possibly multi-part) payment.
	TotalAmount uint64
}

// HopPayload is paymesh's per-hop onion payload.
type HopPayload struct {
	// AmountToForward is the amount of the outgoing HTLC (type 2); at the
	// final hop, the amount this part pays.
	AmountToForward uint64
	// OutgoingExpiry is the outgoing HTLC's expiry in unix milliseconds
	// (type 4); at the final hop, the expiry the payer set.
	OutgoingExpiry uint64
	// ShortChannelID is the outgoing channel (type 6), meaningful when
	// HasShortChannelID is set, which it must be exactly for intermediate hops.
	ShortChannelID uint64
	// HasShortChannelID reports whether ShortChannelID is present.
	HasShortChannelID bool
	// PaymentData is the final hop's payment secret and total (type 8).
	PaymentData *PaymentData
	// KeysendPreimage is a spontaneous payment's preimage, for the final
	// hop only (type 5482373484).
	KeysendPreimage *[32]byte
	// StreamHop sets up a payment stream at an intermediate hop (type
	// 65537).
	StreamHop *StreamHop
	// StreamKey sets up a payment stream at the final hop (type 65539).
	StreamKey *[32]byte
	// Unknown holds unknown odd records: ignored by paymesh but kept so
	// that Encode reproduces what was decoded. Their types must not collide
	// with the known ones and must be odd.
	Unknown []Record
}

// PayloadError locates a hop payload failure for BOLT 4's
// invalid_onion_payload (PERM|22): the TLV type concerned and the byte offset
// of its record in the payload (0 when not tied to a record).
type PayloadError struct {
	// Type is the TLV type concerned.
	Type uint64
	// Offset is the record's byte offset in the payload.
	Offset int
	// Err is the cause: ErrMissingField, ErrForbiddenField, ErrBadLength,
	// ErrNonCanonical, ErrTLVOrder, ErrUnknownEvenType, ErrTruncated or
	// ErrPayloadSize.
	Err error
}

// Error implements error.
func (e *PayloadError) Error() string {
	return fmt.Sprintf("onion: hop payload type %d at offset %d: %v", e.Type, e.Offset, e.Err)
}

// Unwrap returns the cause so that errors.Is works with the sentinels.
func (e *PayloadError) Unwrap() error { return e.Err }

// Failure returns the invalid_onion_payload failure a node sends back for
// this error.
func (e *PayloadError) Failure() *FailureMessage {
	off := e.Offset
	if off > 0xffff {
		off = 0xffff
	}
	return &FailureMessage{Code: CodeInvalidOnionPayload, PayloadType: e.Type, PayloadOffset: uint16(off)}
}

func knownPayloadType(t uint64) bool {
	switch t {
	case TypeAmountToForward, TypeOutgoingExpiry, TypeShortChannelID, TypePaymentData, TypeKeysendPreimage,
		TypeStreamHop, TypeStreamKey:
		return true
	}
	return false
}

// Encode serializes the payload as a TLV stream, records in type order.
// AmountToForward and OutgoingExpiry are always written (BOLT 4 requires
// them at every hop). It fails on an unknown record of even or known type,
// and on a payload larger than MaxPayloadSize.
func (p *HopPayload) Encode() ([]byte, error) {
	for _, r := range p.Unknown {
		if r.Type%2 == 0 || knownPayloadType(r.Type) {
			return nil, &PayloadError{Type: r.Type, Err: ErrUnknownEvenType}
		}
	}
	recs := make([]Record, 0, 5+len(p.Unknown))
	recs = append(recs,
		Record{TypeAmountToForward, AppendTU64(nil, p.AmountToForward)},
		Record{TypeOutgoingExpiry, AppendTU64(nil, p.OutgoingExpiry)})
	if p.HasShortChannelID {
		recs = append(recs, Record{TypeShortChannelID, binary.BigEndian.AppendUint64(nil, p.ShortChannelID)})
	}
	if p.PaymentData != nil {
		v := append(p.PaymentData.Secret[:0:0], p.PaymentData.Secret[:]...)
		recs = append(recs, Record{TypePaymentData, AppendTU64(v, p.PaymentData.TotalAmount)})
	}
	if p.KeysendPreimage != nil {
		recs = append(recs, Record{TypeKeysendPreimage, p.KeysendPreimage[:]})
	}
	if p.StreamHop != nil {
		recs = append(recs, Record{TypeStreamHop, p.StreamHop.encode()})
	}
	if p.StreamKey != nil {
		recs = append(recs, Record{TypeStreamKey, p.StreamKey[:]})
	}
	recs = append(recs, p.Unknown...)
	sortRecords(recs)
	b, err := EncodeTLV(recs)
	if err != nil {
		return nil, &PayloadError{Err: err}
	}
	if len(b) > MaxPayloadSize {
		return nil, &PayloadError{Err: fmt.Errorf("%d bytes: %w", len(b), ErrPayloadSize)}
	}
	return b, nil
}

// sortRecords orders records by type (insertion sort: a handful of records).
func sortRecords(r []Record) {
	for i := 1; i < len(r); i++ {
		for j := i; j > 0 && r[j].Type < r[j-1].Type; j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
}

// DecodeHopPayload parses a hop payload (as Peeled.Payload returns it) with
// BOLT 1's TLV rules: minimal BigSize, strictly increasing types, unknown even
// types rejected, unknown odd types kept in Unknown. Known records are checked
// for size and minimal encoding, and the two records every hop needs (amount
// and expiry) must be present. Whether the hop is intermediate or final is
// checked separately by Validate. Errors are *PayloadError.
func DecodeHopPayload(b []byte) (*HopPayload, error) {
	if len(b) < MinPayloadSize || len(b) > MaxPayloadSize {
		return nil, &PayloadError{Err: fmt.Errorf("%d bytes: %w", len(b), ErrPayloadSize)}
	}
	recs, err := DecodeTLV(b, knownPayloadType)
	if err != nil {
		var te *TLVError
		if errors.As(err, &te) {
			return nil, &PayloadError{Type: te.Type, Offset: te.Offset, Err: te.Err}
		}
		return nil, &PayloadError{Err: err}
	}
	p := new(HopPayload)
	var haveAmt, haveExpiry bool
	for _, r := range recs {
		// r.Value aliases b, so its offset is recoverable for errors.
		off := recordOffset(b, r)
		bad := func(err error) error { return &PayloadError{Type: r.Type, Offset: off, Err: err} }
		switch r.Type {
		case TypeAmountToForward:
			if p.AmountToForward, err = ReadTU64(r.Value); err != nil {
				return nil, bad(err)
			}
			haveAmt = true
		case TypeOutgoingExpiry:
			if p.OutgoingExpiry, err = ReadTU64(r.Value); err != nil {
				return nil, bad(err)
			}
			haveExpiry = true
		case TypeShortChannelID:
			if len(r.Value) != 8 {
				return nil, bad(ErrBadLength)
			}
			p.ShortChannelID = binary.BigEndian.Uint64(r.Value)
			p.HasShortChannelID = true
		case TypePaymentData:
			if len(r.Value) < 32 || len(r.Value) > 40 {
				return nil, bad(ErrBadLength)
			}
			pd := new(PaymentData)
			copy(pd.Secret[:], r.Value[:32])
			if pd.TotalAmount, err = ReadTU64(r.Value[32:]); err != nil {
				return nil, bad(err)
			}
			p.PaymentData = pd
		case TypeKeysendPreimage:
			if len(r.Value) != 32 {
				return nil, bad(ErrBadLength)
			}
			var pre [32]byte
			copy(pre[:], r.Value)
			p.KeysendPreimage = &pre
		case TypeStreamHop:
			if len(r.Value) != StreamHopSize {
				return nil, bad(ErrBadLength)
			}
			p.StreamHop = decodeStreamHop(r.Value)
		case TypeStreamKey:
			if len(r.Value) != 32 {
				return nil, bad(ErrBadLength)
			}
			var k [32]byte
			copy(k[:], r.Value)
			p.StreamKey = &k
		default: // unknown odd: DecodeTLV already refused unknown even
			p.Unknown = append(p.Unknown, Record{Type: r.Type, Value: append([]byte(nil), r.Value...)})
		}
	}
	if !haveAmt {
		return nil, &PayloadError{Type: TypeAmountToForward, Err: ErrMissingField}
	}
	if !haveExpiry {
		return nil, &PayloadError{Type: TypeOutgoingExpiry, Err: ErrMissingField}
	}
	return p, nil
}

// recordOffset finds where record r (whose Value aliases b) starts in b.
func recordOffset(b []byte, r Record) int {
	valueOff := cap(b) - cap(r.Value)
	return valueOff - BigSizeLen(uint64(len(r.Value))) - BigSizeLen(r.Type)
}

// Validate checks the records BOLT 4 requires of an intermediate hop (final
// false: short_channel_id present, no payment_data, no preimage) or of the
// final hop (final true: no short_channel_id, and payment_data or a keysend
// preimage, since every paymesh payment has one of them). Peeled.IsFinal
// tells which. Checking the values against the HTLC and the invoice is the
// node's job.
// Errors are *PayloadError.
func (p *HopPayload) Validate(final bool) error {
	if final {
		if p.HasShortChannelID {
			return &PayloadError{Type: TypeShortChannelID, Err: ErrForbiddenField}
		}
		if p.StreamHop != nil {
			return &PayloadError{Type: TypeStreamHop, Err: ErrForbiddenField}
		}
		if p.PaymentData == nil && p.KeysendPreimage == nil {
			// paymesh invoices always carry a payment secret, and a
			// spontaneous payment carries its preimage: one must be here.
			return &PayloadError{Type: TypePaymentData, Err: ErrMissingField}
		}
		return nil
	}
	switch {
	case !p.HasShortChannelID:
		return &PayloadError{Type: TypeShortChannelID, Err: ErrMissingField}
	case p.PaymentData != nil:
		return &PayloadError{Type: TypePaymentData, Err: ErrForbiddenField}
	case p.KeysendPreimage != nil:
		return &PayloadError{Type: TypeKeysendPreimage, Err: ErrForbiddenField}
	case p.StreamKey != nil:
		return &PayloadError{Type: TypeStreamKey, Err: ErrForbiddenField}
	}
	return nil
}

// TotalAmount is the whole payment's amount as the final hop must read it:
// payment_data's total when present, else amt_to_forward (BOLT 4).
func (p *HopPayload) TotalAmount() uint64 {
	if p.PaymentData != nil {
		return p.PaymentData.TotalAmount
	}
	return p.AmountToForward
}
