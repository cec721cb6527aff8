package shard

import "github.com/tidwall/btree"

// SetAccess sets the access data of an entry just stored by Set or
// SetObject as RESTORE leaves a new key's: the last access idle seconds
// before nowMs (idle < 0: at nowMs), the LFU counter freq as of nowMs
// (freq < 0: LFUInitVal). idle is taken modulo 2^24 s, as Redis's 24-bit
// LRU clock does. Caller holds Lock.
func (e *Entry) SetAccess(nowMs, idle int64, freq int) {
	sec := nowMs / 1000
	if idle > 0 {
		sec -= idle % (1 << 24)
	}
	e.lru.Store(uint32(max(sec, 0)))
	c := uint32(LFUInitVal)
	if freq >= 0 {
		c = uint32(min(freq, 255))
	}
	hint := e.lfu.Load() & metaMask
	e.lfu.Store(c | uint32(uint16(nowMs/60000))<<8 | hint)
}

// EnableFieldTTLs makes h carry field times (Redis 7.4's listpackex for a
// listpack) even before any is set, as a restored HASH_LISTPACK_EX or
// HASH_METADATA payload is.
func (h *Hash) EnableFieldTTLs() {
	if h.ttl == nil {
		h.ttl = &hashTTL{times: btree.NewBTreeGOptions(fieldTTLLess, btree.Options{NoLocks: true})}
	}
}

// RestoreFieldTTL sets field's time (at > 0; the field exists) without
// moving it: for a decoder reading fields already in listpackex's order.
func (h *Hash) RestoreFieldTTL(field []byte, at int64) { h.setTTL(field, at) }
