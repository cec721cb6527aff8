package shard

// A string entry whose value is short is allocated together with its value:
// one object of a size class holding the Entry and a buffer its Value points
// into. Reading the value then touches the entry's own memory instead of
// another object (a cache miss fewer for GET and INCR on a large store), and
// a copy-on-write SET allocates once instead of twice. The buffer's size is
// the value's capacity, so memory accounting (entrySize: 48 + the value's
// size class) counts the object exactly.
type (
	entryV16 struct {
		Entry
		buf [16]byte
	}
	entryV32 struct {
		Entry
		buf [32]byte
	}
	entryV48 struct {
		Entry
		buf [48]byte
	}
	entryV64 struct {
		Entry
		buf [64]byte
	}
	entryV80 struct {
		Entry
		buf [80]byte
	}
)

// maxInline is the longest value stored with its entry.
const maxInline = 80

// newInlineEntry returns an entry of the current generation holding a copy
// of val, which is 1 to maxInline bytes long, in the entry's own object.
func (s *Store) newInlineEntry(val []byte, expireAt int64, seq uint32) *Entry {
	var e *Entry
	var buf []byte
	switch n := len(val); {
	case n <= 16:
		b := new(entryV16)
		e, buf = &b.Entry, b.buf[:]
	case n <= 32:
		b := new(entryV32)
		e, buf = &b.Entry, b.buf[:]
	case n <= 48:
		b := new(entryV48)
		e, buf = &b.Entry, b.buf[:]
	case n <= 64:
		b := new(entryV64)
		e, buf = &b.Entry, b.buf[:]
	default:
		b := new(entryV80)
		e, buf = &b.Entry, b.buf[:]
	}
	e.Value = buf[:copy(buf, val)]
	e.ExpireAt, e.seq, e.gen = expireAt, seq, s.root.snapGen
	return e
}
