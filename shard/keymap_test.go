package shard

import (
	"fmt"
	"iter"
	"testing"
	"unsafe"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestKeyMapAgainstModel applies random inserts, overwrites, deletes,
// clones and iterations (deleting while iterating included) to a keyMap
// and to a Go map, and checks that they agree after every step.
func TestKeyMapAgainstModel(t *testing.T) {
	rng := testutil.Rand(t)
	for round := range 20 {
		var m keyMap
		model := map[string]*Entry{}
		withKey := map[*Entry]bool{}
		// A few hundred keys, the empty key among them, so that tables grow
		// and shrink through tombstones and rebuilds.
		nkeys := 1 + rng.IntN(400)
		keys := make([]string, nkeys)
		for i := range keys {
			keys[i] = fmt.Sprintf("k%d", i)
		}
		keys[0] = ""
		var clones []*keyMap
		var cloneModels []map[string]*Entry
		for step := range 3000 {
			k := keys[rng.IntN(nkeys)]
			switch op := rng.IntN(10); {
			case op < 5:
				e := &Entry{ExpireAt: int64(step)}
				switch rng.IntN(3) {
				case 0:
					m.set([]byte(k), e)
				case 1:
					m.setString(k, e)
				default:
					// An entry holding the key's bytes, as newInlineEntry
					// makes one.
					b := new(entryB[[128]byte])
					b.ExpireAt = int64(step)
					e = &b.Entry
					m.setIn(unsafe.String(unsafe.SliceData(b.buf[:]), copy(b.buf[:], k)), e)
					withKey[e] = true
				}
				model[k] = e
			case op < 8:
				_, want := model[k]
				if got := m.del([]byte(k)); got != want {
					t.Fatalf("round %d step %d: del(%q) = %v, want %v", round, step, k, got, want)
				}
				delete(model, k)
			case op < 9 && len(clones) < 4:
				c := m.clone()
				clones = append(clones, &c)
				cm := make(map[string]*Entry, len(model))
				for k, v := range model {
					cm[k] = v
				}
				cloneModels = append(cloneModels, cm)
			default:
				// Delete about half of the keys while iterating: each visits
				// every key present at the start that was not deleted yet.
				seen := map[string]bool{}
				m.each(func(k string, e *Entry) bool {
					if seen[k] {
						t.Fatalf("round %d step %d: each visited %q twice", round, step, k)
					}
					seen[k] = true
					if model[k] != e {
						t.Fatalf("round %d step %d: each gave %q a stale entry", round, step, k)
					}
					if rng.IntN(2) == 0 {
						m.del([]byte(k))
						delete(model, k)
					}
					return true
				})
			}
			checkKeyMap(t, fmt.Sprintf("round %d step %d", round, step), &m, model, keys, withKey)
		}
		for i, c := range clones {
			checkKeyMap(t, fmt.Sprintf("round %d clone %d", round, i), c, cloneModels[i], keys, withKey)
		}
	}
}

func checkKeyMap(t *testing.T, where string, m *keyMap, model map[string]*Entry, keys []string, withKey map[*Entry]bool) {
	t.Helper()
	if m.Len() != len(model) {
		t.Fatalf("%s: Len %d, want %d", where, m.Len(), len(model))
	}
	for _, k := range keys {
		if got, want := m.get([]byte(k)), model[k]; got != want {
			t.Fatalf("%s: get(%q) = %p, want %p", where, k, got, want)
		}
		if got, want := m.getString(k), model[k]; got != want {
			t.Fatalf("%s: getString(%q) = %p, want %p", where, k, got, want)
		}
	}
	n := 0
	for k, e := range m.all() {
		n++
		if model[k] != e {
			t.Fatalf("%s: iteration gave %q an entry the model has not", where, k)
		}
	}
	if n != len(model) {
		t.Fatalf("%s: iteration visited %d keys, want %d", where, n, len(model))
	}
	// A slot points into its entry's object for the key's bytes exactly
	// when it is flagged so: a replaced entry's object is never kept alive
	// by the key. (Only the entries setIn stored are entryB[[128]byte]s.)
	for i := range m.slots {
		s := &m.slots[i]
		if s.e == nil || s.e == tombstone {
			continue
		}
		base := uintptr(unsafe.Pointer(s.e))
		if s.kl&klInEntry != 0 {
			if !withKey[s.e] || uintptr(s.kp) != base+unsafe.Sizeof(Entry{}) {
				t.Fatalf("%s: key %q flagged, but its bytes are not its entry's", where, s.key())
			}
		} else if withKey[s.e] && uintptr(s.kp) >= base && uintptr(s.kp) < base+unsafe.Sizeof(entryB[[128]byte]{}) {
			t.Fatalf("%s: key %q in its entry's object, not flagged", where, s.key())
		}
	}
	if m.used < m.live || int(m.used+1)*8 > len(m.slots)*7+8 {
		t.Fatalf("%s: %d used slots of %d for %d keys", where, m.used, len(m.slots), m.live)
	}
}

// TestKeyMapRandom checks that random draws reach every key, in a dense
// table and in a sparse one (most keys deleted, so most slots empty or
// tombstones).
func TestKeyMapRandom(t *testing.T) {
	rng := testutil.Rand(t)
	var empty keyMap
	if k, e := empty.random(rng.IntN); k != "" || e != nil {
		t.Fatalf("random of an empty map = %q %p", k, e)
	}
	var m keyMap
	for i := range 1000 {
		m.set(fmt.Appendf(nil, "k%d", i), &Entry{})
	}
	for i := range 1000 {
		if i%100 != 0 {
			m.del(fmt.Appendf(nil, "k%d", i))
		}
	}
	seen := map[string]int{}
	for range 2000 {
		k, e := m.random(rng.IntN)
		if e == nil || m.getString(k) != e {
			t.Fatalf("random gave %q %p, not a key of the map", k, e)
		}
		seen[k]++
	}
	if len(seen) != 10 {
		t.Fatalf("2000 draws from 10 keys reached %d of them: %v", len(seen), seen)
	}
}

// all returns an iterator over m's keys and entries, with each's rules.
func (m *keyMap) all() iter.Seq2[string, *Entry] {
	return func(yield func(string, *Entry) bool) { m.each(yield) }
}
