package main

import "github.com/spf13/cobra"

// addGraphCmds adds `graph` and `fees` (issue 4).
func addGraphCmds(*cobra.Command, *globals) {}
