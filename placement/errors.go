package placement

import (
	"errors"

	"github.com/shoalcache/shoal/internal/topology"
)

// Sentinel errors of the placement service. Compare with errors.Is: most are
// returned wrapped with details.
var (
	// ErrBadMap is returned when a map does not validate (topology.ErrBadMap).
	ErrBadMap = topology.ErrBadMap
	// ErrBadConfig is returned by Config.Validate and New for an invalid
	// configuration.
	ErrBadConfig = errors.New("placement: invalid config")
	// ErrBadGossipKey means a gossip key (Config.GossipKey, the keyring
	// file, a GossipKeys argument) is not base64 of 16, 24 or 32 bytes.
	ErrBadGossipKey = errors.New("placement: invalid gossip key")
	// ErrNoGossipEncryption is returned by GossipKeys on a node whose
	// gossip is not encrypted (no GossipKey and no keyring file).
	ErrNoGossipEncryption = errors.New("placement: gossip encryption is not enabled")
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

	// Refusals of the job transitions (jobs.go); each changes nothing.

	// ErrUnknownGroup: a job's target group is not in the map.
	ErrUnknownGroup = errors.New("placement: unknown group")
	// ErrBadSlots: a job's slot list is empty, or a range is outside
	// 0-16383 or starts after it ends.
	ErrBadSlots = errors.New("placement: bad slot ranges")
	// ErrUnassignedSlots: a slot of the job has no owner group.
	ErrUnassignedSlots = errors.New("placement: slot not assigned to a group")
	// ErrMixedSources: the job's slots belong to more than one group; a job
	// has exactly one source.
	ErrMixedSources = errors.New("placement: slots of more than one source group")
	// ErrAlreadyOwner: the target group already owns the slots.
	ErrAlreadyOwner = errors.New("placement: target group already owns the slots")
	// ErrSlotsBusy: a slot is already in an active job.
	ErrSlotsBusy = errors.New("placement: slot already in an active job")
	// ErrTooManyJobs: the cap on active jobs is reached.
	ErrTooManyJobs = errors.New("placement: too many active jobs")
	// ErrUnknownJob: no job with that id is in the map (it never existed,
	// or it finished and left the history).
	ErrUnknownJob = errors.New("placement: unknown job")
	// ErrJobNotActive: the job has already been flipped or aborted.
	ErrJobNotActive = errors.New("placement: job not active")
	// ErrNotCopier: a flip or claim by a mover whose claim on the job was
	// replaced by a newer source leader's (or an older term's claim).
	ErrNotCopier = errors.New("placement: job claimed by another source term")

	// Refusals of balancing (balance.go, balance_service.go); each changes
	// nothing.

	// ErrUnknownNode: the node is not in the map.
	ErrUnknownNode = errors.New("placement: unknown node")
	// ErrTooFewNodes: removing the node would leave fewer nodes than the
	// replication factor.
	ErrTooFewNodes = errors.New("placement: too few nodes would remain")
	// ErrStaleStep: a balancing step no longer fits the map (it moved on
	// since the step was planned); plan again.
	ErrStaleStep = errors.New("placement: balancing step does not fit the map")
)
