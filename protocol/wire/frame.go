package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
)

// ErrFrameTooLarge is returned when a frame's length prefix exceeds the
// reader's or writer's limit.
var ErrFrameTooLarge = errors.New("wire: frame too large")

// ErrBadFrame is returned for a frame whose length prefix or body is garbled.
var ErrBadFrame = errors.New("wire: malformed frame")

// FrameReader reads unsigned-varint length-prefixed protobuf messages with a
// size cap. It is the decoder for every stream protocol; its buffer is reused
// between frames.
type FrameReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// NewFrameReader returns a FrameReader over r that refuses frames longer
// than max bytes.
func NewFrameReader(r io.Reader, max int) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 4096), max: max}
}

// ReadFrame reads the next frame's raw bytes. The returned slice is valid
// until the next call.
func (fr *FrameReader) ReadFrame() ([]byte, error) {
	n, err := fr.readLength()
	if err != nil {
		return nil, err
	}
	if n > uint64(fr.max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, fr.max)
	}
	if cap(fr.buf) < int(n) {
		fr.buf = make([]byte, n)
	}
	fr.buf = fr.buf[:n]
	if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated body (%d bytes announced)", ErrBadFrame, n)
		}
		return nil, err
	}
	return fr.buf, nil
}

// readLength reads the unsigned-varint length prefix. I/O errors pass
// through unchanged (io.EOF before the first byte); a prefix cut short or
// longer than ten bytes is ErrBadFrame.
func (fr *FrameReader) readLength() (uint64, error) {
	var x uint64
	for i := range binary.MaxVarintLen64 {
		b, err := fr.r.ReadByte()
		if err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				return 0, fmt.Errorf("%w: truncated length prefix", ErrBadFrame)
			}
			return 0, err
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break
			}
			return x | uint64(b)<<(7*i), nil
		}
		x |= uint64(b&0x7f) << (7 * i)
	}
	return 0, fmt.Errorf("%w: length prefix overflows 64 bits", ErrBadFrame)
}

// ReadMsg reads the next frame and unmarshals it into m.
func (fr *FrameReader) ReadMsg(m proto.Message) error {
	b, err := fr.ReadFrame()
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	return nil
}

// FrameWriter writes unsigned-varint length-prefixed protobuf messages. It
// buffers; call Flush to push the frames to the underlying writer.
type FrameWriter struct {
	w   *bufio.Writer
	max int
	buf []byte
}

// NewFrameWriter returns a FrameWriter over w that refuses to write frames
// longer than max bytes.
func NewFrameWriter(w io.Writer, max int) *FrameWriter {
	return &FrameWriter{w: bufio.NewWriterSize(w, 16<<10), max: max}
}

// WriteFrame writes b as one frame, buffered.
func (fw *FrameWriter) WriteFrame(b []byte) error {
	if len(b) > fw.max {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(b), fw.max)
	}
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := fw.w.Write(hdr[:n]); err != nil {
		return err
	}
	_, err := fw.w.Write(b)
	return err
}

// WriteMsg marshals m and writes it as one frame, buffered.
func (fw *FrameWriter) WriteMsg(m proto.Message) error {
	b, err := proto.MarshalOptions{}.MarshalAppend(fw.buf[:0], m)
	if err != nil {
		return fmt.Errorf("wire: marshal: %w", err)
	}
	fw.buf = b
	return fw.WriteFrame(b)
}

// Flush writes any buffered frames to the underlying writer.
func (fw *FrameWriter) Flush() error { return fw.w.Flush() }
