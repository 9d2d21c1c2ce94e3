package routing

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// clnRecordSeeds are half-channel records of the usual shape and of shapes
// clnHalf.scan leaves to encoding/json.
var clnRecordSeeds = []string{
	clnHalfJSON(pkA, pkB, "1x1x1", `"5msat"`, true, ""),
	clnHalfJSON(pkA, pkB, "1x2x3", `50000000`, false, `, "direction": 0, "x": null, "y": -1.5e+3`),
	clnHalfJSON(pkA, pkB, "1x2x3", `"50000000msatmsat"`, true, `, "direction": null, "active": null`),
	`{}`, `null`, `5`, `"x"`, `[]`, `{"source": 5}`, `{"Source": "ab"}`, `{"ſource": "ab"}`, `{"SOURCE": "a", "source": "b"}`,
	`{"source": "a", "source": "b"}`, `{"source": "a\u00e9"}`, `{"source": "a\"b"}`, "{\"source\": \"a\xffb\"}",
	`{"active": "true"}`, `{"active": 1}`, `{"active": true, "active": false}`, `{"delay": {"x": [1, "]"]}}`,
	`{"delay": [1]}`, `{"delay": -1}`, `{"delay": 1.5}`, `{"delay": 1e3}`, `{"delay": true}`, `{"delay": "\u0031"}`,
	`{"delay": "00000000000000000000000000042"}`, `{"delay": 18446744073709551615}`, `{"delay": 18446744073709551616}`,
	`{"delay": ""}`, `{"delay": "msat"}`, `{"delay": "5 msat"}`, `{"delay": "é"}`, `{"features": "\\", "public": {"a": [{}]}}`,
	`{"s\u006furce": "a"}`, `{"short_channel_id": null, "destination": null}`, `{ "delay" : 7 , "x" : 0 } `,
	`{"delay": 01}`, `{"delay": 1.}`, `{"delay": -}`, `{"delay": tru}`, `{"delay": 1,}`, `{"delay": 1 2}`, `{"a": "b"`,
	`{"delay": "` + "\t" + `"}`, `{"features": "80"}x`,
}

// TestCLNScan checks the direct scan of half-channels against
// encoding/json, and that it takes the usual shapes.
func TestCLNScan(t *testing.T) {
	for _, s := range clnRecordSeeds {
		checkCLNScan(t, []byte(s))
	}
	for _, s := range clnRecordSeeds[:2] {
		var h clnHalf
		if n, st := h.scan([]byte(s)); st != scanOK || n != len(s) {
			t.Errorf("scan(%.60q…) = %d, %d: a usual record left to encoding/json", s, n, st)
		}
	}
}

// checkCLNScan checks that what scan accepts is one valid JSON object that
// encoding/json decodes, without error, exactly as scan did, and that scan
// never reads out of bounds.
func checkCLNScan(t *testing.T, b []byte) {
	t.Helper()
	var h clnHalf
	n, st := h.scan(b)
	if st == scanOK {
		var want clnHalf
		if !json.Valid(b[:n]) {
			t.Fatalf("scan accepted %q, not valid JSON", b[:n])
		}
		if err := json.Unmarshal(b[:n], &want); err != nil || !reflect.DeepEqual(h, want) {
			t.Fatalf("%q: scanned %+v; encoding/json: %+v, %v", b[:n], h, want, err)
		}
	}
	for i := range len(b) {
		var h clnHalf
		if _, st := h.scan(b[:i]); st == scanOK && !json.Valid(b[:i]) && json.Valid(b) {
			t.Fatalf("scan accepted the prefix %q of %q", b[:i], b)
		}
	}
}

// FuzzCLNScan compares the direct scan of half-channels with
// encoding/json.
func FuzzCLNScan(f *testing.F) {
	for _, s := range clnRecordSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkCLNScan(t, b) })
}

// readerOnly hides a reader's Seek, so that LoadCLN takes the general path.
type readerOnly struct{ io.Reader }

// checkCLNFast checks that whenever the direct load of b succeeds, the
// general path loads the same graph with the same report.
func checkCLNFast(t *testing.T, b []byte, opts LoadOptions) bool {
	t.Helper()
	g1, rep1, ok := loadCLNFast(bytes.NewReader(b), opts)
	if !ok {
		return false
	}
	g2, rep2, err := LoadCLN(readerOnly{bytes.NewReader(b)}, opts)
	if err != nil {
		t.Fatalf("direct load succeeded, general path: %v (input %.200q)", err, b)
	}
	if !reflect.DeepEqual(rep1, rep2) {
		t.Fatalf("reports differ: direct %+v, general %+v", rep1, rep2)
	}
	s1, s2 := g1.Snapshot(), g2.Snapshot()
	var n1, n2 []NodeID
	s1.Nodes(func(n NodeID) bool { n1 = append(n1, n); return true })
	s2.Nodes(func(n NodeID) bool { n2 = append(n2, n); return true })
	var c1, c2 []ChannelInfo
	s1.Channels(func(c ChannelInfo) bool { c1 = append(c1, c); return true })
	s2.Channels(func(c ChannelInfo) bool { c2 = append(c2, c); return true })
	if !reflect.DeepEqual(n1, n2) || !reflect.DeepEqual(c1, c2) {
		t.Fatalf("graphs differ: %d/%d nodes, %d/%d channels", len(n1), len(n2), len(c1), len(c2))
	}
	return true
}

func TestLoadCLNFast(t *testing.T) {
	doc := func(halves ...string) string { return `{"channels": [` + strings.Join(halves, ",") + `]}` }
	a := clnHalfJSON(pkA, pkB, "1x1x1", `"5000msat"`, true, "")
	b := clnHalfJSON(pkB, pkA, "1x1x1", `"5000msat"`, false, "")
	c := clnHalfJSON(pkB, pkC, "1x1x2", `"5000msat"`, false, "") // skipped as disabled, after the array
	for _, tt := range []struct {
		in   string
		fast bool
	}{
		{doc(a, b, c), true},
		{" \n" + doc(a, b) + "\n", true},
		{`{"channels":[]}`, true},
		{doc(a, a), false}, // duplicate direction: an in-array skip
		{doc(a, clnHalfJSON(pkA, pkB, "bad", `5`, true, "")), false}, // malformed
		{doc(a) + "x", false},
		{`{"channels": null}`, false},
		{`{"x": 1, "channels": []}`, false},
		{`{"channels ": []}`, false},
		{doc(a, strings.Replace(b, `"source"`, `"Source"`, 1)), false},
	} {
		if got := checkCLNFast(t, []byte(tt.in), LoadOptions{}); got != tt.fast {
			t.Errorf("direct load of %.80q: %v, want %v", tt.in, got, tt.fast)
		}
	}
	big := doc(a, b)
	if checkCLNFast(t, []byte(big), LoadOptions{MaxBytes: int64(len(big))}) {
		t.Error("an input of MaxBytes loaded directly (the general path refuses it)")
	}
	if !checkCLNFast(t, []byte(big), LoadOptions{MaxBytes: int64(len(big)) + 1}) {
		t.Error("an input below MaxBytes not loaded directly")
	}
	compact := `{"channels":[{"source":"` + pkA + `","destination":"` + pkB + `","short_channel_id":"1x1x1","amount_msat":5000,"active":true}]}`
	if !checkCLNFast(t, []byte(compact), fuzzOpts) {
		t.Error("a compact half not loaded directly with the fuzz targets' caps")
	}
	if checkCLNFast(t, []byte(big), LoadOptions{MaxElementBytes: 4096}) {
		t.Error("a half longer than MaxElementBytes/8 loaded directly")
	}
}

// TestLoadCLN2021Fast loads the 2021 snapshot directly and by the general
// path and compares.
func TestLoadCLN2021Fast(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(dataDir(t), "ln-cln-2021-04-16", "topo-20210416.json.gz"))
	if err != nil {
		t.Skipf("snapshot missing: %v", err)
	}
	if !checkCLNFast(t, data, LoadOptions{}) {
		t.Fatal("the 2021 snapshot is not loaded directly")
	}
}

// FuzzCLNFast checks that the direct load, when it succeeds, agrees with
// the general path, with caps around the input's and its halves' sizes.
func FuzzCLNFast(f *testing.F) {
	half := func(src, dst, scid string, extra string) string {
		return `{"source":"` + src + `","destination":"` + dst + `","short_channel_id":"` + scid + `","amount_msat":5000,"active":true` + extra + `}`
	}
	a, b := half(pkA, pkB, "1x1x1", ""), half(pkB, pkA, "1x1x1", `,"delay":"6msat","direction":1`)
	for _, s := range []string{`{"channels": [` + a + `,` + b + `]}`, `{"channels":[` + a + `]}`, `{"channels":[]}`,
		`{"channels": [` + a + `,` + half(pkB, pkC, "1x1x2", `,"htlc_maximum_msat":1`) + `]}`} {
		f.Add(s, uint8(5), uint16(0)) // MaxBytes len(s)+1: loaded directly
	}
	f.Fuzz(func(t *testing.T, s string, capDelta uint8, elem uint16) {
		opts := fuzzOpts
		opts.MaxBytes = int64(len(s)) - 4 + int64(capDelta%8)
		opts.MaxElementBytes = 4096 + int64(elem%4096)
		checkCLNFast(t, []byte(s), opts)
	})
}
