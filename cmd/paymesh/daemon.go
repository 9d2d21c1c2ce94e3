package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/paymesh/paymesh/node"
)

func newDaemonCmd(g *globals) *cobra.Command {
	var (
		listen    []string
		bootstrap []string
		apiAddr   string
		logLevel  string
		logFormat string
	)
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the node until SIGINT or SIGTERM",
		Long: `Run the node: the libp2p host, the store and the local API.

Flags override config.toml. With port 0 (e.g. --api 127.0.0.1:0) a free port is
picked and the API address in use is written to DATADIR/api.addr, which the
client commands read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := node.ConfigFromDataDir(g.dataDir)
			if err != nil {
				return err
			}
			s := &cfg.Settings
			if cmd.Flags().Changed("listen") {
				s.Network.Listen = listen
			}
			if cmd.Flags().Changed("bootstrap") {
				s.Network.Bootstrap = bootstrap
			}
			if apiAddr != "" {
				s.API.Address = apiAddr
			}
			if logLevel != "" {
				s.Log.Level = logLevel
			}
			if logFormat != "" {
				s.Log.Format = logFormat
			}
			if err := s.Validate(); err != nil {
				return err
			}
			if cfg.Logger, err = node.NewLogger(s.Log, os.Stderr); err != nil {
				return err
			}
			n, err := node.New(cfg)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := n.Start(ctx); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "paymesh %s running: peer %s, api %s\n", node.FullVersion(), n.ID(), n.APIAddr())
			<-ctx.Done()
			cfg.Logger.Info("shutting down")
			return n.Close()
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&listen, "listen", nil, "multiaddr to listen on (repeatable; replaces config)")
	f.StringArrayVar(&bootstrap, "bootstrap", nil, "bootstrap peer multiaddr ending in /p2p/ID (repeatable; replaces config)")
	f.StringVar(&apiAddr, "api", "", "API address HOST:PORT on loopback (port 0 picks one)")
	f.StringVar(&logLevel, "log-level", "", "log level: debug, info, warn, error")
	f.StringVar(&logFormat, "log-format", "", "log format: text or json")
	return cmd
}
