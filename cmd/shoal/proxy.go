package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/internal/logging"
	"github.com/shoalcache/shoal/proxy"
)

func proxyCommand() *cli.Command {
	def := proxy.DefaultConfig()
	return &cli.Command{
		Name:  "proxy",
		Usage: "run a proxy for clients that are not cluster-aware",
		Description: "Listens on --listen and sends each command to the node leading its slot, splitting multi-key\n" +
			"commands by slot and sending DBSIZE, KEYS, SCAN, FLUSHALL, RANDOMKEY and INFO to every group leader,\n" +
			"so that redis-cli without -c, redis-benchmark without --cluster and single-endpoint clients work.",
		Flags: withEnvVars(append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Value: def.Listen, Usage: "HOST:PORT clients connect to"},
			&cli.StringSliceFlag{Name: "cluster", Required: true, Usage: "RESP addresses (HOST:PORT, comma-separated or repeated) of cluster nodes to learn the slot map from"},
			&cli.StringFlag{Name: "password", Usage: "the nodes' requirepass; clients must then AUTH too"},
			&cli.IntFlag{Name: "conns-per-node", Value: def.ConnsPerNode, Usage: "pipelined connections to each node, shared by all clients"},
			&cli.DurationFlag{Name: "retry-budget", Value: def.RetryBudget, Usage: "how long a command is retried across redirects and failovers before its error goes to the client"},
			&cli.DurationFlag{Name: "node-timeout", Value: def.NodeTimeout, Usage: "how long a node may owe replies without answering before its connection is closed and its commands retried"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", Value: "json", Usage: "text or json"},
			goMaxProcsFlag(),
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile to this file until shutdown (for development)", Hidden: true},
		}, adminTLSFlags()...)), // tls.go: --tls --cacert --cert --key to the nodes
		Action: runProxy,
	}
}

// proxyConfig builds the proxy's configuration from the flags.
func proxyConfig(cc *cli.Context) (proxy.Config, error) {
	cfg := proxy.DefaultConfig()
	cfg.Listen = cc.String("listen")
	for _, s := range cc.StringSlice("cluster") {
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				cfg.Cluster = append(cfg.Cluster, a)
			}
		}
	}
	cfg.Password = cc.String("password")
	cfg.ConnsPerNode = cc.Int("conns-per-node")
	cfg.RetryBudget = cc.Duration("retry-budget")
	cfg.NodeTimeout = cc.Duration("node-timeout")
	o := adminOpts{}.withTLS(cc) // tls.go
	if o.tlsErr != nil {
		return cfg, o.tlsErr
	}
	cfg.TLS = o.tls
	return cfg, cfg.Validate()
}

func runProxy(cc *cli.Context) error {
	cfg, err := proxyConfig(cc)
	if err != nil {
		return err
	}
	logger, err := logging.New(os.Stderr, cc.String("log-format"), cc.String("log-level"))
	if err != nil {
		return err
	}
	cfg.Logger = logger
	if err := setGoMaxProcs(cc, nil); err != nil {
		return err
	}
	if path := cc.String("cpuprofile"); path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			return err
		}
		defer stop()
	}
	ctx, stop := signal.NotifyContext(cc.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	p, err := proxy.New(ctx, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "signal", "SIGTERM or SIGINT")
	case err := <-served:
		logger.Error("proxy stopped", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.Shutdown(sctx)
}

// nodeProxy is the proxy a node runs in-process (--proxy-port).
type nodeProxy struct {
	cancel context.CancelFunc
	done   chan struct{}
	p      chan *proxy.Proxy // the proxy once it has the slot map
}

// startNodeProxy listens on bind:port at once (so that a taken port fails
// the node's start) and serves once the node's cluster has a slot map.
func startNodeProxy(bind string, port int, nodeAddr, password string, logger *slog.Logger) (*nodeProxy, error) {
	cfg := proxy.DefaultConfig()
	cfg.Listen = net.JoinHostPort(bind, strconv.Itoa(port))
	cfg.Cluster = []string{nodeAddr}
	cfg.Password = password
	cfg.Logger = logger.With("component", "proxy")
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	np := &nodeProxy{cancel: cancel, done: make(chan struct{}), p: make(chan *proxy.Proxy, 1)}
	go func() {
		defer close(np.done)
		p, err := proxy.New(ctx, cfg)
		if err != nil {
			ln.Close()
			if ctx.Err() == nil {
				logger.Error("proxy did not start", "err", err)
			}
			return
		}
		np.p <- p
		if err := p.Serve(ln); err != nil && !errors.Is(err, proxy.ErrClosed) {
			logger.Error("proxy stopped", "err", err)
		}
	}()
	return np, nil
}

// Shutdown stops the node's proxy.
func (np *nodeProxy) Shutdown(ctx context.Context) error {
	np.cancel()
	var err error
	select {
	case p := <-np.p:
		err = p.Shutdown(ctx)
	case <-np.done:
	}
	select {
	case <-np.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

// startCPUProfile writes a CPU profile to path until the returned function
// is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
