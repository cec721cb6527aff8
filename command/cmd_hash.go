package command

import (
	"math"
	"slices"
	"strconv"

	"github.com/shoalcache/shoal/shard"
)

// The hash commands (Redis 7.0's t_hash.c): HSET, HSETNX, HMSET, HGET,
// HMGET, HGETALL, HKEYS, HVALS, HDEL, HLEN, HSTRLEN, HEXISTS, HINCRBY,
// HINCRBYFLOAT, HRANDFIELD, HSCAN (field expiry: cmd_hash_ttl.go). The
// value is a shard.Hash; writes change it in place through
// Store.EditObject, which copies it first when a snapshot shares it.

func init() {
	w := func(name string, arity int, acl string, run func(*Ctx, [][]byte)) *Command {
		fl := FlagWrite | FlagDenyOOM
		if acl == "fast" {
			fl |= FlagFast
		}
		return &Command{Name: name, Arity: arity, Kind: KindWrite, Flags: fl,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: []string{"write", "hash", acl}, Run: run}
	}
	r := func(name string, arity int, acl string, run func(*Ctx, [][]byte)) *Command {
		fl := FlagReadOnly
		if acl == "fast" {
			fl |= FlagFast
		}
		return &Command{Name: name, Arity: arity, Kind: KindRead, Flags: fl,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: []string{"read", "hash", acl}, Run: run}
	}
	hdel := w("hdel", -3, "fast", hdelCommand)
	hdel.Flags = FlagWrite | FlagFast
	Register(
		w("hset", -4, "fast", hsetCommand),
		w("hsetnx", 4, "fast", hsetnxCommand),
		w("hmset", -4, "fast", hmsetCommand),
		w("hincrby", 4, "fast", hincrbyCommand),
		w("hincrbyfloat", 4, "fast", hincrbyfloatCommand),
		hdel,
		r("hget", 3, "fast", hgetCommand),
		r("hmget", -3, "fast", hmgetCommand),
		r("hgetall", 2, "slow", hgetallCommand),
		r("hkeys", 2, "slow", hkeysCommand),
		r("hvals", 2, "slow", hvalsCommand),
		r("hlen", 2, "fast", hlenCommand),
		r("hstrlen", 3, "fast", hstrlenCommand),
		r("hexists", 3, "fast", hexistsCommand),
		r("hrandfield", -2, "slow", hrandfieldCommand),
		r("hscan", -3, "slow", hscanCommand),
	)
}

// hashRead returns the hash of key for a read (see objRead), as seen at
// x.Now: without its expired fields (nil when none is left).
func (x *Ctx) hashRead(key []byte) (*shard.Hash, bool) {
	h, ok := objRead[*shard.Hash](x, key, shard.TypeHash)
	if h != nil && h.FieldsDue(x.Now) {
		if h = h.Live(x.Now); h.Len() == 0 {
			return nil, true
		}
	}
	return h, ok
}

// hashWrite returns key's hash, ready to change, for a write command: with
// create, an empty hash is stored when the key is missing (as Redis's
// hashTypeLookupWriteOrCreate); without, the edit's o is nil then. It
// replies WRONGTYPE and returns false when the key holds another type.
func (x *Ctx) hashWrite(key []byte, create bool) (objEdit[*shard.Hash], bool) {
	if _, ok := x.hashPeekWrite(key); !ok {
		return objEdit[*shard.Hash]{}, false
	}
	var newObj func() *shard.Hash
	if create {
		newObj = shard.NewHash
	}
	return objWrite(x, key, newObj), true
}

// hashPeekWrite returns key's hash for a write to look at (see
// objPeekWrite), after deleting its fields expired at x.Now (and the key
// with its last field): inside the FSM, at the entry's time, so every
// replica deletes the same.
func (x *Ctx) hashPeekWrite(key []byte) (*shard.Hash, bool) {
	h, ok := objPeekWrite[*shard.Hash](x, key, shard.TypeHash)
	if h != nil && h.FieldsDue(x.Now) {
		x.St.ExpireFields(key, x.Now)
		h, ok = objPeekWrite[*shard.Hash](x, key, shard.TypeHash)
	}
	return h, ok
}

// hsetCommand: HSET key field value [field value ...]; replies the number
// of fields added.
func hsetCommand(x *Ctx, args [][]byte) {
	if len(args)%2 == 1 {
		x.Err(ErrWrongArgs("hset"))
		return
	}
	if n := hsetPairs(x, args); n >= 0 {
		x.Int(n)
	}
}

// hmsetCommand: HMSET key field value [field value ...]; replies OK.
func hmsetCommand(x *Ctx, args [][]byte) {
	if len(args)%2 == 1 {
		x.Err(ErrWrongArgs("hmset"))
		return
	}
	if hsetPairs(x, args) >= 0 {
		x.OK()
	}
}

// hsetPairs sets the pairs of args[2:] and returns how many fields were
// new, or -1 after replying WRONGTYPE.
func hsetPairs(x *Ctx, args [][]byte) int64 {
	w, ok := x.hashWrite(args[1], true)
	if !ok {
		return -1
	}
	var added int64
	for j := 2; j < len(args); j += 2 {
		if w.o.Set(args[j], args[j+1]) {
			added++
		}
	}
	w.done(x, args[1])
	return added
}

// hsetnxCommand: HSETNX key field value.
func hsetnxCommand(x *Ctx, args [][]byte) {
	h, ok := x.hashPeekWrite(args[1])
	if !ok {
		return
	}
	if h != nil {
		if _, ok := h.Get(args[2]); ok {
			x.Int(0)
			return
		}
	}
	w, _ := x.hashWrite(args[1], true)
	w.o.Set(args[2], args[3])
	w.done(x, args[1])
	x.Int(1)
}

// hgetCommand: HGET key field.
func hgetCommand(x *Ctx, args [][]byte) {
	h, ok := x.hashRead(args[1])
	if !ok {
		return
	}
	if h != nil {
		if v, found := h.Get(args[2]); found {
			x.Bulk(v)
			return
		}
	}
	x.Null()
}

// hmgetCommand: HMGET key field [field ...].
func hmgetCommand(x *Ctx, args [][]byte) {
	h, ok := x.hashRead(args[1])
	if !ok {
		return
	}
	x.Array(len(args) - 2)
	for _, f := range args[2:] {
		if h != nil {
			if v, found := h.Get(f); found {
				x.Bulk(v)
				continue
			}
		}
		x.Null()
	}
}

// hdelCommand: HDEL key field [field ...]; deletes the key once empty. A
// key that loses no field is not changed (WATCH, tracking and migration
// see no change), as Redis.
func hdelCommand(x *Ctx, args [][]byte) {
	h, ok := x.hashPeekWrite(args[1])
	if !ok {
		return
	}
	if h == nil || !slices.ContainsFunc(args[2:], func(f []byte) bool {
		_, found := h.Get(f)
		return found
	}) {
		x.Int(0)
		return
	}
	w, _ := x.hashWrite(args[1], false)
	var n int64
	for _, f := range args[2:] {
		if w.o.Delete(f) {
			n++
			if w.o.Len() == 0 {
				break
			}
		}
	}
	w.done(x, args[1])
	x.Int(n)
}

// hlenCommand: HLEN key.
func hlenCommand(x *Ctx, args [][]byte) {
	h, ok := x.hashRead(args[1])
	if !ok {
		return
	}
	if h == nil {
		x.Int(0)
		return
	}
	x.Int(int64(h.Len()))
}

// hstrlenCommand: HSTRLEN key field.
func hstrlenCommand(x *Ctx, args [][]byte) {
	h, ok := x.hashRead(args[1])
	if !ok {
		return
	}
	var n int
	if h != nil {
		v, _ := h.Get(args[2])
		n = len(v)
	}
	x.Int(int64(n))
}

// hexistsCommand: HEXISTS key field.
func hexistsCommand(x *Ctx, args [][]byte) {
	h, ok := x.hashRead(args[1])
	if !ok {
		return
	}
	found := false
	if h != nil {
		_, found = h.Get(args[2])
	}
	if found {
		x.Int(1)
	} else {
		x.Int(0)
	}
}

// What hgetallGeneric replies.
const (
	hashKeys = 1 << iota
	hashVals
)

func hgetallCommand(x *Ctx, args [][]byte) { hgetallGeneric(x, args[1], hashKeys|hashVals) }
func hkeysCommand(x *Ctx, args [][]byte)   { hgetallGeneric(x, args[1], hashKeys) }
func hvalsCommand(x *Ctx, args [][]byte)   { hgetallGeneric(x, args[1], hashVals) }

// hgetallGeneric is Redis's genericHgetallCommand: a map of fields and
// values (RESP3; a flat array in RESP2) for HGETALL, an array otherwise.
func hgetallGeneric(x *Ctx, key []byte, what int) {
	h, ok := x.hashRead(key)
	if !ok {
		return
	}
	n := 0
	if h != nil {
		n = h.Len()
	}
	if what == hashKeys|hashVals {
		x.MapHeader(n)
	} else {
		x.Array(n)
	}
	if h == nil {
		return
	}
	h.Range(func(f, v []byte) bool {
		if what&hashKeys != 0 {
			x.Bulk(f)
		}
		if what&hashVals != 0 {
			x.Bulk(v)
		}
		return true
	})
}

// hincrbyCommand: HINCRBY key field increment.
func hincrbyCommand(x *Ctx, args [][]byte) {
	incr, ok := ParseInt(args[3])
	if !ok {
		x.Err(ErrNotInteger)
		return
	}
	key := args[1]
	h, ok := x.hashPeekWrite(key)
	if !ok {
		return
	}
	var v int64
	if h != nil {
		if cur, found := h.Get(args[2]); found {
			if v, ok = ParseInt(cur); !ok {
				x.Err(ErrHashNotInt)
				return
			}
		}
	}
	if (incr < 0 && v < 0 && incr < math.MinInt64-v) || (incr > 0 && v > 0 && incr > math.MaxInt64-v) {
		x.Err(ErrOverflow)
		return
	}
	v += incr
	var buf [20]byte
	w, _ := x.hashWrite(key, true)
	w.o.SetKeepTTL(args[2], strconv.AppendInt(buf[:0], v, 10))
	w.done(x, key)
	x.Int(v)
}

// hincrbyfloatCommand: HINCRBYFLOAT key field increment, in C long double
// as Redis (see float.go); the result is stored and replied as a string.
func hincrbyfloatCommand(x *Ctx, args [][]byte) {
	incr, ok := parseLongDouble(args[3])
	if !ok {
		x.Err(ErrNotFloat)
		return
	}
	if incr.IsInf() {
		x.Err(ErrNaNOrInf)
		return
	}
	key := args[1]
	h, ok := x.hashPeekWrite(key)
	if !ok {
		return
	}
	value := newLD()
	if h != nil {
		if cur, found := h.Get(args[2]); found {
			if value, ok = parseLongDouble(cur); !ok {
				x.Err(ErrHashNotFloat)
				return
			}
		}
	}
	sum, ok := addLongDouble(value, incr)
	if !ok {
		x.Err(ErrIncrFloatNaN)
		return
	}
	s := appendLongDouble(nil, sum)
	w, _ := x.hashWrite(key, true)
	w.o.SetKeepTTL(args[2], s)
	w.done(x, key)
	x.Bulk(s)
}

// hrandfieldCommand: HRANDFIELD key [count [WITHVALUES]].
func hrandfieldCommand(x *Ctx, args [][]byte) {
	if len(args) == 2 {
		h, ok := x.hashRead(args[1])
		if !ok {
			return
		}
		if h == nil {
			x.Null()
			return
		}
		f, _ := h.At(x.rand().IntN(h.Len()))
		x.Bulk(f)
		return
	}
	count, withValues, ok := randCountArgs(x, args, "withvalues")
	if !ok {
		return
	}
	h, ok := x.hashRead(args[1])
	if !ok {
		return
	}
	if h == nil || count == 0 {
		x.Array(0)
		return
	}
	randomPicks(x.rand(), h.Len(), count, x.pairsHeader(withValues), func(i int) {
		f, v := h.At(i)
		if withValues && x.Proto == 3 {
			x.Array(2)
		}
		x.Bulk(f)
		if withValues {
			x.Bulk(v)
		}
	})
}

// hscanCommand: HSCAN key cursor [MATCH pattern] [COUNT count]. The
// cursor is checked first; a missing key replies an empty scan without
// looking at the options, as Redis. See shard.Hash.Scan for the cursor.
func hscanCommand(x *Ctx, args [][]byte) {
	cursor, ok := parseCursor(args[2])
	if !ok {
		x.Err(ErrInvalidCursor)
		return
	}
	h, ok := x.hashRead(args[1])
	if !ok {
		return
	}
	if h == nil {
		x.scanHeader(0, 0)
		return
	}
	count, pat, usePat, msg := scanOptions(args[3:])
	if msg != "" {
		x.Err(msg)
		return
	}
	var out [][]byte
	next := h.Scan(cursor, count, func(f, v []byte) {
		if usePat && !globMatch(pat, string(f)) {
			return
		}
		out = append(out, f, v)
	})
	x.scanHeader(next, len(out))
	for _, b := range out {
		x.Bulk(b)
	}
}
