package server

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalcache/shoal/command"
)

// RESP error texts of CLIENT PAUSE (Redis 7.0's).
const (
	errTimeoutNotInt   = "ERR timeout is not an integer or out of range"
	errTimeoutNegative = "ERR timeout is negative"
	errPauseMode       = "ERR CLIENT PAUSE mode must be WRITE or ALL"
)

// Pause modes, weakest first.
const (
	pauseOff   = 0
	pauseWrite = 1 // writes (and active expiry) wait
	pauseAll   = 2 // every client command waits
)

// pauseState is CLIENT PAUSE's: until end, the commands of the paused mode
// wait (they are not refused). mode is read with one atomic load per
// command; the rest under mu.
type pauseState struct {
	mode atomic.Int32

	mu  sync.Mutex
	end time.Time // guarded by mu
	// changed is closed (and replaced) when the pause is lifted or
	// changed, waking the waiting connections; guarded by mu.
	changed chan struct{}
	// now is the clock (tests replace it); set before serving.
	now func() time.Time
}

// set pauses the mode until end, as Redis's pauseClients: the stronger
// mode and the later end of the current pause and this one apply.
func (p *pauseState) set(mode int32, end time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode.Load() != pauseOff && !p.end.After(p.clock()) {
		p.mode.Store(pauseOff) // ended, though nobody has looked since
	}
	if p.mode.Load() == pauseOff || end.After(p.end) {
		p.end = end
	}
	if mode > p.mode.Load() {
		p.mode.Store(mode)
	}
	if !p.end.After(p.clock()) {
		p.mode.Store(pauseOff) // a timeout of 0 (or one that wrapped): no pause
	}
	p.wake()
}

// lift ends the pause (CLIENT UNPAUSE).
func (p *pauseState) lift() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode.Store(pauseOff)
	p.wake()
}

// wake wakes the waiting connections. Caller holds mu.
func (p *pauseState) wake() {
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

// clock returns the current time.
func (p *pauseState) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

// current returns the mode in force now (pauseOff once the end passed),
// and while paused a channel closed when it changes and the time left.
func (p *pauseState) current() (int32, <-chan struct{}, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mode := p.mode.Load()
	if mode == pauseOff {
		return pauseOff, nil, 0
	}
	left := p.end.Sub(p.clock())
	if left <= 0 {
		p.mode.Store(pauseOff)
		p.wake()
		return pauseOff, nil, 0
	}
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return mode, p.changed, left
}

// writesPaused reports whether writes wait now (housekeeping skips active
// expiry then, as Redis does during a pause).
func (p *pauseState) writesPaused() bool {
	if p.mode.Load() == pauseOff {
		return false
	}
	mode, _, _ := p.current()
	return mode != pauseOff
}

// pausedFor reports whether cmd waits under mode: every command under
// ALL, writes under WRITE (EXEC of a transaction with writes is checked by
// EXEC itself).
func pausedFor(mode int32, cmd *command.Command) bool {
	switch mode {
	case pauseAll:
		return true
	case pauseWrite:
		return cmd.Kind == command.KindWrite || cmd.Flags&command.FlagWrite != 0
	}
	return false
}

// waitPause holds the connection while cmd is paused: until the pause
// ends or is lifted (true: run cmd), or the server stops or the
// connection is killed (false: cmd must not run, the connection closes).
// The connection holds nothing meanwhile.
func (c *client) waitPause(cmd *command.Command) bool {
	c.runlock()
	c.flushWrites()
	p := &c.srv.pause
	for !c.killed.Load() {
		mode, changed, left := p.current()
		if !pausedFor(mode, cmd) {
			return true
		}
		// Polls for a kill at least every 100 ms.
		t := time.NewTimer(min(left, 100*time.Millisecond))
		select {
		case <-changed:
		case <-t.C:
		case <-c.srv.stop:
			t.Stop()
			c.closing = true
			return false
		}
		t.Stop()
	}
	c.closing = true
	return false
}

// clientPauseCommand: CLIENT PAUSE timeout [WRITE | ALL].
func clientPauseCommand(x *command.Ctx, args [][]byte) {
	mode := int32(pauseAll)
	switch {
	case len(args) > 4:
		x.Err(command.Sanitize(append(append([]byte("ERR unknown subcommand or wrong number of arguments for '"),
			truncNUL(args[1])...), "'. Try CLIENT HELP."...)))
		return
	case len(args) == 4 && command.EqFold(args[3], "write"):
		mode = pauseWrite
	case len(args) == 4 && !command.EqFold(args[3], "all"):
		x.Err(errPauseMode)
		return
	}
	ms, ok := command.ParseInt(args[2])
	if !ok {
		x.Err(errTimeoutNotInt)
		return
	}
	if ms < 0 {
		x.Err(errTimeoutNegative)
		return
	}
	p := &srvOf(x).pause
	now := p.clock()
	var end time.Time
	switch {
	case ms > math.MaxInt64-now.UnixMilli():
		// Redis's end time (ms since the epoch) wraps: it is in the
		// past, so nothing is paused.
		end = now
	case ms > math.MaxInt64/int64(time.Millisecond):
		end = now.Add(math.MaxInt64) // about 292 years
	default:
		end = now.Add(time.Duration(ms) * time.Millisecond)
	}
	p.set(mode, end)
	x.OK()
}

// clientUnpauseCommand: CLIENT UNPAUSE.
func clientUnpauseCommand(x *command.Ctx, args [][]byte) {
	srvOf(x).pause.lift()
	x.OK()
}
