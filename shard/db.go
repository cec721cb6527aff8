package shard

// Databases: operations across the databases of a key space (SELECT's
// 0..NumDBs-1). Every one is a replicated write's (FLUSHALL, SWAPDB, MOVE) or
// a snapshot restore's: caller holds Lock.

// FlushAll removes every key of every database. Caller holds Lock.
func (s *Store) FlushAll() {
	for _, d := range s.Databases() {
		d.Flush()
	}
}

// SwapDB exchanges the contents of databases a and b, as Redis's SWAPDB:
// every key, with its expiry and access metadata, moves at once. Open Views
// keep what they captured (the copy-on-write generation is shared by every
// database, so a slot shared with a view stays shared wherever it moves).
// Caller holds Lock.
func (s *Store) SwapDB(a, b int) {
	if a == b {
		return
	}
	da, db := s.DB(a), s.DB(b)
	s.root.mods++
	da.watchAll()
	db.watchAll()
	da.slots, db.slots = db.slots, da.slots
	da.keys, db.keys = db.keys, da.keys
	da.volatile, db.volatile = db.volatile, da.volatile
	da.hfe, db.hfe = db.hfe, da.hfe
	da.watchAll()
	db.watchAll()
}

// watchAll reports every key of the database to its watch, if it has one
// (only database 0 can, and only in cluster mode, where SWAPDB is refused).
func (s *Store) watchAll() {
	if s.watch == nil {
		return
	}
	for i := range s.slots {
		s.flushWatched(i)
	}
}

// MoveTo moves key's entry, with its value, expiry time, creation number and
// access metadata, from s to the database dst, as Redis's MOVE does. It
// reports false, moving nothing, when key is missing in s or already exists
// in dst (live or expired: callers check liveness first with GetWrite).
// Caller holds Lock.
func (s *Store) MoveTo(dst *Store, key []byte) bool {
	i := Slot(key)
	e := s.slots[i].m.get(key)
	if e == nil || s == dst || dst.slots[i].m.get(key) != nil {
		return false
	}
	s.deleteFrom(i, key, e)
	dst.insert(i, key, e)
	return true
}

// insert adds the entry e under key in slot i, where the key is missing
// (RENAME, MOVE). e must be unchanged while a view may share it (it is
// moved, not copied).
func (s *Store) insert(i int, key []byte, e *Entry) {
	if s.watch != nil {
		s.changed(i, key)
	}
	sd := s.own(i)
	k := string(key)
	sd.m.setString(k, e)
	if e.ExpireAt != 0 {
		s.addVolatile(sd, k)
	}
	s.noteFieldTTLs(k, e)
	size := e.memSize(len(k))
	sd.bytes += size
	s.root.bytes += size
	s.keys++
}

// ReplaceWith moves the contents of src, every database, into s (a root),
// which is how a restored snapshot replaces the live store without changing
// the pointers that readers hold. src must not be used afterwards. Caller
// holds s's Lock.
func (s *Store) ReplaceWith(src *Store) {
	r, sr := s.root, src.root
	for n := range r.dbs {
		d := r.dbs[n].Load()
		from := sr.dbs[n].Load()
		if from == nil {
			if d != nil && n != 0 {
				d.slots = [NumSlots]slotData{}
				d.keys, d.volatile, d.hfe = 0, 0, nil
			}
			continue
		}
		if d == nil {
			d = r.DB(n)
		}
		d.slots = from.slots
		d.keys, d.volatile, d.hfe = from.keys, from.volatile, from.hfe
	}
	if sr.dbs[0].Load() == nil {
		r.slots = [NumSlots]slotData{}
		r.keys, r.volatile, r.hfe = 0, 0, nil
	}
	r.bytes, r.seq = sr.bytes, sr.seq
	r.stats = sr.stats
	// Views opened on s keep the maps they captured; bump the generation so
	// that no slot is written in place while they are open.
	r.snapGen++
	for _, d := range r.Databases() {
		for i := range d.slots {
			d.slots[i].cowGen = 0
		}
	}
}
