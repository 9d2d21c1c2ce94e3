package onion

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// FailureCode is BOLT 4's 2-byte failure_code. Its top bits are flags.
type FailureCode uint16

// Flags of a failure code (BOLT 4 "Failure Messages").
const (
	// FlagBadOnion marks an onion the erring node could not parse; it is
	// reported by the previous hop, which alone can encrypt the error.
	FlagBadOnion FailureCode = 0x8000
	// FlagPerm marks a permanent failure (otherwise transient).
	FlagPerm FailureCode = 0x4000
	// FlagNode marks a failure of the node (otherwise of the channel).
	FlagNode FailureCode = 0x2000
	// FlagUpdate marks a failure that carries the outgoing channel's update.
	FlagUpdate FailureCode = 0x1000
)

// Failure codes of BOLT 4, with their values. Paymesh's reading of the
// channel-specific ones: "insufficient balance" is temporary_channel_failure,
// "fee too low" fee_insufficient, "expiry too soon" expiry_too_soon (or
// incorrect_cltv_expiry when the delta is short), "unknown next channel"
// unknown_next_peer, "incorrect payment details" for a wrong secret, an
// unknown hash or an amount below the invoice.
const (
	CodeInvalidRealm                     = FlagPerm | 1
	CodeTemporaryNodeFailure             = FlagNode | 2
	CodePermanentNodeFailure             = FlagPerm | FlagNode | 2
	CodeRequiredNodeFeatureMissing       = FlagPerm | FlagNode | 3
	CodeInvalidOnionVersion              = FlagBadOnion | FlagPerm | 4
	CodeInvalidOnionHMAC                 = FlagBadOnion | FlagPerm | 5
	CodeInvalidOnionKey                  = FlagBadOnion | FlagPerm | 6
	CodeTemporaryChannelFailure          = FlagUpdate | 7
	CodePermanentChannelFailure          = FlagPerm | 8
	CodeRequiredChannelFeatureMissing    = FlagPerm | 9
	CodeUnknownNextPeer                  = FlagPerm | 10
	CodeAmountBelowMinimum               = FlagUpdate | 11
	CodeFeeInsufficient                  = FlagUpdate | 12
	CodeIncorrectCLTVExpiry              = FlagUpdate | 13
	CodeExpiryTooSoon                    = FlagUpdate | 14
	CodeIncorrectOrUnknownPaymentDetails = FlagPerm | 15
	CodeFinalIncorrectCLTVExpiry         = FailureCode(18)
	CodeFinalIncorrectHTLCAmount         = FailureCode(19)
	CodeChannelDisabled                  = FlagUpdate | 20
	CodeExpiryTooFar                     = FailureCode(21)
	CodeInvalidOnionPayload              = FlagPerm | 22
	CodeMPPTimeout                       = FailureCode(23)
	CodeInvalidOnionBlinding             = FlagBadOnion | FlagPerm | 24
)

var codeNames = map[FailureCode]string{
	CodeInvalidRealm:                     "invalid_realm",
	CodeTemporaryNodeFailure:             "temporary_node_failure",
	CodePermanentNodeFailure:             "permanent_node_failure",
	CodeRequiredNodeFeatureMissing:       "required_node_feature_missing",
	CodeInvalidOnionVersion:              "invalid_onion_version",
	CodeInvalidOnionHMAC:                 "invalid_onion_hmac",
	CodeInvalidOnionKey:                  "invalid_onion_key",
	CodeTemporaryChannelFailure:          "temporary_channel_failure",
	CodePermanentChannelFailure:          "permanent_channel_failure",
	CodeRequiredChannelFeatureMissing:    "required_channel_feature_missing",
	CodeUnknownNextPeer:                  "unknown_next_peer",
	CodeAmountBelowMinimum:               "amount_below_minimum",
	CodeFeeInsufficient:                  "fee_insufficient",
	CodeIncorrectCLTVExpiry:              "incorrect_cltv_expiry",
	CodeExpiryTooSoon:                    "expiry_too_soon",
	CodeIncorrectOrUnknownPaymentDetails: "incorrect_or_unknown_payment_details",
	CodeFinalIncorrectCLTVExpiry:         "final_incorrect_cltv_expiry",
	CodeFinalIncorrectHTLCAmount:         "final_incorrect_htlc_amount",
	CodeChannelDisabled:                  "channel_disabled",
	CodeExpiryTooFar:                     "expiry_too_far",
	CodeInvalidOnionPayload:              "invalid_onion_payload",
	CodeMPPTimeout:                       "mpp_timeout",
	CodeInvalidOnionBlinding:             "invalid_onion_blinding",
}

// String returns BOLT 4's name of the code, or its hex value when unknown.
func (c FailureCode) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("failure_code(0x%04x)", uint16(c))
}

// IsPermanent reports the PERM flag.
func (c FailureCode) IsPermanent() bool { return c&FlagPerm != 0 }

// IsNode reports the NODE flag: the whole node failed, not one channel.
func (c FailureCode) IsNode() bool { return c&FlagNode != 0 }

// HasUpdate reports the UPDATE flag: a channel update is enclosed.
func (c FailureCode) HasUpdate() bool { return c&FlagUpdate != 0 }

// IsBadOnion reports the BADONION flag.
func (c FailureCode) IsBadOnion() bool { return c&FlagBadOnion != 0 }

// ErrMalformedFailure means a failure message's body is shorter than its
// code requires, or is too long to carry.
var ErrMalformedFailure = errors.New("onion: malformed failure message")

// FailureMessage is a decoded BOLT 4 failuremsg. Which fields a code uses
// follows BOLT 4 exactly; fields the code does not use are ignored by Encode
// and left zero by Decode.
//
// Paymesh reads the block-height fields as wall-clock time: Expiry and
// Height hold unix seconds (BOLT 4's u32 layout is kept so messages stay
// byte-compatible; onion payloads carry exact milliseconds). ChannelUpdate
// holds paymesh's serialized channel update (the wire protobuf), and may be
// empty.
type FailureMessage struct {
	// Code is the failure code.
	Code FailureCode
	// OnionSHA256 is sha256_of_onion, for the BADONION codes.
	OnionSHA256 [32]byte
	// HTLCAmount is htlc_msat (amount_below_minimum, fee_insufficient,
	// incorrect_or_unknown_payment_details) or incoming_htlc_amt
	// (final_incorrect_htlc_amount).
	HTLCAmount uint64
	// Expiry is cltv_expiry (incorrect_cltv_expiry,
	// final_incorrect_cltv_expiry): unix seconds in paymesh.
	Expiry uint32
	// Height is incorrect_or_unknown_payment_details' height: the final
	// node's clock in unix seconds in paymesh.
	Height uint32
	// DisabledFlags is channel_disabled's disabled_flags.
	DisabledFlags uint16
	// ChannelUpdate is the enclosed update for the UPDATE codes.
	ChannelUpdate []byte
	// PayloadType and PayloadOffset locate an invalid_onion_payload.
	PayloadType uint64
	// PayloadOffset is the offending record's offset in the hop payload.
	PayloadOffset uint16
	// Extra is everything after the code's fields: BOLT 4's optional TLV
	// stream, or the whole body of a code this package does not know.
	// Encode appends it verbatim.
	Extra []byte
}

// Error makes a FailureMessage usable as an error value.
func (m *FailureMessage) Error() string { return "onion failure: " + m.Code.String() }

// NewBadOnionFailure returns the BADONION failure for a refused packet:
// code (see BadOnionCode) and the SHA-256 of the packet as received.
func NewBadOnionFailure(code FailureCode, onion []byte) *FailureMessage {
	return &FailureMessage{Code: code, OnionSHA256: sha256.Sum256(onion)}
}

// BadOnionCode maps a Peel refusal to its BADONION failure code. ok is false
// for errors that are not BADONION (ErrInvalidPayload maps to
// invalid_onion_payload instead).
func BadOnionCode(err error) (code FailureCode, ok bool) {
	switch {
	case errors.Is(err, ErrInvalidVersion):
		return CodeInvalidOnionVersion, true
	case errors.Is(err, ErrInvalidKey):
		return CodeInvalidOnionKey, true
	case errors.Is(err, ErrInvalidHMAC):
		return CodeInvalidOnionHMAC, true
	}
	return 0, false
}

// layout lists a code's fields in wire order.
type field int

const (
	fSHA256 field = iota
	fAmount
	fExpiry
	fHeight
	fFlags
	fUpdate
	fPayloadType
	fPayloadOffset
)

func layout(c FailureCode) []field {
	switch c {
	case CodeInvalidOnionVersion, CodeInvalidOnionHMAC, CodeInvalidOnionKey, CodeInvalidOnionBlinding:
		return []field{fSHA256}
	case CodeTemporaryChannelFailure, CodeExpiryTooSoon:
		return []field{fUpdate}
	case CodeAmountBelowMinimum, CodeFeeInsufficient:
		return []field{fAmount, fUpdate}
	case CodeIncorrectCLTVExpiry:
		return []field{fExpiry, fUpdate}
	case CodeIncorrectOrUnknownPaymentDetails:
		return []field{fAmount, fHeight}
	case CodeFinalIncorrectCLTVExpiry:
		return []field{fExpiry}
	case CodeFinalIncorrectHTLCAmount:
		return []field{fAmount}
	case CodeChannelDisabled:
		return []field{fFlags, fUpdate}
	case CodeInvalidOnionPayload:
		return []field{fPayloadType, fPayloadOffset}
	}
	return nil
}

// MaxFailureMessageSize bounds an encoded failure message so that it fits the
// u16 failure_len of the error packet.
const MaxFailureMessageSize = 0xffff

// Encode serializes the message: code, the code's fields, then Extra.
func (m *FailureMessage) Encode() []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(m.Code))
	for _, f := range layout(m.Code) {
		switch f {
		case fSHA256:
			b = append(b, m.OnionSHA256[:]...)
		case fAmount:
			b = binary.BigEndian.AppendUint64(b, m.HTLCAmount)
		case fExpiry:
			b = binary.BigEndian.AppendUint32(b, m.Expiry)
		case fHeight:
			b = binary.BigEndian.AppendUint32(b, m.Height)
		case fFlags:
			b = binary.BigEndian.AppendUint16(b, m.DisabledFlags)
		case fUpdate:
			b = binary.BigEndian.AppendUint16(b, uint16(len(m.ChannelUpdate)))
			b = append(b, m.ChannelUpdate...)
		case fPayloadType:
			b = AppendBigSize(b, m.PayloadType)
		case fPayloadOffset:
			b = binary.BigEndian.AppendUint16(b, m.PayloadOffset)
		}
	}
	return append(b, m.Extra...)
}

// DecodeFailureMessage parses a failuremsg. A body shorter than the code's
// fields is ErrMalformedFailure; bytes after them land in Extra (BOLT 4 has
// the origin ignore them).
func DecodeFailureMessage(b []byte) (*FailureMessage, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%d bytes: %w", len(b), ErrMalformedFailure)
	}
	if len(b) > MaxFailureMessageSize {
		return nil, fmt.Errorf("%d bytes: %w", len(b), ErrMalformedFailure)
	}
	m := &FailureMessage{Code: FailureCode(binary.BigEndian.Uint16(b))}
	r := b[2:]
	need := func(n int) error {
		if len(r) < n {
			return fmt.Errorf("%v: %d bytes left, need %d: %w", m.Code, len(r), n, ErrMalformedFailure)
		}
		return nil
	}
	for _, f := range layout(m.Code) {
		switch f {
		case fSHA256:
			if err := need(32); err != nil {
				return nil, err
			}
			copy(m.OnionSHA256[:], r)
			r = r[32:]
		case fAmount:
			if err := need(8); err != nil {
				return nil, err
			}
			m.HTLCAmount = binary.BigEndian.Uint64(r)
			r = r[8:]
		case fExpiry, fHeight:
			if err := need(4); err != nil {
				return nil, err
			}
			v := binary.BigEndian.Uint32(r)
			if f == fExpiry {
				m.Expiry = v
			} else {
				m.Height = v
			}
			r = r[4:]
		case fFlags, fPayloadOffset:
			if err := need(2); err != nil {
				return nil, err
			}
			v := binary.BigEndian.Uint16(r)
			if f == fFlags {
				m.DisabledFlags = v
			} else {
				m.PayloadOffset = v
			}
			r = r[2:]
		case fUpdate:
			if err := need(2); err != nil {
				return nil, err
			}
			n := int(binary.BigEndian.Uint16(r))
			r = r[2:]
			if err := need(n); err != nil {
				return nil, err
			}
			m.ChannelUpdate = append([]byte{}, r[:n]...)
			r = r[n:]
		case fPayloadType:
			v, n, err := ReadBigSize(r)
			if err != nil {
				return nil, fmt.Errorf("%v type: %w: %v", m.Code, ErrMalformedFailure, err)
			}
			m.PayloadType = v
			r = r[n:]
		}
	}
	if len(r) > 0 {
		m.Extra = append([]byte(nil), r...)
	}
	return m, nil
}
