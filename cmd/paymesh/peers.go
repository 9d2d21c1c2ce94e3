package main

import (
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the node's peer id, addresses, peers, version and uptime",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			s, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			return g.output(cmd, s, func(w io.Writer) {
				fprintf(w, "peer id:  %s\nversion:  %s\nuptime:   %s\n", s.PeerID, s.Version, (time.Duration(s.UptimeSeconds) * time.Second).String())
				fprintf(w, "addrs:\n")
				for _, a := range s.Addrs {
					fprintf(w, "  %s\n", a)
				}
				fprintf(w, "peers:    %d\n", len(s.Peers))
				for _, p := range s.Peers {
					fprintf(w, "  %s\n", p)
				}
			})
		},
	}
}

func newPeersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List, connect and disconnect peers",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List connected peers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ps, err := c.Peers(cmd.Context())
			if err != nil {
				return err
			}
			return g.output(cmd, ps, func(w io.Writer) {
				if len(ps) == 0 {
					fprintf(w, "no peers\n")
				}
				for _, p := range ps {
					prot := ""
					if p.Protected {
						prot = " protected"
					}
					fprintf(w, "%s %s %s%s\n", p.ID, p.Direction, strings.Join(p.Addrs, ","), prot)
				}
			})
		},
	}, &cobra.Command{
		Use:   "connect MULTIADDR",
		Short: "Connect to a peer (multiaddr ending in /p2p/PEERID)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			r, err := c.Connect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.output(cmd, r, func(w io.Writer) { fprintf(w, "connected to %s\n", r.ID) })
		},
	}, &cobra.Command{
		Use:   "disconnect PEERID",
		Short: "Close every connection to a peer",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.Disconnect(cmd.Context(), args[0]); err != nil {
				return err
			}
			return g.output(cmd, map[string]string{"disconnected": args[0]}, func(w io.Writer) { fprintf(w, "disconnected %s\n", args[0]) })
		},
	})
	return cmd
}
