package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/paymesh/paymesh/api"
	"github.com/paymesh/paymesh/node"
	"github.com/paymesh/paymesh/sim/simcli"
)

// globals are the flags every command shares.
type globals struct {
	dataDir string
	json    bool
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "paymesh",
		Short:         "A peer-to-peer micropayment network node",
		Long:          "paymesh opens payment channels with peers over libp2p, learns the channel graph by gossip and routes small, frequent payments across it.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       node.FullVersion(),
	}
	root.PersistentFlags().StringVar(&g.dataDir, "datadir", node.DefaultDataDir(), "data directory ($PAYMESH_DIR, else ~/.paymesh)")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print machine-readable JSON")
	root.AddCommand(
		newInitCmd(g),
		newDaemonCmd(g),
		newStatusCmd(g),
		newPeersCmd(g),
		newDevnetCmd(g),
		newChannelCmd(g),
		newInvoiceCmd(g),
	)
	root.AddCommand(newPayCmds(g)...)
	root.AddCommand(newStreamCmd(g))
	root.AddCommand(simcli.Command())
	addGraphCmds(root, g)
	return root
}

func (g *globals) client() (*api.Client, error) {
	return api.ClientForDataDir(g.dataDir)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// output prints v as JSON with --json, else calls human.
func (g *globals) output(cmd *cobra.Command, v any, human func(w io.Writer)) error {
	if g.json {
		return printJSON(cmd.OutOrStdout(), v)
	}
	human(cmd.OutOrStdout())
	return nil
}

func fprintf(w io.Writer, format string, a ...any) { fmt.Fprintf(w, format, a...) }
