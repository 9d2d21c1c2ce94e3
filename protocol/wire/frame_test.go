package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	fw := NewFrameWriter(&buf, 1024)
	frames := [][]byte{{}, []byte("a"), bytes.Repeat([]byte{7}, 1024)}
	for _, f := range frames {
		if err := fw.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Flush(); err != nil {
		t.Fatal(err)
	}
	fr := NewFrameReader(&buf, 1024)
	for i, want := range frames {
		got, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d: got %d bytes, want %d", i, len(got), len(want))
		}
	}
	if _, err := fr.ReadFrame(); !errors.Is(err, io.EOF) {
		t.Fatalf("after last frame: got %v, want EOF", err)
	}
}

func TestFrameErrors(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		want  error
	}{
		{"too large", []byte{0x81, 0x08}, ErrFrameTooLarge}, // 1025
		{"truncated body", []byte{5, 1, 2}, ErrBadFrame},
		{"truncated prefix", []byte{0x80}, ErrBadFrame},
		{"overlong varint", bytes.Repeat([]byte{0xff}, 11), ErrBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewFrameReader(bytes.NewReader(tt.input), 1024).ReadFrame()
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if err := NewFrameWriter(io.Discard, 4).WriteFrame(make([]byte, 5)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("writer: got %v, want ErrFrameTooLarge", err)
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{3, 1, 2, 3, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := NewFrameReader(bytes.NewReader(data), 512)
		for {
			b, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if len(b) > 512 {
				t.Fatalf("frame of %d bytes passed a 512-byte limit", len(b))
			}
		}
	})
}
