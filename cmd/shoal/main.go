// Command shoal is the Shoal binary: the server, a local development cluster
// and the admin CLI. It only parses flags and wires Shoal's packages together.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/internal/buildinfo"
	"github.com/shoalcache/shoal/internal/redisconf"
)

// version is the version reported when the build information has none
// (a build from a checkout); -ldflags "-X main.version=..." may set it.
var version = "0.1.0-dev"

// appVersion is what --version prints: the version, the commit and its
// time, "modified" for a build with uncommitted changes, the toolchain.
func appVersion() string { return buildinfo.Get(version).String() }

func newApp() *cli.App {
	return &cli.App{
		Name:    "shoal",
		Usage:   "a Redis-compatible, Raft-replicated in-memory cache",
		Version: appVersion(),
		Commands: []*cli.Command{
			serverCommand(),
			devCommand(),
			proxyCommand(),
			clusterCommand(),
			{
				Name:  "version",
				Usage: "print the version and the commit this binary was built from",
				Action: func(cc *cli.Context) error {
					cli.ShowVersion(cc)
					return nil
				},
			},
		},
	}
}

func main() {
	if err := newApp().Run(os.Args); err != nil {
		var ce *redisconf.Error
		if errors.As(err, &ce) {
			// Redis's FATAL CONFIG FILE ERROR block, as is.
			fmt.Fprintf(os.Stderr, "\n%v\n", err)
		} else {
			fmt.Fprintln(os.Stderr, "shoal:", err)
		}
		os.Exit(1)
	}
}
