package node

import "errors"

// Sentinel errors of package node. Compare with errors.Is: they are
// returned wrapped with details.
var (
	// ErrBadConfig is returned for an invalid configuration.
	ErrBadConfig = errors.New("node: invalid config")

	// errNoGroupLeader: a migration was refused because its source or
	// target group has no known leader.
	errNoGroupLeader = errors.New("node: no group leader")
	// Errors of group-rpc calls.
	errRPCNotLeader    = errors.New("node: the group's leader moved")
	errRPCStale        = errors.New("node: the target refused a chunk from an older source term")
	errRPCNotImporting = errors.New("node: the target does not import the job")
	errRPCNoLeader     = errors.New("node: the group has no known leader")
	errRPCNoReplica    = errors.New("node: the node has no replica of the group")
)
