package routing

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Snapshot formats understood by the loaders.
const (
	FormatLND    = "lnd-describegraph"
	FormatCLN    = "cln-listchannels"
	FormatExport = "paymesh-graph"
)

// ErrMalformed is wrapped by every loader error caused by bad input.
var ErrMalformed = errors.New("routing: malformed graph file")

// LoadOptions bounds and tunes a load. The zero value is usable.
type LoadOptions struct {
	// MaxElementBytes caps the encoded size of one array element or token
	// (a node, a channel, a half-channel); default 1 MiB.
	MaxElementBytes int64
	// MaxBytes caps the total (decompressed) input; default 4 GiB.
	MaxBytes int64
	// MaxChannels caps the number of channel records; default 10,000,000.
	MaxChannels int
	// MaxNodes caps the number of nodes; default 10,000,000.
	MaxNodes int
	// MaxSkipDetails caps LoadReport.Details; default 100.
	MaxSkipDetails int
	// KeepDisabled loads channels none of whose directions is usable
	// (instead of skipping them as SkipDisabled).
	KeepDisabled bool
	// Strict turns the first skipped malformed record into an error.
	Strict bool
}

func (o *LoadOptions) defaults() {
	if o.MaxElementBytes <= 0 {
		o.MaxElementBytes = 1 << 20
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 4 << 30
	}
	if o.MaxChannels <= 0 {
		o.MaxChannels = 10_000_000
	}
	if o.MaxNodes <= 0 {
		o.MaxNodes = 10_000_000
	}
	if o.MaxSkipDetails <= 0 {
		o.MaxSkipDetails = 100
	}
}

// SkipReason says why a record was not loaded.
type SkipReason string

// Reasons a loader skips a record.
const (
	// SkipDisabled: no direction of the channel is announced and enabled.
	SkipDisabled SkipReason = "disabled"
	// SkipZeroCapacity: the channel has no capacity.
	SkipZeroCapacity SkipReason = "zero capacity"
	// SkipMalformed: a field is missing, of the wrong type or out of range.
	SkipMalformed SkipReason = "malformed"
	// SkipDuplicate: the same channel (direction) appeared twice; the first
	// one is kept.
	SkipDuplicate SkipReason = "duplicate"
	// SkipSelfLoop: both ends are the same node.
	SkipSelfLoop SkipReason = "self loop"
)

// SkipDetail describes one skipped record.
type SkipDetail struct {
	// Array and Index locate the record ("edges", 17).
	Array string
	Index int
	// Offset is the input byte offset (decompressed) just after the record,
	// or -1 when the record was merged from several (Core Lightning halves;
	// Index is then the first half's index).
	Offset int64
	// Line is the 1-based input line where the record ends (0 if unknown,
	// as for merged records).
	Line    int64
	Channel string
	Reason  SkipReason
	Detail  string
}

// LoadReport says what a loader read and what it skipped and why.
type LoadReport struct {
	Format   string
	Nodes    int
	Channels int
	// Records is the number of channel records read (half-channels for
	// Core Lightning).
	Records int
	// DisabledDirections counts loaded channel directions marked disabled.
	DisabledDirections int
	// Skipped counts skipped records by reason.
	Skipped map[SkipReason]int
	// Details lists the first LoadOptions.MaxSkipDetails skipped records.
	Details []SkipDetail
}

// TotalSkipped returns the number of skipped records.
func (r *LoadReport) TotalSkipped() int {
	n := 0
	for _, c := range r.Skipped {
		n += c
	}
	return n
}

// String summarises the report in one line.
func (r *LoadReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d nodes, %d channels from %d records", r.Format, r.Nodes, r.Channels, r.Records)
	if r.DisabledDirections > 0 {
		fmt.Fprintf(&b, ", %d disabled directions", r.DisabledDirections)
	}
	reasons := make([]string, 0, len(r.Skipped))
	for k := range r.Skipped {
		reasons = append(reasons, string(k))
	}
	sort.Strings(reasons)
	for _, k := range reasons {
		fmt.Fprintf(&b, ", skipped %d %s", r.Skipped[SkipReason(k)], k)
	}
	return b.String()
}

// capReader enforces MaxBytes overall and MaxElementBytes per element (the
// loader calls arm before decoding each element), and counts lines so that
// errors can name one: it keeps the last tailSize bytes read, enough to
// count back from what it has read to where the decoder is.
type capReader struct {
	r       io.Reader
	total   int64
	max     int64
	budget  int64
	perElem int64
	lines   int64 // newlines in the first total bytes
	tail    [tailSize]byte
}

const tailSize = 64 << 10

var errElementTooLarge = errors.New("element too large")

func (c *capReader) arm() { c.budget = c.perElem }

func (c *capReader) Read(p []byte) (int, error) {
	if c.budget <= 0 {
		return 0, fmt.Errorf("%w: %w (cap %d bytes)", ErrMalformed, errElementTooLarge, c.perElem)
	}
	if c.total >= c.max {
		return 0, fmt.Errorf("%w: input larger than %d bytes", ErrMalformed, c.max)
	}
	if int64(len(p)) > c.budget {
		p = p[:c.budget]
	}
	if int64(len(p)) > c.max-c.total {
		p = p[:c.max-c.total]
	}
	n, err := c.r.Read(p)
	c.lines += int64(bytes.Count(p[:n], []byte{'\n'}))
	for i := 0; i < n; {
		k := copy(c.tail[(c.total+int64(i))%tailSize:], p[i:n])
		i += k
	}
	c.total += int64(n)
	c.budget -= int64(n)
	return n, err
}

// skipSpace advances off over JSON whitespace and separators still in the
// kept tail.
func (c *capReader) skipSpace(off int64) int64 {
	for off < c.total && c.total-off <= tailSize {
		switch c.tail[off%tailSize] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

// line returns the 1-based line holding byte offset off, or 0 if off is
// no longer in the kept tail.
func (c *capReader) line(off int64) int64 {
	if off > c.total || c.total-off > tailSize {
		return 0
	}
	after := int64(0)
	for i := off; i < c.total; i++ {
		if c.tail[i%tailSize] == '\n' {
			after++
		}
	}
	return c.lines - after + 1
}

// loader is the streaming JSON machinery shared by the three formats.
type loader struct {
	dec    *json.Decoder
	cr     *capReader
	opts   LoadOptions
	report LoadReport
	tx     *Tx
	seen   map[ChannelID]struct{}
	// merged is set while adding channels assembled from several records
	// (Core Lightning halves): offsets no longer point at one record.
	merged bool
}

// openInput transparently gunzips r when it starts with the gzip magic.
func openInput(r io.Reader) (io.Reader, func() error, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("read: %w", err)
	}
	if bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: gzip: %w", ErrMalformed, err)
		}
		return zr, zr.Close, nil
	}
	return br, func() error { return nil }, nil
}

func newLoader(r io.Reader, opts LoadOptions, format string, tx *Tx) *loader {
	opts.defaults()
	cr := &capReader{r: r, max: opts.MaxBytes, perElem: opts.MaxElementBytes}
	cr.arm()
	dec := json.NewDecoder(cr)
	dec.UseNumber()
	return &loader{dec: dec, cr: cr, opts: opts, tx: tx, seen: map[ChannelID]struct{}{},
		report: LoadReport{Format: format, Skipped: map[SkipReason]int{}}}
}

// syntaxErr wraps a decoder failure with the position.
func (l *loader) syntaxErr(where string, err error) error {
	if errors.Is(err, ErrMalformed) {
		return fmt.Errorf("%s: %w", where, err)
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	// The decoder stops before the separator; point at the next token.
	off := l.cr.skipSpace(l.dec.InputOffset())
	return fmt.Errorf("%w: %s at line %d (byte %d): %w", ErrMalformed, where, l.cr.line(off), off, err)
}

func (l *loader) token(where string) (json.Token, error) {
	l.cr.arm()
	t, err := l.dec.Token()
	if err != nil {
		return nil, l.syntaxErr(where, err)
	}
	return t, nil
}

// object iterates the keys of a JSON object; fn must consume each value.
func (l *loader) object(where string, fn func(key string) error) error {
	t, err := l.token(where)
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("%w: %s: expected an object, got %v", ErrMalformed, where, t)
	}
	for l.dec.More() {
		t, err := l.token(where)
		if err != nil {
			return err
		}
		key, _ := t.(string)
		if err := fn(key); err != nil {
			return err
		}
	}
	_, err = l.token(where)
	return err
}

// array iterates the elements of a JSON array (null is an empty array); fn
// must decode exactly one element with l.decode.
func (l *loader) array(field string, fn func(i int) error) error {
	t, err := l.token(field)
	if err != nil {
		return err
	}
	if t == nil {
		return nil
	}
	if d, ok := t.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("%w: field %q: expected an array, got %v", ErrMalformed, field, t)
	}
	for i := 0; l.dec.More(); i++ {
		l.cr.arm()
		if err := fn(i); err != nil {
			return err
		}
	}
	_, err = l.token(field)
	return err
}

// decode decodes one element into v. A syntax error is fatal; a type
// mismatch inside a well-formed element is returned as a field error
// (errField) so the caller can skip the element.
func (l *loader) decode(field string, i int, v any) (fieldErr error, fatal error) {
	err := l.dec.Decode(v)
	if err == nil {
		return nil, nil
	}
	var te *json.UnmarshalTypeError
	var fe *fieldError
	if errors.As(err, &te) {
		return fmt.Errorf("field %q: %s value where %s expected", te.Field, te.Value, te.Type), nil
	}
	if errors.As(err, &fe) {
		return fe, nil
	}
	return nil, l.syntaxErr(fmt.Sprintf("%s[%d]", field, i), err)
}

// skipValue consumes one value token by token, so that an unknown field of
// any size costs bounded memory.
func (l *loader) skipValue(where string) error {
	depth := 0
	for {
		t, err := l.token(where)
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// skip records a skipped record; ch names its channel (formatted with
// fmt.Sprint only when kept in Details, to keep the load loop cheap).
func (l *loader) skip(array string, i int, ch any, reason SkipReason, detail string) error {
	l.report.Skipped[reason]++
	if len(l.report.Details) < l.opts.MaxSkipDetails {
		off, line := l.dec.InputOffset(), int64(0)
		if l.merged {
			off = -1
		} else {
			line = l.cr.line(off)
		}
		l.report.Details = append(l.report.Details, SkipDetail{Array: array, Index: i, Offset: off, Line: line, Channel: fmt.Sprint(ch), Reason: reason, Detail: detail})
	}
	if l.opts.Strict && reason == SkipMalformed {
		return fmt.Errorf("%w: %s[%d] (channel %q, line %d): %s", ErrMalformed, array, i, fmt.Sprint(ch), l.cr.line(l.dec.InputOffset()), detail)
	}
	return nil
}

// addChannel applies the skip rules shared by all formats and upserts c.
func (l *loader) addChannel(array string, i int, name any, c ChannelInfo) error {
	if c.Node1 == c.Node2 {
		return l.skip(array, i, name, SkipSelfLoop, "node1 equals node2")
	}
	if c.Capacity == 0 {
		return l.skip(array, i, name, SkipZeroCapacity, "capacity 0")
	}
	if _, dup := l.seen[c.ID]; dup {
		return l.skip(array, i, name, SkipDuplicate, "channel id seen before")
	}
	usable := false
	for _, p := range c.Policy {
		if p != nil && !p.Disabled {
			usable = true
		}
	}
	if !usable && !l.opts.KeepDisabled {
		return l.skip(array, i, name, SkipDisabled, "no enabled direction")
	}
	if len(l.seen) >= l.opts.MaxChannels {
		return fmt.Errorf("%w: more than %d channels", ErrMalformed, l.opts.MaxChannels)
	}
	if int(l.tx.s.nodes.n)+2 > l.opts.MaxNodes {
		return fmt.Errorf("%w: more than %d nodes", ErrMalformed, l.opts.MaxNodes)
	}
	if err := l.tx.UpsertChannel(c); err != nil {
		return l.skip(array, i, name, SkipMalformed, err.Error())
	}
	l.seen[c.ID] = struct{}{}
	for _, p := range c.Policy {
		if p != nil && p.Disabled {
			l.report.DisabledDirections++
		}
	}
	return nil
}

// addNode adds a listed node within the MaxNodes cap.
func (l *loader) addNode(id NodeID) error {
	if int(l.tx.s.nodes.n) >= l.opts.MaxNodes {
		return fmt.Errorf("%w: more than %d nodes", ErrMalformed, l.opts.MaxNodes)
	}
	l.tx.AddNode(id)
	return nil
}

func (l *loader) finish() {
	s := l.tx.Snapshot()
	l.report.Nodes, l.report.Channels = s.NumNodes(), s.NumChannels()
}

// fieldError is a well-formed value that is wrong for its field.
type fieldError struct {
	field string
	msg   string
}

func (e *fieldError) Error() string { return fmt.Sprintf("field %q: %s", e.field, e.msg) }

// flexUint is a uint64 given either as a JSON number or as a decimal string,
// optionally with an "msat" suffix (Core Lightning before v23 prints
// amounts as "1000msat"). It remembers whether it was present.
type flexUint struct {
	v   uint64
	set bool
	bad string // the offending text when the value was not an integer
}

// flexCheck returns a field error naming the first flexUint that did not
// parse.
func flexCheck(fields ...any) error {
	clean := true
	for i := 1; i < len(fields); i += 2 {
		clean = clean && fields[i].(*flexUint).bad == ""
	}
	if clean {
		return nil
	}
	for i := 0; i+1 < len(fields); i += 2 {
		if f := fields[i+1].(*flexUint); f.bad != "" {
			return &fieldError{fields[i].(string), "not an unsigned integer: " + f.bad}
		}
	}
	return nil
}

// String formats the value (or the text that failed to parse).
func (f flexUint) String() string {
	if f.bad != "" {
		return f.bad
	}
	return strconv.FormatUint(f.v, 10)
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexUint) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' {
		s = strings.TrimSuffix(s[1:len(s)-1], "msat")
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		// Reported by flexCheck with the field's name.
		f.bad = fmt.Sprintf("%.40s", string(b))
		return nil
	}
	f.v, f.set = v, true
	return nil
}

// pubKey normalises a hex public key: 66 hex characters, lower case.
func pubKey(field, s string) (NodeID, error) {
	if len(s) != 66 {
		return "", &fieldError{field, fmt.Sprintf("public key of %d characters, want 66", len(s))}
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'F' {
			s = strings.ToLower(s)
			break
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", &fieldError{field, "public key is not hex"}
		}
	}
	return NodeID(s), nil
}

// blocksToMs converts a Lightning block delay to routing's milliseconds at
// MsPerBlock per block.
func blocksToMs(field string, blocks uint64) (uint64, error) {
	if blocks > math.MaxUint32/MsPerBlock {
		return 0, &fieldError{field, fmt.Sprintf("%d blocks is beyond %d", blocks, math.MaxUint32/MsPerBlock)}
	}
	return blocks * MsPerBlock, nil
}

func u32(field string, v uint64) (uint32, error) {
	if v > math.MaxUint32 {
		return 0, &fieldError{field, fmt.Sprintf("%d exceeds %d", v, uint64(math.MaxUint32))}
	}
	return uint32(v), nil
}

// commit runs a load inside one graph transaction.
func load(r io.Reader, opts LoadOptions, format string, body func(l *loader) error) (*Graph, LoadReport, error) {
	in, closeFn, err := openInput(r)
	if err != nil {
		return nil, LoadReport{Format: format}, err
	}
	defer func() { _ = closeFn() }()
	g := NewGraph()
	var rep LoadReport
	err = g.Update(func(tx *Tx) error {
		l := newLoader(in, opts, format, tx)
		err := body(l)
		l.finish()
		rep = l.report
		if err != nil {
			return err
		}
		// Nothing may follow the top-level value.
		if _, err := l.dec.Token(); !errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: %s: data after the top-level object", ErrMalformed, format)
		}
		return nil
	})
	if err != nil {
		return nil, rep, fmt.Errorf("load %s: %w", format, err)
	}
	return g, rep, nil
}

// Load detects the format (gzip or not) from the first key of the top-level
// object — "format" for the export format, "nodes" or "edges" for lnd,
// "channels" for Core Lightning — and loads it.
func Load(r io.Reader, opts LoadOptions) (*Graph, LoadReport, error) {
	in, closeFn, err := openInput(r)
	if err != nil {
		return nil, LoadReport{}, err
	}
	defer func() { _ = closeFn() }()
	br := bufio.NewReaderSize(in, 64<<10)
	head, err := br.Peek(4096)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, LoadReport{}, fmt.Errorf("read: %w", err)
	}
	key := firstKey(head)
	switch key {
	case "format":
		return LoadExport(br, opts)
	case "nodes", "edges":
		return LoadLND(br, opts)
	case "channels":
		return LoadCLN(br, opts)
	}
	return nil, LoadReport{}, fmt.Errorf("%w: unknown format (first key %q; want format, nodes, edges or channels)", ErrMalformed, key)
}

// firstKey returns the first key of a JSON object at the start of b, or "".
func firstKey(b []byte) string {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != '{' {
		return ""
	}
	b = bytes.TrimLeft(b[1:], " \t\r\n")
	if len(b) == 0 || b[0] != '"' {
		return ""
	}
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 {
		return ""
	}
	return string(b[1 : 1+end])
}
