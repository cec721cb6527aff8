package raftfsm

import "errors"

// Errors returned by this package.
var (
	// ErrBadEntry means a log entry could not be decoded. Applying it is
	// skipped on every replica alike, so the state machines stay identical.
	ErrBadEntry = errors.New("raftfsm: malformed log entry")
	// ErrNotLeader means this node does not lead the group; the proposal was
	// not made.
	ErrNotLeader = errors.New("raftfsm: not the group leader")
	// ErrIndeterminate means a proposal was handed to Raft but its outcome is
	// unknown (leadership was lost or the node shut down before commit): it
	// may or may not be applied.
	ErrIndeterminate = errors.New("raftfsm: proposal outcome unknown")
	// ErrShutdown means the group is shutting down.
	ErrShutdown = errors.New("raftfsm: group is shut down")
	// ErrBadSnapshot means a snapshot could not be restored.
	ErrBadSnapshot = errors.New("raftfsm: malformed snapshot")
)
