package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/paymesh/paymesh/api"
)

// newStreamCmd is `paymesh stream`: payment streams, many small payments
// to one payee over one route (pay-per-packet).
func newStreamCmd(g *globals) *cobra.Command {
	root := &cobra.Command{Use: "stream", Short: "Payment streams: many small payments to one node over one route"}
	var (
		amount, maxAmount, maxFee uint64
		count, concurrency        int
		timeout                   time.Duration
		keep                      bool
	)
	send := &cobra.Command{
		Use:   "send NODEID --amount X [--count N]",
		Short: "Open a stream to a node and send it COUNT payments of AMOUNT",
		Long: "Open a payment stream to NODEID and send --count payments of --amount each, at most\n" +
			"--concurrency in flight. The first payment sets the stream up along its route with an\n" +
			"onion; the others carry a 50-byte stream packet that the hops forward by table lookup.\n" +
			"Each payment is still an HTLC at every hop, released only by the payee.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if amount == 0 {
				return errors.New("--amount is required")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			st, err := c.OpenStream(cmd.Context(), api.StreamRequest{Dest: args[0], MaxAmount: max(maxAmount, amount), MaxFee: maxFee})
			if err != nil {
				return err
			}
			res, err := c.StreamPay(cmd.Context(), st.ID, api.StreamPayRequest{Amount: amount, Count: count, Concurrency: concurrency, TimeoutSeconds: int(timeout.Seconds())})
			if !keep {
				if cerr := c.CloseStream(cmd.Context(), st.ID); cerr != nil && err == nil {
					err = cerr
				}
			}
			if err != nil {
				return err
			}
			if err := g.output(cmd, res, func(w io.Writer) { describeStreamPay(w, res) }); err != nil {
				return err
			}
			if res.Failed > 0 {
				return fmt.Errorf("%d of %d payments failed: %s", res.Failed, res.Failed+res.Succeeded, res.LastError)
			}
			return nil
		},
	}
	send.Flags().Uint64Var(&amount, "amount", 0, "amount the payee receives per payment")
	send.Flags().IntVar(&count, "count", 1000, "payments to send")
	send.Flags().IntVar(&concurrency, "concurrency", 256, "payments in flight at most")
	send.Flags().Uint64Var(&maxAmount, "max-amount", 0, "largest payment the stream carries (default --amount)")
	send.Flags().Uint64Var(&maxFee, "max-fee", 0, "fee cap for one payment of --max-amount (default 5% + 1000)")
	send.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "stop sending after this long")
	send.Flags().BoolVar(&keep, "keep", false, "keep the stream open afterwards (see paymesh stream list)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the open payment streams",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ss, err := c.Streams(cmd.Context())
			if err != nil {
				return err
			}
			return g.output(cmd, ss, func(w io.Writer) {
				if len(ss) == 0 {
					fprintf(w, "no payment streams\n")
					return
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tDEST\tSUCCEEDED\tFAILED\tAMOUNT\tFEES\tROUTES\tHOPS")
				for _, s := range ss {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", s.ID, shortPeer(s.Dest), s.Succeeded, s.Failed, s.Amount, s.Fees, s.Routes, len(s.Route))
				}
				tw.Flush()
			})
		},
	}
	closeCmd := &cobra.Command{
		Use:   "close ID",
		Short: "Close a payment stream",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			return c.CloseStream(cmd.Context(), args[0])
		},
	}
	root.AddCommand(send, list, closeCmd)
	return root
}

func describeStreamPay(w io.Writer, r api.StreamPayResult) {
	rate := 0.0
	if r.ElapsedMS > 0 {
		rate = float64(r.Succeeded) / (r.ElapsedMS / 1000)
	}
	fprintf(w, "stream %s to %s: %d succeeded, %d failed in %.2f s (%.0f payments/s)\n", r.Stream.ID, shortPeer(r.Stream.Dest), r.Succeeded, r.Failed, r.ElapsedMS/1000, rate)
	fprintf(w, "  delivered %d, fees %d, latency p50 %.1f ms p99 %.1f ms, %d route(s)\n", r.Amount, r.Fees, r.P50MS, r.P99MS, r.Stream.Routes)
	if r.LastError != "" {
		fprintf(w, "  last error: %s\n", r.LastError)
	}
}
