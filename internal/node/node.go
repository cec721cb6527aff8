// Package node assembles a Shoal node from its parts: the RESP front end
// (server), the Raft groups that hold the data (raftfsm over shard stores)
// and, in cluster mode, the placement service and the multiplexed cluster
// port. cmd/shoal parses flags into a Config and calls Start.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/metrics"
	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/server"
	"github.com/shoalcache/shoal/shard"
)

// Config configures a node.
type Config struct {
	// ID is the node id (40 lower-case hex characters).
	ID string
	// Bind is the address the node listens on; Port its RESP port.
	Bind string
	Port int
	// Advertise is the host other nodes and clients use to reach this one
	// (Bind when empty, or 127.0.0.1 when Bind is a wildcard).
	Advertise string
	// ClusterPort carries Raft traffic (default Port+10000); GossipPort
	// carries Serf (default Port+20000).
	ClusterPort int
	GossipPort  int
	// ClusterSecrets, when set, authenticate every cluster-port connection
	// (raftfsm.Mux.RequireSecret): the first proves, any is accepted.
	ClusterSecrets [][]byte
	// DataDir keeps Raft logs and snapshots; empty keeps them in memory.
	DataDir string
	// BootstrapExpect > 0 runs the node in cluster mode: the cluster forms
	// once this many nodes see each other. Join lists gossip addresses.
	BootstrapExpect int
	Join            []string
	// Groups and Replicas shape the cluster at bootstrap.
	Groups, Replicas int
	// TLS is the node's TLS (tls.go): tls-port, tls-cluster, the files.
	TLS TLSConfig
	// Server configures the RESP front end.
	Server server.Config
	// Group is the template for every data group's Raft settings.
	Group raftfsm.Config
	// RaftTransport carries the data groups' Raft RPCs:
	// raftfsm.TransportShoal (default) or raftfsm.TransportHashicorp. Every
	// node of a cluster must use the same.
	RaftTransport string
	// Placement is the template for the placement service's settings.
	Placement placement.Config
	// Controller tunes how a cluster node reconciles the map with its
	// groups.
	Controller ControllerConfig
	// Migration tunes slot migration (cluster mode).
	Migration MigrationConfig
	// ReadyTimeout bounds how long a standalone node waits for its leader.
	ReadyTimeout time.Duration
	// MetricsAddr (HOST:PORT) serves Prometheus metrics on /metrics;
	// empty serves none.
	MetricsAddr string
	// MetricsLibraries adds raft's, serf's and memberlist's own metrics
	// to /metrics (they cost throughput: see metrics.Sources.Libraries).
	MetricsLibraries bool
	// Logger receives every component's logs.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults for a standalone node on port 6379.
func DefaultConfig() Config {
	return Config{
		Bind:          "127.0.0.1",
		Port:          6379,
		Server:        server.DefaultConfig(),
		Group:         raftfsm.DefaultConfig(),
		RaftTransport: raftfsm.TransportShoal,
		Placement:     placement.DefaultConfig(),
		Controller:    DefaultControllerConfig(),
		Migration:     DefaultMigrationConfig(),
		ReadyTimeout:  30 * time.Second,
	}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	switch {
	case len(c.ID) != 40:
		return fmt.Errorf("%w: ID must be 40 hex characters", ErrBadConfig)
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("%w: Port out of range", ErrBadConfig)
	case c.BootstrapExpect < 0:
		return fmt.Errorf("%w: BootstrapExpect must not be negative", ErrBadConfig)
	case c.RaftTransport != "" && c.RaftTransport != raftfsm.TransportShoal && c.RaftTransport != raftfsm.TransportHashicorp:
		return fmt.Errorf("%w: RaftTransport %q is not shoal or hashicorp", ErrBadConfig, c.RaftTransport)
	case c.MetricsAddr != "" && !validHostPort(c.MetricsAddr):
		return fmt.Errorf("%w: MetricsAddr %q is not HOST:PORT", ErrBadConfig, c.MetricsAddr)
	case c.BootstrapExpect > 0 && (c.Groups < 1 || c.Replicas < 1 || c.Replicas > c.BootstrapExpect):
		return fmt.Errorf("%w: need 1 <= replicas (%d) <= bootstrap-expect (%d) and groups >= 1 (%d)", ErrBadConfig, c.Replicas, c.BootstrapExpect, c.Groups)
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	if c.BootstrapExpect > 0 {
		if err := c.Controller.Validate(); err != nil {
			return err
		}
		if err := c.Migration.Validate(); err != nil {
			return err
		}
	}
	return c.Server.Validate()
}

// Node is a running Shoal node.
type Node struct {
	cfg Config
	log *slog.Logger
	ln  net.Listener
	// tlsLn is the TLS port's listener (tls.go); nil without.
	tlsLn net.Listener
	srv   *server.Server
	errc  chan error

	// Standalone mode.
	group *raftfsm.Group

	// Cluster mode.
	cluster *clusterState

	// metrics serves Prometheus metrics (nil without MetricsAddr).
	metrics *metrics.Server
}

// Start starts the node and returns once it accepts clients. A standalone
// node first waits for its group to elect itself (at most ReadyTimeout).
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, log: lg, errc: make(chan error, 2)}
	if err := n.startTLS(); err != nil {
		return nil, err
	}
	ln := n.tlsLn // port 0: TLS only
	if cfg.Port > 0 {
		var err error
		if ln, err = net.Listen("tcp", net.JoinHostPort(cfg.Bind, strconv.Itoa(cfg.Port))); err != nil {
			n.closeTLSListener()
			return nil, err
		}
	}
	n.ln = ln
	var router server.Router
	if cfg.BootstrapExpect > 0 {
		cs, err := startCluster(ctx, n)
		if err != nil {
			ln.Close()
			n.closeTLSListener()
			return nil, err
		}
		n.cluster = cs
		router = cs
	} else {
		g, err := n.startStandalone(ctx)
		if err != nil {
			ln.Close()
			n.closeTLSListener()
			return nil, err
		}
		n.group = g
		router = server.SingleRouter{Group: g}
	}
	scfg := n.cfg.Server // with startTLS's Loader
	scfg.Logger = lg
	scfg.DataDir = cfg.DataDir
	srv, err := server.New(scfg, router)
	if err != nil {
		n.stopGroups(ctx)
		ln.Close()
		return nil, err
	}
	n.srv = srv
	if n.cluster != nil {
		counter := srv.CommandsProcessed
		n.cluster.commands.Store(&counter)
		// The map's cluster-wide settings override the flags and the
		// config file from here on (now, when the node has its map).
		n.cluster.startConfigSync(srv)
		n.cluster.seedACL(srv)
	}
	if cfg.MetricsAddr != "" {
		if err := n.startMetrics(); err != nil {
			n.stopGroups(ctx)
			ln.Close()
			n.closeTLSListener()
			return nil, err
		}
	}
	if cfg.Port > 0 {
		go func() { n.errc <- srv.Serve(ln) }()
	}
	if n.tlsLn != nil {
		go func() { n.errc <- srv.ServeTLS(n.tlsLn) }()
	}
	lg.Info("serving", "addr", ln.Addr().String(), "node-id", cfg.ID, "cluster", cfg.BootstrapExpect > 0, "data-dir", cfg.DataDir)
	return n, nil
}

// startStandalone runs one group holding every slot, with this node as its
// only voter.
func (n *Node) startStandalone(ctx context.Context) (*raftfsm.Group, error) {
	gcfg := n.cfg.Group
	gcfg.GroupID = "g0"
	gcfg.NodeID = raft.ServerID(n.cfg.ID)
	addr, transport := raft.NewInmemTransport(raft.ServerAddress(n.cfg.ID))
	gcfg.Transport = transport
	gcfg.Bootstrap = []raft.Server{{ID: gcfg.NodeID, Address: addr}}
	// With no followers to catch up, nothing needs the log a snapshot
	// covers: keeping the default trailing entries (big group-commit
	// batches) held about 64 MB after loading 1M keys.
	gcfg.TrailingLogs = 0
	gcfg.SoleReplica = true
	if n.cfg.DataDir != "" {
		gcfg.DataDir = filepath.Join(n.cfg.DataDir, "groups", gcfg.GroupID)
	}
	gcfg.Logger = n.log
	g, err := raftfsm.NewGroup(gcfg, shard.New(), command.Executor())
	if err != nil {
		return nil, err
	}
	g.SetSoleVoter(true)
	// Serve once the group has a ready leader (about one election timeout),
	// so that the first client sees a working node.
	deadline := time.Now().Add(n.cfg.ReadyTimeout)
	for !g.Ready() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			_ = g.Shutdown(context.Background())
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return g, nil
}

// Addr returns the RESP address.
func (n *Node) Addr() net.Addr { return n.ln.Addr() }

// Done returns a channel that receives the front end's error if it stops
// serving on its own.
func (n *Node) Done() <-chan error { return n.errc }

// drainQuiet and drainMax bound how long a cluster node that handed its
// leaderships over keeps serving at shutdown: until its clients sent
// nothing for drainQuiet, at most drainMax.
const (
	drainQuiet = 150 * time.Millisecond
	drainMax   = 2 * time.Second
)

// Shutdown stops the front end, then the groups and the placement service.
// A cluster node first hands the leadership of every group it leads to
// another member (handOff) and keeps answering while its clients are busy
// (at most drainMax): their commands get MOVED to the new leaders, which
// moves them there at once, where a closed port would leave each client
// retrying it until its own view of the cluster is reloaded.
func (n *Node) Shutdown(ctx context.Context) error { return n.shutdown(ctx, true) }

// ShutdownNow is Shutdown without waiting for the clients to move after
// the hand-off (SHUTDOWN NOW).
func (n *Node) ShutdownNow(ctx context.Context) error { return n.shutdown(ctx, false) }

// ShutdownRequests receives the SHUTDOWN commands clients send: the
// process running the node shuts it down on one.
func (n *Node) ShutdownRequests() <-chan server.ShutdownRequest { return n.srv.ShutdownRequests() }

func (n *Node) shutdown(ctx context.Context, drain bool) error {
	if n.cluster != nil {
		n.cluster.handOff(ctx)
		if drain {
			dctx, cancel := context.WithTimeout(ctx, drainMax)
			n.srv.Drain(dctx, drainQuiet)
			cancel()
		}
	}
	err := errors.Join(n.stopMetrics(ctx), n.srv.Shutdown(ctx))
	return errors.Join(err, n.stopGroups(ctx))
}

func (n *Node) stopGroups(ctx context.Context) error {
	if n.group != nil {
		return n.group.Shutdown(ctx)
	}
	if n.cluster != nil {
		return n.cluster.shutdown(ctx)
	}
	return nil
}

// advertiseHost returns the host others should use to reach this node.
// AdvertiseAddr returns the RESP address other nodes and clients are told
// to use: Advertise (or the bind address, or 127.0.0.1 for a wildcard
// bind) with Port, or with TLS.Port under tls-cluster or port 0.
func (c *Config) AdvertiseAddr() string {
	return net.JoinHostPort(c.advertiseHost(), strconv.Itoa(c.clientPort()))
}

// validHostPort reports whether addr is HOST:PORT with a numeric port.
func validHostPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	p, err := strconv.Atoi(port)
	return err == nil && p >= 0 && p <= 65535
}

func (c *Config) advertiseHost() string {
	if c.Advertise != "" {
		return c.Advertise
	}
	if c.Bind == "" || c.Bind == "0.0.0.0" || c.Bind == "::" {
		return "127.0.0.1"
	}
	return c.Bind
}
