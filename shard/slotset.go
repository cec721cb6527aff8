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

// Ranges appends the slots of s to dst as maximal ranges, in order. It
// steps over whole words that continue the current run (empty while outside
// a range, full inside one), and within a word from one boundary to the
// next: a group's few ranges cost about NumSlots/64 steps, not NumSlots
// (the node's controller asks for them several times a second).
func (s *SlotSet) Ranges(dst []SlotRange) []SlotRange {
	start := -1 // the first slot of the open range, or -1
	for wi, w := range s {
		if (start < 0 && w == 0) || (start >= 0 && w == ^uint64(0)) {
			continue
		}
		base := wi * 64
		for b := 0; b < 64; {
			if start < 0 {
				x := w >> b // the next slot in s, from b
				if x == 0 {
					break
				}
				b += bits.TrailingZeros64(x)
				start = base + b
			} else {
				x := ^w >> b // the next slot not in s, from b
				if x == 0 {
					break
				}
				b += bits.TrailingZeros64(x)
				dst = append(dst, SlotRange{start, base + b - 1})
				start = -1
			}
		}
	}
	if start >= 0 {
		dst = append(dst, SlotRange{start, NumSlots - 1})
	}
	return dst
}
