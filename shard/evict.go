package shard

import (
	"errors"
	"math/rand/v2"
	"strings"
)

// Policy is a maxmemory eviction policy.
type Policy uint8

// Eviction policies. The FIFO policies evict the keys created first, an
// addition to Redis's set that Shoal's design calls for.
const (
	NoEviction Policy = iota
	AllKeysLRU
	AllKeysLFU
	AllKeysRandom
	AllKeysFIFO
	VolatileLRU
	VolatileLFU
	VolatileRandom
	VolatileTTL
	VolatileFIFO
)

var policyNames = [...]string{
	NoEviction:     "noeviction",
	AllKeysLRU:     "allkeys-lru",
	AllKeysLFU:     "allkeys-lfu",
	AllKeysRandom:  "allkeys-random",
	AllKeysFIFO:    "allkeys-fifo",
	VolatileLRU:    "volatile-lru",
	VolatileLFU:    "volatile-lfu",
	VolatileRandom: "volatile-random",
	VolatileTTL:    "volatile-ttl",
	VolatileFIFO:   "volatile-fifo",
}

// ErrUnknownPolicy is returned by ParsePolicy.
var ErrUnknownPolicy = errors.New("shard: unknown maxmemory policy")

// String returns the policy's configuration name.
func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return "unknown"
}

// ParsePolicy parses a configuration name, case-insensitively.
func ParsePolicy(s string) (Policy, error) {
	for i, n := range policyNames {
		if strings.EqualFold(s, n) {
			return Policy(i), nil
		}
	}
	return 0, ErrUnknownPolicy
}

// Volatile reports whether the policy only evicts keys with an expiry time.
func (p Policy) Volatile() bool { return p >= VolatileLRU }

// DefaultSamples is how many keys eviction samples per victim, as Redis's
// maxmemory-samples.
const DefaultSamples = 5

// randomSlot returns a random non-empty slot (of the volatile index when
// volatile is set), or -1 when there is none.
func (s *Store) randomSlot(rng *rand.Rand, volatile bool) int {
	count := s.keys
	if volatile {
		count = s.volatile
	}
	if count == 0 {
		return -1
	}
	nonEmpty := func(i int) bool {
		if volatile {
			return len(s.slots[i].volatile) > 0
		}
		return s.slots[i].m.Len() > 0
	}
	for try := 0; try < 32; try++ {
		if i := rng.IntN(NumSlots); nonEmpty(i) {
			return i
		}
	}
	start := rng.IntN(NumSlots)
	for j := 0; j < NumSlots; j++ {
		if i := (start + j) % NumSlots; nonEmpty(i) {
			return i
		}
	}
	return -1
}

// EvictionCandidate returns the key that policy p would evict after sampling
// n keys, or "" when no key qualifies. now is in milliseconds. It only reads:
// the leader proposes the eviction. Caller holds RLock.
func (s *Store) EvictionCandidate(rng *rand.Rand, p Policy, n int, now int64) string {
	if p == NoEviction {
		return ""
	}
	if n <= 0 {
		n = DefaultSamples
	}
	var (
		best      string
		bestScore int64
		found     bool
	)
	nowSec := uint32(now / 1000)
	nowMin := uint32(now / 60000)
	for k := 0; k < n; k++ {
		i := s.randomSlot(rng, p.Volatile())
		if i < 0 {
			return ""
		}
		sd := &s.slots[i]
		var key string
		var e *Entry
		if p.Volatile() {
			// Go randomises map iteration order; skipping a random number
			// of keys spreads the choice within large slots.
			skip := 0
			if l := len(sd.volatile); l > 1 {
				skip = rng.IntN(min(l, 16))
			}
			for kk := range sd.volatile {
				key = kk
				if skip == 0 {
					break
				}
				skip--
			}
			e = sd.m.getString(key)
		} else {
			key, e = sd.m.random(rng.IntN)
		}
		if e == nil {
			continue
		}
		// Higher score is evicted first.
		var score int64
		switch p {
		case AllKeysLRU, VolatileLRU:
			score = int64(nowSec) - int64(e.lru.Load())
		case AllKeysLFU, VolatileLFU:
			score = 255 - int64(e.LFUCounter(nowMin))
		case AllKeysRandom, VolatileRandom:
			score = rng.Int64()
		case VolatileTTL:
			score = -e.ExpireAt
		case AllKeysFIFO, VolatileFIFO:
			score = int64(s.root.seq - e.seq) // age in creations, wrap-safe
		}
		if !found || score > bestScore {
			best, bestScore, found = key, score, true
		}
	}
	return best
}

// ExpiredKey is a key found expired by CollectExpired.
type ExpiredKey struct {
	Key      string
	ExpireAt int64
}

// CollectExpired walks the volatile keys from slot cursor on, checking at most
// budget keys, and appends those expired at now to dst. It returns dst and the
// cursor to continue from. It only reads: the leader proposes the deletes.
// Caller holds RLock.
func (s *Store) CollectExpired(dst []ExpiredKey, cursor, budget int, now int64) ([]ExpiredKey, int) {
	if s.volatile == 0 {
		return dst, cursor
	}
	for n := 0; n < NumSlots && budget > 0; n++ {
		sd := &s.slots[cursor]
		cursor = (cursor + 1) % NumSlots
		for k := range sd.volatile {
			budget--
			if e := sd.m.getString(k); e != nil && e.expired(now) {
				dst = append(dst, ExpiredKey{Key: k, ExpireAt: e.ExpireAt})
			}
		}
	}
	return dst, cursor
}
