package shard

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// samples is large enough that, with a handful of keys, every key is sampled
// at least once with overwhelming probability (sampling is with replacement).
const samples = 400

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed+1)) }

func TestPolicyNames(t *testing.T) {
	all := []Policy{NoEviction, AllKeysLRU, AllKeysLFU, AllKeysRandom, AllKeysFIFO,
		VolatileLRU, VolatileLFU, VolatileRandom, VolatileTTL, VolatileFIFO}
	names := []string{"noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "allkeys-fifo",
		"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "volatile-fifo"}
	for i, p := range all {
		if p.String() != names[i] {
			t.Errorf("%d.String() = %q, want %q", p, p.String(), names[i])
		}
		for _, n := range []string{names[i], strings.ToUpper(names[i])} {
			got, err := ParsePolicy(n)
			if err != nil || got != p {
				t.Errorf("ParsePolicy(%q) = %v, %v", n, got, err)
			}
		}
		if want := strings.HasPrefix(names[i], "volatile-"); p.Volatile() != want {
			t.Errorf("%s.Volatile() = %v", p, p.Volatile())
		}
	}
	if _, err := ParsePolicy("allkeys-mru"); !errors.Is(err, ErrUnknownPolicy) {
		t.Errorf("ParsePolicy(bad) error = %v", err)
	}
	if Policy(200).String() != "unknown" {
		t.Errorf("Policy(200).String() = %q", Policy(200).String())
	}
}

// evictSetup is a store with persistent keys p1..p3 and volatile keys v1..v3,
// whose access times, access counts, creation order and TTLs differ so that
// each policy has exactly one right answer.
type evictSetup struct {
	s   *Store
	now int64
}

func newEvictSetup(t *testing.T) evictSetup {
	t.Helper()
	s := New()
	s.Lock()
	t.Cleanup(s.Unlock)
	// base is the start of a minute: every access below falls in the same
	// minute, so no LFU counter decays.
	const base = int64(28_333_334 * 60_000)
	// Creation order (FIFO): p2, v2, v1, p1, v3, p3.
	// TTLs: v1 soonest, then v3, then v2.
	s.Set(b("p2"), b("x"), 0, base)
	s.Set(b("v2"), b("x"), base+3_000_000, base)
	s.Set(b("v1"), b("x"), base+1_000_000, base)
	s.Set(b("p1"), b("x"), 0, base)
	s.Set(b("v3"), b("x"), base+2_000_000, base)
	s.Set(b("p3"), b("x"), 0, base)
	// Last access (LRU): p3 oldest, then v3, then the others.
	// r = 0 always increments the LFU counter, r close to 1 never does.
	access := func(k string, secs int64, times int, r float64) {
		for i := 0; i < times; i++ {
			if s.Get(b(k), base+secs*1000, r) == nil {
				t.Fatalf("Get(%q) = nil", k)
			}
		}
	}
	access("p3", 1, 1, 0.999)
	access("v3", 2, 1, 0.999)
	access("p1", 30, 1, 0.999)
	access("v1", 30, 1, 0.999)
	access("p2", 40, 1, 0.999)
	access("v2", 40, 1, 0.999)
	// Access counts (LFU): the first access above took every counter from
	// LFUInitVal to LFUInitVal+1 (its increment probability is 1). p1 stays
	// there, v1 gets two more, the others six more.
	access("v1", 31, 2, 0)
	// These bumps must not move the LRU order: same second as before.
	access("p2", 40, 6, 0)
	access("v2", 40, 6, 0)
	access("p3", 1, 6, 0)
	access("v3", 2, 6, 0)
	return evictSetup{s: s, now: base + 50_000}
}

func TestEvictionCandidatePolicies(t *testing.T) {
	tests := []struct {
		policy Policy
		want   string
	}{
		{NoEviction, ""},
		{AllKeysLRU, "p3"},
		{VolatileLRU, "v3"},
		{AllKeysLFU, "p1"},
		{VolatileLFU, "v1"},
		{AllKeysFIFO, "p2"},
		{VolatileFIFO, "v2"},
		{VolatileTTL, "v1"},
	}
	for _, tt := range tests {
		t.Run(tt.policy.String(), func(t *testing.T) {
			es := newEvictSetup(t)
			for seed := uint64(0); seed < 5; seed++ {
				got := es.s.EvictionCandidate(newRNG(seed), tt.policy, samples, es.now)
				if got != tt.want {
					t.Fatalf("seed %d: candidate = %q, want %q", seed, got, tt.want)
				}
			}
		})
	}
}

func TestEvictionCandidateFIFOIgnoresOverwrite(t *testing.T) {
	// Overwriting a key keeps its creation number, so it stays the oldest.
	s := New()
	s.Set(b("old"), b("1"), 0, 1000)
	s.Set(b("young"), b("1"), 0, 2000)
	s.Set(b("old"), b("2"), 0, 3000)
	if got := s.EvictionCandidate(newRNG(1), AllKeysFIFO, samples, 4000); got != "old" {
		t.Fatalf("candidate = %q, want old", got)
	}
	s.Delete(b("old"))
	s.Set(b("old"), b("3"), 0, 5000) // recreated: now the youngest
	if got := s.EvictionCandidate(newRNG(1), AllKeysFIFO, samples, 6000); got != "young" {
		t.Fatalf("candidate = %q, want young", got)
	}
}

func TestEvictionCandidateLFUDecay(t *testing.T) {
	// A key accessed often long ago decays below a key accessed recently.
	s := New()
	const minute = 60_000
	s.Set(b("hot-long-ago"), b("x"), 0, 0)
	for i := 0; i < 20; i++ {
		s.Get(b("hot-long-ago"), 0, 0)
	}
	s.Set(b("recent"), b("x"), 0, 100*minute)
	if c := s.Peek(b("hot-long-ago")).LFUCounter(0); c <= LFUInitVal {
		t.Fatalf("counter after 20 hits = %d", c)
	}
	if c := s.Peek(b("hot-long-ago")).LFUCounter(100); c != 0 {
		t.Fatalf("counter after 100 idle minutes = %d, want 0", c)
	}
	if got := s.EvictionCandidate(newRNG(3), AllKeysLFU, samples, 100*minute); got != "hot-long-ago" {
		t.Fatalf("candidate = %q, want hot-long-ago", got)
	}
}

func TestEvictionCandidateRandom(t *testing.T) {
	for _, p := range []Policy{AllKeysRandom, VolatileRandom} {
		t.Run(p.String(), func(t *testing.T) {
			es := newEvictSetup(t)
			rng := newRNG(42)
			seen := map[string]int{}
			for i := 0; i < 300; i++ {
				k := es.s.EvictionCandidate(rng, p, DefaultSamples, es.now)
				if es.s.Peek(b(k)) == nil {
					t.Fatalf("candidate %q does not exist", k)
				}
				if p.Volatile() && es.s.Peek(b(k)).ExpireAt == 0 {
					t.Fatalf("%s picked persistent key %q", p, k)
				}
				seen[k]++
			}
			if len(seen) < 2 {
				t.Fatalf("300 draws picked only %v", seen)
			}
			if !p.Volatile() {
				hasP := false
				for k := range seen {
					hasP = hasP || k[0] == 'p'
				}
				if !hasP {
					t.Fatalf("allkeys-random never picked a persistent key: %v", seen)
				}
			}
		})
	}
}

func TestEvictionCandidateVolatileNeedsTTL(t *testing.T) {
	s := New()
	for i := 0; i < 50; i++ {
		s.Set(b(fmt.Sprintf("p%d", i)), b("x"), 0, 1000)
	}
	for _, p := range []Policy{VolatileLRU, VolatileLFU, VolatileRandom, VolatileTTL, VolatileFIFO, NoEviction} {
		if got := s.EvictionCandidate(newRNG(7), p, samples, 2000); got != "" {
			t.Errorf("%s with no volatile key = %q, want \"\"", p, got)
		}
	}
	// One volatile key among many persistent ones: volatile policies find
	// exactly it, even with the default sample count.
	s.Set(b("{v}only"), b("x"), 9000, 1000)
	for _, p := range []Policy{VolatileLRU, VolatileLFU, VolatileRandom, VolatileTTL, VolatileFIFO} {
		for seed := uint64(0); seed < 20; seed++ {
			if got := s.EvictionCandidate(newRNG(seed), p, 0, 2000); got != "{v}only" {
				t.Fatalf("%s seed %d = %q, want {v}only", p, seed, got)
			}
		}
	}
	// Empty store.
	e := New()
	for _, p := range []Policy{AllKeysLRU, AllKeysLFU, AllKeysRandom, AllKeysFIFO, VolatileTTL} {
		if got := e.EvictionCandidate(newRNG(1), p, 5, 0); got != "" {
			t.Errorf("%s on empty store = %q", p, got)
		}
	}
}

func TestEvictionCandidateManyKeysPerSlot(t *testing.T) {
	// Keys sharing one slot, a few volatile: the candidate is always one
	// of them, and volatile policies never pick a persistent one.
	s := New()
	for i := 0; i < 100; i++ {
		exp := int64(0)
		if i%10 == 0 {
			exp = int64(100_000 + i)
		}
		s.Set(b(fmt.Sprintf("{slot}%d", i)), b("x"), exp, 1000)
	}
	rng := newRNG(9)
	for i := 0; i < 200; i++ {
		for _, p := range []Policy{AllKeysRandom, VolatileRandom, VolatileTTL, VolatileLRU} {
			k := s.EvictionCandidate(rng, p, DefaultSamples, 2000)
			e := s.Peek(b(k))
			if e == nil || (p.Volatile() && e.ExpireAt == 0) {
				t.Fatalf("%s picked %q (%v)", p, k, e)
			}
		}
	}
	// With enough samples volatile-ttl finds the soonest of the ten.
	if got := s.EvictionCandidate(rng, VolatileTTL, 2000, 2000); got != "{slot}0" {
		t.Fatalf("volatile-ttl = %q, want {slot}0", got)
	}
}

func TestCollectExpired(t *testing.T) {
	s := New()
	const now = 10_000
	want := map[string]int64{}
	// Expired volatile keys in the first and last slots and in between.
	for i, slot := range []int{0, 1, 777, 9000, NumSlots - 1} {
		k := keyInSlot(t, slot, fmt.Sprintf("exp%d-", i))
		exp := int64(now - i)
		s.Set(b(k), b("x"), exp, 0)
		want[k] = exp
	}
	want["due-now"] = now
	s.Set(b("due-now"), b("x"), now, 0)
	// Not expired, or no TTL at all.
	s.Set(b("future"), b("x"), now+1, 0)
	s.Set(b("persistent"), b("x"), 0, 0)
	s.Set(b("persistent2"), b("x"), 0, 0)

	// One big budget from any cursor finds exactly the expired keys and
	// comes back to the cursor.
	for _, start := range []int{0, 5, NumSlots - 1} {
		got, cur := s.CollectExpired(nil, start, 1<<20, now)
		if cur != start {
			t.Errorf("full walk from %d ended at %d", start, cur)
		}
		m := map[string]int64{}
		for _, ek := range got {
			m[ek.Key] = ek.ExpireAt
		}
		if len(m) != len(want) || len(got) != len(want) {
			t.Fatalf("from %d: got %v, want %v", start, got, want)
		}
		for k, exp := range want {
			if m[k] != exp {
				t.Fatalf("from %d: %q expireAt %d, want %d", start, k, m[k], exp)
			}
		}
	}

	// Budget 1 stops after the first slot holding volatile keys, and the
	// cursor wraps from the last slot to the first.
	last := keyInSlot(t, NumSlots-1, "exp4-")
	got, cur := s.CollectExpired(nil, NumSlots-2, 1, now)
	if len(got) != 1 || got[0].Key != last || cur != 0 {
		t.Fatalf("budget 1 from %d: got %v cursor %d, want [%s] cursor 0", NumSlots-2, got, cur, last)
	}
	// Walking with a small budget over a full cycle finds every expired key.
	seen := map[string]int{}
	cur = 3
	var dst []ExpiredKey
	for dist, calls := 0, 0; dist < NumSlots; calls++ {
		if calls > 100 {
			t.Fatal("budgeted walk does not advance")
		}
		prev := cur
		dst, cur = s.CollectExpired(dst[:0], cur, 1, now)
		for _, ek := range dst {
			seen[ek.Key]++
		}
		dist += (cur - prev + NumSlots) % NumSlots
	}
	for k := range want {
		if seen[k] == 0 {
			t.Errorf("budgeted walk missed %q", k)
		}
	}
	for k := range seen {
		if _, ok := want[k]; !ok {
			t.Errorf("budgeted walk reported live key %q", k)
		}
	}

	// No volatile keys: nothing, cursor unchanged.
	e := New()
	e.Set(b("p"), b("x"), 0, 0)
	if got, cur := e.CollectExpired(nil, 42, 100, now); len(got) != 0 || cur != 42 {
		t.Fatalf("store without TTLs: %v, cursor %d", got, cur)
	}
	// Collecting does not delete.
	if s.Len() != int64(len(want))+3 {
		t.Fatalf("CollectExpired changed the store: Len=%d", s.Len())
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !s.Expire(b(k), want[k], now) {
			t.Fatalf("Expire(%q) of a collected key failed", k)
		}
	}
	if got, _ := s.CollectExpired(nil, 0, 1<<20, now); len(got) != 0 {
		t.Fatalf("after expiring everything: %v", got)
	}
}
