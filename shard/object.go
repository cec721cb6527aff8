package shard

import (
	"errors"
	"unsafe"
)

// Types of values. A key holds a string (Entry.Value) or one of the
// collection objects (Hash, ...), kept beside the entry (objEntry). The
// numbers are Redis's OBJ_* constants.

// Type is the Redis data type of a key's value.
type Type uint8

// The data types, numbered as Redis's OBJ_STRING, OBJ_LIST, OBJ_SET,
// OBJ_ZSET and OBJ_HASH.
const (
	TypeString Type = 0
	TypeList   Type = 1
	TypeSet    Type = 2
	TypeZSet   Type = 3
	TypeHash   Type = 4
)

// String returns the type's name as TYPE answers it.
func (t Type) String() string {
	switch t {
	case TypeString:
		return "string"
	case TypeList:
		return "list"
	case TypeSet:
		return "set"
	case TypeZSet:
		return "zset"
	case TypeHash:
		return "hash"
	}
	return "unknown"
}

// Errors of object decoding.
var (
	// ErrBadObject means an encoded object (snapshot record, migration
	// chunk) is malformed or of an unknown type.
	ErrBadObject = errors.New("shard: malformed object encoding")
)

// Object is a collection value: a Hash, a Set, a List or a ZSet. Its methods are unexported: only this package's
// types implement it, and only the Store changes which object a key holds.
//
// Concurrency: an object is read under the store's RLock (or from a View,
// on any goroutine), and changed only by the goroutine holding Lock, on an
// entry returned by EditObject or just stored by SetObject: an object that
// an open View may share is never changed in place (EditObject clones it
// first).
type Object interface {
	// Type returns the object's data type (never TypeString).
	Type() Type
	// Len returns the number of elements (fields of a hash).
	Len() int
	// clone returns a copy that may be changed without changing the
	// original, which stays readable by Views meanwhile. It must not copy
	// a large collection element by element (copy-on-write structures).
	clone() Object
	// size returns the accounted memory of the object's elements and
	// structure, in bytes (the entry and the key are accounted apart).
	size() int64
}

// objEntry is the entry of a key that holds an Object. Entry is its first
// field, so that the slot maps hold *Entry for every type; the type bits of
// Entry.lfu say when an *Entry is the head of an objEntry.
type objEntry struct {
	Entry
	obj Object
}

// objEntryOverhead is entryOverhead for an objEntry (64 bytes: a size class).
const objEntryOverhead = 64 + 32

// The type sits in the top 4 bits of Entry.lfu, above the encoding hint.
const (
	typeShift = 28
	typeMask  = 0xf << typeShift
)

// Type returns the data type of the entry's value. Safe under RLock.
func (e *Entry) Type() Type { return Type(e.lfu.Load() >> typeShift) }

// Object returns the entry's collection object, or nil for a string. Caller
// holds RLock; the object may be changed only through Store.EditObject.
func (e *Entry) Object() Object {
	if e.Type() == TypeString {
		return nil
	}
	// e is the head of an objEntry: the type bits are set only by
	// newObjEntry.
	return (*objEntry)(unsafe.Pointer(e)).obj
}

// Size returns the accounted memory of the entry under a key of klen bytes
// (what the store's Bytes counts for it). Caller holds RLock.
func (e *Entry) Size(klen int) int64 { return e.memSize(klen) }

// memSize is the accounted memory of the entry under a key of klen bytes.
func (e *Entry) memSize(klen int) int64 {
	if e.Type() == TypeString {
		return entrySize(klen, cap(e.Value))
	}
	return int64(objEntryOverhead+sizeClass(klen)) + e.Object().size()
}

// newObjEntry returns an entry of the current generation holding obj.
func (s *Store) newObjEntry(obj Object, expireAt int64, seq uint32) *Entry {
	oe := &objEntry{obj: obj}
	oe.ExpireAt, oe.seq, oe.gen = expireAt, seq, s.root.snapGen
	return &oe.Entry
}

// setType records the entry's type; access updates keep it.
func (e *Entry) setType(t Type) {
	v := e.lfu.Load()
	e.lfu.Store(v&^typeMask | uint32(t)<<typeShift)
}

// copyEntry returns a private copy of e (its access data included), whose
// object, for a collection, is a clone and whose value, for a string, is a
// copy: the copy may then be changed while Views keep e, its value in place
// included (Mutable, SetCopy).
func (s *Store) copyEntry(e *Entry) *Entry {
	var c *Entry
	if o := e.Object(); o != nil {
		c = s.newObjEntry(o.clone(), e.ExpireAt, e.seq)
	} else {
		c = s.newEntry(copyValue(e.Value), e.ExpireAt, e.seq)
	}
	c.lru.Store(e.lru.Load())
	c.lfu.Store(e.lfu.Load())
	return c
}

// SetObject stores obj under key with the given expiry (0 for none),
// replacing any existing entry of any type, and returns its entry. The store
// keeps obj: the caller changes it afterwards only through EditObject. A new
// key gets the next creation number; an overwritten key keeps its own, and
// its LFU counter, as Set. Caller holds Lock.
func (s *Store) SetObject(key []byte, obj Object, expireAt, now int64) *Entry {
	i := Slot(key)
	s.root.mods++
	if s.watch != nil {
		s.changed(i, key)
	}
	sd := s.own(i)
	old := sd.m.get(key)
	var e *Entry
	if old != nil {
		e = s.newObjEntry(obj, expireAt, old.seq)
		e.overwriteAccess(old, now)
		e.setType(obj.Type())
		d := e.memSize(len(key)) - old.memSize(len(key))
		sd.bytes += d
		s.root.bytes += d
		switch {
		case old.ExpireAt != 0 && expireAt == 0:
			delete(sd.volatile, string(key))
			s.volatile--
		case old.ExpireAt == 0 && expireAt != 0:
			s.addVolatile(sd, string(key))
		}
		sd.m.set(key, e)
		s.noteFieldTTLs(string(key), e)
		return e
	}
	k := string(key)
	s.root.seq++
	e = s.newObjEntry(obj, expireAt, s.root.seq)
	e.initAccess(now)
	e.setType(obj.Type())
	s.keys++
	if expireAt != 0 {
		s.addVolatile(sd, k)
	}
	sd.m.setString(k, e)
	s.noteFieldTTLs(k, e)
	size := e.memSize(len(key))
	sd.bytes += size
	s.root.bytes += size
	return e
}

// EditObject returns key's entry, holding an object the caller may change
// in place (cloned first when an open View may share it), or nil if the key
// is missing or holds a string. The caller reads the object's size
// (ObjectSize) before changing it and calls ObjectDone after. It does not
// check expiry: callers get the live entry with GetWrite first. Caller holds
// Lock.
func (s *Store) EditObject(key []byte) *Entry {
	i := Slot(key)
	e := s.slots[i].m.get(key)
	if e == nil || e.Type() == TypeString {
		return nil
	}
	s.root.mods++
	if s.watch != nil {
		s.changed(i, key)
	}
	if !s.private(e) {
		sd := s.own(i)
		c := s.copyEntry(e)
		sd.m.set(key, c)
		e = c
	}
	return e
}

// ObjectSize returns the accounted size of the entry's object (0 for a
// string), for ObjectDone.
func ObjectSize(e *Entry) int64 {
	if o := e.Object(); o != nil {
		return o.size()
	}
	return 0
}

// ObjectDone finishes a change made through EditObject: it accounts the
// object's new size against before (ObjectSize before the change) and
// deletes the key when the object is left empty, as Redis deletes an empty
// collection. It reports whether the key was deleted. Caller holds Lock.
func (s *Store) ObjectDone(key []byte, e *Entry, before int64) bool {
	o := e.Object()
	i := Slot(key)
	sd := &s.slots[i]
	d := o.size() - before
	sd.bytes += d
	s.root.bytes += d
	if o.Len() == 0 {
		if sd.m.get(key) == e {
			s.deleteFrom(i, key, e)
		}
		return true
	}
	s.noteFieldTTLs(string(key), e)
	return false
}

// RestoreObject is Restore for a collection object. Caller holds Lock.
func (s *Store) RestoreObject(key string, obj Object, expireAt int64, seq uint64, now int64) {
	i := SlotString(key)
	sd := &s.slots[i]
	e := s.newObjEntry(obj, expireAt, uint32(seq))
	e.initAccess(now)
	e.setType(obj.Type())
	if old := sd.m.getString(key); old != nil {
		s.deleteFrom(i, []byte(key), old)
	}
	sd.m.setString(key, e)
	if expireAt != 0 {
		s.addVolatile(sd, key)
	}
	s.noteFieldTTLs(key, e)
	size := e.memSize(len(key))
	sd.bytes += size
	s.root.bytes += size
	s.keys++
}

// CloneObject returns a copy of o that may be stored under another key
// (COPY): changing either leaves the other as it was.
func CloneObject(o Object) Object { return o.clone() }

// AppendObject appends o's encoding to b: the format of snapshots and slot
// migration chunks, versioned by them (DecodeObject reads it).
func AppendObject(b []byte, o Object) []byte {
	switch o := o.(type) {
	case *Hash:
		return o.appendBinary(b)
	case *Set:
		return o.appendBinary(b)
	case *List:
		return o.appendBinary(b)
	case *ZSet:
		return o.appendBinary(b)
	}
	panic("shard: AppendObject of an unknown object type")
}

// DecodeObject decodes an object of type t encoded by AppendObject. The
// object does not alias p.
func DecodeObject(t Type, p []byte) (Object, error) {
	switch t {
	case TypeHash:
		return decodeHash(p)
	case TypeSet:
		return decodeSet(p)
	case TypeList:
		return decodeList(p)
	case TypeZSet:
		return decodeZSet(p)
	}
	return nil, ErrBadObject
}
