package main

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/paymesh/paymesh/api"
)

// addGraphCmds adds `graph` and `fees`.
func addGraphCmds(root *cobra.Command, g *globals) {
	root.AddCommand(newGraphCmd(g), newFeesCmd(g))
}

func newGraphCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Inspect and export the channel graph learnt by gossip",
	}
	var node string
	channels := &cobra.Command{
		Use:   "channels",
		Short: "List the graph's channels, or those of one node (--node PEERID)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			cs, err := c.GraphChannels(cmd.Context(), node)
			if err != nil {
				return err
			}
			return g.output(cmd, cs, func(w io.Writer) {
				if len(cs) == 0 {
					fprintf(w, "no channels\n")
					return
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fprintf(tw, "SHORT ID\tNODE1\tNODE2\tCAPACITY\tFEES 1→2\tFEES 2→1\n")
				for _, ch := range cs {
					fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", ch.ShortID, ch.Node1, ch.Node2, ch.Capacity, policyText(ch.Policies[0]), policyText(ch.Policies[1]))
				}
				tw.Flush()
			})
		},
	}
	channels.Flags().StringVar(&node, "node", "", "only the channels of this node (peer id)")
	cmd.AddCommand(&cobra.Command{
		Use:   "info",
		Short: "Show the number of nodes and channels, total capacity and last update",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			i, err := c.GraphInfo(cmd.Context())
			if err != nil {
				return err
			}
			return g.output(cmd, i, func(w io.Writer) {
				last := i.LastUpdate
				if last == "" {
					last = "never"
				}
				fprintf(w, "nodes:          %d\nchannels:       %d\ntotal capacity: %d\nlast update:    %s\nown channels:   %d\n", i.Nodes, i.Channels, i.TotalCapacity, last, i.OwnChannels)
			})
		},
	}, &cobra.Command{
		Use:   "node PEERID",
		Short: "Show what the graph knows of a node",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			n, err := c.GraphNode(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.output(cmd, n, func(w io.Writer) {
				fprintf(w, "id:        %s\n", n.ID)
				if !n.Announced {
					fprintf(w, "announced: no (known only as a channel end)\n")
				} else {
					fprintf(w, "alias:     %s\nonion key: %s\nannounced: %s\n", n.Alias, n.OnionKey, n.Timestamp)
				}
				fprintf(w, "addrs:\n")
				for _, a := range n.Addrs {
					fprintf(w, "  %s\n", a)
				}
				fprintf(w, "channels:  %d (capacity %d)\n", len(n.Channels), n.Capacity)
				for _, ch := range n.Channels {
					fprintf(w, "  %s\n", ch)
				}
			})
		},
	}, channels, &cobra.Command{
		Use:   "export FILE",
		Short: "Write the graph as paymesh-graph JSON (routing/EXPORT.md), loadable by the simulator",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			path, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			size, err := c.GraphExport(cmd.Context(), path)
			if err != nil {
				return err
			}
			out := map[string]any{"file": path, "bytes": size}
			return g.output(cmd, out, func(w io.Writer) { fprintf(w, "wrote %s (%d bytes)\n", path, size) })
		},
	})
	return cmd
}

func policyText(p *api.GraphPolicy) string {
	if p == nil {
		return "-"
	}
	s := fmt.Sprintf("%d+%dppm/%dms", p.FeeBase, p.FeePPM, p.ExpiryDeltaMS)
	if p.Disabled {
		s += " disabled"
	}
	return s
}

func newFeesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fees",
		Short: "Set the forwarding fees of the node's channels",
	}
	var base, ppm, delta uint64
	set := &cobra.Command{
		Use:   "set CHANNEL --base B --ppm P --delta MS",
		Short: "Set fee base, fee ppm and expiry delta (ms) of this node's side of a channel",
		Long: `Set the forwarding policy of this node's side of one of its channels and
announce it: fee = base + amount*ppm/1e6, and a forwarded HTLC's incoming
expiry must exceed its outgoing one by the delta (milliseconds). CHANNEL is
a short id (decimal or BLOCKxTXxOUT) or the 64-hex channel id.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range []string{"base", "ppm", "delta"} {
				if !cmd.Flags().Changed(f) {
					return fmt.Errorf("--%s is required", f)
				}
			}
			if ppm > math.MaxUint32 || delta > math.MaxUint32 {
				return fmt.Errorf("--ppm and --delta must fit in 32 bits")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ch, err := c.SetFees(cmd.Context(), api.FeesRequest{Channel: args[0], FeeBase: base, FeePPM: uint32(ppm), ExpiryDeltaMS: uint32(delta)})
			if err != nil {
				return err
			}
			return g.output(cmd, ch, func(w io.Writer) {
				fprintf(w, "channel %s: %s | %s\n", ch.ShortID, policyText(ch.Policies[0]), policyText(ch.Policies[1]))
			})
		},
	}
	set.Flags().Uint64Var(&base, "base", 0, "fee base, in the smallest unit")
	set.Flags().Uint64Var(&ppm, "ppm", 0, "proportional fee, parts per million")
	set.Flags().Uint64Var(&delta, "delta", 0, "expiry delta, milliseconds")
	cmd.AddCommand(set)
	return cmd
}
