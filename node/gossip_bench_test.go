package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/paymesh/paymesh/protocol/gossip"
	"github.com/paymesh/paymesh/routing"
	"github.com/paymesh/paymesh/store"
)

// BenchmarkGossipPropagation100 measures how long a channel update takes
// to reach 99 of 100 nodes on a sparse mocknet (a ring plus three random
// links per node, meshes formed). Rate limits are off so the same channel
// can be updated every iteration.
func BenchmarkGossipPropagation100(b *testing.B) {
	const count = 100
	mn := mocknet.New()
	b.Cleanup(func() { mn.Close() })
	nodes := make([]*Node, count)
	for i := range nodes {
		cfg := testConfig(b)
		cfg.Gossip.Validator.UpdateLimit = gossip.Unlimited
		nodes[i] = startOnHost(b, mn, i, cfg, "")
	}
	quiesce(b, nodes)
	if err := mn.LinkAll(); err != nil {
		b.Fatal(err)
	}
	connectSparse(b, mn, nodes, 3, 7)
	waitTopicPeers(b, nodes, 1)
	waitMesh(b, nodes)
	src, dst := nodes[0], nodes[50]
	ann := channelBetween(b, src.cfg.Identity, dst.cfg.Identity, 1_000_000)
	if err := src.AnnounceChannel(ann); err != nil {
		b.Fatal(err)
	}
	waitGraph(b, nodes, "channel", func(n *Node) bool { return hasPolicy(n, ann, src.ID(), src.cfg.Settings.Fees.Base) })
	short := ann.ChannelID.Short()

	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		base := uint64(10_000 + i)
		arrived := make(chan time.Time, count)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for _, n := range nodes[1:] {
			wg.Go(func() {
				for {
					ch := n.gossip.changes()
					if hasPolicy(n, ann, src.ID(), base) {
						arrived <- time.Now()
						return
					}
					select {
					case <-ch:
					case <-stop:
						return
					}
				}
			})
		}
		start := time.Now()
		if err := src.SetFees(short, base, 1, 1000); err != nil {
			b.Fatal(err)
		}
		// 99% of 100 nodes: the publisher and 98 others.
		var last time.Time
		timeout := time.After(30 * time.Second)
		for got := 0; got < 98; got++ {
			select {
			case last = <-arrived:
			case <-timeout:
				b.Fatalf("update %d reached %d nodes in 30s", i, got+1)
			}
		}
		lat = append(lat, last.Sub(start))
		close(stop)
		wg.Wait()
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-to-99%-median")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "ms-to-99%-max")
}

// benchGraph is a signed Lightning-sized graph (routing's scale-free
// generator: 15,000 nodes, 80,000 channels), built once per run.
type benchGraph struct {
	records  []store.GraphRecord
	channels int
}

var (
	benchGraphOnce sync.Once
	benchGraphData benchGraph
)

func loadBenchGraph(b *testing.B, nodes, channels int) benchGraph {
	b.Helper()
	benchGraphOnce.Do(func() {
		g, err := routing.GenerateScaleFree(routing.GenConfig{Nodes: nodes, Channels: channels, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		snap := g.Snapshot()
		keys := make(map[routing.NodeID]crypto.PrivKey)
		ids := make(map[routing.NodeID]peer.ID)
		r := rand.New(rand.NewPCG(1, 2))
		snap.Nodes(func(id routing.NodeID) bool {
			var seed [32]byte
			binary.BigEndian.PutUint64(seed[:], r.Uint64())
			k, _, err := crypto.GenerateEd25519Key(newSeedReader(seed))
			if err != nil {
				b.Fatal(err)
			}
			keys[id] = k
			ids[id], _ = peer.IDFromPrivateKey(k)
			return true
		})
		var chans []routing.ChannelInfo
		snap.Channels(func(c routing.ChannelInfo) bool { chans = append(chans, c); return true })
		now := time.Now()
		recs := make([][]store.GraphRecord, len(chans))
		parallel(len(chans), func(i int) {
			c := chans[i]
			cid := gossip.ChannelID(sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(c.ID))))
			ann, err := gossip.NewChannelAnnouncement(cid, ids[c.Node1], ids[c.Node2], max(c.Capacity%gossip.MaxCapacity, 1))
			if err != nil {
				panic(err)
			}
			if err := ann.Sign(keys[c.Node1]); err != nil {
				panic(err)
			}
			if err := ann.Sign(keys[c.Node2]); err != nil {
				panic(err)
			}
			data, _ := gossip.Encode(ann)
			out := []store.GraphRecord{{Kind: store.GraphChannel, Short: cid.Short(), Time: now.UnixMilli(), Data: data}}
			for _, k := range []crypto.PrivKey{keys[c.Node1], keys[c.Node2]} {
				u := &gossip.ChannelUpdate{FeeBase: 1000, FeePPM: 100, ExpiryDelta: 40_000, HTLCMin: 1, HTLCMax: ann.Capacity, Timestamp: now.Add(-time.Duration(i) * time.Millisecond).UnixMilli()}
				if err := u.Sign(ann, k); err != nil {
					panic(err)
				}
				data, _ := gossip.Encode(u)
				out = append(out, store.GraphRecord{Kind: store.GraphUpdate, Short: u.ShortID, Dir: uint8(u.Direction), Time: u.Timestamp, Data: data})
			}
			recs[i] = out
		})
		var all []store.GraphRecord
		for _, rs := range recs {
			all = append(all, rs...)
		}
		for id, k := range keys {
			a := &gossip.NodeAnnouncement{Alias: "bench", Addrs: nil, Timestamp: now.UnixMilli()}
			copy(a.OnionKey[:], benchOnionKey)
			if err := a.Sign(k); err != nil {
				b.Fatal(err)
			}
			data, _ := gossip.Encode(a)
			all = append(all, store.GraphRecord{Kind: store.GraphNode, Node: []byte(ids[id]), Time: a.Timestamp, Data: data})
		}
		benchGraphData = benchGraph{records: all, channels: len(chans)}
	})
	return benchGraphData
}

// benchOnionKey is a valid compressed secp256k1 key (the generator point).
var benchOnionKey = []byte{0x02, 0x79, 0xbe, 0x66, 0x7e, 0xf9, 0xdc, 0xbb, 0xac, 0x55, 0xa0, 0x62, 0x95, 0xce, 0x87, 0x0b, 0x07, 0x02, 0x9b, 0xfc, 0xdb, 0x2d, 0xce, 0x28, 0xd9, 0x59, 0xf2, 0x81, 0x5b, 0x16, 0xf8, 0x17, 0x98}

type seedReader struct {
	s   [32]byte
	off int
}

func newSeedReader(s [32]byte) *seedReader { return &seedReader{s: s} }

func (r *seedReader) Read(p []byte) (int, error) {
	for i := range p {
		if r.off == len(r.s) {
			r.s = sha256.Sum256(r.s[:])
			r.off = 0
		}
		p[i] = r.s[r.off]
		r.off++
	}
	return len(p), nil
}

// writeBenchStore writes the bench graph into a fresh on-disk store.
func writeBenchStore(b *testing.B, g benchGraph) string {
	b.Helper()
	dir := b.TempDir()
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	batch := st.Graph().Batch()
	for _, r := range g.records {
		if err := batch.Put(r); err != nil {
			b.Fatal(err)
		}
	}
	if err := batch.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkGraphSync80k measures a full graph sync of 80,000 channels
// (with both updates each and 15,000 node announcements) over one stream
// on mocknet: every item validated (signatures included) and applied. It
// reports the process CPU time of the sync (client and server) besides the
// wall time, which a busy machine stretches (with -benchtime Nx, the
// fastest of the N syncs tells most), and the same sync repeated
// (a reconnect, every item already held). PAYMESH_SYNC_CPUPROFILE=file
// profiles the first sync alone.
func BenchmarkGraphSync80k(b *testing.B) {
	g := loadBenchGraph(b, 15_000, 80_000)
	dir := writeBenchStore(b, g)
	mn := mocknet.New()
	b.Cleanup(func() { mn.Close() })
	cfg := testConfig(b)
	cfg.Gossip.noAutoSync = true
	server := startOnHost(b, mn, 0, cfg, dir)
	if got := server.Graph().Snapshot().NumChannels(); got != g.channels {
		b.Fatalf("server holds %d channels, want %d", got, g.channels)
	}
	var bytes, items float64
	var cpu, resync, resyncCPU, fastest time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ccfg := testConfig(b)
		ccfg.Gossip.noAutoSync = true
		client := startOnHost(b, mn, i+1, ccfg, "")
		if err := mn.LinkAll(); err != nil {
			b.Fatal(err)
		}
		if _, err := mn.ConnectPeers(client.ID(), server.ID()); err != nil {
			b.Fatal(err)
		}
		stopProfile := syncProfile(b)
		cpu0 := processCPU(b)
		b.StartTimer()
		start := time.Now()
		n, err := client.SyncGraph(context.Background(), server.ID(), time.Time{})
		took := time.Since(start)
		b.StopTimer()
		cpu += processCPU(b) - cpu0
		stopProfile()
		if fastest == 0 || took < fastest {
			fastest = took
		}
		if err != nil {
			b.Fatal(err)
		}
		if got := client.Graph().Snapshot().NumChannels(); got != g.channels {
			b.Fatalf("client got %d channels, want %d", got, g.channels)
		}
		items += float64(n)
		bytes += counterValue(b, client.gossip.m.syncBytes, "client")
		// The same sync again, as after a reconnect: every item is one the
		// client holds, a duplicate before any signature check.
		start, cpu0 = time.Now(), processCPU(b)
		if _, err := client.SyncGraph(context.Background(), server.ID(), time.Time{}); err != nil {
			b.Fatal(err)
		}
		resync += time.Since(start)
		resyncCPU += processCPU(b) - cpu0
		client.Close()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/sync")
	b.ReportMetric(fastest.Seconds(), "s/fastest-sync")
	b.ReportMetric(bytes/float64(b.N)/float64(g.channels), "bytes/channel")
	b.ReportMetric(items/float64(b.N), "items/sync")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/sync")
	b.ReportMetric(resync.Seconds()/float64(b.N), "s/resync")
	b.ReportMetric(resyncCPU.Seconds()/float64(b.N), "cpu-s/resync")
}

// syncProfile starts a CPU profile of the sync alone (not of building the
// graph) into the file PAYMESH_SYNC_CPUPROFILE names, if set; the returned
// function stops it.
func syncProfile(b *testing.B) func() {
	b.Helper()
	path := os.Getenv("PAYMESH_SYNC_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

// processCPU returns the user and system CPU time the process has used: a
// sync's CPU time (client and server, both in this process) tells its cost
// on a machine too busy for wall times to mean much.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGraphMemory80k measures the heap a node spends on the graph:
// the validator's bookkeeping and the routing graph, loaded from the store
// at start, per channel.
func BenchmarkGraphMemory80k(b *testing.B) {
	g := loadBenchGraph(b, 15_000, 80_000)
	dir := writeBenchStore(b, g)
	var perChannel float64
	for i := 0; i < b.N; i++ {
		st, err := store.Open(store.Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		cfg := testConfig(b)
		n, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		n.store = st
		v, err := gossip.NewValidator(gossip.Config{})
		if err != nil {
			b.Fatal(err)
		}
		s := &gossipService{n: n, v: v, graph: routing.NewGraph(), log: n.log, own: map[uint64]*ownChannel{}, lastTS: map[ownKey]int64{}}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := s.load(time.Now()); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perChannel = float64(after.HeapAlloc-before.HeapAlloc) / float64(g.channels)
		runtime.KeepAlive(s)
		st.Close()
	}
	b.ReportMetric(perChannel, "heap-bytes/channel")
}
