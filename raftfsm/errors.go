package raftfsm

import "errors"

// Errors returned by this package.
var (
	// ErrBadEntry means a log entry of a known type and version could not be
	// decoded. The FSM halts on it (see FSM): a replica never skips an entry.
	ErrBadEntry = errors.New("raftfsm: malformed log entry")
	// ErrUnknownEntry means a log entry has a type or version this Shoal does
	// not know: a newer Shoal wrote it. The FSM halts on it.
	ErrUnknownEntry = errors.New("raftfsm: log entry of unknown type or version")
	// ErrHalted means the FSM stopped applying entries after one it could
	// not apply; the group is shutting down.
	ErrHalted = errors.New("raftfsm: state machine halted")
	// ErrNotLeader means this node does not lead the group; the proposal was
	// not made.
	ErrNotLeader = errors.New("raftfsm: not the group leader")
	// ErrIndeterminate means a proposal was handed to Raft but its outcome is
	// unknown (leadership was lost or the node shut down before commit): it
	// may or may not be applied.
	ErrIndeterminate = errors.New("raftfsm: proposal outcome unknown")
	// ErrShutdown means the group is shutting down.
	ErrShutdown = errors.New("raftfsm: group is shut down")
	// ErrStaleEpoch means a SetOwnership entry was applied as a no-op: the
	// group's ownership epoch was already at least the proposed one.
	ErrStaleEpoch = errors.New("raftfsm: ownership epoch not above the group's")
	// ErrBadSnapshot means a snapshot could not be restored.
	ErrBadSnapshot = errors.New("raftfsm: malformed snapshot")
	// ErrMuxClosed is returned by a stream layer's Accept after its Mux or
	// the layer itself was closed.
	ErrMuxClosed = errors.New("raftfsm: mux closed")
	// ErrFrameTooLarge is returned by ReadFrame, Call and ServeCalls for a
	// frame above the size limit; the connection is closed.
	ErrFrameTooLarge = errors.New("raftfsm: frame too large")
	// ErrUnreachable wraps Call's dial errors: the request was not sent.
	ErrUnreachable = errors.New("raftfsm: stream unreachable")
	// errUnanswered is the outcome of an entry raft shut down without
	// answering (still in its apply queue, or committed but not applied):
	// indeterminate.
	errUnanswered = errors.New("raft shut down without answering")
)
