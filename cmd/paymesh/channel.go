package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/paymesh/paymesh/api"
)

func newChannelCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "channel",
		Short: "Open, inspect, close and audit payment channels",
	}
	var amount, push uint64
	var timeout int
	open := &cobra.Command{
		Use:   "open PEERID --amount X [--push Y]",
		Short: "Open a channel funded with X, of which Y goes to the peer at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if amount == 0 {
				return errors.New("--amount is required and must be positive")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			r, err := c.OpenChannel(cmd.Context(), api.OpenChannelRequest{Peer: args[0], Amount: amount, Push: push, TimeoutSeconds: timeout})
			if err != nil {
				return err
			}
			return g.output(cmd, r, func(w io.Writer) { fprintf(w, "channel %s open\n", r.ID) })
		},
	}
	open.Flags().Uint64Var(&amount, "amount", 0, "this node's deposit")
	open.Flags().Uint64Var(&push, "push", 0, "part of the deposit given to the peer at open")
	open.Flags().IntVar(&timeout, "timeout", 30, "seconds to wait for the peer's signature")

	list := &cobra.Command{
		Use:   "list",
		Short: "List channels: id, peer, capacity, balances, pending HTLCs, state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			chans, err := c.Channels(cmd.Context())
			if err != nil {
				return err
			}
			return g.output(cmd, chans, func(w io.Writer) {
				if len(chans) == 0 {
					fprintf(w, "no channels\n")
					return
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintln(tw, "ID\tPEER\tCAPACITY\tLOCAL\tREMOTE\tPENDING\tSTATE\t")
				for _, ch := range chans {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t\n", ch.ID[:16], shortPeer(ch.Peer), ch.Capacity, ch.LocalBalance, ch.RemoteBalance, ch.PendingHTLCs, ch.State)
				}
				tw.Flush()
			})
		},
	}
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a channel and its pending HTLCs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ch, err := c.Channel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.output(cmd, ch, func(w io.Writer) { printChannel(w, ch) })
		},
	}
	closeCmd := &cobra.Command{
		Use:   "close ID",
		Short: "Close a channel cooperatively (waits for pending HTLCs to resolve)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ch, err := c.CloseChannel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.output(cmd, ch, func(w io.Writer) {
				fprintf(w, "channel %s closed: local %d, remote %d\n", ch.ID, ch.LocalBalance, ch.RemoteBalance)
			})
		},
	}
	audit := &cobra.Command{
		Use:   "audit ID",
		Short: "Verify the channel's signed state log end to end (exit 1 naming the first bad record)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			a, err := c.AuditChannel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := g.output(cmd, a, func(w io.Writer) {
				if a.OK {
					fprintf(w, "channel %s: log verified: %d records, %d checkpoints, latest state %d (%s)\n", a.Channel, a.Records, a.Checkpoints, a.Seq, a.StateHash)
				}
			}); err != nil {
				return err
			}
			if !a.OK {
				return fmt.Errorf("channel %s: audit failed: %s", a.Channel, a.Error)
			}
			return nil
		},
	}
	cmd.AddCommand(open, list, show, closeCmd, audit)
	return cmd
}

func shortPeer(p string) string {
	if len(p) > 16 {
		return p[:8] + "…" + p[len(p)-6:]
	}
	return p
}

func printChannel(w io.Writer, ch api.Channel) {
	fprintf(w, "id:        %s\nshort id:  %s\npeer:      %s\nopener:    %v\nstate:     %s\n", ch.ID, strconv.FormatUint(ch.ShortID, 10), ch.Peer, ch.Opener, ch.State)
	if ch.Failure != "" {
		fprintf(w, "failure:   %s\n", ch.Failure)
	}
	fprintf(w, "capacity:  %d\nlocal:     %d\nremote:    %d\npending:   %d HTLCs, %d\nseq:       %d\nconnected: %v\n",
		ch.Capacity, ch.LocalBalance, ch.RemoteBalance, ch.PendingHTLCs, ch.PendingAmount, ch.Seq, ch.Connected)
	for _, h := range ch.HTLCs {
		dir := "out"
		if h.Incoming {
			dir = "in "
		}
		fprintf(w, "  htlc %s %d amount %d hash %s expiry %d\n", dir, h.ID, h.Amount, h.PaymentHash, h.Expiry)
	}
}
