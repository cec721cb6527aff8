package shard

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/tidwall/btree"
)

// ZSet is a sorted set value: members with scores, ordered by score then
// member (bytewise), as Redis's. Two B-trees hold it: one in that order
// (ranks in O(log n): the trees count their items), one by member hash for
// the member's score. Redis 7.0's encoding, which OBJECT ENCODING reports,
// is a flag: "listpack" until the set gets more than
// ZSetMaxListpackEntries members or a member longer than
// ZSetMaxListpackValue bytes, then "skiplist", never back; the order is the
// same in both, so one structure serves both.
//
// Concurrency: see Object.
type ZSet struct {
	byScore  *btree.BTreeG[zItem]
	byMember *btree.BTreeG[zmItem]
	skiplist bool
	// exp is log2 of Redis's dict buckets while skiplist-encoded
	// (dicttable.go).
	exp uint8
	mem int64
}

// Redis 7.0's zset-max-listpack-entries and zset-max-listpack-value.
const (
	ZSetMaxListpackEntries = 128
	ZSetMaxListpackValue   = 64
)

// zItem orders a member by score; zmItem finds its score by member.
type zItem struct {
	score float64
	m     string
}

type zmItem struct {
	h     uint64
	m     string
	score float64
}

// zsetItemSize is the accounted size of a member's two B-tree slots.
const zsetItemSize = 80

func zItemLess(a, b zItem) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	return a.m < b.m
}

func zmItemLess(a, b zmItem) bool {
	if a.h != b.h {
		return a.h < b.h
	}
	return a.m < b.m
}

// NewZSet returns an empty sorted set, a skiplist from the start when
// Redis's zsetTypeCreate would make one for size members of up to maxLen
// bytes.
func NewZSet(size, maxLen int) *ZSet {
	z := &ZSet{
		byScore:  btree.NewBTreeGOptions(zItemLess, btree.Options{NoLocks: true}),
		byMember: btree.NewBTreeGOptions(zmItemLess, btree.Options{NoLocks: true}),
	}
	z.skiplist = size > ZSetMaxListpackEntries || maxLen > ZSetMaxListpackValue
	if z.skiplist {
		z.exp = dictExpFor(size) // zsetTypeCreate presizes the dict
	}
	return z
}

// DictBuckets returns the bucket count of the dict Redis would keep a
// skiplist-encoded sorted set's members in (0 for a listpack), for
// MEMORY USAGE.
func (z *ZSet) DictBuckets() int64 {
	if !z.skiplist {
		return 0
	}
	return 1 << z.exp
}

// Type implements Object.
func (z *ZSet) Type() Type { return TypeZSet }

// Len returns the number of members.
func (z *ZSet) Len() int { return z.byMember.Len() }

// Listpack reports whether Redis would hold the set as a listpack.
func (z *ZSet) Listpack() bool { return !z.skiplist }

func (z *ZSet) clone() Object {
	return &ZSet{byScore: z.byScore.Copy(), byMember: z.byMember.Copy(), skiplist: z.skiplist, exp: z.exp, mem: z.mem}
}

func (z *ZSet) size() int64 { return hashHeader + z.mem }

func memberProbe(m []byte) zmItem {
	return zmItem{h: FieldHash(m), m: unsafe.String(unsafe.SliceData(m), len(m))}
}

// Score returns the score of member.
func (z *ZSet) Score(member []byte) (float64, bool) {
	it, ok := z.byMember.Get(memberProbe(member))
	return it.score, ok
}

// Set sets member's score (adding it if new) and reports whether it is new.
// A listpack keeps -0 as 0: Redis writes a listpack score as text and reads
// "-0" back as the integer 0.
func (z *ZSet) Set(member []byte, score float64) bool {
	if score == 0 && !z.skiplist {
		score = 0
	}
	if it, ok := z.byMember.Get(memberProbe(member)); ok {
		if it.score != score || math.Signbit(it.score) != math.Signbit(score) {
			z.byScore.Delete(zItem{it.score, it.m})
			z.byScore.Set(zItem{score, it.m})
			it.score = score
			z.byMember.Set(it)
		}
		return false
	}
	m := string(member)
	z.byMember.Set(zmItem{h: FieldHash(member), m: m, score: score})
	z.byScore.Set(zItem{score, m})
	z.mem += zsetItemSize + int64(sizeClass(len(m)))
	switch {
	case z.skiplist:
		z.exp = dictGrow(z.exp, z.Len()-1)
	case z.Len() > ZSetMaxListpackEntries || len(m) > ZSetMaxListpackValue:
		// zsetConvert adds the members to an empty dict, then the new one.
		z.skiplist = true
		z.exp = dictExpFor(z.Len())
	}
	return true
}

// Remove removes member and reports whether it was there.
func (z *ZSet) Remove(member []byte) bool {
	it, ok := z.byMember.Delete(memberProbe(member))
	if !ok {
		return false
	}
	z.byScore.Delete(zItem{it.score, it.m})
	z.mem -= zsetItemSize + int64(sizeClass(len(it.m)))
	if z.skiplist {
		z.exp = dictShrink(z.exp, z.Len())
	}
	return true
}

// Rank returns member's 0-based rank in ascending order.
func (z *ZSet) Rank(member []byte) (int, bool) {
	it, ok := z.byMember.Get(memberProbe(member))
	if !ok {
		return 0, false
	}
	// The rank is the number of items before it: find it by a descent
	// that counts (GetAt's inverse) with a binary search over ranks.
	lo, hi := 0, z.Len()-1
	target := zItem{it.score, it.m}
	for lo <= hi {
		mid := (lo + hi) / 2
		at, _ := z.byScore.GetAt(mid)
		switch {
		case zItemLess(at, target):
			lo = mid + 1
		case zItemLess(target, at):
			hi = mid - 1
		default:
			return mid, true
		}
	}
	return 0, false
}

// At returns the member and score of rank i (0 <= i < Len).
func (z *ZSet) At(i int) (string, float64) {
	it, _ := z.byScore.GetAt(i)
	return it.m, it.score
}

// AscendFrom calls fn for the members from rank start on, in ascending
// order, until fn returns false.
func (z *ZSet) AscendFrom(start int, fn func(m string, score float64) bool) {
	if start >= z.Len() {
		return
	}
	first, _ := z.byScore.GetAt(start)
	z.byScore.Ascend(first, func(it zItem) bool { return fn(it.m, it.score) })
}

// DescendFrom calls fn for the members from rank start down, in descending
// order, until fn returns false.
func (z *ZSet) DescendFrom(start int, fn func(m string, score float64) bool) {
	if start < 0 {
		return
	}
	first, _ := z.byScore.GetAt(start)
	z.byScore.Descend(first, func(it zItem) bool { return fn(it.m, it.score) })
}

// AscendScore calls fn in ascending order from the first member whose
// score is at least min (above it when excl), until fn returns false.
func (z *ZSet) AscendScore(min float64, excl bool, fn func(m string, score float64) bool) {
	z.byScore.Ascend(zItem{score: min}, func(it zItem) bool {
		if excl && it.score == min {
			return true
		}
		return fn(it.m, it.score)
	})
}

// DescendScore calls fn in descending order from the last member whose
// score is at most max (below it when excl), until fn returns false.
func (z *ZSet) DescendScore(max float64, excl bool, fn func(m string, score float64) bool) {
	// Start above every member of score max: the largest member string
	// cannot be bounded, so descend from the next score up.
	pivot := zItem{score: math.Nextafter(max, math.Inf(1))}
	if math.IsInf(max, 1) {
		if it, ok := z.byScore.Max(); ok {
			pivot = it
		}
	}
	z.byScore.Descend(pivot, func(it zItem) bool {
		if it.score > max || (excl && it.score == max) {
			return true
		}
		return fn(it.m, it.score)
	})
}

// AscendLex calls fn in ascending order from the first member at least min
// (above it when excl; from the start when min is nil), until fn returns
// false. Lex ranges assume equal scores, as Redis's.
func (z *ZSet) AscendLex(min []byte, excl bool, fn func(m string, score float64) bool) {
	z.byScore.Scan(func(it zItem) bool {
		if min != nil {
			if c := compareStr(it.m, min); c < 0 || (excl && c == 0) {
				return true
			}
		}
		return fn(it.m, it.score)
	})
}

// DescendLex calls fn in descending order from the last member at most max
// (below it when excl; from the end when max is nil), until fn returns
// false.
func (z *ZSet) DescendLex(max []byte, excl bool, fn func(m string, score float64) bool) {
	z.byScore.Reverse(func(it zItem) bool {
		if max != nil {
			if c := compareStr(it.m, max); c > 0 || (excl && c == 0) {
				return true
			}
		}
		return fn(it.m, it.score)
	})
}

func compareStr(a string, b []byte) int {
	switch bs := unsafe.String(unsafe.SliceData(b), len(b)); {
	case a < bs:
		return -1
	case a > bs:
		return 1
	}
	return 0
}

// Scan is Hash.Scan for a sorted set: a listpack whole (in score order), a
// skiplist from cursor in member hash order.
func (z *ZSet) Scan(cursor uint64, count int, fn func(m string, score float64)) uint64 {
	if !z.skiplist {
		z.byScore.Scan(func(it zItem) bool { fn(it.m, it.score); return true })
		return 0
	}
	var next, last uint64
	n := 0
	z.byMember.Ascend(zmItem{h: cursor}, func(it zmItem) bool {
		if n >= count && it.h != last {
			next = it.h
			return false
		}
		fn(it.m, it.score)
		last = it.h
		n++
		return true
	})
	return next
}

// appendBinary appends the set's encoding: its encoding (0 listpack, 1
// skiplist) ‖ uvarint(members) ‖ members in score order, each
// uvarint(len) ‖ member ‖ score (8 bytes, IEEE 754, big endian).
func (z *ZSet) appendBinary(b []byte) []byte {
	if z.skiplist {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(z.Len()))
	z.byScore.Scan(func(it zItem) bool {
		b = binary.AppendUvarint(b, uint64(len(it.m)))
		b = append(b, it.m...)
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(it.score))
		return true
	})
	return b
}

func decodeZSet(p []byte) (Object, error) {
	if len(p) < 1 || p[0] > 1 {
		return nil, ErrBadObject
	}
	skip := p[0] == 1
	n, k := binary.Uvarint(p[1:])
	if k <= 0 || n == 0 || n > uint64(len(p)) {
		return nil, ErrBadObject
	}
	p = p[1+k:]
	z := NewZSet(0, 0)
	for i := uint64(0); i < n; i++ {
		m, rest, ok := readBytes(p)
		if !ok || len(rest) < 8 {
			return nil, ErrBadObject
		}
		score := math.Float64frombits(binary.BigEndian.Uint64(rest))
		p = rest[8:]
		if math.IsNaN(score) || !z.Set(m, score) {
			return nil, ErrBadObject
		}
	}
	if len(p) != 0 || (z.skiplist && !skip) {
		return nil, ErrBadObject
	}
	z.skiplist = skip
	if skip {
		z.exp = dictExpFor(int(n)) // as Redis sizes a loaded sorted set
	}
	return z, nil
}
