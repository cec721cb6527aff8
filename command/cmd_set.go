package command

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/cespare/xxhash/v2"

	"github.com/shoalcache/shoal/shard"
)

// The set commands (Redis 7.0's t_set.c): SADD, SREM, SMEMBERS, SISMEMBER,
// SMISMEMBER, SCARD, SPOP, SRANDMEMBER, SMOVE, SINTER, SINTERSTORE, SUNION,
// SUNIONSTORE, SDIFF, SDIFFSTORE, SSCAN. The value is a shard.Set.
//
// SPOP runs in the FSM, which has no random source: its choice comes from
// a generator seeded with the entry's time and the key, the same on every
// replica.

func init() {
	acl := func(rw, speed string) []string { return []string{rw, "set", speed} }
	Register(
		&Command{Name: "sadd", Arity: -3, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM | FlagFast,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: acl("write", "fast"), Run: saddCommand},
		&Command{Name: "srem", Arity: -3, Kind: KindWrite, Flags: FlagWrite | FlagFast,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: acl("write", "fast"), Run: sremCommand},
		&Command{Name: "spop", Arity: -2, Kind: KindWrite, Flags: FlagWrite | FlagFast,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: acl("write", "fast"), Run: spopCommand},
		&Command{Name: "smove", Arity: 4, Kind: KindWrite, Flags: FlagWrite | FlagFast,
			FirstKey: 1, LastKey: 2, Step: 1, ACL: acl("write", "fast"), Run: smoveCommand},
		&Command{Name: "sinterstore", Arity: -3, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM,
			FirstKey: 1, LastKey: -1, Step: 1, ACL: acl("write", "slow"), Run: sinterstoreCommand},
		&Command{Name: "sunionstore", Arity: -3, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM,
			FirstKey: 1, LastKey: -1, Step: 1, ACL: acl("write", "slow"), Run: sunionstoreCommand},
		&Command{Name: "sdiffstore", Arity: -3, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM,
			FirstKey: 1, LastKey: -1, Step: 1, ACL: acl("write", "slow"), Run: sdiffstoreCommand},
		&Command{Name: "smembers", Arity: 2, Kind: KindRead, Flags: FlagReadOnly,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: acl("read", "slow"), Run: smembersCommand},
		&Command{Name: "sismember", Arity: 3, Kind: KindRead, Flags: FlagReadOnly | FlagFast,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: acl("read", "fast"), Run: sismemberCommand},
		&Command{Name: "smismember", Arity: -3, Kind: KindRead, Flags: FlagReadOnly | FlagFast,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: acl("read", "fast"), Run: smismemberCommand},
		&Command{Name: "scard", Arity: 2, Kind: KindRead, Flags: FlagReadOnly | FlagFast,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: acl("read", "fast"), Run: scardCommand},
		&Command{Name: "srandmember", Arity: -2, Kind: KindRead, Flags: FlagReadOnly,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: acl("read", "slow"), Run: srandmemberCommand},
		&Command{Name: "sinter", Arity: -2, Kind: KindRead, Flags: FlagReadOnly,
			FirstKey: 1, LastKey: -1, Step: 1, ACL: acl("read", "slow"), Run: sinterCommand},
		&Command{Name: "sunion", Arity: -2, Kind: KindRead, Flags: FlagReadOnly,
			FirstKey: 1, LastKey: -1, Step: 1, ACL: acl("read", "slow"), Run: sunionCommand},
		&Command{Name: "sdiff", Arity: -2, Kind: KindRead, Flags: FlagReadOnly,
			FirstKey: 1, LastKey: -1, Step: 1, ACL: acl("read", "slow"), Run: sdiffCommand},
		&Command{Name: "sscan", Arity: -3, Kind: KindRead, Flags: FlagReadOnly,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: acl("read", "slow"), Run: sscanCommand},
	)
}

// setRead returns the set of key for a read (see objRead).
func (x *Ctx) setRead(key []byte) (*shard.Set, bool) {
	return objRead[*shard.Set](x, key, shard.TypeSet)
}

// setPeekWrite returns key's set for a write to look at (see objPeekWrite).
func (x *Ctx) setPeekWrite(key []byte) (*shard.Set, bool) {
	return objPeekWrite[*shard.Set](x, key, shard.TypeSet)
}

// setWrite returns key's set ready to change: with first != nil a missing
// key gets a new set in the encoding Redis's setTypeCreate picks for
// first; without, the edit's o is nil then. It replies WRONGTYPE and
// returns false when the key holds another type.
func (x *Ctx) setWrite(key, first []byte) (objEdit[*shard.Set], bool) {
	if _, ok := x.setPeekWrite(key); !ok {
		return objEdit[*shard.Set]{}, false
	}
	var newObj func() *shard.Set
	if first != nil {
		newObj = func() *shard.Set { return shard.NewSet(first) }
	}
	return objWrite(x, key, newObj), true
}

// saddCommand: SADD key member [member ...]. A key that gains no member is
// not changed (WATCH, tracking and migration see no change), as Redis.
func saddCommand(x *Ctx, args [][]byte) {
	if s, ok := x.setPeekWrite(args[1]); !ok {
		return
	} else if s != nil && !slices.ContainsFunc(args[2:], func(m []byte) bool { return !s.Has(m) }) {
		s.TriedAdd()
		x.Int(0)
		return
	}
	w, ok := x.setWrite(args[1], args[2])
	if !ok {
		return
	}
	var n int64
	for _, m := range args[2:] {
		if w.o.Add(m) {
			n++
		}
	}
	w.done(x, args[1])
	x.Int(n)
}

// sremCommand: SREM key member [member ...]; deletes the key once empty.
// A key that loses no member is not changed.
func sremCommand(x *Ctx, args [][]byte) {
	if s, ok := x.setPeekWrite(args[1]); !ok {
		return
	} else if s == nil || !slices.ContainsFunc(args[2:], s.Has) {
		x.Int(0)
		return
	}
	w, ok := x.setWrite(args[1], nil)
	if !ok {
		return
	}
	if w.o == nil {
		x.Int(0)
		return
	}
	var n int64
	for _, m := range args[2:] {
		if w.o.Remove(m) {
			n++
			if w.o.Len() == 0 {
				break
			}
		}
	}
	w.done(x, args[1])
	x.Int(n)
}

// smembersCommand: SMEMBERS key (a set reply in RESP3).
func smembersCommand(x *Ctx, args [][]byte) {
	s, ok := x.setRead(args[1])
	if !ok {
		return
	}
	if s == nil {
		x.SetHeader(0)
		return
	}
	x.SetHeader(s.Len())
	s.Range(func(m []byte) bool { x.Bulk(m); return true })
}

// sismemberCommand: SISMEMBER key member.
func sismemberCommand(x *Ctx, args [][]byte) {
	s, ok := x.setRead(args[1])
	if !ok {
		return
	}
	x.Int(b2i(s != nil && s.Has(args[2])))
}

// smismemberCommand: SMISMEMBER key member [member ...].
func smismemberCommand(x *Ctx, args [][]byte) {
	s, ok := x.setRead(args[1])
	if !ok {
		return
	}
	x.Array(len(args) - 2)
	for _, m := range args[2:] {
		x.Int(b2i(s != nil && s.Has(m)))
	}
}

// scardCommand: SCARD key.
func scardCommand(x *Ctx, args [][]byte) {
	s, ok := x.setRead(args[1])
	if !ok {
		return
	}
	if s == nil {
		x.Int(0)
		return
	}
	x.Int(int64(s.Len()))
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// fsmRand returns the random source of a write command: the connection's
// outside the FSM (never expected for a write), and inside a generator
// seeded with the entry's time and the key, so that every replica draws
// the same.
func (x *Ctx) fsmRand(key []byte) *rand.Rand {
	if !x.InFSM() {
		return x.rand()
	}
	return rand.New(rand.NewPCG(uint64(x.Now), xxhash.Sum64(key)))
}

// spopCommand: SPOP key [count]. Without count, one random member or nil;
// with count, a set of at most count distinct members.
func spopCommand(x *Ctx, args [][]byte) {
	if len(args) > 3 {
		x.Err(ErrSyntax)
		return
	}
	count := int64(-1)
	if len(args) == 3 {
		n, ok := ParseInt(args[2])
		if !ok || n < 0 {
			x.Err(ErrMustBePositive)
			return
		}
		count = n
	}
	e := x.St.GetWrite(args[1], x.Now)
	if e == nil {
		if count < 0 {
			x.Null()
		} else {
			x.SetHeader(0)
		}
		return
	}
	if x.wrongType(e, shard.TypeSet) {
		return
	}
	if count == 0 {
		x.SetHeader(0)
		return
	}
	w, _ := x.setWrite(args[1], nil)
	rng := x.fsmRand(args[1])
	if count < 0 {
		m := w.o.At(nil, rng.IntN(w.o.Len()))
		w.o.Remove(m)
		w.done(x, args[1])
		x.Bulk(m)
		return
	}
	if count >= int64(w.o.Len()) {
		x.SetHeader(w.o.Len())
		w.o.Range(func(m []byte) bool { x.Bulk(m); return true })
		x.St.Delete(args[1])
		return
	}
	x.SetHeader(int(count))
	// Redis pops from the set itself unless few members remain (count at
	// least 5 times the rest); then it copies those into a new set,
	// whose dict grows from empty (what MEMORY USAGE sees).
	rebuild := (int64(w.o.Len())-count)*5 <= count
	for ; count > 0; count-- {
		m := w.o.At(nil, rng.IntN(w.o.Len()))
		w.o.Remove(m)
		x.Bulk(m)
	}
	if rebuild {
		w.o.Rebuild()
	}
	w.done(x, args[1])
}

// srandmemberCommand: SRANDMEMBER key [count]: a negative count may repeat
// members.
func srandmemberCommand(x *Ctx, args [][]byte) {
	if len(args) > 3 {
		x.Err(ErrSyntax)
		return
	}
	if len(args) == 2 {
		s, ok := x.setRead(args[1])
		if !ok {
			return
		}
		if s == nil {
			x.Null()
			return
		}
		x.Bulk(s.At(nil, x.rand().IntN(s.Len())))
		return
	}
	count, ok := ParseInt(args[2])
	if !ok {
		x.Err(ErrNotInteger)
		return
	}
	if count == math.MinInt64 {
		x.Err(ErrLongRange)
		return
	}
	s, ok := x.setRead(args[1])
	if !ok {
		return
	}
	if s == nil || count == 0 {
		x.Array(0)
		return
	}
	var buf []byte
	randomPicks(x.rand(), s.Len(), count, x.Array, func(i int) {
		buf = s.At(buf[:0], i)
		x.Bulk(buf)
	})
}

// smoveCommand: SMOVE source destination member, as Redis's smoveCommand.
func smoveCommand(x *Ctx, args [][]byte) {
	src, dst, m := args[1], args[2], args[3]
	se := x.St.GetWrite(src, x.Now)
	de := x.St.GetWrite(dst, x.Now)
	if se == nil {
		x.Int(0)
		return
	}
	if x.wrongType(se, shard.TypeSet) || x.wrongType(de, shard.TypeSet) {
		return
	}
	if string(src) == string(dst) {
		x.Int(b2i(se.Object().(*shard.Set).Has(m)))
		return
	}
	if !se.Object().(*shard.Set).Has(m) {
		x.Int(0)
		return
	}
	w, _ := x.setWrite(src, nil)
	w.o.Remove(m)
	w.done(x, src)
	d, _ := x.setWrite(dst, m)
	d.o.Add(m)
	d.done(x, dst)
	x.Int(1)
}

// Set operations of sinterGeneric and sunionDiffGeneric.
const (
	setUnion = iota
	setDiff
)

// setsOf looks the keys up for SINTER/SUNION/SDIFF and their STORE forms:
// the sets (nil for a missing key), or false after replying WRONGTYPE (all
// keys are checked first, as Redis). A write (store) looks them up as
// writes (expired keys deleted).
func (x *Ctx) setsOf(keys [][]byte, write bool) ([]*shard.Set, bool) {
	sets := make([]*shard.Set, len(keys))
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
		if x.wrongType(e, shard.TypeSet) {
			return nil, false
		}
		sets[i] = e.Object().(*shard.Set)
	}
	return sets, true
}

// sinterResult computes the intersection as Redis: the sets by ascending
// size, the members of the smallest that the others hold, in its order.
func sinterResult(sets []*shard.Set) *shard.Set {
	sorted := slices.Clone(sets)
	slices.SortStableFunc(sorted, func(a, b *shard.Set) int { return a.Len() - b.Len() })
	out := &shard.Set{}
	sorted[0].Range(func(m []byte) bool {
		for _, s := range sorted[1:] {
			if !s.Has(m) {
				return true
			}
		}
		out.Add(m)
		return true
	})
	return out
}

// sunionDiffResult computes a union or a difference into a new set, which
// starts as an intset as Redis's does.
func sunionDiffResult(sets []*shard.Set, op int) *shard.Set {
	out := &shard.Set{}
	for i, s := range sets {
		if op == setDiff && i > 0 && out.Len() == 0 {
			break // nothing left to remove from
		}
		if s == nil {
			continue
		}
		switch {
		case op == setUnion || i == 0:
			s.Range(func(m []byte) bool { out.Add(m); return true })
		default:
			s.Range(func(m []byte) bool { out.Remove(m); return true })
		}
	}
	return out
}

func (x *Ctx) replySet(s *shard.Set) {
	x.SetHeader(s.Len())
	s.Range(func(m []byte) bool { x.Bulk(m); return true })
}

// sinterCommand: SINTER key [key ...]. A missing key makes the result
// empty.
func sinterCommand(x *Ctx, args [][]byte) {
	sets, ok := x.setsOf(args[1:], false)
	if !ok {
		return
	}
	if slices.Contains(sets, nil) {
		x.SetHeader(0)
		return
	}
	x.replySet(sinterResult(sets))
}

func sunionCommand(x *Ctx, args [][]byte) { sunionDiff(x, args[1:], setUnion) }
func sdiffCommand(x *Ctx, args [][]byte)  { sunionDiff(x, args[1:], setDiff) }

func sunionDiff(x *Ctx, keys [][]byte, op int) {
	sets, ok := x.setsOf(keys, false)
	if !ok {
		return
	}
	x.replySet(sunionDiffResult(sets, op))
}

// storeSet stores the result of a STORE form under dst (deleting dst when
// it is empty) and replies its size.
func (x *Ctx) storeSet(dst []byte, s *shard.Set) {
	if s.Len() == 0 {
		x.St.Delete(dst)
		x.Int(0)
		return
	}
	x.St.SetObject(dst, s, 0, x.Now)
	x.Int(int64(s.Len()))
}

// sinterstoreCommand: SINTERSTORE destination key [key ...].
func sinterstoreCommand(x *Ctx, args [][]byte) {
	sets, ok := x.setsOf(args[2:], true)
	if !ok {
		return
	}
	if slices.Contains(sets, nil) {
		x.St.Delete(args[1])
		x.Int(0)
		return
	}
	x.storeSet(args[1], sinterResult(sets))
}

func sunionstoreCommand(x *Ctx, args [][]byte) { sunionDiffStore(x, args, setUnion) }
func sdiffstoreCommand(x *Ctx, args [][]byte)  { sunionDiffStore(x, args, setDiff) }

func sunionDiffStore(x *Ctx, args [][]byte, op int) {
	sets, ok := x.setsOf(args[2:], true)
	if !ok {
		return
	}
	x.storeSet(args[1], sunionDiffResult(sets, op))
}

// sscanCommand: SSCAN key cursor [MATCH pattern] [COUNT count], as HSCAN.
func sscanCommand(x *Ctx, args [][]byte) {
	cursor, ok := parseCursor(args[2])
	if !ok {
		x.Err(ErrInvalidCursor)
		return
	}
	s, ok := x.setRead(args[1])
	if !ok {
		return
	}
	if s == nil {
		x.scanHeader(0, 0)
		return
	}
	count, pat, usePat, msg := scanOptions(args[3:])
	if msg != "" {
		x.Err(msg)
		return
	}
	var out [][]byte
	next := s.Scan(cursor, count, func(m []byte) {
		if usePat && !globMatch(pat, string(m)) {
			return
		}
		out = append(out, append([]byte(nil), m...))
	})
	x.scanHeader(next, len(out))
	for _, b := range out {
		x.Bulk(b)
	}
}

// scanOptions parses the MATCH and COUNT options of HSCAN/SSCAN/ZSCAN:
// the count (scanDefaultCount by default), the pattern, whether it
// filters, or the error reply.
func scanOptions(opts [][]byte) (count int, pat []byte, usePat bool, msg string) {
	count = scanDefaultCount
	for i := 0; i < len(opts); i += 2 {
		if i+1 >= len(opts) {
			return 0, nil, false, ErrSyntax
		}
		switch {
		case cEqFold(opts[i], "count"):
			n, ok := ParseInt(opts[i+1])
			if !ok {
				return 0, nil, false, ErrNotInteger
			}
			if n < 1 {
				return 0, nil, false, ErrSyntax
			}
			count = int(min(n, math.MaxInt32))
		case cEqFold(opts[i], "match"):
			pat = opts[i+1]
			usePat = !(len(pat) == 1 && pat[0] == '*')
		default:
			return 0, nil, false, ErrSyntax
		}
	}
	return count, pat, usePat, ""
}
