package server

import (
	"errors"
	"log/slog"
	"time"

	"github.com/shoalcache/shoal/shard"
)

// Config configures the RESP front end.
type Config struct {
	// RequirePass, when set, makes every command but AUTH, HELLO and QUIT
	// fail with NOAUTH until the connection authenticates.
	RequirePass string
	// ACLFile is Redis's aclfile: ACL users loaded at start, written by
	// ACL SAVE, reloaded by ACL LOAD ("" for none). See acl_file.go.
	ACLFile string
	// MaxMemory is the memory limit in bytes for keys and values as the
	// store accounts them; 0 means no limit.
	MaxMemory int64
	// MaxMemoryPolicy is what happens when a write would exceed MaxMemory.
	MaxMemoryPolicy shard.Policy
	// MaxMemorySamples is how many keys eviction samples per victim.
	MaxMemorySamples int
	// ExpiryInterval is how often the leader looks for expired keys to
	// delete (Redis's hz 10 is 100 ms).
	ExpiryInterval time.Duration
	// ExpiryBudget is how many keys with an expiry the leader checks per
	// interval.
	ExpiryBudget int
	// WriteTimeout bounds how long a connection waits to enqueue a write.
	WriteTimeout time.Duration
	// FenceHold is how long a command for a slot in a migration's handover
	// waits, before it gets TRYAGAIN: on the source's leader, which has
	// fenced the slot, for the map to name the new owner (then MOVED); on
	// a replica of the target, for this node's map to learn the flip that
	// the source's already has (instead of a MOVED back to the source, which
	// would bounce the client between the two); on the target's leader, for
	// its FSM to own the slot (one Raft round). Default 500 ms: clients
	// retry TRYAGAIN only a few times within about 100 ms (go-redis: 3
	// redirects), and a loaded machine's handover can outlast that.
	FenceHold time.Duration
	// LeaderHold is how long a command for a slot whose group has no
	// leader this node knows of (an election, a leadership transfer, a
	// group still forming), or whose new leader has not yet applied its
	// predecessors' entries (reads), waits for one before it gets
	// CLUSTERDOWN. Default 500 ms, about one election; 0 answers at once.
	LeaderHold time.Duration
	// ReadConsistency is how reads are served: ReadLinearizable (the default)
	// confirms leadership with a quorum before reading, so that a deposed
	// leader never answers; ReadLeader reads the leader's state directly,
	// which is faster but may return stale data for up to an election
	// timeout after a partition. READONLY follower reads are always local
	// and may be stale.
	ReadConsistency ReadConsistency
	// DataDir is reported by CONFIG GET dir; empty when in memory.
	DataDir string
	// ConfigFile is the configuration file the node was started with
	// (shoal server --config); CONFIG REWRITE rewrites it. Empty: CONFIG
	// REWRITE fails as Redis's does without a file.
	ConfigFile string
	// Params are CONFIG SET parameters (name to value) that New applies as
	// CONFIG SET would, for settings that have no field of their own (a
	// config file's save or appendonly). New fails on a name CONFIG SET
	// does not know or a value it refuses.
	Params map[string]string
	// Limits are the client limits and protected mode (limits.go).
	Limits LimitsConfig
	// TLS is the client port's TLS (tls.go); zero without.
	TLS TLSConfig
	// Version is reported by INFO and HELLO.
	Version string
	// Logger receives the front end's logs. Nil discards them.
	Logger *slog.Logger
}

// ReadConsistency selects how reads are served; see Config.ReadConsistency.
type ReadConsistency uint8

// Read consistency levels.
const (
	ReadLinearizable ReadConsistency = iota
	ReadLeader
)

// ParseReadConsistency parses "linearizable" or "leader".
func ParseReadConsistency(s string) (ReadConsistency, error) {
	switch s {
	case "linearizable":
		return ReadLinearizable, nil
	case "leader":
		return ReadLeader, nil
	}
	return 0, errors.New("server: read consistency must be linearizable or leader")
}

// DefaultConfig returns the defaults: no password, no memory limit,
// noeviction, Redis's sampling and expiry rates.
func DefaultConfig() Config {
	return Config{
		MaxMemoryPolicy:  shard.NoEviction,
		MaxMemorySamples: shard.DefaultSamples,
		ExpiryInterval:   100 * time.Millisecond,
		ExpiryBudget:     2000,
		WriteTimeout:     10 * time.Second,
		FenceHold:        500 * time.Millisecond,
		LeaderHold:       500 * time.Millisecond,
		Version:          "7.0.15",
		Limits:           DefaultLimits(),
	}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	switch {
	case c.MaxMemory < 0:
		return errors.New("server: MaxMemory must not be negative")
	case c.MaxMemorySamples < 1 || c.MaxMemorySamples > 64:
		return errors.New("server: MaxMemorySamples must be in [1, 64]")
	case c.ExpiryInterval <= 0 || c.ExpiryBudget < 1:
		return errors.New("server: ExpiryInterval and ExpiryBudget must be positive")
	case c.WriteTimeout <= 0:
		return errors.New("server: WriteTimeout must be positive")
	case c.FenceHold < 0:
		return errors.New("server: FenceHold must not be negative")
	case c.LeaderHold < 0:
		return errors.New("server: LeaderHold must not be negative")
	}
	return c.Limits.Validate()
}
