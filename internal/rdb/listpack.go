package rdb

import (
	"encoding/binary"
	"strconv"
)

// The packed containers of RDB payloads: listpack (Redis 7's small hashes,
// sorted sets and list nodes), ziplist (their format before 7.0, still
// accepted by RESTORE), zipmap (small hashes before Redis 2.6) and intset.

// listpack builds a listpack as Redis's lpAppend does.
type listpack struct {
	b []byte
	n int
}

// lpHeader is the listpack header: total bytes (4) and element count (2).
const lpHeader = 6

func newListpack(b []byte) listpack {
	return listpack{b: append(b, 0, 0, 0, 0, 0, 0)}
}

// lpParseInt is listpack.c's lpStringToInt64: a canonical decimal int64 of
// at most 20 bytes.
func lpParseInt(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) >= 21 {
		return 0, false
	}
	return parseCanonical(s)
}

// parseCanonical parses s when it is the exact decimal form of an int64
// (no '+', no leading zero, no "-0"), as Redis's string2ll round trip.
func parseCanonical(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	if len(s) == 1 && s[0] == '0' {
		return 0, true
	}
	i := 0
	if s[0] == '-' {
		i = 1
		if len(s) == 1 {
			return 0, false
		}
	}
	if s[i] < '1' || s[i] > '9' {
		return 0, false
	}
	for _, c := range s[i:] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(string(s), 10, 64)
	return v, err == nil
}

// entrySize returns the bytes an element takes in a listpack (encoding,
// data and back length).
func lpEntrySize(s []byte) int {
	var l int
	if v, ok := lpParseInt(s); ok {
		l = lpIntLen(v)
	} else {
		l = lpStrEncLen(len(s))
	}
	return l + lpBacklenSize(l)
}

func lpIntLen(v int64) int {
	switch {
	case v >= 0 && v <= 127:
		return 1
	case v >= -4096 && v <= 4095:
		return 2
	case v >= -32768 && v <= 32767:
		return 3
	case v >= -8388608 && v <= 8388607:
		return 4
	case v >= -2147483648 && v <= 2147483647:
		return 5
	}
	return 9
}

func lpStrEncLen(n int) int {
	switch {
	case n < 64:
		return 1 + n
	case n < 4096:
		return 2 + n
	}
	return 5 + n
}

func lpBacklenSize(l int) int {
	switch {
	case l <= 127:
		return 1
	case l < 16383:
		return 2
	case l < 2097151:
		return 3
	case l < 268435455:
		return 4
	}
	return 5
}

// appendBacklen appends lpEncodeBacklen's bytes for an entry of l bytes.
func appendBacklen(b []byte, l int) []byte {
	switch {
	case l <= 127:
		return append(b, byte(l))
	case l < 16383:
		return append(b, byte(l>>7), byte(l&127|128))
	case l < 2097151:
		return append(b, byte(l>>14), byte((l>>7)&127|128), byte(l&127|128))
	case l < 268435455:
		return append(b, byte(l>>21), byte((l>>14)&127|128), byte((l>>7)&127|128), byte(l&127|128))
	}
	return append(b, byte(l>>28), byte((l>>21)&127|128), byte((l>>14)&127|128), byte((l>>7)&127|128), byte(l&127|128))
}

// appendString appends s, integer-encoded when it is a canonical integer.
func (lp *listpack) appendString(s []byte) {
	if v, ok := lpParseInt(s); ok {
		lp.appendInt(v)
		return
	}
	start := len(lp.b)
	n := len(s)
	switch {
	case n < 64:
		lp.b = append(lp.b, 0x80|byte(n))
	case n < 4096:
		lp.b = append(lp.b, 0xE0|byte(n>>8), byte(n))
	default:
		lp.b = append(lp.b, 0xF0)
		lp.b = binary.LittleEndian.AppendUint32(lp.b, uint32(n))
	}
	lp.b = append(lp.b, s...)
	lp.b = appendBacklen(lp.b, len(lp.b)-start)
	lp.n++
}

// appendInt appends v in the smallest integer encoding.
func (lp *listpack) appendInt(v int64) {
	start := len(lp.b)
	switch {
	case v >= 0 && v <= 127:
		lp.b = append(lp.b, byte(v))
	case v >= -4096 && v <= 4095:
		u := v
		if u < 0 {
			u += 1 << 13
		}
		lp.b = append(lp.b, byte(u>>8)|0xC0, byte(u))
	case v >= -32768 && v <= 32767:
		lp.b = append(lp.b, 0xF1, byte(v), byte(v>>8))
	case v >= -8388608 && v <= 8388607:
		lp.b = append(lp.b, 0xF2, byte(v), byte(v>>8), byte(v>>16))
	case v >= -2147483648 && v <= 2147483647:
		lp.b = append(lp.b, 0xF3)
		lp.b = binary.LittleEndian.AppendUint32(lp.b, uint32(v))
	default:
		lp.b = append(lp.b, 0xF4)
		lp.b = binary.LittleEndian.AppendUint64(lp.b, uint64(v))
	}
	lp.b = appendBacklen(lp.b, len(lp.b)-start)
	lp.n++
}

// finish terminates the listpack, fills its header and returns its bytes
// (from the start given to newListpack: the caller slices).
func (lp *listpack) finish(start int) []byte {
	lp.b = append(lp.b, 0xFF)
	binary.LittleEndian.PutUint32(lp.b[start:], uint32(len(lp.b)-start))
	n := lp.n
	if n >= 65535 {
		n = 65535
	}
	binary.LittleEndian.PutUint16(lp.b[start+4:], uint16(n))
	return lp.b
}

// lpEntry is a decoded container element: a string (s) or an integer.
type lpEntry struct {
	s     []byte
	v     int64
	isInt bool
}

// bytes returns the element as Redis's string form.
func (e lpEntry) bytes() []byte {
	if e.isInt {
		return strconv.AppendInt(nil, e.v, 10)
	}
	return e.s
}

// lpRange validates a listpack and calls fn for each element in order,
// stopping at fn's false. The strings alias p. It reports whether the
// listpack is well formed (Redis's lpValidateIntegrity with deep checks):
// header length, terminator, every entry and back length in bounds, the
// count when the header has one.
func lpRange(p []byte, fn func(lpEntry) bool) bool {
	if len(p) < lpHeader+1 || int(binary.LittleEndian.Uint32(p)) != len(p) || p[len(p)-1] != 0xFF {
		return false
	}
	want := int(binary.LittleEndian.Uint16(p[4:]))
	off, n := lpHeader, 0
	end := len(p) - 1
	for off < end {
		var e lpEntry
		c := p[off]
		var l int // encoding + data length
		switch {
		case c&0x80 == 0:
			e.v, e.isInt, l = int64(c&0x7F), true, 1
		case c&0xC0 == 0x80:
			sl := int(c & 0x3F)
			l = 1 + sl
			if off+l > end {
				return false
			}
			e.s = p[off+1 : off+l]
		case c&0xE0 == 0xC0:
			if off+2 > end {
				return false
			}
			u := int64(c&0x1F)<<8 | int64(p[off+1])
			if u >= 1<<12 {
				u -= 1 << 13
			}
			e.v, e.isInt, l = u, true, 2
		case c&0xF0 == 0xE0:
			if off+2 > end {
				return false
			}
			sl := int(c&0x0F)<<8 | int(p[off+1])
			l = 2 + sl
			if off+l > end {
				return false
			}
			e.s = p[off+2 : off+l]
		case c == 0xF0:
			if off+5 > end {
				return false
			}
			sl := uint64(binary.LittleEndian.Uint32(p[off+1:]))
			if uint64(off)+5+sl > uint64(end) {
				return false
			}
			l = 5 + int(sl)
			e.s = p[off+5 : off+l]
		case c >= 0xF1 && c <= 0xF4:
			w := [...]int{2, 3, 4, 8}[c-0xF1]
			if off+1+w > end {
				return false
			}
			var u uint64
			for i := w - 1; i >= 0; i-- {
				u = u<<8 | uint64(p[off+1+i])
			}
			shift := 64 - 8*uint(w)
			e.v, e.isInt, l = int64(u<<shift)>>shift, true, 1+w
		default: // 0xF5-0xFE: unused; 0xFF before the end
			return false
		}
		bl := lpBacklenSize(l)
		if off+l+bl > end {
			return false
		}
		// The back length must say l, in its own encoding.
		var chk [5]byte
		if string(appendBacklen(chk[:0], l)) != string(p[off+l:off+l+bl]) {
			return false
		}
		off += l + bl
		n++
		if !fn(e) {
			return true
		}
	}
	return off == end && (want == 65535 || want == n)
}

// zlRange is lpRange for a ziplist (Redis's ziplistValidateIntegrity with
// deep checks): header, entries, each entry's previous length, terminator.
func zlRange(p []byte, fn func(lpEntry) bool) bool {
	const hdr = 10
	if len(p) < hdr+1 || int(binary.LittleEndian.Uint32(p)) != len(p) || p[len(p)-1] != 0xFF {
		return false
	}
	tail := int(binary.LittleEndian.Uint32(p[4:]))
	want := int(binary.LittleEndian.Uint16(p[8:]))
	off, n, prev, last := hdr, 0, 0, hdr
	end := len(p) - 1
	for off < end {
		start := off
		// previous entry length
		var pl int
		if p[off] < 254 {
			pl = int(p[off])
			off++
		} else if p[off] == 254 {
			if off+5 > end {
				return false
			}
			pl = int(binary.LittleEndian.Uint32(p[off+1:]))
			off += 5
		} else {
			return false
		}
		if pl != prev {
			return false
		}
		if off >= end {
			return false
		}
		var e lpEntry
		c := p[off]
		switch {
		case c>>6 == 0:
			sl := int(c & 0x3F)
			if off+1+sl > end {
				return false
			}
			e.s = p[off+1 : off+1+sl]
			off += 1 + sl
		case c>>6 == 1:
			if off+2 > end {
				return false
			}
			sl := int(c&0x3F)<<8 | int(p[off+1])
			if off+2+sl > end {
				return false
			}
			e.s = p[off+2 : off+2+sl]
			off += 2 + sl
		case c == 0x80:
			if off+5 > end {
				return false
			}
			sl := uint64(binary.BigEndian.Uint32(p[off+1:]))
			if uint64(off)+5+sl > uint64(end) {
				return false
			}
			e.s = p[off+5 : off+5+int(sl)]
			off += 5 + int(sl)
		case c >= 0xF1 && c <= 0xFD:
			e.v, e.isInt = int64(c&0x0F)-1, true
			off++
		default:
			var w int
			switch c {
			case 0xC0:
				w = 2
			case 0xD0:
				w = 4
			case 0xE0:
				w = 8
			case 0xF0:
				w = 3
			case 0xFE:
				w = 1
			default:
				return false
			}
			if off+1+w > end {
				return false
			}
			var u uint64
			for i := w - 1; i >= 0; i-- {
				u = u<<8 | uint64(p[off+1+i])
			}
			shift := 64 - 8*uint(w)
			e.v, e.isInt = int64(u<<shift)>>shift, true
			off += 1 + w
		}
		prev, last = off-start, start
		n++
		if !fn(e) {
			return true
		}
	}
	if off != end || (want != 65535 && want != n) {
		return false
	}
	return n == 0 && tail == hdr || n > 0 && tail == last
}

// intsetRange validates an intset (encoding 2, 4 or 8; the length; members
// strictly ascending, so no duplicates) and calls fn for each member.
func intsetRange(p []byte, fn func(int64)) bool {
	if len(p) < 8 {
		return false
	}
	w := int(binary.LittleEndian.Uint32(p))
	if w != 2 && w != 4 && w != 8 {
		return false
	}
	n := uint64(binary.LittleEndian.Uint32(p[4:]))
	if uint64(len(p)-8) != n*uint64(w) {
		return false
	}
	var prev int64
	for i := 0; i < int(n); i++ {
		q := p[8+i*w:]
		var v int64
		switch w {
		case 2:
			v = int64(int16(binary.LittleEndian.Uint16(q)))
		case 4:
			v = int64(int32(binary.LittleEndian.Uint32(q)))
		default:
			v = int64(binary.LittleEndian.Uint64(q))
		}
		if i > 0 && v <= prev {
			return false
		}
		prev = v
		fn(v)
	}
	return true
}

// zipmapRange validates a zipmap (Redis's zipmapValidateIntegrity with
// deep checks; unlike it, nothing may follow the terminator) and calls fn
// for each field and value.
func zipmapRange(p []byte, fn func(f, v []byte)) bool {
	if len(p) < 2 || p[len(p)-1] != 0xFF {
		return false
	}
	end := len(p) - 1
	off, n := 1, 0
	// zmLen reads a length: one byte below 254, else 254 and 4 bytes LE.
	// Redis's iterator assumes the shortest form (zipmapRawKeyLength), so
	// a longer one is refused, as Redis ends up refusing it.
	zmLen := func() (int, bool) {
		if off >= end {
			return 0, false
		}
		if p[off] < 254 {
			off++
			return int(p[off-1]), true
		}
		if off+5 > end {
			return 0, false
		}
		l := binary.LittleEndian.Uint32(p[off+1:])
		off += 5
		return int(l), l >= 254 && uint64(l) <= uint64(end-off)
	}
	for off < end && p[off] != 0xFF {
		fl, ok := zmLen()
		if !ok || fl > end-off {
			return false
		}
		f := p[off : off+fl]
		off += fl
		vl, ok := zmLen()
		if !ok || off >= end {
			return false
		}
		free := int(p[off])
		off++
		if vl+free > end-off {
			return false
		}
		fn(f, p[off:off+vl])
		off += vl + free
		n++
	}
	return off == end && n > 0 && (p[0] == 254 || int(p[0]) == n)
}
