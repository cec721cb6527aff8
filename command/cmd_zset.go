package command

import (
	"math"
	"strconv"

	"github.com/shoalcache/shoal/shard"
)

// The sorted set commands (Redis 7.0's t_zset.c) without the numkeys
// family (ZUNION, ZINTER, ZDIFF and their STORE forms, ZINTERCARD, ZMPOP):
// ZADD, ZINCRBY, ZSCORE, ZMSCORE, ZRANK, ZREVRANK, ZCARD, ZCOUNT,
// ZLEXCOUNT, ZREM, ZREMRANGEBYRANK/SCORE/LEX, ZRANGE (BYSCORE, BYLEX, REV,
// LIMIT, WITHSCORES), ZRANGESTORE, ZREVRANGE, ZRANGEBYSCORE,
// ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZPOPMIN, ZPOPMAX,
// ZRANDMEMBER, ZSCAN. The value is a shard.ZSet; the range family is in
// cmd_zrange.go.

func init() {
	w := func(name string, arity int, flags Flag, speed string, run func(*Ctx, [][]byte)) *Command {
		return &Command{Name: name, Arity: arity, Kind: KindWrite, Flags: FlagWrite | flags,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: []string{"write", "sortedset", speed}, Run: run}
	}
	r := func(name string, arity int, flags Flag, speed string, run func(*Ctx, [][]byte)) *Command {
		return &Command{Name: name, Arity: arity, Kind: KindRead, Flags: FlagReadOnly | flags,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: []string{"read", "sortedset", speed}, Run: run}
	}
	Register(
		w("zadd", -4, FlagDenyOOM|FlagFast, "fast", zaddCommand),
		w("zincrby", 4, FlagDenyOOM|FlagFast, "fast", zincrbyCommand),
		w("zrem", -3, FlagFast, "fast", zremCommand),
		w("zremrangebyrank", 4, 0, "slow", zremrangebyrankCommand),
		w("zremrangebyscore", 4, 0, "slow", zremrangebyscoreCommand),
		w("zremrangebylex", 4, 0, "slow", zremrangebylexCommand),
		w("zpopmin", -2, FlagFast, "fast", zpopminCommand),
		w("zpopmax", -2, FlagFast, "fast", zpopmaxCommand),
		&Command{Name: "zrangestore", Arity: -5, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM,
			FirstKey: 1, LastKey: 2, Step: 1, ACL: []string{"write", "sortedset", "slow"}, Run: zrangestoreCommand},
		r("zscore", 3, FlagFast, "fast", zscoreCommand),
		r("zmscore", -3, FlagFast, "fast", zmscoreCommand),
		r("zrank", -3, FlagFast, "fast", zrankCommand), // WITHSCORE: Redis 7.2
		r("zrevrank", -3, FlagFast, "fast", zrevrankCommand),
		r("zcard", 2, FlagFast, "fast", zcardCommand),
		r("zcount", 4, FlagFast, "fast", zcountCommand),
		r("zlexcount", 4, FlagFast, "fast", zlexcountCommand),
		r("zrange", -4, 0, "slow", zrangeCommand),
		r("zrevrange", -4, 0, "slow", zrevrangeCommand),
		r("zrangebyscore", -4, 0, "slow", zrangebyscoreCommand),
		r("zrevrangebyscore", -4, 0, "slow", zrevrangebyscoreCommand),
		r("zrangebylex", -4, 0, "slow", zrangebylexCommand),
		r("zrevrangebylex", -4, 0, "slow", zrevrangebylexCommand),
		r("zrandmember", -2, 0, "slow", zrandmemberCommand),
		r("zscan", -3, 0, "slow", zscanCommand),
	)
}

// RESP error texts of the sorted set commands (Redis 7.0's).
const (
	errZIncrPair     = "ERR INCR option supports a single increment-element pair"
	errZNXXX         = "ERR XX and NX options at the same time are not compatible"
	errZGTLTNX       = "ERR GT, LT, and/or NX options at the same time are not compatible"
	errZNaN          = "ERR resulting score is not a number (NaN)"
	errZMinMaxFloat  = "ERR min or max is not a float"
	errZMinMaxString = "ERR min or max not valid string range item"
)

// zsetRead returns the sorted set of key for a read (see objRead).
func (x *Ctx) zsetRead(key []byte) (*shard.ZSet, bool) {
	return objRead[*shard.ZSet](x, key, shard.TypeZSet)
}

// zsetPeekWrite returns key's sorted set for a write to look at (see
// objPeekWrite).
func (x *Ctx) zsetPeekWrite(key []byte) (*shard.ZSet, bool) {
	return objPeekWrite[*shard.ZSet](x, key, shard.TypeZSet)
}

// zsetWrite returns key's sorted set ready to change, creating it for size
// members of up to maxLen bytes when missing (the caller checked the
// type).
func (x *Ctx) zsetWrite(key []byte, size, maxLen int) objEdit[*shard.ZSet] {
	return objWrite(x, key, func() *shard.ZSet { return shard.NewZSet(size, maxLen) })
}

// parseScore parses a score as Redis's getDoubleFromObject: strtod of the
// whole argument, no leading space, no NaN, no overflow or underflow to 0.
func parseScore(b []byte) (float64, bool) {
	if len(b) == 0 || isCSpace(b[0]) {
		return 0, false
	}
	v, ok := parseLongDouble(b)
	if !ok {
		return 0, false
	}
	f, _ := v.Float64()
	switch {
	case math.IsInf(f, 0) && !v.IsInf():
		return 0, false // overflow (ERANGE)
	case f == 0 && v.Sign() != 0:
		return 0, false // underflow to zero
	}
	return f, true
}

// ZADD flags, as Redis's ZADD_IN_*.
const (
	zaddNX = 1 << iota
	zaddXX
	zaddGT
	zaddLT
	zaddCH
	zaddINCR
)

// zaddCommand: ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member ...
func zaddCommand(x *Ctx, args [][]byte) { zaddGeneric(x, args, 0) }

// zincrbyCommand: ZINCRBY key increment member.
func zincrbyCommand(x *Ctx, args [][]byte) { zaddGeneric(x, args, zaddINCR) }

// zaddGeneric is Redis's zaddGenericCommand.
func zaddGeneric(x *Ctx, args [][]byte, flags int) {
	j := 2
	for ; j < len(args); j++ {
		switch a := args[j]; {
		case cEqFold(a, "nx"):
			flags |= zaddNX
		case cEqFold(a, "xx"):
			flags |= zaddXX
		case cEqFold(a, "gt"):
			flags |= zaddGT
		case cEqFold(a, "lt"):
			flags |= zaddLT
		case cEqFold(a, "ch"):
			flags |= zaddCH
		case cEqFold(a, "incr"):
			flags |= zaddINCR
		default:
			goto pairs
		}
	}
pairs:
	elems := len(args) - j
	incr := flags&zaddINCR != 0
	switch {
	case elems%2 != 0 || elems == 0:
		x.Err(ErrSyntax)
		return
	case incr && elems > 2:
		x.Err(errZIncrPair)
		return
	case flags&zaddNX != 0 && flags&zaddXX != 0:
		x.Err(errZNXXX)
		return
	case (flags&zaddGT != 0 && flags&zaddNX != 0) || (flags&zaddLT != 0 && flags&zaddNX != 0) ||
		(flags&zaddGT != 0 && flags&zaddLT != 0):
		x.Err(errZGTLTNX)
		return
	}
	n := elems / 2
	scores := make([]float64, n)
	for i := 0; i < n; i++ {
		s, ok := parseScore(args[j+2*i])
		if !ok {
			x.Err(ErrNotFloat)
			return
		}
		scores[i] = s
	}
	z, ok := x.zsetPeekWrite(args[1])
	if !ok {
		return
	}
	if z == nil && flags&zaddXX != 0 {
		if incr {
			x.Null()
		} else {
			x.Int(0)
		}
		return
	}
	// Find what changes before touching the key: a ZADD that changes
	// nothing leaves it untouched, as Redis.
	var added, updated int64
	var newScore float64
	performed := false
	type change struct {
		m     []byte
		score float64
	}
	changes := make([]change, 0, n)
	pending := map[string]float64{} // scores set by earlier pairs of this call
	for i := 0; i < n; i++ {
		m, score := args[j+2*i+1], scores[i]
		cur, exists := pending[string(m)]
		if !exists && z != nil {
			cur, exists = z.Score(m)
		}
		if exists {
			if flags&zaddNX != 0 {
				continue
			}
			if incr {
				score += cur
				if math.IsNaN(score) {
					x.Err(errZNaN)
					return
				}
			}
			if (flags&zaddLT != 0 && score >= cur) || (flags&zaddGT != 0 && score <= cur) {
				continue
			}
			newScore, performed = score, true
			if score != cur {
				changes = append(changes, change{m, score})
				pending[string(m)] = score
				updated++
			}
			continue
		}
		if flags&zaddXX != 0 {
			continue
		}
		newScore, performed = score, true
		changes = append(changes, change{m, score})
		pending[string(m)] = score
		added++
	}
	if len(changes) > 0 {
		// Redis 7.0's zaddGenericCommand creates a skiplist only for a
		// first member too long for a listpack; the others convert it as
		// they are added (after a -0 became 0 in the listpack).
		w := x.zsetWrite(args[1], 0, len(args[j+1]))
		for _, c := range changes {
			w.o.Set(c.m, c.score)
		}
		w.done(x, args[1])
	}
	switch {
	case incr && performed:
		x.Double(newScore)
	case incr:
		x.Null()
	case flags&zaddCH != 0:
		x.Int(added + updated)
	default:
		x.Int(added)
	}
}

// zremCommand: ZREM key member [member ...].
func zremCommand(x *Ctx, args [][]byte) {
	z, ok := x.zsetPeekWrite(args[1])
	if !ok {
		return
	}
	var hit [][]byte
	if z != nil {
		for _, m := range args[2:] {
			if _, found := z.Score(m); found {
				hit = append(hit, m)
			}
		}
	}
	if len(hit) == 0 {
		x.Int(0)
		return
	}
	w := x.zsetWrite(args[1], 0, 0)
	var n int64
	for _, m := range hit {
		if w.o.Remove(m) {
			n++
		}
	}
	w.done(x, args[1])
	x.Int(n)
}

// zscoreCommand: ZSCORE key member.
func zscoreCommand(x *Ctx, args [][]byte) {
	z, ok := x.zsetRead(args[1])
	if !ok {
		return
	}
	if z != nil {
		if s, found := z.Score(args[2]); found {
			x.Double(s)
			return
		}
	}
	x.Null()
}

// zmscoreCommand: ZMSCORE key member [member ...].
func zmscoreCommand(x *Ctx, args [][]byte) {
	z, ok := x.zsetRead(args[1])
	if !ok {
		return
	}
	x.Array(len(args) - 2)
	for _, m := range args[2:] {
		if z != nil {
			if s, found := z.Score(m); found {
				x.Double(s)
				continue
			}
		}
		x.Null()
	}
}

func zrankCommand(x *Ctx, args [][]byte)    { zrankGeneric(x, args, false) }
func zrevrankCommand(x *Ctx, args [][]byte) { zrankGeneric(x, args, true) }

// zrankGeneric is Redis 7.2's zrankGenericCommand: ZRANK/ZREVRANK key
// member [WITHSCORE] (the rank, or [rank, score]; a null, or a null
// array with WITHSCORE).
func zrankGeneric(x *Ctx, args [][]byte, rev bool) {
	if len(args) > 4 {
		x.Err(ErrWrongArgs(lowerName(args[0])))
		return
	}
	withScore := len(args) == 4
	if withScore && !cEqFold(args[3], "withscore") {
		x.Err(ErrSyntax)
		return
	}
	z, ok := x.zsetRead(args[1])
	if !ok {
		return
	}
	if z != nil {
		if r, found := z.Rank(args[2]); found {
			if rev {
				r = z.Len() - 1 - r
			}
			if withScore {
				score, _ := z.Score(args[2])
				x.Array(2)
				x.Int(int64(r))
				x.Double(score)
				return
			}
			x.Int(int64(r))
			return
		}
	}
	if withScore {
		x.NullArray()
		return
	}
	x.Null()
}

// zcardCommand: ZCARD key.
func zcardCommand(x *Ctx, args [][]byte) {
	z, ok := x.zsetRead(args[1])
	if !ok {
		return
	}
	if z == nil {
		x.Int(0)
		return
	}
	x.Int(int64(z.Len()))
}

func zpopminCommand(x *Ctx, args [][]byte) { zpopGeneric(x, args, false) }
func zpopmaxCommand(x *Ctx, args [][]byte) { zpopGeneric(x, args, true) }

// zpopGeneric is Redis's genericZpopCommand: up to count members with
// their scores, lowest (or highest) first.
func zpopGeneric(x *Ctx, args [][]byte, maxFirst bool) {
	if len(args) > 3 {
		x.Err(ErrSyntax)
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
	z, ok := x.zsetPeekWrite(args[1])
	if !ok {
		return
	}
	if z == nil || count == 0 {
		x.Array(0)
		return
	}
	w := x.zsetWrite(args[1], 0, 0)
	count = min(count, int64(w.o.Len()))
	nested := hasCount && x.Proto == 3
	if nested {
		x.Array(int(count))
	} else {
		x.Array(int(2 * count))
	}
	for ; count > 0; count-- {
		i := 0
		if maxFirst {
			i = w.o.Len() - 1
		}
		m, s := w.o.At(i)
		w.o.Remove([]byte(m))
		if nested {
			x.Array(2)
		}
		x.BulkString(m)
		x.Double(s)
	}
	w.done(x, args[1])
}

// zrandmemberCommand: ZRANDMEMBER key [count [WITHSCORES]].
func zrandmemberCommand(x *Ctx, args [][]byte) {
	if len(args) == 2 {
		z, ok := x.zsetRead(args[1])
		if !ok {
			return
		}
		if z == nil {
			x.Null()
			return
		}
		m, _ := z.At(x.rand().IntN(z.Len()))
		x.BulkString(m)
		return
	}
	count, withScores, ok := randCountArgs(x, args, "withscores")
	if !ok {
		return
	}
	z, ok := x.zsetRead(args[1])
	if !ok {
		return
	}
	if z == nil || count == 0 {
		x.Array(0)
		return
	}
	randomPicks(x.rand(), z.Len(), count, x.pairsHeader(withScores), func(i int) {
		m, s := z.At(i)
		if withScores && x.Proto == 3 {
			x.Array(2)
		}
		x.BulkString(m)
		if withScores {
			x.Double(s)
		}
	})
}

// zscanCommand: ZSCAN key cursor [MATCH pattern] [COUNT count]; scores as
// bulk strings, as Redis.
func zscanCommand(x *Ctx, args [][]byte) {
	cursor, ok := parseCursor(args[2])
	if !ok {
		x.Err(ErrInvalidCursor)
		return
	}
	z, ok := x.zsetRead(args[1])
	if !ok {
		return
	}
	if z == nil {
		x.scanHeader(0, 0)
		return
	}
	count, pat, usePat, msg := scanOptions(args[3:])
	if msg != "" {
		x.Err(msg)
		return
	}
	var out []string
	var sbuf [32]byte
	next := z.Scan(cursor, count, func(m string, s float64) {
		if usePat && !globMatch(pat, m) {
			return
		}
		out = append(out, m, string(formatScore(sbuf[:0], s)))
	})
	x.scanHeader(next, len(out))
	for _, s := range out {
		x.BulkString(s)
	}
}

// formatScore formats a score as Redis's d2string.
func formatScore(b []byte, s float64) []byte {
	switch {
	case math.IsInf(s, 1):
		return append(b, "inf"...)
	case math.IsInf(s, -1):
		return append(b, "-inf"...)
	}
	return strconv.AppendFloat(b, s, 'g', 17, 64)
}
