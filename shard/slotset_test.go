package shard

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestSlotSet(t *testing.T) {
	var s SlotSet
	if s.Count() != 0 || len(s.Ranges(nil)) != 0 || s.Has(0) {
		t.Fatal("zero SlotSet is not empty")
	}
	s.Add(-1)
	s.Add(NumSlots)
	if s.Count() != 0 || s.Has(-1) || s.Has(NumSlots) {
		t.Fatal("out-of-range slots were added")
	}
	s.AddRange(SlotRange{Start: -5, End: 2})
	s.AddRange(SlotRange{Start: 63, End: 64})
	s.Add(100)
	s.AddRange(SlotRange{Start: NumSlots - 2, End: NumSlots + 10})
	s.AddRange(SlotRange{Start: 9, End: 8}) // empty
	want := "[{0 2} {63 64} {100 100} {16382 16383}]"
	if got := fmt.Sprint(s.Ranges(nil)); got != want {
		t.Fatalf("Ranges = %s, want %s", got, want)
	}
	if s.Count() != 8 {
		t.Fatalf("Count = %d, want 8", s.Count())
	}
	all := AllSlots()
	if all.Count() != NumSlots || fmt.Sprint(all.Ranges(nil)) != "[{0 16383}]" {
		t.Fatalf("AllSlots: %d slots, ranges %v", all.Count(), all.Ranges(nil))
	}
}

func TestSlotSetRangesRandom(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	for iter := 0; iter < 50; iter++ {
		var s SlotSet
		want := map[int]bool{}
		for i := rng.IntN(300); i > 0; i-- {
			start := rng.IntN(NumSlots)
			end := min(start+rng.IntN(40), NumSlots-1)
			s.AddRange(SlotRange{Start: start, End: end})
			for j := start; j <= end; j++ {
				want[j] = true
			}
		}
		var back SlotSet
		prev := -2
		for _, r := range s.Ranges(nil) {
			if r.Start <= prev+1 || r.End < r.Start {
				t.Fatalf("ranges not ascending and apart: %v after %d", r, prev)
			}
			back.AddRange(r)
			prev = r.End
		}
		if back != s || s.Count() != len(want) {
			t.Fatalf("Ranges do not rebuild the set (count %d, want %d)", s.Count(), len(want))
		}
		for i := 0; i < NumSlots; i++ {
			if s.Has(i) != want[i] {
				t.Fatalf("Has(%d) = %v", i, s.Has(i))
			}
		}
	}
}

// rangesBySlot is Ranges by the definition, one slot at a time.
func rangesBySlot(s *SlotSet) []SlotRange {
	var out []SlotRange
	for i := 0; i < NumSlots; i++ {
		if !s.Has(i) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].End == i-1 {
			out[n-1].End = i
		} else {
			out = append(out, SlotRange{i, i})
		}
	}
	return out
}

// TestSlotSetRangesWords: runs that start, end or jump at the edges of the
// bitmap's 64-bit words, which Ranges steps over whole.
func TestSlotSetRangesWords(t *testing.T) {
	for _, rs := range [][]SlotRange{
		{{0, 0}},
		{{63, 63}},
		{{63, 64}},
		{{64, 127}},
		{{0, 63}, {65, 65}},
		{{1, 62}},
		{{60, 200}, {256, 511}, {513, 1000}},
		{{0, NumSlots - 2}},
		{{1, NumSlots - 1}},
		{{NumSlots - 1, NumSlots - 1}},
		{{0, 5460}, {5461, 10922}},
		{{0, 0}, {2, 2}, {4, 4}, {127, 127}, {129, 191}},
	} {
		var s SlotSet
		for _, r := range rs {
			s.AddRange(r)
		}
		if got, want := s.Ranges(nil), rangesBySlot(&s); !slices.Equal(got, want) {
			t.Errorf("Ranges of %v = %v, want %v", rs, got, want)
		}
	}
}
