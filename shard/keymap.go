package shard

import (
	"hash/maphash"
	"math/bits"
	"slices"
	"unsafe"
)

// keyMap is the key index of one slot of a database: an open-addressing
// hash table with linear probing whose slots hold the key, 32 bits of its
// hash and the entry, 24 bytes each. It replaces a Go map because a lookup
// is the largest cost of a command on a warm store (BENCHMARKS.md, "The
// store's key index"): a Go map reaches a key through its header, its
// directory, a table and a group's control word before the key, each a
// dependent cache miss in a large store, where keyMap reaches the run of
// slots the key hashes to at once and reads the key's bytes only when 32
// bits of their hash match.
//
// A nil *keyMap is an empty map for reads. Deleting leaves a tombstone;
// tombstones count towards the load, and an insertion that would take the
// load above 7/8 rebuilds the table without them at a size that leaves it
// at most 7/16 full (Go's maps grow to the same load). Iteration (each)
// runs over the slot array it starts with: deleting during it is safe, and
// an entry stored during it may or may not be visited, as with Go maps.
//
// A key's bytes are a string of the index's own (set, setString) or, for a
// short string entry, a copy in the entry's object (setIn, inline.go),
// flagged in the slot: a change of the key's entry then points the slot at
// the new entry's copy, or at a string of its own, so that no slot holds an
// old entry's object alive after the entry left the index.
//
// Not safe for concurrent use: the Store's lock guards it, and a map shared
// with an open View is never changed (Store.own clones it first).
type keyMap struct {
	slots []kslot
	live  int32 // keys present
	used  int32 // slots not empty: keys and tombstones
}

// kslot is one slot: empty when e is nil, a tombstone when e is tombstone.
type kslot struct {
	kp unsafe.Pointer // the key's bytes (its string's data)
	kl uint32         // the key's length, and klInEntry
	h  uint32         // the high 32 bits of the key's hash
	e  *Entry
}

// tombstone marks a deleted slot.
var tombstone = new(Entry)

// keySeed seeds the keys' hashes. Placement in the table, and so the order
// of iteration, is per process, as with Go maps.
var keySeed = maphash.MakeSeed()

// minKeyMapSlots is the size of a new table.
const minKeyMapSlots = 8

// klInEntry flags a slot whose key's bytes are in its entry's object.
const klInEntry = 1 << 31

// maxKeyLen is the longest key a keyMap holds (kl's low 31 bits); Redis
// keys are at most 512 MB.
const maxKeyLen = klInEntry - 1

func (s *kslot) key() string { return unsafe.String((*byte)(s.kp), int(s.kl&^klInEntry)) }

// Len returns the number of keys. m may be nil.
func (m *keyMap) Len() int {
	if m == nil {
		return 0
	}
	return int(m.live)
}

// find returns the index of key's slot, or -1. h is the key's hash.
func (m *keyMap) find(key string, h uint64) int {
	mask := uint64(len(m.slots) - 1)
	tag := uint32(h >> 32)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.e == nil {
			return -1
		}
		if s.h == tag && s.e != tombstone && int(s.kl&^klInEntry) == len(key) && s.key() == key {
			return int(i)
		}
	}
}

// home returns the table slot that the probe for a key of hash h starts
// at, or nil for an empty table. Store.Prefetch asks for its cache line.
func (m *keyMap) home(h uint64) *kslot {
	if len(m.slots) == 0 {
		return nil
	}
	return &m.slots[h&uint64(len(m.slots)-1)]
}

// get returns key's entry, or nil. m may be nil.
func (m *keyMap) get(key []byte) *Entry {
	return m.getString(unsafe.String(unsafe.SliceData(key), len(key)))
}

// getString is get for a string key. m may be nil.
func (m *keyMap) getString(key string) *Entry {
	if m == nil || m.live == 0 {
		return nil
	}
	if i := m.find(key, maphash.String(keySeed, key)); i >= 0 {
		return m.slots[i].e
	}
	return nil
}

// set stores e under key, replacing the entry of a present key (which keeps
// its key string, or gets a copy of key if its string was in the entry
// replaced) or inserting key with a string copied from it.
func (m *keyMap) set(key []byte, e *Entry) {
	k := unsafe.String(unsafe.SliceData(key), len(key))
	i, h := m.index(k)
	if i < 0 || m.slots[i].kl&klInEntry != 0 {
		k = string(key) // the slot will keep it: a copy of its own
	}
	m.put(i, h, k, e, 0)
}

// setString is set for a key the caller has as a string, which is kept
// when the key is inserted or its slot needs a string of its own.
func (m *keyMap) setString(key string, e *Entry) {
	i, h := m.index(key)
	m.put(i, h, key, e, 0)
}

// setIn is set for a key whose bytes are in e's own object (key points at
// them): the slot keeps that string, flagged, whether key is new or not.
func (m *keyMap) setIn(key string, e *Entry) {
	i, h := m.index(key)
	m.put(i, h, key, e, klInEntry)
}

// put stores e under key, whose slot index returned i (-1: absent) and
// hash h. An absent key is inserted with key's string and flag. A present
// one takes key's string, with flag, when flag is klInEntry or when its
// string was in the entry replaced; otherwise it keeps its string.
func (m *keyMap) put(i int, h uint64, key string, e *Entry, flag uint32) {
	if i < 0 {
		m.insert(key, h, e, flag)
		return
	}
	s := &m.slots[i]
	s.e = e
	if flag != 0 || s.kl&klInEntry != 0 {
		s.own(key, flag)
	}
}

// own points s at key's bytes, with flag (klInEntry or 0).
func (s *kslot) own(key string, flag uint32) {
	s.kp, s.kl = unsafe.Pointer(unsafe.StringData(key)), uint32(len(key))|flag
}

// index returns the index of key's slot (-1 when absent) and key's hash.
func (m *keyMap) index(key string) (int, uint64) {
	h := maphash.String(keySeed, key)
	if m.slots == nil {
		return -1, h
	}
	return m.find(key, h), h
}

// insert adds key, known absent, with hash h and flag (klInEntry or 0).
func (m *keyMap) insert(key string, h uint64, e *Entry, flag uint32) {
	if len(key) > maxKeyLen {
		panic("shard: key longer than 2 GiB")
	}
	if int(m.used+1)*8 > len(m.slots)*7 {
		m.rehash(int(m.live) + 1)
	}
	mask := uint64(len(m.slots) - 1)
	i := h & mask
	for {
		s := &m.slots[i]
		if s.e == nil || s.e == tombstone {
			if s.e == nil {
				m.used++
			}
			*s = kslot{h: uint32(h >> 32), e: e}
			s.own(key, flag)
			m.live++
			return
		}
		i = (i + 1) & mask
	}
}

// rehash rebuilds the table, without tombstones, for n keys at most 7/16 of
// its size.
func (m *keyMap) rehash(n int) {
	size := minKeyMapSlots
	if need := (n*16 + 6) / 7; need > size {
		size = 1 << bits.Len(uint(need-1))
	}
	old := m.slots
	m.slots = make([]kslot, size)
	mask := uint64(size - 1)
	for j := range old {
		s := &old[j]
		if s.e == nil || s.e == tombstone {
			continue
		}
		i := maphash.String(keySeed, s.key()) & mask
		for m.slots[i].e != nil {
			i = (i + 1) & mask
		}
		m.slots[i] = *s
	}
	m.used = m.live
}

// del removes key and reports whether it was present. m may be nil.
func (m *keyMap) del(key []byte) bool {
	if m == nil || m.live == 0 {
		return false
	}
	k := unsafe.String(unsafe.SliceData(key), len(key))
	i := m.find(k, maphash.String(keySeed, k))
	if i < 0 {
		return false
	}
	m.slots[i] = kslot{e: tombstone}
	m.live--
	if m.live == 0 {
		// No key left: every slot may be emptied at once.
		clear(m.slots)
		m.used = 0
	}
	return true
}

// each calls fn for every key until fn returns false. m may be nil.
func (m *keyMap) each(fn func(key string, e *Entry) bool) {
	if m == nil {
		return
	}
	slots := m.slots
	for i := range slots {
		s := &slots[i]
		if s.e == nil || s.e == tombstone {
			continue
		}
		if !fn(s.key(), s.e) {
			return
		}
	}
}

// clone returns a copy that shares the keys' strings and entries.
func (m *keyMap) clone() keyMap {
	return keyMap{slots: slices.Clone(m.slots), live: m.live, used: m.used}
}

// random returns a key chosen at random and its entry ("", nil when m is
// empty), drawing from r (which returns a value in [0, n)): a few draws of
// a random slot, then a walk from a random slot, which is near uniform
// when the table is not sparse (keys next to a run of empty slots are the
// likelier). m may be nil.
func (m *keyMap) random(r func(n int) int) (string, *Entry) {
	if m == nil || m.live == 0 {
		return "", nil
	}
	n := len(m.slots)
	for range 16 {
		if s := &m.slots[r(n)]; s.e != nil && s.e != tombstone {
			return s.key(), s.e
		}
	}
	start := r(n)
	for j := range n {
		if s := &m.slots[(start+j)&(n-1)]; s.e != nil && s.e != tombstone {
			return s.key(), s.e
		}
	}
	return "", nil
}
