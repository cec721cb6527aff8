package command

import (
	"github.com/shoalcache/shoal/shard"
)

// The list commands (Redis 7.0's t_list.c), without the blocking ones and
// LMPOP: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LLEN, LINDEX, LSET,
// LRANGE, LINSERT, LREM, LTRIM, LPOS, LMOVE, RPOPLPUSH. The value is a
// shard.List.

func init() {
	w := func(name string, arity, first, last int, flags Flag, speed string, run func(*Ctx, [][]byte)) *Command {
		return &Command{Name: name, Arity: arity, Kind: KindWrite, Flags: FlagWrite | flags,
			FirstKey: first, LastKey: last, Step: 1, ACL: []string{"write", "list", speed}, Run: run}
	}
	r := func(name string, arity int, flags Flag, speed string, run func(*Ctx, [][]byte)) *Command {
		return &Command{Name: name, Arity: arity, Kind: KindRead, Flags: FlagReadOnly | flags,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: []string{"read", "list", speed}, Run: run}
	}
	fast := FlagDenyOOM | FlagFast
	Register(
		w("lpush", -3, 1, 1, fast, "fast", lpushCommand),
		w("rpush", -3, 1, 1, fast, "fast", rpushCommand),
		w("lpushx", -3, 1, 1, fast, "fast", lpushxCommand),
		w("rpushx", -3, 1, 1, fast, "fast", rpushxCommand),
		w("lpop", -2, 1, 1, FlagFast, "fast", lpopCommand),
		w("rpop", -2, 1, 1, FlagFast, "fast", rpopCommand),
		w("lset", 4, 1, 1, FlagDenyOOM, "slow", lsetCommand),
		w("linsert", 5, 1, 1, FlagDenyOOM, "slow", linsertCommand),
		w("lrem", 4, 1, 1, 0, "slow", lremCommand),
		w("ltrim", 4, 1, 1, 0, "slow", ltrimCommand),
		w("lmove", 5, 1, 2, FlagDenyOOM, "slow", lmoveCommand),
		w("rpoplpush", 3, 1, 2, FlagDenyOOM, "slow", rpoplpushCommand),
		r("llen", 2, FlagFast, "fast", llenCommand),
		r("lindex", 3, 0, "slow", lindexCommand),
		r("lrange", 4, 0, "slow", lrangeCommand),
		r("lpos", -3, 0, "slow", lposCommand),
	)
}

// RESP error texts of the list commands (Redis 7.0's).
const (
	errIndexRange = "ERR index out of range"
	errRankZero   = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
	errCountNeg   = "ERR COUNT can't be negative"
	errMaxLenNeg  = "ERR MAXLEN can't be negative"
)

// listRead returns the list of key for a read (see objRead).
func (x *Ctx) listRead(key []byte) (*shard.List, bool) {
	return objRead[*shard.List](x, key, shard.TypeList)
}

// listPeekWrite returns key's list for a write to look at (see objPeekWrite).
func (x *Ctx) listPeekWrite(key []byte) (*shard.List, bool) {
	return objPeekWrite[*shard.List](x, key, shard.TypeList)
}

// listWrite returns key's list ready to change, created when missing and
// create is set (the edit's o is nil otherwise). The caller has checked
// the type.
func (x *Ctx) listWrite(key []byte, create bool) objEdit[*shard.List] {
	var newObj func() *shard.List
	if create {
		newObj = shard.NewList
	}
	return objWrite(x, key, newObj)
}

func lpushCommand(x *Ctx, args [][]byte)  { pushGeneric(x, args, true, false) }
func rpushCommand(x *Ctx, args [][]byte)  { pushGeneric(x, args, false, false) }
func lpushxCommand(x *Ctx, args [][]byte) { pushGeneric(x, args, true, true) }
func rpushxCommand(x *Ctx, args [][]byte) { pushGeneric(x, args, false, true) }

// pushGeneric is Redis's pushGenericCommand: the list's new length; with
// xx, a missing key stays missing (0).
func pushGeneric(x *Ctx, args [][]byte, head, xx bool) {
	l, ok := x.listPeekWrite(args[1])
	if !ok {
		return
	}
	if l == nil && xx {
		x.Int(0)
		return
	}
	w := x.listWrite(args[1], true)
	for _, v := range args[2:] {
		if head {
			w.o.PushFront(v)
		} else {
			w.o.PushBack(v)
		}
	}
	n := w.o.Len()
	w.done(x, args[1])
	x.Int(int64(n))
}

func lpopCommand(x *Ctx, args [][]byte) { popGeneric(x, args, true) }
func rpopCommand(x *Ctx, args [][]byte) { popGeneric(x, args, false) }

// popGeneric is Redis's popGenericCommand: one element (or nil), or with a
// count an array of up to count elements (a null array for a missing key).
func popGeneric(x *Ctx, args [][]byte, head bool) {
	if len(args) > 3 {
		x.Err(ErrWrongArgs(lowerName(args[0])))
		return
	}
	count, hasCount := int64(1), len(args) == 3
	if hasCount {
		n, ok := ParseInt(args[2])
		if !ok || n < 0 {
			x.Err(ErrMustBePositive)
			return
		}
		count = n
	}
	l, ok := x.listPeekWrite(args[1])
	if !ok {
		return
	}
	if l == nil {
		if hasCount {
			x.NullArray()
		} else {
			x.Null()
		}
		return
	}
	if hasCount && count == 0 {
		x.Array(0)
		return
	}
	w := x.listWrite(args[1], false)
	if !hasCount {
		x.BulkString(pop(w.o, head))
		w.done(x, args[1])
		return
	}
	count = min(count, int64(w.o.Len()))
	x.Array(int(count))
	for ; count > 0; count-- {
		x.BulkString(pop(w.o, head))
	}
	w.done(x, args[1])
}

// PairsFlatInRESP2 reports whether a write command's RESP3 reply, an
// array of [member, score] pairs, is one flat array for a RESP2 connection
// (ZPOPMIN and ZPOPMAX with a count): the FSM replies in RESP3 only.
func PairsFlatInRESP2(args [][]byte) bool {
	return len(args) == 3 && (cEqFold(args[0], "zpopmin") || cEqFold(args[0], "zpopmax"))
}

// NullArrayInRESP2 reports whether a write command's RESP3 null reply
// ("_", the only null the FSM's RESP3 replies have) is a null array
// rather than a null bulk for a RESP2 connection: LPOP and RPOP with a
// count, LMPOP and ZMPOP. The front end asks only for a reply that is a bare null.
func NullArrayInRESP2(args [][]byte) bool {
	return (len(args) == 3 && (cEqFold(args[0], "lpop") || cEqFold(args[0], "rpop"))) ||
		cEqFold(args[0], "lmpop") || cEqFold(args[0], "zmpop") ||
		(len(args) == 4 && (cEqFold(args[0], "zrank") || cEqFold(args[0], "zrevrank")))
}

func pop(l *shard.List, head bool) string {
	if head {
		return l.PopFront()
	}
	return l.PopBack()
}

// lowerName returns a command name in lower case, for error texts.
func lowerName(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return string(out)
}

// llenCommand: LLEN key.
func llenCommand(x *Ctx, args [][]byte) {
	l, ok := x.listRead(args[1])
	if !ok {
		return
	}
	if l == nil {
		x.Int(0)
		return
	}
	x.Int(int64(l.Len()))
}

// listIndex converts a Redis list index (negative from the tail) to a
// position, and reports whether it is inside a list of n elements.
func listIndex(i int64, n int) (int, bool) {
	if i < 0 {
		i += int64(n)
	}
	return int(i), i >= 0 && i < int64(n)
}

// lindexCommand: LINDEX key index.
func lindexCommand(x *Ctx, args [][]byte) {
	idx, ok := ParseInt(args[2])
	if !ok {
		x.Err(ErrNotInteger)
		return
	}
	l, ok := x.listRead(args[1])
	if !ok {
		return
	}
	if l == nil {
		x.Null()
		return
	}
	if i, in := listIndex(idx, l.Len()); in {
		x.BulkString(l.Index(i))
		return
	}
	x.Null()
}

// lsetCommand: LSET key index element.
func lsetCommand(x *Ctx, args [][]byte) {
	idx, ok := ParseInt(args[2])
	if !ok {
		x.Err(ErrNotInteger)
		return
	}
	l, ok := x.listPeekWrite(args[1])
	if !ok {
		return
	}
	if l == nil {
		x.Err(ErrNoSuchKey)
		return
	}
	i, in := listIndex(idx, l.Len())
	if !in {
		x.Err(errIndexRange)
		return
	}
	w := x.listWrite(args[1], false)
	w.o.Set(i, args[3])
	w.done(x, args[1])
	x.OK()
}

// listRange clips LRANGE/LTRIM's start and stop to a list of n elements:
// the inclusive range, empty when start > end.
func listRange(start, stop int64, n int) (int, int) {
	ln := int64(n)
	if start < 0 {
		start += ln
	}
	if stop < 0 {
		stop += ln
	}
	if start < 0 {
		start = 0
	}
	if start > stop || start >= ln {
		return 0, -1
	}
	if stop >= ln {
		stop = ln - 1
	}
	return int(start), int(stop)
}

// lrangeCommand: LRANGE key start stop.
func lrangeCommand(x *Ctx, args [][]byte) {
	start, ok1 := ParseInt(args[2])
	stop, ok2 := ParseInt(args[3])
	if !ok1 || !ok2 {
		x.Err(ErrNotInteger)
		return
	}
	l, ok := x.listRead(args[1])
	if !ok {
		return
	}
	if l == nil {
		x.Array(0)
		return
	}
	s, e := listRange(start, stop, l.Len())
	x.Array(e - s + 1)
	l.Range(s, e, func(_ int, v string) bool { x.BulkString(v); return true })
}

// ltrimCommand: LTRIM key start stop; deletes the key when nothing is left.
func ltrimCommand(x *Ctx, args [][]byte) {
	start, ok1 := ParseInt(args[2])
	stop, ok2 := ParseInt(args[3])
	if !ok1 || !ok2 {
		x.Err(ErrNotInteger)
		return
	}
	l, ok := x.listPeekWrite(args[1])
	if !ok {
		return
	}
	if l == nil {
		x.OK()
		return
	}
	s, e := listRange(start, stop, l.Len())
	if s == 0 && e == l.Len()-1 {
		x.OK() // nothing to trim: the key is not touched
		return
	}
	w := x.listWrite(args[1], false)
	w.o.Trim(s, e)
	w.done(x, args[1])
	x.OK()
}

// linsertCommand: LINSERT key BEFORE|AFTER pivot element.
func linsertCommand(x *Ctx, args [][]byte) {
	var after bool
	switch {
	case cEqFold(args[2], "after"):
		after = true
	case cEqFold(args[2], "before"):
	default:
		x.Err(ErrSyntax)
		return
	}
	l, ok := x.listPeekWrite(args[1])
	if !ok {
		return
	}
	if l == nil {
		x.Int(0)
		return
	}
	pos := -1
	l.Range(0, l.Len()-1, func(i int, v string) bool {
		if v == string(args[3]) {
			pos = i
			return false
		}
		return true
	})
	if pos < 0 {
		x.Int(-1)
		return
	}
	if after {
		pos++
	}
	w := x.listWrite(args[1], false)
	w.o.Insert(pos, args[4])
	n := w.o.Len()
	w.done(x, args[1])
	x.Int(int64(n))
}

// lremCommand: LREM key count element: count > 0 removes the first count
// matches from the head, < 0 from the tail, 0 all.
func lremCommand(x *Ctx, args [][]byte) {
	count, ok := ParseInt(args[2])
	if !ok {
		x.Err(ErrNotInteger)
		return
	}
	l, ok := x.listPeekWrite(args[1])
	if !ok {
		return
	}
	elem := string(args[3])
	// Find the positions to remove first: a list without a match is not
	// touched.
	drop := map[int]bool{}
	visit := func(i int, v string) bool {
		if v == elem {
			drop[i] = true
		}
		return count == 0 || int64(len(drop)) < abs64(count)
	}
	if l != nil {
		if count >= 0 {
			l.Range(0, l.Len()-1, visit)
		} else {
			l.RangeReverse(0, l.Len()-1, visit)
		}
	}
	if len(drop) == 0 {
		x.Int(0)
		return
	}
	w := x.listWrite(args[1], false)
	i := 0
	w.o.Filter(func(string) bool {
		keep := !drop[i]
		i++
		return keep
	})
	w.done(x, args[1])
	x.Int(int64(len(drop)))
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// lposCommand: LPOS key element [RANK rank] [COUNT num-matches]
// [MAXLEN len].
func lposCommand(x *Ctx, args [][]byte) {
	rank, count, maxlen := int64(1), int64(-1), int64(0)
	for j := 3; j < len(args); j++ {
		if j+1 >= len(args) {
			x.Err(ErrSyntax)
			return
		}
		v, ok := ParseInt(args[j+1])
		switch {
		case cEqFold(args[j], "rank"):
			if !ok {
				x.Err(ErrNotInteger)
				return
			}
			if v == 0 {
				x.Err(errRankZero)
				return
			}
			rank = v
		case cEqFold(args[j], "count"):
			if !ok {
				x.Err(ErrNotInteger)
				return
			}
			if v < 0 {
				x.Err(errCountNeg)
				return
			}
			count = v
		case cEqFold(args[j], "maxlen"):
			if !ok {
				x.Err(ErrNotInteger)
				return
			}
			if v < 0 {
				x.Err(errMaxLenNeg)
				return
			}
			maxlen = v
		default:
			x.Err(ErrSyntax)
			return
		}
		j++
	}
	l, ok := x.listRead(args[1])
	if !ok {
		return
	}
	if l == nil {
		if count >= 0 {
			x.Array(0)
		} else {
			x.Null()
		}
		return
	}
	elem := string(args[2])
	var found []int
	skip := abs64(rank) - 1
	if rank == -1<<63 {
		skip = 0 // Redis's -rank overflows and every match qualifies
	}
	limit := count
	if count < 0 {
		limit = 1
	}
	seen := int64(0)
	visit := func(i int, v string) bool {
		if maxlen > 0 && seen >= maxlen {
			return false
		}
		seen++
		if v == elem {
			if skip > 0 {
				skip--
			} else {
				found = append(found, i)
				if limit > 0 && int64(len(found)) >= limit {
					return false
				}
			}
		}
		return true
	}
	if rank > 0 {
		l.Range(0, l.Len()-1, visit)
	} else {
		l.RangeReverse(0, l.Len()-1, visit)
	}
	if count < 0 {
		if len(found) == 0 {
			x.Null()
		} else {
			x.Int(int64(found[0]))
		}
		return
	}
	x.Array(len(found))
	for _, i := range found {
		x.Int(int64(i))
	}
}

// lmoveCommand: LMOVE source destination LEFT|RIGHT LEFT|RIGHT.
func lmoveCommand(x *Ctx, args [][]byte) {
	var from, to bool // true: left
	for k, a := range args[3:5] {
		var left bool
		switch {
		case cEqFold(a, "left"):
			left = true
		case cEqFold(a, "right"):
		default:
			x.Err(ErrSyntax)
			return
		}
		if k == 0 {
			from = left
		} else {
			to = left
		}
	}
	lmoveGeneric(x, args[1], args[2], from, to)
}

// rpoplpushCommand: RPOPLPUSH source destination.
func rpoplpushCommand(x *Ctx, args [][]byte) { lmoveGeneric(x, args[1], args[2], false, true) }

// lmoveGeneric moves an element from one end of src to one end of dst, as
// Redis's lmoveGenericCommand: nil when src is missing; WRONGTYPE for
// either.
func lmoveGeneric(x *Ctx, src, dst []byte, fromLeft, toLeft bool) {
	sl, ok := x.listPeekWrite(src)
	if !ok {
		return
	}
	if sl == nil {
		x.Null()
		return
	}
	if _, ok := x.listPeekWrite(dst); !ok {
		return
	}
	w := x.listWrite(src, false)
	v := pop(w.o, fromLeft)
	w.done(x, src)
	d := x.listWrite(dst, true)
	if toLeft {
		d.o.PushFront([]byte(v))
	} else {
		d.o.PushBack([]byte(v))
	}
	d.done(x, dst)
	x.BulkString(v)
}
