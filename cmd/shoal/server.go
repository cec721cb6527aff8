package main

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/internal/logging"
	"github.com/shoalcache/shoal/internal/node"
	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/server"
	"github.com/shoalcache/shoal/shard"
)

func serverCommand() *cli.Command {
	return &cli.Command{
		Name:  "server",
		Usage: "run a Shoal node",
		Description: "Settings come from flags, SHOAL_<FLAG> environment variables and a --config file, in this\n" +
			"order of precedence. The file has one directive a line: a flag's name or Redis's (dir, loglevel,\n" +
			"logfile, save, appendonly) and its value, as redis.conf; CONFIG REWRITE writes CONFIG SET's changes back to it.",
		Flags: withEnvVars(append([]cli.Flag{
			configFlag(),
			&cli.IntFlag{Name: "port", Value: 6379, Usage: "RESP port for clients (0: none, TLS only: see --tls-port)"},
			&cli.StringFlag{Name: "bind", Value: "127.0.0.1", Usage: "address to listen on"},
			&cli.StringFlag{Name: "data-dir", Usage: "directory for the Raft logs and snapshots; empty keeps everything in memory"},
			&cli.StringFlag{Name: "maxmemory", Value: "0", Usage: "memory limit for keys and values: bytes or with a unit (100mb, 1gb); 0 for none"},
			&cli.StringFlag{Name: "maxmemory-policy", Value: "noeviction", Usage: "eviction policy: noeviction, allkeys-lru, allkeys-lfu, allkeys-random, allkeys-fifo, volatile-lru, volatile-lfu, volatile-random, volatile-ttl, volatile-fifo"},
			&cli.IntFlag{Name: "maxmemory-samples", Value: server.DefaultConfig().MaxMemorySamples, Usage: "keys eviction samples per victim (1 to 64)"},
			&cli.StringFlag{Name: "requirepass", Usage: "password clients must send with AUTH or HELLO"},
			&cli.StringFlag{Name: "aclfile", TakesFile: true, Usage: "ACL users file (Redis's format), loaded at start; ACL SAVE writes it, ACL LOAD reloads it"},
			&cli.StringFlag{Name: "protected-mode", Value: "yes", Usage: "yes: without a password, refuse clients that connect from another address than 127.0.0.1 or ::1, as Redis's protected mode"},
			&cli.StringFlag{Name: "maxclients", Value: "10000", Usage: "clients connected at once; one more gets -ERR max number of clients reached"},
			&cli.StringFlag{Name: "timeout", Value: "0", Usage: "close a client idle this many seconds; 0: never"},
			&cli.StringSliceFlag{Name: "client-output-buffer-limit", Usage: "Redis's 'class hard soft seconds' (class normal, replica or pubsub; default: normal 1gb 64mb 60, see README); may repeat"},
			&cli.StringFlag{Name: "maxmemory-clients", Value: "0", Usage: "memory all clients may use (bytes with a unit, or a percentage of maxmemory such as 10%); over it, the largest are closed; 0: no limit"},
			&cli.StringFlag{Name: "client-query-buffer-limit", Value: "1gb", Usage: "bytes one request may buffer; over it the client is closed"},
			&cli.StringFlag{Name: "proto-max-bulk-len", Value: "512mb", Usage: "longest bulk string in a request"},
			&cli.IntFlag{Name: "hz", Value: int(time.Second / server.DefaultConfig().ExpiryInterval), Usage: "how many times a second a group leader looks for expired keys to delete (1 to 500), as Redis's hz"},
			&cli.StringFlag{Name: "id", Usage: "node id (40 hex characters); default: generated and kept in --data-dir, or without --data-dir derived from the advertised address (so that a restarted node keeps it)"},
			&cli.IntFlag{Name: "bootstrap-expect", Usage: "run in cluster mode; the cluster forms once this many nodes see each other (0: standalone)"},
			&cli.StringSliceFlag{Name: "join", Usage: "gossip addresses (HOST:GOSSIPPORT) of cluster nodes to join; may include this node's own"},
			&cli.IntFlag{Name: "cluster-port", Usage: "Raft port of this node (default: port+10000)"},
			&cli.IntFlag{Name: "gossip-port", Usage: "Serf gossip port of this node (default: port+20000)"},
			&cli.StringFlag{Name: "cluster-secret", Usage: "shared secret every connection on the cluster port must prove (HMAC challenge-response), at least 16 bytes; a comma-separated list rotates it: the first proves, any is accepted; empty: no authentication"},
			&cli.StringFlag{Name: "gossip-key", Usage: "encrypt gossip with this key: base64 of 16, 24 or 32 bytes (shoal cluster keys generate, serf keygen); with --data-dir the keyring is kept in DATA-DIR/serf.keyring, which wins over the flag once it exists; rotate with shoal cluster keys"},
			&cli.StringFlag{Name: "advertise", Usage: "host other nodes and clients use to reach this node (default: --bind, or 127.0.0.1 for a wildcard bind)"},
			&cli.IntFlag{Name: "groups", Usage: "shard groups created at bootstrap (default: bootstrap-expect)"},
			&cli.IntFlag{Name: "replicas", Usage: "Raft voters per group at bootstrap (default: min(3, bootstrap-expect))"},
			&cli.DurationFlag{Name: "raft-heartbeat-timeout", Value: raftfsm.DefaultConfig().HeartbeatTimeout, Usage: "how long a follower waits for its leader before starting an election"},
			&cli.DurationFlag{Name: "raft-election-timeout", Value: raftfsm.DefaultConfig().ElectionTimeout, Usage: "how long a candidate waits for votes before trying again"},
			&cli.StringFlag{Name: "raft-read-lease", Value: "auto", Usage: "how long a group leader serves linearizable reads without another quorum round after one confirmed its leadership (a read lease); below --raft-heartbeat-timeout, the difference being the margin for clock rates; auto: 4/5 of it; 0: a round for every run of reads"},
			&cli.StringFlag{Name: "raft-suspect-after", Value: "auto", Usage: "how long a follower hears nothing from its group leader before it asks the other voters whether they lost it too and, if a quorum did, starts an election at once; at least halfway from the read lease to the heartbeat timeout; auto: the heartbeat timeout; 0: raft's own timer only (heartbeat timeout to 3x)"},
			&cli.StringFlag{Name: "raft-transport", Value: raftfsm.TransportShoal, Hidden: true, Usage: "Raft transport of the data groups: shoal (a binary codec with coalesced writes) or hashicorp (raft's NetworkTransport); every node of a cluster must use the same"},
			&cli.IntFlag{Name: "raft-max-inflight", Value: raftfsm.DefaultConfig().MaxInflight, Usage: "log entries a group leader keeps in flight before packing further writes into the next entry"},
			&cli.StringFlag{Name: "raft-trailing-bytes", Value: "8mb", Hidden: true, Usage: "the most bytes of log entries a group keeps after a snapshot for followers a little behind (and at most 4096 entries); a follower further behind gets a snapshot"},
			&cli.StringFlag{Name: "raft-compact-min-bytes", Value: "", Hidden: true, Usage: "the least bytes of commands applied since a group's last snapshot before the next (with as many as its data's accounted bytes with --data-dir, a quarter of them without); empty: 64mb with --data-dir, 16mb without. For tests that need snapshots often"},
			&cli.DurationFlag{Name: "raft-cohort-wait", Value: raftfsm.DefaultConfig().CohortWait, Usage: "with one entry in flight, how long a group leader waits for the clients its last entry answered to send their next writes before packing the next entry, so that clients in a request-reply loop share entries (groups with other voters only); 0: never wait"},
			&cli.BoolFlag{Name: "auto-rebalance", Usage: "when this node leads the meta group and a node joins, rebalance the cluster (as `shoal cluster rebalance`)"},
			&cli.IntFlag{Name: "migrate-max-jobs", Value: node.DefaultMigrationConfig().MaxActive, Usage: "slot migration jobs that may be active at once in the cluster (checked by the node that creates a job)"},
			&cli.StringFlag{Name: "migrate-busy-rate", Value: "2mb", Usage: "bytes per second one slot migration sends while clients are busy on its source node (so that they keep most of their throughput); 0 for no such cap"},
			&cli.StringFlag{Name: "migrate-rate", Value: "0", Usage: "bytes per second one slot migration sends, with a unit as --maxmemory (100mb); 0 for no limit"},
			&cli.StringFlag{Name: "read-consistency", Value: "linearizable", Usage: "linearizable: a leader confirms leadership with a quorum before serving reads; leader: it reads its own state (faster, may be stale after a partition)"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug (with raft's and serf's debug lines), info, warn or error; or Redis's verbose, notice, warning, nothing"},
			&cli.StringFlag{Name: "log-format", Value: "json", Usage: "text or json (one JSON object a line)"},
			&cli.StringFlag{Name: "log-file", TakesFile: true, Usage: "append the logs to this file instead of standard error"},
			&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus metrics on http://HOST:PORT/metrics (docs/metrics.md); empty for none"},
			&cli.BoolFlag{Name: "metrics-libraries", Usage: "add raft's, serf's and memberlist's own metrics to --metrics-addr (costs about 10% of write throughput at pipeline 1)"},
			&cli.IntFlag{Name: "proxy-port", Usage: "also run the proxy for clients that are not cluster-aware on this port of --bind (as `shoal proxy`, against this node's cluster); 0 for none"},
			goMaxProcsFlag(),
			&cli.StringFlag{Name: "pprof-addr", Usage: "serve net/http/pprof on this address (for development)", Hidden: true},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile to this file until shutdown (for development)", Hidden: true},
		}, tlsServerFlags()...)), // tls.go
		Action: runServer,
	}
}

func runServer(cc *cli.Context) error {
	cf, err := loadConfigFile(cc, devCommand().Flags)
	if err != nil {
		return err
	}
	logger, closeLog, err := serverLogger(cc, cf)
	if err != nil {
		return err
	}
	defer closeLog()
	for _, d := range cf.Ignored {
		logger.Info("config file directive for shoal dev ignored", "file", d.File, "line", d.Line, "directive", d.Name)
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
	if err := setGoMaxProcs(cc, cf); err != nil {
		return err
	}
	cfg, err := nodeConfig(cc, cf)
	if err != nil {
		return err
	}
	cfg.Logger = logger
	if cc.Int("proxy-port") > 0 && cfg.BootstrapExpect == 0 {
		return cf.errorf("proxy-port", "the proxy serves a cluster: a standalone node (no --bootstrap-expect) needs none")
	}
	logger.Info("starting", "version", appVersion(), "config-file", cf.Path, "gomaxprocs", runtime.GOMAXPROCS(0))
	n, err := node.Start(cc.Context, cfg)
	if err != nil {
		return err
	}
	var np *nodeProxy
	if port := cc.Int("proxy-port"); port > 0 {
		if cfg.PlainAddr() == "" {
			return cf.errorf("proxy-port", "the proxy speaks to its node on the plain port: --port 0 leaves none")
		}
		if np, err = startNodeProxy(cfg.Bind, port, cfg.PlainAddr(), cfg.Server.RequirePass, logger); err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return errors.Join(err, n.Shutdown(ctx))
		}
	}
	defer reloadTLSOnSIGHUP(n, logger)() // tls.go
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	now := false
	select {
	case sig := <-sigs:
		logger.Info("shutting down", "signal", sig.String())
	case req := <-n.ShutdownRequests():
		logger.Info("shutting down", "command", "SHUTDOWN", "now", req.Now)
		now = req.Now
	case err := <-n.Done():
		logger.Error("server stopped", "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if np != nil {
		if err := np.Shutdown(ctx); err != nil {
			logger.Warn("proxy shutdown", "err", err)
		}
	}
	if now {
		return n.ShutdownNow(ctx)
	}
	return n.Shutdown(ctx)
}

// goMaxProcsFlag is --gomaxprocs, of shoal server and shoal proxy.
func goMaxProcsFlag() cli.Flag {
	return &cli.IntFlag{Name: "gomaxprocs", Usage: "OS threads that run Go code at once (Go's GOMAXPROCS); 0: Go's default, the CPUs this process may use. " +
		"Where several processes share the cores (nodes of one machine, or a node beside its load generator), 1 or the cores divided among the nodes " +
		"saves the wake-ups between threads (BENCHMARKS.md)"}
}

// setGoMaxProcs applies --gomaxprocs when it is set above 0. Setting it
// turns off the Go runtime's own updates of GOMAXPROCS to the CPU limit of
// the process's cgroup, as the GOMAXPROCS environment variable does.
// cf is the config file the flags came from (nil: none).
func setGoMaxProcs(cc *cli.Context, cf *configFile) error {
	if cf == nil {
		cf = &configFile{}
	}
	switch n := cc.Int("gomaxprocs"); {
	case n < 0:
		return cf.errorf("gomaxprocs", "%d is not 0 (Go's default) or a number of threads", n)
	case n > 0:
		runtime.GOMAXPROCS(n)
	}
	return nil
}

// nodeConfig builds the node's configuration from the flags (and the file
// cf came from, for error messages).
func nodeConfig(cc *cli.Context, cf *configFile) (node.Config, error) {
	var err error
	cfg := node.DefaultConfig()
	cfg.Bind, cfg.Port = cc.String("bind"), cc.Int("port")
	if err := tlsNodeConfig(cc, cf, &cfg); err != nil { // tls.go; before nodeID (the advertised port)
		return cfg, err
	}
	cfg.DataDir = cc.String("data-dir")
	cfg.Group.HeartbeatTimeout = cc.Duration("raft-heartbeat-timeout")
	cfg.Group.ElectionTimeout = cc.Duration("raft-election-timeout")
	cfg.Group.LeaderLeaseTimeout = min(cfg.Group.LeaderLeaseTimeout, cfg.Group.HeartbeatTimeout)
	if v := cc.String("raft-read-lease"); v == "auto" {
		cfg.Group.ReadLease = cfg.Group.HeartbeatTimeout * 4 / 5
	} else if cfg.Group.ReadLease, err = time.ParseDuration(v); err != nil || cfg.Group.ReadLease < 0 ||
		(cfg.Group.ReadLease > 0 && cfg.Group.ReadLease >= cfg.Group.HeartbeatTimeout) {
		return cfg, cf.errorf("raft-read-lease", "%q is not auto, 0 or a duration below the heartbeat timeout (%v)", v, cfg.Group.HeartbeatTimeout)
	}
	if v := cc.String("raft-suspect-after"); v == "auto" {
		cfg.Group.SuspectAfter = cfg.Group.HeartbeatTimeout
	} else if cfg.Group.SuspectAfter, err = time.ParseDuration(v); err != nil || cfg.Group.SuspectAfter < 0 ||
		(cfg.Group.SuspectAfter > 0 && cfg.Group.SuspectAfter < raftfsm.StickyFor(cfg.Group.HeartbeatTimeout, cfg.Group.ReadLease)) {
		return cfg, cf.errorf("raft-suspect-after", "%q is not auto, 0 or a duration of at least %v", v,
			raftfsm.StickyFor(cfg.Group.HeartbeatTimeout, cfg.Group.ReadLease))
	}
	cfg.Group.MaxInflight = cc.Int("raft-max-inflight")
	if cfg.Group.TrailingBytes, err = parseMemory(cc.String("raft-trailing-bytes")); err != nil {
		return cfg, cf.errorf("raft-trailing-bytes", "%v", err)
	}
	if s := cc.String("raft-compact-min-bytes"); s != "" {
		n, err := parseMemory(s)
		if err != nil {
			return cfg, cf.errorf("raft-compact-min-bytes", "%v", err)
		}
		cfg.Group.CompactMinBytes, cfg.Group.CompactMinBytesMemory, cfg.Group.CompactMinBytesSole = n, n, n
	}
	if cfg.Group.CohortWait = cc.Duration("raft-cohort-wait"); cfg.Group.CohortWait < 0 {
		return cfg, cf.errorf("raft-cohort-wait", "%v is negative", cfg.Group.CohortWait)
	}
	if cfg.RaftTransport = cc.String("raft-transport"); cfg.RaftTransport != raftfsm.TransportShoal && cfg.RaftTransport != raftfsm.TransportHashicorp {
		return cfg, cf.errorf("raft-transport", "%q is not shoal or hashicorp", cfg.RaftTransport)
	}
	cfg.Placement.HeartbeatTimeout, cfg.Placement.ElectionTimeout = cfg.Group.HeartbeatTimeout, cfg.Group.ElectionTimeout
	cfg.Placement.LeaderLeaseTimeout = cfg.Group.LeaderLeaseTimeout
	cfg.Placement.SuspectAfter = cfg.Group.SuspectAfter
	cfg.Advertise = cc.String("advertise")
	if cfg.ID, err = nodeID(cc.String("id"), cfg.DataDir, cfg.AdvertiseAddr()); err != nil {
		return cfg, cf.wrap("id", err)
	}
	if cfg.Server.MaxMemory, err = parseMemory(cc.String("maxmemory")); err != nil {
		return cfg, cf.errorf("maxmemory", "%v", err)
	}
	if cfg.Server.MaxMemoryPolicy, err = shard.ParsePolicy(cc.String("maxmemory-policy")); err != nil {
		return cfg, cf.errorf("maxmemory-policy", "%q is not a policy", cc.String("maxmemory-policy"))
	}
	if n := cc.Int("maxmemory-samples"); n < 1 || n > 64 {
		return cfg, cf.errorf("maxmemory-samples", "%d is not in [1, 64]", n)
	}
	cfg.Server.MaxMemorySamples = cc.Int("maxmemory-samples")
	if hz := cc.Int("hz"); hz < 1 || hz > 500 {
		return cfg, cf.errorf("hz", "%d is not in [1, 500]", hz)
	}
	cfg.Server.ExpiryInterval = time.Second / time.Duration(cc.Int("hz"))
	cfg.Server.RequirePass = cc.String("requirepass")
	cfg.Server.ACLFile = cc.String("aclfile")
	cfg.Server.ConfigFile = cf.Path
	cfg.Server.Params = cf.Params
	if err := limitParams(cc, cf); err != nil {
		return cfg, err
	}
	cfg.Migration.MaxActive = cc.Int("migrate-max-jobs")
	cfg.Placement.AutoRebalance = cc.Bool("auto-rebalance")
	if cfg.Migration.BusyRateBytes, err = parseMemory(cc.String("migrate-busy-rate")); err != nil {
		return cfg, cf.errorf("migrate-busy-rate", "%v", err)
	}
	if cfg.Migration.RateBytes, err = parseMemory(cc.String("migrate-rate")); err != nil {
		return cfg, cf.errorf("migrate-rate", "%v", err)
	}
	if cfg.Server.ReadConsistency, err = server.ParseReadConsistency(cc.String("read-consistency")); err != nil {
		return cfg, cf.errorf("read-consistency", "%v", err)
	}
	cfg.MetricsAddr = cc.String("metrics-addr")
	cfg.MetricsLibraries = cc.Bool("metrics-libraries")
	cfg.BootstrapExpect = cc.Int("bootstrap-expect")
	for _, j := range cc.StringSlice("join") {
		for _, a := range strings.Split(j, ",") {
			if a = strings.TrimSpace(a); a != "" {
				cfg.Join = append(cfg.Join, a)
			}
		}
	}
	cfg.ClusterPort, cfg.GossipPort = cc.Int("cluster-port"), cc.Int("gossip-port")
	if cfg.ClusterSecrets, err = raftfsm.ParseClusterSecrets(cc.String("cluster-secret")); err != nil {
		return cfg, cf.errorf("cluster-secret", "%v", err)
	}
	if cfg.Placement.GossipKey = cc.String("gossip-key"); cfg.Placement.GossipKey != "" {
		if _, err := placement.ParseGossipKey(cfg.Placement.GossipKey); err != nil {
			return cfg, cf.errorf("gossip-key", "%v", err)
		}
	}
	cfg.Groups, cfg.Replicas = cc.Int("groups"), cc.Int("replicas")
	if cfg.Groups == 0 {
		cfg.Groups = max(cfg.BootstrapExpect, 1)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = min(3, max(cfg.BootstrapExpect, 1))
	}
	return cfg, nil
}

// serverLogger returns the logger --log-format, --log-level and
// --log-file ask for, and the function that closes its file.
func serverLogger(cc *cli.Context, cf *configFile) (*slog.Logger, func(), error) {
	var w io.Writer = os.Stderr
	closeLog := func() {}
	if path := cc.String("log-file"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, nil, cf.errorf("log-file", "%v", err)
		}
		w, closeLog = f, func() { f.Close() }
	}
	if _, _, err := logging.ParseLevel(cc.String("log-level")); err != nil {
		closeLog()
		return nil, nil, cf.errorf("log-level", "%v", err)
	}
	l, err := logging.New(w, cc.String("log-format"), cc.String("log-level"))
	if err != nil {
		closeLog()
		return nil, nil, cf.errorf("log-format", "%v", err)
	}
	return l, closeLog, nil
}

// nodeID returns the node's id: the flag; else the one kept in dataDir, or
// a new random one kept there; else, without a data directory, one derived
// from the node's advertised address, so that a node restarted without its
// state keeps its identity and rejoins its groups (where it catches up
// before it votes) instead of appearing as a new node.
func nodeID(flag, dataDir, addr string) (string, error) {
	if flag != "" {
		if len(flag) != 40 {
			return "", errors.New("--id must be 40 hex characters")
		}
		if _, err := hex.DecodeString(flag); err != nil {
			return "", errors.New("--id must be 40 hex characters")
		}
		return strings.ToLower(flag), nil
	}
	if dataDir == "" {
		sum := sha1.Sum([]byte("shoal-node:" + addr))
		return hex.EncodeToString(sum[:]), nil
	}
	path := filepath.Join(dataDir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	var raw [20]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(raw[:])
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o640); err != nil {
		return "", err
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

// limitParams passes the client limits' flags that were given (on the
// command line, in the environment or in the config file) to the server
// as CONFIG SET parameters, which validates them as CONFIG SET does.
func limitParams(cc *cli.Context, cf *configFile) error {
	for _, name := range []string{"protected-mode", "maxclients", "timeout", "maxmemory-clients",
		"client-query-buffer-limit", "proto-max-bulk-len"} {
		if cc.IsSet(name) {
			cf.Params[name] = cc.String(name)
		}
	}
	if cc.IsSet("client-output-buffer-limit") {
		cf.Params["client-output-buffer-limit"] = strings.Join(cc.StringSlice("client-output-buffer-limit"), " ")
	}
	return nil
}
