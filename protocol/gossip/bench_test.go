package gossip

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The validation benchmarks feed a validator a pool of distinct, valid,
// pre-signed messages, so each iteration is one full Validate: decode,
// bounds, state lookups, signature checks, bookkeeping. When the pool runs
// out the validator is rebuilt with the timer stopped. Rate limits are off
// (they cost a few ns and would turn accepts into ignores).

const benchPool = 2048

var benchCfg = Config{
	UpdateLimit:              Unlimited,
	NodeAnnouncementLimit:    Unlimited,
	ChannelAnnouncementLimit: Unlimited,
	AcceptChannellessNodes:   true,
}

func reportRate(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "msgs/s")
	}
}

func runValidate(b *testing.B, pool [][]byte, fresh func() *Validator) {
	b.Helper()
	b.ReportAllocs()
	v := fresh()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i > 0 && i%len(pool) == 0 {
			b.StopTimer()
			v = fresh()
			b.StartTimer()
		}
		if r := v.Validate(pool[i%len(pool)], t0, FromGossip); r.Verdict != Accept {
			b.Fatalf("message %d: %s %s %v", i, r.Verdict, r.Reason, r.Err)
		}
	}
	b.StopTimer()
	reportRate(b)
}

func BenchmarkValidateNodeAnnouncement(b *testing.B) {
	var pool [][]byte
	for i := range benchPool / 8 {
		for j := range 8 {
			pool = append(pool, enc(b, nodeAnn(b, i, t0.Add(time.Duration(j-8)*time.Second))))
		}
	}
	runValidate(b, pool, func() *Validator { return newValidator(b, benchCfg) })
}

func BenchmarkValidateChannelAnnouncement(b *testing.B) {
	var pool [][]byte
	for i := range benchPool {
		pool = append(pool, enc(b, chanAnn(b, i, i%512, 512+i%509, 1_000_000)))
	}
	runValidate(b, pool, func() *Validator { return newValidator(b, benchCfg) })
}

func BenchmarkValidateChannelUpdate(b *testing.B) {
	const channels = benchPool / 4
	var anns, pool [][]byte
	var cas []*ChannelAnnouncement
	for i := range channels {
		a := chanAnn(b, i, i, channels+i, 1_000_000)
		cas = append(cas, a)
		anns = append(anns, enc(b, a))
	}
	for round := range 2 { // two timestamps per direction
		for i, a := range cas {
			ts := t0.Add(time.Duration(round-2) * time.Minute)
			pool = append(pool, enc(b, update(b, a, i, ts)), enc(b, update(b, a, channels+i, ts)))
		}
	}
	runValidate(b, pool, func() *Validator {
		v := newValidator(b, benchCfg)
		for _, a := range anns {
			if err := v.Restore(a, t0); err != nil {
				b.Fatal(err)
			}
		}
		return v
	})
}

func BenchmarkDecodeChannelUpdate(b *testing.B) {
	data := enc(b, update(b, chanAnn(b, 1, 1, 2, 1000), 1, t0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// BenchmarkSyncBytesPerChannel measures the size of a full graph sync: each
// channel's announcement and two updates, packed in chunks, framed. Channel
// capacities and policies come from the CLoTH Lightning snapshot (first
// 2,000 channels; msat amounts, timelock blocks read as seconds) when
// /work/shared/data is present, synthetic values otherwise. It also times
// the receiving side: decoding every chunk and validating every item,
// sequentially (items/s and channels/s, one core).
func BenchmarkSyncBytesPerChannel(b *testing.B) {
	chans := clothChannels(b, 2000)
	source := "cloth"
	if chans == nil {
		source = "synthetic"
		for i := range 2000 {
			chans = append(chans, benchChannel{node1: 2 * i, node2: 2*i + 1, capacity: 5_000_000_000, feeBase: [2]uint64{1000, 1000}, ppm: [2]uint32{1, 100}, minHTLC: [2]uint64{1000, 1}, delta: [2]uint32{40_000, 144_000}})
		}
	}
	b.Logf("channel values: %s, %d channels", source, len(chans))
	var items [][]byte
	for i, c := range chans {
		n1, n2 := c.node1, c.node2
		if n1 == n2 {
			continue
		}
		a := chanAnn(b, i, n1, n2, c.capacity)
		items = append(items, enc(b, a))
		for d, n := range []int{n1, n2} {
			k, _ := testKey(b, n)
			u := &ChannelUpdate{FeeBase: c.feeBase[d], FeePPM: c.ppm[d], ExpiryDelta: c.delta[d], HTLCMin: max(1, c.minHTLC[d]),
				HTLCMax: c.capacity, Timestamp: t0.UnixMilli() - int64(i*2+d)*1009}
			if err := u.Sign(a, k); err != nil {
				b.Fatal(err)
			}
			items = append(items, enc(b, u))
		}
	}
	// Sync order: announcements first.
	var ordered [][]byte
	for _, kind := range []byte{0x12, 0x1a} {
		for _, it := range items {
			if it[0] == kind {
				ordered = append(ordered, it)
			}
		}
	}
	frames := pack(b, ordered, 0)
	total := 0
	for _, f := range frames {
		total += len(f) + 3
	}
	n := len(ordered) / 3
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s := NewSyncSession(newValidator(b, Config{}))
		for _, f := range frames {
			if _, _, err := s.Receive(f, t0); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(total)/float64(n), "bytes/channel")
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N*n)/s, "channels/s")
		b.ReportMetric(float64(b.N*len(ordered))/s, "items/s")
	}
}

type benchChannel struct {
	node1, node2 int
	capacity     uint64
	feeBase      [2]uint64
	ppm          [2]uint32
	minHTLC      [2]uint64
	delta        [2]uint32
}

// clothChannels reads the first n channels of the CLoTH snapshot, or nil
// when the shared data is absent.
func clothChannels(b *testing.B, n int) []benchChannel {
	wd, err := os.Getwd()
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(wd, "..", "..", "..", "shared", "data", "cloth") // module root's parent
	chf, err := os.Open(filepath.Join(dir, "channels_ln.csv"))
	if err != nil {
		b.Logf("CLoTH data absent (%v): synthetic values", err)
		return nil
	}
	defer chf.Close()
	edf, err := os.Open(filepath.Join(dir, "edges_ln.csv"))
	if err != nil {
		b.Logf("CLoTH data absent (%v): synthetic values", err)
		return nil
	}
	defer edf.Close()
	type edge struct {
		feeBase, minHTLC uint64
		ppm, delta       uint32
	}
	edges := map[string]edge{}
	sc := bufio.NewScanner(edf)
	sc.Scan()
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) < 10 {
			continue
		}
		base, _ := strconv.ParseUint(f[6], 10, 64)
		ppm, _ := strconv.ParseUint(f[7], 10, 32)
		minH, _ := strconv.ParseUint(f[8], 10, 64)
		tl, _ := strconv.ParseUint(f[9], 10, 32)
		edges[f[0]] = edge{feeBase: base, ppm: uint32(min(ppm, MaxFeePPM)), minHTLC: minH, delta: uint32(min(max(tl, 1)*1000, MaxExpiryDelta))}
	}
	var out []benchChannel
	sc = bufio.NewScanner(chf)
	sc.Scan()
	for sc.Scan() && len(out) < n {
		f := strings.Split(sc.Text(), ",")
		if len(f) < 6 {
			continue
		}
		n1, _ := strconv.Atoi(f[3])
		n2, _ := strconv.Atoi(f[4])
		capacity, _ := strconv.ParseUint(f[5], 10, 64)
		e1, e2 := edges[f[1]], edges[f[2]]
		c := benchChannel{node1: n1, node2: n2, capacity: min(max(capacity, 1), MaxCapacity),
			feeBase: [2]uint64{e1.feeBase, e2.feeBase}, ppm: [2]uint32{e1.ppm, e2.ppm},
			minHTLC: [2]uint64{e1.minHTLC, e2.minHTLC}, delta: [2]uint32{e1.delta, e2.delta}}
		for d := range 2 {
			c.minHTLC[d] = min(max(c.minHTLC[d], 1), c.capacity)
		}
		out = append(out, c)
	}
	return out
}

// BenchmarkVerifyEd25519 is the floor under every validation figure: one
// libp2p Ed25519 signature check (a channel costs four in a sync).
func BenchmarkVerifyEd25519(b *testing.B) {
	a := nodeAnn(b, 1, t0)
	msg := a.SigningBytes()
	pub, err := nodePubKey(a.Node)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := verify(pub, msg, a.Signature); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}
