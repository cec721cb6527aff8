package command

import "github.com/shoalcache/shoal/shard"

// The range family of the sorted set commands: ZRANGE and its old forms,
// ZRANGESTORE, ZCOUNT, ZLEXCOUNT, ZREMRANGEBY*, as Redis 7.0's
// zrangeGenericCommand and friends.

// Kinds of a zrange.
const (
	zrRank = iota
	zrScore
	zrLex
)

// lexBound is one end of a lex range: -1 for "-", +1 for "+", else v
// (excl for a '(' item).
type lexBound struct {
	inf  int
	v    []byte
	excl bool
}

// zrange is a parsed range request.
type zrange struct {
	kind          int
	rev           bool
	start, end    int64   // zrRank
	min, max      float64 // zrScore
	minEx, maxEx  bool
	lmin, lmax    lexBound // zrLex
	offset, limit int64    // limit < 0: no limit
}

// parseScoreBound parses a score range item as Redis's zslParseRange: an
// optional '(' (exclusive), then strtod of the rest (leading spaces and an
// empty string, 0, are accepted; NaN is not).
func parseScoreBound(b []byte) (float64, bool, bool) {
	excl := len(b) > 0 && b[0] == '('
	if excl {
		b = b[1:]
	}
	for len(b) > 0 && isCSpace(b[0]) {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, excl, true
	}
	v, ok := parseLongDouble(b)
	if !ok {
		return 0, false, false
	}
	f, _ := v.Float64()
	return f, excl, true
}

// parseLexBound parses a lex range item: "-", "+", "[v" or "(v".
func parseLexBound(b []byte) (lexBound, bool) {
	switch {
	case len(b) == 1 && b[0] == '-':
		return lexBound{inf: -1}, true
	case len(b) == 1 && b[0] == '+':
		return lexBound{inf: 1}, true
	case len(b) > 0 && b[0] == '[':
		return lexBound{v: b[1:]}, true
	case len(b) > 0 && b[0] == '(':
		return lexBound{v: b[1:], excl: true}, true
	}
	return lexBound{}, false
}

// parseBounds parses the range's two ends for its kind, or returns the
// error reply.
func (r *zrange) parseBounds(lo, hi []byte) string {
	switch r.kind {
	case zrRank:
		var ok1, ok2 bool
		r.start, ok1 = ParseInt(lo)
		r.end, ok2 = ParseInt(hi)
		if !ok1 || !ok2 {
			return ErrNotInteger
		}
	case zrScore:
		var ok1, ok2 bool
		r.min, r.minEx, ok1 = parseScoreBound(lo)
		r.max, r.maxEx, ok2 = parseScoreBound(hi)
		if !ok1 || !ok2 {
			return errZMinMaxFloat
		}
	case zrLex:
		var ok1, ok2 bool
		r.lmin, ok1 = parseLexBound(lo)
		r.lmax, ok2 = parseLexBound(hi)
		if !ok1 || !ok2 {
			return errZMinMaxString
		}
	}
	return ""
}

// aboveMin and belowMax test a member against a lex range's ends.
func (b lexBound) aboveMin(m string) bool {
	switch b.inf {
	case -1:
		return true
	case 1:
		return false
	}
	c := compareBytes(m, b.v)
	return c > 0 || (c == 0 && !b.excl)
}

func (b lexBound) belowMax(m string) bool {
	switch b.inf {
	case -1:
		return false
	case 1:
		return true
	}
	c := compareBytes(m, b.v)
	return c < 0 || (c == 0 && !b.excl)
}

func compareBytes(a string, b []byte) int {
	switch {
	case a < string(b):
		return -1
	case a > string(b):
		return 1
	}
	return 0
}

// each calls fn for the members in the range, in order (descending with
// rev), after skipping offset and up to limit of them.
func (r *zrange) each(z *shard.ZSet, fn func(m string, s float64)) {
	skip, left := r.offset, r.limit
	if skip < 0 {
		return
	}
	emit := func(m string, s float64) bool {
		if skip > 0 {
			skip--
			return true
		}
		if left == 0 {
			return false
		}
		fn(m, s)
		if left > 0 {
			left--
		}
		return true
	}
	n := z.Len()
	switch r.kind {
	case zrRank:
		s, e := listRange(r.start, r.end, n)
		if s > e {
			return
		}
		if !r.rev {
			i := s
			z.AscendFrom(s, func(m string, sc float64) bool {
				if i > e {
					return false
				}
				i++
				return emit(m, sc)
			})
			return
		}
		i := s
		z.DescendFrom(n-1-s, func(m string, sc float64) bool {
			if i > e {
				return false
			}
			i++
			return emit(m, sc)
		})
	case zrScore:
		if !r.rev {
			z.AscendScore(r.min, r.minEx, func(m string, sc float64) bool {
				if sc > r.max || (r.maxEx && sc == r.max) {
					return false
				}
				return emit(m, sc)
			})
			return
		}
		z.DescendScore(r.max, r.maxEx, func(m string, sc float64) bool {
			if sc < r.min || (r.minEx && sc == r.min) {
				return false
			}
			return emit(m, sc)
		})
	case zrLex:
		if !r.rev {
			z.AscendLex(nil, false, func(m string, sc float64) bool {
				if !r.lmin.aboveMin(m) {
					return true
				}
				if !r.lmax.belowMax(m) {
					return false
				}
				return emit(m, sc)
			})
			return
		}
		z.DescendLex(nil, false, func(m string, sc float64) bool {
			if !r.lmax.belowMax(m) {
				return true
			}
			if !r.lmin.aboveMin(m) {
				return false
			}
			return emit(m, sc)
		})
	}
}

type zmember struct {
	m string
	s float64
}

func (r *zrange) collect(z *shard.ZSet) []zmember {
	var out []zmember
	r.each(z, func(m string, s float64) { out = append(out, zmember{m, s}) })
	return out
}

// replyMembers replies the members, with their scores when asked (pairs
// in RESP3, flat in RESP2).
func (x *Ctx) replyMembers(ms []zmember, withScores bool) {
	switch {
	case !withScores:
		x.Array(len(ms))
	case x.Proto == 3:
		x.Array(len(ms))
	default:
		x.Array(2 * len(ms))
	}
	for _, zm := range ms {
		if withScores && x.Proto == 3 {
			x.Array(2)
		}
		x.BulkString(zm.m)
		if withScores {
			x.Double(zm.s)
		}
	}
}

// zrangeGeneric parses and runs the ZRANGE family. args[1] is the source
// key, bounds at args[2:4] (args[3:5] with a destination for ZRANGESTORE,
// at args[1]); kind and rev are the old commands' implied options; store
// is ZRANGESTORE.
func zrangeGeneric(x *Ctx, args [][]byte, kind int, rev bool, store bool, legacy bool) {
	src, at := args[1], 2
	if store {
		src, at = args[2], 3
	}
	r := zrange{kind: kind, rev: rev, limit: -1}
	withScores := false
	hasLimit := false
	for j := at + 2; j < len(args); j++ {
		a := args[j]
		left := len(args) - j - 1
		switch {
		case !store && cEqFold(a, "withscores"):
			withScores = true
		case left >= 2 && cEqFold(a, "limit"):
			off, ok1 := ParseInt(args[j+1])
			lim, ok2 := ParseInt(args[j+2])
			if !ok1 || !ok2 {
				x.Err(ErrNotInteger)
				return
			}
			r.offset, r.limit, hasLimit = off, lim, true
			j += 2
		case !legacy && cEqFold(a, "byscore"):
			r.kind = zrScore
		case !legacy && cEqFold(a, "bylex"):
			r.kind = zrLex
		case !legacy && cEqFold(a, "rev"):
			r.rev = true
		default:
			x.Err(ErrSyntax)
			return
		}
	}
	switch {
	case hasLimit && r.kind == zrRank:
		x.Err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
		return
	case withScores && r.kind == zrLex:
		x.Err("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
		return
	}
	lo, hi := args[at], args[at+1]
	if r.rev && r.kind != zrRank && !legacy {
		lo, hi = hi, lo // ZRANGE ... REV takes max then min
	}
	if legacy && r.rev && r.kind != zrRank {
		lo, hi = hi, lo // ZREVRANGEBY* take max then min
	}
	if msg := r.parseBounds(lo, hi); msg != "" {
		x.Err(msg)
		return
	}
	if store {
		z, ok := x.zsetPeekWrite(src)
		if !ok {
			return
		}
		var ms []zmember
		if z != nil {
			ms = r.collect(z)
		}
		if len(ms) == 0 {
			x.St.Delete(args[1])
			x.Int(0)
			return
		}
		maxLen := 0
		for _, zm := range ms {
			maxLen = max(maxLen, len(zm.m))
		}
		out := shard.NewZSet(len(ms), maxLen)
		for _, zm := range ms {
			out.Set([]byte(zm.m), zm.s)
		}
		x.St.SetObject(args[1], out, 0, x.Now)
		x.Int(int64(len(ms)))
		return
	}
	z, ok := x.zsetRead(src)
	if !ok {
		return
	}
	if z == nil {
		x.Array(0)
		return
	}
	x.replyMembers(r.collect(z), withScores)
}

func zrangeCommand(x *Ctx, args [][]byte)    { zrangeGeneric(x, args, zrRank, false, false, false) }
func zrevrangeCommand(x *Ctx, args [][]byte) { zrangeGeneric(x, args, zrRank, true, false, true) }
func zrangebyscoreCommand(x *Ctx, args [][]byte) {
	zrangeGeneric(x, args, zrScore, false, false, true)
}
func zrevrangebyscoreCommand(x *Ctx, args [][]byte) {
	zrangeGeneric(x, args, zrScore, true, false, true)
}
func zrangebylexCommand(x *Ctx, args [][]byte)    { zrangeGeneric(x, args, zrLex, false, false, true) }
func zrevrangebylexCommand(x *Ctx, args [][]byte) { zrangeGeneric(x, args, zrLex, true, false, true) }
func zrangestoreCommand(x *Ctx, args [][]byte)    { zrangeGeneric(x, args, zrRank, false, true, false) }

// zcountCommand: ZCOUNT key min max.
func zcountCommand(x *Ctx, args [][]byte) { zcountGeneric(x, args, zrScore) }

// zlexcountCommand: ZLEXCOUNT key min max.
func zlexcountCommand(x *Ctx, args [][]byte) { zcountGeneric(x, args, zrLex) }

func zcountGeneric(x *Ctx, args [][]byte, kind int) {
	r := zrange{kind: kind, limit: -1}
	if msg := r.parseBounds(args[2], args[3]); msg != "" {
		x.Err(msg)
		return
	}
	z, ok := x.zsetRead(args[1])
	if !ok {
		return
	}
	var n int64
	if z != nil {
		r.each(z, func(string, float64) { n++ })
	}
	x.Int(n)
}

func zremrangebyrankCommand(x *Ctx, args [][]byte)  { zremrangeGeneric(x, args, zrRank) }
func zremrangebyscoreCommand(x *Ctx, args [][]byte) { zremrangeGeneric(x, args, zrScore) }
func zremrangebylexCommand(x *Ctx, args [][]byte)   { zremrangeGeneric(x, args, zrLex) }

// zremrangeGeneric removes the members of a rank, score or lex range and
// replies how many.
func zremrangeGeneric(x *Ctx, args [][]byte, kind int) {
	r := zrange{kind: kind, limit: -1}
	if msg := r.parseBounds(args[2], args[3]); msg != "" {
		x.Err(msg)
		return
	}
	z, ok := x.zsetPeekWrite(args[1])
	if !ok {
		return
	}
	if z == nil {
		x.Int(0)
		return
	}
	ms := r.collect(z)
	if len(ms) == 0 {
		x.Int(0)
		return
	}
	w := x.zsetWrite(args[1], 0, 0)
	for _, zm := range ms {
		w.o.Remove([]byte(zm.m))
	}
	w.done(x, args[1])
	x.Int(int64(len(ms)))
}
