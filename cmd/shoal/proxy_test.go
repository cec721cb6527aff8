package main

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/proxy"
)

// parseProxyFlags runs the flag parsing of `shoal proxy` on args.
func parseProxyFlags(t *testing.T, args ...string) (proxy.Config, error) {
	t.Helper()
	var cfg proxy.Config
	var cfgErr error
	cmd := proxyCommand()
	cmd.Action = func(cc *cli.Context) error {
		cfg, cfgErr = proxyConfig(cc)
		return nil
	}
	app := &cli.App{Name: "shoal", Commands: []*cli.Command{cmd}, Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{}}
	if err := app.Run(append([]string{"shoal", "proxy"}, args...)); err != nil {
		return cfg, err
	}
	return cfg, cfgErr
}

func TestProxyFlags(t *testing.T) {
	cfg, err := parseProxyFlags(t, "--listen", "127.0.0.1:7400", "--cluster", "127.0.0.1:7000, 127.0.0.1:7001",
		"--cluster", "127.0.0.1:7002", "--password", "pw", "--conns-per-node", "4", "--retry-budget", "3s")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7400" || strings.Join(cfg.Cluster, " ") != "127.0.0.1:7000 127.0.0.1:7001 127.0.0.1:7002" ||
		cfg.Password != "pw" || cfg.ConnsPerNode != 4 || cfg.RetryBudget != 3*time.Second {
		t.Fatalf("config: %+v", cfg)
	}
	for _, args := range [][]string{
		{},                    // --cluster is required
		{"--cluster", "nope"}, // not HOST:PORT
		{"--cluster", "127.0.0.1:1", "--listen", "x"}, // not HOST:PORT
		{"--cluster", "127.0.0.1:1", "--conns-per-node", "0"},
	} {
		if _, err := parseProxyFlags(t, args...); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestDevProxyPort(t *testing.T) {
	cfg, err := parseDevFlags(t, "--port", "7000", "--proxy-port", "7400")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.childArgs(1), " "); !strings.HasSuffix(got, " --proxy-port 7401") {
		t.Fatalf("node 1: %q, want --proxy-port 7401", got)
	}
	if !strings.Contains(devConnectHelp(cfg, []string{"127.0.0.1:7000"}), "redis-cli -p 7400") {
		t.Fatalf("connect help does not name the proxy:\n%s", devConnectHelp(cfg, []string{"127.0.0.1:7000"}))
	}
	if _, err := parseDevFlags(t, "--proxy-port", "65535", "--nodes", "3"); err == nil {
		t.Fatal("--proxy-port 65535 with 3 nodes accepted")
	}
}

// A node's proxy takes its port at once (a taken port fails the node's
// start) and shuts down promptly even while its cluster is unreachable.
func TestNodeProxyLifecycle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().(*net.TCPAddr).Port
	unreachable := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	if _, err := startNodeProxy("127.0.0.1", taken, unreachable, "", testutil.Logger(t)); err == nil {
		t.Fatal("a taken proxy port was accepted")
	}
	port := testutil.FreePort(t)
	np, err := startNodeProxy("127.0.0.1", port, unreachable, "", testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := np.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// The port is free again.
	ln2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("the proxy port stays taken after Shutdown: %v", err)
	}
	ln2.Close()
}

// A standalone node refuses --proxy-port: there is no cluster to proxy.
func TestServerProxyPortNeedsCluster(t *testing.T) {
	app := newApp()
	app.Writer, app.ErrWriter = &bytes.Buffer{}, &bytes.Buffer{}
	err := app.Run([]string{"shoal", "server", "--port", strconv.Itoa(testutil.FreePort(t)),
		"--proxy-port", strconv.Itoa(testutil.FreePort(t)), "--log-level", "error"})
	if err == nil || !strings.Contains(err.Error(), "--proxy-port") {
		t.Fatalf("standalone server with --proxy-port: %v", err)
	}
}
