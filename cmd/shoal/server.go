package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/server"
	"github.com/shoalcache/shoal/shard"
)

func serverCommand() *cli.Command {
	return &cli.Command{
		Name:  "server",
		Usage: "run a Shoal node",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "port", Value: 6379, Usage: "RESP port for clients"},
			&cli.StringFlag{Name: "bind", Value: "127.0.0.1", Usage: "address to listen on"},
			&cli.StringFlag{Name: "data-dir", Usage: "directory for the Raft log and snapshots; empty keeps everything in memory"},
			&cli.StringFlag{Name: "maxmemory", Value: "0", Usage: "memory limit for keys and values: bytes or with a unit (100mb, 1gb); 0 for none"},
			&cli.StringFlag{Name: "maxmemory-policy", Value: "noeviction", Usage: "eviction policy: noeviction, allkeys-lru, allkeys-lfu, allkeys-random, allkeys-fifo, volatile-lru, volatile-lfu, volatile-random, volatile-ttl, volatile-fifo"},
			&cli.StringFlag{Name: "requirepass", Usage: "password clients must send with AUTH or HELLO"},
			&cli.StringFlag{Name: "id", Usage: "node id (40 hex characters); generated, and kept in --data-dir when there is one"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "pprof-addr", Usage: "serve net/http/pprof on this address (for development)", Hidden: true},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile to this file until shutdown (for development)", Hidden: true},
		},
		Action: runServer,
	}
}

func runServer(cc *cli.Context) error {
	logger, err := newLogger(cc.String("log-level"))
	if err != nil {
		return err
	}
	maxmem, err := parseMemory(cc.String("maxmemory"))
	if err != nil {
		return fmt.Errorf("--maxmemory: %w", err)
	}
	policy, err := shard.ParsePolicy(cc.String("maxmemory-policy"))
	if err != nil {
		return fmt.Errorf("--maxmemory-policy: %q is not a policy", cc.String("maxmemory-policy"))
	}
	if path := cc.String("cpuprofile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if addr := cc.String("pprof-addr"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
	dataDir := cc.String("data-dir")
	id, err := nodeID(cc.String("id"), dataDir)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(cc.String("bind"), strconv.Itoa(cc.Int("port")))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}

	store := shard.New()
	gcfg := raftfsm.DefaultConfig()
	gcfg.GroupID = "g0"
	gcfg.NodeID = raft.ServerID(id)
	raftAddr, transport := raft.NewInmemTransport(raft.ServerAddress(id))
	gcfg.Transport = transport
	gcfg.Bootstrap = []raft.Server{{ID: gcfg.NodeID, Address: raftAddr}}
	if dataDir != "" {
		gcfg.DataDir = filepath.Join(dataDir, "groups", gcfg.GroupID)
	}
	gcfg.Logger = logger
	if v, err := strconv.Atoi(os.Getenv("SHOAL_INFLIGHT")); err == nil {
		gcfg.MaxInflight = v
	}
	group, err := raftfsm.NewGroup(gcfg, store, server.Executor())
	if err != nil {
		ln.Close()
		return err
	}

	scfg := server.DefaultConfig()
	scfg.RequirePass = cc.String("requirepass")
	scfg.MaxMemory = maxmem
	scfg.MaxMemoryPolicy = policy
	scfg.DataDir = dataDir
	scfg.Logger = logger
	srv, err := server.New(scfg, server.SingleRouter{Group: group})
	if err != nil {
		ln.Close()
		return err
	}
	// A standalone node serves once its group has a ready leader (about
	// one election timeout), so that its first client sees a working node.
	for deadline := time.Now().Add(30 * time.Second); !group.Ready() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	logger.Info("serving", "addr", ln.Addr().String(), "node-id", id, "data-dir", dataDir)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	select {
	case sig := <-sigs:
		logger.Info("shutting down", "signal", sig.String())
	case err := <-errc:
		logger.Error("server stopped", "error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(srv.Shutdown(ctx), group.Shutdown(ctx))
}

func newLogger(level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lv})), nil
}

// nodeID returns the node's id: the flag, else the one kept in dataDir, else
// a new random one (kept in dataDir when there is one).
func nodeID(flag, dataDir string) (string, error) {
	if flag != "" {
		if len(flag) != 40 {
			return "", errors.New("--id must be 40 hex characters")
		}
		if _, err := hex.DecodeString(flag); err != nil {
			return "", errors.New("--id must be 40 hex characters")
		}
		return strings.ToLower(flag), nil
	}
	var path string
	if dataDir != "" {
		path = filepath.Join(dataDir, "node-id")
		if b, err := os.ReadFile(path); err == nil {
			return strings.TrimSpace(string(b)), nil
		}
	}
	var raw [20]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(raw[:])
	if path != "" {
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return "", err
		}
		if err := os.WriteFile(path, []byte(id+"\n"), 0o640); err != nil {
			return "", err
		}
	}
	return id, nil
}

// parseMemory parses a memory size as Redis's memtoull: a number with an
// optional unit b, k, kb, m, mb, g, gb (k = 1000, kb = 1024), case-insensitive.
func parseMemory(s string) (int64, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mul    int64
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}, {"b", 1}}
	mul := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mul = strings.TrimSuffix(s, u.suffix), u.mul
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a memory size", s)
	}
	return n * mul, nil
}
