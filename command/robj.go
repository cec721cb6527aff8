package command

import (
	"math/bits"

	"github.com/shoalcache/shoal/shard"
)

// This file models how Redis 7.0 represents a string value (object.c,
// sds.c, t_string.c), so that OBJECT ENCODING, OBJECT REFCOUNT and MEMORY
// USAGE answer what redis-server would. Shoal keeps plain byte slices; the
// model needs only the value, the entry's encoding hint (shard.Enc, set by
// the write commands) and, for raw strings, the value's capacity, which the
// write commands keep equal to the sds string's alloc field.

// Redis's string encodings.
const (
	encInt    = "int"
	encEmbstr = "embstr"
	encRaw    = "raw"
)

const (
	// embstrLimit is OBJ_ENCODING_EMBSTR_SIZE_LIMIT.
	embstrLimit = 44
	// sharedIntegers is OBJ_SHARED_INTEGERS: 0-9999 are shared objects.
	sharedIntegers = 10000
	// sharedRefcount is OBJ_SHARED_REFCOUNT (INT_MAX).
	sharedRefcount = 2147483647
	// robjSize is sizeof(robj) on 64-bit: type, encoding and lru in 8
	// bytes, refcount, ptr.
	robjSize = 16
	// sdsMaxPrealloc is SDS_MAX_PREALLOC (1 MB).
	sdsMaxPrealloc = 1 << 20
)

// isLong reports whether v is encodable as a long by tryObjectEncoding:
// at most 20 bytes that string2l accepts (no sign but '-', no leading zero,
// no "-0", within int64). It returns the value too.
func isLong(v []byte) (int64, bool) {
	if len(v) > 20 {
		return 0, false
	}
	return ParseInt(v)
}

// objEncoding returns Redis's encoding of a value with hint enc.
func objEncoding(v []byte, enc shard.Enc) string {
	switch enc {
	case shard.EncRaw:
		return encRaw
	case shard.EncIntCopy:
		return encInt
	case shard.EncDefault:
		if _, ok := isLong(v); ok {
			return encInt
		}
	}
	if len(v) <= embstrLimit {
		return encEmbstr
	}
	return encRaw
}

// objRefcount returns OBJECT REFCOUNT: the integers 0-9999 stored by
// tryObjectEncoding are Redis's shared objects unless maxmemory is set with
// an LRU or LFU policy (MAXMEMORY_FLAG_NO_SHARED_INTEGERS). Redis decides
// when the value is written; Shoal applies the policy in force when asked.
func objRefcount(v []byte, enc shard.Enc, noShared bool) int64 {
	if enc == shard.EncDefault && !noShared {
		if n, ok := isLong(v); ok && n >= 0 && n < sharedIntegers {
			return sharedRefcount
		}
	}
	return 1
}

// noSharedIntegers is MAXMEMORY_FLAG_NO_SHARED_INTEGERS in effect.
func noSharedIntegers(maxmemory int64, p shard.Policy) bool {
	return maxmemory != 0 && (p == shard.AllKeysLRU || p == shard.VolatileLRU || lfuPolicy(p))
}

// lfuPolicy is MAXMEMORY_FLAG_LFU.
func lfuPolicy(p shard.Policy) bool { return p == shard.AllKeysLFU || p == shard.VolatileLFU }

// jemallocSize returns the usable size jemalloc 5.3 (Redis's allocator on
// Debian) gives a request of n bytes: 8, then multiples of 16 up to 128, then
// four size classes per power of two (160, 192, 224, 256, 320, ...).
func jemallocSize(n int64) int64 {
	switch {
	case n <= 8:
		return 8
	case n <= 128:
		return (n + 15) &^ 15
	}
	lg := 63 - bits.LeadingZeros64(uint64(n-1)) // 2^lg < n <= 2^(lg+1)
	delta := int64(1) << (lg - 2)
	return (n + delta - 1) &^ (delta - 1)
}

// sds header types, as sds.h's SDS_TYPE_*.
const (
	sdsType5 = iota
	sdsType8
	sdsType16
	sdsType32
	sdsType64
)

// sdsReqType is sds.c's sdsReqType: the smallest header for a length.
func sdsReqType(n int64) int {
	switch {
	case n < 1<<5:
		return sdsType5
	case n < 1<<8:
		return sdsType8
	case n < 1<<16:
		return sdsType16
	case n < 1<<32:
		return sdsType32
	}
	return sdsType64
}

// sdsHdrSize is the header size of an sds type.
func sdsHdrSize(t int) int64 { return [...]int64{1, 3, 5, 9, 17}[t] }

// sdsTypeMaxSize is the largest alloc an sds type can record.
func sdsTypeMaxSize(t int) int64 {
	return [...]int64{1<<5 - 1, 1<<8 - 1, 1<<16 - 1, 1<<32 - 1, 1<<63 - 1}[t]
}

// sdsNewAlloc returns the alloc field of sdsnewlen(len): type 5 (which
// records no free space) below 32 bytes, except for the empty string;
// otherwise the allocator's usable size less header and terminator.
func sdsNewAlloc(n int64) int64 {
	t := sdsReqType(n)
	if t == sdsType5 {
		if n > 0 {
			return n
		}
		t = sdsType8
	}
	h := sdsHdrSize(t)
	return min(jemallocSize(h+n+1)-h-1, sdsTypeMaxSize(t))
}

// sdsGrowAlloc returns the alloc field after sdsMakeRoomFor (greedy) makes
// room for add more bytes in a string of length n and alloc alloc.
func sdsGrowAlloc(n, alloc, add int64) int64 {
	if alloc-n >= add {
		return alloc
	}
	newlen := n + add
	if newlen < sdsMaxPrealloc {
		newlen *= 2
	} else {
		newlen += sdsMaxPrealloc
	}
	t := max(sdsReqType(newlen), sdsType8)
	h := sdsHdrSize(t)
	return min(jemallocSize(h+newlen+1)-h-1, sdsTypeMaxSize(t))
}

// sdsAllocSize is sdsZmallocSize of a string of length n and alloc alloc:
// the usable size of its allocation. A type 5 string (no free space, below
// 32 bytes) and a type 8 one with the same figures occupy the same size
// class, so the header type is taken from alloc.
func sdsAllocSize(n, alloc int64) int64 {
	t := sdsReqType(alloc)
	if t == sdsType5 && (alloc != n || n == 0) {
		t = sdsType8
	}
	return jemallocSize(sdsHdrSize(t) + alloc + 1)
}

// rawAlloc returns the sds alloc field Redis's raw string for this value
// has, or would have once made raw by dbUnshareStringValue before APPEND or
// SETRANGE modifies it: a raw string keeps its own; an integer or embedded
// string becomes a new exact sds (createRawStringObject); a raw string that
// tryObjectEncoding stored was trimmed to its length when it had more than
// 10% free.
func rawAlloc(v []byte, enc shard.Enc) int64 {
	n := int64(len(v))
	switch {
	case enc == shard.EncRaw:
		return int64(cap(v))
	case objEncoding(v, enc) != encRaw:
		return sdsNewAlloc(n)
	case enc == shard.EncDefault && sdsNewAlloc(n)-n > n/10:
		return n
	}
	return sdsNewAlloc(n)
}

// objValueSize is objectComputeSize for a string: the robj alone for an
// integer, the one allocation of robj and sds header for an embedded string,
// the robj and the sds allocation for a raw one.
func objValueSize(v []byte, enc shard.Enc) int64 {
	n := int64(len(v))
	switch objEncoding(v, enc) {
	case encInt:
		return robjSize
	case encEmbstr:
		return jemallocSize(robjSize + sdsHdrSize(sdsType8) + n + 1)
	}
	return robjSize + sdsAllocSize(n, rawAlloc(v, enc))
}

// keySdsSize is sdsZmallocSize of the key's sds in the main dict (sdsdup
// of the argument: an exact sdsnewlen).
func keySdsSize(key []byte) int64 {
	n := int64(len(key))
	return sdsAllocSize(n, sdsNewAlloc(n))
}

// Memory usage of the dict entry: sizeof(dictEntry), and in cluster mode the
// entry's metadata (clusterDictEntryMetadata: two pointers).
const (
	dictEntrySize     = 24
	clusterEntryExtra = 16
)

// memoryUsage is MEMORY USAGE for a string key in Redis 7.0:
//
//	objectComputeSize(value) + sdsZmallocSize(key) + sizeof(dictEntry) + dictMetadataSize
//
// where objectComputeSize is 16 for an int, zmalloc_size(robj+sdshdr8+len+1)
// for an embstr, 16+sdsZmallocSize(sds) for a raw string; sdsZmallocSize is
// jemalloc's size class of header+alloc+1; sizeof(dictEntry) is 24 and the
// dict metadata 16 in cluster mode, 0 otherwise. A value of 32 KB or more
// that Redis took directly from its query buffer (PROTO_MBULK_BIG_ARG) may
// have 2 more bytes of alloc there than this model's exact allocation.
func memoryUsage(key, v []byte, enc shard.Enc, cluster bool) int64 {
	n := objValueSize(v, enc) + keySdsSize(key) + dictEntrySize
	if cluster {
		n += clusterEntryExtra
	}
	return n
}

// toRaw makes e's value a raw string with room for need bytes as Redis's
// dbUnshareStringValue followed by sdsMakeRoomFor does, so that its capacity
// is the sds alloc; it returns the value, length unchanged. e comes from
// Store.Mutable; the caller then extends the value within its capacity, and
// calls Store.Resize with the capacity it had before.
func toRaw(e *shard.Entry, need int64) []byte {
	v := e.Value
	n := int64(len(v))
	alloc := rawAlloc(v, e.Enc())
	if need > n {
		alloc = sdsGrowAlloc(n, alloc, need-n)
	}
	if alloc != int64(cap(v)) {
		nv := make([]byte, n, alloc)
		copy(nv, v)
		v = nv
	}
	e.SetEnc(shard.EncRaw)
	return v
}

// newRaw returns a zeroed raw value of length n with sdsnewlen's alloc as
// capacity (SETRANGE on a missing key).
func newRaw(n int64) []byte { return make([]byte, n, sdsNewAlloc(n)) }

// dupObject copies e's value for COPY as Redis's dupStringObject: an integer
// stays an integer but is no longer a shared one, an embedded string stays
// embedded, a raw string gets a new exact sds.
func dupObject(e *shard.Entry) ([]byte, shard.Enc) {
	switch objEncoding(e.Value, e.Enc()) {
	case encInt:
		return clone(e.Value), shard.EncIntCopy
	case encEmbstr:
		return clone(e.Value), shard.EncString
	}
	v := make([]byte, len(e.Value), sdsNewAlloc(int64(len(e.Value))))
	copy(v, e.Value)
	return v, shard.EncRaw
}
