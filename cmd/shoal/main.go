// Command shoal is the Shoal binary: the server, a local development cluster
// and the admin CLI. It only parses flags and wires Shoal's packages together.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	app := &cli.App{
		Name:    "shoal",
		Usage:   "a Redis-compatible, Raft-replicated in-memory cache",
		Version: version,
		Commands: []*cli.Command{
			serverCommand(),
			devCommand(),
			clusterCommand(),
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "shoal:", err)
		os.Exit(1)
	}
}
