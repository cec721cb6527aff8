package shard

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkKeyIndex compares a lookup in a Go map per slot with keyMap
// embedded in the slot's data (as slotData holds it), on 200k keys spread
// over the 16384 slots as a store holds them. "baseline" is the loop's own
// cost (fetching the key and hashing its slot), to subtract from the others.
func BenchmarkKeyIndex(b *testing.B) {
	const n = 200000
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "counter:%012d", i)
	}
	gm := make([]map[string]*Entry, NumSlots)
	km := make([]keyMap, NumSlots)
	for _, k := range keys {
		s := Slot(k)
		if gm[s] == nil {
			gm[s] = map[string]*Entry{}
		}
		e := &Entry{Value: k}
		gm[s][string(k)] = e
		km[s].set(k, e)
	}
	r := rand.New(rand.NewPCG(1, 2))
	order := make([]int, 1<<20)
	for i := range order {
		order[i] = r.IntN(n)
	}
	lookups := []struct {
		name   string
		lookup func(k []byte) *Entry
	}{
		{"baseline", nil},
		{"gomap", func(k []byte) *Entry { return gm[Slot(k)][string(k)] }},
		{"keymap", func(k []byte) *Entry { return km[Slot(k)].get(k) }},
	}
	for _, l := range lookups {
		b.Run(l.name, func(b *testing.B) {
			var x int
			for i := 0; i < b.N; i++ {
				k := keys[order[i&(len(order)-1)]]
				if l.lookup == nil {
					x += Slot(k)
				} else {
					x += len(l.lookup(k).Value)
				}
			}
			_ = x
		})
	}
}
