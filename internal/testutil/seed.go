package testutil

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// Seed returns the seed of a randomized test: SHOAL_SEED when set (to
// replay a failure), otherwise a fresh one. It logs the seed either way.
func Seed(t testing.TB) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("SHOAL_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("bad SHOAL_SEED %q: %v", v, err)
		}
		seed = s
	}
	t.Logf("seed %d (replay with SHOAL_SEED=%d)", seed, seed)
	return seed
}

// Rand returns a random source for a randomized test, seeded with Seed(t)
// (so logged, and replayed with SHOAL_SEED). Not safe for concurrent use.
func Rand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := Seed(t)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}
