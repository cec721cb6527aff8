package raftfsm

// ChangeHook is told which keys the entries a replica applies change, so
// that the front end can invalidate what clients cached (CLIENT TRACKING).
// It is told on every replica, leader or follower, as entries apply.
//
// Both methods are called from the FSM goroutine with the store's write
// lock held, one call at a time: they must not block, must not call the
// store, and must copy any key they keep (keys alias the log entry or the
// FSM's buffers).
type ChangeHook interface {
	// KeysChanged reports keys that an applied write command, expiry or
	// eviction changed. A command that changed nothing (SET NX on an
	// existing key, DEL of a missing one, an error) is not reported; one
	// that changed some of its keys is reported with all of them. A command is reported once, with its keys in
	// Executor.Keys order (a repeated key appears as often as in the
	// command).
	KeysChanged(keys [][]byte)
	// AllChanged reports a change to an unknown set of keys: a keyless
	// write (FLUSHALL, FLUSHDB, even of an empty store), a snapshot
	// restored, slots dropped by a migration.
	AllChanged()
}

// hookBox holds a ChangeHook for an atomic.Pointer.
type hookBox struct{ h ChangeHook }

// SetChangeHook makes the group's FSM tell h about the keys applied
// entries change; nil stops it. Safe for concurrent use; an entry being
// applied may still see the previous hook. With no hook, applying an
// entry costs one atomic load.
func (g *Group) SetChangeHook(h ChangeHook) { g.fsm.SetChangeHook(h) }

// SetChangeHook is Group.SetChangeHook on the FSM itself.
func (f *FSM) SetChangeHook(h ChangeHook) {
	if h == nil {
		f.hook.Store(nil)
		return
	}
	if cur := f.hook.Load(); cur != nil && cur.h == h {
		return
	}
	f.hook.Store(&hookBox{h: h})
}

// changeHook returns the current hook, or nil (FSM goroutine).
func (f *FSM) changeHook() ChangeHook {
	if b := f.hook.Load(); b != nil {
		return b.h
	}
	return nil
}

// notifyCommand tells h about the keys of an applied write command args,
// if it changed the store (as Redis invalidates only keys it modified); a
// command without keys (FLUSHALL, FLUSHDB) is told as a change of
// everything even on an empty store, as Redis tells of every flush.
func (f *FSM) notifyCommand(h ChangeHook, args [][]byte, changed bool) {
	f.keys = f.exec.Keys(args, f.keys[:0])
	switch {
	case len(f.keys) == 0:
		h.AllChanged()
	case changed:
		h.KeysChanged(f.keys)
	}
}

// notifyAll tells the hook, if any, that an unknown set of keys changed.
func (f *FSM) notifyAll() {
	if h := f.changeHook(); h != nil {
		h.AllChanged()
	}
}
