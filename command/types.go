package command

import (
	"math/rand/v2"

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
