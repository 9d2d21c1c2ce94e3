package sim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// MaxLineBytes caps the length of one line in a topology or trace file, so
// that a hostile file with a gigabyte line fails fast instead of exhausting
// memory.
const MaxLineBytes = 1 << 20

// ErrMalformed is wrapped by every load error caused by file content.
var ErrMalformed = errors.New("malformed input")

// LoadError locates a problem in an input file.
type LoadError struct {
	// File is the file name as given to the loader.
	File string
	// Line is the 1-based line number, or 0 when the problem is not tied
	// to a line.
	Line int
	// Field names the offending column or key, if any.
	Field string
	// Msg describes the problem.
	Msg string
	// Err is ErrMalformed for content problems, or the read error.
	Err error
}

// Error formats "file:line: field: problem".
func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	if e.Msg != "" {
		b.WriteString(e.Msg)
	} else {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *LoadError) Unwrap() error { return e.Err }

func loadErr(file string, line int, field, f string, a ...any) error {
	return &LoadError{File: file, Line: line, Field: field, Msg: fmt.Sprintf(f, a...), Err: ErrMalformed}
}

// lineReader yields the non-empty lines of a file with their numbers,
// refusing lines longer than MaxLineBytes.
type lineReader struct {
	name string
	sc   *bufio.Scanner
	line int
	err  error
}

func newLineReader(name string, r io.Reader) *lineReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), MaxLineBytes)
	return &lineReader{name: name, sc: sc}
}

// next returns the next non-blank line (trimmed) or ok=false at the end or
// on error (see err).
func (l *lineReader) next() (string, bool) {
	for l.sc.Scan() {
		l.line++
		s := strings.TrimSpace(l.sc.Text())
		if s != "" {
			return s, true
		}
	}
	if err := l.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			l.err = loadErr(l.name, l.line+1, "", "line longer than %d bytes", MaxLineBytes)
		} else {
			l.err = &LoadError{File: l.name, Line: l.line + 1, Err: err}
		}
	}
	return "", false
}

// csvFields splits one line of a plain numeric CSV and checks the column
// count against the header.
func (l *lineReader) csvFields(s string, header []string) ([]string, error) {
	f := strings.Split(s, ",")
	if len(f) != len(header) {
		return nil, loadErr(l.name, l.line, "", "%d columns, header has %d", len(f), len(header))
	}
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return f, nil
}

func (l *lineReader) header(want []string) error {
	s, ok := l.next()
	if !ok {
		if l.err != nil {
			return l.err
		}
		return loadErr(l.name, 0, "", "empty file, want header %q", strings.Join(want, ","))
	}
	got := strings.Split(s, ",")
	if len(got) != len(want) {
		return loadErr(l.name, l.line, "", "header %q, want %q", s, strings.Join(want, ","))
	}
	for i := range got {
		if strings.TrimSpace(got[i]) != want[i] {
			return loadErr(l.name, l.line, "", "header column %d is %q, want %q", i+1, strings.TrimSpace(got[i]), want[i])
		}
	}
	return nil
}

func (l *lineReader) uint(s, field string, maxVal uint64) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		if strings.HasPrefix(s, "-") {
			return 0, loadErr(l.name, l.line, field, "negative value %q", s)
		}
		return 0, loadErr(l.name, l.line, field, "not a non-negative integer: %q", clip(s))
	}
	if v > maxVal {
		return 0, loadErr(l.name, l.line, field, "value %d exceeds %d", v, maxVal)
	}
	return v, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// openFile opens path for a loader, turning OS errors into LoadErrors.
func openFile(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open topology: %w", err)
	}
	return f, nil
}

// ioLimit returns a reader that stops after n bytes.
func ioLimit(r io.Reader, n int64) io.Reader { return io.LimitReader(r, n) }
