package command

import (
	"math"
	"strconv"

	"github.com/shoalcache/shoal/shard"
)

func init() {
	incr := func(name string, run func(*Ctx, [][]byte), arity int) *Command {
		return &Command{Name: name, Arity: arity, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: []string{"write", "string", "fast"}, Run: run}
	}
	Register(
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
	n, ok := ParseInt(args[2])
	if !ok {
		x.Err(ErrNotInteger)
		return
	}
	incrDecr(x, args[1], n)
}

// decrbyCommand: DECRBY key decrement.
func decrbyCommand(x *Ctx, args [][]byte) {
	n, ok := ParseInt(args[2])
	if !ok {
		x.Err(ErrNotInteger)
		return
	}
	if n == math.MinInt64 {
		x.Err(errDecrOverflow)
		return
	}
	incrDecr(x, args[1], -n)
}

// incrDecr is Redis's incrDecrCommand: adds by to the integer value of key
// (0 when missing), keeping the key's expiry, and replies the result.
func incrDecr(x *Ctx, key []byte, by int64) {
	e := x.St.LookupWrite(key, x.Now, x.LFURand)
	if x.wrongType(e, shard.TypeString) {
		return
	}
	var v int64
	if e != nil {
		var ok bool
		if v, ok = ParseInt(e.Value); !ok {
			x.Err(ErrNotInteger)
			return
		}
	}
	if (by < 0 && v < 0 && by < math.MinInt64-v) || (by > 0 && v > 0 && by > math.MaxInt64-v) {
		x.Err(ErrOverflow)
		return
	}
	v += by
	if e == nil {
		// The digits in the entry's own object (shard's inline.go), where
		// the next INCR's lookup finds them without another cache miss.
		var b [20]byte
		x.St.SetCopyOf(key, nil, strconv.AppendInt(b[:0], v, 10), 0, x.Now)
	} else {
		// Rewrite the digits in place: the entry's buffer holds 16, and a
		// longer value moves to a buffer of its own once, so steady
		// counters do not allocate.
		m := x.St.MutableOf(key, e)
		oldCap := cap(m.Value)
		m.Value = strconv.AppendInt(m.Value[:0], v, 10)
		m.SetEnc(shard.EncDefault) // an integer again, as Redis's INCR makes it
		x.St.Resize(key, m, oldCap)
	}
	x.Int(v)
}

// incrbyfloatCommand: INCRBYFLOAT key increment. Computes in C long double
// (see float.go), stores the result formatted as Redis does (%.17Lf with
// trailing zeros removed) and replies it as a bulk string. Rewrites the value
// in place, keeping the key's expiry and access counters.
func incrbyfloatCommand(x *Ctx, args [][]byte) {
	key := args[1]
	e := x.St.LookupWrite(key, x.Now, x.LFURand)
	if x.wrongType(e, shard.TypeString) {
		return
	}
	value := newLD()
	if e != nil {
		var ok bool
		if value, ok = parseLongDouble(e.Value); !ok {
			x.Err(ErrNotFloat)
			return
		}
	}
	incr, ok := parseLongDouble(args[2])
	if !ok {
		x.Err(ErrNotFloat)
		return
	}
	sum, ok := addLongDouble(value, incr)
	if !ok {
		x.Err(ErrIncrFloatNaN)
		return
	}
	if e == nil {
		s := appendLongDouble(nil, sum)
		// createStringObject: embstr or raw, never an integer.
		x.St.Set(key, s, 0, x.Now).SetEnc(shard.EncString)
		x.Bulk(s)
		return
	}
	m := x.St.MutableOf(key, e)
	oldCap := cap(m.Value)
	m.Value = appendLongDouble(m.Value[:0], sum)
	m.SetEnc(shard.EncString)
	x.St.Resize(key, m, oldCap)
	x.Bulk(m.Value)
}
