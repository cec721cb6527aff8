package server

import (
	"math"
	"strconv"
)

func init() {
	incr := func(name string, run func(*Ctx, [][]byte), arity int) *command {
		return &command{name: name, arity: arity, kind: kindWrite, flags: flagWrite | flagDenyOOM | flagFast,
			firstKey: 1, lastKey: 1, acl: []string{"write", "string", "fast"}, run: run}
	}
	register(
		incr("incr", incrCommand, 2),
		incr("decr", decrCommand, 2),
		incr("incrby", incrbyCommand, 3),
		incr("decrby", decrbyCommand, 3),
		incr("incrbyfloat", incrbyfloatCommand, 3),
	)
}

// RESP error texts of the INCR family.
const errDecrOverflow = "ERR decrement would overflow"

// incrCommand: INCR key.
func incrCommand(x *Ctx, args [][]byte) { incrDecr(x, args[1], 1) }

// decrCommand: DECR key.
func decrCommand(x *Ctx, args [][]byte) { incrDecr(x, args[1], -1) }

// incrbyCommand: INCRBY key increment.
func incrbyCommand(x *Ctx, args [][]byte) {
	n, ok := parseInt(args[2])
	if !ok {
		x.err(errNotInteger)
		return
	}
	incrDecr(x, args[1], n)
}

// decrbyCommand: DECRBY key decrement.
func decrbyCommand(x *Ctx, args [][]byte) {
	n, ok := parseInt(args[2])
	if !ok {
		x.err(errNotInteger)
		return
	}
	if n == math.MinInt64 {
		x.err(errDecrOverflow)
		return
	}
	incrDecr(x, args[1], -n)
}

// incrDecr is Redis's incrDecrCommand: adds by to the integer value of key
// (0 when missing), keeping the key's expiry, and replies the result.
func incrDecr(x *Ctx, key []byte, by int64) {
	e := x.St.LookupWrite(key, x.Now, x.r)
	var v int64
	if e != nil {
		var ok bool
		if v, ok = parseInt(e.Value); !ok {
			x.err(errNotInteger)
			return
		}
	}
	if (by < 0 && v < 0 && by < math.MinInt64-v) || (by > 0 && v > 0 && by > math.MaxInt64-v) {
		x.err(errOverflow)
		return
	}
	v += by
	if e == nil {
		x.St.Set(key, strconv.AppendInt(make([]byte, 0, 20), v, 10), 0, x.Now)
	} else {
		// Rewrite the digits in place: the buffer holds up to 20 bytes
		// once grown, so steady counters do not allocate.
		m := x.St.Mutable(key)
		oldCap := cap(m.Value)
		m.Value = strconv.AppendInt(m.Value[:0], v, 10)
		x.St.Resize(key, m, oldCap)
	}
	x.int(v)
}

// incrbyfloatCommand: INCRBYFLOAT key increment. Computes in C long double
// (see float.go), stores the result formatted as Redis does (%.17Lf with
// trailing zeros removed) and replies it as a bulk string. Rewrites the value
// in place, keeping the key's expiry and access counters.
func incrbyfloatCommand(x *Ctx, args [][]byte) {
	key := args[1]
	e := x.St.LookupWrite(key, x.Now, x.r)
	value := newLD()
	if e != nil {
		var ok bool
		if value, ok = parseLongDouble(e.Value); !ok {
			x.err(errNotFloat)
			return
		}
	}
	incr, ok := parseLongDouble(args[2])
	if !ok {
		x.err(errNotFloat)
		return
	}
	sum, ok := addLongDouble(value, incr)
	if !ok {
		x.err(errIncrFloatNaN)
		return
	}
	if e == nil {
		s := appendLongDouble(nil, sum)
		x.St.Set(key, s, 0, x.Now)
		x.bulk(s)
		return
	}
	m := x.St.Mutable(key)
	oldCap := cap(m.Value)
	m.Value = appendLongDouble(m.Value[:0], sum)
	x.St.Resize(key, m, oldCap)
	x.bulk(m.Value)
}
