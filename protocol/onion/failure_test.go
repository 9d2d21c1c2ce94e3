package onion

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestFailureCodeValues pins the codes to BOLT 4's numbers and flags.
func TestFailureCodeValues(t *testing.T) {
	tests := []struct {
		code            FailureCode
		value           uint16
		name            string
		perm, node, upd bool
		badOnion        bool
	}{
		{CodeInvalidRealm, 0x4001, "invalid_realm", true, false, false, false},
		{CodeTemporaryNodeFailure, 0x2002, "temporary_node_failure", false, true, false, false},
		{CodePermanentNodeFailure, 0x6002, "permanent_node_failure", true, true, false, false},
		{CodeRequiredNodeFeatureMissing, 0x6003, "required_node_feature_missing", true, true, false, false},
		{CodeInvalidOnionVersion, 0xc004, "invalid_onion_version", true, false, false, true},
		{CodeInvalidOnionHMAC, 0xc005, "invalid_onion_hmac", true, false, false, true},
		{CodeInvalidOnionKey, 0xc006, "invalid_onion_key", true, false, false, true},
		{CodeTemporaryChannelFailure, 0x1007, "temporary_channel_failure", false, false, true, false},
		{CodePermanentChannelFailure, 0x4008, "permanent_channel_failure", true, false, false, false},
		{CodeRequiredChannelFeatureMissing, 0x4009, "required_channel_feature_missing", true, false, false, false},
		{CodeUnknownNextPeer, 0x400a, "unknown_next_peer", true, false, false, false},
		{CodeAmountBelowMinimum, 0x100b, "amount_below_minimum", false, false, true, false},
		{CodeFeeInsufficient, 0x100c, "fee_insufficient", false, false, true, false},
		{CodeIncorrectCLTVExpiry, 0x100d, "incorrect_cltv_expiry", false, false, true, false},
		{CodeExpiryTooSoon, 0x100e, "expiry_too_soon", false, false, true, false},
		{CodeIncorrectOrUnknownPaymentDetails, 0x400f, "incorrect_or_unknown_payment_details", true, false, false, false},
		{CodeFinalIncorrectCLTVExpiry, 18, "final_incorrect_cltv_expiry", false, false, false, false},
		{CodeFinalIncorrectHTLCAmount, 19, "final_incorrect_htlc_amount", false, false, false, false},
		{CodeChannelDisabled, 0x1014, "channel_disabled", false, false, true, false},
		{CodeExpiryTooFar, 21, "expiry_too_far", false, false, false, false},
		{CodeInvalidOnionPayload, 0x4016, "invalid_onion_payload", true, false, false, false},
		{CodeMPPTimeout, 23, "mpp_timeout", false, false, false, false},
		{CodeInvalidOnionBlinding, 0xc018, "invalid_onion_blinding", true, false, false, true},
	}
	for _, tc := range tests {
		c := tc.code
		if uint16(c) != tc.value || c.String() != tc.name || c.IsPermanent() != tc.perm ||
			c.IsNode() != tc.node || c.HasUpdate() != tc.upd || c.IsBadOnion() != tc.badOnion {
			t.Errorf("%s: value %#04x perm %v node %v update %v badonion %v", tc.name, uint16(c),
				c.IsPermanent(), c.IsNode(), c.HasUpdate(), c.IsBadOnion())
		}
	}
	if s := FailureCode(0x1234).String(); s != "failure_code(0x1234)" {
		t.Errorf("unknown code string %q", s)
	}
}

func TestFailureMessageEncoding(t *testing.T) {
	upd := []byte{0xaa, 0xbb, 0xcc}
	var h [32]byte
	h[0], h[31] = 0x11, 0x22
	tests := []struct {
		name string
		msg  FailureMessage
		hex  string
	}{
		{"temporary_node_failure", FailureMessage{Code: CodeTemporaryNodeFailure}, "2002"},
		{"unknown_next_peer", FailureMessage{Code: CodeUnknownNextPeer}, "400a"},
		{"mpp_timeout", FailureMessage{Code: CodeMPPTimeout}, "0017"},
		{"permanent_channel_failure", FailureMessage{Code: CodePermanentChannelFailure}, "4008"},
		{"invalid_onion_hmac", FailureMessage{Code: CodeInvalidOnionHMAC, OnionSHA256: h},
			"c005" + "11" + hex.EncodeToString(make([]byte, 30)) + "22"},
		{"temporary_channel_failure", FailureMessage{Code: CodeTemporaryChannelFailure, ChannelUpdate: upd}, "10070003aabbcc"},
		{"temporary_channel_failure no update", FailureMessage{Code: CodeTemporaryChannelFailure, ChannelUpdate: []byte{}}, "10070000"},
		{"amount_below_minimum", FailureMessage{Code: CodeAmountBelowMinimum, HTLCAmount: 1000, ChannelUpdate: upd},
			"100b00000000000003e80003aabbcc"},
		{"fee_insufficient", FailureMessage{Code: CodeFeeInsufficient, HTLCAmount: 5, ChannelUpdate: upd},
			"100c00000000000000050003aabbcc"},
		{"incorrect_cltv_expiry", FailureMessage{Code: CodeIncorrectCLTVExpiry, Expiry: 1_767_225_600, ChannelUpdate: upd},
			"100d6955b9000003aabbcc"},
		{"expiry_too_soon", FailureMessage{Code: CodeExpiryTooSoon, ChannelUpdate: upd}, "100e0003aabbcc"},
		{"incorrect_or_unknown_payment_details", FailureMessage{Code: CodeIncorrectOrUnknownPaymentDetails, HTLCAmount: 100, Height: 800000},
			"400f0000000000000064000c3500"},
		{"final_incorrect_cltv_expiry", FailureMessage{Code: CodeFinalIncorrectCLTVExpiry, Expiry: 7}, "001200000007"},
		{"final_incorrect_htlc_amount", FailureMessage{Code: CodeFinalIncorrectHTLCAmount, HTLCAmount: 7}, "00130000000000000007"},
		{"channel_disabled", FailureMessage{Code: CodeChannelDisabled, DisabledFlags: 0, ChannelUpdate: upd}, "101400000003aabbcc"},
		{"invalid_onion_payload", FailureMessage{Code: CodeInvalidOnionPayload, PayloadType: 5482373484, PayloadOffset: 6},
			"4016ff0000000146c6616c0006"},
		{"with tlv extension", FailureMessage{Code: CodeUnknownNextPeer, Extra: []byte{0x01, 0x01, 0xff}}, "400a0101ff"},
		{"unknown code keeps body", FailureMessage{Code: 0x0777, Extra: []byte{1, 2, 3}}, "0777010203"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.msg.Encode()
			if got := hex.EncodeToString(b); got != tc.hex {
				t.Fatalf("encoded %s, want %s", got, tc.hex)
			}
			got, err := DecodeFailureMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.msg) {
				t.Fatalf("decoded %+v, want %+v", *got, tc.msg)
			}
		})
	}
}

func TestDecodeFailureMessageTruncated(t *testing.T) {
	for _, h := range []string{
		"", "20",
		"c005" + "0011",                    // sha256 short
		"1007", "100700", "10070004aabbcc", // update length past end
		"100b000000",                 // amount short
		"100d0000",                   // expiry short
		"400f0000000000000064000c35", // height short
		"1014",                       // flags missing
		"4016", "4016fd00",           // type missing / truncated
		"4016fd0001", // type non-canonical
		"401602",     // offset missing
	} {
		b, _ := hex.DecodeString(h)
		if _, err := DecodeFailureMessage(b); !errors.Is(err, ErrMalformedFailure) {
			t.Errorf("%q: err = %v", h, err)
		}
	}
}

func TestBadOnionFailure(t *testing.T) {
	onion := bytes.Repeat([]byte{1}, PacketSize)
	for _, err := range []error{ErrInvalidVersion, ErrInvalidKey, ErrInvalidHMAC} {
		code, ok := BadOnionCode(err)
		if !ok {
			t.Fatalf("%v not mapped", err)
		}
		m := NewBadOnionFailure(code, onion)
		d, derr := DecodeFailureMessage(m.Encode())
		if derr != nil || d.OnionSHA256 != m.OnionSHA256 || d.Code != code {
			t.Fatalf("%v: %+v %v", err, d, derr)
		}
	}
	if _, ok := BadOnionCode(ErrInvalidPayload); ok {
		t.Fatal("ErrInvalidPayload mapped to BADONION")
	}
}

// route5 returns five random shared secrets standing for a route's.
func route5(seed uint64) []SharedSecret {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	s := make([]SharedSecret, 5)
	for i := range s {
		for j := range s[i] {
			s[i][j] = byte(rng.Uint32())
		}
	}
	return s
}

// backward sends a failure from hop erring back to the origin.
func backward(t *testing.T, secrets []SharedSecret, erring int, failure []byte) []byte {
	t.Helper()
	p, err := NewErrorPacket(secrets[erring], failure)
	if err != nil {
		t.Fatal(err)
	}
	for i := erring - 1; i >= 0; i-- {
		p = WrapError(secrets[i], p)
	}
	return p
}

// TestDecryptErrorAttribution fails the payment at each hop in turn and
// checks that the origin names that hop and reads its message.
func TestDecryptErrorAttribution(t *testing.T) {
	secrets := route5(1)
	msgs := []FailureMessage{
		{Code: CodeTemporaryChannelFailure, ChannelUpdate: []byte{1}},
		{Code: CodeFeeInsufficient, HTLCAmount: 99, ChannelUpdate: []byte{}},
		{Code: CodeUnknownNextPeer},
		{Code: CodeExpiryTooSoon, ChannelUpdate: []byte{}},
		{Code: CodeIncorrectOrUnknownPaymentDetails, HTLCAmount: 5, Height: 6},
	}
	for erring := range secrets {
		p := backward(t, secrets, erring, msgs[erring].Encode())
		if len(p) != HMACSize+4+DefaultFailurePadding {
			t.Fatalf("packet of %d bytes, want %d", len(p), HMACSize+4+DefaultFailurePadding)
		}
		idx, msg, err := DecryptError(secrets, p)
		if err != nil {
			t.Fatalf("erring %d: %v", erring, err)
		}
		if idx != erring || !reflect.DeepEqual(*msg, msgs[erring]) {
			t.Fatalf("erring %d: got hop %d %+v", erring, idx, msg)
		}
	}
}

func TestDecryptErrorRejects(t *testing.T) {
	secrets := route5(2)
	good := backward(t, secrets, 3, (&FailureMessage{Code: CodeMPPTimeout}).Encode())

	tampered := append([]byte(nil), good...)
	tampered[100] ^= 1
	if idx, _, err := DecryptError(secrets, tampered); !errors.Is(err, ErrUnattributable) || idx != -1 {
		t.Errorf("tampered: %d %v", idx, err)
	}
	// The wrong route's secrets attribute nothing.
	if _, _, err := DecryptError(route5(3), good); !errors.Is(err, ErrUnattributable) {
		t.Errorf("other route: %v", err)
	}
	// A hop skipping its wrap breaks attribution rather than misattributing.
	skipped := backward(t, secrets[1:], 2, (&FailureMessage{Code: CodeMPPTimeout}).Encode())
	if idx, _, err := DecryptError(secrets, skipped); err == nil && idx == 3 {
		t.Errorf("packet missing hop 0's layer attributed to hop 3")
	}
	for _, n := range []int{0, 10, HMACSize + 5} {
		if _, _, err := DecryptError(secrets, make([]byte, n)); !errors.Is(err, ErrErrorPacketSize) {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
	// Authenticated but malformed: attributed, with ErrMalformedFailure.
	p, err := NewErrorPacket(secrets[2], []byte{0x10, 0x07, 0x00}) // update length cut
	if err != nil {
		t.Fatal(err)
	}
	p = WrapError(secrets[1], p)
	p = WrapError(secrets[0], p)
	idx, msg, err := DecryptError(secrets, p)
	if idx != 2 || msg != nil || !errors.Is(err, ErrMalformedFailure) {
		t.Errorf("malformed: %d %v %v", idx, msg, err)
	}
}

func TestNewErrorPacketPadding(t *testing.T) {
	var ss SharedSecret
	tests := []struct {
		name    string
		msgLen  int
		total   int
		wantLen int
		ok      bool
	}{
		{"default", 2, DefaultFailurePadding, HMACSize + 4 + 256, true},
		{"long message", 300, 300, HMACSize + 4 + 300, true},
		{"trace size", 320, 1024, HMACSize + 4 + 1024, true},
		{"below 256", 2, 255, 0, false},
		{"below message", 300, 299, 0, false},
		{"empty message", 0, 256, 0, false},
		{"over u16", 2, 0x10000, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := make([]byte, tc.msgLen)
			if tc.msgLen >= 2 {
				msg[1] = 0x17
			}
			p, err := NewErrorPacketPadded(ss, msg, tc.total)
			if !tc.ok {
				if !errors.Is(err, ErrErrorPacketSize) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || len(p) != tc.wantLen {
				t.Fatalf("len %d err %v", len(p), err)
			}
			idx, _, err := DecryptError([]SharedSecret{ss}, p)
			if idx != 0 {
				t.Fatalf("not attributed: %v", err)
			}
		})
	}
	// NewErrorPacket pads a long message to its own length.
	long := make([]byte, 400)
	p, err := NewErrorPacket(ss, long)
	if err != nil || len(p) != HMACSize+4+400 {
		t.Fatalf("long: %d %v", len(p), err)
	}
}
