package shard

import (
	"encoding/binary"
	"slices"
)

// List is a list value: a deque of elements kept in chunks of at most
// listChunkMax, as Redis's quicklist keeps them in nodes. Pushing or
// popping at either end is O(1); an index is O(n / listChunkMax).
//
// Copy-on-write: a clone shares the chunks; each chunk records the list
// that may change it in place, and a list copies a chunk it does not own
// before changing it. A clone costs O(n / listChunkMax) pointer copies.
//
// Concurrency: see Object.
type List struct {
	chunks []*listChunk
	n      int
	// mem is the accounted memory of the elements.
	mem int64
}

type listChunk struct {
	items []string
	owner *List
}

// listChunkMax is the number of elements per chunk.
const listChunkMax = 128

// listElemSize is the accounted size of an element's slot (a string
// header) besides its bytes; listChunkSize that of a chunk.
const (
	listElemSize  = 16
	listChunkSize = 48 + listChunkMax*16
)

// NewList returns an empty list.
func NewList() *List { return &List{} }

// Type implements Object.
func (l *List) Type() Type { return TypeList }

// Len returns the number of elements.
func (l *List) Len() int { return l.n }

func (l *List) clone() Object {
	return &List{chunks: slices.Clone(l.chunks), n: l.n, mem: l.mem}
}

func (l *List) size() int64 {
	return hashHeader + l.mem + int64(len(l.chunks))*listChunkSize
}

func elemMem(v string) int64 { return listElemSize + int64(sizeClass(len(v))) }

// own returns chunk c, copied first if l does not own it.
func (l *List) own(c int) *listChunk {
	ch := l.chunks[c]
	if ch.owner != l {
		ch = &listChunk{items: slices.Clone(ch.items), owner: l}
		l.chunks[c] = ch
	}
	return ch
}

// PushFront adds v (copied) at the head.
func (l *List) PushFront(v []byte) {
	s := string(v)
	if len(l.chunks) == 0 || len(l.chunks[0].items) >= listChunkMax {
		l.chunks = slices.Insert(l.chunks, 0, &listChunk{items: make([]string, 0, 8), owner: l})
	}
	ch := l.own(0)
	ch.items = slices.Insert(ch.items, 0, s)
	l.n++
	l.mem += elemMem(s)
}

// PushBack adds v (copied) at the tail.
func (l *List) PushBack(v []byte) {
	s := string(v)
	last := len(l.chunks) - 1
	if last < 0 || len(l.chunks[last].items) >= listChunkMax {
		l.chunks = append(l.chunks, &listChunk{items: make([]string, 0, 8), owner: l})
		last++
	}
	ch := l.own(last)
	ch.items = append(ch.items, s)
	l.n++
	l.mem += elemMem(s)
}

// PopFront removes and returns the head; the list must not be empty.
func (l *List) PopFront() string {
	ch := l.own(0)
	v := ch.items[0]
	ch.items[0] = ""
	ch.items = ch.items[1:]
	l.dropIfEmpty(0)
	l.n--
	l.mem -= elemMem(v)
	return v
}

// PopBack removes and returns the tail; the list must not be empty.
func (l *List) PopBack() string {
	last := len(l.chunks) - 1
	ch := l.own(last)
	v := ch.items[len(ch.items)-1]
	ch.items[len(ch.items)-1] = ""
	ch.items = ch.items[:len(ch.items)-1]
	l.dropIfEmpty(last)
	l.n--
	l.mem -= elemMem(v)
	return v
}

func (l *List) dropIfEmpty(c int) {
	if len(l.chunks[c].items) == 0 {
		l.chunks = slices.Delete(l.chunks, c, c+1)
	}
}

// locate returns the chunk and position of index i (0 <= i < Len).
func (l *List) locate(i int) (c, j int) {
	if i < l.n/2 {
		for c = 0; i >= len(l.chunks[c].items); c++ {
			i -= len(l.chunks[c].items)
		}
		return c, i
	}
	i = l.n - 1 - i // from the tail
	for c = len(l.chunks) - 1; i >= len(l.chunks[c].items); c-- {
		i -= len(l.chunks[c].items)
	}
	return c, len(l.chunks[c].items) - 1 - i
}

// Index returns element i (0 <= i < Len).
func (l *List) Index(i int) string {
	c, j := l.locate(i)
	return l.chunks[c].items[j]
}

// Set replaces element i (0 <= i < Len) with v (copied).
func (l *List) Set(i int, v []byte) {
	c, j := l.locate(i)
	ch := l.own(c)
	l.mem += elemMem(string(v)) - elemMem(ch.items[j])
	ch.items[j] = string(v)
}

// Insert inserts v (copied) before index i (0 <= i <= Len).
func (l *List) Insert(i int, v []byte) {
	switch {
	case i == 0:
		l.PushFront(v)
		return
	case i == l.n:
		l.PushBack(v)
		return
	}
	c, j := l.locate(i)
	ch := l.own(c)
	s := string(v)
	if len(ch.items) >= listChunkMax { // split the full chunk in two
		half := len(ch.items) / 2
		tail := &listChunk{items: slices.Clone(ch.items[half:]), owner: l}
		ch.items = slices.Clip(ch.items[:half])
		l.chunks = slices.Insert(l.chunks, c+1, tail)
		if j >= half {
			ch, j = tail, j-half
		}
	}
	ch.items = slices.Insert(ch.items, j, s)
	l.n++
	l.mem += elemMem(s)
}

// Range calls fn for elements start to end (inclusive, 0 <= start <= end
// < Len) in order until fn returns false.
func (l *List) Range(start, end int, fn func(i int, v string) bool) {
	if start > end {
		return
	}
	c, j := l.locate(start)
	for i := start; i <= end; c, j = c+1, 0 {
		for ; j < len(l.chunks[c].items) && i <= end; j++ {
			if !fn(i, l.chunks[c].items[j]) {
				return
			}
			i++
		}
	}
}

// RangeReverse calls fn for elements from end down to start until fn
// returns false.
func (l *List) RangeReverse(start, end int, fn func(i int, v string) bool) {
	if start > end {
		return
	}
	c, j := l.locate(end)
	for i := end; i >= start; {
		for ; j >= 0 && i >= start; j-- {
			if !fn(i, l.chunks[c].items[j]) {
				return
			}
			i--
		}
		if c--; c >= 0 {
			j = len(l.chunks[c].items) - 1
		}
	}
}

// Filter keeps the elements for which keep returns true, in order, and
// returns how many it removed. keep sees the elements from the head.
func (l *List) Filter(keep func(v string) bool) int {
	removed := 0
	for c := 0; c < len(l.chunks); {
		old := l.chunks[c]
		var kept []string
		for _, v := range old.items {
			if keep(v) {
				kept = append(kept, v)
			} else {
				removed++
				l.mem -= elemMem(v)
			}
		}
		if len(kept) == len(old.items) {
			c++
			continue
		}
		if len(kept) == 0 {
			l.chunks = slices.Delete(l.chunks, c, c+1)
			continue
		}
		l.chunks[c] = &listChunk{items: kept, owner: l}
		c++
	}
	l.n -= removed
	return removed
}

// Trim keeps elements start to end (inclusive; start > end empties the
// list).
func (l *List) Trim(start, end int) {
	i := 0
	l.Filter(func(string) bool {
		keep := i >= start && i <= end
		i++
		return keep
	})
}

// appendBinary appends the list's encoding: uvarint(n) ‖ n × (uvarint(len)
// ‖ bytes), head first.
func (l *List) appendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(l.n))
	for _, ch := range l.chunks {
		for _, v := range ch.items {
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	return b
}

func decodeList(p []byte) (Object, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n == 0 || n > uint64(len(p)) {
		return nil, ErrBadObject
	}
	p = p[k:]
	l := NewList()
	for i := uint64(0); i < n; i++ {
		v, rest, ok := readBytes(p)
		if !ok {
			return nil, ErrBadObject
		}
		p = rest
		l.PushBack(v)
	}
	if len(p) != 0 {
		return nil, ErrBadObject
	}
	return l, nil
}
