package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoalcache/shoal/shard"
	"github.com/tidwall/evio"
)

// Config is the command line of netloop.
type Config struct {
	Engine      string        // goroutine, gnet or evio
	Addr        string        // host:port to listen on
	Loops       int           // gnet/evio event loops; 0 = one per core
	Handoff     bool          // batches with a write go through the committer (goroutine, gnet)
	CommitDelay time.Duration // simulated commit time per group of batches, with Handoff
}

// Config errors.
var (
	errEngine  = errors.New("netloop: -engine must be goroutine, gnet or evio")
	errHandoff = errors.New("netloop: -handoff is for the goroutine and gnet engines")
	errLoops   = errors.New("netloop: -loops must be >= 0")
)

// DefaultConfig returns the defaults of the flags.
func DefaultConfig() Config {
	return Config{Engine: "goroutine", Addr: "127.0.0.1:6399"}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch c.Engine {
	case "goroutine", "gnet", "evio":
	default:
		return errEngine
	}
	if c.Handoff && c.Engine == "evio" {
		return errHandoff
	}
	if c.Loops < 0 {
		return errLoops
	}
	return nil
}

func main() {
	cfg := DefaultConfig()
	flag.StringVar(&cfg.Engine, "engine", cfg.Engine, "network layer: goroutine, gnet or evio")
	flag.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address")
	flag.IntVar(&cfg.Loops, "loops", cfg.Loops, "gnet/evio event loops (0 = one per core)")
	flag.BoolVar(&cfg.Handoff, "handoff", cfg.Handoff, "hand batches with a write to a committer goroutine (simulated Raft)")
	flag.DurationVar(&cfg.CommitDelay, "commit-delay", cfg.CommitDelay, "simulated commit time per group, with -handoff")
	flag.Parse()
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		<-ch
		os.Exit(0)
	}()
	if err := serve(cfg); err != nil {
		slog.Error("netloop", "err", err)
		os.Exit(1)
	}
}

// serve runs the configured engine until it fails.
func serve(cfg Config) error {
	slog.Info("netloop", "engine", cfg.Engine, "addr", cfg.Addr, "loops", cfg.Loops, "handoff", cfg.Handoff, "commit-delay", cfg.CommitDelay)
	_, stop, errc, err := start(cfg)
	if err != nil {
		return err
	}
	defer stop()
	return <-errc
}

// start runs the configured engine in the background and returns once it
// accepts connections: its address, a stop function (idempotent) and a
// channel that receives the engine's error when it ends.
func start(cfg Config) (addr string, stop func(), errc chan error, err error) {
	st := shard.New()
	var cm *committer
	if cfg.Handoff {
		cm = newCommitter(st, cfg.CommitDelay)
	}
	errc = make(chan error, 1)
	var once sync.Once
	switch cfg.Engine {
	case "goroutine":
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return "", nil, nil, err
		}
		go func() { errc <- (&goroutineEngine{st: st, cm: cm}).serve(ln) }()
		return ln.Addr().String(), func() { once.Do(func() { ln.Close() }) }, errc, nil
	case "gnet":
		e := &gnetEngine{st: st, cm: cm, loops: cfg.Loops, ready: make(chan struct{})}
		go func() { errc <- e.run(cfg.Addr) }()
		select {
		case <-e.ready:
		case err := <-errc:
			return "", nil, nil, err
		}
		return cfg.Addr, func() { once.Do(func() { _ = e.stop() }) }, errc, nil
	default:
		var stopping atomic.Bool
		ready := make(chan string, 1)
		ev := evioEvents(st, cfg.Loops, func(s evio.Server) { ready <- s.Addrs[0].String() })
		// evio stops only through an event's Shutdown action: a tick every
		// 100 ms checks for it.
		ev.Tick = func() (time.Duration, evio.Action) {
			if stopping.Load() {
				return 0, evio.Shutdown
			}
			return 100 * time.Millisecond, evio.None
		}
		go func() { errc <- evio.Serve(ev, "tcp://"+cfg.Addr) }()
		select {
		case addr = <-ready:
		case err := <-errc:
			return "", nil, nil, err
		}
		return addr, func() { stopping.Store(true) }, errc, nil
	}
}
