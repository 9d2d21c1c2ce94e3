package onion

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// Errors returned by the BigSize and TLV decoders. They are wrapped with the
// offending type and byte offset (see PayloadError) when they come from a hop
// payload.
var (
	// ErrTruncated means the input ended inside a BigSize, a length or a value.
	ErrTruncated = errors.New("onion: truncated input")
	// ErrNonCanonical means a BigSize or a truncated integer (tu64) was not
	// minimally encoded, which BOLT 1 requires readers to reject.
	ErrNonCanonical = errors.New("onion: non-canonical encoding")
	// ErrTLVOrder means TLV record types were not strictly increasing.
	ErrTLVOrder = errors.New("onion: tlv types not strictly increasing")
	// ErrUnknownEvenType means a TLV stream carried an even type the reader
	// does not understand ("it's OK to be odd").
	ErrUnknownEvenType = errors.New("onion: unknown even tlv type")
	// ErrBadLength means a known TLV record had a length its type forbids.
	ErrBadLength = errors.New("onion: bad tlv record length")
)

// BigSizeLen returns how many bytes the BOLT 1 BigSize encoding of v takes.
func BigSizeLen(v uint64) int {
	switch {
	case v < 0xfd:
		return 1
	case v <= 0xffff:
		return 3
	case v <= 0xffffffff:
		return 5
	default:
		return 9
	}
}

// AppendBigSize appends the BOLT 1 BigSize (minimal, big-endian) encoding of v.
func AppendBigSize(b []byte, v uint64) []byte {
	switch {
	case v < 0xfd:
		return append(b, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 0xfd), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, 0xfe), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xff), v)
	}
}

// ReadBigSize decodes a BigSize from the front of b and returns the value and
// the number of bytes it used. Non-minimal encodings are rejected with
// ErrNonCanonical, short input with ErrTruncated.
func ReadBigSize(b []byte) (uint64, int, error) {
	if len(b) == 0 {
		return 0, 0, ErrTruncated
	}
	switch b[0] {
	case 0xfd:
		if len(b) < 3 {
			return 0, 0, ErrTruncated
		}
		v := uint64(binary.BigEndian.Uint16(b[1:3]))
		if v < 0xfd {
			return 0, 0, ErrNonCanonical
		}
		return v, 3, nil
	case 0xfe:
		if len(b) < 5 {
			return 0, 0, ErrTruncated
		}
		v := uint64(binary.BigEndian.Uint32(b[1:5]))
		if v <= 0xffff {
			return 0, 0, ErrNonCanonical
		}
		return v, 5, nil
	case 0xff:
		if len(b) < 9 {
			return 0, 0, ErrTruncated
		}
		v := binary.BigEndian.Uint64(b[1:9])
		if v <= 0xffffffff {
			return 0, 0, ErrNonCanonical
		}
		return v, 9, nil
	default:
		return uint64(b[0]), 1, nil
	}
}

// TU64Len returns the length of the BOLT 1 truncated encoding of v (tu64):
// big-endian with all leading zero bytes removed, so 0 takes no bytes.
func TU64Len(v uint64) int {
	return (bits.Len64(v) + 7) / 8
}

// AppendTU64 appends the truncated (tu64) encoding of v.
func AppendTU64(b []byte, v uint64) []byte {
	for i := TU64Len(v) - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*uint(i))))
	}
	return b
}

// ReadTU64 decodes a whole slice as a tu64: at most 8 bytes, no leading zero.
func ReadTU64(b []byte) (uint64, error) {
	if len(b) > 8 {
		return 0, fmt.Errorf("tu64 of %d bytes: %w", len(b), ErrBadLength)
	}
	if len(b) > 0 && b[0] == 0 {
		return 0, ErrNonCanonical
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

// Record is one TLV record: a type and its raw value.
type Record struct {
	// Type is the record's BigSize type.
	Type uint64
	// Value is the record's value, without the type and length prefixes.
	Value []byte
}

// AppendRecord appends one TLV record (BigSize type, BigSize length, value).
func AppendRecord(b []byte, typ uint64, value []byte) []byte {
	b = AppendBigSize(b, typ)
	b = AppendBigSize(b, uint64(len(value)))
	return append(b, value...)
}

// EncodeTLV serializes records, which must be in strictly increasing type
// order (ErrTLVOrder otherwise).
func EncodeTLV(records []Record) ([]byte, error) {
	var out []byte
	for i, r := range records {
		if i > 0 && r.Type <= records[i-1].Type {
			return nil, fmt.Errorf("record %d type %d: %w", i, r.Type, ErrTLVOrder)
		}
		out = AppendRecord(out, r.Type, r.Value)
	}
	return out, nil
}

// TLVError locates a TLV decoding failure: the record type (when it was read)
// and the byte offset of the record in the stream. It is the information
// BOLT 4's invalid_onion_payload failure carries.
type TLVError struct {
	// Type is the type of the offending record, or 0 when it could not be read.
	Type uint64
	// Offset is the byte offset of the offending record in the stream.
	Offset int
	// Err is the underlying cause (ErrTruncated, ErrTLVOrder, ...).
	Err error
}

// Error implements error.
func (e *TLVError) Error() string {
	return fmt.Sprintf("tlv record type %d at offset %d: %v", e.Type, e.Offset, e.Err)
}

// Unwrap returns the cause so that errors.Is works with the sentinels.
func (e *TLVError) Unwrap() error { return e.Err }

// DecodeTLV parses a TLV stream as BOLT 1 defines it: BigSize types and
// lengths, minimally encoded, types strictly increasing, values within the
// input. The returned records alias b. known reports whether the reader
// understands a type; a record of unknown even type fails the stream with
// ErrUnknownEvenType and unknown odd records are returned like the others
// (callers skip them). known may be nil, meaning every type is known.
func DecodeTLV(b []byte, known func(uint64) bool) ([]Record, error) {
	var (
		records []Record
		off     int
		prev    uint64
	)
	for off < len(b) {
		start := off
		typ, n, err := ReadBigSize(b[off:])
		if err != nil {
			return nil, &TLVError{Offset: start, Err: err}
		}
		off += n
		if len(records) > 0 && typ <= prev {
			return nil, &TLVError{Type: typ, Offset: start, Err: ErrTLVOrder}
		}
		length, n, err := ReadBigSize(b[off:])
		if err != nil {
			return nil, &TLVError{Type: typ, Offset: start, Err: err}
		}
		off += n
		if length > uint64(len(b)-off) {
			return nil, &TLVError{Type: typ, Offset: start, Err: ErrTruncated}
		}
		if typ%2 == 0 && known != nil && !known(typ) {
			return nil, &TLVError{Type: typ, Offset: start, Err: ErrUnknownEvenType}
		}
		records = append(records, Record{Type: typ, Value: b[off : off+int(length)]})
		off += int(length)
		prev = typ
	}
	return records, nil
}
