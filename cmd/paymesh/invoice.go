package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/paymesh/paymesh/api"
	"github.com/paymesh/paymesh/protocol/invoice"
)

func newInvoiceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "invoice",
		Short: "Create, decode, list and show invoices (payment requests)",
	}
	var amount uint64
	var desc string
	var expiry time.Duration
	newCmd := &cobra.Command{
		Use:   "new --amount X [--desc D] [--expiry 1h]",
		Short: "Create an invoice and print its text for the payer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if expiry <= 0 || expiry > invoice.MaxExpiry {
				return fmt.Errorf("--expiry %v outside (0, %v]", expiry, invoice.MaxExpiry)
			}
			if expiry%time.Second != 0 {
				return fmt.Errorf("--expiry %v: whole seconds only", expiry)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			inv, err := c.CreateInvoice(cmd.Context(), api.CreateInvoiceRequest{Amount: amount, Description: desc, ExpirySeconds: int64(expiry / time.Second)})
			if err != nil {
				return err
			}
			return g.output(cmd, inv, func(w io.Writer) { fprintf(w, "%s\n", inv.Invoice) })
		},
	}
	newCmd.Flags().Uint64Var(&amount, "amount", 0, "amount to be paid (0: the payer chooses)")
	newCmd.Flags().StringVar(&desc, "desc", "", "what the payment is for")
	newCmd.Flags().DurationVar(&expiry, "expiry", time.Hour, "how long the invoice can be paid")

	decode := &cobra.Command{
		Use:   "decode INVOICE",
		Short: "Decode and verify an invoice (checksum and payee signature); needs no daemon",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			text := strings.TrimSpace(args[0])
			inv, err := invoice.Decode(text)
			if err != nil {
				return err
			}
			d := api.DescribeInvoice(text, inv, time.Now())
			return g.output(cmd, d, func(w io.Writer) { printInvoice(w, d) })
		},
	}
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List this node's invoices, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return errors.New("--limit must be >= 0")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			invs, err := c.Invoices(cmd.Context(), limit)
			if err != nil {
				return err
			}
			return g.output(cmd, invs, func(w io.Writer) {
				if len(invs) == 0 {
					fprintf(w, "no invoices\n")
					return
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fprintf(tw, "PAYMENT HASH\tAMOUNT\tRECEIVED\tSTATE\tEXPIRES\tDESCRIPTION\n")
				for _, inv := range invs {
					fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", inv.PaymentHash[:16], inv.Amount, inv.AmountReceived, inv.State, inv.ExpiresAt, oneLineText(inv.Description, 40))
				}
				tw.Flush()
			})
		},
	}
	list.Flags().IntVar(&limit, "limit", 100, "at most this many invoices (0: all)")
	show := &cobra.Command{
		Use:   "show HASH",
		Short: "Show one of this node's invoices and its payment state (HASH: 64 hex digits or a unique prefix)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			inv, err := c.Invoice(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.output(cmd, inv, func(w io.Writer) { printInvoice(w, inv) })
		},
	}
	cancel := &cobra.Command{
		Use:   "cancel HASH",
		Short: "Withdraw an open invoice: payments to it are refused from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			inv, err := c.CancelInvoice(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.output(cmd, inv, func(w io.Writer) { fprintf(w, "invoice %s %s\n", inv.PaymentHash, inv.State) })
		},
	}
	cmd.AddCommand(newCmd, decode, list, show, cancel)
	return cmd
}

// oneLineText shortens s to at most n runes on one line, for tables.
func oneLineText(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func printInvoice(w io.Writer, inv api.Invoice) {
	amount := fmt.Sprint(inv.Amount)
	if inv.Amount == 0 {
		amount = "any (the payer chooses)"
	}
	fprintf(w, "payment hash: %s\npayee:        %s\namount:       %s\ndescription:  %q\ncreated:      %s\nexpires:      %s\nexpired:      %v\n",
		inv.PaymentHash, inv.Payee, amount, inv.Description, inv.CreatedAt, inv.ExpiresAt, inv.Expired)
	for i, h := range inv.RouteHints {
		fprintf(w, "route hint %d:\n", i+1)
		for _, hop := range h {
			fprintf(w, "  via %s channel %d fee %d+%dppm delta %dms\n", hop.Node, hop.ShortChannelID, hop.FeeBase, hop.FeePPM, hop.ExpiryDeltaMS)
		}
	}
	if inv.State == "" {
		return
	}
	fprintf(w, "state:        %s\nreceived:     %d\ninvoice:      %s\n", inv.State, inv.AmountReceived, inv.Invoice)
	if inv.PaidAt != "" {
		fprintf(w, "paid at:      %s\npreimage:     %s\n", inv.PaidAt, inv.Preimage)
	}
	for _, h := range inv.HTLCs {
		fprintf(w, "  paid by htlc %d on channel %s: %d\n", h.ID, h.Channel, h.Amount)
	}
}
