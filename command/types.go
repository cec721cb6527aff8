package command

import (
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/shoalcache/shoal/shard"
)

// wrongType replies WRONGTYPE and reports true when e, a live entry or nil
// for a missing key, holds another type than t, as Redis's checkType does.
func (x *Ctx) wrongType(e *shard.Entry, t shard.Type) bool {
	if e != nil && e.Type() != t {
		x.Err(ErrWrongType)
		return true
	}
	return false
}

// rand returns the connection's random source; inside the FSM (a read
// command run by a script or a transaction) a generator seeded with the
// entry's time, so that every replica draws the same.
func (x *Ctx) rand() *rand.Rand {
	if x.Rng != nil {
		return x.Rng
	}
	if x.InFSM() {
		return rand.New(rand.NewPCG(uint64(x.Now), 0x5eed))
	}
	return NewRand()
}

// objRead returns key's collection of type t for a read command (the zero
// T, nil, when the key is missing), or false after replying WRONGTYPE. It
// counts the lookup in the keyspace statistics, as lookupKeyRead.
func objRead[T shard.Object](x *Ctx, key []byte, t shard.Type) (T, bool) {
	var none T
	e := x.St.Get(key, x.Now, x.LFURand)
	x.hitOrMiss(e != nil)
	if e == nil {
		return none, true
	}
	if x.wrongType(e, t) {
		return none, false
	}
	return e.Object().(T), true
}

// objPeekWrite returns key's collection of type t for a write command to
// look at before changing it (expired keys are deleted first), or false
// after replying WRONGTYPE. The collection must not be changed: changes go
// through Store.EditObject.
func objPeekWrite[T shard.Object](x *Ctx, key []byte, t shard.Type) (T, bool) {
	var none T
	e := x.St.GetWrite(key, x.Now)
	if e == nil {
		return none, true
	}
	if x.wrongType(e, t) {
		return none, false
	}
	return e.Object().(T), true
}

// randomPicks returns how many positions HRANDFIELD, SRANDMEMBER and
// ZRANDMEMBER reply for count in a collection of n > 0 elements, and calls
// fn with each: count independent draws for a negative count (streamed:
// no allocation however large), every position in order when count >= n,
// else count distinct positions (a partial Fisher-Yates shuffle). header is
// called with the number first.
func randomPicks(rng *rand.Rand, n int, count int64, header func(k int), fn func(i int)) {
	switch {
	case count < 0:
		header(int(-count))
		for k := -count; k > 0; k-- {
			fn(rng.IntN(n))
		}
		return
	case count >= int64(n):
		header(n)
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	header(int(count))
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	for i := 0; i < int(count); i++ {
		j := i + rng.IntN(n-i)
		idx[i], idx[j] = idx[j], idx[i]
		fn(idx[i])
	}
}

// objEdit is a collection being changed by a write command; done finishes
// the change.
type objEdit[T shard.Object] struct {
	e      *shard.Entry
	o      T
	before int64
}

// objWrite returns key's collection ready to change (copied first when a
// snapshot shares it). When the key is missing, newObj's collection is
// stored under it, or, with newObj nil, the zero objEdit (o nil) is
// returned. The caller has checked the type (objPeekWrite).
func objWrite[T shard.Object](x *Ctx, key []byte, newObj func() T) objEdit[T] {
	if x.St.GetWrite(key, x.Now) == nil {
		if newObj == nil {
			return objEdit[T]{}
		}
		o := newObj()
		e := x.St.SetObject(key, o, 0, x.Now)
		return objEdit[T]{e: e, o: o, before: shard.ObjectSize(e)}
	}
	e := x.St.EditObject(key)
	return objEdit[T]{e: e, o: e.Object().(T), before: shard.ObjectSize(e)}
}

// done accounts the change and deletes the key when the collection is left
// empty, as Redis.
func (w objEdit[T]) done(x *Ctx, key []byte) {
	if w.e != nil {
		x.St.ObjectDone(key, w.e, w.before)
	}
}

// randCountArgs parses HRANDFIELD's and ZRANDMEMBER's "count [opt]"
// (opt: withvalues, withscores): the count and whether opt was given, or
// false after replying the error, as Redis checks them before the key.
func randCountArgs(x *Ctx, args [][]byte, opt string) (count int64, with, ok bool) {
	count, ok = ParseInt(args[2])
	if !ok {
		x.Err(ErrNotInteger)
		return 0, false, false
	}
	if count == math.MinInt64 {
		x.Err(ErrLongRange)
		return 0, false, false
	}
	if len(args) >= 4 {
		if len(args) != 4 || !cEqFold(args[3], opt) {
			x.Err(ErrSyntax)
			return 0, false, false
		}
		with = true
	}
	if with && count < -math.MaxInt64/2 {
		x.Err(ErrOutOfRange)
		return 0, false, false
	}
	return count, with, true
}

// pairsHeader returns the array header of k replies that are pairs when
// paired (a flat array of 2k in RESP2, k arrays of two in RESP3, whose
// own headers the caller writes).
func (x *Ctx) pairsHeader(paired bool) func(k int) {
	return func(k int) {
		if paired && x.Proto != 3 {
			k *= 2
		}
		x.Array(k)
	}
}

// scanHeader writes the start of a HSCAN/SSCAN/ZSCAN reply: the next
// cursor, then the header of n elements.
func (x *Ctx) scanHeader(next uint64, n int) {
	x.Array(2)
	var buf [20]byte
	x.Bulk(strconv.AppendUint(buf[:0], next, 10))
	x.Array(n)
}
