package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/paymesh/paymesh/node"
	"github.com/paymesh/paymesh/protocol/channel"
)

func newDevnetCmd(g *globals) *cobra.Command {
	var (
		channelAmount uint64
		payAmount     uint64
		nodes         int
		workers       int
		duration      time.Duration
		dir           string
		logLevel      string
		noPay         bool
		mode          string
		burst         int
	)
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "Run a local network of real nodes making payments, until Ctrl-C",
		Long: `Start N real paymesh nodes in this process: real libp2p on loopback,
in-memory Badger, all connected, with channels in a ring (and chords across
it from 6 nodes on). Once every node has learnt the graph by gossip, random
nodes pay random nodes over multi-hop routes, and a line every second shows
payments/s, success ratio, latency and fees.

--mode pay makes every payment on its own: route search, Sphinx onion,
payment record. --mode stream has each worker open a payment stream to a
random node and send --burst payments over it before moving on: the first
sets the stream up with an onion, the others carry a 50-byte stream packet
(pay-per-packet); every one is still an HTLC at each hop.

Each node gets a directory holding its api.addr and api.token, so every
client command works against it while the devnet runs:

  paymesh status --datadir DIR/node0
  paymesh channel list --datadir DIR/node2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if mode != "pay" && mode != "stream" {
				return fmt.Errorf("--mode must be pay or stream, got %q", mode)
			}
			if nodes < 2 || nodes > 200 {
				return fmt.Errorf("--nodes must be between 2 and 200, got %d", nodes)
			}
			lvl, err := node.ParseLogLevel(logLevel)
			if err != nil {
				return err
			}
			if dir == "" {
				if dir, err = os.MkdirTemp("", "paymesh-devnet-"); err != nil {
					return err
				}
				defer os.RemoveAll(dir)
			}
			out := cmd.OutOrStdout()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lvl}))
			ctx := cmd.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			t0 := time.Now()
			cl, err := node.StartCluster(ctx, node.ClusterConfig{Nodes: nodes, Dir: dir, Logger: log})
			if err != nil {
				return err
			}
			defer cl.Close()
			chans, err := openTopology(ctx, cl, channelAmount)
			if err != nil {
				return err
			}
			gctx, gcancel := context.WithTimeout(ctx, 60*time.Second)
			err = cl.WaitGraph(gctx, chans)
			gcancel()
			if err != nil {
				return err
			}
			if err := printDevnet(g, cmd, cl, chans, dir, time.Since(t0)); err != nil {
				return err
			}
			if noPay || g.json {
				if !g.json {
					fprintf(out, "\nnetwork up, no payments (--no-pay); Ctrl-C to stop\n")
				}
				<-ctx.Done()
			} else {
				fprintf(out, "\nsending payments of %d between random nodes (%d workers, mode %s); Ctrl-C to stop\n", payAmount, workers, mode)
				burstN := 1
				if mode == "stream" {
					burstN = max(burst, 1)
				}
				streamPayments(ctx, out, cl, payAmount, workers, burstN)
			}
			fprintf(cmd.ErrOrStderr(), "stopping %d nodes\n", len(cl.Nodes))
			return cl.Close()
		},
	}
	f := cmd.Flags()
	f.IntVar(&nodes, "nodes", 5, "number of nodes")
	f.Uint64Var(&channelAmount, "channel-amount", 1_000_000_000, "funding of each channel (half is pushed to the other side)")
	f.Uint64Var(&payAmount, "amount", 1_000, "amount of each payment")
	f.IntVar(&workers, "workers", 64, "payments in flight at once")
	f.DurationVar(&duration, "duration", 0, "stop after this long (default: until Ctrl-C)")
	f.BoolVar(&noPay, "no-pay", false, "only start the network, make no payments")
	f.StringVar(&mode, "mode", "stream", "pay: every payment routed with its own onion; stream: payment streams (see above)")
	f.IntVar(&burst, "burst", 200, "payments per stream before a worker picks another payee (--mode stream)")
	f.StringVar(&dir, "dir", "", "directory for the nodes' api.addr/api.token (default: a temp dir removed on exit)")
	f.StringVar(&logLevel, "log-level", "error", "log level of the nodes")
	return cmd
}

// openTopology opens a ring, plus chords across it from 6 nodes on, so that
// payments have alternative routes.
func openTopology(ctx context.Context, cl *node.Cluster, amount uint64) ([]channel.ID, error) {
	ids, err := cl.OpenRing(ctx, amount, amount/2)
	if err != nil {
		return nil, err
	}
	n := len(cl.Nodes)
	if n >= 6 {
		for i := 0; i < n/2; i += 2 {
			id, err := cl.Nodes[i].OpenChannel(ctx, cl.Nodes[i+n/2].ID(), amount, amount/2)
			if err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func printDevnet(g *globals, cmd *cobra.Command, cl *node.Cluster, chans []channel.ID, dir string, took time.Duration) error {
	type row struct {
		Node    int    `json:"node"`
		PeerID  string `json:"peer_id"`
		Addr    string `json:"addr"`
		API     string `json:"api"`
		DataDir string `json:"datadir"`
	}
	rows := make([]row, len(cl.Nodes))
	for i, n := range cl.Nodes {
		addr := ""
		if as := n.Addrs(); len(as) > 0 {
			addr = as[0].String()
		}
		rows[i] = row{i, n.ID().String(), addr, n.APIAddr(), cl.Dirs[i]}
	}
	return g.output(cmd, rows, func(w io.Writer) {
		fprintf(w, "paymesh devnet: %d nodes on loopback, %d channels, graph gossiped to every node in %v\n\n", len(rows), len(chans), took.Round(time.Millisecond))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tPEER ID\tMULTIADDR\tAPI")
		for _, r := range rows {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.Node, r.PeerID, r.Addr, r.API)
		}
		tw.Flush()
		fprintf(w, "\ntry, in another terminal:\n  go run ./cmd/paymesh channel list --datadir %s\n  go run ./cmd/paymesh payments list --datadir %s\n", filepathJoin(dir, "node0"), filepathJoin(dir, "node0"))
	})
}

func filepathJoin(a, b string) string { return a + string(os.PathSeparator) + b }

// payStats accumulates one second of payments.
type payStats struct {
	mu       sync.Mutex
	ok, fail int
	lat      []time.Duration
	fees     uint64
	totalOK  int
	totalAll int
	lastErr  string
}

func (s *payStats) add(ok bool, lat time.Duration, fee uint64, failure string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.totalAll++
	if ok {
		s.ok++
		s.totalOK++
		s.fees += fee
		s.lat = append(s.lat, lat)
	} else {
		s.fail++
		s.lastErr = failure
	}
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, len(d)*p/100)]
}

// streamPayments runs workers that pay random nodes until ctx ends, and
// prints a line of statistics every second. With burst > 1 each worker
// opens a payment stream to its payee and sends burst payments over it;
// with burst 1 every payment is routed on its own.
func streamPayments(ctx context.Context, w io.Writer, cl *node.Cluster, amount uint64, workers, burst int) {
	st := &payStats{}
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			for ctx.Err() == nil {
				a := r.IntN(len(cl.Nodes))
				b := r.IntN(len(cl.Nodes) - 1)
				if b >= a {
					b++
				}
				if burst > 1 {
					payStream(ctx, cl.Nodes[a], cl.Nodes[b], amount, burst, st)
					continue
				}
				t0 := time.Now()
				p, err := cl.Nodes[a].Pay(context.WithoutCancel(ctx), node.PayRequest{Dest: cl.Nodes[b].ID(), Amount: amount, Timeout: 30 * time.Second})
				if ctx.Err() != nil && (err != nil || p.Status != node.PaymentSucceeded) {
					return // cut short by the stop, not a failure
				}
				switch {
				case err != nil:
					st.add(false, 0, 0, err.Error())
				default:
					st.add(p.Status == node.PaymentSucceeded, time.Since(t0), p.Fee, p.Failure)
				}
			}
		}()
	}
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var totalFees uint64
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
		}
		st.mu.Lock()
		lat := st.lat
		ok, fail, fees, lastErr := st.ok, st.fail, st.fees, st.lastErr
		st.lat, st.ok, st.fail, st.fees, st.lastErr = nil, 0, 0, 0, ""
		st.mu.Unlock()
		totalFees += fees
		if done {
			break
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		ratio := 100.0
		if ok+fail > 0 {
			ratio = 100 * float64(ok) / float64(ok+fail)
		}
		line := fmt.Sprintf("[%4ds] %6d payments/s  ok %5.1f%%  p50 %6.2f ms  p99 %7.2f ms  fees %d",
			int(time.Since(start).Seconds()), ok+fail, ratio, ms(pct(lat, 50)), ms(pct(lat, 99)), fees)
		if lastErr != "" {
			line += "  (last failure: " + truncate(lastErr, 60) + ")"
		}
		fmt.Fprintln(w, line)
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	st.mu.Lock()
	defer st.mu.Unlock()
	fmt.Fprintf(w, "\n%d payments in %.1f s (%.0f/s), %d succeeded, %d in fees\n", st.totalAll, el, float64(st.totalAll)/el, st.totalOK, totalFees)
}

// payStream sends count payments from a to b over one payment stream.
func payStream(ctx context.Context, a, b *node.Node, amount uint64, count int, st *payStats) {
	s, err := a.OpenStream(node.StreamRequest{Dest: b.ID(), MaxAmount: amount})
	if err != nil {
		st.add(false, 0, 0, err.Error())
		return
	}
	defer s.Close()
	for range count {
		t0 := time.Now()
		p, err := s.Pay(context.WithoutCancel(ctx), amount)
		if ctx.Err() != nil && err != nil {
			return // cut short by the stop, not a failure
		}
		if err != nil {
			st.add(false, 0, 0, err.Error())
			return // the next stream may find a better payee
		}
		st.add(true, time.Since(t0), p.Fee, "")
		if ctx.Err() != nil {
			return
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
