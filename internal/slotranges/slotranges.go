// Package slotranges turns per-slot values (the group that owns each slot,
// the master a node names for it) into ranges of consecutive slots that
// share a value, the form CLUSTER SLOTS, CLUSTER NODES and Shoal's slot map
// list them in. It is the one place that walks slots into ranges.
package slotranges

// Range is an inclusive range of slots whose values are all Value.
type Range[V comparable] struct {
	Start, End int
	Value      V
}

// Of returns the maximal ranges of consecutive slots with equal values in
// vals (indexed by slot), in slot order. Ranges that follow each other
// always have different values.
func Of[V comparable](vals []V) []Range[V] {
	var out []Range[V]
	for s, v := range vals {
		if n := len(out); n > 0 && out[n-1].Value == v {
			out[n-1].End = s
		} else {
			out = append(out, Range[V]{Start: s, End: s, Value: v})
		}
	}
	return out
}

// Collapse returns the ranges [start, end] of consecutive numbers in the
// sorted slot numbers slots.
func Collapse(slots []int) [][2]int {
	var out [][2]int
	for _, s := range slots {
		if n := len(out); n > 0 && out[n-1][1] == s-1 {
			out[n-1][1] = s
		} else {
			out = append(out, [2]int{s, s})
		}
	}
	return out
}
