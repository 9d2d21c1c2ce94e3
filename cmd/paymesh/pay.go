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

func newPayCmds(g *globals) []*cobra.Command {
	var (
		amount, maxFee uint64
		timeout        time.Duration
		attempts       int
	)
	printPayment := func(cmd *cobra.Command, p api.Payment) error {
		if err := g.output(cmd, p, func(w io.Writer) { describePayment(w, p) }); err != nil {
			return err
		}
		if p.Status != "succeeded" {
			return fmt.Errorf("payment %s failed: %s", p.Hash, p.Failure)
		}
		return nil
	}
	pay := &cobra.Command{
		Use:   "pay INVOICE",
		Short: "Pay an invoice: route, send, retry, split across routes when needed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			p, err := c.Pay(cmd.Context(), api.PayRequest{Invoice: args[0], Amount: amount, MaxFee: maxFee, TimeoutSeconds: int(timeout.Seconds()), MaxAttempts: attempts})
			if err != nil {
				return err
			}
			return printPayment(cmd, p)
		},
	}
	pay.Flags().Uint64Var(&amount, "amount", 0, "amount, for an invoice without one")
	send := &cobra.Command{
		Use:   "send NODEID --amount X",
		Short: "Pay a node spontaneously: the preimage travels in the onion",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if amount == 0 {
				return errors.New("--amount is required")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			p, err := c.Send(cmd.Context(), api.SendRequest{Dest: args[0], Amount: amount, MaxFee: maxFee, TimeoutSeconds: int(timeout.Seconds()), MaxAttempts: attempts})
			if err != nil {
				return err
			}
			return printPayment(cmd, p)
		},
	}
	send.Flags().Uint64Var(&amount, "amount", 0, "amount the payee receives")
	for _, c := range []*cobra.Command{pay, send} {
		c.Flags().Uint64Var(&maxFee, "max-fee", 0, "fee cap (default 5% + 1000)")
		c.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "give up after this long")
		c.Flags().IntVar(&attempts, "max-attempts", 16, "HTLCs to try at most")
	}

	var limit int
	payments := &cobra.Command{Use: "payments", Short: "List and show payments"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List payments, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ps, err := c.Payments(cmd.Context(), limit)
			if err != nil {
				return err
			}
			return g.output(cmd, ps, func(w io.Writer) {
				if len(ps) == 0 {
					fprintf(w, "no payments\n")
					return
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "HASH\tDEST\tAMOUNT\tFEE\tSTATUS\tATTEMPTS\tLATENCY")
				for _, p := range ps {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\t%.1f ms\n", p.Hash[:16], shortPeer(p.Dest), p.Amount, p.Fee, p.Status, len(p.Attempts), p.LatencyMS)
				}
				tw.Flush()
			})
		},
	}
	list.Flags().IntVar(&limit, "limit", 100, "at most this many")
	show := &cobra.Command{
		Use:   "show HASH",
		Short: "Show a payment with its attempts and routes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			p, err := c.Payment(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.output(cmd, p, func(w io.Writer) { describePayment(w, p) })
		},
	}
	payments.AddCommand(list, show)

	forwards := &cobra.Command{
		Use:   "forwards",
		Short: "List HTLCs this node forwarded and the fees earned",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			fs, err := c.Forwards(cmd.Context(), limit)
			if err != nil {
				return err
			}
			return g.output(cmd, fs, func(w io.Writer) {
				var fees uint64
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "WHEN\tIN\tOUT\tAMOUNT\tFEE\tRESULT")
				for _, f := range fs {
					res := "settled"
					if f.Payments > 0 {
						res = fmt.Sprintf("settled, %d stream payments", f.Payments)
					}
					if !f.Settled {
						res = "failed: " + f.Failure
					} else {
						fees += f.Fee
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", time.UnixMilli(f.EndedMS).Format(time.TimeOnly), f.InChannel[:12], f.OutChannel[:12], f.OutAmount, f.Fee, res)
				}
				tw.Flush()
				fprintf(w, "%d forwards, %d earned in fees\n", len(fs), fees)
			})
		},
	}
	forwards.Flags().IntVar(&limit, "limit", 100, "at most this many")
	return []*cobra.Command{pay, send, payments, forwards}
}

func describePayment(w io.Writer, p api.Payment) {
	fprintf(w, "payment %s: %s\n  to %s, amount %d, fee %d, %d attempt(s), %.1f ms\n", p.Hash, p.Status, p.Dest, p.Amount, p.Fee, len(p.Attempts), p.LatencyMS)
	if p.Preimage != "" {
		fprintf(w, "  preimage %s\n", p.Preimage)
	}
	if p.Failure != "" {
		fprintf(w, "  failure: %s\n", p.Failure)
	}
	for i, a := range p.Attempts {
		fprintf(w, "  attempt %d: %s, delivers %d", i+1, a.Status, a.Delivered)
		if a.Failure != "" {
			fprintf(w, " (hop %d: %s)", a.FailingHop, a.Failure)
		}
		fprintf(w, "\n")
		for _, h := range a.Route {
			fprintf(w, "    → %s via %d: %d (fee %d)\n", shortPeer(h.Node), h.Channel, h.Amount, h.Fee)
		}
	}
}
