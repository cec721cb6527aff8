package placement

import "errors"

// Sentinel errors of the placement service. Compare with errors.Is: most are
// returned wrapped with details. ErrBadMap is declared in map.go.
var (
	// ErrBadConfig is returned by Config.Validate and New for an invalid
	// configuration.
	ErrBadConfig = errors.New("placement: invalid config")
	// ErrNotStarted is returned by operations that need Start to have
	// succeeded first.
	ErrNotStarted = errors.New("placement: service not started")
	// ErrShutdown is returned after Shutdown, and by a second Start.
	ErrShutdown = errors.New("placement: service shut down")
	// ErrNotMetaLeader means the meta leader could not be reached or the
	// node asked does not lead the meta group: nothing was proposed.
	// UpdateMap retries it and returns it (wrapped with ctx's error) only
	// when no leader answered before ctx ended.
	ErrNotMetaLeader = errors.New("placement: not the meta leader")
	// ErrNoMap is returned when an operation needs a map and the cluster has
	// none yet (before bootstrap).
	ErrNoMap = errors.New("placement: no map yet")
	// ErrMapExists is the result of an init entry applied when the meta
	// group already holds a map; the entry changes nothing.
	ErrMapExists = errors.New("placement: map already initialised")
	// ErrEpochMismatch is the result of a set entry whose expected epoch is
	// not the current one (a lost compare-and-set race); the entry changes
	// nothing. Re-read the map and retry.
	ErrEpochMismatch = errors.New("placement: map epoch mismatch")
	// ErrBadCommand is the result of a meta log entry that does not decode
	// or names an unknown operation; the entry changes nothing.
	ErrBadCommand = errors.New("placement: bad meta command")
	// ErrIndeterminate is returned by UpdateMap when the proposal was
	// submitted but its outcome is unknown (leadership lost, context ended):
	// the change may or may not have been applied. Re-read the map.
	ErrIndeterminate = errors.New("placement: map update outcome unknown")
)
