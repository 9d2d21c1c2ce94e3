package routing

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// dataDir returns the shared data directory: the module root's parent +
// "shared/data".
func dataDir(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "shared", "data")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data not present at %s: %v", dir, err)
	}
	return dir
}

const (
	pkA = "02" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	pkB = "03" + "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	pkC = "02" + "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
)

const lndSample = `{
 "nodes": [
  {"last_update": 1618000000, "pub_key": "` + pkA + `", "alias": "a", "addresses": [], "features": {"0": {"name": "x"}}},
  {"pub_key": "` + pkB + `"},
  {"pub_key": "` + pkC + `"},
  {"pub_key": "zz"}
 ],
 "edges": [
  {"channel_id": "565024731940061184", "chan_point": "ab:0", "last_update": 1, "node1_pub": "` + pkA + `", "node2_pub": "` + pkB + `",
   "capacity": "1000000",
   "node1_policy": {"time_lock_delta": 40, "min_htlc": "1000", "fee_base_msat": "1000", "fee_rate_milli_msat": "1", "disabled": false, "max_htlc_msat": "990000000", "last_update": 1618000001},
   "node2_policy": {"time_lock_delta": 144, "min_htlc": "1", "fee_base_msat": "0", "fee_rate_milli_msat": "2500", "disabled": true, "max_htlc_msat": "5000", "last_update": 1618000002}},
  {"channel_id": "2", "chan_point": "cd:1", "node1_pub": "` + pkB + `", "node2_pub": "` + pkC + `", "capacity": "0", "node1_policy": null, "node2_policy": null},
  {"channel_id": "3", "chan_point": "ef:1", "node1_pub": "` + pkB + `", "node2_pub": "` + pkC + `", "capacity": "500", "node1_policy": null, "node2_policy": null},
  {"channel_id": "4", "chan_point": "ef:2", "node1_pub": "` + pkB + `", "node2_pub": "` + pkC + `", "capacity": "500",
   "node1_policy": {"time_lock_delta": 40, "fee_base_msat": "1", "disabled": true}, "node2_policy": null},
  {"channel_id": "5", "node1_pub": "` + pkB + `", "node2_pub": "` + pkC + `", "capacity": "abc"},
  {"channel_id": "565024731940061184", "node1_pub": "` + pkB + `", "node2_pub": "` + pkC + `", "capacity": "7", "node1_policy": {}},
  {"channel_id": 6, "node1_pub": "` + pkB + `", "node2_pub": "` + pkA + `", "capacity": 800, "node1_policy": {"time_lock_delta": 10, "fee_base_msat": 5, "fee_rate_milli_msat": 7, "min_htlc": 1, "max_htlc_msat": 0}}
 ]
}`

func TestLoadLND(t *testing.T) {
	g, rep, err := Load(strings.NewReader(lndSample), LoadOptions{})
	if err != nil || rep.Format != FormatLND {
		t.Fatal(err, rep.Format)
	}
	s := g.Snapshot()
	if rep.Records != 7 || rep.Channels != 2 || rep.Nodes != 3 || s.NumChannels() != 2 {
		t.Errorf("report %s", rep.String())
	}
	want := map[SkipReason]int{SkipZeroCapacity: 1, SkipDisabled: 2, SkipMalformed: 2, SkipDuplicate: 1}
	for k, v := range want {
		if rep.Skipped[k] != v {
			t.Errorf("skipped %s = %d, want %d (%s)", k, rep.Skipped[k], v, rep.String())
		}
	}
	if rep.DisabledDirections != 1 {
		t.Errorf("disabled directions %d", rep.DisabledDirections)
	}
	var sawCapacity bool
	for _, d := range rep.Details {
		if d.Array == "edges" && d.Index == 4 && strings.Contains(d.Detail, "capacity") {
			sawCapacity = true
			if d.Line < 1 || !strings.Contains(strings.Split(lndSample, "\n")[d.Line-1], `"capacity": "abc"`) {
				t.Errorf("detail line %d does not hold the record", d.Line)
			}
		}
	}
	if !sawCapacity {
		t.Errorf("malformed capacity not named: %+v", rep.Details)
	}
	c, ok := s.Channel(565024731940061184)
	if !ok {
		t.Fatal("channel missing")
	}
	if c.ID.String() != "513887x1177x0" || c.Capacity != 1_000_000_000 || c.Node1 != pkA || c.Node2 != pkB {
		t.Errorf("channel %+v", c)
	}
	wantP0 := Policy{FeeBase: 1000, FeePPM: 1, ExpiryDelta: 40 * 600_000, HTLCMin: 1000, HTLCMax: 990_000_000, LastUpdate: time.Unix(1618000001, 0).UTC()}
	if *c.Policy[0] != wantP0 {
		t.Errorf("policy 0 = %+v, want %+v", *c.Policy[0], wantP0)
	}
	if p := c.Policy[1]; !p.Disabled || p.ExpiryDelta != 144*600_000 || p.FeePPM != 2500 || p.HTLCMax != 5000 {
		t.Errorf("policy 1 = %+v", *p)
	}
	// Channel 6 lists node1 > node2: it is normalised and its policy moves to
	// direction 1; numbers work as well as strings; max 0 means capacity.
	c6, ok := s.Channel(6)
	if !ok || c6.Node1 != pkA || c6.Policy[0] != nil || c6.Policy[1] == nil || c6.Policy[1].FeeBase != 5 || c6.Policy[1].HTLCMax != 800_000 {
		t.Errorf("channel 6 = %+v", c6)
	}
}

func TestLoadLNDErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"edges not array", `{"edges": {"a": 1}}`, `field "edges": expected an array`},
		{"truncated", `{"edges": [{"channel_id": "1"`, "edges[0] at line 1"},
		{"bad token on line 3", "{\"edges\": [\n{},\n{x}]}", "line 3"},
		{"garbage", `[1,2]`, "expected an object"},
		{"trailing", `{"edges": []} {}`, "data after"},
		{"empty", ``, "unexpected EOF"},
	}
	for _, tt := range tests {
		_, _, err := LoadLND(strings.NewReader(tt.in), LoadOptions{})
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrMalformed mentioning %q", tt.name, err, tt.want)
		}
	}
	// Strict mode fails on the first malformed record.
	_, _, err := LoadLND(strings.NewReader(lndSample), LoadOptions{Strict: true})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "nodes[3]") {
		t.Errorf("strict: %v", err)
	}
	// A huge element is refused with bounded memory.
	huge := `{"nodes":[{"pub_key":"` + strings.Repeat("a", 5000) + `"}]}`
	_, _, err = LoadLND(strings.NewReader(huge), LoadOptions{MaxElementBytes: 1024})
	if !errors.Is(err, errElementTooLarge) {
		t.Errorf("huge element: %v", err)
	}
	_, _, err = LoadLND(strings.NewReader(`{"x": [`+strings.Repeat(`"aaaaaaaaaa",`, 300)+`1]}`), LoadOptions{MaxBytes: 1000})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("total cap: %v", err)
	}
}

func clnHalfJSON(src, dst, scid, amount string, active bool, extra string) string {
	a := "false"
	if active {
		a = "true"
	}
	return `{"source": "` + src + `", "destination": "` + dst + `", "short_channel_id": "` + scid + `", "public": true,
	  "satoshis": 50000, "amount_msat": ` + amount + `, "message_flags": 1, "channel_flags": 0, "active": ` + a + `,
	  "last_update": 1618492788, "base_fee_millisatoshi": 1000, "fee_per_millionth": 1, "delay": 144,
	  "htlc_minimum_msat": "1000msat", "htlc_maximum_msat": "50000000msat", "features": ""` + extra + `}`
}

func TestLoadCLNForms(t *testing.T) {
	old := `{"channels": [` + strings.Join([]string{
		clnHalfJSON(pkA, pkB, "513887x1177x0", `"50000000msat"`, true, ""),
		clnHalfJSON(pkB, pkA, "513887x1177x0", `"50000000msat"`, false, ""),
		clnHalfJSON(pkB, pkC, "513887x1177x1", `"50000000msat"`, false, ""),
		clnHalfJSON(pkB, pkC, "513887x1177x2", `"40000000msat"`, true, ""),
		clnHalfJSON(pkC, pkB, "513887x1177x2", `"50000000msat"`, true, ""), // disagrees on capacity
		clnHalfJSON(pkB, pkC, "513887x1177x2", `"40000000msat"`, true, ""), // duplicate direction
		clnHalfJSON(pkB, pkC, "bad", `"40000000msat"`, true, ""),
	}, ",") + `]}`
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(old))
	zw.Close()
	g, rep, err := LoadCLN(&gz, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 7 || rep.Channels != 2 || rep.Skipped[SkipDisabled] != 1 || rep.Skipped[SkipMalformed] != 2 || rep.Skipped[SkipDuplicate] != 1 {
		t.Errorf("report: %s", rep.String())
	}
	c, _ := g.Snapshot().Channel(513887<<40 | 1177<<16)
	if c.Capacity != 50_000_000 || c.Policy[0] == nil || c.Policy[0].Disabled || !c.Policy[1].Disabled || c.Policy[0].ExpiryDelta != 144*MsPerBlock || c.Policy[0].HTLCMin != 1000 {
		t.Errorf("channel %+v %+v", c, c.Policy[0])
	}
	// Modern form: numbers and a direction field, which must agree.
	modern := `{"channels": [` + clnHalfJSON(pkA, pkB, "1x2x3", `50000000`, true, `, "direction": 0`) + `,` +
		clnHalfJSON(pkB, pkA, "1x2x3", `50000000`, true, `, "direction": 0`) + `]}`
	g, rep, err = Load(strings.NewReader(modern), LoadOptions{})
	if err != nil || rep.Format != FormatCLN {
		t.Fatal(err, rep.Format)
	}
	c, _ = g.Snapshot().Channel(1<<40 | 2<<16 | 3)
	if c.Policy[0] == nil || c.Policy[1] != nil || rep.Skipped[SkipMalformed] != 1 || !strings.Contains(rep.Details[0].Detail, `"direction"`) {
		t.Errorf("modern: %+v %s %+v", c, rep.String(), rep.Details)
	}
}

func TestLoadCLN2021(t *testing.T) {
	path := filepath.Join(dataDir(t), "ln-cln-2021-04-16", "topo-20210416.json.gz")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("snapshot missing: %v", err)
	}
	defer f.Close()
	g, rep, err := Load(f, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Counts from shared/data/README.md: 66,964 half-channels over 37,454
	// channels; the active halves cover 29,479 channels and 5,918 nodes.
	if rep.Format != FormatCLN || rep.Records != 66_964 || rep.Channels != 29_479 || rep.Nodes != 5_918 {
		t.Errorf("report: %s", rep.String())
	}
	if rep.Channels+rep.TotalSkipped() != 37_454 || rep.Skipped[SkipDisabled] != 37_454-29_479 {
		t.Errorf("skips do not account for every channel: %s", rep.String())
	}
	s := g.Snapshot()
	c, ok := s.Channel(513909<<40 | 1248<<16)
	if !ok || c.Capacity != 20_000_000 {
		t.Fatalf("channel 513909x1248x0: %+v %v", c, ok)
	}
	// Route across the real graph between two well-connected nodes.
	st, _ := NewStrategy(StrategyProbabilistic, Config{})
	var hubs []NodeID
	s.Nodes(func(n NodeID) bool {
		if len(s.ChannelsOf(n)) > 200 {
			hubs = append(hubs, n)
		}
		return len(hubs) < 2
	})
	if len(hubs) < 2 {
		t.Fatal("no hubs")
	}
	routes, err := st.FindRoutes(Input{Graph: s, Request: Request{Source: hubs[0], Target: hubs[1], Amount: 10_000_000, FinalExpiryDelta: 18 * MsPerBlock}})
	if err != nil || len(routes[0].Hops) == 0 {
		t.Errorf("route on real graph: %v %v", routes, err)
	}
}

func TestExportRoundTrip(t *testing.T) {
	g, err := GenerateScaleFree(GenConfig{Nodes: 300, Channels: 1200, Seed: 3, DisabledFraction: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	_ = g.Update(func(tx *Tx) error {
		tx.AddNode("lonely\x00raw-bytes")
		return tx.UpdatePolicy(ChannelID(500_000<<40|5<<16), 1, nil)
	})
	var buf bytes.Buffer
	if err := WriteExport(&buf, g.Snapshot()); err != nil {
		t.Fatal(err)
	}
	g2, rep, err := Load(bytes.NewReader(buf.Bytes()), LoadOptions{KeepDisabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Format != FormatExport || rep.TotalSkipped() != 0 {
		t.Errorf("report %s", rep.String())
	}
	var again bytes.Buffer
	if err := WriteExport(&again, g2.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("export → load → export is not the identity")
	}
	if !g2.Snapshot().HasNode("lonely\x00raw-bytes") {
		t.Error("isolated node lost")
	}
	for _, bad := range []struct{ in, want string }{
		{`{"channels": []}`, `"format" missing`},
		{`{"format": "other"}`, `field "format"`},
		{`{"format": "paymesh-graph", "version": 2}`, `field "version"`},
	} {
		if _, _, err := LoadExport(strings.NewReader(bad.in), LoadOptions{}); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v", bad.in, err)
		}
	}
	_, rep, err = LoadExport(strings.NewReader(`{"format":"paymesh-graph","channels":[{"id":"x","node1":"aa","node2":"bb","capacity":5},{"id":"1","node1":"zz","node2":"bb","capacity":5},{"id":"2","node1":"aa","node2":"bb","capacity":5,"policies":[{"fee_base":99999999999},null]}]}`), LoadOptions{})
	if err != nil || rep.Skipped[SkipMalformed] != 3 {
		t.Errorf("malformed channels: %v %s %+v", err, rep.String(), rep.Details)
	}
	if _, _, err := Load(strings.NewReader(`{"what": 1}`), LoadOptions{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown format: %v", err)
	}
}

func fuzzLoader(f *testing.F, load func([]byte) error, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := load(b); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error not wrapping ErrMalformed: %v", err)
		}
	})
}

var fuzzOpts = LoadOptions{MaxElementBytes: 4096, MaxBytes: 1 << 20, MaxChannels: 1000}

func FuzzLoadLND(f *testing.F) {
	fuzzLoader(f, func(b []byte) error {
		_, _, err := LoadLND(bytes.NewReader(b), fuzzOpts)
		return err
	}, lndSample, `{"edges": null}`, `{"nodes": [{}]}`)
}

func FuzzLoadCLN(f *testing.F) {
	fuzzLoader(f, func(b []byte) error {
		_, _, err := LoadCLN(bytes.NewReader(b), fuzzOpts)
		return err
	}, `{"channels": [`+clnHalfJSON(pkA, pkB, "1x1x1", `"5msat"`, true, "")+`]}`, `{"channels": [{"direction": 1}]}`)
}

func FuzzLoadExport(f *testing.F) {
	var buf bytes.Buffer
	g, _ := GenerateScaleFree(GenConfig{Nodes: 4, Channels: 4, Seed: 1})
	_ = WriteExport(&buf, g.Snapshot())
	fuzzLoader(f, func(b []byte) error {
		_, _, err := LoadExport(bytes.NewReader(b), fuzzOpts)
		return err
	}, buf.String(), `{"format":"paymesh-graph","channels":[{"policies":[null,{}]}]}`)
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func TestLoadCaps(t *testing.T) {
	_, _, err := LoadLND(strings.NewReader(lndSample), LoadOptions{MaxNodes: 2})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "more than 2 nodes") {
		t.Errorf("MaxNodes: %v", err)
	}
	_, _, err = LoadLND(strings.NewReader(lndSample), LoadOptions{MaxChannels: 1})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "more than 1 channels") {
		t.Errorf("MaxChannels: %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	fuzzLoader(f, func(b []byte) error {
		_, _, err := Load(bytes.NewReader(b), fuzzOpts)
		return err
	}, lndSample, `{"channels": []}`, `{"format": "paymesh-graph"}`, "\x1f\x8b")
}

func FuzzParseChannelID(f *testing.F) {
	for _, s := range []string{"513887x1177x0", "0x0x0", "16777215x16777215x65535", "123", "1x2", "-1x2x3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseChannelID(s)
		if err != nil {
			if !errors.Is(err, ErrBadChannelID) {
				t.Fatalf("error does not wrap ErrBadChannelID: %v", err)
			}
			return
		}
		// The canonical form parses back to the same id.
		if back, err := ParseChannelID(id.String()); err != nil || back != id {
			if uint64(id)>>40 < 1<<24 {
				t.Fatalf("%q → %v → %q → %v, %v", s, uint64(id), id.String(), back, err)
			}
		}
	})
}
