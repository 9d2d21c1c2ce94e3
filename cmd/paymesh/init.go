package main

import (
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/paymesh/paymesh/node"
)

func newInitCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create a data dir: identity, onion key, API token and config",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := node.Init(g.dataDir)
			if err != nil {
				return err
			}
			out := map[string]string{"peer_id": id.String(), "datadir": g.dataDir, "config": filepath.Join(g.dataDir, node.ConfigFile)}
			return g.output(cmd, out, func(w io.Writer) {
				fprintf(w, "initialised %s\npeer id: %s\nconfig:  %s\nnext:    paymesh daemon --datadir %s\n", g.dataDir, id, out["config"], g.dataDir)
			})
		},
	}
}
