package routing

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The benchmark-scale graph: scale-free, 15,000 nodes, 80,000 channels.
var benchGraph = sync.OnceValue(func() *Graph {
	g, err := GenerateScaleFree(GenConfig{Nodes: 15_000, Channels: 80_000, Seed: 42})
	if err != nil {
		panic(err)
	}
	return g
})

// BenchmarkGraphMemory reports the retained heap per directed edge of the
// 15k/80k graph (runtime.MemStats difference after GC).
func BenchmarkGraphMemory(b *testing.B) {
	var perEdge, total float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		g, err := GenerateScaleFree(GenConfig{Nodes: 15_000, Channels: 80_000, Seed: 42})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		total = float64(after.HeapAlloc) - float64(before.HeapAlloc)
		perEdge = total / float64(2*g.Snapshot().NumChannels())
		runtime.KeepAlive(g)
	}
	b.ReportMetric(perEdge, "bytes/edge")
	b.ReportMetric(total/1e6, "MB")
}

// queryPairs draws reproducible source/target pairs of generated node ids.
func queryPairs(n, nodes int) [][2]NodeID {
	ids := make([]NodeID, nodes)
	for i := range ids {
		ids[i] = GenNodeID(i)
	}
	return pairsOf(n, ids)
}

// pairsOf draws n reproducible distinct pairs from ids.
func pairsOf(n int, ids []NodeID) [][2]NodeID {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][2]NodeID, n)
	for i := range out {
		a, c := rng.IntN(len(ids)), rng.IntN(len(ids))
		for c == a {
			c = rng.IntN(len(ids))
		}
		out[i] = [2]NodeID{ids[a], ids[c]}
	}
	return out
}

// benchQueries runs one query per iteration and reports latency
// percentiles over all iterations.
func benchQueries(b *testing.B, st Strategy, s *Snapshot, amount uint64) {
	benchPairs(b, st, s, amount, queryPairs(1000, s.NumNodes()))
}

func benchPairs(b *testing.B, st Strategy, s *Snapshot, amount uint64, pairs [][2]NodeID) {
	b.ReportAllocs()
	lat := make([]time.Duration, 0, 1024)
	cpu := make([]time.Duration, 0, 1024)
	var okCPU []time.Duration // successful queries only
	fails := 0
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	i := 0
	for b.Loop() {
		p := pairs[i%len(pairs)]
		i++
		start, startCPU := time.Now(), threadCPU()
		_, err := st.FindRoutes(Input{Graph: s, Request: Request{Source: p[0], Target: p[1], Amount: amount, FinalExpiryDelta: 40 * MsPerBlock}, Now: time.Unix(1_700_000_000, 0)})
		lat = append(lat, time.Since(start))
		cpu = append(cpu, threadCPU()-startCPU)
		if err != nil {
			fails++
		} else {
			okCPU = append(okCPU, cpu[len(cpu)-1])
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	slices.Sort(lat)
	slices.Sort(cpu)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(cpu[len(cpu)/2]), "cpu-p50-ms")
	b.ReportMetric(ms(cpu[len(cpu)*99/100]), "cpu-p99-ms")
	b.ReportMetric(float64(fails)/float64(len(lat)), "fail-rate")
	if len(okCPU) > 0 && fails > 0 {
		slices.Sort(okCPU)
		b.ReportMetric(ms(okCPU[len(okCPU)/2]), "ok-cpu-p50-ms")
		b.ReportMetric(ms(okCPU[len(okCPU)*99/100]), "ok-cpu-p99-ms")
	}
}

// BenchmarkSingleRoute: one route per query on the 15k/80k graph, 50,000 sat.
func BenchmarkSingleRoute(b *testing.B) {
	s := benchGraph().Snapshot()
	for _, name := range []string{StrategyShortest, StrategyCheapest, StrategyProbabilistic} {
		b.Run(name, func(b *testing.B) {
			st, err := NewStrategy(name, Config{})
			if err != nil {
				b.Fatal(err)
			}
			benchQueries(b, st, s, 50_000_000)
		})
	}
}

// BenchmarkMPP: min-cost-flow split of 500,000 sat on the 15k/80k graph.
func BenchmarkMPP(b *testing.B) {
	s := benchGraph().Snapshot()
	st, err := NewStrategy(StrategyMPP, Config{})
	if err != nil {
		b.Fatal(err)
	}
	benchQueries(b, st, s, 500_000_000)
}

// BenchmarkLoadCLN2021 loads the real 2021-04-16 Core Lightning snapshot
// (gzip, 44.8 MB of JSON, 66,964 half-channels).
func BenchmarkLoadCLN2021(b *testing.B) {
	path := filepath.Join(dataDir(b), "ln-cln-2021-04-16", "topo-20210416.json.gz")
	data, err := os.ReadFile(path)
	if err != nil {
		b.Skipf("snapshot missing: %v", err)
	}
	b.SetBytes(int64(len(data)))
	start := processCPU()
	for b.Loop() {
		if _, _, err := LoadCLN(bytesReader(data), LoadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// writeLNDJSON writes s as `lncli describegraph` would print it.
func writeLNDJSON(path string, s *Snapshot) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	type pol struct {
		TimeLockDelta uint32 `json:"time_lock_delta"`
		MinHTLC       string `json:"min_htlc"`
		FeeBase       string `json:"fee_base_msat"`
		FeeRate       string `json:"fee_rate_milli_msat"`
		Disabled      bool   `json:"disabled"`
		MaxHTLC       string `json:"max_htlc_msat"`
		LastUpdate    int64  `json:"last_update"`
	}
	type edge struct {
		ChannelID string `json:"channel_id"`
		ChanPoint string `json:"chan_point"`
		LastUpd   int64  `json:"last_update"`
		Node1     string `json:"node1_pub"`
		Node2     string `json:"node2_pub"`
		Capacity  string `json:"capacity"`
		P1        *pol   `json:"node1_policy"`
		P2        *pol   `json:"node2_policy"`
	}
	conv := func(p *Policy) *pol {
		if p == nil {
			return nil
		}
		return &pol{uint32(p.ExpiryDelta / MsPerBlock), strconv.FormatUint(p.HTLCMin, 10), strconv.FormatUint(p.FeeBase, 10),
			strconv.FormatUint(uint64(p.FeePPM), 10), p.Disabled, strconv.FormatUint(p.HTLCMax, 10), p.LastUpdate.Unix()}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("    ", "    ")
	fmt.Fprint(w, "{\n    \"nodes\": [")
	first := true
	s.Nodes(func(n NodeID) bool {
		if !first {
			w.WriteByte(',')
		}
		first = false
		enc.Encode(map[string]any{"last_update": 1700000000, "pub_key": string(n), "alias": "node", "addresses": []any{}, "color": "#3399ff", "features": map[string]any{}})
		return true
	})
	fmt.Fprint(w, "],\n    \"edges\": [")
	first = true
	s.Channels(func(c ChannelInfo) bool {
		if !first {
			w.WriteByte(',')
		}
		first = false
		enc.Encode(edge{strconv.FormatUint(uint64(c.ID), 10), "0000000000000000000000000000000000000000000000000000000000000000:0", 1700000000,
			string(c.Node1), string(c.Node2), strconv.FormatUint(c.Capacity/1000, 10), conv(c.Policy[0]), conv(c.Policy[1])})
		return true
	})
	fmt.Fprint(w, "]\n}\n")
	return w.Flush()
}

// BenchmarkLoadLND80k loads a generated 80,000-channel describegraph JSON
// file from disk.
func BenchmarkLoadLND80k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "describegraph.json")
	if err := writeLNDJSON(path, benchGraph().Snapshot()); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	start := processCPU()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		_, rep, err := LoadLND(f, LoadOptions{})
		f.Close()
		if err != nil || rep.Channels != 80_000 {
			b.Fatalf("%v %s", err, rep.String())
		}
	}
	b.ReportMetric(float64((processCPU()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// cln2021 is the real 2021-04-16 snapshot, loaded once.
var cln2021 = sync.OnceValues(func() (*Snapshot, error) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "shared", "data", "ln-cln-2021-04-16", "topo-20210416.json.gz")
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	g, _, err := LoadCLN(f, LoadOptions{})
	if err != nil {
		return nil, err
	}
	return g.Snapshot(), nil
})

func realPairs(b *testing.B) (*Snapshot, [][2]NodeID) {
	s, err := cln2021()
	if err != nil {
		b.Skipf("real snapshot unavailable: %v", err)
	}
	var ids []NodeID
	s.Nodes(func(n NodeID) bool { ids = append(ids, n); return true })
	return s, pairsOf(1000, ids)
}

// BenchmarkSingleRouteCLN2021: single routes of 50,000 sat between random
// node pairs of the real 2021 graph (5,918 nodes, 29,479 channels;
// unreachable pairs count in fail-rate).
func BenchmarkSingleRouteCLN2021(b *testing.B) {
	s, pairs := realPairs(b)
	for _, name := range []string{StrategyCheapest, StrategyProbabilistic} {
		b.Run(name, func(b *testing.B) {
			st, _ := NewStrategy(name, Config{})
			benchPairs(b, st, s, 50_000_000, pairs)
		})
	}
}

// BenchmarkMPPCLN2021: splits of 200,000 sat on the real 2021 graph. Most
// random pairs cannot carry that much (a small node's channels are too
// small), so ok-cpu-p50-ms, over successful splits, is the figure to read.
func BenchmarkMPPCLN2021(b *testing.B) {
	s, pairs := realPairs(b)
	st, _ := NewStrategy(StrategyMPP, Config{})
	benchPairs(b, st, s, 200_000_000, pairs)
}
