package shard

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkKeyIndex compares a lookup in a Go map per slot with keyMap, on
// 200k keys spread over the 16384 slots as a store holds them.
func BenchmarkKeyIndex(b *testing.B) {
	const n = 200000
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "counter:%012d", i)
	}
	gm := make([]map[string]*Entry, NumSlots)
	km := make([]*keyMap, NumSlots)
	for _, k := range keys {
		s := Slot(k)
		if gm[s] == nil {
			gm[s] = map[string]*Entry{}
			km[s] = &keyMap{}
		}
		e := &Entry{Value: k}
		gm[s][string(k)] = e
		km[s].set(k, e)
	}
	kv := make([]keyMap, NumSlots)
	for s := range kv {
		if km[s] != nil {
			kv[s] = *km[s]
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	order := make([]int, 1<<20)
	for i := range order {
		order[i] = r.IntN(n)
	}
	b.Run("baseline", func(b *testing.B) {
		var x int
		for i := 0; i < b.N; i++ {
			k := keys[order[i&(len(order)-1)]]
			x += Slot(k)
		}
		_ = x
	})
	b.Run("gomap", func(b *testing.B) {
		var x int
		for i := 0; i < b.N; i++ {
			k := keys[order[i&(len(order)-1)]]
			x += len(gm[Slot(k)][string(k)].Value)
		}
		_ = x
	})
	b.Run("keymapvalue", func(b *testing.B) {
		var x int
		for i := 0; i < b.N; i++ {
			k := keys[order[i&(len(order)-1)]]
			x += len(kv[Slot(k)].get(k).Value)
		}
		_ = x
	})
	b.Run("keymap", func(b *testing.B) {
		var x int
		for i := 0; i < b.N; i++ {
			k := keys[order[i&(len(order)-1)]]
			x += len(km[Slot(k)].get(k).Value)
		}
		_ = x
	})
}
