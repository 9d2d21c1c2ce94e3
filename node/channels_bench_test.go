package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/store"
)

// BenchmarkChannelThroughput measures settled HTLCs per second between two
// real nodes in one process: libp2p over loopback, Badger on disk with
// synced writes. Each op is one HTLC offered, fulfilled by the peer and
// co-signed; inflight HTLCs are kept outstanding at any time.
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

// compactedBytes flattens a stopped node's Badger LSM tree and returns the
// size of its table files.
func compactedBytes(b *testing.B, dataDir string) float64 {
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
