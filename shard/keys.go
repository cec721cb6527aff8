package shard

import "math/rand/v2"

// Key space helpers for the KEYS command family (RENAME, RANDOMKEY).

// randomKeyTries is how many random samples RandomKey draws before it walks
// the slots looking for a live key.
const randomKeyTries = 16

// randomKeyWalkBudget bounds how many keys RandomKey's fallback walk examines
// when most keys are expired.
const randomKeyWalkBudget = 1 << 14

// Rename moves the entry of src, with its value, expiry time and access
// metadata, to dst, replacing any entry dst had. It reports whether src
// existed (live or expired: callers check liveness first, with GetWrite).
// The entry object is moved, not copied: it is never modified in place while
// a View may share it, so the move is safe with open views. Caller holds Lock.
func (s *Store) Rename(src, dst []byte) bool {
	i := Slot(src)
	e := s.slots[i].m.get(src)
	if e == nil {
		return false
	}
	if string(src) == string(dst) {
		return true
	}
	s.deleteFrom(i, src, e)
	j := Slot(dst)
	if old := s.slots[j].m.get(dst); old != nil {
		s.deleteFrom(j, dst, old)
	}
	s.root.mods++
	s.insert(j, dst, e)
	return true
}

// RandomKey returns a random key that is live at now (milliseconds), and
// false when the store has no key. It samples random non-empty slots; when
// every sample is expired it walks the slots from a random one for a live
// key, examining a bounded number of keys. If that walk covered the whole
// store and found only expired keys it returns false; if it was cut short it
// returns an expired key's name, as Redis does when it gives up. It only
// reads. Caller holds RLock.
func (s *Store) RandomKey(rng *rand.Rand, now int64) (string, bool) {
	var last string
	for try := 0; try < randomKeyTries; try++ {
		i := s.randomSlot(rng, false)
		if i < 0 {
			return "", false
		}
		k, e := s.randomInSlot(rng, i)
		if e == nil {
			continue
		}
		if !e.expired(now) {
			return k, true
		}
		last = k
	}
	start := rng.IntN(NumSlots)
	budget := randomKeyWalkBudget
	for j := 0; j < NumSlots; j++ {
		found := false
		s.slots[(start+j)%NumSlots].m.each(func(k string, e *Entry) bool {
			if !e.expired(now) {
				last, found = k, true
				return false
			}
			last = k
			budget--
			return true
		})
		if found {
			return last, true
		}
		if budget <= 0 && j < NumSlots-1 {
			return last, last != ""
		}
	}
	return "", false
}

// randomInSlot returns a random entry of slot i (nil if the slot is empty).
func (s *Store) randomInSlot(rng *rand.Rand, i int) (string, *Entry) {
	return s.slots[i].m.random(rng.IntN)
}
