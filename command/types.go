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
