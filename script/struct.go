package script

import (
	"encoding/binary"
	"math"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The struct module: Roberto Ierusalimschy's struct library (0.2) as Redis
// bundles it: pack, unpack and size with formats of '<' '>' '!n' ' ' 'x'
// 'b' 'B' 'h' 'H' 'l' 'L' 'T' 'i[n]' 'I[n]' 'f' 'd' 's' 'c[n]', as on
// x86-64 Linux (native little endian, long and size_t of 8 bytes).

const (
	structMaxIntSize = 32
	structMaxAlign   = 8
)

type structHeader struct {
	big   bool
	align int
}

// argError is Lua 5.1's luaL_argerror: "bad argument #n to 'fname' (msg)".
func argError(L *lua.LState, n int, fname, msg string) {
	L.RaiseError("bad argument #%d to '%s' (%s)", n, fname, msg)
}

func structLib(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("pack", L.NewFunction(structPack))
	t.RawSetString("unpack", L.NewFunction(structUnpack))
	t.RawSetString("size", L.NewFunction(structSize))
	return t
}

// structGetNum reads an optional decimal size at fmt[*i:], df if none.
func structGetNum(L *lua.LState, f string, i *int, df int) int {
	if *i >= len(f) || f[*i] < '0' || f[*i] > '9' {
		return df
	}
	a := 0
	for *i < len(f) && f[*i] >= '0' && f[*i] <= '9' {
		if a > (math.MaxInt32-9)/10 {
			L.RaiseError("integral size out of limits")
		}
		a = a*10 + int(f[*i]-'0')
		*i++
	}
	return a
}

// structOptSize returns the size of option opt (reading its number), and
// handles the options that change the header.
func structOptSize(L *lua.LState, fname string, opt byte, f string, i *int, h *structHeader) int {
	switch opt {
	case 'B', 'b':
		return 1
	case 'H', 'h':
		return 2
	case 'L', 'l', 'T':
		return 8
	case 'f':
		return 4
	case 'd':
		return 8
	case 'x':
		return 1
	case 'c':
		return structGetNum(L, f, i, 1)
	case 'i', 'I':
		sz := structGetNum(L, f, i, 4)
		if sz > structMaxIntSize {
			L.RaiseError("integral size %d is larger than limit of %d", sz, structMaxIntSize)
		}
		return sz
	case ' ', 's':
		return 0
	case '>':
		h.big = true
		return 0
	case '<':
		h.big = false
		return 0
	case '!':
		a := structGetNum(L, f, i, structMaxAlign)
		if a == 0 || a&(a-1) != 0 {
			L.RaiseError("alignment %d is not a power of 2", a)
		}
		h.align = a
		return 0
	}
	argError(L, 1, fname, "invalid format option '"+string(opt)+"'")
	return 0
}

func structToAlign(n, size int, opt byte, h *structHeader) int {
	if size == 0 || opt == 'c' {
		return 0
	}
	if size > h.align {
		size = h.align
	}
	return (size - (n & (size - 1))) & (size - 1)
}

func structPutInt(b []byte, n float64, big bool, size int) []byte {
	var v uint64
	if n < 0 {
		v = uint64(int64(n))
	} else {
		v = uint64(n)
	}
	buf := make([]byte, size)
	for k := 0; k < size; k++ {
		j := k
		if big {
			j = size - 1 - k
		}
		buf[j] = byte(v)
		v >>= 8
	}
	return append(b, buf...)
}

func structPack(L *lua.LState) int {
	const fname = "pack"
	f := L.CheckString(1)
	h := structHeader{align: 1}
	arg := 2
	var b []byte
	for i := 0; i < len(f); {
		opt := f[i]
		i++
		size := structOptSize(L, fname, opt, f, &i, &h)
		for k := structToAlign(len(b), size, opt, &h); k > 0; k-- {
			b = append(b, 0)
		}
		switch opt {
		case 'b', 'B', 'h', 'H', 'l', 'L', 'T', 'i', 'I':
			b = structPutInt(b, float64(L.CheckNumber(arg)), h.big, size)
			arg++
		case 'x':
			b = append(b, 0)
		case 'f':
			v := math.Float32bits(float32(L.CheckNumber(arg)))
			arg++
			if h.big {
				b = binary.BigEndian.AppendUint32(b, v)
			} else {
				b = binary.LittleEndian.AppendUint32(b, v)
			}
		case 'd':
			v := math.Float64bits(float64(L.CheckNumber(arg)))
			arg++
			if h.big {
				b = binary.BigEndian.AppendUint64(b, v)
			} else {
				b = binary.LittleEndian.AppendUint64(b, v)
			}
		case 'c', 's':
			s := L.CheckString(arg)
			if size == 0 {
				size = len(s)
			}
			arg++
			if len(s) < size {
				argError(L, arg, fname, "string too short") // struct.c checks after arg++
			}
			b = append(b, s[:size]...)
			if opt == 's' {
				b = append(b, 0)
			}
		}
	}
	L.Push(lua.LString(b))
	return 1
}

func structGetInt(d string, big, signed bool, size int) float64 {
	var l uint64
	for k := 0; k < size; k++ {
		j := size - 1 - k
		if big {
			j = k
		}
		l = l<<8 | uint64(d[j])
	}
	if !signed {
		return float64(l)
	}
	if size*8-1 < 64 {
		mask := ^uint64(0) << uint(size*8-1)
		if l&mask != 0 {
			l |= mask
		}
	}
	return float64(int64(l))
}

func structUnpack(L *lua.LState) int {
	const fname = "unpack"
	f := L.CheckString(1)
	data := L.CheckString(2)
	pos := L.OptInt(3, 1) - 1
	if pos < 0 {
		argError(L, 3, fname, "offset must be 1 or greater")
	}
	h := structHeader{align: 1}
	n := 0
	var prev lua.LValue = lua.LNil
	for i := 0; i < len(f); {
		opt := f[i]
		i++
		size := structOptSize(L, fname, opt, f, &i, &h)
		pos += structToAlign(pos, size, opt, &h)
		if pos+size > len(data) || pos > len(data) {
			argError(L, 2, fname, "data string too short")
		}
		switch opt {
		case 'b', 'B', 'h', 'H', 'l', 'L', 'T', 'i', 'I':
			signed := opt >= 'a' && opt <= 'z'
			prev = lua.LNumber(structGetInt(data[pos:pos+size], h.big, signed, size))
			L.Push(prev)
			n++
		case 'x':
		case 'f':
			var v uint32
			if h.big {
				v = binary.BigEndian.Uint32([]byte(data[pos : pos+4]))
			} else {
				v = binary.LittleEndian.Uint32([]byte(data[pos : pos+4]))
			}
			prev = lua.LNumber(math.Float32frombits(v))
			L.Push(prev)
			n++
		case 'd':
			var v uint64
			if h.big {
				v = binary.BigEndian.Uint64([]byte(data[pos : pos+8]))
			} else {
				v = binary.LittleEndian.Uint64([]byte(data[pos : pos+8]))
			}
			prev = lua.LNumber(math.Float64frombits(v))
			L.Push(prev)
			n++
		case 'c':
			if size == 0 {
				num, ok := prev.(lua.LNumber)
				if n == 0 || !ok {
					L.RaiseError("format 'c0' needs a previous size")
				}
				size = int(num)
				L.Pop(1)
				n--
				if pos+size > len(data) || size < 0 {
					argError(L, 2, fname, "data string too short")
				}
			}
			prev = lua.LString(data[pos : pos+size])
			L.Push(prev)
			n++
		case 's':
			e := strings.IndexByte(data[pos:], 0)
			if e < 0 {
				L.RaiseError("unfinished string in data")
			}
			size = e + 1
			prev = lua.LString(data[pos : pos+e])
			L.Push(prev)
			n++
		}
		pos += size
	}
	L.Push(lua.LNumber(pos + 1))
	return n + 1
}

func structSize(L *lua.LState) int {
	const fname = "size"
	f := L.CheckString(1)
	h := structHeader{align: 1}
	pos := 0
	for i := 0; i < len(f); {
		opt := f[i]
		i++
		size := structOptSize(L, fname, opt, f, &i, &h)
		pos += structToAlign(pos, size, opt, &h)
		if opt == 's' {
			argError(L, 1, fname, "option 's' has no fixed size")
		} else if opt == 'c' && size == 0 {
			argError(L, 1, fname, "option 'c0' has no fixed size")
		}
		pos += size
	}
	L.Push(lua.LNumber(pos))
	return 1
}
