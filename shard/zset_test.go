package shard

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"testing"

	"github.com/shoalcache/shoal/internal/testutil"
)

type zpair struct {
	m string
	s float64
}

func zsetContents(z *ZSet) []zpair {
	var out []zpair
	z.AscendFrom(0, func(m string, s float64) bool { out = append(out, zpair{m, s}); return true })
	return out
}

func modelOrder(model map[string]float64) []zpair {
	var out []zpair
	for m, s := range model {
		out = append(out, zpair{m, s})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].s != out[j].s {
			return out[i].s < out[j].s
		}
		return out[i].m < out[j].m
	})
	return out
}

// TestZSetAgainstModel runs random sets and removes on a sorted set and a
// map, with clones along the way, and checks order, ranks, scores, score
// ranges in both directions and the encoding's round trip.
func TestZSetAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(testutil.Seed(t), 6))
	for round := 0; round < 20; round++ {
		z := NewZSet(0, 0)
		model := map[string]float64{}
		type frozen struct {
			z    *ZSet
			want []zpair
		}
		var clones []frozen
		span := 1 + rng.IntN(300)
		for op := 0; op < 2000; op++ {
			m := "m" + strconv.Itoa(rng.IntN(span))
			switch r := rng.IntN(10); {
			case r < 6:
				s := float64(rng.IntN(20)) / 2
				_, had := model[m]
				if z.Set([]byte(m), s) == had {
					t.Fatalf("round %d op %d: Set(%s) new=%v, model had it %v", round, op, m, !had, had)
				}
				model[m] = s
			case r < 9:
				_, had := model[m]
				if z.Remove([]byte(m)) != had {
					t.Fatalf("round %d op %d: Remove(%s) != %v", round, op, m, had)
				}
				delete(model, m)
			default:
				clones = append(clones, frozen{z, modelOrder(model)})
				z = z.clone().(*ZSet)
			}
		}
		want := modelOrder(model)
		if got := zsetContents(z); !slices.Equal(got, want) {
			t.Fatalf("round %d: order differs (%d vs %d members)", round, len(got), len(want))
		}
		for i, p := range want {
			if r, ok := z.Rank([]byte(p.m)); !ok || r != i {
				t.Fatalf("round %d: Rank(%s) = %d %v, want %d", round, p.m, r, ok, i)
			}
			if s, ok := z.Score([]byte(p.m)); !ok || s != p.s {
				t.Fatalf("round %d: Score(%s) = %v", round, p.m, s)
			}
		}
		lo, hi := float64(rng.IntN(10)), float64(10+rng.IntN(10))/2
		var asc, desc []zpair
		z.AscendScore(lo, true, func(m string, s float64) bool {
			if s > hi {
				return false
			}
			asc = append(asc, zpair{m, s})
			return true
		})
		z.DescendScore(hi, false, func(m string, s float64) bool {
			if s <= lo {
				return false
			}
			desc = append(desc, zpair{m, s})
			return true
		})
		var exp []zpair
		for _, p := range want {
			if p.s > lo && p.s <= hi {
				exp = append(exp, p)
			}
		}
		slices.Reverse(desc)
		if !slices.Equal(asc, exp) || !slices.Equal(desc, exp) {
			t.Fatalf("round %d: score range (%v, %v]: asc %d desc %d, want %d", round, lo, hi, len(asc), len(desc), len(exp))
		}
		for k, c := range clones {
			if got := zsetContents(c.z); !slices.Equal(got, c.want) {
				t.Fatalf("round %d: clone %d changed", round, k)
			}
		}
		if z.Len() == 0 {
			continue
		}
		o, err := DecodeObject(TypeZSet, AppendObject(nil, z))
		if err != nil {
			t.Fatalf("round %d: decode: %v", round, err)
		}
		d := o.(*ZSet)
		if d.Listpack() != z.Listpack() || d.size() != z.size() || !slices.Equal(zsetContents(d), want) {
			t.Fatalf("round %d: round trip differs", round)
		}
	}
}

func TestZSetEncodings(t *testing.T) {
	z := NewZSet(0, 0)
	for i := 0; i < ZSetMaxListpackEntries; i++ {
		z.Set([]byte(strconv.Itoa(i)), float64(i))
	}
	if !z.Listpack() {
		t.Fatal("128 members: not a listpack")
	}
	z.Set([]byte("x"), 1)
	if z.Listpack() {
		t.Fatal("129 members: still a listpack")
	}
	if NewZSet(129, 1).Listpack() || NewZSet(1, 65).Listpack() || !NewZSet(128, 64).Listpack() {
		t.Fatal("NewZSet's encoding for its size hints")
	}
	// A listpack keeps -0 as 0; a skiplist keeps the sign.
	lp := NewZSet(1, 1)
	lp.Set([]byte("a"), math.Copysign(0, -1))
	if s, _ := lp.Score([]byte("a")); math.Signbit(s) {
		t.Fatal("listpack kept -0")
	}
	sk := NewZSet(200, 1)
	sk.Set([]byte("a"), math.Copysign(0, -1))
	if s, _ := sk.Score([]byte("a")); !math.Signbit(s) {
		t.Fatal("skiplist lost -0")
	}
	for _, p := range [][]byte{{0, 0}, {2, 1}, {0, 1, 1, 'a', 0, 0, 0}, {0, 2, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0},
		{0, 1, 1, 'a', 0x7f, 0xf8, 0, 0, 0, 0, 0, 1}} {
		if _, err := DecodeObject(TypeZSet, p); err == nil {
			t.Errorf("% x decoded", p)
		}
	}
}
