package shard

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

type snapEntry struct {
	val string
	exp int64
	seq uint64
}

// viewContents returns every entry of v.
func viewContents(v *View) map[string]snapEntry {
	m := map[string]snapEntry{}
	for i := 0; i < NumSlots; i++ {
		v.RangeSlot(i, func(k string, e *Entry) bool {
			m[k] = snapEntry{string(e.Value), e.ExpireAt, e.Seq()}
			return true
		})
	}
	return m
}

// storeContents returns every entry of s. Caller holds a lock.
func storeContents(s *Store) map[string]snapEntry {
	m := map[string]snapEntry{}
	for i := 0; i < NumSlots; i++ {
		s.RangeSlot(i, func(k string, e *Entry) bool {
			m[k] = snapEntry{string(e.Value), e.ExpireAt, e.Seq()}
			return true
		})
	}
	return m
}

func diffContents(t *testing.T, what string, got, want map[string]snapEntry) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: key %q missing, want %+v", what, k, w)
		} else if g != w {
			t.Errorf("%s: key %q = %+v, want %+v", what, k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected key %q = %+v", what, k, g)
		}
	}
}

// populate fills s with n keys, a third of them with a TTL. Caller holds Lock.
func populate(s *Store, n int, now int64) {
	for i := 0; i < n; i++ {
		exp := int64(0)
		if i%3 == 0 {
			exp = now + 10_000 + int64(i)
		}
		s.Set(b(fmt.Sprintf("key:%d", i)), b(fmt.Sprintf("val:%d", i)), exp, now)
	}
}

// mutateAll changes s in every way a write can: overwrite, add, delete,
// SetExpire (add, change, remove), in-place append, expiry and slot flush.
// Caller holds Lock.
func mutateAll(t *testing.T, s *Store, now int64) {
	t.Helper()
	s.Set(b("key:1"), b("overwritten"), 0, now)
	s.Set(b("key:3"), b("overwritten-ttl"), now+1, now) // had a TTL, keeps one
	s.Set(b("new:1"), b("fresh"), 0, now)
	s.Set(b("new:2"), b("fresh-ttl"), now+5000, now)
	s.Delete(b("key:2"))
	s.Evict(b("key:4"))
	s.SetExpire(b("key:5"), now+100) // persistent -> volatile
	s.SetExpire(b("key:6"), now+200) // volatile -> other TTL
	s.SetExpire(b("key:9"), 0)       // volatile -> persistent
	for _, k := range []string{"key:7", "key:12", "new:1"} {
		e := s.Mutable(b(k))
		if e == nil {
			t.Fatalf("Mutable(%q) = nil", k)
		}
		oldCap := cap(e.Value)
		e.Value = append(e.Value, "+appended"...)
		s.Resize(b(k), e, oldCap)
	}
	s.Set(b("short"), b("gone soon"), now+1, now)
	if s.GetWrite(b("short"), now+1) != nil {
		t.Fatal("GetWrite returned an expired key")
	}
	s.Set(b("short2"), b("gone soon"), now+1, now)
	if !s.Expire(b("short2"), now+1, now+1) {
		t.Fatal("Expire failed")
	}
	s.FlushSlot(Slot("key:8"))
	s.Get(b("key:10"), now, 0) // touching metadata is not a modification
}

func TestViewCopyOnWrite(t *testing.T) {
	s := New()
	s.Lock()
	populate(s, 300, 1000)
	before := storeContents(s)
	v := s.Snapshot()
	defer v.Release()
	if v.Keys() != 300 || v.Seq() != 300 {
		t.Fatalf("view Keys=%d Seq=%d", v.Keys(), v.Seq())
	}
	mutateAll(t, s, 2000)
	checkInvariants(t, s)
	after := storeContents(s)
	s.Unlock()

	diffContents(t, "view", viewContents(v), before)
	if v.Keys() != 300 || v.Seq() != 300 {
		t.Fatalf("view Keys=%d Seq=%d after writes", v.Keys(), v.Seq())
	}
	if v.SlotLen(Slot("key:8")) == 0 {
		t.Fatal("FlushSlot emptied the view's slot")
	}
	// The store shows the new contents, exactly.
	want := map[string]snapEntry{}
	for k, e := range before {
		want[k] = e
	}
	seqOf := func(k string) uint64 { return before[k].seq }
	want["key:1"] = snapEntry{"overwritten", 0, seqOf("key:1")}
	want["key:3"] = snapEntry{"overwritten-ttl", 2001, seqOf("key:3")}
	want["new:1"] = snapEntry{"fresh+appended", 0, 301}
	want["new:2"] = snapEntry{"fresh-ttl", 7000, 302}
	delete(want, "key:2")
	delete(want, "key:4")
	e5 := want["key:5"]
	e5.exp = 2100
	want["key:5"] = e5
	e6 := want["key:6"]
	e6.exp = 2200
	want["key:6"] = e6
	e9 := want["key:9"]
	e9.exp = 0
	want["key:9"] = e9
	for _, k := range []string{"key:7", "key:12"} {
		e := want[k]
		e.val += "+appended"
		want[k] = e
	}
	for k := range want {
		if Slot(k) == Slot("key:8") {
			delete(want, k)
		}
	}
	diffContents(t, "store", after, want)
}

// TestViewConcurrentReads reads a view from another goroutine while the store
// takes every kind of write; run with -race.
func TestViewConcurrentReads(t *testing.T) {
	s := New()
	s.Lock()
	populate(s, 500, 1000)
	before := storeContents(s)
	v := s.Snapshot()
	s.Unlock()

	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			got := viewContents(v)
			if len(got) != len(before) {
				select {
				case errs <- fmt.Sprintf("view has %d keys, want %d", len(got), len(before)):
				default:
				}
				return
			}
			for k, w := range before {
				if got[k] != w {
					select {
					case errs <- fmt.Sprintf("view key %q = %+v, want %+v", k, got[k], w):
					default:
					}
					return
				}
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		s.Lock()
		now := int64(2000 + round)
		for j := 0; j < 20; j++ {
			k := b(fmt.Sprintf("key:%d", rng.IntN(600)))
			switch rng.IntN(6) {
			case 0:
				s.Set(k, b(fmt.Sprintf("r%d", round)), 0, now)
			case 1:
				s.Delete(k)
			case 2:
				s.SetExpire(k, now+int64(rng.IntN(1000)))
			case 3:
				if e := s.Mutable(k); e != nil {
					oldCap := cap(e.Value)
					e.Value = append(e.Value, 'x')
					s.Resize(k, e, oldCap)
				}
			case 4:
				s.SetExpire(k, 0)
			case 5:
				s.Get(k, now, rng.Float64())
			}
		}
		if round == 100 {
			mutateAll(t, s, now)
		}
		s.Unlock()
	}
	close(stop)
	wg.Wait()
	select {
	case e := <-errs:
		t.Fatal(e)
	default:
	}
	diffContents(t, "view after writes", viewContents(v), before)
	v.Release()
	s.Lock()
	checkInvariants(t, s)
	s.Unlock()
}

func TestViewRelease(t *testing.T) {
	s := New()
	s.Lock()
	populate(s, 10, 1000)
	s.Unlock()
	v := s.Snapshot()
	v.Release()
	v.Release() // harmless
	if s.views != 0 {
		t.Fatalf("open views = %d after Release", s.views)
	}
	if v.SlotLen(Slot("key:1")) != 0 {
		t.Fatal("released view still shows data")
	}
	// Without open views, Mutable hands out the stored entry itself.
	s.Lock()
	defer s.Unlock()
	e := s.Mutable(b("key:1"))
	if e != s.Peek(b("key:1")) {
		t.Fatal("Mutable copied an entry with no open view")
	}
	// With an open view it must not.
	v2 := s.Snapshot()
	shared := s.Peek(b("key:2"))
	if e := s.Mutable(b("key:2")); e == shared {
		t.Fatal("Mutable returned an entry shared with an open view")
	}
	s.Unlock()
	v2.Release()
	s.Lock()
}

// TestMutableOf: MutableOf hands out the entry a lookup returned when no
// open view shares it (no second lookup), and a copy, stored under the key,
// when one does; the view keeps the old value, and Resize accounts the
// copy's growth.
func TestMutableOf(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	populate(s, 10, 1000)
	e := s.GetWrite(b("key:1"), 1000)
	if m := s.MutableOf(b("key:1"), e); m != e {
		t.Fatal("MutableOf copied an entry with no open view")
	}

	v := s.Snapshot()
	shared := s.GetWrite(b("key:2"), 1000)
	m := s.MutableOf(b("key:2"), shared)
	if m == shared || s.Peek(b("key:2")) != m {
		t.Fatalf("MutableOf with an open view: got the shared entry %v, stored %p, want a stored copy", m == shared, s.Peek(b("key:2")))
	}
	before := s.Bytes()
	oldCap := cap(m.Value)
	m.Value = append(m.Value, make([]byte, 100)...)
	s.Resize(b("key:2"), m, oldCap)
	if grown := s.Bytes() - before; grown != int64(sizeClass(cap(m.Value))-sizeClass(oldCap)) || grown <= 0 {
		t.Fatalf("Resize accounted %d bytes for a value grown from cap %d to %d", grown, oldCap, cap(m.Value))
	}
	// An entry written after the view opened is the store's own.
	s.Set(b("key:3"), b("new"), 0, 1000)
	own := s.GetWrite(b("key:3"), 1000)
	if m := s.MutableOf(b("key:3"), own); m != own {
		t.Fatal("MutableOf copied an entry no view shares")
	}
	s.Unlock()
	got := viewContents(v)["key:2"]
	v.Release()
	s.Lock()
	if got.val != "val:2" {
		t.Fatalf("the view's key:2 = %q after MutableOf, want val:2", got.val)
	}
}

func TestMultipleOverlappingViews(t *testing.T) {
	s := New()
	s.Lock()
	populate(s, 100, 1000)
	c1 := storeContents(s)
	v1 := s.Snapshot()
	s.Set(b("key:1"), b("second"), 0, 1100)
	s.Delete(b("key:2"))
	s.SetExpire(b("key:10"), 5000)
	c2 := storeContents(s)
	v2 := s.Snapshot()
	s.Set(b("key:1"), b("third"), 0, 1200)
	s.Set(b("key:2"), b("back"), 0, 1200)
	e := s.Mutable(b("key:10"))
	oldCap := cap(e.Value)
	e.Value = append(e.Value, "!"...)
	s.Resize(b("key:10"), e, oldCap)
	if got := string(s.Peek(b("key:10")).Value); got != "val:10!" {
		t.Fatalf("store key:10 = %q", got)
	}
	s.Unlock()

	diffContents(t, "v1", viewContents(v1), c1)
	diffContents(t, "v2", viewContents(v2), c2)
	v1.Release()

	s.Lock()
	s.Set(b("key:1"), b("fourth"), 0, 1300)
	s.SetExpire(b("key:2"), 9000)
	s.Flush()
	s.Unlock()
	diffContents(t, "v2 after v1 released", viewContents(v2), c2)
	v3 := s.Snapshot()
	if len(viewContents(v3)) != 0 {
		t.Fatal("view of a flushed store is not empty")
	}
	v2.Release()
	v3.Release()
	if s.views != 0 {
		t.Fatalf("open views = %d", s.views)
	}
}

func TestReplaceWithKeepsOpenView(t *testing.T) {
	s := New()
	s.Lock()
	populate(s, 50, 1000)
	before := storeContents(s)
	v := s.Snapshot()
	src := New()
	src.Set(b("only"), b("this"), 0, 1000)
	s.ReplaceWith(src)
	s.Set(b("only"), b("changed"), 0, 1000)
	s.Set(b("key:1"), b("again"), 0, 1000)
	checkInvariants(t, s)
	s.Unlock()
	diffContents(t, "view", viewContents(v), before)
	v.Release()
	s.Lock()
	defer s.Unlock()
	if s.Len() != 2 || string(s.Peek(b("only")).Value) != "changed" {
		t.Fatalf("store after ReplaceWith: Len=%d", s.Len())
	}
}
