package shard

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/shoalcache/shoal/internal/testutil"
)

func setMembers(s *Set) []string {
	var out []string
	s.Range(func(m []byte) bool { out = append(out, string(m)); return true })
	return out
}

// TestSetAgainstModel runs random adds and removes on a set and a map,
// across the intset-to-hashtable conversion, and checks membership,
// contents, the intset's ascending order and the encoding's round trip.
func TestSetAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(testutil.Seed(t), 4))
	for round := 0; round < 30; round++ {
		model := map[string]bool{}
		span := 1 + rng.IntN(1200)
		strs := round%3 == 0
		member := func() string {
			if strs && rng.IntN(20) == 0 {
				return "m" + strconv.Itoa(rng.IntN(span))
			}
			return strconv.Itoa(rng.IntN(span) - span/2)
		}
		first := member()
		s := NewSet([]byte(first))
		for op := 0; op < 3000; op++ {
			m := member()
			if rng.IntN(3) < 2 {
				if s.Add([]byte(m)) == model[m] {
					t.Fatalf("round %d op %d: Add(%s) new=%v with model %v", round, op, m, !model[m], model[m])
				}
				model[m] = true
			} else {
				if s.Remove([]byte(m)) != model[m] {
					t.Fatalf("round %d op %d: Remove(%s) != %v", round, op, m, model[m])
				}
				delete(model, m)
			}
			if s.Has([]byte(m)) != model[m] {
				t.Fatalf("round %d op %d: Has(%s) != %v", round, op, m, model[m])
			}
		}
		got := setMembers(s)
		if len(got) != len(model) || s.Len() != len(model) {
			t.Fatalf("round %d: %d members (Len %d), want %d", round, len(got), s.Len(), len(model))
		}
		for _, m := range got {
			if !model[m] {
				t.Fatalf("round %d: unexpected member %s", round, m)
			}
		}
		if s.Intset() {
			ints := make([]int64, len(got))
			for i, m := range got {
				ints[i], _ = strconv.ParseInt(m, 10, 64)
			}
			if !slices.IsSorted(ints) || len(got) > SetMaxIntsetEntries {
				t.Fatalf("round %d: intset of %d members, sorted %v", round, len(got), slices.IsSorted(ints))
			}
		}
		if s.Len() == 0 {
			continue
		}
		o, err := DecodeObject(TypeSet, AppendObject(nil, s))
		if err != nil {
			t.Fatalf("round %d: decode: %v", round, err)
		}
		d := o.(*Set)
		if d.Intset() != s.Intset() || d.size() != s.size() || !slices.Equal(setMembers(d), got) {
			t.Fatalf("round %d: round trip differs", round)
		}
	}
}

func TestSetEncodings(t *testing.T) {
	for _, c := range []struct {
		m      string
		intset bool
	}{{"0", true}, {"-1", true}, {"9223372036854775807", true}, {"-9223372036854775808", true},
		{"9223372036854775808", false}, {"01", false}, {"-0", false}, {"+1", false}, {"", false}, {" 1", false}, {"x", false}} {
		if s := NewSet([]byte(c.m)); s.Intset() != c.intset {
			t.Errorf("NewSet(%q): intset %v, want %v", c.m, s.Intset(), c.intset)
		}
	}
	s := NewSet([]byte("1"))
	for i := 0; i < SetMaxIntsetEntries; i++ {
		s.Add([]byte(strconv.Itoa(i)))
	}
	if !s.Intset() || s.IntsetWidth() != 2 {
		t.Fatalf("%d small integers: intset %v width %d", s.Len(), s.Intset(), s.IntsetWidth())
	}
	s.Add([]byte("100000"))
	if s.Intset() {
		t.Fatal("513 members: still an intset")
	}
	for i := 0; i < SetMaxIntsetEntries; i++ {
		s.Remove([]byte(strconv.Itoa(i)))
	}
	if s.Intset() || s.Len() != 1 {
		t.Fatal("a hashtable went back to an intset")
	}
	w := NewSet([]byte("1"))
	w.Add([]byte("70000"))
	if w.IntsetWidth() != 4 {
		t.Fatalf("width %d, want 4", w.IntsetWidth())
	}
	w.Add([]byte("-3000000000"))
	if w.IntsetWidth() != 8 {
		t.Fatalf("width %d, want 8", w.IntsetWidth())
	}
}

// TestSetCopyOnWrite: a view keeps a set (both encodings) while the store
// changes it.
func TestSetCopyOnWrite(t *testing.T) {
	for _, strs := range []bool{false, true} {
		s := New()
		key := []byte("s")
		s.Lock()
		set := NewSet([]byte("1"))
		for i := 0; i < 1000; i++ {
			m := strconv.Itoa(i)
			if strs {
				m = "m" + m
			}
			set.Add([]byte(m))
		}
		s.SetObject(key, set, 0, 1000)
		want := setMembers(set)
		v := s.Snapshot()
		e := s.EditObject(key)
		before := ObjectSize(e)
		for i := 0; i < 500; i++ {
			e.Object().(*Set).Remove(e.Object().(*Set).At(nil, 0))
		}
		s.ObjectDone(key, e, before)
		s.Unlock()
		v.RangeSlot(Slot(key), func(_ string, e *Entry) bool {
			if got := setMembers(e.Object().(*Set)); !slices.Equal(got, want) {
				t.Fatalf("strings=%v: the view's set changed: %d members, want %d", strs, len(got), len(want))
			}
			return true
		})
		v.Release()
		s.RLock()
		if n := s.Peek(key).Object().Len(); n != len(want)-500 {
			t.Fatalf("store: %d members", n)
		}
		s.RUnlock()
	}
}

func TestDecodeSetGarbage(t *testing.T) {
	for name, p := range map[string][]byte{
		"empty":         {0, 0},
		"not ascending": {0, 2, 4, 2},
		"duplicate":     {1, 2, 1, 'a', 1, 'a'},
		"trailing":      {0, 1, 2, 9},
		"bad encoding":  {2, 1, 2},
		"truncated":     {1, 2, 1, 'a'},
	} {
		if _, err := DecodeObject(TypeSet, p); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}
