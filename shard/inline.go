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
type entryB[B any] struct {
	Entry
	buf B // [N]byte
}

// newEntryB allocates an entryB[B] and returns its Entry and its buffer.
func newEntryB[B any]() (*Entry, []byte) {
	b := new(entryB[B])
	return &b.Entry, unsafe.Slice((*byte)(unsafe.Pointer(&b.buf)), unsafe.Sizeof(b.buf))
}

// newEntryBuf[(n-1)/16] allocates an entry with a buffer of the next
// multiple of 16 from n bytes (1 to maxInlineBuf): objects of 64 to 176
// bytes, each a size class of Go's allocator.
var newEntryBuf = [maxInlineBuf / 16]func() (*Entry, []byte){
	newEntryB[[16]byte], newEntryB[[32]byte], newEntryB[[48]byte], newEntryB[[64]byte],
	newEntryB[[80]byte], newEntryB[[96]byte], newEntryB[[112]byte], newEntryB[[128]byte],
}

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
	e, buf := newEntryBuf[(klen+vcap-1)/16]()
	if in {
		k = unsafe.String(unsafe.SliceData(buf), copy(buf, key))
	}
	e.Value = buf[klen : klen+copy(buf[klen:], val) : klen+vcap]
	e.ExpireAt, e.seq, e.gen = expireAt, seq, s.root.snapGen
	return e, k, in
}
