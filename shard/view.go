package shard

// View is a point-in-time, read-only image of a Store, taken by Snapshot. It
// may be read from any goroutine while the store keeps taking writes, and must
// be closed with Release.
type View struct {
	store *Store
	maps  [NumSlots]map[string]*Entry
	keys  int64
	seq   uint64
	done  bool
}

// Snapshot opens a View of the store's current contents in O(NumSlots) time,
// without copying any key. Caller holds Lock (the FSM calls it from
// raft.FSM.Snapshot, between two Apply calls).
func (s *Store) Snapshot() *View {
	s.snapGen++
	s.views++
	v := &View{store: s, keys: s.keys, seq: uint64(s.seq)}
	for i := range s.slots {
		v.maps[i] = s.slots[i].m
	}
	return v
}

// Keys returns the number of keys in the view (expired ones included).
func (v *View) Keys() int64 { return v.keys }

// Seq returns the store's creation counter at the time of the view.
func (v *View) Seq() uint64 { return v.seq }

// SlotLen returns the number of keys of slot in the view.
func (v *View) SlotLen(slot int) int { return len(v.maps[slot]) }

// RangeSlot calls fn for every entry of slot in the view until fn returns
// false. The entry's Value and ExpireAt are stable for the life of the view.
func (v *View) RangeSlot(slot int, fn func(key string, e *Entry) bool) {
	for k, e := range v.maps[slot] {
		if !fn(k, e) {
			return
		}
	}
}

// Release closes the view; after it the store stops copying slots for it.
// It takes the store's Lock and may be called from any goroutine; calling it
// twice is harmless.
func (v *View) Release() {
	s := v.store
	s.mu.Lock()
	if !v.done {
		v.done = true
		s.views--
	}
	s.mu.Unlock()
	v.maps = [NumSlots]map[string]*Entry{}
}
