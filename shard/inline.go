package shard

import "unsafe"

// A string entry whose value is short is allocated together with its value:
// one object of a size class holding the Entry and a buffer its Value points
// into. Reading the value then touches the entry's own memory instead of
// another object (a cache miss fewer for GET and INCR on a large store), and
// a copy-on-write SET allocates once instead of twice.
//
// When the key fits as well, the buffer holds the key's bytes first and the
// value after them, and the key index points at those bytes (keyMap.setIn):
// a lookup then compares the key in the entry it is about to read anyway,
// where a key of its own would be one more object, and one more dependent
// cache miss per lookup in a store larger than the caches. The value's
// capacity is its length rounded up to 16 bytes either way, so SetCopy's
// reuse of a buffer of the same class works alike with or without the key,
// and memory accounting (entrySize) counts the same bytes, the key's size
// class included, whichever object holds them.
type (
	entryB16 struct {
		Entry
		buf [16]byte
	}
	entryB32 struct {
		Entry
		buf [32]byte
	}
	entryB48 struct {
		Entry
		buf [48]byte
	}
	entryB64 struct {
		Entry
		buf [64]byte
	}
	entryB80 struct {
		Entry
		buf [80]byte
	}
	entryB96 struct {
		Entry
		buf [96]byte
	}
	entryB112 struct {
		Entry
		buf [112]byte
	}
	entryB128 struct {
		Entry
		buf [128]byte
	}
)

// maxInline is the longest value stored with its entry.
const maxInline = 80

// maxInlineBuf is the largest buffer of an inline entry: a key and a value
// whose bytes (the value's rounded up to 16) come to more keep the key apart.
const maxInlineBuf = 128

// newInlineEntry returns an entry of the current generation holding a copy
// of val, which is 1 to maxInline bytes long, in the entry's own object.
// With withKey, and when key fits too, the object holds a copy of key
// before the value, returned as k with in set; the caller then indexes the
// entry under k with keyMap.setIn. Otherwise k is "" and in is false.
func (s *Store) newInlineEntry(key, val []byte, withKey bool, expireAt int64, seq uint32) (e *Entry, k string, in bool) {
	vcap := (len(val) + 15) &^ 15
	klen := 0
	if in = withKey && len(key)+vcap <= maxInlineBuf; in {
		klen = len(key)
	}
	var buf []byte
	switch n := klen + vcap; {
	case n <= 16:
		b := new(entryB16)
		e, buf = &b.Entry, b.buf[:]
	case n <= 32:
		b := new(entryB32)
		e, buf = &b.Entry, b.buf[:]
	case n <= 48:
		b := new(entryB48)
		e, buf = &b.Entry, b.buf[:]
	case n <= 64:
		b := new(entryB64)
		e, buf = &b.Entry, b.buf[:]
	case n <= 80:
		b := new(entryB80)
		e, buf = &b.Entry, b.buf[:]
	case n <= 96:
		b := new(entryB96)
		e, buf = &b.Entry, b.buf[:]
	case n <= 112:
		b := new(entryB112)
		e, buf = &b.Entry, b.buf[:]
	default:
		b := new(entryB128)
		e, buf = &b.Entry, b.buf[:]
	}
	if in {
		k = unsafe.String(unsafe.SliceData(buf), copy(buf, key))
	}
	e.Value = buf[klen : klen+copy(buf[klen:], val) : klen+vcap]
	e.ExpireAt, e.seq, e.gen = expireAt, seq, s.root.snapGen
	return e, k, in
}
