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
	// ErrStaleSource means a migration entry (IngestReset, Ingest) came from
	// a source leader whose term is below the highest the target has seen
	// for the job: a deposed leader. Nothing changed.
	ErrStaleSource = errors.New("raftfsm: migration entry from a stale source leader")
	// ErrNotImporting means an Ingest entry was refused: the group does not
	// import the job, or not at the entry's source term (a new source
	// leader must send IngestReset first). Nothing changed.
	ErrNotImporting = errors.New("raftfsm: group does not import this migration job at this source term")
	// ErrUnknownJob means a Fence or MigrateEnd named a migration job the
	// group does not run. Nothing changed.
	ErrUnknownJob = errors.New("raftfsm: unknown migration job")
	// ErrJobConflict means a migration job of that id already exists in the
	// group with other slots or peer, or in the other role. Nothing changed.
	ErrJobConflict = errors.New("raftfsm: migration job exists with other parameters")
	// ErrSlotsNotOwned means MigrateOut was refused: the group does not own
	// every slot of the job. Nothing changed.
	ErrSlotsNotOwned = errors.New("raftfsm: group does not own every slot of the migration job")
	// ErrSlotsOwned means the group owns a slot of the job, which forbids
	// the entry: IngestReset (a target must not own what it imports), a
	// source's MigrateEnd(done) before it gave the slots up, a target's
	// MigrateEnd(aborted) after it took them. Nothing changed.
	ErrSlotsOwned = errors.New("raftfsm: group owns slots of the migration job")
	// ErrJobEnded means MigrateOut or IngestReset named a job that already
	// ended in the group (one of the last 256): a job id is used once.
	// Nothing changed.
	ErrJobEnded = errors.New("raftfsm: migration job already ended in this group")
	// ErrSlotsBusy means a slot of a new migration job is already in another
	// job of the group. Nothing changed.
	ErrSlotsBusy = errors.New("raftfsm: slots already in another migration job")
	// ErrBadSnapshot means a snapshot could not be restored.
	ErrBadSnapshot = errors.New("raftfsm: malformed snapshot")
	// ErrTransferFailed means a leadership transfer did not happen: its
	// target did not catch up with this leader's log, or did not take
	// over, within an election timeout. This node may still lead.
	ErrTransferFailed = errors.New("raftfsm: leadership transfer did not complete")
	// ErrMuxClosed is returned by a stream layer's Accept after its Mux or
	// the layer itself was closed.
	ErrMuxClosed = errors.New("raftfsm: mux closed")
	// ErrFrameTooLarge is returned by ReadFrame, Call and ServeCalls for a
	// frame above the size limit; the connection is closed.
	ErrFrameTooLarge = errors.New("raftfsm: frame too large")
	// ErrUnreachable wraps Call's dial errors: the request was not sent.
	ErrUnreachable = errors.New("raftfsm: stream unreachable")
	// ErrMuxAuth means the cluster-secret handshake of a dialed connection
	// failed: the peer refused our proof, or did not prove a secret we
	// accept (see Mux.RequireSecret). Call wraps it in ErrUnreachable.
	ErrMuxAuth = errors.New("raftfsm: cluster-port authentication failed")
	// ErrWeakSecret means a cluster secret is shorter than
	// MinClusterSecretLen.
	ErrWeakSecret = errors.New("raftfsm: cluster secret shorter than 16 bytes")
	// ErrTransportFrame means a frame of Shoal's Raft transport could not
	// be decoded (or exceeds the size limit); the connection is dropped.
	ErrTransportFrame = errors.New("raftfsm: malformed raft transport frame")
	// ErrTransportPreamble means a connection to Shoal's Raft transport did
	// not start with its magic and version (a node running another
	// transport or version); the connection is dropped.
	ErrTransportPreamble = errors.New("raftfsm: raft transport connection of another transport or version")
	// errUnanswered is the outcome of an entry raft shut down without
	// answering (still in its apply queue, or committed but not applied):
	// indeterminate.
	errUnanswered = errors.New("raft shut down without answering")
)
