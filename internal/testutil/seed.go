package testutil

import (
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
