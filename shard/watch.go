package shard

// Change watching, for slot migration: the FSM of a group that migrates
// slots out records, for every key of those slots, the log index of its last
// change (its dirty index), so that the mover can send what changed since a
// round began.

// watch is a store's change watcher: fn is told the key of every change to
// a key of slots.
type watch struct {
	slots SlotSet
	fn    func(key string)
}

// SetWatch makes the store call fn with the key of every change to a key in
// slots: a key set, modified (Mutable, SetExpire), renamed from or to,
// deleted (Delete, lazy expiry in GetWrite, Expire, Evict) or flushed (Flush,
// FlushSlot, which report every key of the watched slots they remove). A
// change that turns out not to modify the value (Mutable whose caller then
// changes nothing) may still be reported: fn sees a superset of the changes.
// SetWatch(nil, nil) stops watching. fn runs on the goroutine holding Lock,
// in the middle of the change: it must not call the store.
//
// With no watch the cost on the write path is one nil check. ReplaceWith
// keeps the watch. Caller holds Lock.
func (s *Store) SetWatch(slots *SlotSet, fn func(key string)) {
	if slots == nil || fn == nil {
		s.watch = nil
		return
	}
	s.watch = &watch{slots: *slots, fn: fn}
}

// changed reports a change to key of slot to the watch, if it covers slot.
// Callers check s.watch != nil first, so that the unwatched path stays one
// nil check.
func (s *Store) changed(slot int, key []byte) {
	if w := s.watch; w.slots.Has(slot) {
		w.fn(string(key))
	}
}

// flushWatched reports every key of slot to the watch before a flush, if the
// watch covers slot.
func (s *Store) flushWatched(slot int) {
	w := s.watch
	if !w.slots.Has(slot) {
		return
	}
	s.slots[slot].m.each(func(k string, _ *Entry) bool {
		w.fn(k)
		return true
	})
}

// HasWatch reports whether a watch is set. Caller holds RLock.
func (s *Store) HasWatch() bool { return s.watch != nil }
