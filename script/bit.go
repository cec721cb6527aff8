package script

import (
	"math"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// bitLib is LuaBitOp 1.0.2's bit module (Redis bundles it): 32-bit
// operations whose results are signed 32-bit numbers.
func bitLib(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	un := func(f func(int32) int32) lua.LGFunction {
		return func(L *lua.LState) int { L.Push(lua.LNumber(f(tobit(L, 1)))); return 1 }
	}
	fold := func(f func(a, b int32) int32) lua.LGFunction {
		return func(L *lua.LState) int {
			r := tobit(L, 1)
			for i := 2; i <= L.GetTop(); i++ {
				r = f(r, tobit(L, i))
			}
			L.Push(lua.LNumber(r))
			return 1
		}
	}
	shift := func(f func(a int32, n uint) int32) lua.LGFunction {
		return func(L *lua.LState) int {
			a, n := tobit(L, 1), uint(tobit(L, 2))&31
			L.Push(lua.LNumber(f(a, n)))
			return 1
		}
	}
	fns := map[string]lua.LGFunction{
		"tobit":   un(func(a int32) int32 { return a }),
		"bnot":    un(func(a int32) int32 { return ^a }),
		"bswap":   un(func(a int32) int32 { u := uint32(a); return int32(u>>24 | (u>>8)&0xff00 | (u&0xff00)<<8 | u<<24) }),
		"band":    fold(func(a, b int32) int32 { return a & b }),
		"bor":     fold(func(a, b int32) int32 { return a | b }),
		"bxor":    fold(func(a, b int32) int32 { return a ^ b }),
		"lshift":  shift(func(a int32, n uint) int32 { return int32(uint32(a) << n) }),
		"rshift":  shift(func(a int32, n uint) int32 { return int32(uint32(a) >> n) }),
		"arshift": shift(func(a int32, n uint) int32 { return a >> n }),
		"rol":     shift(func(a int32, n uint) int32 { u := uint32(a); return int32(u<<n | u>>(32-n)) }),
		"ror":     shift(func(a int32, n uint) int32 { u := uint32(a); return int32(u>>n | u<<(32-n)) }),
		"tohex": func(L *lua.LState) int {
			a := tobit(L, 1)
			n := int32(8)
			if L.GetTop() >= 2 {
				n = tobit(L, 2)
			}
			digits := "0123456789abcdef"
			if n < 0 {
				n, digits = -n, "0123456789ABCDEF"
			}
			if n > 8 {
				n = 8
			}
			var b strings.Builder
			for i := n - 1; i >= 0; i-- {
				b.WriteByte(digits[(uint32(a)>>(4*uint(i)))&15])
			}
			L.Push(lua.LString(b.String()))
			return 1
		},
	}
	for name, fn := range fns {
		t.RawSetString(name, L.NewFunction(fn))
	}
	return t
}

// tobit normalizes argument i as LuaBitOp does: the number modulo 2^32, as
// a signed 32-bit integer.
func tobit(L *lua.LState, i int) int32 {
	f := float64(L.CheckNumber(i))
	f = math.Mod(math.Trunc(f), 4294967296)
	return int32(uint32(int64(f)))
}
