package onion

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// TestBigSize uses BOLT 1's BigSize test vectors (Appendix A).
func TestBigSize(t *testing.T) {
	good := []struct {
		v   uint64
		hex string
	}{
		{0, "00"},
		{252, "fc"},
		{253, "fd00fd"},
		{65535, "fdffff"},
		{65536, "fe00010000"},
		{4294967295, "feffffffff"},
		{4294967296, "ff0000000100000000"},
		{18446744073709551615, "ffffffffffffffffff"},
	}
	for _, tc := range good {
		if got := hex.EncodeToString(AppendBigSize(nil, tc.v)); got != tc.hex {
			t.Errorf("encode %d = %s, want %s", tc.v, got, tc.hex)
		}
		if BigSizeLen(tc.v) != len(tc.hex)/2 {
			t.Errorf("BigSizeLen(%d) = %d", tc.v, BigSizeLen(tc.v))
		}
		b, _ := hex.DecodeString(tc.hex + "aa") // trailing byte must be left alone
		v, n, err := ReadBigSize(b)
		if err != nil || v != tc.v || n != len(b)-1 {
			t.Errorf("decode %s = %d, %d, %v", tc.hex, v, n, err)
		}
	}
	bad := []struct {
		hex  string
		want error
	}{
		{"fd00fc", ErrNonCanonical},
		{"fe0000ffff", ErrNonCanonical},
		{"ff00000000ffffffff", ErrNonCanonical},
		{"fd00", ErrTruncated},
		{"feffff", ErrTruncated},
		{"ffffffffff", ErrTruncated},
		{"", ErrTruncated},
		{"fd", ErrTruncated},
		{"fe", ErrTruncated},
		{"ff", ErrTruncated},
	}
	for _, tc := range bad {
		b, _ := hex.DecodeString(tc.hex)
		if _, _, err := ReadBigSize(b); !errors.Is(err, tc.want) {
			t.Errorf("decode %q: err = %v, want %v", tc.hex, err, tc.want)
		}
	}
}

func TestTU64(t *testing.T) {
	tests := []struct {
		v   uint64
		hex string
	}{
		{0, ""},
		{1, "01"},
		{255, "ff"},
		{256, "0100"},
		{1 << 32, "0100000000"},
		{1<<64 - 1, "ffffffffffffffff"},
	}
	for _, tc := range tests {
		got := AppendTU64(nil, tc.v)
		if hex.EncodeToString(got) != tc.hex || TU64Len(tc.v) != len(got) {
			t.Errorf("tu64 %d = %x", tc.v, got)
		}
		v, err := ReadTU64(got)
		if err != nil || v != tc.v {
			t.Errorf("read %x = %d, %v", got, v, err)
		}
	}
	if _, err := ReadTU64([]byte{0x00}); !errors.Is(err, ErrNonCanonical) {
		t.Errorf("leading zero: %v", err)
	}
	if _, err := ReadTU64([]byte{0x00, 0x01}); !errors.Is(err, ErrNonCanonical) {
		t.Errorf("leading zero: %v", err)
	}
	if _, err := ReadTU64(make([]byte, 9)); !errors.Is(err, ErrBadLength) {
		t.Errorf("9 bytes: %v", err)
	}
}

func TestDecodeTLV(t *testing.T) {
	knownEven := func(t uint64) bool { return t == 2 }
	tests := []struct {
		name    string
		hex     string
		want    []Record
		wantErr error
		errType uint64
		errOff  int
	}{
		{"empty", "", nil, nil, 0, 0},
		{"one", "0201aa", []Record{{2, []byte{0xaa}}}, nil, 0, 0},
		{"unknown odd kept", "0201aa0300", []Record{{2, []byte{0xaa}}, {3, []byte{}}}, nil, 0, 0},
		{"unknown even", "0201aa0400", nil, ErrUnknownEvenType, 4, 3},
		{"duplicate", "0201aa0201bb", nil, ErrTLVOrder, 2, 3},
		{"decreasing", "03000201aa", nil, ErrTLVOrder, 2, 2},
		{"value past end", "0202aa", nil, ErrTruncated, 2, 0},
		{"missing length", "02", nil, ErrTruncated, 2, 0},
		{"non-canonical type", "fd000100", nil, ErrNonCanonical, 0, 0},
		{"non-canonical length", "02fd0001aa", nil, ErrNonCanonical, 2, 0},
		{"huge length", "02ffffffffffffffffff", nil, ErrTruncated, 2, 0},
		{"big odd type", "ff00000001000000010101", []Record{{1<<32 + 1, []byte{1}}}, nil, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tc.hex)
			got, err := DecodeTLV(b, knownEven)
			if tc.wantErr != nil {
				var te *TLVError
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &te) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if te.Type != tc.errType || te.Offset != tc.errOff {
					t.Fatalf("located at type %d offset %d, want %d %d", te.Type, te.Offset, tc.errType, tc.errOff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d records, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if got[i].Type != tc.want[i].Type || !bytes.Equal(got[i].Value, tc.want[i].Value) {
					t.Errorf("record %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			enc, err := EncodeTLV(got)
			if err != nil || !bytes.Equal(enc, b) {
				t.Errorf("re-encode = %x, %v", enc, err)
			}
		})
	}
	if _, err := EncodeTLV([]Record{{3, nil}, {3, nil}}); !errors.Is(err, ErrTLVOrder) {
		t.Errorf("EncodeTLV duplicate: %v", err)
	}
}
