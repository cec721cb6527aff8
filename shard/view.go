package shard

// View is a point-in-time, read-only image of a Store (every database of its
// key space), taken by Snapshot. It may be read from any goroutine while the
// store keeps taking writes, and must be closed with Release.
type View struct {
	store *Store
	// maps are database 0's slots; dbs the other databases that had keys.
	maps [NumSlots]keyMap
	keys int64
	dbs  []*dbView
	seq  uint64
	done bool
}

// dbView is a View's image of a database other than 0.
type dbView struct {
	db   int
	maps [NumSlots]keyMap
	keys int64
}

// Snapshot opens a View of the key space's current contents (every
// database) in O(NumSlots) time per non-empty database, without copying any
// key. Caller holds Lock (the FSM calls it from raft.FSM.Snapshot, between
// two Apply calls).
func (s *Store) Snapshot() *View {
	r := s.root
	r.snapGen++
	r.views++
	v := &View{store: r, keys: r.keys, seq: uint64(r.seq)}
	for i := range r.slots {
		v.maps[i] = r.slots[i].m
	}
	for _, d := range r.Databases()[1:] {
		if d.keys == 0 {
			continue
		}
		dv := &dbView{db: d.db, keys: d.keys}
		for i := range d.slots {
			dv.maps[i] = d.slots[i].m
		}
		v.dbs = append(v.dbs, dv)
	}
	return v
}

// Keys returns the number of keys in the view's database 0 (expired ones
// included).
func (v *View) Keys() int64 { return v.keys }

// TotalKeys returns the number of keys in the view, every database.
func (v *View) TotalKeys() int64 {
	n := v.keys
	for _, d := range v.dbs {
		n += d.keys
	}
	return n
}

// Seq returns the store's creation counter at the time of the view.
func (v *View) Seq() uint64 { return v.seq }

// SlotLen returns the number of keys of slot in the view's database 0.
func (v *View) SlotLen(slot int) int { return v.maps[slot].Len() }

// RangeSlot calls fn for every entry of slot of database 0 in the view until
// fn returns false. The entry's Value and ExpireAt are stable for the life of
// the view.
func (v *View) RangeSlot(slot int, fn func(key string, e *Entry) bool) {
	v.maps[slot].each(fn)
}

// DBs returns the databases other than 0 that had keys in the view,
// ascending.
func (v *View) DBs() []int {
	out := make([]int, len(v.dbs))
	for i, d := range v.dbs {
		out[i] = d.db
	}
	return out
}

// DBSlotLen is SlotLen for database db (0 for a database the view has not).
func (v *View) DBSlotLen(db, slot int) int {
	if m := v.dbMaps(db); m != nil {
		return m[slot].Len()
	}
	return 0
}

// RangeDBSlot is RangeSlot for database db.
func (v *View) RangeDBSlot(db, slot int, fn func(key string, e *Entry) bool) {
	if m := v.dbMaps(db); m != nil {
		m[slot].each(fn)
	}
}

func (v *View) dbMaps(db int) *[NumSlots]keyMap {
	if db == 0 {
		return &v.maps
	}
	for _, d := range v.dbs {
		if d.db == db {
			return &d.maps
		}
	}
	return nil
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
	v.maps = [NumSlots]keyMap{}
	v.dbs = nil
}
