package shard

import (
	"sync"
	"sync/atomic"
)

type slotData struct {
	// m maps keys to entries. It may be shared with open Views: writers call
	// Store.own before modifying it.
	m keyMap
	// volatile holds the keys of m that have an expiry time. It is never
	// shared with Views.
	volatile map[string]struct{}
	// bytes is the accounted memory of the slot's keys.
	bytes int64
	// cowGen is the snapshot generation m was last copied for.
	cowGen uint32
}

// Stats are counters the Store keeps for INFO. They are updated by the
// goroutine holding Lock, and read with the same lock held (or RLock).
type Stats struct {
	ExpiredKeys   int64 // keys deleted because their time had come
	ExpiredFields int64 // hash fields deleted because their time had come
	EvictedKeys   int64 // keys deleted by maxmemory eviction
}

// NumDBs is the number of databases of a store, as Redis's default
// "databases 16". Cluster mode uses database 0 only.
const NumDBs = 16

// Store is the key space of one database of a shard group. New returns the
// group's store, which is database 0; DB returns the others, which share its
// lock, creation counter, statistics, memory accounting and snapshot
// generation (their root). See the package documentation for the locking
// rules: every database is guarded by the root's lock.
type Store struct {
	// root is the store of database 0, which holds the fields shared by
	// every database; for database 0, the store itself.
	root *Store
	db   int

	// Per database.
	slots    [NumSlots]slotData
	keys     int64
	volatile int64
	// hfe lists keys that held a hash with field expiry times when last
	// changed (hash_ttl_store.go); stale names are dropped by ExpireFields.
	hfe map[string]struct{}

	// watch, when set, is told of changes to the keys of its slots
	// (watch.go). Only database 0 has one (slot migration is cluster
	// mode's, which has database 0 only).
	watch *watch

	// The root's only (shared by every database).
	mu    sync.RWMutex
	bytes int64
	seq   uint32
	stats Stats
	// snapGen is incremented by Snapshot; views counts open Views.
	snapGen uint32
	views   int
	// dbs are the databases, created on first use; dbs[0] is the root.
	// Loaded lock-free, so that a reader may create an empty database.
	dbs [NumDBs]atomic.Pointer[Store]

	// mods counts changes (mods.go), kept on the root: every database's
	// changes count.
	mods uint64
}

// New returns an empty Store: database 0 of a new key space.
func New() *Store {
	s := &Store{}
	s.root = s
	s.dbs[0].Store(s)
	return s
}

// DB returns database n (0 <= n < NumDBs) of the store's key space, creating
// it empty on first use. Creating one changes no replicated state, so any
// goroutine may call DB, under the root's RLock or Lock or none.
func (s *Store) DB(n int) *Store {
	r := s.root
	if d := r.dbs[n].Load(); d != nil {
		return d
	}
	d := &Store{root: r, db: n}
	if r.dbs[n].CompareAndSwap(nil, d) {
		return d
	}
	return r.dbs[n].Load()
}

// Index returns the store's database number.
func (s *Store) Index() int { return s.db }

// Lock takes the write lock (the root's, shared by every database). The FSM
// holds it while applying commands.
func (s *Store) Lock() { s.root.mu.Lock() }

// Unlock releases the write lock.
func (s *Store) Unlock() { s.root.mu.Unlock() }

// RLock takes the read lock, for serving reads.
func (s *Store) RLock() { s.root.mu.RLock() }

// RUnlock releases the read lock.
func (s *Store) RUnlock() { s.root.mu.RUnlock() }

// Len returns the number of keys of the database, including expired keys
// not yet deleted, as Redis's DBSIZE does. Caller holds RLock.
func (s *Store) Len() int64 { return s.keys }

// VolatileLen returns the number of keys of the database with an expiry
// time. Caller holds RLock.
func (s *Store) VolatileLen() int64 { return s.volatile }

// TotalLen returns the number of keys of every database. Caller holds RLock.
func (s *Store) TotalLen() int64 {
	var n int64
	for _, d := range s.Databases() {
		n += d.keys
	}
	return n
}

// Databases returns the databases created so far, database 0 first, in
// ascending order. Caller holds RLock.
func (s *Store) Databases() []*Store {
	r := s.root
	out := make([]*Store, 0, 1)
	for i := range r.dbs {
		if d := r.dbs[i].Load(); d != nil {
			out = append(out, d)
		}
	}
	return out
}

// Bytes returns the accounted memory of all keys, of every database (memory
// is the group's, as maxmemory's). Caller holds RLock.
func (s *Store) Bytes() int64 { return s.root.bytes }

// Stats returns the counters of the key space (every database). Caller
// holds RLock.
func (s *Store) Stats() Stats { return s.root.stats }

// SlotLen returns the number of keys in slot. Caller holds RLock.
func (s *Store) SlotLen(slot int) int { return s.slots[slot].m.Len() }

// Seq returns the creation counter (shared by every database), part of the
// replicated state.
func (s *Store) Seq() uint64 { return uint64(s.root.seq) }

// SetSeq sets the creation counter (used when restoring a snapshot).
// Caller holds Lock.
func (s *Store) SetSeq(v uint64) { s.root.seq = uint32(v) }

// private reports whether e is in no open View, so that it may be changed in
// place. Caller holds Lock.
func (s *Store) private(e *Entry) bool {
	r := s.root
	return r.views == 0 || e.gen == r.snapGen
}

// newEntry returns an entry of the current generation.
func (s *Store) newEntry(value []byte, expireAt int64, seq uint32) *Entry {
	return &Entry{Value: value, ExpireAt: expireAt, seq: seq, gen: s.root.snapGen}
}

// Peek returns the entry of key without checking expiry and without touching
// it. Caller holds RLock.
func (s *Store) Peek(key []byte) *Entry {
	return s.slots[Slot(key)].m.get(key)
}

// Get returns the live entry of key at now, or nil if it is missing or
// expired, and records the access for LRU/LFU. r in [0, 1) drives the LFU
// increment: the leader passes a random value; the FSM a deterministic one.
// Caller holds RLock (access metadata is updated atomically).
func (s *Store) Get(key []byte, now int64, r float64) *Entry {
	e := s.slots[Slot(key)].m.get(key)
	if e == nil || e.expired(now) {
		return nil
	}
	e.touch(now, r)
	return e
}

// Exists reports whether key is live at now, without touching it.
// Caller holds RLock.
func (s *Store) Exists(key []byte, now int64) bool {
	e := s.slots[Slot(key)].m.get(key)
	return e != nil && !e.expired(now)
}

// own makes slot i's map private to the store (copying it if an open View
// shares it) and returns the slot. Caller holds Lock.
func (s *Store) own(i int) *slotData {
	sd := &s.slots[i]
	if r := s.root; r.views > 0 && sd.cowGen != r.snapGen {
		sd.m = sd.m.clone()
		sd.cowGen = r.snapGen
	}
	return sd
}

// GetWrite returns the live entry of key at now for a write command, deleting
// it first if it has expired (counted in ExpiredKeys), as Redis's
// expireIfNeeded does. Caller holds Lock.
func (s *Store) GetWrite(key []byte, now int64) *Entry {
	i := Slot(key)
	e := s.slots[i].m.get(key)
	if e == nil {
		return nil
	}
	if e.expired(now) {
		s.deleteFrom(i, key, e)
		s.root.stats.ExpiredKeys++
		return nil
	}
	return e
}

// Set stores value under key with the given expiry (0 for none), replacing
// any existing entry. The store keeps value: the caller must not modify it
// afterwards. A new key gets the next creation number; an overwritten key
// keeps its own, and its LFU counter (Redis keeps the old object's). Caller
// holds Lock.
func (s *Store) Set(key, value []byte, expireAt, now int64) *Entry {
	i := Slot(key)
	return s.set(i, key, s.slots[i].m.get(key), value, false, expireAt, now)
}

// set is Set for key in slot i, whose entry in the index is old (nil when
// absent); with inline, value is copied into a new entry's own object
// (newInlineEntry: 1 to maxInline bytes) instead of kept.
func (s *Store) set(i int, key []byte, old *Entry, value []byte, inline bool, expireAt, now int64) *Entry {
	s.root.mods++
	if s.watch != nil {
		s.changed(i, key)
	}
	sd := s.own(i)
	if old != nil {
		switch {
		case old.ExpireAt != 0 && expireAt == 0:
			delete(sd.volatile, string(key))
			s.volatile--
		case old.ExpireAt == 0 && expireAt != 0:
			s.addVolatile(sd, string(key))
		}
		before := old.memSize(len(key))
		e := old
		if !inline && s.private(old) && old.Type() == TypeString {
			// No view can see old: update it in place, which spares the
			// index assignment.
			old.Value, old.ExpireAt = value, expireAt
		} else {
			e = s.indexString(sd, key, value, inline, false, expireAt, old.seq)
		}
		e.overwriteAccess(old, now)
		d := entrySize(len(key), cap(e.Value)) - before
		sd.bytes += d
		s.root.bytes += d
		return e
	}
	s.root.seq++
	e := s.indexString(sd, key, value, inline, true, expireAt, s.root.seq)
	e.initAccess(now)
	s.keys++
	size := entrySize(len(key), cap(e.Value))
	sd.bytes += size
	s.root.bytes += size
	return e
}

// indexString stores under key, in slot data sd (owned), a new string
// entry holding value, or with inline a copy of it in the entry's own
// object (with the key's bytes when they fit: newInlineEntry, setIn), and
// returns the entry. isNew says key is not in the index; a new key with an
// expiry time joins the volatile set.
func (s *Store) indexString(sd *slotData, key, value []byte, inline, isNew bool, expireAt int64, seq uint32) *Entry {
	var e *Entry
	if inline {
		// A key with an expiry time keeps a string of its own, which the
		// volatile set shares, so that the set never holds an entry's
		// object alive.
		var k string
		var in bool
		if e, k, in = s.newInlineEntry(key, value, expireAt == 0, expireAt, seq); in {
			sd.m.setIn(k, e)
			return e
		}
	} else {
		e = s.newEntry(value, expireAt, seq)
	}
	if !isNew {
		sd.m.set(key, e)
		return e
	}
	k := string(key)
	sd.m.setString(k, e)
	if expireAt != 0 {
		s.addVolatile(sd, k)
	}
	return e
}

// SetCopy is Set with a value the store copies (val may alias a log entry
// or a read buffer). When the key's live value is in no open View and its
// buffer is of val's size class, val is copied into that buffer instead of
// a new one: overwriting a key with a value of about the same size then
// allocates nothing, and leaves no garbage behind, which under churn is
// what fragments the heap (a freed value leaves a hole in a span that
// still holds live values). Caller holds Lock.
func (s *Store) SetCopy(key, val []byte, expireAt, now int64) *Entry {
	i := Slot(key)
	return s.setCopy(i, key, s.slots[i].m.get(key), val, expireAt, now)
}

// SetCopyOf is SetCopy for key whose live entry is old, what a lookup of
// key (GetWrite, LookupWrite) returned under this same Lock (nil: no live
// key; the lookup deleted an expired one): it spares SetCopy its own two
// lookups and slot hashes (SET looks the key up first for NX, XX, GET and
// KEEPTTL). Caller holds Lock.
func (s *Store) SetCopyOf(key []byte, old *Entry, val []byte, expireAt, now int64) *Entry {
	return s.setCopy(Slot(key), key, old, val, expireAt, now)
}

// setCopy is SetCopy for key in slot i, whose entry in the index is old.
func (s *Store) setCopy(i int, key []byte, old *Entry, val []byte, expireAt, now int64) *Entry {
	if old != nil && old.Type() == TypeString && len(val) > 0 && len(val) <= cap(old.Value) &&
		copyClass(len(val)) == sizeClass(cap(old.Value)) && s.private(old) {
		v := old.Value[:len(val)]
		copy(v, val)
		return s.set(i, key, old, v, false, expireAt, now)
	}
	if len(val) > 0 && len(val) <= maxInline {
		return s.set(i, key, old, val, true, expireAt, now)
	}
	var v []byte
	if len(val) == 0 {
		v = []byte{}
	} else {
		v = make([]byte, len(val))
		copy(v, val)
	}
	return s.set(i, key, old, v, false, expireAt, now)
}

// copyClass is the size class of the buffer SetCopy gives a new value of n
// bytes (n > 0): an entry's own 16-byte multiple up to maxInline (so a
// value of 1 to 8 bytes gets 16, where sizeClass says 8), the allocator's
// class beyond.
func copyClass(n int) int {
	if n <= maxInline {
		return (n + 15) &^ 15
	}
	return sizeClass(n)
}

func (s *Store) addVolatile(sd *slotData, k string) {
	if sd.volatile == nil {
		sd.volatile = make(map[string]struct{})
	}
	sd.volatile[k] = struct{}{}
	s.volatile++
}

// SetValue replaces the value of an existing live entry, keeping its expiry
// time, and returns the entry now stored (which may be a new one). The store
// keeps value. Caller holds Lock.
func (s *Store) SetValue(key []byte, e *Entry, value []byte, now int64) *Entry {
	return s.Set(key, value, e.ExpireAt, now)
}

// Mutable returns an entry for key that the caller may modify in place (its
// Value, growing it with append), or nil if the key is missing or holds
// another type than a string (callers check the type first). When open
// Views may share the entry, it is copied first. After modifying, the caller
// must call Resize with the value's previous capacity. Caller holds Lock.
func (s *Store) Mutable(key []byte) *Entry {
	i := Slot(key)
	sd := s.own(i)
	e := sd.m.get(key)
	if e == nil || e.Type() != TypeString {
		return nil
	}
	s.root.mods++
	if s.watch != nil {
		s.changed(i, key)
	}
	if !s.private(e) {
		c := s.newEntry(copyValue(e.Value), e.ExpireAt, e.seq)
		c.lru.Store(e.lru.Load())
		c.lfu.Store(e.lfu.Load())
		// The copy has its own value buffer, which Resize will account.
		size := entrySize(len(key), cap(e.Value))
		sd.bytes -= size
		s.root.bytes -= size
		size = entrySize(len(key), cap(c.Value))
		sd.bytes += size
		s.root.bytes += size
		sd.m.set(key, c)
		e = c
	}
	return e
}

// MutableOf is Mutable for e, the live string entry that a lookup of key
// (GetWrite, LookupWrite) returned under this same Lock: when no open View
// shares e, it is returned as it is, without looking key up again (INCR,
// APPEND, SETRANGE, INCRBYFLOAT look the key up first to check its type).
// Caller holds Lock.
func (s *Store) MutableOf(key []byte, e *Entry) *Entry {
	if !s.private(e) {
		return s.Mutable(key)
	}
	s.root.mods++
	if s.watch != nil {
		s.changed(Slot(key), key)
	}
	return e
}

// Resize updates the memory accounting of key's entry after its Value was
// modified through Mutable. oldCap is the capacity of the value before.
// Caller holds Lock.
func (s *Store) Resize(key []byte, e *Entry, oldCap int) {
	d := int64(sizeClass(cap(e.Value)) - sizeClass(oldCap))
	if d == 0 {
		return // the common case of a counter: no slot to hash
	}
	sd := &s.slots[Slot(key)]
	sd.bytes += d
	s.root.bytes += d
}

// SetExpire changes the expiry time of key's live entry (0 removes it).
// Caller holds Lock.
func (s *Store) SetExpire(key []byte, expireAt int64) {
	i := Slot(key)
	sd := s.own(i)
	e := sd.m.get(key)
	if e == nil || e.ExpireAt == expireAt {
		return
	}
	s.root.mods++
	if s.watch != nil {
		s.changed(i, key)
	}
	if !s.private(e) {
		c := s.copyEntry(e)
		sd.m.set(key, c)
		e = c
	}
	k := string(key)
	switch {
	case e.ExpireAt == 0 && expireAt != 0:
		s.addVolatile(sd, k)
	case e.ExpireAt != 0 && expireAt == 0:
		delete(sd.volatile, k)
		s.volatile--
	}
	e.ExpireAt = expireAt
}

// Delete removes key and reports whether it existed (live or expired).
// Caller holds Lock.
func (s *Store) Delete(key []byte) bool {
	i := Slot(key)
	e := s.slots[i].m.get(key)
	if e == nil {
		return false
	}
	s.deleteFrom(i, key, e)
	return true
}

func (s *Store) deleteFrom(i int, key []byte, e *Entry) {
	s.root.mods++
	if s.watch != nil {
		s.changed(i, key)
	}
	sd := s.own(i)
	sd.m.del(key)
	if e.ExpireAt != 0 {
		delete(sd.volatile, string(key))
		s.volatile--
	}
	size := e.memSize(len(key))
	sd.bytes -= size
	s.root.bytes -= size
	s.keys--
}

// Expire deletes key if its expiry time is still expireAt and is not after
// now, counting it in ExpiredKeys. The leader proposes it for keys its
// sampling found expired; checking expireAt makes it a no-op when the key was
// rewritten in between. Caller holds Lock.
func (s *Store) Expire(key []byte, expireAt, now int64) bool {
	i := Slot(key)
	e := s.slots[i].m.get(key)
	if e == nil || e.ExpireAt != expireAt || !e.expired(now) {
		return false
	}
	s.deleteFrom(i, key, e)
	s.root.stats.ExpiredKeys++
	return true
}

// Evict deletes key for maxmemory eviction, counting it in EvictedKeys.
// Caller holds Lock.
func (s *Store) Evict(key []byte) bool {
	if !s.Delete(key) {
		return false
	}
	s.root.stats.EvictedKeys++
	return true
}

// Flush removes every key of the database. Caller holds Lock.
func (s *Store) Flush() {
	var bytes int64
	for i := range s.slots {
		sd := &s.slots[i]
		if sd.m.Len() == 0 {
			continue
		}
		s.root.mods++
		if s.watch != nil {
			s.flushWatched(i)
		}
		bytes += sd.bytes
		sd.m = keyMap{}
		sd.volatile = nil
		sd.bytes = 0
		sd.cowGen = 0
	}
	s.root.bytes -= bytes
	s.keys, s.volatile = 0, 0
	s.hfe = nil
}

// FlushSlot removes every key of slot and returns how many there were.
// Caller holds Lock.
func (s *Store) FlushSlot(slot int) int {
	s.root.mods++
	if s.watch != nil {
		s.flushWatched(slot)
	}
	sd := &s.slots[slot]
	n := sd.m.Len()
	s.keys -= int64(n)
	s.volatile -= int64(len(sd.volatile))
	s.root.bytes -= sd.bytes
	*sd = slotData{}
	return n
}

// RangeSlot calls fn for every key of slot (expired ones included) until fn
// returns false. fn must not modify the store. Caller holds RLock.
func (s *Store) RangeSlot(slot int, fn func(key string, e *Entry) bool) {
	s.slots[slot].m.each(fn)
}

// Restore adds an entry while loading a snapshot into an empty store: the
// entry keeps its creation number. The store keeps key and value.
// Caller holds Lock.
func (s *Store) Restore(key string, value []byte, expireAt int64, seq uint64, now int64) {
	i := SlotString(key)
	sd := &s.slots[i]
	e := s.newEntry(value, expireAt, uint32(seq))
	e.initAccess(now)
	if old := sd.m.getString(key); old != nil {
		s.deleteFrom(i, []byte(key), old)
	}
	sd.m.setString(key, e)
	if expireAt != 0 {
		s.addVolatile(sd, key)
	}
	size := entrySize(len(key), cap(value))
	sd.bytes += size
	s.root.bytes += size
	s.keys++
}

// SlotString returns the slot of a string key.
func SlotString(key string) int { return Slot(key) }

// TryLock tries to take the write lock without blocking and reports whether
// it did (for checks in tests that nobody holds the lock).
func (s *Store) TryLock() bool { return s.mu.TryLock() }
