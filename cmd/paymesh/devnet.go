package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/paymesh/paymesh/node"
)

func newDevnetCmd(g *globals) *cobra.Command {
	var (
		channelAmount uint64
		nodes         int
		dir           string
		logLevel      string
	)
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "Run a local network of real nodes in one process until Ctrl-C",
		Long: `Start N real paymesh nodes in this process: real libp2p on loopback,
in-memory Badger, all connected to each other, with channels in a ring. Each node gets a directory
holding its api.addr and api.token, so every client command works against it:

  paymesh status --datadir DIR/node0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodes < 1 || nodes > 500 {
				return fmt.Errorf("--nodes must be between 1 and 500, got %d", nodes)
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
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lvl}))
			ctx := cmd.Context()
			cl, err := node.StartCluster(ctx, node.ClusterConfig{Nodes: nodes, Dir: dir, Logger: log})
			if err != nil {
				return err
			}
			defer cl.Close()
			chans, err := cl.OpenRing(ctx, channelAmount, channelAmount/2)
			if err != nil {
				return err
			}
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
			err = g.output(cmd, rows, func(w io.Writer) {
				fprintf(w, "paymesh devnet: %d nodes on loopback, fully connected\n\n", len(rows))
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NODE\tPEER ID\tMULTIADDR\tAPI")
				for _, r := range rows {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.Node, r.PeerID, r.Addr, r.API)
				}
				tw.Flush()
				if len(chans) > 0 {
					fprintf(w, "\n%d channels in a ring, each %d with half pushed to the far side:\n", len(chans), channelAmount)
					for i, id := range chans {
						fprintf(w, "  node%d ↔ node%d  %s\n", i, (i+1)%len(cl.Nodes), id)
					}
				}
				fprintf(w, "\ntry:  go run ./cmd/paymesh status --datadir %s\nCtrl-C to stop.\n", rows[0].DataDir)
			})
			if err != nil {
				return err
			}
			<-ctx.Done()
			fprintf(cmd.ErrOrStderr(), "\nstopping %d nodes\n", len(cl.Nodes))
			return cl.Close()
		},
	}
	cmd.Flags().IntVar(&nodes, "nodes", 5, "number of nodes")
	cmd.Flags().Uint64Var(&channelAmount, "channel-amount", 1_000_000_000, "funding of each devnet channel")
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the nodes' api.addr/api.token (default: a temp dir removed on exit)")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "log level")
	return cmd
}
