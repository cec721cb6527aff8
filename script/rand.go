package script

import (
	"math"

	lua "github.com/yuin/gopher-lua"
)

// rand48 is Redis's redisLrand48 (the 48-bit linear congruential generator
// of POSIX lrand48), which backs math.random in Redis's Lua. Shoal seeds it
// with 0 at the start of every script, so a script draws the same numbers on
// every replica (Redis 7 lets one sequence run on across scripts, from
// lrand48's initial state: the first script after a restart draws the
// same numbers as on Redis).
type rand48 struct{ x uint64 }

// reset puts the generator in lrand48's initial state (no srand48 call).
func (r *rand48) reset() { r.x = 0x1234ABCD330E }

const (
	rand48A    = 0x5DEECE66D
	rand48C    = 0xB
	rand48Mask = 1<<48 - 1
	lrand48Max = math.MaxInt32
)

// seed is srand48: the high 32 bits of the state are seed, the low 16 0x330E.
func (r *rand48) seed(seed int32) { r.x = uint64(uint32(seed))<<16 | 0x330E }

func (r *rand48) next() int32 {
	r.x = (rand48A*r.x + rand48C) & rand48Mask
	return int32(r.x >> 17)
}

// mathRandom is Redis's math.random: r in [0,1) from lrand48, then
// floor(r*u)+1 or floor(r*(u-l+1))+l.
func (s *state) mathRandom(L *lua.LState) int {
	r := float64(s.rng.next()%lrand48Max) / float64(lrand48Max)
	switch L.GetTop() {
	case 0:
		L.Push(lua.LNumber(r))
	case 1:
		u := L.CheckInt(1)
		if u < 1 {
			L.ArgError(1, "interval is empty")
		}
		L.Push(lua.LNumber(math.Floor(r*float64(u)) + 1))
	case 2:
		l, u := L.CheckInt(1), L.CheckInt(2)
		if l > u {
			L.ArgError(2, "interval is empty")
		}
		L.Push(lua.LNumber(math.Floor(r*float64(u-l+1)) + float64(l)))
	default:
		L.RaiseError("wrong number of arguments")
	}
	return 1
}

func (s *state) mathRandomseed(L *lua.LState) int {
	s.rng.seed(int32(L.CheckInt(1)))
	return 0
}
