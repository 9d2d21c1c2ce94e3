package node

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paymesh/paymesh/protocol/channel"
)

// benchLine starts count nodes with on-disk, synced Badger stores, connects
// every pair, opens a channel between neighbours (a line) and waits for the
// graph to reach every node.
func benchLine(b *testing.B, count int) []*Node {
	b.Helper()
	nodes := make([]*Node, count)
	for i := range nodes {
		nodes[i] = startDir(b, initDir(b))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ids []channel.ID
	for i := range nodes {
		for j := range i {
			if _, err := nodes[i].Connect(ctx, nodes[j].Addrs()[0].String()); err != nil {
				b.Fatal(err)
			}
		}
	}
	for i := 0; i+1 < count; i++ {
		id, err := nodes[i].OpenChannel(ctx, nodes[i+1].ID(), 1<<40, 0)
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	cl := &Cluster{Nodes: nodes}
	if err := cl.WaitGraph(ctx, ids); err != nil {
		b.Fatal(err)
	}
	return nodes
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPayment3Hop measures spontaneous 3-hop payments (4 real nodes in
// one process, libp2p on loopback, synced on-disk Badger) with 64 and 512
// payments in flight: payments/s, and CPU time per payment over all four
// nodes.
func BenchmarkPayment3Hop(b *testing.B) {
	for _, inflight := range []int{64, 512} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) { benchPayments(b, inflight) })
	}
}

func benchPayments(b *testing.B, inflight int) {
	nodes := benchLine(b, 4)
	src, dst := nodes[0], nodes[3]
	ctx := context.Background()
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	for range b.N {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p, err := src.Pay(ctx, PayRequest{Dest: dst.ID(), Amount: 1000, MaxFee: 10_000})
			if err != nil || p.Status != PaymentSucceeded {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el, cpu := time.Since(t0), cpuTime()-cpu0
	b.StopTimer()
	if failed > 0 {
		b.Errorf("%d of %d payments failed", failed, b.N)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "payments/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/payment")
}

// BenchmarkPaymentIdleLatency measures one 3-hop payment at a time on an
// idle path: p50 and p99 from Pay to the preimage.
func BenchmarkPaymentIdleLatency(b *testing.B) {
	nodes := benchLine(b, 4)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		p, err := nodes[0].Pay(ctx, PayRequest{Dest: nodes[3].ID(), Amount: 1000, MaxFee: 10_000})
		if err != nil || p.Status != PaymentSucceeded {
			b.Fatalf("payment: %+v %v", p, err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkStream3Hop measures 3-hop payments over one payment stream (4
// real nodes in one process, libp2p on loopback, synced on-disk Badger):
// the first payment sets the stream up with a Sphinx onion, every later one
// carries a stream packet. Reports payments/s and CPU time per payment over
// all four nodes.
func BenchmarkStream3Hop(b *testing.B) {
	for _, inflight := range []int{64, 1024} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			nodes := benchLine(b, 4)
			st, err := nodes[0].OpenStream(StreamRequest{Dest: nodes[3].ID(), MaxAmount: 1000, MaxFee: 10_000})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if _, err := st.Pay(ctx, 1000); err != nil { // set the stream up
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := cpuTime()
			res := st.PayMany(ctx, 1000, b.N, inflight)
			cpu := cpuTime() - cpu0
			b.StopTimer()
			if res.Failed > 0 {
				b.Errorf("%d of %d payments failed: %s", res.Failed, b.N, res.LastError)
			}
			b.ReportMetric(float64(b.N)/(res.ElapsedMS/1000), "payments/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/payment")
			b.ReportMetric(res.P50MS, "p50-ms")
			b.ReportMetric(res.P99MS, "p99-ms")
		})
	}
}

// BenchmarkStreamIdleLatency measures one stream payment at a time over 3
// hops on an idle path: p50 and p99 from Pay to the preimage.
func BenchmarkStreamIdleLatency(b *testing.B) {
	nodes := benchLine(b, 4)
	st, err := nodes[0].OpenStream(StreamRequest{Dest: nodes[3].ID(), MaxAmount: 1000, MaxFee: 10_000})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := st.Pay(ctx, 1000); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := st.Pay(ctx, 1000); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
