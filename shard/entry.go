package shard

import "sync/atomic"

// Entry is one key's value and metadata. Value and ExpireAt must be treated as
// read-only by callers; the Store replaces or copies an entry when it changes.
type Entry struct {
	// Value is the string value.
	Value []byte
	// ExpireAt is the absolute expiry time in milliseconds since the Unix
	// epoch, or 0 when the key does not expire.
	ExpireAt int64
	// seq orders keys by creation, for the FIFO eviction policies. It wraps
	// around at 2^32; comparisons use the distance to the store's counter.
	seq uint32
	// gen is the snapshot generation the entry was created in: an entry
	// whose gen is the store's current one is in no View and may be changed
	// in place.
	gen uint32
	// lru is the time of the last access in seconds since the Unix epoch.
	lru atomic.Uint32
	// lfu packs the logarithmic access counter (low 8 bits) and the time of
	// its last decrement in minutes, modulo 2^16 (next 16 bits); the top 8
	// bits hold the value's Redis encoding hint (enc.go, 4 bits) and its
	// data type (object.go, 4 bits), which accesses keep.
	lfu atomic.Uint32
}

// Seq returns the entry's creation sequence number (FIFO order).
func (e *Entry) Seq() uint64 { return uint64(e.seq) }

// LastAccess returns the time of the last access in seconds since the epoch.
func (e *Entry) LastAccess() uint32 { return e.lru.Load() }

// expired reports whether the entry is expired at now (milliseconds).
func (e *Entry) expired(now int64) bool {
	return e.ExpireAt != 0 && e.ExpireAt <= now
}

// entryOverhead approximates the memory of one key beyond its key and value
// bytes: the Entry struct (48 bytes: keep it so, it is a size class), the
// string header and map slot (about 32 bytes with the map's load factor).
const entryOverhead = 48 + 32

// sizeClass rounds n up the way Go's allocator does for small objects, close
// enough for accounting.
func sizeClass(n int) int {
	switch {
	case n == 0:
		return 0
	case n <= 8:
		return 8
	case n <= 16:
		return 16
	case n <= 128:
		return (n + 15) &^ 15
	case n <= 1024:
		return (n + 127) &^ 127
	default:
		return (n + 1023) &^ 1023
	}
}

func entrySize(klen, vcap int) int64 {
	return int64(entryOverhead + sizeClass(klen) + sizeClass(vcap))
}

// LFU constants, as in Redis (lfu-log-factor 10, lfu-decay-time 1 minute).
const (
	LFUInitVal   = 5
	lfuLogFactor = 10
)

// LFUCounter returns the entry's access counter decayed to nowMin (minutes
// since the epoch), as Redis's LFUDecrAndReturn.
func (e *Entry) LFUCounter(nowMin uint32) uint8 {
	v := e.lfu.Load()
	counter := uint8(v)
	last := uint16(v >> 8)
	elapsed := uint16(nowMin) - last
	if elapsed == 0 {
		return counter
	}
	if uint32(elapsed) >= uint32(counter) {
		return 0
	}
	return counter - uint8(elapsed)
}

// touch records an access at nowMs. r is a value uniformly distributed in
// [0, 1) used for the logarithmic LFU increment.
func (e *Entry) touch(nowMs int64, r float64) {
	sec := uint32(nowMs / 1000)
	if e.lru.Load() != sec {
		e.lru.Store(sec)
	}
	nowMin := uint32(nowMs / 60000)
	hint := e.lfu.Load() & metaMask // changed only under Lock: no reader races it
	c := e.LFUCounter(nowMin)
	if c < 255 {
		base := float64(c) - LFUInitVal
		if base < 0 {
			base = 0
		}
		if r < 1.0/(base*lfuLogFactor+1) {
			c++
		}
	}
	e.lfu.Store(uint32(c) | uint32(uint16(nowMin))<<8 | hint)
}

// overwriteAccess sets the access data of e, which replaces old under the
// same key at nowMs: the access time is now, and the LFU counter is old's,
// decayed to now, as Redis's dbOverwrite keeps the old object's LFU data.
// Unlike a read, a write does not increment it: the FSM has no random
// source.
func (e *Entry) overwriteAccess(old *Entry, nowMs int64) {
	nowMin := uint32(nowMs / 60000)
	c := old.LFUCounter(nowMin)
	e.lru.Store(uint32(nowMs / 1000))
	e.lfu.Store(uint32(c) | uint32(uint16(nowMin))<<8)
}

func (e *Entry) initAccess(nowMs int64) {
	e.lru.Store(uint32(nowMs / 1000))
	e.lfu.Store(LFUInitVal | uint32(uint16(nowMs/60000))<<8)
}
