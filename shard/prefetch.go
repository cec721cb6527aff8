package shard

import (
	"hash/maphash"
	"unsafe"

	"github.com/shoalcache/shoal/internal/prefetch"
)

// prefetchBatch is how many keys Prefetch follows at once: enough for their
// misses to overlap, few enough for the lines of the first to still be in
// the L1 cache when its lookup runs.
const prefetchBatch = 16

// prefetchLine is prefetch.Line; tests record the lines asked for.
var prefetchLine = prefetch.Line

// Prefetch asks the processor for the memory that lookups of keys, in this
// store, will read: each key's slot data, then its table slot, then its
// key's bytes and entry (and a value kept after the key in the entry's
// object), one level for all keys before the next, so that
// the cache misses of different keys overlap where a lookup takes them one
// after another (BENCHMARKS.md, "Prefetching an entry's keys"). It changes
// nothing and reads only what a lookup reads; a key that is absent, or an
// argument that is not a key at all, costs a few wasted cache lines.
// Caller holds Lock or RLock, as for the lookups that follow.
func (s *Store) Prefetch(keys [][]byte) {
	var sds [prefetchBatch]*slotData
	var hs [prefetchBatch]uint64
	var kss [prefetchBatch]*kslot
	for len(keys) > 0 {
		n := min(len(keys), prefetchBatch)
		for j, k := range keys[:n] {
			sd := &s.slots[Slot(k)]
			sds[j] = sd
			prefetchLine(unsafe.Pointer(sd))
		}
		for j, k := range keys[:n] {
			hs[j] = maphash.Bytes(keySeed, k)
		}
		for j := range n {
			if kss[j] = sds[j].m.home(hs[j]); kss[j] != nil {
				prefetchLine(unsafe.Pointer(kss[j]))
			}
		}
		for _, ks := range kss[:n] {
			if ks == nil || ks.e == nil {
				continue
			}
			prefetchLine(unsafe.Pointer(ks.e))
			prefetchLine(ks.kp) // in the entry's object, or a string of its own
			if ks.kl&klInEntry != 0 {
				// The value follows the key in the entry's object, often
				// on the next cache line.
				prefetchLine(unsafe.Add(ks.kp, ks.kl&^klInEntry))
			}
		}
		keys = keys[n:]
	}
}
