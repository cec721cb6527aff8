package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestDevMetricsPort: `shoal dev --metrics-port P` gives node i
// --metrics-addr 127.0.0.1:P+i and prints where to scrape.
func TestDevMetricsPort(t *testing.T) {
	cfg, err := parseDevFlags(t, "--nodes", "3", "--metrics-port", "9100", "--gomaxprocs", "0")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(cfg.childArgs(2), " "),
		"server --port 7002 --bind 127.0.0.1 --bootstrap-expect 3 --join 127.0.0.1:27000 --metrics-addr 127.0.0.1:9102"; got != want {
		t.Errorf("node 2: %q, want %q", got, want)
	}
	help := devConnectHelp(cfg, []string{cfg.addr(0), cfg.addr(1), cfg.addr(2)})
	if !strings.Contains(help, "Metrics: http://127.0.0.1:9100/metrics .. http://127.0.0.1:9102/metrics\n") {
		t.Errorf("help lacks the metrics addresses:\n%s", help)
	}
	// Without the flag: no metrics.
	cfg, err = parseDevFlags(t)
	if err != nil {
		t.Fatal(err)
	}
	if args := strings.Join(cfg.childArgs(0), " "); strings.Contains(args, "metrics") {
		t.Errorf("node 0 without --metrics-port: %q", args)
	}
	if strings.Contains(devConnectHelp(cfg, []string{cfg.addr(0)}), "Metrics") {
		t.Error("help mentions metrics without --metrics-port")
	}
	for _, args := range [][]string{{"--metrics-port", "-1"}, {"--metrics-port", "65535", "--nodes", "2"}} {
		if _, err := parseDevFlags(t, args...); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// TestServerMetricsAddrFlag: a --metrics-addr that is not HOST:PORT fails
// the start before anything listens.
func TestServerMetricsAddrFlag(t *testing.T) {
	app := &cli.App{Name: "shoal", Commands: []*cli.Command{serverCommand()}, Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{}}
	// Port 1: never bound, the check comes first (--port 0 means no plain
	// port, and then needs --tls-port).
	err := app.Run([]string{"shoal", "server", "--port", "1", "--log-level", "error", "--metrics-addr", "9100"})
	if err == nil || !strings.Contains(err.Error(), "MetricsAddr") {
		t.Errorf("--metrics-addr 9100: %v, want a MetricsAddr error", err)
	}
}
