package placement

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/serf/serf"
	"github.com/shoalcache/shoal/raftfsm"
)

// Config configures a placement Service. Start from DefaultConfig and set
// the node's identity, addresses, Mux and cluster shape.
type Config struct {
	// NodeID is this node's id: 40 lower-case hex characters. It is the
	// node's serf name and its Raft server ID in every group.
	NodeID string
	// RESPAddr is the host:port clients use (gossiped in the "resp" tag).
	RESPAddr string
	// PlainPort is the plain RESP port of a node whose RESPAddr is its TLS
	// port (tls-cluster), gossiped in the "pport" tag; 0 for none.
	PlainPort int
	// GossipBind is the host:port serf binds, TCP and UDP. Port 0 lets the
	// OS pick one (see Service.GossipAddr); host "" or "0.0.0.0" binds all
	// interfaces.
	GossipBind string
	// GossipAdvertise is the host:port other nodes reach this node's serf
	// at. Empty advertises the bind address (or, for an unspecified bind
	// host, a private address of the host).
	GossipAdvertise string
	// GossipKey, when set, encrypts gossip: base64 of a 16, 24 or 32-byte
	// AES key (`serf keygen`, Consul's encrypt). With DataDir the keyring
	// lives in DataDir/serf.keyring from then on, and that file, when it
	// exists, wins over GossipKey (see keyring.go). Empty, and no keyring
	// file: gossip in clear.
	GossipKey string
	// Join lists gossip addresses (host:port) of nodes to join at start.
	// It may include this node's own address, which is skipped.
	Join []string
	// BootstrapExpect is how many nodes form the initial cluster, as
	// Consul's bootstrap-expect: once serf sees that many members the first
	// ones (by id) bootstrap the meta group and the leader writes the initial
	// map. 0 means the node is not clustered: a server does not start a
	// Service at all; a Service with 0 never bootstraps and only waits to be
	// added to an existing cluster.
	BootstrapExpect int
	// Groups is the number of shard groups of the initial map.
	Groups int
	// Replicas is the number of members of each group in the initial map;
	// at most BootstrapExpect.
	Replicas int
	// AutoRebalance: when this node, as the meta leader, registers new
	// nodes in the map, it also requests a rebalance (Map.Rebalance), so
	// that they get groups, replicas and slots without an operator.
	AutoRebalance bool
	// DataDir holds the meta group's Raft log (raft-boltdb) and snapshots,
	// under DataDir/meta. Empty keeps them in memory.
	DataDir string
	// Mux is the node's cluster-port multiplexer; the meta group registers
	// its stream "meta" on it, and Mux.Addr is gossiped in the "cluster"
	// tag. Required. The caller runs Mux.Serve and closes the Mux after
	// Shutdown.
	Mux *raftfsm.Mux
	// Logger receives the service's, serf's and the meta group's logs. Nil
	// discards them.
	Logger *slog.Logger

	// HeartbeatTimeout is the meta group's Raft HeartbeatTimeout.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is the meta group's Raft ElectionTimeout.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is the meta group's Raft LeaderLeaseTimeout; at
	// most HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is the meta group's Raft CommitTimeout.
	CommitTimeout time.Duration
	// SuspectAfter is raftfsm.Config.SuspectAfter for the meta group: how
	// long a follower hears nothing from the meta leader before it probes
	// the voters and, on a quorum, starts an election at once. The meta
	// group serves no read lease, so a voter grants such votes after half
	// the heartbeat timeout of silence (raftfsm.StickyFor); SuspectAfter
	// must be at least that. 0 leaves elections to raft's own timer.
	SuspectAfter time.Duration
	// SnapshotInterval is how often the meta group checks whether to
	// snapshot.
	SnapshotInterval time.Duration
	// SnapshotThreshold is how many meta log entries trigger a snapshot.
	SnapshotThreshold uint64
	// TrailingLogs is how many meta log entries are kept after a snapshot.
	TrailingLogs uint64
	// ApplyTimeout bounds the meta operations the reconcile loop makes
	// (proposing the initial map, adding members, barriers), and the time
	// the meta leader spends on one forwarded map update.
	ApplyTimeout time.Duration

	// ReconcileInterval is how often the reconcile loop runs (bootstrap
	// check, leader duties, epoch-lag check); membership events also wake
	// it.
	ReconcileInterval time.Duration
	// JoinRetryInterval is the pause between join attempts at start.
	JoinRetryInterval time.Duration
	// CatchUpTimeout: a meta replica that starts without state refuses to
	// vote until it has caught up with a leader (raftfsm.VoteGuard); if no
	// leader contacts it within this time it votes anyway. 0 waits forever.
	CatchUpTimeout time.Duration
	// EpochLagWarn is how long a member may advertise a larger map epoch
	// than ours before a warning is logged.
	EpochLagWarn time.Duration

	// ProbeInterval is memberlist's failure-probe interval.
	ProbeInterval time.Duration
	// ProbeTimeout is how long memberlist waits for a probe's ack.
	ProbeTimeout time.Duration
	// SuspicionMult scales how long a suspect node has to refute before it
	// is declared failed: SuspicionMult * ProbeInterval (times log10 of the
	// cluster size, for clusters of 10 or more nodes).
	SuspicionMult int
	// SuspicionMaxTimeoutMult caps the suspicion timeout, without
	// confirmations from other nodes, at this multiple of the minimum.
	SuspicionMaxTimeoutMult int
	// GossipInterval is how often memberlist gossips to GossipNodes nodes.
	GossipInterval time.Duration
	// GossipNodes is how many nodes each gossip round goes to.
	GossipNodes int
	// PushPullInterval is how often memberlist does a full state sync with a
	// random node.
	PushPullInterval time.Duration
	// TCPTimeout bounds memberlist's TCP operations (join, push-pull).
	TCPTimeout time.Duration
	// BroadcastTimeout bounds how long a tag update or a leave waits for its
	// broadcast to go out.
	BroadcastTimeout time.Duration
	// LeavePropagateDelay is how long a leaving node stays up after its
	// leave broadcast, answering probes while the news spreads.
	LeavePropagateDelay time.Duration
	// ReconnectTimeout is how long serf keeps trying to reconnect to a
	// failed member before reaping it.
	ReconnectTimeout time.Duration
	// ReconnectInterval is how often serf tries to join a failed member
	// again (each node tries one, chosen at random, with a probability of
	// failed/alive members, so the cluster tries each about once per
	// interval). After a partition heals the two sides see each other
	// failed until then: with serf's default, 30 s, nodes went on without
	// the other side's leader hints (cluster_state:fail) for up to 20 s.
	ReconnectInterval time.Duration
	// TombstoneTimeout is how long serf remembers a member that left.
	TombstoneTimeout time.Duration

	// setTags, when not nil, replaces serf.SetTags in the tag loop (tests).
	setTags func(sf *serf.Serf, tags map[string]string) error
}

// DefaultConfig returns a Config with the meta group's Raft timeouts equal
// to the data groups' (raftfsm.DefaultConfig) and serf tuned for a LAN, so
// that a failed node is detected in about 1 to 2 seconds. The caller sets
// NodeID, RESPAddr, GossipBind, Join, BootstrapExpect, Groups, Replicas,
// DataDir, Mux and Logger.
func DefaultConfig() Config {
	rc := raftfsm.DefaultConfig()
	return Config{
		GossipBind:              "0.0.0.0:7946",
		Groups:                  3,
		Replicas:                3,
		HeartbeatTimeout:        rc.HeartbeatTimeout,
		ElectionTimeout:         rc.ElectionTimeout,
		LeaderLeaseTimeout:      rc.LeaderLeaseTimeout,
		CommitTimeout:           rc.CommitTimeout,
		SuspectAfter:            rc.SuspectAfter,
		SnapshotInterval:        30 * time.Second,
		SnapshotThreshold:       1024,
		TrailingLogs:            1024,
		ApplyTimeout:            5 * time.Second,
		ReconcileInterval:       250 * time.Millisecond,
		JoinRetryInterval:       500 * time.Millisecond,
		EpochLagWarn:            3 * time.Second,
		CatchUpTimeout:          30 * time.Second,
		ProbeInterval:           200 * time.Millisecond,
		ProbeTimeout:            100 * time.Millisecond,
		SuspicionMult:           3,
		SuspicionMaxTimeoutMult: 2,
		GossipInterval:          50 * time.Millisecond,
		GossipNodes:             3,
		PushPullInterval:        15 * time.Second,
		TCPTimeout:              time.Second,
		BroadcastTimeout:        2 * time.Second,
		LeavePropagateDelay:     500 * time.Millisecond,
		ReconnectTimeout:        24 * time.Hour,
		ReconnectInterval:       2 * time.Second,
		TombstoneTimeout:        24 * time.Hour,
	}
}

// Validate reports the first problem with c, wrapping ErrBadConfig.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...)
	}
	if !validNodeID(c.NodeID) {
		return bad("NodeID %q is not 40 lower-case hex characters", c.NodeID)
	}
	if err := checkHostPort(c.RESPAddr, false); err != nil {
		return bad("RESPAddr: %v", err)
	}
	if err := checkHostPort(c.GossipBind, true); err != nil {
		return bad("GossipBind: %v", err)
	}
	if c.GossipAdvertise != "" {
		if err := checkHostPort(c.GossipAdvertise, false); err != nil {
			return bad("GossipAdvertise: %v", err)
		}
	}
	if c.GossipKey != "" {
		if _, err := ParseGossipKey(c.GossipKey); err != nil {
			return bad("GossipKey: %v", err)
		}
	}
	for _, j := range c.Join {
		if err := checkHostPort(j, false); err != nil {
			return bad("Join %q: %v", j, err)
		}
	}
	switch {
	case c.BootstrapExpect < 0:
		return bad("BootstrapExpect %d is negative", c.BootstrapExpect)
	case c.Groups < 1 || c.Groups > NumSlots:
		return bad("Groups %d not in [1, %d]", c.Groups, NumSlots)
	case c.Replicas < 1:
		return bad("Replicas %d is less than 1", c.Replicas)
	case c.BootstrapExpect > 0 && c.Replicas > c.BootstrapExpect:
		return bad("Replicas %d exceeds BootstrapExpect %d", c.Replicas, c.BootstrapExpect)
	case c.Mux == nil:
		return bad("Mux is required")
	case c.HeartbeatTimeout <= 0 || c.ElectionTimeout <= 0 || c.LeaderLeaseTimeout <= 0 || c.CommitTimeout <= 0:
		return bad("Raft timeouts must be positive")
	case c.LeaderLeaseTimeout > c.HeartbeatTimeout || c.HeartbeatTimeout > c.ElectionTimeout:
		return bad("need LeaderLeaseTimeout (%v) <= HeartbeatTimeout (%v) <= ElectionTimeout (%v)",
			c.LeaderLeaseTimeout, c.HeartbeatTimeout, c.ElectionTimeout)
	case c.SuspectAfter < 0 || (c.SuspectAfter > 0 && c.SuspectAfter < raftfsm.StickyFor(c.HeartbeatTimeout, 0)):
		return bad("SuspectAfter (%v) must be at least half the HeartbeatTimeout (%v), or 0", c.SuspectAfter, c.HeartbeatTimeout)
	case c.SnapshotInterval <= 0 || c.SnapshotThreshold == 0:
		return bad("SnapshotInterval and SnapshotThreshold must be positive")
	case c.ApplyTimeout <= 0 || c.ReconcileInterval <= 0 || c.JoinRetryInterval <= 0 || c.EpochLagWarn <= 0:
		return bad("ApplyTimeout, ReconcileInterval, JoinRetryInterval and EpochLagWarn must be positive")
	case c.ProbeInterval <= 0 || c.ProbeTimeout <= 0 || c.ProbeTimeout > c.ProbeInterval:
		return bad("need 0 < ProbeTimeout (%v) <= ProbeInterval (%v)", c.ProbeTimeout, c.ProbeInterval)
	case c.SuspicionMult < 1 || c.SuspicionMaxTimeoutMult < 1 || c.GossipNodes < 1:
		return bad("SuspicionMult, SuspicionMaxTimeoutMult and GossipNodes must be at least 1")
	case c.GossipInterval <= 0 || c.PushPullInterval <= 0 || c.TCPTimeout <= 0 || c.BroadcastTimeout <= 0:
		return bad("GossipInterval, PushPullInterval, TCPTimeout and BroadcastTimeout must be positive")
	case c.LeavePropagateDelay < 0 || c.ReconnectTimeout <= 0 || c.ReconnectInterval <= 0 || c.TombstoneTimeout <= 0:
		return bad("LeavePropagateDelay must not be negative; ReconnectTimeout, ReconnectInterval and TombstoneTimeout must be positive")
	}
	return nil
}

// validNodeID reports whether id is 40 lower-case hex characters.
func validNodeID(id string) bool {
	if len(id) != 40 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// checkHostPort checks that s is host:port with a numeric port, which may
// be 0 only when zeroOK.
func checkHostPort(s string, zeroOK bool) error {
	_, p, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 || (port == 0 && !zeroOK) {
		return fmt.Errorf("bad port %q", p)
	}
	return nil
}
