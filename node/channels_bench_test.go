package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	dto "github.com/prometheus/client_model/go"

	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/store"
)

// BenchmarkChannelThroughput measures settled HTLCs per second between two
// real nodes in one process: libp2p over loopback, Badger on disk with
// synced writes. Each op is one HTLC offered, fulfilled by the peer and
// co-signed; inflight HTLCs are kept outstanding at any time.
//
// Besides htlcs/s (wall clock) it reports what the machine being shared
// does not blur as much: the process's CPU time (user + system) per HTLC,
// the synced group commits of both nodes per 1,000 HTLCs and their mean
// time (from handing a round to the store to the session learning it is
// durable), and the bytes the process wrote to storage per HTLC.
func BenchmarkChannelThroughput(b *testing.B) {
	for _, inflight := range []int{1, 64, 1024, 4000} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			a, p, _, _ := startPair(b)
			ctx := context.Background()
			id, err := a.OpenChannel(ctx, p.ID(), 1<<40, 0)
			if err != nil {
				b.Fatal(err)
			}
			hashes := make([]channel.Hash, b.N)
			for i := range hashes {
				hashes[i] = p.AddPreimage(randomPreimage(b))
			}
			sem := make(chan struct{}, inflight)
			var wg sync.WaitGroup
			expiry := time.Now().Add(time.Hour)
			base := commitStats(a).add(commitStats(p))
			cpu0, io0 := chanCPU(), writtenBytes()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				sem <- struct{}{}
				res, err := a.OfferHTLC(ctx, id, 1, hashes[i], expiry, nil)
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if r := <-res; r.Preimage == nil {
						b.Errorf("HTLC failed: %q %v", r.Reason, r.Err)
					}
					<-sem
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "htlcs/s")
			cpu := chanCPU() - cpu0
			if io := writtenBytes(); io0 >= 0 && io >= io0 {
				b.ReportMetric(float64(io-io0)/float64(b.N), "written-B/htlc")
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/htlc")
			c := commitStats(a).add(commitStats(p)).sub(base)
			b.ReportMetric(float64(c.n)*1000/float64(b.N), "syncs/kHTLC")
			if c.n > 0 {
				b.ReportMetric(c.sec*1000/float64(c.n), "ms/sync")
			}
		})
	}
}

// BenchmarkChannelIdleLatency measures the round trip of one HTLC on an idle
// channel, from offer to the fulfill being known to the payer, and reports
// its p50 and p99.
func BenchmarkChannelIdleLatency(b *testing.B) {
	a, p, _, _ := startPair(b)
	ctx := context.Background()
	id, err := a.OpenChannel(ctx, p.ID(), 1<<40, 0)
	if err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	expiry := time.Now().Add(time.Hour)
	b.ResetTimer()
	for range b.N {
		hash := p.AddPreimage(randomPreimage(b))
		t0 := time.Now()
		r, err := a.SendHTLC(ctx, id, 1, hash, expiry, nil)
		if err != nil || r.Preimage == nil {
			b.Fatalf("HTLC: %+v %v", r, err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkChannelDiskPerHTLC settles b.N HTLCs over a channel between two
// nodes with on-disk stores, then closes the payee, flattens its Badger LSM
// tree and reports the bytes of its table files per settled HTLC: what a
// channel costs on disk once its log has been compacted to snapshots and
// checkpoints.
func BenchmarkChannelDiskPerHTLC(b *testing.B) {
	a, p, _, dirP := startPair(b)
	ctx := context.Background()
	id, err := a.OpenChannel(ctx, p.ID(), 1<<40, 0)
	if err != nil {
		b.Fatal(err)
	}
	sem := make(chan struct{}, 1024)
	var wg sync.WaitGroup
	expiry := time.Now().Add(time.Hour)
	b.ResetTimer()
	for range b.N {
		sem <- struct{}{}
		res, err := a.OfferHTLC(ctx, id, 1, p.AddPreimage(randomPreimage(b)), expiry, nil)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); <-res; <-sem }()
	}
	wg.Wait()
	b.StopTimer()
	dirA := a.cfg.DataDir
	for _, n := range []*Node{a, p} {
		if err := n.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(compactedBytes(b, dirP)/float64(b.N), "payee-disk-B/htlc")
	b.ReportMetric(compactedBytes(b, dirA)/float64(b.N), "payer-disk-B/htlc")
}

// syncStats counts a node's synced group commits of channel records and
// their total time.
type syncStats struct {
	n   uint64
	sec float64
}

func (c syncStats) add(d syncStats) syncStats { return syncStats{c.n + d.n, c.sec + d.sec} }
func (c syncStats) sub(d syncStats) syncStats { return syncStats{c.n - d.n, c.sec - d.sec} }

func commitStats(n *Node) syncStats {
	var m dto.Metric
	if err := n.chans.metrics.commitSeconds.Write(&m); err != nil {
		return syncStats{}
	}
	return syncStats{m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()}
}

// chanCPU returns the user plus system CPU time of the process so far.
func chanCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writtenBytes returns the bytes the process caused to be written to
// storage so far (Linux /proc/self/io), or -1.
func writtenBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// compactedBytes flattens a stopped node's Badger LSM tree and returns the
// size of its table files. Flatten alone leaves level 0 as it is when it is
// the only level with tables (it merges levels, and then there is only
// one), so deleted records and their tombstones could stay side by side
// in level-0 tables, a residue of up to a few memtables whatever the
// number of HTLCs; level 0 is compacted first, on a close.
func compactedBytes(b *testing.B, dataDir string) float64 {
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(dataDir, DBDir)).
		WithLogger(nil).WithCompactL0OnClose(true).WithSyncWrites(true))
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(store.Options{Dir: filepath.Join(dataDir, DBDir)})
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Compact(); err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	var sst int64
	entries, _ := os.ReadDir(filepath.Join(dataDir, DBDir))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sst") {
			if fi, err := e.Info(); err == nil {
				sst += fi.Size()
			}
		}
	}
	return float64(sst)
}
