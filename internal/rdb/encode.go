package rdb

import (
	"encoding/binary"
	"math"

	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/shard"
)

// RDB object types (rdb.h), the first byte of a DUMP payload.
const (
	typeString        = 0
	typeList          = 1
	typeSet           = 2
	typeZSet          = 3
	typeHash          = 4
	typeZSet2         = 5
	typeHashZipmap    = 9
	typeListZiplist   = 10
	typeSetIntset     = 11
	typeZSetZiplist   = 12
	typeHashZiplist   = 13
	typeListQuicklist = 14
	typeHashListpack  = 16
	typeZSetListpack  = 17
	typeListQuick2    = 18
	// Redis 7.4's hashes with field times (RDB version 12): a hashtable
	// (fields with times relative to the hash's earliest) and a
	// listpackex (triples field, value, time; 0 for none).
	typeHashMetadata   = 24
	typeHashListpackEx = 25
)

// Version is the RDB version of Redis 7.0, which DUMP payloads carry and
// RESTORE accepts up to.
const Version = 10

// VersionFieldTTL is Redis 7.4's RDB version, which the payloads of hashes
// with field times carry (Redis 7.0 has no such hashes); RESTORE accepts
// it for those two types only.
const VersionFieldTTL = 12

// Quicklist node containers (quicklist.h).
const (
	containerPlain  = 1
	containerPacked = 2
)

// The length encodings (rdb.h).
const (
	len6bit  = 0
	len14bit = 1
	len32bit = 0x80
	len64bit = 0x81
	lenEnc   = 3
	encInt8  = 0
	encInt16 = 1
	encInt32 = 2
	encLZF   = 3
)

// quicklistNodeMax is the listpack size a quicklist node of Redis 7.0's
// default list-max-listpack-size (-2) grows to (8 KiB), and
// quicklistOverhead the per-element estimate its insert test adds
// (quicklist.c: _quicklistNodeAllowInsert, SIZE_ESTIMATE_OVERHEAD).
const (
	quicklistNodeMax  = 8192
	quicklistOverhead = 8
)

// DumpString returns the DUMP payload of a string value, as Redis 7.0's
// DUMP makes it (rdbSaveStringObject: integer encoding for a canonical
// integer in int32 range, LZF beyond 20 bytes when it saves space).
func DumpString(v []byte) []byte {
	b := make([]byte, 0, len(v)+16)
	b = append(b, typeString)
	b = appendString(b, v)
	return finish(b)
}

// DumpObject returns the DUMP payload of a collection, in the RDB type of
// its encoding as Redis 7.0 saves it: a listpack hash or sorted set as
// HASH_LISTPACK or ZSET_LISTPACK, a hashtable hash as HASH, an intset as
// SET_INTSET, a hashtable set as SET, a skiplist sorted set as ZSET_2, and
// a list as QUICKLIST_2 with listpack nodes filled as RPUSH fills them.
func DumpObject(o shard.Object) []byte {
	var b []byte
	switch o := o.(type) {
	case *shard.Hash:
		if o.HasTTLs() && (o.Listpack() || minFieldTTL(o) != 0) {
			return finishVersion(appendHashTTL(b, o), VersionFieldTTL)
		}
		b = appendHash(b, o)
	case *shard.Set:
		b = appendSet(b, o)
	case *shard.List:
		b = appendList(b, o)
	case *shard.ZSet:
		b = appendZSet(b, o)
	default:
		panic("rdb: DumpObject of an unknown object type")
	}
	return finish(b)
}

// finish appends the footer: the RDB version (2 bytes) and the CRC-64 of
// everything before (8 bytes), both little endian.
func finish(b []byte) []byte { return finishVersion(b, Version) }

// finishVersion is finish with the RDB version v.
func finishVersion(b []byte, v uint16) []byte {
	b = binary.LittleEndian.AppendUint16(b, v)
	return binary.LittleEndian.AppendUint64(b, CRC64(0, b))
}

// appendLen appends rdbSaveLen's encoding of n.
func appendLen(b []byte, n uint64) []byte {
	switch {
	case n < 1<<6:
		return append(b, byte(n))
	case n < 1<<14:
		return append(b, byte(n>>8)|len14bit<<6, byte(n))
	case n <= math.MaxUint32:
		b = append(b, len32bit)
		return binary.BigEndian.AppendUint32(b, uint32(n))
	}
	b = append(b, len64bit)
	return binary.BigEndian.AppendUint64(b, n)
}

// appendString appends rdbSaveRawString's encoding of s.
func appendString(b, s []byte) []byte {
	if len(s) <= 11 {
		if v, ok := parseCanonical(s); ok && v >= math.MinInt32 && v <= math.MaxInt32 {
			switch {
			case v >= math.MinInt8 && v <= math.MaxInt8:
				return append(b, 0xC0|encInt8, byte(v))
			case v >= math.MinInt16 && v <= math.MaxInt16:
				return append(b, 0xC0|encInt16, byte(v), byte(v>>8))
			}
			b = append(b, 0xC0|encInt32)
			return binary.LittleEndian.AppendUint32(b, uint32(v))
		}
	}
	if len(s) > 20 {
		// rdbSaveLzfStringObject: worth it only when it saves 4 bytes.
		out := make([]byte, len(s)-4)
		if n := lzfCompress(s, out); n > 0 {
			b = append(b, 0xC0|encLZF)
			b = appendLen(b, uint64(n))
			b = appendLen(b, uint64(len(s)))
			return append(b, out[:n]...)
		}
	}
	b = appendLen(b, uint64(len(s)))
	return append(b, s...)
}

// appendDouble appends rdbSaveBinaryDoubleValue's encoding.
func appendDouble(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

func appendHash(b []byte, h *shard.Hash) []byte {
	if h.Listpack() {
		b = append(b, typeHashListpack)
		lp := newListpack(nil)
		h.Range(func(f, v []byte) bool {
			lp.appendString(f)
			lp.appendString(v)
			return true
		})
		return appendString(b, lp.finish(0))
	}
	b = append(b, typeHash)
	b = appendLen(b, uint64(h.Len()))
	h.Range(func(f, v []byte) bool {
		b = appendString(b, f)
		b = appendString(b, v)
		return true
	})
	return b
}

// minFieldTTL returns the earliest field time of h (0: none), exactly, as
// Redis's hashTypeGetMinExpire (Shoal's MinFieldTTL may be earlier).
func minFieldTTL(h *shard.Hash) int64 {
	var m int64
	h.Range(func(f, _ []byte) bool {
		if at := h.FieldTTL(f); at != 0 && (m == 0 || at < m) {
			m = at
		}
		return true
	})
	return m
}

// appendHashTTL appends a hash with field times as Redis 7.4 saves it
// (rdbSaveObject): a listpackex as HASH_LISTPACK_EX (the earliest time,
// 0 if none, then the listpack of field, value, time triples in the
// hash's order), a hashtable as HASH_METADATA (the earliest time, then
// each field's time relative to it plus one, 0 for none, field, value).
func appendHashTTL(b []byte, h *shard.Hash) []byte {
	minAt := minFieldTTL(h)
	if h.Listpack() {
		b = append(b, typeHashListpackEx)
		b = binary.LittleEndian.AppendUint64(b, uint64(minAt))
		lp := newListpack(nil)
		h.Range(func(f, v []byte) bool {
			lp.appendString(f)
			lp.appendString(v)
			lp.appendInt(h.FieldTTL(f))
			return true
		})
		return appendString(b, lp.finish(0))
	}
	b = append(b, typeHashMetadata)
	b = binary.LittleEndian.AppendUint64(b, uint64(minAt))
	b = appendLen(b, uint64(h.Len()))
	h.Range(func(f, v []byte) bool {
		var rel uint64
		if at := h.FieldTTL(f); at != 0 {
			rel = uint64(at-minAt) + 1
		}
		b = appendLen(b, rel)
		b = appendString(b, f)
		b = appendString(b, v)
		return true
	})
	return b
}

func appendSet(b []byte, s *shard.Set) []byte {
	if s.Intset() {
		b = append(b, typeSetIntset)
		w := s.IntsetWidth()
		is := make([]byte, 8, 8+w*s.Len())
		binary.LittleEndian.PutUint32(is, uint32(w))
		binary.LittleEndian.PutUint32(is[4:], uint32(s.Len()))
		s.Range(func(m []byte) bool {
			v, _ := parseCanonical(m)
			switch w {
			case 2:
				is = binary.LittleEndian.AppendUint16(is, uint16(v))
			case 4:
				is = binary.LittleEndian.AppendUint32(is, uint32(v))
			default:
				is = binary.LittleEndian.AppendUint64(is, uint64(v))
			}
			return true
		})
		return appendString(b, is)
	}
	b = append(b, typeSet)
	b = appendLen(b, uint64(s.Len()))
	s.Range(func(m []byte) bool {
		b = appendString(b, m)
		return true
	})
	return b
}

// appendList appends a QUICKLIST_2 of listpack nodes, each filled up to
// quicklistNodeMax as quicklistPushTail fills the tail node: the layout of
// a list Redis built with RPUSH.
func appendList(b []byte, l *shard.List) []byte {
	b = append(b, typeListQuick2)
	var nodes [][]byte
	var lp listpack
	open := false
	if l.Len() > 0 {
		l.Range(0, l.Len()-1, func(_ int, v string) bool {
			e := []byte(v)
			if open && len(lp.b)+1+len(e)+quicklistOverhead > quicklistNodeMax {
				nodes = append(nodes, lp.finish(0))
				open = false
			}
			if !open {
				lp = newListpack(nil)
				open = true
			}
			lp.appendString(e)
			return true
		})
	}
	if open {
		nodes = append(nodes, lp.finish(0))
	}
	b = appendLen(b, uint64(len(nodes)))
	for _, n := range nodes {
		b = appendLen(b, containerPacked)
		b = appendString(b, n)
	}
	return b
}

// appendZSet appends a listpack set as ZSET_LISTPACK (member, score pairs
// ascending; a score is an integer entry when zzlInsertAt's double2ll
// takes it, else its %.17g text), a skiplist as ZSET_2 from the greatest
// member down.
func appendZSet(b []byte, z *shard.ZSet) []byte {
	if z.Listpack() {
		b = append(b, typeZSetListpack)
		lp := newListpack(nil)
		var tmp [32]byte
		z.AscendFrom(0, func(m string, score float64) bool {
			lp.appendString([]byte(m))
			if v, ok := double2ll(score); ok {
				lp.appendInt(v)
			} else {
				lp.appendString(resp.FormatDouble(tmp[:0], score))
			}
			return true
		})
		return appendString(b, lp.finish(0))
	}
	b = append(b, typeZSet2)
	b = appendLen(b, uint64(z.Len()))
	if z.Len() > 0 {
		z.DescendFrom(z.Len()-1, func(m string, score float64) bool {
			b = appendString(b, []byte(m))
			b = appendDouble(b, score)
			return true
		})
	}
	return b
}

// double2ll is Redis's double2ll: d as an integer when it is one within
// ±LLONG_MAX/2.
func double2ll(d float64) (int64, bool) {
	if d < float64(-math.MaxInt64/2) || d > float64(math.MaxInt64/2) || d != d {
		return 0, false
	}
	v := int64(d)
	return v, float64(v) == d
}
