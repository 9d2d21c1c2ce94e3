package invoice

import (
	"errors"
	"fmt"
	"strings"
)

// bech32 as in BIP 173, without BIP 173's 90-character limit (invoices are
// longer, as in Lightning's BOLT 11). Only the checksum and the character
// set are used; the data part is paymesh's own binary encoding.

const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

var charsetRev = func() (r [128]int8) {
	for i := range r {
		r[i] = -1
	}
	for i, c := range charset {
		r[c] = int8(i)
	}
	return r
}()

// ErrChecksum is returned when the text's bech32 checksum does not match:
// a typo or a truncated paste.
var ErrChecksum = errors.New("invoice: bad checksum (typo or truncated?)")

func polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		b := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range 5 {
			if (b>>i)&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

func hrpExpand(hrp string) []byte {
	out := make([]byte, 0, 2*len(hrp)+1)
	for i := range len(hrp) {
		out = append(out, hrp[i]>>5)
	}
	out = append(out, 0)
	for i := range len(hrp) {
		out = append(out, hrp[i]&31)
	}
	return out
}

func checksum(hrp string, data []byte) []byte {
	values := append(hrpExpand(hrp), data...)
	values = append(values, 0, 0, 0, 0, 0, 0)
	mod := polymod(values) ^ 1
	out := make([]byte, 6)
	for i := range 6 {
		out[i] = byte(mod>>(5*(5-i))) & 31
	}
	return out
}

// bech32Encode encodes 8-bit data under hrp.
func bech32Encode(hrp string, data []byte) string {
	five := convertBits(data, 8, 5, true)
	var sb strings.Builder
	sb.Grow(len(hrp) + 1 + len(five) + 6)
	sb.WriteString(hrp)
	sb.WriteByte('1')
	for _, v := range five {
		sb.WriteByte(charset[v])
	}
	for _, v := range checksum(hrp, five) {
		sb.WriteByte(charset[v])
	}
	return sb.String()
}

// bech32Decode decodes s, checks its checksum and returns hrp and 8-bit data.
func bech32Decode(s string, maxLen int) (string, []byte, error) {
	if len(s) > maxLen {
		return "", nil, fmt.Errorf("%w: %d characters, limit %d", ErrMalformed, len(s), maxLen)
	}
	lower, upper := strings.ToLower(s), strings.ToUpper(s)
	if s != lower && s != upper {
		return "", nil, fmt.Errorf("%w: mixed case", ErrMalformed)
	}
	s = lower
	sep := strings.LastIndexByte(s, '1')
	if sep < 1 || sep+7 > len(s) {
		return "", nil, fmt.Errorf("%w: no separator or too short", ErrMalformed)
	}
	hrp := s[:sep]
	for i := range len(hrp) {
		if hrp[i] < 33 || hrp[i] > 126 {
			return "", nil, fmt.Errorf("%w: bad prefix character", ErrMalformed)
		}
	}
	five := make([]byte, 0, len(s)-sep-1)
	for i := sep + 1; i < len(s); i++ {
		c := s[i]
		if c >= 128 || charsetRev[c] < 0 {
			return "", nil, fmt.Errorf("%w: character %q at %d is not bech32", ErrMalformed, c, i)
		}
		five = append(five, byte(charsetRev[c]))
	}
	if polymod(append(hrpExpand(hrp), five...)) != 1 {
		return "", nil, ErrChecksum
	}
	data, err := convertBitsStrict(five[:len(five)-6])
	if err != nil {
		return "", nil, err
	}
	return hrp, data, nil
}

func convertBits(data []byte, from, to uint, pad bool) []byte {
	var acc uint32
	var bits uint
	maxv := uint32(1)<<to - 1
	out := make([]byte, 0, len(data)*int(from)/int(to)+1)
	for _, v := range data {
		acc = acc<<from | uint32(v)
		bits += from
		for bits >= to {
			bits -= to
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	if pad && bits > 0 {
		out = append(out, byte(acc<<(to-bits)&maxv))
	}
	return out
}

// convertBitsStrict converts 5-bit groups to bytes, refusing non-zero or
// over-long padding so that every byte string has exactly one encoding.
func convertBitsStrict(five []byte) ([]byte, error) {
	var acc uint32
	var bits uint
	out := make([]byte, 0, len(five)*5/8)
	for _, v := range five {
		acc = acc<<5 | uint32(v)
		bits += 5
		if bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>bits))
		}
	}
	if bits >= 5 || acc&(1<<bits-1) != 0 {
		return nil, fmt.Errorf("%w: bad padding", ErrMalformed)
	}
	return out, nil
}
