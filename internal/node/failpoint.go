package node

import (
	"fmt"
	"sync/atomic"
)

// Failpoints of the mover, for tests: a test installs a hook that the
// mover calls at every boundary between two phases of docs/migration.md
// ("Phases", step 2 to 4). The hook may act on the cluster there (write
// keys, abort the job, run a successor mover, snapshot a group), block, or
// return an error, which makes the mover fail at that point exactly as a
// crash of the source leader would leave things: nothing more proposed,
// the chunks in flight cancelled. The controller then starts a new mover
// on its next round.
//
// The hook is nil in production. It is checked only at phase boundaries
// and once per full-copy chunk, never on a client command's path.

// Mover phase boundaries, in the order a mover passes them. Each names the
// step just completed.
const (
	// phaseStart: the mover started; nothing proposed yet.
	phaseStart = "start"
	// phaseMigrateOut: MigrateOut applied in the source (or found there).
	phaseMigrateOut = "migrate-out"
	// phaseClaim: the meta group holds the job's claim for the mover's term.
	phaseClaim = "claim"
	// phaseIngestReset: IngestReset at the mover's term applied in the
	// target.
	phaseIngestReset = "ingest-reset"
	// phaseCopyChunk: one full-copy chunk other than the last is on its way
	// to the target (mid copy); passed once per such chunk.
	phaseCopyChunk = "copy-chunk"
	// phaseCopy: the full copy is in the target's log, watermark I1.
	phaseCopy = "copy"
	// phaseDelta: one delta round is in the target's log; passed once per
	// round sent.
	phaseDelta = "delta"
	// phaseFence: Fence applied in the source (or found there).
	phaseFence = "fence"
	// phaseLastDelta: the last delta is in the target's log; the flip is
	// next.
	phaseLastDelta = "last-delta"
	// phaseFlip: the flip committed in the meta group; the mover returns.
	phaseFlip = "flip"
)

// moverPhases lists the boundaries in order.
var moverPhases = []string{phaseStart, phaseMigrateOut, phaseClaim, phaseIngestReset, phaseCopyChunk,
	phaseCopy, phaseDelta, phaseFence, phaseLastDelta, phaseFlip}

// moverHook, when set, is called by every mover at every phase boundary
// (see above). It runs on the mover's goroutine; a non-nil error stops the
// mover there with that error.
var moverHook atomic.Pointer[func(mv *mover, phase string) error]

// failpoint calls the hook, if any, at phase.
func (mv *mover) failpoint(phase string) error {
	h := moverHook.Load()
	if h == nil {
		return nil
	}
	if err := (*h)(mv, phase); err != nil {
		return fmt.Errorf("failpoint %s: %w", phase, err)
	}
	return nil
}
