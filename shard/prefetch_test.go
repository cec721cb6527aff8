package shard

import (
	"fmt"
	"hash/maphash"
	"testing"
	"unsafe"

	"github.com/shoalcache/shoal/internal/prefetch"
)

// TestPrefetchAsksForWhatALookupReads records the lines Prefetch asks for
// and checks that they are the ones a lookup of each key then reads: its
// slot data, the table slot its hash starts at and, for a key found there,
// its entry, its key's bytes and, when the key is in the entry's object,
// the value after it. Absent keys, keys of empty slots and
// arguments that are not keys cost lines but change nothing.
func TestPrefetchAsksForWhatALookupReads(t *testing.T) {
	var lines []unsafe.Pointer
	prefetchLine = func(p unsafe.Pointer) { lines = append(lines, p) }
	t.Cleanup(func() { prefetchLine = prefetch.Line })
	asked := func(p unsafe.Pointer) bool {
		for _, l := range lines {
			if l == p {
				return true
			}
		}
		return false
	}

	s := New()
	var keys [][]byte
	for i := range 40 { // more than one batch of prefetchBatch
		k := []byte(fmt.Sprintf("key:%06d", i))
		keys = append(keys, k)
		switch i % 4 {
		case 0:
			s.SetCopy(k, []byte("short"), 0, 1) // key in the entry's object
		case 1:
			s.SetCopy(k, make([]byte, 200), 0, 1) // key of its own
		case 2:
			s.SetCopy(k, []byte("v"), 5000, 1) // with a TTL: key of its own
		}
		// i%4 == 3: absent
	}
	keys = append(keys, []byte("absent{in-an-empty-slot}"), nil, []byte{})
	before := s.Len()

	s.Prefetch(keys)

	found, inEntry := 0, 0
	for _, k := range keys {
		i := Slot(k)
		sd := &s.slots[i]
		if !asked(unsafe.Pointer(sd)) {
			t.Errorf("key %q: its slot data was not asked for", k)
		}
		if len(sd.m.slots) == 0 {
			continue
		}
		h := maphash.String(keySeed, string(k)) // the lookup's hash
		home := &sd.m.slots[h&uint64(len(sd.m.slots)-1)]
		if !asked(unsafe.Pointer(home)) {
			t.Errorf("key %q: its home table slot was not asked for", k)
		}
		e := s.Peek(k)
		if e == nil || home.e != e {
			continue // absent, or probed past its home slot
		}
		found++
		if !asked(unsafe.Pointer(e)) {
			t.Errorf("key %q: its entry was not asked for", k)
		}
		if !asked(home.kp) {
			t.Errorf("key %q: its key's bytes were not asked for", k)
		}
		if home.kl&klInEntry != 0 {
			inEntry++
			if !asked(unsafe.Pointer(unsafe.SliceData(e.Value))) {
				t.Errorf("key %q: its value, after the key in the entry, was not asked for", k)
			}
		}
	}
	if inEntry < 5 {
		t.Fatalf("only %d keys in their entry's object at their home slot: the test checks too little", inEntry)
	}
	if found < 20 {
		t.Fatalf("only %d of 30 present keys at their home slot: the test checks too little", found)
	}
	if s.Len() != before {
		t.Fatalf("Prefetch changed the store: %d keys, was %d", s.Len(), before)
	}
	for i, k := range keys[:40] {
		if got := s.Peek(k) != nil; got != (i%4 != 3) {
			t.Fatalf("key %q present %v after Prefetch", k, got)
		}
	}
}
