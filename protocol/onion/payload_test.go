package onion

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
)

func TestHopPayloadRoundTrip(t *testing.T) {
	secret := [32]byte{1, 2, 3}
	pre := [32]byte{9, 9, 9}
	tests := []struct {
		name  string
		p     HopPayload
		final bool
		hex   string // expected encoding, when pinned
		raw   bool   // encoding only: not a valid hop on its own
	}{
		{"intermediate", HopPayload{AmountToForward: 15000, OutgoingExpiry: 1500, ShortChannelID: 1, HasShortChannelID: true}, false,
			"02023a98040205dc06080000000000000001", false}, // BOLT 4 vector hop 0, unframed
		{"intermediate ms expiry", HopPayload{AmountToForward: 1, OutgoingExpiry: 1_767_225_600_123, ShortChannelID: 1 << 40, HasShortChannelID: true}, false,
			"0201010406019b76daa87b06080000010000000000", false},
		{"final with payment data", HopPayload{AmountToForward: 500, OutgoingExpiry: 7, PaymentData: &PaymentData{Secret: secret, TotalAmount: 1000}}, true, "", false},
		{"final zero amount", HopPayload{OutgoingExpiry: 7, KeysendPreimage: &pre}, true, "", false},
		{"minimal", HopPayload{OutgoingExpiry: 7}, false, "0200040107", true},
		{"keysend", HopPayload{AmountToForward: 42, OutgoingExpiry: 9, KeysendPreimage: &pre}, true, "", false},
		{"unknown odd kept", HopPayload{AmountToForward: 1, OutgoingExpiry: 2, KeysendPreimage: &pre, Unknown: []Record{{Type: 7, Value: []byte{0xab}}, {Type: 1 << 33, Value: nil}}}, true, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "unknown odd kept" {
				tc.p.Unknown[1].Type++ // make it odd
			}
			b, err := tc.p.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if tc.hex != "" && hex.EncodeToString(b) != tc.hex {
				t.Fatalf("encoded %x, want %s", b, tc.hex)
			}
			got, err := DecodeHopPayload(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := got.Validate(tc.final); err != nil && !tc.raw {
				t.Fatal(err)
			}
			normalize := func(p *HopPayload) {
				for i := range p.Unknown {
					if len(p.Unknown[i].Value) == 0 {
						p.Unknown[i].Value = nil
					}
				}
			}
			normalize(got)
			want := tc.p
			normalize(&want)
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("decoded %+v, want %+v", *got, want)
			}
			again, _ := got.Encode()
			if !bytes.Equal(again, b) {
				t.Fatal("re-encoding differs")
			}
		})
	}
}

func TestHopPayloadTotalAmount(t *testing.T) {
	p := HopPayload{AmountToForward: 10}
	if p.TotalAmount() != 10 {
		t.Fatal("without payment_data total is amt_to_forward")
	}
	p.PaymentData = &PaymentData{TotalAmount: 30}
	if p.TotalAmount() != 30 {
		t.Fatal("payment_data total ignored")
	}
}

func TestDecodeHopPayloadErrors(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want error
		typ  uint64
		off  int
	}{
		{"empty", "", ErrPayloadSize, 0, 0},
		{"one byte", "02", ErrPayloadSize, 0, 0},
		{"missing amount", "040101", ErrMissingField, TypeAmountToForward, 0},
		{"missing expiry", "020101", ErrMissingField, TypeOutgoingExpiry, 0},
		{"amount leading zero", "0202000104010106080000000000000001", ErrNonCanonical, TypeAmountToForward, 0},
		{"amount 9 bytes", "0209010000000000000000040101", ErrBadLength, TypeAmountToForward, 0},
		{"expiry leading zero", "020101040200ff", ErrNonCanonical, TypeOutgoingExpiry, 3},
		{"scid 7 bytes", "020101040101060700000000000000", ErrBadLength, TypeShortChannelID, 6},
		{"payment data short", "020101040101081f" + hex.EncodeToString(make([]byte, 31)), ErrBadLength, TypePaymentData, 6},
		{"payment data total leading zero", "02010104010108220000000000000000000000000000000000000000000000000000000000000000" + "0001", ErrNonCanonical, TypePaymentData, 6},
		{"preimage 31 bytes", "020101040101ff0000000146c6616c1f" + hex.EncodeToString(make([]byte, 31)), ErrBadLength, TypeKeysendPreimage, 6},
		{"unknown even", "0201010401010a00", ErrUnknownEvenType, 10, 6},
		{"out of order", "0401010201010", ErrTLVOrder, TypeAmountToForward, 3},
		{"duplicate", "020101020102040101", ErrTLVOrder, TypeAmountToForward, 3},
		{"truncated value", "0201010405", ErrTruncated, TypeOutgoingExpiry, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.hex
			if len(h)%2 == 1 {
				h += "1"
			}
			b, err := hex.DecodeString(h)
			if err != nil {
				t.Fatal(err)
			}
			_, err = DecodeHopPayload(b)
			var pe *PayloadError
			if !errors.Is(err, tc.want) || !errors.As(err, &pe) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if pe.Type != tc.typ || pe.Offset != tc.off {
				t.Fatalf("located type %d offset %d, want %d %d", pe.Type, pe.Offset, tc.typ, tc.off)
			}
			f := pe.Failure()
			if f.Code != CodeInvalidOnionPayload || f.PayloadType != tc.typ || int(f.PayloadOffset) != tc.off {
				t.Fatalf("failure %+v", f)
			}
		})
	}
	if _, err := DecodeHopPayload(make([]byte, MaxPayloadSize+1)); !errors.Is(err, ErrPayloadSize) {
		t.Errorf("oversize: %v", err)
	}
}

func TestHopPayloadValidate(t *testing.T) {
	pre := [32]byte{1}
	tests := []struct {
		name  string
		p     HopPayload
		final bool
		want  error
		typ   uint64
	}{
		{"intermediate ok", HopPayload{HasShortChannelID: true}, false, nil, 0},
		{"intermediate without scid", HopPayload{}, false, ErrMissingField, TypeShortChannelID},
		{"intermediate with payment data", HopPayload{HasShortChannelID: true, PaymentData: &PaymentData{}}, false, ErrForbiddenField, TypePaymentData},
		{"intermediate with preimage", HopPayload{HasShortChannelID: true, KeysendPreimage: &pre}, false, ErrForbiddenField, TypeKeysendPreimage},
		{"final ok", HopPayload{PaymentData: &PaymentData{}}, true, nil, 0},
		{"final keysend ok", HopPayload{KeysendPreimage: &pre}, true, nil, 0},
		{"final with scid", HopPayload{HasShortChannelID: true}, true, ErrForbiddenField, TypeShortChannelID},
		{"final without secret or preimage", HopPayload{}, true, ErrMissingField, TypePaymentData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate(tc.final)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var pe *PayloadError
			if !errors.Is(err, tc.want) || !errors.As(err, &pe) || pe.Type != tc.typ {
				t.Fatalf("err = %v, want %v on type %d", err, tc.want, tc.typ)
			}
		})
	}
}

func TestHopPayloadEncodeRejects(t *testing.T) {
	for _, u := range []Record{{Type: 10}, {Type: TypeKeysendPreimage}, {Type: TypeShortChannelID}} {
		p := HopPayload{Unknown: []Record{u}}
		if _, err := p.Encode(); err == nil {
			t.Errorf("unknown record type %d accepted", u.Type)
		}
	}
	p := HopPayload{Unknown: []Record{{Type: 9, Value: make([]byte, MaxPayloadSize)}}}
	if _, err := p.Encode(); !errors.Is(err, ErrPayloadSize) {
		t.Errorf("oversize: %v", err)
	}
}
