package routing

import (
	"errors"
	"io"
	"strings"
)

// The direct scan of Core Lightning dumps (loadCLNFast) loads only inputs
// it can prove LoadCLN's general path would load without a single error or
// in-array skip, and with the same result: the top level is exactly
// {"channels": [half, …]}, every half is an object of plain ASCII keys
// (each field at most once, none a case variant of a field) whose values
// are plain ASCII strings, numbers, booleans or null, valid JSON throughout,
// and every half is added without a skip. Skips of merged channels (which
// carry no input position) are shared code. The caps need care because the
// general path's JSON decoder reads ahead: it never reads more than
// 3·lim + 1536 bytes between two armings of the element cap when no stretch
// of input between two element ends is longer than lim, so the scan admits
// stretches up to MaxElementBytes/8 (and caps of at least 4 KiB), and it
// admits inputs shorter than MaxBytes, which the general path never reads to
// the cap.

// errNotFast stops a direct scan: the input needs the general path.
var errNotFast = errors.New("routing: not of the directly scanned shape")

// fastIn is the direct scan's input buffer: buf[p:] is read and not yet
// consumed; base is the input offset of buf[0].
type fastIn struct {
	r    io.Reader
	buf  []byte
	p    int
	base int64
	max  int64
	eof  bool
	bad  bool // read error, or the input reached MaxBytes
}

// fill reads more input after buf[p:] (moved to the front), and reports
// whether it got any.
func (f *fastIn) fill() bool {
	if f.eof || f.bad {
		return false
	}
	n := copy(f.buf, f.buf[f.p:])
	f.base += int64(f.p)
	f.buf, f.p = f.buf[:n], 0
	if n == cap(f.buf) {
		f.buf = append(make([]byte, 0, 2*cap(f.buf)), f.buf...)
	}
	for {
		m, err := f.r.Read(f.buf[n:cap(f.buf)])
		f.buf = f.buf[:n+m]
		if f.base+int64(n+m) >= f.max {
			f.bad = true
			return false
		}
		if err == io.EOF {
			f.eof = true
		} else if err != nil {
			f.bad = true
			return false
		}
		if m > 0 || f.eof {
			return m > 0
		}
	}
}

// space skips whitespace.
func (f *fastIn) space() {
	for {
		f.p = jsonSpace(f.buf, f.p)
		if f.p < len(f.buf) || !f.fill() {
			return
		}
	}
}

// byte consumes c after optional whitespace and reports whether it was
// there.
func (f *fastIn) byte(c byte) bool {
	f.space()
	if f.p < len(f.buf) && f.buf[f.p] == c {
		f.p++
		return true
	}
	return false
}

// literal consumes s after optional whitespace and reports whether it was
// there.
func (f *fastIn) literal(s string) bool {
	f.space()
	for len(f.buf)-f.p < len(s) {
		if !f.fill() {
			return false
		}
	}
	if string(f.buf[f.p:f.p+len(s)]) != s {
		return false
	}
	f.p += len(s)
	return true
}

// loadCLNFast loads r directly when it can (see above); ok false means r
// must be loaded by the general path (from where it started: r has been
// read).
func loadCLNFast(r io.Reader, opts LoadOptions) (*Graph, LoadReport, bool) {
	opts.defaults()
	if opts.Strict || opts.MaxElementBytes < 4096 {
		return nil, LoadReport{}, false
	}
	in, closeFn, err := openInput(r)
	if err != nil {
		return nil, LoadReport{}, false
	}
	defer func() { _ = closeFn() }()
	f := &fastIn{r: in, buf: make([]byte, 0, 64<<10), max: opts.MaxBytes}
	lim := opts.MaxElementBytes / 8
	g := NewGraph()
	var rep LoadReport
	err = g.Update(func(tx *Tx) error {
		// The decoder only serves skip's offset query, which merged
		// channels ignore.
		l := newLoader(strings.NewReader(""), opts, FormatCLN, tx)
		err := fastHalves(l, f, lim)
		l.finish()
		rep = l.report
		return err
	})
	if err != nil {
		return nil, LoadReport{}, false
	}
	return g, rep, true
}

// fastHalves scans {"channels": [half, …]} from f into l.
func fastHalves(l *loader, f *fastIn, lim int64) error {
	if !f.byte('{') || !f.literal(`"channels"`) || !f.byte(':') || !f.byte('[') {
		return errNotFast
	}
	byID := map[ChannelID]*clnChannel{}
	var order []*clnChannel
	last := int64(0) // input offset of the last element's end
	if !f.byte(']') {
		for i := 0; ; i++ {
			f.space()
			var h clnHalf
			for {
				n, st := h.scan(f.buf[f.p:])
				if st == scanOK {
					f.p += n
					break
				}
				if st == scanBad || f.base+int64(len(f.buf))-last > lim || !f.fill() {
					return errNotFast
				}
				h = clnHalf{}
			}
			if end := f.base + int64(f.p); end-last > lim {
				return errNotFast
			} else {
				last = end
			}
			l.report.Records++
			if l.report.Records > 2*l.opts.MaxChannels {
				return errNotFast
			}
			if l.addHalf(&h, i, byID, &order) != nil {
				return errNotFast
			}
			if f.byte(']') {
				break
			}
			if !f.byte(',') {
				return errNotFast
			}
		}
	}
	if !f.byte('}') {
		return errNotFast
	}
	f.space()
	if f.p < len(f.buf) || f.bad || !f.eof || f.base+int64(f.p)-last > lim {
		return errNotFast
	}
	if err := l.addCLNChannels(order); err != nil {
		return errNotFast
	}
	return nil
}

// clnFields are the names of clnHalf's fields, for the key checks of scan.
var clnFields = [...]string{"source", "destination", "short_channel_id", "direction", "satoshis", "amount_msat", "active",
	"last_update", "base_fee_millisatoshi", "fee_per_millionth", "delay", "htlc_minimum_msat", "htlc_maximum_msat"}

var activeTrue, activeFalse = true, false

// Outcomes of clnHalf.scan.
const (
	scanOK   = iota
	scanMore // b ends inside the object
	scanBad  // not of the directly scanned shape
)

// scan decodes the half-channel object at the start of b into h (zero on
// entry) and returns its length and scanOK when it is valid JSON of the
// directly scanned shape (see loadCLNFast): then h is what encoding/json
// decodes from it, without error (FuzzCLNScan compares the two). It
// returns scanMore when b ends before the object does, and scanBad for
// anything else.
func (h *clnHalf) scan(b []byte) (int, int) {
	if len(b) == 0 {
		return 0, scanMore
	}
	if b[0] != '{' {
		return 0, scanBad
	}
	i := jsonSpace(b, 1)
	if i >= len(b) {
		return 0, scanMore
	}
	if b[i] == '}' {
		return i + 1, scanOK
	}
	var seen uint16
	for {
		if b[i] != '"' {
			return 0, scanBad
		}
		kEnd, st := jsonString(b, i)
		if st != scanOK {
			return 0, st
		}
		key := b[i+1 : kEnd-1]
		if i = jsonSpace(b, kEnd); i >= len(b) {
			return 0, scanMore
		}
		if b[i] != ':' {
			return 0, scanBad
		}
		if i = jsonSpace(b, i+1); i >= len(b) {
			return 0, scanMore
		}
		vEnd, st := jsonScalar(b, i)
		if st != scanOK {
			return 0, st
		}
		f := clnField(key)
		if f == -2 {
			return 0, scanBad
		}
		if f >= 0 {
			if seen&(1<<f) != 0 {
				return 0, scanBad
			}
			seen |= 1 << f
			if !h.set(f, b[i:vEnd]) {
				return 0, scanBad
			}
		}
		if i = jsonSpace(b, vEnd); i >= len(b) {
			return 0, scanMore
		}
		switch b[i] {
		case '}':
			return i + 1, scanOK
		case ',':
			if i = jsonSpace(b, i+1); i >= len(b) {
				return 0, scanMore
			}
		default:
			return 0, scanBad
		}
	}
}

// clnField returns the index in clnFields of the field key names, -1 for
// another key, or -2 for a key encoding/json would match to a field
// case-insensitively (key is ASCII).
func clnField(key []byte) int {
	switch string(key) {
	case "source":
		return 0
	case "destination":
		return 1
	case "short_channel_id":
		return 2
	case "direction":
		return 3
	case "satoshis":
		return 4
	case "amount_msat":
		return 5
	case "active":
		return 6
	case "last_update":
		return 7
	case "base_fee_millisatoshi":
		return 8
	case "fee_per_millionth":
		return 9
	case "delay":
		return 10
	case "htlc_minimum_msat":
		return 11
	case "htlc_maximum_msat":
		return 12
	}
	for _, name := range clnFields {
		if len(name) == len(key) && asciiFold(key, name) {
			return -2
		}
	}
	return -1
}

// asciiFold reports whether ASCII key equals name (lower case) ignoring
// case, as encoding/json folds ASCII.
func asciiFold(key []byte, name string) bool {
	for i, c := range key {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

// set stores value v (a plain string or a valid literal) into field f of
// h, or reports false when encoding/json would not decode it as set does.
func (h *clnHalf) set(f int, v []byte) bool {
	switch f {
	case 0, 1, 2:
		var dst *string
		switch f {
		case 0:
			dst = &h.Source
		case 1:
			dst = &h.Destination
		default:
			dst = &h.SCID
		}
		switch v[0] {
		case '"':
			*dst = string(v[1 : len(v)-1])
		case 'n': // null leaves a string unchanged
		default:
			return false
		}
	case 6:
		switch v[0] {
		case 't':
			h.Active = &activeTrue
		case 'f':
			h.Active = &activeFalse
		case 'n':
			h.Active = nil
		default:
			return false
		}
	default:
		x := [...]*flexUint{3: &h.Direction, 4: &h.Satoshis, 5: &h.AmountMsat, 7: &h.LastUpdate, 8: &h.BaseFee,
			9: &h.FeePPM, 10: &h.Delay, 11: &h.HTLCMin, 12: &h.HTLCMax}[f]
		if n, ok := flexDigits(v); ok {
			x.v, x.set = n, true
			return true
		}
		return x.UnmarshalJSON(v) == nil
	}
	return true
}

// flexDigits parses the common forms of a flexUint without allocating:
// 1 to 19 digits, bare or quoted, with an optional "msat" inside the
// quotes; ok is false for anything else (flexUint.UnmarshalJSON decides).
func flexDigits(v []byte) (uint64, bool) {
	if v[0] == '"' {
		v = v[1 : len(v)-1]
		if len(v) >= 4 && string(v[len(v)-4:]) == "msat" {
			v = v[:len(v)-4]
		}
	}
	if len(v) == 0 || len(v) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// jsonSpace returns the index of the first non-whitespace byte of b at or
// after i (len(b) if none).
func jsonSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
			continue
		}
		break
	}
	return i
}

// jsonString returns the end (past the closing quote) of the string
// starting at b[i] when it is plain: printable ASCII without escapes
// (anything else is left to encoding/json, which unescapes and rewrites
// invalid UTF-8).
func jsonString(b []byte, i int) (int, int) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, scanOK
		case c == '\\' || c < 0x20 || c >= 0x80:
			return 0, scanBad
		}
	}
	return 0, scanMore
}

// jsonScalar returns the end of the plain string, true, false, null or
// JSON number starting at b[i] (objects and arrays are scanBad).
func jsonScalar(b []byte, i int) (int, int) {
	switch b[i] {
	case '"':
		return jsonString(b, i)
	case '{', '[':
		return 0, scanBad
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			if !validLiteral(b[i:j]) {
				return 0, scanBad
			}
			return j, scanOK
		}
		j++
	}
	return 0, scanMore
}

// validLiteral reports whether v is true, false, null or a JSON number.
func validLiteral(v []byte) bool {
	switch string(v) {
	case "true", "false", "null":
		return true
	}
	i := 0
	if i < len(v) && v[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(v) && v[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(v) && v[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(v)
}
