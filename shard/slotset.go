package shard

import "math/bits"

// SlotRange is an inclusive range of hash slots.
type SlotRange struct {
	Start, End int
}

// SlotSet is a set of hash slots: a bitmap of NumSlots bits. The zero value
// is empty. It is a plain value: copy it to snapshot it.
type SlotSet [NumSlots / 64]uint64

// AllSlots returns a set holding every slot.
func AllSlots() *SlotSet {
	var s SlotSet
	for i := range s {
		s[i] = ^uint64(0)
	}
	return &s
}

// Has reports whether slot is in s; a slot out of range never is.
func (s *SlotSet) Has(slot int) bool {
	if uint(slot) >= NumSlots {
		return false
	}
	return s[slot>>6]&(1<<(uint(slot)&63)) != 0
}

// Add adds slot to s; a slot out of range is ignored.
func (s *SlotSet) Add(slot int) {
	if uint(slot) < NumSlots {
		s[slot>>6] |= 1 << (uint(slot) & 63)
	}
}

// AddRange adds the slots r.Start..r.End, clipped to the valid slots.
func (s *SlotSet) AddRange(r SlotRange) {
	start, end := max(r.Start, 0), min(r.End, NumSlots-1)
	for i := start; i <= end; i++ {
		s.Add(i)
	}
}

// Count returns the number of slots in s.
func (s *SlotSet) Count() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

// Ranges appends the slots of s to dst as maximal ranges, in order.
func (s *SlotSet) Ranges(dst []SlotRange) []SlotRange {
	start := -1
	for i := 0; i < NumSlots; i++ {
		if s.Has(i) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			dst = append(dst, SlotRange{start, i - 1})
			start = -1
		}
	}
	if start >= 0 {
		dst = append(dst, SlotRange{start, NumSlots - 1})
	}
	return dst
}
