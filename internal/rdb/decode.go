package rdb

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"

	"github.com/shoalcache/shoal/shard"
)

// Errors of Restore: RESTORE answers them with Redis's texts.
var (
	// ErrVersionOrChecksum: the payload is shorter than its footer, its
	// RDB version is above Version, or its CRC-64 is wrong.
	ErrVersionOrChecksum = errors.New("rdb: DUMP payload version or checksum are wrong")
	// ErrBadData: the payload's object is malformed, empty, of a type
	// Redis 7.0's RESTORE refuses, or of a type Shoal has not (stream,
	// module).
	ErrBadData = errors.New("rdb: bad data format")
)

// MaxBlob bounds the uncompressed length of one LZF-compressed string of
// a payload (512 MiB, Redis's proto-max-bulk-len and string limit): the
// decoder never allocates more for one string than the payload could
// expand to, nor more than this.
const MaxBlob = 512 << 20

// Restore decodes a DUMP payload: the string value (obj nil) or the
// collection. The result does not alias p. It never panics: a payload
// that is not Redis's is ErrVersionOrChecksum or ErrBadData. Its work and
// memory are bounded by a constant times len(p) (LZF expands at most 88
// times), so it is safe inside the FSM; it is deterministic.
func Restore(p []byte) (str []byte, obj shard.Object, err error) {
	if err := Verify(p); err != nil {
		return nil, nil, err
	}
	// As Redis's restoreCommand, the object is read from the whole
	// payload: the footer is not cut off (a truncated object may read into
	// it, as in Redis).
	d := decoder{p: p}
	t, ok := d.byte()
	if !ok {
		return nil, nil, ErrBadData
	}
	if t == typeString {
		s, ok := d.string()
		if !ok {
			return nil, nil, ErrBadData
		}
		return append([]byte{}, s...), nil, nil
	}
	if obj, ok = d.object(t); !ok {
		return nil, nil, ErrBadData
	}
	return nil, obj, nil
}

// Verify is Redis's verifyDumpPayload: the footer's version and CRC-64.
func Verify(p []byte) error {
	if len(p) < 10 {
		return ErrVersionOrChecksum
	}
	footer := p[len(p)-10:]
	if v := binary.LittleEndian.Uint16(footer); v > Version &&
		(v > VersionFieldTTL || p[0] != typeHashMetadata && p[0] != typeHashListpackEx) {
		return ErrVersionOrChecksum // Redis 7.0's check, but for 7.4's field times
	}
	if CRC64(0, p[:len(p)-8]) != binary.LittleEndian.Uint64(footer[2:]) {
		return ErrVersionOrChecksum
	}
	return nil
}

// decoder reads an RDB object from p.
type decoder struct {
	p   []byte
	off int
}

func (d *decoder) byte() (byte, bool) {
	if d.off >= len(d.p) {
		return 0, false
	}
	c := d.p[d.off]
	d.off++
	return c, true
}

func (d *decoder) take(n uint64) ([]byte, bool) {
	if n > uint64(len(d.p)-d.off) {
		return nil, false
	}
	b := d.p[d.off : d.off+int(n)]
	d.off += int(n)
	return b, true
}

// length reads rdbLoadLenByRef: the length, or (encoded) the special
// encoding in its low bits.
func (d *decoder) length() (n uint64, encoded, ok bool) {
	c, ok := d.byte()
	if !ok {
		return 0, false, false
	}
	switch c >> 6 {
	case len6bit:
		return uint64(c & 0x3F), false, true
	case len14bit:
		c2, ok := d.byte()
		return uint64(c&0x3F)<<8 | uint64(c2), false, ok
	case lenEnc:
		return uint64(c & 0x3F), true, true
	}
	switch c {
	case len32bit:
		b, ok := d.take(4)
		if !ok {
			return 0, false, false
		}
		return uint64(binary.BigEndian.Uint32(b)), false, true
	case len64bit:
		b, ok := d.take(8)
		if !ok {
			return 0, false, false
		}
		return binary.BigEndian.Uint64(b), false, true
	}
	return 0, false, false
}

// plainLen reads a length that must not be an encoding.
func (d *decoder) plainLen() (uint64, bool) {
	n, enc, ok := d.length()
	return n, ok && !enc
}

// string reads rdbGenericLoadStringObject: raw, integer-encoded (as its
// decimal form) or LZF-compressed. The result may alias p.
func (d *decoder) string() ([]byte, bool) {
	n, enc, ok := d.length()
	if !ok {
		return nil, false
	}
	if !enc {
		return d.take(n)
	}
	switch n {
	case encInt8:
		b, ok := d.take(1)
		if !ok {
			return nil, false
		}
		return strconv.AppendInt(nil, int64(int8(b[0])), 10), true
	case encInt16:
		b, ok := d.take(2)
		if !ok {
			return nil, false
		}
		return strconv.AppendInt(nil, int64(int16(binary.LittleEndian.Uint16(b))), 10), true
	case encInt32:
		b, ok := d.take(4)
		if !ok {
			return nil, false
		}
		return strconv.AppendInt(nil, int64(int32(binary.LittleEndian.Uint32(b))), 10), true
	case encLZF:
		clen, ok1 := d.plainLen()
		ulen, ok2 := d.plainLen()
		if !ok1 || !ok2 || ulen > MaxBlob || ulen > clen*lzfMaxRatio {
			return nil, false
		}
		c, ok := d.take(clen)
		if !ok {
			return nil, false
		}
		out := make([]byte, ulen)
		if !lzfDecompress(c, out) {
			return nil, false
		}
		return out, true
	}
	return nil, false
}

// double reads rdbLoadDoubleValue (ZSET's text scores).
func (d *decoder) double() (float64, bool) {
	n, ok := d.byte()
	if !ok {
		return 0, false
	}
	switch n {
	case 255:
		return math.Inf(-1), true
	case 254:
		return math.Inf(1), true
	case 253:
		return math.NaN(), true
	}
	b, ok := d.take(uint64(n))
	if !ok {
		return 0, false
	}
	return parseScore(b)
}

// parseScore parses a score written as text, as strtod would (sscanf
// %lg in rdbLoadDoubleValue, zzlStrtod in a listpack).
func parseScore(b []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		var ne *strconv.NumError
		// strtod saturates where ParseFloat reports a range error.
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return f, true
		}
		return 0, false
	}
	return f, true
}

// object reads a collection of RDB type t, as rdbLoadObject: the type's
// validity checks, Redis 7.0's encoding choices on load (which Shoal's
// objects make themselves as they fill), and an empty collection is
// refused.
func (d *decoder) object(t byte) (shard.Object, bool) {
	switch t {
	case typeList:
		return d.linkedList()
	case typeSet:
		return d.set()
	case typeZSet, typeZSet2:
		return d.zset(t == typeZSet2)
	case typeHash:
		return d.hash()
	case typeListQuicklist, typeListQuick2:
		return d.quicklist(t == typeListQuick2)
	case typeListZiplist:
		return d.packedList()
	case typeSetIntset:
		return d.intset()
	case typeZSetZiplist, typeZSetListpack:
		return d.packedZSet(t == typeZSetListpack)
	case typeHashZiplist, typeHashListpack:
		return d.packedHash(t == typeHashListpack)
	case typeHashZipmap:
		return d.zipmap()
	case typeHashMetadata:
		return d.hashMetadata()
	case typeHashListpackEx:
		return d.packedHashEx()
	}
	// 6, 7: modules; 15, 19: streams; 20+: Redis 7.2's types, which 7.0
	// refuses too.
	return nil, false
}

func (d *decoder) linkedList() (shard.Object, bool) {
	n, ok := d.plainLen()
	if !ok || n == 0 {
		return nil, false
	}
	l := shard.NewList()
	for ; n > 0; n-- {
		s, ok := d.string()
		if !ok {
			return nil, false
		}
		l.PushBack(s)
	}
	return l, true
}

func (d *decoder) set() (shard.Object, bool) {
	n, ok := d.plainLen()
	if !ok || n == 0 {
		return nil, false
	}
	var s *shard.Set
	for ; n > 0; n-- {
		m, ok := d.string()
		if !ok {
			return nil, false
		}
		if s == nil {
			s = shard.NewSet(m)
		}
		if !s.Add(m) {
			return nil, false // duplicate member
		}
	}
	return s, true
}

type zmember struct {
	m     []byte
	score float64
}

// newZSet builds a sorted set from members, as Redis 7.0 loads ZSET and
// ZSET_2: a listpack when it would be one (count and member lengths), with
// duplicate members and NaN scores refused.
func newZSet(ms []zmember, byCountOnly bool) (shard.Object, bool) {
	maxLen := 0
	if !byCountOnly {
		for _, m := range ms {
			maxLen = max(maxLen, len(m.m))
		}
	}
	z := shard.NewZSet(len(ms), maxLen)
	for _, m := range ms {
		if m.score != m.score || !z.Set(m.m, m.score) {
			return nil, false
		}
	}
	return z, true
}

func (d *decoder) zset(binaryScores bool) (shard.Object, bool) {
	n, ok := d.plainLen()
	if !ok || n == 0 {
		return nil, false
	}
	var ms []zmember
	for ; n > 0; n-- {
		m, ok := d.string()
		if !ok {
			return nil, false
		}
		var score float64
		if binaryScores {
			b, ok := d.take(8)
			if !ok {
				return nil, false
			}
			score = math.Float64frombits(binary.LittleEndian.Uint64(b))
		} else if score, ok = d.double(); !ok {
			return nil, false
		}
		ms = append(ms, zmember{m, score})
	}
	return newZSet(ms, false)
}

func (d *decoder) hash() (shard.Object, bool) {
	n, ok := d.plainLen()
	if !ok || n == 0 {
		return nil, false
	}
	h := shard.NewHash()
	for ; n > 0; n-- {
		f, ok1 := d.string()
		if !ok1 {
			return nil, false
		}
		v, ok2 := d.string()
		if !ok2 || !h.Set(f, v) {
			return nil, false // truncated, or a duplicate field
		}
	}
	return h, true
}

// quicklist reads LIST_QUICKLIST (ziplist nodes) or LIST_QUICKLIST_2
// (listpack or plain nodes). Empty nodes are skipped, as Redis does; a
// list left empty is refused.
func (d *decoder) quicklist(v2 bool) (shard.Object, bool) {
	n, ok := d.plainLen()
	if !ok || n == 0 {
		return nil, false
	}
	l := shard.NewList()
	for ; n > 0; n-- {
		container := uint64(containerPacked)
		if v2 {
			if container, ok = d.plainLen(); !ok || container != containerPacked && container != containerPlain {
				return nil, false
			}
		}
		b, ok := d.string()
		if !ok || len(b) == 0 {
			return nil, false
		}
		if container == containerPlain {
			l.PushBack(b)
			continue
		}
		push := func(e lpEntry) bool { l.PushBack(e.bytes()); return true }
		if v2 && !lpRange(b, push) || !v2 && !zlRange(b, push) {
			return nil, false
		}
	}
	return l, l.Len() > 0
}

// packedList reads LIST_ZIPLIST: one ziplist.
func (d *decoder) packedList() (shard.Object, bool) {
	b, ok := d.string()
	if !ok {
		return nil, false
	}
	l := shard.NewList()
	if !zlRange(b, func(e lpEntry) bool { l.PushBack(e.bytes()); return true }) {
		return nil, false
	}
	return l, l.Len() > 0
}

func (d *decoder) intset() (shard.Object, bool) {
	b, ok := d.string()
	if !ok {
		return nil, false
	}
	var s *shard.Set
	var buf []byte
	if !intsetRange(b, func(v int64) {
		buf = strconv.AppendInt(buf[:0], v, 10)
		if s == nil {
			s = shard.NewSet(buf)
		}
		s.Add(buf)
	}) || s == nil {
		return nil, false
	}
	return s, true
}

// pairs reads a ziplist or listpack of an even number of elements.
func (d *decoder) pairs(listpack bool) ([][2][]byte, bool) {
	b, ok := d.string()
	if !ok {
		return nil, false
	}
	var ps [][2][]byte
	var first []byte
	odd := false
	fn := func(e lpEntry) bool {
		if !odd {
			first = e.bytes()
		} else {
			ps = append(ps, [2][]byte{first, e.bytes()})
		}
		odd = !odd
		return true
	}
	if listpack && !lpRange(b, fn) || !listpack && !zlRange(b, fn) || odd || len(ps) == 0 {
		return nil, false
	}
	return ps, true
}

// packedHash reads HASH_ZIPLIST or HASH_LISTPACK, in the pairs' order; a
// duplicate field is refused (Redis's lpPairsValidateIntegrityAndDups).
func (d *decoder) packedHash(listpack bool) (shard.Object, bool) {
	ps, ok := d.pairs(listpack)
	if !ok {
		return nil, false
	}
	h := shard.NewHash()
	for _, p := range ps {
		if !h.Set(p[0], p[1]) {
			return nil, false
		}
	}
	return h, true
}

// packedZSet reads ZSET_ZIPLIST or ZSET_LISTPACK; Redis keeps it a
// listpack unless it has more than 128 members.
func (d *decoder) packedZSet(listpack bool) (shard.Object, bool) {
	ps, ok := d.pairs(listpack)
	if !ok {
		return nil, false
	}
	ms := make([]zmember, len(ps))
	for i, p := range ps {
		f, ok := parseScore(p[1])
		if !ok {
			return nil, false
		}
		ms[i] = zmember{p[0], f}
	}
	return newZSet(ms, true)
}

// zipmap reads HASH_ZIPMAP (a hash of Redis before 2.6); a duplicate field
// is refused.
func (d *decoder) zipmap() (shard.Object, bool) {
	b, ok := d.string()
	if !ok {
		return nil, false
	}
	h := shard.NewHash()
	dup := false
	if !zipmapRange(b, func(f, v []byte) { dup = dup || !h.Set(f, v) }) || dup {
		return nil, false
	}
	return h, true
}

// millis reads rdbLoadMillisecondTime's 8 little-endian bytes as a field
// time: at most Redis's EB_EXPIRE_TIME_MAX (2^48-1).
func (d *decoder) millis() (int64, bool) {
	b, ok := d.take(8)
	if !ok {
		return 0, false
	}
	v := binary.LittleEndian.Uint64(b)
	return int64(v), v <= maxFieldTime
}

// maxFieldTime is Redis 7.4's EB_EXPIRE_TIME_MAX.
const maxFieldTime = 1<<48 - 1

// hashMetadata reads Redis 7.4's HASH_METADATA: the earliest field time,
// the field count, then per field its time (0: none, else relative to the
// earliest, plus one), the field and the value. Fields are added as
// Redis's loader adds them (a small hash becomes a listpackex, fields with
// times placed by time); a field twice is refused.
func (d *decoder) hashMetadata() (shard.Object, bool) {
	minAt, ok := d.millis()
	if !ok {
		return nil, false
	}
	n, ok := d.plainLen()
	if !ok || n == 0 {
		return nil, false
	}
	h := shard.NewHash()
	h.EnableFieldTTLs()
	for ; n > 0; n-- {
		rel, ok := d.plainLen()
		if !ok {
			return nil, false
		}
		var at uint64
		if rel != 0 {
			if at = rel + uint64(minAt) - 1; at > maxFieldTime || at < rel {
				return nil, false
			}
		}
		f, ok1 := d.string()
		if !ok1 {
			return nil, false
		}
		v, ok2 := d.string()
		if !ok2 || !h.Set(f, v) {
			return nil, false
		}
		if at != 0 {
			h.SetFieldTTL(f, int64(at))
		}
	}
	return h, true
}

// packedHashEx reads Redis 7.4's HASH_LISTPACK_EX: the earliest field time
// (not needed: the times are absolute), then a listpack of (field, value,
// time) triples, time 0 for none, kept in their order (listpackex's).
func (d *decoder) packedHashEx() (shard.Object, bool) {
	if _, ok := d.millis(); !ok {
		return nil, false
	}
	b, ok := d.string()
	if !ok {
		return nil, false
	}
	type triple struct {
		f, v []byte
		at   int64
	}
	var ts []triple
	var cur triple
	i := 0
	fn := func(e lpEntry) bool {
		switch i % 3 {
		case 0:
			cur.f = e.bytes()
		case 1:
			cur.v = e.bytes()
		case 2:
			if !e.isInt || e.v < 0 || e.v > maxFieldTime {
				return false
			}
			cur.at = e.v
			ts = append(ts, cur)
		}
		i++
		return true
	}
	if !lpRange(b, fn) || i%3 != 0 || len(ts) == 0 {
		return nil, false
	}
	h := shard.NewHash()
	h.EnableFieldTTLs()
	for _, t := range ts {
		if !h.Set(t.f, t.v) {
			return nil, false // a field twice
		}
		if t.at != 0 {
			h.RestoreFieldTTL(t.f, t.at)
		}
	}
	return h, true
}
