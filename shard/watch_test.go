package shard

import (
	"slices"
	"testing"
)

func TestWatchReportsEveryChange(t *testing.T) {
	st := New()
	st.Lock()
	defer st.Unlock()
	key := func(s string) []byte { return []byte(s) }
	// Keys in watched slots are named w*, others o*; pick them by slot.
	var watched SlotSet
	watched.Add(Slot([]byte("w1")))
	watched.Add(Slot([]byte("w2")))
	watched.Add(Slot([]byte("w3")))
	if watched.Has(Slot([]byte("o1"))) || watched.Has(Slot([]byte("o2"))) {
		t.Fatal("test keys share slots")
	}
	st.Set(key("w1"), key("before"), 0, 1) // before the watch: not reported
	var got []string
	st.SetWatch(&watched, func(k string) { got = append(got, k) })
	for _, tt := range []struct {
		name string
		op   func()
		want []string
	}{
		{"set", func() { st.Set(key("w2"), key("v"), 0, 1) }, []string{"w2"}},
		{"set unwatched", func() { st.Set(key("o1"), key("v"), 0, 1) }, nil},
		{"mutable", func() { st.Mutable(key("w2")) }, []string{"w2"}},
		{"mutable missing", func() { st.Mutable(key("w3")) }, nil},
		{"mutable of", func() { st.MutableOf(key("w2"), st.Peek(key("w2"))) }, []string{"w2"}},
		{"set expire", func() { st.SetExpire(key("w2"), 50) }, []string{"w2"}},
		{"set same expire", func() { st.SetExpire(key("w2"), 50) }, nil},
		{"lazy expiry", func() { st.GetWrite(key("w2"), 100) }, []string{"w2"}},
		{"expire", func() {
			st.Set(key("w3"), key("v"), 10, 1)
			st.Expire(key("w3"), 10, 20)
		}, []string{"w3", "w3"}},
		{"evict", func() { st.Evict(key("w1")) }, []string{"w1"}},
		{"delete missing", func() { st.Delete(key("w1")) }, nil},
		{"rename into", func() { st.Rename(key("o1"), key("w1")) }, []string{"w1"}},
		{"rename out of", func() { st.Rename(key("w1"), key("o2")) }, []string{"w1"}},
		{"flush slot", func() {
			st.Set(key("w3"), key("v"), 0, 1)
			got = got[:0]
			st.FlushSlot(Slot([]byte("w3")))
		}, []string{"w3"}},
		{"flush", func() {
			st.Set(key("w1"), key("v"), 0, 1)
			st.Set(key("w2"), key("v"), 0, 1)
			got = got[:0]
			st.Flush()
		}, []string{"w1", "w2"}},
	} {
		got = got[:0]
		tt.op()
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: reported %q, want %q", tt.name, got, tt.want)
		}
	}
	st.SetWatch(nil, nil)
	got = got[:0]
	st.Set(key("w1"), key("v"), 0, 1)
	if len(got) != 0 {
		t.Errorf("change reported after the watch was removed: %q", got)
	}
}

func TestUnwatchedSetDoesNotAllocateMore(t *testing.T) {
	st := New()
	st.Lock()
	defer st.Unlock()
	k, v := []byte("k"), []byte("v")
	st.Set(k, v, 0, 1)
	if n := testing.AllocsPerRun(100, func() { st.Set(k, v, 0, 1) }); n != 0 {
		t.Errorf("overwriting a key without a watch allocates %v times", n)
	}
}
