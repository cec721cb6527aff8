// Package shard is Shoal's in-memory key space: strings and collections
// (hashes, sets, lists, sorted sets: object.go) with absolute expiry times,
// grouped by hash slot so that a slot can be counted, listed,
// snapshotted and moved on its own.
//
// # Concurrency
//
// A Store is guarded by its own RWMutex, which callers take explicitly: the
// Raft FSM holds Lock while it applies a batch of commands, and connection
// goroutines hold RLock while they serve reads. Methods documented "caller
// holds Lock" mutate; methods documented "caller holds RLock" only read (and
// update access metadata atomically, which is safe under RLock).
//
// # Determinism
//
// The Store never reads the clock or a random source: every method that needs
// the time takes it as an argument (milliseconds since the Unix epoch, taken by
// the group leader when it proposed the command). The only randomness is in
// the sampling helpers, which take a caller-provided source and are used by the
// leader to choose expiry and eviction victims; their choices are replicated as
// deletes.
//
// # Snapshots
//
// Snapshot returns a point-in-time View without copying the data: every
// slot's key index (keyMap, an open-addressing table) is shared with the view and copied by the first write to that slot
// (copy-on-write per slot), and entries are never modified in place while a
// view is open. A View can be read from any goroutine, concurrently with writes.
package shard
