package script

import (
	"encoding/binary"
	"math"

	lua "github.com/yuin/gopher-lua"
)

// The cmsgpack module: lua-cmsgpack 0.4.0 as Redis bundles it (pack,
// unpack, unpack_one, unpack_limit), written for this package with the
// same encoding choices: integers in the smallest MessagePack integer,
// other numbers as float32 when exact else float64, strings as fixstr/str8/
// str16/str32, tables whose keys are 1..n as arrays (an empty table too),
// others as maps, nesting deeper than 16 as nil.

const msgpackMaxNesting = 16

func cmsgpackLib(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("pack", L.NewFunction(msgpackPack))
	t.RawSetString("unpack", L.NewFunction(func(L *lua.LState) int { return msgpackUnpack(L, 0, 0, false) }))
	t.RawSetString("unpack_one", L.NewFunction(func(L *lua.LState) int {
		return msgpackUnpack(L, 1, L.OptInt(2, 0), true)
	}))
	t.RawSetString("unpack_limit", L.NewFunction(func(L *lua.LState) int {
		return msgpackUnpack(L, L.CheckInt(2), L.OptInt(3, 0), true)
	}))
	t.RawSetString("_NAME", lua.LString("cmsgpack"))
	t.RawSetString("_VERSION", lua.LString("lua-cmsgpack 0.4.0"))
	t.RawSetString("_COPYRIGHT", lua.LString("Copyright (C) 2012, Salvatore Sanfilippo"))
	t.RawSetString("_DESCRIPTION", lua.LString("MessagePack C implementation for Lua"))
	return t
}

func msgpackPack(L *lua.LState) int {
	n := L.GetTop()
	if n == 0 {
		L.ArgError(0, "MessagePack pack needs input.")
	}
	var b []byte
	for i := 1; i <= n; i++ {
		b = msgpackEncode(b, L.Get(i), 0)
	}
	L.Push(lua.LString(b))
	return 1
}

func msgpackEncode(b []byte, v lua.LValue, level int) []byte {
	switch v := v.(type) {
	case lua.LBool:
		if v {
			return append(b, 0xc3)
		}
		return append(b, 0xc2)
	case lua.LNumber:
		f := float64(v)
		if f == math.Trunc(f) && f >= -9.223372036854775808e18 && f < 9.223372036854775807e18 && !(f == 0 && math.Signbit(f)) {
			return msgpackInt(b, int64(f))
		}
		if f32 := float32(f); float64(f32) == f {
			b = append(b, 0xca)
			return binary.BigEndian.AppendUint32(b, math.Float32bits(f32))
		}
		b = append(b, 0xcb)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(f))
	case lua.LString:
		n := len(v)
		switch {
		case n < 32:
			b = append(b, 0xa0|byte(n))
		case n <= 0xff:
			b = append(b, 0xd9, byte(n))
		case n <= 0xffff:
			b = append(b, 0xda)
			b = binary.BigEndian.AppendUint16(b, uint16(n))
		default:
			b = append(b, 0xdb)
			b = binary.BigEndian.AppendUint32(b, uint32(n))
		}
		return append(b, v...)
	case *lua.LTable:
		if level >= msgpackMaxNesting {
			return append(b, 0xc0)
		}
		if n, ok := msgpackArrayLen(v); ok {
			b = msgpackHeader(b, n, 0x90, 0xdc, 0xdd)
			for i := 1; i <= n; i++ {
				b = msgpackEncode(b, v.RawGetInt(i), level+1)
			}
			return b
		}
		n := 0
		forEach(v, func(lua.LValue, lua.LValue) { n++ })
		b = msgpackHeader(b, n, 0x80, 0xde, 0xdf)
		forEach(v, func(k, val lua.LValue) {
			b = msgpackEncode(b, k, level+1)
			b = msgpackEncode(b, val, level+1)
		})
		return b
	}
	return append(b, 0xc0)
}

// msgpackArrayLen: the table's keys are exactly 1..n (lua-cmsgpack's
// table_is_an_array; an empty table is an empty array).
func msgpackArrayLen(t *lua.LTable) (int, bool) {
	max, count, ok := 0, 0, true
	forEach(t, func(k, _ lua.LValue) {
		n, isNum := k.(lua.LNumber)
		if !isNum || float64(n) != math.Trunc(float64(n)) || n < 1 {
			ok = false
			return
		}
		count++
		if int(n) > max {
			max = int(n)
		}
	})
	return max, ok && max == count
}

func msgpackHeader(b []byte, n int, fix, b16, b32 byte) []byte {
	switch {
	case n < 16:
		return append(b, fix|byte(n))
	case n <= 0xffff:
		b = append(b, b16)
		return binary.BigEndian.AppendUint16(b, uint16(n))
	}
	b = append(b, b32)
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

func msgpackInt(b []byte, n int64) []byte {
	if n >= 0 {
		switch {
		case n <= 127:
			return append(b, byte(n))
		case n <= 0xff:
			return append(b, 0xcc, byte(n))
		case n <= 0xffff:
			return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(n))
		case n <= 0xffffffff:
			return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n))
		}
		return binary.BigEndian.AppendUint64(append(b, 0xcf), uint64(n))
	}
	switch {
	case n >= -32:
		return append(b, byte(int8(n)))
	case n >= -128:
		return append(b, 0xd0, byte(int8(n)))
	case n >= -32768:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(int16(n)))
	case n >= -2147483648:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(int32(n)))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}

// msgpackUnpack decodes up to limit objects (0: all) from argument 1
// starting at offset; withOffset pushes the next offset (-1 at the end)
// first, as unpack_one and unpack_limit do.
func msgpackUnpack(L *lua.LState, limit, offset int, withOffset bool) int {
	s := L.CheckString(1)
	if offset < 0 || limit < 0 {
		L.RaiseError("Invalid request to unpack with offset of %d and limit of %d.", offset, limit)
	}
	if offset > len(s) {
		L.RaiseError("Start offset %d greater than input length %d.", offset, len(s))
	}
	d := &msgpackDecoder{L: L, s: s, pos: offset, fill: msgpackFillPerByte*(len(s)-offset) + msgpackFillBase}
	var vals []lua.LValue
	for d.pos < len(s) && (limit == 0 || len(vals) < limit) {
		vals = append(vals, d.value(0))
	}
	if withOffset {
		next := d.pos
		if next >= len(s) {
			next = -1
		}
		L.Push(lua.LNumber(next))
	}
	for _, v := range vals {
		L.Push(v)
	}
	if withOffset {
		return len(vals) + 1
	}
	return len(vals)
}

type msgpackDecoder struct {
	L   *lua.LState
	s   string
	pos int
	// fill is how many empty array slots the integer keys of the maps
	// still to decode may leave, in all (see mapOf).
	fill int
}

// The empty array slots that integer map keys may leave in one unpack: a
// few per input byte. gopher-lua keeps every integer key below
// lua.MaxArrayIndex (2^26) in a table's array part and fills the slots
// before it, so a 6-byte map entry with key 2^25 would take 512 MiB.
const (
	msgpackFillPerByte = 64
	msgpackFillBase    = 4096
)

func (d *msgpackDecoder) need(n int) string {
	if n < 0 || d.pos+n > len(d.s) {
		d.L.RaiseError("Missing bytes in input.")
	}
	b := d.s[d.pos : d.pos+n]
	d.pos += n
	return b
}

func (d *msgpackDecoder) uint(n int) uint64 {
	b := d.need(n)
	var v uint64
	for i := 0; i < n; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func (d *msgpackDecoder) value(depth int) lua.LValue {
	if depth > 1000 {
		d.L.RaiseError("Bad data format in input.")
	}
	c := d.need(1)[0]
	switch {
	case c <= 0x7f:
		return lua.LNumber(c)
	case c >= 0xe0:
		return lua.LNumber(int8(c))
	case c&0xf0 == 0x80:
		return d.mapOf(int(c&0x0f), depth)
	case c&0xf0 == 0x90:
		return d.arrayOf(int(c&0x0f), depth)
	case c&0xe0 == 0xa0:
		return lua.LString(d.need(int(c & 0x1f)))
	}
	switch c {
	case 0xc0:
		return lua.LNil
	case 0xc2:
		return lua.LFalse
	case 0xc3:
		return lua.LTrue
	case 0xca:
		return lua.LNumber(math.Float32frombits(uint32(d.uint(4))))
	case 0xcb:
		return lua.LNumber(math.Float64frombits(d.uint(8)))
	case 0xcc:
		return lua.LNumber(d.uint(1))
	case 0xcd:
		return lua.LNumber(d.uint(2))
	case 0xce:
		return lua.LNumber(d.uint(4))
	case 0xcf:
		return lua.LNumber(d.uint(8))
	case 0xd0:
		return lua.LNumber(int8(d.uint(1)))
	case 0xd1:
		return lua.LNumber(int16(d.uint(2)))
	case 0xd2:
		return lua.LNumber(int32(d.uint(4)))
	case 0xd3:
		return lua.LNumber(int64(d.uint(8)))
	case 0xc4, 0xd9:
		return lua.LString(d.need(int(d.uint(1))))
	case 0xc5, 0xda:
		return lua.LString(d.need(int(d.uint(2))))
	case 0xc6, 0xdb:
		return lua.LString(d.need(int(d.uint(4))))
	case 0xdc:
		return d.arrayOf(int(d.uint(2)), depth)
	case 0xdd:
		return d.arrayOf(int(d.uint(4)), depth)
	case 0xde:
		return d.mapOf(int(d.uint(2)), depth)
	case 0xdf:
		return d.mapOf(int(d.uint(4)), depth)
	}
	d.L.RaiseError("Bad data format in input.")
	return lua.LNil
}

func (d *msgpackDecoder) arrayOf(n int, depth int) lua.LValue {
	if n > len(d.s)-d.pos {
		d.L.RaiseError("Missing bytes in input.")
	}
	t := d.L.CreateTable(n, 0)
	for i := 1; i <= n; i++ {
		t.RawSetInt(i, d.value(depth+1))
	}
	return t
}

func (d *msgpackDecoder) mapOf(n int, depth int) lua.LValue {
	if n > len(d.s)-d.pos {
		d.L.RaiseError("Missing bytes in input.")
	}
	t := d.L.CreateTable(0, n)
	dense := 0 // integer keys 1..dense are in t's array part, set or filled
	for i := 0; i < n; i++ {
		k := d.value(depth + 1)
		v := d.value(depth + 1)
		if k == lua.LNil {
			continue
		}
		if kn, ok := k.(lua.LNumber); ok && kn >= 1 && kn < lua.LNumber(lua.MaxArrayIndex) && kn == lua.LNumber(math.Trunc(float64(kn))) {
			if idx := int(kn); idx > dense {
				if gap := idx - dense - 1; gap > d.fill {
					d.L.RaiseError("Integer map key %d in input leaves too many empty array slots (Shoal's Lua stores integer keys below 2^26 as an array).", idx)
				} else {
					d.fill -= gap
				}
				dense = idx
			}
		}
		t.RawSet(k, v)
	}
	return t
}
