package shard

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// BenchmarkIncrPath is INCR's store work on 200k counters in random
// order: the lookup that checks the type, the entry made writable, the
// digits rewritten in place and the accounting, with Mutable (a second
// lookup) and with MutableOf (none).
func BenchmarkIncrPath(b *testing.B) {
	const n = 200000
	s := New()
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "counter:%012d", i)
		s.Set(keys[i], strconv.AppendInt(make([]byte, 0, 20), int64(i), 10), 0, 1)
	}
	r := rand.New(rand.NewPCG(1, 2))
	order := make([]int, 1<<20)
	for i := range order {
		order[i] = r.IntN(n)
	}
	for _, of := range []bool{false, true} {
		b.Run(fmt.Sprintf("mutableOf=%v", of), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				k := keys[order[i&(len(order)-1)]]
				e := s.LookupWrite(k, 1, 0.5)
				v, _ := strconv.ParseInt(string(e.Value), 10, 64)
				var m *Entry
				if of {
					m = s.MutableOf(k, e)
				} else {
					m = s.Mutable(k)
				}
				oldCap := cap(m.Value)
				m.Value = strconv.AppendInt(m.Value[:0], v+1, 10)
				s.Resize(k, m, oldCap)
			}
		})
	}
}
