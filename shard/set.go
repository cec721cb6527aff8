package shard

import (
	"encoding/binary"
	"slices"
	"strconv"
	"unsafe"

	"github.com/tidwall/btree"
)

// Set is a set value in one of Redis 7.0's two encodings. An "intset"
// holds only integers, sorted (the order SMEMBERS answers in for an intset
// in Redis). It becomes a "hashtable" (a B-tree ordered by the members'
// 64-bit hashes, then the members, as Hash's) when a member is not an
// integer or it gets more than SetMaxIntsetEntries members, and goes back
// only when SPOP rebuilds it (Rebuild).
//
// Concurrency: see Object.
type Set struct {
	ints []int64
	big  *btree.BTreeG[setItem]
	mem  int64
	// exp is log2 of Redis's dict buckets while hashtable-encoded
	// (dicttable.go); in the struct's padding.
	exp uint8
}

// SetMaxIntsetEntries is Redis 7.0's default set-max-intset-entries.
const SetMaxIntsetEntries = 512

// setItem is a member of a hashtable-encoded set; h is its hash (never 0).
type setItem struct {
	h uint64
	m string
}

// setItemSize is the accounted size of an item's slot in the B-tree (24
// bytes, with the nodes' free space).
const setItemSize = 34

func setItemLess(a, b setItem) bool {
	if a.h != b.h {
		return a.h < b.h
	}
	return a.m < b.m
}

func newSetItem(m []byte) setItem { return setItem{h: FieldHash(m), m: string(m)} }

func setProbe(m []byte) setItem {
	return setItem{h: FieldHash(m), m: unsafe.String(unsafe.SliceData(m), len(m))}
}

func setItemMem(it setItem) int64 { return setItemSize + int64(sizeClass(len(it.m))) }

// NewSet returns an empty set for a first member, in the encoding Redis's
// setTypeCreate picks for it: an intset when it is an integer.
func NewSet(first []byte) *Set {
	s := &Set{}
	if _, ok := SetInt(first); !ok {
		s.toBig()
	}
	return s
}

// SetInt reports whether m is a member an intset can hold (Redis's
// string2ll: no sign but '-', no leading zero, no "-0", within int64) and
// returns its value.
func SetInt(m []byte) (int64, bool) {
	if len(m) == 0 || len(m) > 20 {
		return 0, false
	}
	if len(m) == 1 && m[0] == '0' {
		return 0, true
	}
	i := 0
	if m[0] == '-' {
		i = 1
		if len(m) == 1 {
			return 0, false
		}
	}
	if m[i] < '1' || m[i] > '9' {
		return 0, false
	}
	for _, c := range m[i:] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(m), len(m)), 10, 64)
	return v, err == nil
}

// Type implements Object.
func (s *Set) Type() Type { return TypeSet }

// Len returns the number of members.
func (s *Set) Len() int {
	if s.big != nil {
		return s.big.Len()
	}
	return len(s.ints)
}

// Intset reports whether the set is intset-encoded (OBJECT ENCODING).
func (s *Set) Intset() bool { return s.big == nil }

// DictBuckets returns the bucket count of the dict Redis would keep a
// hashtable-encoded set in (0 for an intset), for MEMORY USAGE.
func (s *Set) DictBuckets() int64 {
	if s.big == nil {
		return 0
	}
	return 1 << s.exp
}

// TriedAdd models the check Redis's dictAddRaw makes before it looks for
// a member: a full table grows even when the member is there. SADD of
// members that are all there changes nothing else, and leaves the set
// uncopied (nothing sees a change), so this changes the modelled bucket
// count in place, under the store's write lock: neither a View nor a
// snapshot reads it.
func (s *Set) TriedAdd() {
	if s.big != nil {
		s.exp = dictGrow(s.exp, s.big.Len())
	}
}

// Rebuild re-encodes the set as Redis's SPOP does when it pops most of
// a set: it adds the remaining members to a new set (setTypeCreate, then
// setTypeAdd), which is an intset when they are all integers, and
// otherwise a hashtable whose dict grew from empty.
func (s *Set) Rebuild() {
	if s.big == nil {
		return
	}
	n := s.big.Len()
	if n <= SetMaxIntsetEntries {
		ints := make([]int64, 0, n)
		s.big.Scan(func(it setItem) bool {
			v, ok := SetInt(bytesOf(it.m))
			if ok {
				ints = append(ints, v)
			}
			return ok
		})
		if len(ints) == n {
			slices.Sort(ints)
			*s = Set{ints: ints}
			return
		}
	}
	s.exp = dictExpFor(n)
}

// IntsetWidth returns the bytes per member of the intset encoding (2, 4
// or 8: the width of its largest member), for MEMORY USAGE.
func (s *Set) IntsetWidth() int {
	w := 2
	for _, v := range s.ints {
		switch {
		case v < -2147483648 || v > 2147483647:
			return 8
		case v < -32768 || v > 32767:
			w = 4
		}
	}
	return w
}

func (s *Set) clone() Object {
	if s.big != nil {
		return &Set{big: s.big.Copy(), mem: s.mem, exp: s.exp}
	}
	return &Set{ints: slices.Clone(s.ints)}
}

func (s *Set) size() int64 {
	if s.big != nil {
		return hashHeader + s.mem
	}
	return hashHeader + int64(sizeClass(8*len(s.ints)))
}

func (s *Set) toBig() {
	s.big = btree.NewBTreeGOptions(setItemLess, btree.Options{NoLocks: true})
	s.mem = 0
	s.exp = dictExpFor(len(s.ints)) // setTypeConvert presizes the dict
	var buf [20]byte
	for _, v := range s.ints {
		it := newSetItem(strconv.AppendInt(buf[:0], v, 10))
		s.big.Set(it)
		s.mem += setItemMem(it)
	}
	s.ints = nil
}

// Has reports whether m is a member.
func (s *Set) Has(m []byte) bool {
	if s.big != nil {
		_, ok := s.big.Get(setProbe(m))
		return ok
	}
	v, ok := SetInt(m)
	if !ok {
		return false
	}
	_, found := slices.BinarySearch(s.ints, v)
	return found
}

// Add adds m and reports whether it is new, converting the set to a
// hashtable first when the intset cannot hold it.
func (s *Set) Add(m []byte) bool {
	if s.big == nil {
		v, ok := SetInt(m)
		if ok {
			i, found := slices.BinarySearch(s.ints, v)
			if found {
				return false
			}
			if len(s.ints) < SetMaxIntsetEntries {
				s.ints = slices.Insert(s.ints, i, v)
				return true
			}
		}
		s.toBig()
	}
	s.exp = dictGrow(s.exp, s.big.Len()) // before dictAddRaw's lookup
	it := newSetItem(m)
	if _, replaced := s.big.Set(it); replaced {
		return false
	}
	s.mem += setItemMem(it)
	return true
}

// Remove removes m and reports whether it was a member.
func (s *Set) Remove(m []byte) bool {
	if s.big != nil {
		old, ok := s.big.Delete(setProbe(m))
		if ok {
			s.mem -= setItemMem(old)
			s.exp = dictShrink(s.exp, s.big.Len())
		}
		return ok
	}
	v, ok := SetInt(m)
	if !ok {
		return false
	}
	i, found := slices.BinarySearch(s.ints, v)
	if found {
		s.ints = slices.Delete(s.ints, i, i+1)
	}
	return found
}

// At returns the i-th member in the set's order (0 <= i < Len), appended
// to buf (an intset's member is formatted there).
func (s *Set) At(buf []byte, i int) []byte {
	if s.big != nil {
		it, _ := s.big.GetAt(i)
		return append(buf, it.m...)
	}
	return strconv.AppendInt(buf, s.ints[i], 10)
}

// Range calls fn for each member in the set's order (ascending for an
// intset, hash order for a hashtable) until fn returns false. The member
// is valid only during the call; fn must not change the set.
func (s *Set) Range(fn func(m []byte) bool) {
	if s.big != nil {
		s.big.Scan(func(it setItem) bool { return fn(bytesOf(it.m)) })
		return
	}
	var buf [20]byte
	for _, v := range s.ints {
		if !fn(strconv.AppendInt(buf[:0], v, 10)) {
			return
		}
	}
}

// Scan is Hash.Scan for a set: an intset whole, a hashtable from cursor.
func (s *Set) Scan(cursor uint64, count int, fn func(m []byte)) uint64 {
	if s.big == nil {
		s.Range(func(m []byte) bool { fn(m); return true })
		return 0
	}
	var next, last uint64
	n := 0
	s.big.Ascend(setItem{h: cursor}, func(it setItem) bool {
		if n >= count && it.h != last {
			next = it.h
			return false
		}
		fn(bytesOf(it.m))
		last = it.h
		n++
		return true
	})
	return next
}

// appendBinary appends the set's encoding: its encoding (0 intset, 1
// hashtable) ‖ uvarint(members) ‖ members (intset: zig-zag varints
// ascending; hashtable: uvarint(len) ‖ bytes).
func (s *Set) appendBinary(b []byte) []byte {
	if s.big == nil {
		b = append(b, 0)
		b = binary.AppendUvarint(b, uint64(len(s.ints)))
		for _, v := range s.ints {
			b = binary.AppendVarint(b, v)
		}
		return b
	}
	b = append(b, 1)
	b = binary.AppendUvarint(b, uint64(s.big.Len()))
	s.big.Scan(func(it setItem) bool {
		b = binary.AppendUvarint(b, uint64(len(it.m)))
		b = append(b, it.m...)
		return true
	})
	return b
}

func decodeSet(p []byte) (Object, error) {
	if len(p) < 1 || p[0] > 1 {
		return nil, ErrBadObject
	}
	big := p[0] == 1
	n, k := binary.Uvarint(p[1:])
	if k <= 0 || n > uint64(len(p)) || n == 0 {
		return nil, ErrBadObject
	}
	p = p[1+k:]
	s := &Set{}
	if big {
		s.big = btree.NewBTreeGOptions(setItemLess, btree.Options{NoLocks: true})
		s.exp = dictExpFor(int(n)) // as Redis sizes a loaded set
		for i := uint64(0); i < n; i++ {
			m, rest, ok := readBytes(p)
			if !ok {
				return nil, ErrBadObject
			}
			p = rest
			it := newSetItem(m)
			if _, dup := s.big.Set(it); dup {
				return nil, ErrBadObject
			}
			s.mem += setItemMem(it)
		}
	} else {
		if n > SetMaxIntsetEntries {
			return nil, ErrBadObject
		}
		s.ints = make([]int64, 0, n)
		for i := uint64(0); i < n; i++ {
			v, k := binary.Varint(p)
			if k <= 0 || (len(s.ints) > 0 && v <= s.ints[len(s.ints)-1]) {
				return nil, ErrBadObject // not strictly ascending
			}
			p = p[k:]
			s.ints = append(s.ints, v)
		}
	}
	if len(p) != 0 {
		return nil, ErrBadObject
	}
	return s, nil
}
