package shard

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/shoalcache/shoal/internal/testutil"
)

func listContents(l *List) []string {
	var out []string
	if l.Len() > 0 {
		l.Range(0, l.Len()-1, func(_ int, v string) bool { out = append(out, v); return true })
	}
	return out
}

// TestListAgainstModel runs random operations on a list and a slice,
// with clones taken along the way (copy-on-write: a clone and its
// original must not see each other's changes), and checks contents,
// indexes, reverse ranges, accounting and the encoding's round trip.
func TestListAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(testutil.Seed(t), 5))
	for round := 0; round < 20; round++ {
		l := NewList()
		var model []string
		type frozen struct {
			l    *List
			want []string
		}
		var clones []frozen
		for op := 0; op < 3000; op++ {
			v := strconv.Itoa(rng.IntN(50))
			switch r := rng.IntN(12); {
			case r < 3:
				l.PushFront([]byte(v))
				model = slices.Insert(model, 0, v)
			case r < 6:
				l.PushBack([]byte(v))
				model = append(model, v)
			case r == 6 && len(model) > 0:
				if got := l.PopFront(); got != model[0] {
					t.Fatalf("round %d op %d: PopFront %q, want %q", round, op, got, model[0])
				}
				model = model[1:]
			case r == 7 && len(model) > 0:
				if got := l.PopBack(); got != model[len(model)-1] {
					t.Fatalf("round %d op %d: PopBack %q", round, op, got)
				}
				model = model[:len(model)-1]
			case r == 8:
				i := rng.IntN(len(model) + 1)
				l.Insert(i, []byte(v))
				model = slices.Insert(model, i, v)
			case r == 9 && len(model) > 0:
				i := rng.IntN(len(model))
				l.Set(i, []byte(v))
				model[i] = v
			case r == 10 && rng.IntN(20) == 0:
				n := l.Filter(func(s string) bool { return s != v })
				before := len(model)
				model = slices.DeleteFunc(model, func(s string) bool { return s == v })
				if n != before-len(model) {
					t.Fatalf("round %d op %d: Filter removed %d, want %d", round, op, n, before-len(model))
				}
			case r == 11 && rng.IntN(10) == 0:
				clones = append(clones, frozen{l, slices.Clone(model)})
				l = l.clone().(*List)
			}
			if len(model) > 0 {
				i := rng.IntN(len(model))
				if got := l.Index(i); got != model[i] {
					t.Fatalf("round %d op %d: Index(%d) = %q, want %q", round, op, i, got, model[i])
				}
			}
		}
		if got := listContents(l); !slices.Equal(got, model) || l.Len() != len(model) {
			t.Fatalf("round %d: contents differ (%d vs %d)", round, len(got), len(model))
		}
		var rev []string
		if l.Len() > 0 {
			l.RangeReverse(0, l.Len()-1, func(_ int, v string) bool { rev = append(rev, v); return true })
		}
		slices.Reverse(rev)
		if !slices.Equal(rev, model) {
			t.Fatalf("round %d: RangeReverse differs", round)
		}
		for k, c := range clones {
			if got := listContents(c.l); !slices.Equal(got, c.want) {
				t.Fatalf("round %d: clone %d changed after the copy (%d elements, want %d)", round, k, len(got), len(c.want))
			}
		}
		var mem int64
		for _, v := range model {
			mem += elemMem(v)
		}
		if l.mem != mem {
			t.Fatalf("round %d: accounted %d, want %d", round, l.mem, mem)
		}
		if l.Len() == 0 {
			continue
		}
		o, err := DecodeObject(TypeList, AppendObject(nil, l))
		if err != nil || !slices.Equal(listContents(o.(*List)), model) {
			t.Fatalf("round %d: round trip: %v", round, err)
		}
	}
}

func TestListTrim(t *testing.T) {
	l := NewList()
	for i := 0; i < 1000; i++ {
		l.PushBack([]byte(strconv.Itoa(i)))
	}
	l.Trim(10, 20)
	if got := listContents(l); len(got) != 11 || got[0] != "10" || got[10] != "20" {
		t.Fatalf("Trim(10, 20): %v", got)
	}
	l.Trim(5, 1)
	if l.Len() != 0 || len(l.chunks) != 0 || l.mem != 0 {
		t.Fatalf("Trim to nothing: %d elements, %d chunks, %d bytes", l.Len(), len(l.chunks), l.mem)
	}
	for _, p := range [][]byte{{0}, {2, 1, 'a'}, {1, 1, 'a', 'b'}, {1, 5, 'a'}} {
		if _, err := DecodeObject(TypeList, p); err == nil {
			t.Errorf("% x decoded", p)
		}
	}
}
