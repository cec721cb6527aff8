package shard

// Redis 7.0 keeps a hashtable-encoded set or hash, and a skiplist-encoded
// sorted set's member index, in a dict, and MEMORY USAGE counts its
// buckets (8 bytes each). Their number depends on the collection's
// history, not only on its size: a dict grows when an insertion is tried
// into a full table (for a set even when the member is already there:
// dictAddRaw checks before it looks), and shrinks only when a deletion
// leaves it less than 10% full. The collections keep the log2 of that
// number by these rules, so that MEMORY USAGE agrees with Redis's after
// any sequence of writes. It is not replicated state of its own: every
// replica applies the same writes, and a collection decoded from a
// snapshot starts from the size Redis gives a loaded one (the smallest
// that fits). What is not modelled: Redis moves the buckets to a new
// table a step per access, and MEMORY USAGE counts both tables until the
// move ends, which depends on Redis's randomly seeded hash function.

// dictMinExp is log2 of DICT_HT_INITIAL_SIZE (4).
const dictMinExp = 2

// dictExpFor is log2 of _dictNextExp(n): the smallest power of two that
// is at least n and at least 4.
func dictExpFor(n int) uint8 {
	e := uint8(dictMinExp)
	for 1<<e < n {
		e++
	}
	return e
}

// dictGrow is _dictExpandIfNeeded before an insertion into a dict of used
// entries and 2^exp buckets.
func dictGrow(exp uint8, used int) uint8 {
	if used >= 1<<exp {
		return dictExpFor(used + 1)
	}
	return exp
}

// dictShrink is htNeedsResize, then dictResize, after a deletion left
// used entries in 2^exp buckets.
func dictShrink(exp uint8, used int) uint8 {
	if size := 1 << exp; size > 1<<dictMinExp && used*100/size < 10 {
		return dictExpFor(max(used, 1<<dictMinExp))
	}
	return exp
}
