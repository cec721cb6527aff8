package command

import (
	"math"
	"sort"

	"github.com/shoalcache/shoal/shard"
)

// The commands whose keys are counted by a numkeys argument (their keys
// come from Command.KeysFunc): SINTERCARD, ZINTERCARD, ZUNION, ZINTER,
// ZDIFF and their STORE forms, LMPOP, ZMPOP.

func init() {
	rd := func(name string, arity int, acl string, keys func([][]byte, [][]byte) [][]byte, run func(*Ctx, [][]byte)) *Command {
		return &Command{Name: name, Arity: arity, Kind: KindRead, Flags: FlagReadOnly | FlagMovableKeys,
			KeysFunc: keys, ACL: []string{"read", acl, "slow"}, Run: run}
	}
	store := func(name string, run func(*Ctx, [][]byte)) *Command {
		return &Command{Name: name, Arity: -4, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM | FlagMovableKeys,
			FirstKey: 1, LastKey: 1, Step: 1, KeysFunc: numkeysKeys(2, true),
			ACL: []string{"write", "sortedset", "slow"}, Run: run}
	}
	pop := func(name, acl string, run func(*Ctx, [][]byte)) *Command {
		return &Command{Name: name, Arity: -4, Kind: KindWrite, Flags: FlagWrite | FlagMovableKeys,
			KeysFunc: numkeysKeys(1, false), ACL: []string{"write", acl, "slow"}, Run: run}
	}
	Register(
		rd("sintercard", -3, "set", numkeysKeys(1, false), sintercardCommand),
		rd("zintercard", -3, "sortedset", numkeysKeys(1, false), zintercardCommand),
		rd("zunion", -3, "sortedset", numkeysKeys(1, false), func(x *Ctx, a [][]byte) { zsetOpGeneric(x, a, zopUnion, false) }),
		rd("zinter", -3, "sortedset", numkeysKeys(1, false), func(x *Ctx, a [][]byte) { zsetOpGeneric(x, a, zopInter, false) }),
		rd("zdiff", -3, "sortedset", numkeysKeys(1, false), func(x *Ctx, a [][]byte) { zsetOpGeneric(x, a, zopDiff, false) }),
		store("zunionstore", func(x *Ctx, a [][]byte) { zsetOpGeneric(x, a, zopUnion, true) }),
		store("zinterstore", func(x *Ctx, a [][]byte) { zsetOpGeneric(x, a, zopInter, true) }),
		store("zdiffstore", func(x *Ctx, a [][]byte) { zsetOpGeneric(x, a, zopDiff, true) }),
		pop("lmpop", "list", lmpopCommand),
		pop("zmpop", "sortedset", zmpopCommand),
	)
}

// RESP error texts of the numkeys commands (Redis 7.0's).
const (
	errNumkeysPositive = "ERR numkeys should be greater than 0"
	errNumkeysTooMany  = "ERR Number of keys can't be greater than number of args"
	errLimitNegative   = "ERR LIMIT can't be negative"
	errCountPositive   = "ERR count should be greater than 0"
	errWeightFloat     = "ERR weight value is not a float"
)

// numkeysKeys returns the KeysFunc of a command whose numkeys is args[pos],
// its keys right after; with dest, args[1] (a destination) is a key too,
// even when numkeys is bad (so that the command routes by it).
func numkeysKeys(pos int, dest bool) func(args [][]byte, dst [][]byte) [][]byte {
	return func(args [][]byte, dst [][]byte) [][]byte {
		if dest && len(args) > 1 {
			dst = append(dst, args[1])
		}
		if pos >= len(args) {
			return dst
		}
		n, ok := ParseInt(args[pos])
		if !ok || n < 1 || n > int64(len(args)-pos-1) {
			return dst
		}
		return append(dst, args[pos+1:pos+1+int(n)]...)
	}
}

// intersectCard counts the members of the smallest collection that every
// other holds, up to limit (0: no limit). has is each input's membership
// test, with its size.
func intersectCard(sizes []int, has []func(m []byte) bool, each []func(fn func(m []byte) bool), limit int64) int64 {
	smallest := 0
	for i, n := range sizes {
		if n < sizes[smallest] {
			smallest = i
		}
	}
	var count int64
	each[smallest](func(m []byte) bool {
		for i, h := range has {
			if i != smallest && !h(m) {
				return true
			}
		}
		count++
		return limit == 0 || count < limit
	})
	return count
}

// parseCardOptions parses SINTERCARD/ZINTERCARD's [LIMIT limit].
func parseCardOptions(opts [][]byte) (int64, string) {
	var limit int64
	for j := 0; j < len(opts); j++ {
		if !cEqFold(opts[j], "limit") || j+1 >= len(opts) {
			return 0, ErrSyntax
		}
		v, ok := ParseInt(opts[j+1])
		if !ok || v < 0 {
			return 0, errLimitNegative
		}
		limit = v
		j++
	}
	return limit, ""
}

// sintercardCommand: SINTERCARD numkeys key [key ...] [LIMIT limit].
func sintercardCommand(x *Ctx, args [][]byte) {
	n, ok := ParseInt(args[1])
	if !ok || n < 1 {
		x.Err(errNumkeysPositive)
		return
	}
	if n > int64(len(args)-2) {
		x.Err(errNumkeysTooMany)
		return
	}
	limit, msg := parseCardOptions(args[2+n:])
	if msg != "" {
		x.Err(msg)
		return
	}
	sets, ok := x.setsOf(args[2:2+n], false)
	if !ok {
		return
	}
	sizes := make([]int, len(sets))
	has := make([]func([]byte) bool, len(sets))
	each := make([]func(func([]byte) bool), len(sets))
	for i, s := range sets {
		if s == nil {
			x.Int(0)
			return
		}
		sizes[i], has[i], each[i] = s.Len(), s.Has, s.Range
	}
	x.Int(intersectCard(sizes, has, each, limit))
}

// Operations of zsetOpGeneric.
const (
	zopUnion = iota
	zopInter
	zopDiff
)

// zinput is one input of ZUNION/ZINTER/ZDIFF: a sorted set, or a set whose
// members score 1 (nil both for a missing key).
type zinput struct {
	z *shard.ZSet
	s *shard.Set
}

func (in zinput) size() int {
	switch {
	case in.z != nil:
		return in.z.Len()
	case in.s != nil:
		return in.s.Len()
	}
	return 0
}

func (in zinput) score(m []byte) (float64, bool) {
	switch {
	case in.z != nil:
		return in.z.Score(m)
	case in.s != nil:
		return 1, in.s.Has(m)
	}
	return 0, false
}

func (in zinput) each(fn func(m []byte, s float64) bool) {
	switch {
	case in.z != nil:
		in.z.AscendFrom(0, func(m string, s float64) bool { return fn([]byte(m), s) })
	case in.s != nil:
		in.s.Range(func(m []byte) bool { return fn(m, 1) })
	}
}

// zinputs looks up the inputs of a sorted set operation: sets or sorted
// sets, or false after replying WRONGTYPE.
func (x *Ctx) zinputs(keys [][]byte, write bool) ([]zinput, bool) {
	ins := make([]zinput, len(keys))
	for i, k := range keys {
		var e *shard.Entry
		if write {
			e = x.St.GetWrite(k, x.Now)
		} else {
			e = x.St.Get(k, x.Now, x.LFURand)
			x.hitOrMiss(e != nil)
		}
		if e == nil {
			continue
		}
		switch e.Type() {
		case shard.TypeZSet:
			ins[i].z = e.Object().(*shard.ZSet)
		case shard.TypeSet:
			ins[i].s = e.Object().(*shard.Set)
		default:
			x.Err(ErrWrongType)
			return nil, false
		}
	}
	return ins, true
}

// zintercardCommand: ZINTERCARD numkeys key [key ...] [LIMIT limit].
func zintercardCommand(x *Ctx, args [][]byte) {
	n, msg := zNumkeys(x, args, 1, "zintercard")
	if msg != "" {
		x.Err(msg)
		return
	}
	limit, msg := parseCardOptions(args[2+n:])
	if msg != "" {
		x.Err(msg)
		return
	}
	ins, ok := x.zinputs(args[2:2+n], false)
	if !ok {
		return
	}
	sizes := make([]int, len(ins))
	has := make([]func([]byte) bool, len(ins))
	each := make([]func(func([]byte) bool), len(ins))
	for i, in := range ins {
		if in.size() == 0 {
			x.Int(0)
			return
		}
		in := in
		sizes[i] = in.size()
		has[i] = func(m []byte) bool { _, ok := in.score(m); return ok }
		each[i] = func(fn func([]byte) bool) { in.each(func(m []byte, _ float64) bool { return fn(m) }) }
	}
	x.Int(intersectCard(sizes, has, each, limit))
}

// zNumkeys parses the numkeys of a sorted set operation at args[pos], as
// Redis's zunionInterDiffGenericCommand: the count, or the error reply.
func zNumkeys(x *Ctx, args [][]byte, pos int, name string) (int64, string) {
	n, ok := ParseInt(args[pos])
	switch {
	case !ok:
		return 0, ErrNotInteger
	case n < 1:
		return 0, "ERR at least 1 input key is needed for '" + name + "' command"
	case n > int64(len(args)-pos-1):
		return 0, ErrSyntax
	}
	return n, ""
}

// zsetOpGeneric is ZUNION/ZINTER/ZDIFF (store: their STORE forms, with the
// destination at args[1]) numkeys key... [WEIGHTS w...] [AGGREGATE
// SUM|MIN|MAX] [WITHSCORES], as Redis's zunionInterDiffGenericCommand.
func zsetOpGeneric(x *Ctx, args [][]byte, op int, store bool) {
	pos := 1
	if store {
		pos = 2
	}
	name := []string{"zunion", "zinter", "zdiff"}[op]
	if store {
		name += "store"
	}
	n, msg := zNumkeys(x, args, pos, name)
	if msg != "" {
		x.Err(msg)
		return
	}
	keys := args[pos+1 : pos+1+int(n)]
	weights := make([]float64, n)
	for i := range weights {
		weights[i] = 1
	}
	agg := "sum"
	withScores := false
	for j := pos + 1 + int(n); j < len(args); j++ {
		left := len(args) - j - 1
		switch a := args[j]; {
		case op != zopDiff && left >= int(n) && cEqFold(a, "weights"):
			for i := 0; i < int(n); i++ {
				w, ok := parseScore(args[j+1+i])
				if !ok {
					x.Err(errWeightFloat)
					return
				}
				weights[i] = w
			}
			j += int(n)
		case op != zopDiff && left >= 1 && cEqFold(a, "aggregate"):
			switch v := args[j+1]; {
			case cEqFold(v, "sum"):
				agg = "sum"
			case cEqFold(v, "min"):
				agg = "min"
			case cEqFold(v, "max"):
				agg = "max"
			default:
				x.Err(ErrSyntax)
				return
			}
			j++
		case !store && cEqFold(a, "withscores"):
			withScores = true
		default:
			x.Err(ErrSyntax)
			return
		}
	}
	ins, ok := x.zinputs(keys, store)
	if !ok {
		return
	}
	combine := func(acc, v float64) float64 {
		switch agg {
		case "min":
			return math.Min(acc, v)
		case "max":
			return math.Max(acc, v)
		}
		s := acc + v
		if math.IsNaN(s) {
			return 0 // inf + -inf: Redis's zunionInterAggregate
		}
		return s
	}
	weighted := func(s, w float64) float64 {
		v := s * w
		if math.IsNaN(v) {
			return 0
		}
		return v
	}
	result := map[string]float64{}
	switch op {
	case zopUnion:
		for i, in := range ins {
			in.each(func(m []byte, s float64) bool {
				v := weighted(s, weights[i])
				if cur, ok := result[string(m)]; ok {
					result[string(m)] = combine(cur, v)
				} else {
					result[string(m)] = v
				}
				return true
			})
		}
	case zopInter:
		smallest := 0
		for i, in := range ins {
			if in.size() < ins[smallest].size() {
				smallest = i
			}
		}
		if ins[smallest].size() > 0 {
			ins[smallest].each(func(m []byte, s float64) bool {
				acc := weighted(s, weights[smallest])
				for i, in := range ins {
					if i == smallest {
						continue
					}
					v, ok := in.score(m)
					if !ok {
						return true
					}
					acc = combine(acc, weighted(v, weights[i]))
				}
				result[string(m)] = acc
				return true
			})
		}
	case zopDiff:
		ins[0].each(func(m []byte, s float64) bool {
			for _, in := range ins[1:] {
				if _, ok := in.score(m); ok {
					return true
				}
			}
			result[string(m)] = s
			return true
		})
	}
	ms := make([]zmember, 0, len(result))
	maxLen := 0
	for m, s := range result {
		ms = append(ms, zmember{m, s})
		maxLen = max(maxLen, len(m))
	}
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].s != ms[j].s {
			return ms[i].s < ms[j].s
		}
		return ms[i].m < ms[j].m
	})
	if !store {
		x.replyMembers(ms, withScores)
		return
	}
	if len(ms) == 0 {
		x.St.Delete(args[1])
		x.Int(0)
		return
	}
	out := shard.NewZSet(len(ms), maxLen)
	for _, zm := range ms {
		out.Set([]byte(zm.m), zm.s)
	}
	x.St.SetObject(args[1], out, 0, x.Now)
	x.Int(int64(len(ms)))
}

// mpopArgs parses LMPOP/ZMPOP's numkeys key... WHERE [COUNT count]: the
// keys, whether WHERE is the first choice (LEFT/MIN), the count, or the
// error reply.
func mpopArgs(args [][]byte, first, second string) (keys [][]byte, isFirst bool, count int64, msg string) {
	n, ok := ParseInt(args[1])
	if !ok || n < 1 {
		return nil, false, 0, errNumkeysPositive
	}
	where := 2 + n
	if where >= int64(len(args)) {
		return nil, false, 0, ErrSyntax
	}
	switch {
	case cEqFold(args[where], first):
		isFirst = true
	case cEqFold(args[where], second):
	default:
		return nil, false, 0, ErrSyntax
	}
	count = 1
	hasCount := false
	for j := int(where) + 1; j < len(args); j++ {
		if hasCount || !cEqFold(args[j], "count") || j+1 >= len(args) {
			return nil, false, 0, ErrSyntax
		}
		v, ok := ParseInt(args[j+1])
		if !ok || v < 1 {
			return nil, false, 0, errCountPositive
		}
		count, hasCount = v, true
		j++
	}
	return args[2:where], isFirst, count, ""
}

// lmpopCommand: LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: pops
// from the first non-empty list; [key, [elements]] or a null array.
func lmpopCommand(x *Ctx, args [][]byte) {
	keys, left, count, msg := mpopArgs(args, "left", "right")
	if msg != "" {
		x.Err(msg)
		return
	}
	for _, k := range keys {
		l, ok := x.listPeekWrite(k)
		if !ok {
			return
		}
		if l == nil {
			continue
		}
		w := x.listWrite(k, false)
		count = min(count, int64(w.o.Len()))
		x.Array(2)
		x.Bulk(k)
		x.Array(int(count))
		for ; count > 0; count-- {
			x.BulkString(pop(w.o, left))
		}
		w.done(x, k)
		return
	}
	x.NullArray()
}

// zmpopCommand: ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]: pops
// from the first non-empty sorted set; [key, [[member, score]...]] or a
// null array.
func zmpopCommand(x *Ctx, args [][]byte) {
	keys, minFirst, count, msg := mpopArgs(args, "min", "max")
	if msg != "" {
		x.Err(msg)
		return
	}
	for _, k := range keys {
		z, ok := x.zsetPeekWrite(k)
		if !ok {
			return
		}
		if z == nil {
			continue
		}
		w := x.zsetWrite(k, 0, 0)
		count = min(count, int64(w.o.Len()))
		x.Array(2)
		x.Bulk(k)
		x.Array(int(count))
		for ; count > 0; count-- {
			i := 0
			if !minFirst {
				i = w.o.Len() - 1
			}
			m, s := w.o.At(i)
			w.o.Remove([]byte(m))
			x.Array(2)
			x.BulkString(m)
			x.Double(s)
		}
		w.done(x, k)
		return
	}
	x.NullArray()
}
