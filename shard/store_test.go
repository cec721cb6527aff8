package shard

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/shoalcache/shoal/internal/testutil"
)

// b returns a fresh copy of s as bytes (the store keeps the slices it is given).
func b(s string) []byte { return []byte(s) }

// checkInvariants recomputes the counters of every database of s's key
// space from their maps and compares them with the incrementally maintained
// ones (Bytes is shared by the databases).
func checkInvariants(t *testing.T, s *Store) {
	t.Helper()
	var bytesTotal int64
	for _, d := range s.Databases() {
		bytesTotal += checkDBInvariants(t, d)
	}
	if bytesTotal != s.Bytes() {
		t.Fatalf("Bytes() = %d, entries take %d", s.Bytes(), bytesTotal)
	}
}

// checkDBInvariants checks one database and returns its entries' bytes.
func checkDBInvariants(t *testing.T, s *Store) int64 {
	t.Helper()
	var keys, volatile, bytesTotal int64
	for i := range s.slots {
		sd := &s.slots[i]
		var slotBytes int64
		for k, e := range sd.m.all() {
			if Slot(k) != i {
				t.Fatalf("db %d: key %q stored in slot %d, belongs to %d", s.db, k, i, Slot(k))
			}
			keys++
			slotBytes += entrySize(len(k), cap(e.Value))
			_, inIndex := sd.volatile[k]
			if (e.ExpireAt != 0) != inIndex {
				t.Fatalf("db %d: key %q: ExpireAt=%d but in volatile index=%v", s.db, k, e.ExpireAt, inIndex)
			}
			if e.ExpireAt != 0 {
				volatile++
			}
		}
		for k := range sd.volatile {
			if sd.m.getString(k) == nil {
				t.Fatalf("db %d: volatile index of slot %d holds missing key %q", s.db, i, k)
			}
		}
		if slotBytes != sd.bytes {
			t.Fatalf("db %d: slot %d: accounted %d bytes, entries take %d", s.db, i, sd.bytes, slotBytes)
		}
		bytesTotal += slotBytes
	}
	if keys != s.Len() {
		t.Fatalf("db %d: Len() = %d, maps hold %d keys", s.db, s.Len(), keys)
	}
	if volatile != s.VolatileLen() {
		t.Fatalf("db %d: VolatileLen() = %d, maps hold %d keys with a TTL", s.db, s.VolatileLen(), volatile)
	}
	return bytesTotal
}

// keyInSlot returns a key that hashes to slot.
func keyInSlot(t *testing.T, slot int, prefix string) string {
	t.Helper()
	for i := 0; i < 1<<22; i++ {
		k := prefix + strconv.Itoa(i)
		if Slot(k) == slot {
			return k
		}
	}
	t.Fatalf("no key found for slot %d", slot)
	return ""
}

func TestSetGetPeekExists(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	if e := s.Get(b("k"), 1000, 0); e != nil {
		t.Fatalf("Get on empty store = %v", e)
	}
	e1 := s.Set(b("k"), b("v1"), 0, 1000)
	if string(e1.Value) != "v1" || e1.ExpireAt != 0 {
		t.Fatalf("Set returned %q/%d", e1.Value, e1.ExpireAt)
	}
	s.Set(b("other"), b("x"), 0, 1000)
	if got := s.Get(b("k"), 1000, 0); got == nil || string(got.Value) != "v1" {
		t.Fatalf("Get(k) = %v, want v1", got)
	}
	if got := s.Peek(b("k")); got == nil || string(got.Value) != "v1" {
		t.Fatalf("Peek(k) = %v, want v1", got)
	}
	if !s.Exists(b("k"), 1000) || s.Exists(b("nope"), 1000) {
		t.Fatal("Exists wrong")
	}
	seq := s.Peek(b("k")).Seq()
	if seq != 1 || s.Peek(b("other")).Seq() != 2 {
		t.Fatalf("creation numbers %d, %d; want 1, 2", seq, s.Peek(b("other")).Seq())
	}
	// Overwrite keeps the key's creation number and replaces value and TTL.
	s.Set(b("k"), b("v2"), 5000, 2000)
	got := s.Get(b("k"), 2000, 0)
	if got == nil || string(got.Value) != "v2" || got.ExpireAt != 5000 || got.Seq() != seq {
		t.Fatalf("after overwrite Get(k) = %+v", got)
	}
	if s.Len() != 2 || s.VolatileLen() != 1 || s.Seq() != 2 {
		t.Fatalf("Len=%d VolatileLen=%d Seq=%d, want 2 1 2", s.Len(), s.VolatileLen(), s.Seq())
	}
	// Overwrite without TTL makes it persistent again.
	s.Set(b("k"), b("v3"), 0, 2000)
	if s.VolatileLen() != 0 || s.Peek(b("k")).ExpireAt != 0 {
		t.Fatalf("VolatileLen=%d ExpireAt=%d after persistent overwrite", s.VolatileLen(), s.Peek(b("k")).ExpireAt)
	}
	// Empty key and empty value are legal.
	s.Set(b(""), b(""), 0, 2000)
	if e := s.Get(b(""), 2000, 0); e == nil || len(e.Value) != 0 {
		t.Fatalf("empty key: %v", e)
	}
	checkInvariants(t, s)
}

func TestGetNeverReturnsExpired(t *testing.T) {
	tests := []struct {
		name     string
		expireAt int64
		now      int64
		live     bool
	}{
		{"no ttl", 0, 1 << 40, true},
		{"future", 2000, 1999, true},
		{"exactly due", 2000, 2000, false},
		{"past", 2000, 2001, false},
		{"long past", 1, 1 << 40, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			s.Lock()
			defer s.Unlock()
			s.Set(b("k"), b("v"), tt.expireAt, 1000)
			if got := s.Get(b("k"), tt.now, 0) != nil; got != tt.live {
				t.Errorf("Get live = %v, want %v", got, tt.live)
			}
			if got := s.Exists(b("k"), tt.now); got != tt.live {
				t.Errorf("Exists = %v, want %v", got, tt.live)
			}
			// Reads never delete: the key is still counted.
			if s.Len() != 1 || s.Peek(b("k")) == nil {
				t.Errorf("read deleted the key: Len=%d", s.Len())
			}
			if s.Stats().ExpiredKeys != 0 {
				t.Errorf("read counted an expiry")
			}
		})
	}
}

func TestGetWriteDeletesExpired(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	s.Set(b("live"), b("1"), 5000, 1000)
	s.Set(b("dead"), b("2"), 1500, 1000)
	s.Set(b("plain"), b("3"), 0, 1000)
	if e := s.GetWrite(b("live"), 2000); e == nil || string(e.Value) != "1" {
		t.Fatalf("GetWrite(live) = %v", e)
	}
	if e := s.GetWrite(b("plain"), 2000); e == nil || string(e.Value) != "3" {
		t.Fatalf("GetWrite(plain) = %v", e)
	}
	if e := s.GetWrite(b("missing"), 2000); e != nil {
		t.Fatalf("GetWrite(missing) = %v", e)
	}
	if s.Stats().ExpiredKeys != 0 {
		t.Fatal("ExpiredKeys counted without an expired key")
	}
	if e := s.GetWrite(b("dead"), 2000); e != nil {
		t.Fatalf("GetWrite(dead) = %v, want nil", e)
	}
	if s.Peek(b("dead")) != nil {
		t.Fatal("GetWrite left the expired key in place")
	}
	if st := s.Stats(); st.ExpiredKeys != 1 || st.EvictedKeys != 0 {
		t.Fatalf("Stats = %+v, want 1 expired", st)
	}
	if s.Len() != 2 || s.VolatileLen() != 1 {
		t.Fatalf("Len=%d VolatileLen=%d, want 2 1", s.Len(), s.VolatileLen())
	}
	// A second GetWrite on the now-missing key counts nothing more.
	s.GetWrite(b("dead"), 3000)
	if s.Stats().ExpiredKeys != 1 {
		t.Fatalf("ExpiredKeys = %d after second GetWrite", s.Stats().ExpiredKeys)
	}
	checkInvariants(t, s)
}

func TestExpire(t *testing.T) {
	tests := []struct {
		name     string
		expireAt int64 // the key's TTL
		arg      int64 // expireAt passed to Expire
		now      int64
		deleted  bool
	}{
		{"due and matching", 2000, 2000, 2000, true},
		{"overdue and matching", 2000, 2000, 9000, true},
		{"not yet due", 2000, 2000, 1999, false},
		{"rewritten ttl", 3000, 2000, 9000, false},
		{"persistent key", 0, 0, 9000, false},
		{"persistent key, stale expireAt", 0, 2000, 9000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			s.Lock()
			defer s.Unlock()
			s.Set(b("k"), b("v"), tt.expireAt, 1000)
			if got := s.Expire(b("k"), tt.arg, tt.now); got != tt.deleted {
				t.Fatalf("Expire = %v, want %v", got, tt.deleted)
			}
			if (s.Peek(b("k")) == nil) != tt.deleted {
				t.Fatalf("key present = %v after Expire", s.Peek(b("k")) != nil)
			}
			want := int64(0)
			if tt.deleted {
				want = 1
			}
			if s.Stats().ExpiredKeys != want {
				t.Fatalf("ExpiredKeys = %d, want %d", s.Stats().ExpiredKeys, want)
			}
			checkInvariants(t, s)
		})
	}
	s := New()
	if s.Expire(b("missing"), 1, 10) {
		t.Fatal("Expire on a missing key returned true")
	}
}

func TestSetExpire(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	s.Set(b("k"), b("v"), 0, 1000)
	s.SetExpire(b("k"), 5000)
	if e := s.Peek(b("k")); e.ExpireAt != 5000 || s.VolatileLen() != 1 {
		t.Fatalf("ExpireAt=%d VolatileLen=%d", e.ExpireAt, s.VolatileLen())
	}
	s.SetExpire(b("k"), 6000) // change: still one volatile key
	if e := s.Peek(b("k")); e.ExpireAt != 6000 || s.VolatileLen() != 1 {
		t.Fatalf("ExpireAt=%d VolatileLen=%d", e.ExpireAt, s.VolatileLen())
	}
	s.SetExpire(b("k"), 6000) // no-op
	if s.VolatileLen() != 1 {
		t.Fatalf("VolatileLen=%d", s.VolatileLen())
	}
	if s.Get(b("k"), 6000, 0) != nil || s.Get(b("k"), 5999, 0) == nil {
		t.Fatal("Get does not honour the new expiry")
	}
	s.SetExpire(b("k"), 0) // persist
	if e := s.Peek(b("k")); e.ExpireAt != 0 || s.VolatileLen() != 0 {
		t.Fatalf("ExpireAt=%d VolatileLen=%d after persist", e.ExpireAt, s.VolatileLen())
	}
	s.SetExpire(b("missing"), 100) // no-op on a missing key
	if s.Len() != 1 || s.VolatileLen() != 0 || s.Peek(b("missing")) != nil {
		t.Fatalf("SetExpire created a key: Len=%d", s.Len())
	}
	if string(s.Peek(b("k")).Value) != "v" {
		t.Fatal("SetExpire changed the value")
	}
	checkInvariants(t, s)
}

func TestDeleteAndEvict(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	s.Set(b("a"), b("1"), 0, 1000)
	s.Set(b("b"), b("2"), 1500, 1000)
	if !s.Delete(b("a")) || s.Delete(b("a")) {
		t.Fatal("Delete should report true once, then false")
	}
	// Delete removes expired keys too, without counting them as expired.
	if !s.Delete(b("b")) {
		t.Fatal("Delete of an expired key returned false")
	}
	if s.Len() != 0 || s.VolatileLen() != 0 || s.Bytes() != 0 || s.Stats() != (Stats{}) {
		t.Fatalf("Len=%d VolatileLen=%d Bytes=%d Stats=%+v", s.Len(), s.VolatileLen(), s.Bytes(), s.Stats())
	}
	s.Set(b("c"), b("3"), 0, 1000)
	if !s.Evict(b("c")) || s.Evict(b("c")) {
		t.Fatal("Evict should report true once, then false")
	}
	if st := s.Stats(); st.EvictedKeys != 1 || st.ExpiredKeys != 0 {
		t.Fatalf("Stats = %+v, want 1 evicted", st)
	}
	checkInvariants(t, s)
}

func TestMutableResize(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	if s.Mutable(b("missing")) != nil {
		t.Fatal("Mutable(missing) != nil")
	}
	s.Set(b("k"), b("hello"), 7000, 1000)
	for i := 0; i < 200; i++ {
		e := s.Mutable(b("k"))
		oldCap := cap(e.Value)
		e.Value = append(e.Value, "-more"...)
		s.Resize(b("k"), e, oldCap)
		checkInvariants(t, s)
	}
	e := s.Peek(b("k"))
	want := "hello" + string(bytes.Repeat(b("-more"), 200))
	if string(e.Value) != want || e.ExpireAt != 7000 {
		t.Fatalf("value %d bytes, ExpireAt %d", len(e.Value), e.ExpireAt)
	}
	if s.Bytes() != entrySize(1, cap(e.Value)) {
		t.Fatalf("Bytes() = %d, want %d", s.Bytes(), entrySize(1, cap(e.Value)))
	}
	s.Delete(b("k"))
	if s.Bytes() != 0 {
		t.Fatalf("Bytes() = %d after deleting everything", s.Bytes())
	}
}

// TestSetCopyReusesPrivateBuffer: SetCopy copies into the value's own
// buffer when no view can see it and the size class matches, allocates a
// new one otherwise, and never lets a view see the new value.
func TestSetCopyReusesPrivateBuffer(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	arg := bytes.Repeat(b("a"), 64)
	s.SetCopy(b("k"), arg, 0, 1000)
	arg[0] = 'X' // the store copied the argument
	first := s.Peek(b("k")).Value
	if string(first) != string(bytes.Repeat(b("a"), 64)) {
		t.Fatalf("value %q: the store kept the argument instead of a copy", first)
	}

	// Same size class, no view: the same buffer.
	s.SetCopy(b("k"), bytes.Repeat(b("b"), 60), 5000, 1000)
	e := s.Peek(b("k"))
	if &e.Value[0] != &first[0] || string(e.Value) != string(bytes.Repeat(b("b"), 60)) || e.ExpireAt != 5000 {
		t.Fatalf("same size class: new buffer %v or value %q expire %d", &e.Value[0] != &first[0], e.Value, e.ExpireAt)
	}
	checkInvariants(t, s)

	// Another size class: a new buffer.
	s.SetCopy(b("k"), bytes.Repeat(b("c"), 200), 0, 1000)
	e = s.Peek(b("k"))
	if &e.Value[0] == &first[0] || len(e.Value) != 200 {
		t.Fatal("a value of another size class reused the old buffer")
	}
	checkInvariants(t, s)

	// An open view keeps the old value: the write must not touch it.
	buf := e.Value
	v := s.Snapshot()
	s.SetCopy(b("k"), bytes.Repeat(b("d"), 200), 0, 1000)
	if &s.Peek(b("k")).Value[0] == &buf[0] {
		t.Fatal("SetCopy wrote into a buffer an open view shares")
	}
	var seen []byte
	v.RangeSlot(Slot(b("k")), func(key string, e *Entry) bool { seen = e.Value; return true })
	if string(seen) != string(bytes.Repeat(b("c"), 200)) {
		t.Fatalf("the view sees %q, want the value before the write", seen[:8])
	}
	s.Unlock()
	v.Release()
	s.Lock()
	s.SetCopy(b("k"), b(""), 0, 1000)
	if e := s.Peek(b("k")); e.Value == nil || len(e.Value) != 0 {
		t.Fatalf("empty value stored as %#v", e.Value)
	}
	checkInvariants(t, s)
}

// keyInEntry reports whether the index holds key's bytes in its entry's
// object (flagged), checking that the flag and the bytes' place agree.
func keyInEntry(t *testing.T, s *Store, key string) bool {
	t.Helper()
	sd := &s.slots[SlotString(key)]
	i, _ := sd.m.index(key)
	if i < 0 {
		t.Fatalf("%q not in the index", key)
	}
	sl := &sd.m.slots[i]
	at := uintptr(sl.kp) == uintptr(unsafe.Pointer(sl.e))+unsafe.Sizeof(Entry{})
	if flagged := sl.kl&klInEntry != 0; at != flagged {
		t.Fatalf("%q: bytes in the entry's object %v, flagged %v", key, at, flagged)
	}
	return at
}

// TestSetCopyKeyInEntry: a short value's entry holds its key's bytes too,
// unless they do not fit or the key has an expiry time (the volatile set
// keeps a string of its own); an overwrite by an entry without them gives
// the key a string of its own, and a view keeps the key and value it saw.
func TestSetCopyKeyInEntry(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	long := strings.Repeat("k", maxInlineBuf)
	for _, c := range []struct {
		key, val string
		ttl      int64
		in       bool
	}{
		{"counter:000000012345", "7", 0, true},
		{"", "v", 0, true},
		{"key:000000012345", strings.Repeat("v", 64), 0, true},
		{strings.Repeat("k", maxInlineBuf-maxInline), strings.Repeat("v", maxInline), 0, true},
		{strings.Repeat("k", maxInlineBuf-maxInline+1), strings.Repeat("v", maxInline), 0, false},
		{long, "v", 0, false},
		{"ttl", "v", 5000, false},
		{"big", strings.Repeat("v", maxInline+1), 0, false},
	} {
		s.SetCopy(b(c.key), b(c.val), c.ttl, 1000)
		if got := keyInEntry(t, s, c.key); got != c.in {
			t.Errorf("key of %d bytes, value of %d, ttl %d: in its entry %v, want %v", len(c.key), len(c.val), c.ttl, got, c.in)
		}
		if e := s.Peek(b(c.key)); string(e.Value) != c.val {
			t.Errorf("%q: value %q", c.key, e.Value)
		}
	}
	checkInvariants(t, s)

	// With a view open, a short overwrite makes a new entry that holds the
	// key; a long one gives the key a string of its own.
	v := s.Snapshot()
	s.SetCopy(b("counter:000000012345"), b("8"), 0, 1000)
	s.SetCopy(b("key:000000012345"), b(strings.Repeat("w", maxInline+1)), 0, 1000)
	if !keyInEntry(t, s, "counter:000000012345") || keyInEntry(t, s, "key:000000012345") {
		t.Fatal("overwrites under a view: keys not where they should be")
	}
	seen := map[string]string{}
	for _, k := range []string{"counter:000000012345", "key:000000012345"} {
		v.RangeSlot(SlotString(k), func(key string, e *Entry) bool {
			if key == k {
				seen[k] = string(e.Value)
			}
			return true
		})
	}
	if seen["counter:000000012345"] != "7" || seen["key:000000012345"] != strings.Repeat("v", 64) {
		t.Fatalf("the view sees %q", seen)
	}
	s.Unlock()
	v.Release()
	s.Lock()
	// An expiry set later, then removed by an overwrite: the key keeps
	// working through each change.
	s.SetExpire(b("counter:000000012345"), 9000)
	s.SetCopy(b("counter:000000012345"), b("9"), 0, 1000)
	if e := s.Peek(b("counter:000000012345")); string(e.Value) != "9" || e.ExpireAt != 0 {
		t.Fatalf("after EXPIRE and SET: %q expire %d", e.Value, e.ExpireAt)
	}
	checkInvariants(t, s)
}

// TestSetCopyInline: a value of 1 to maxInline bytes lives in its entry's
// own object, whose size the accounting counts; a view keeps the value it
// saw when the key is overwritten; longer and empty values are apart.
func TestSetCopyInline(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	for n := 0; n <= maxInline+1; n++ {
		key := b(fmt.Sprintf("k%d", n))
		val := bytes.Repeat(b("v"), n)
		s.SetCopy(key, val, 0, 1000)
		e := s.Peek(key)
		if string(e.Value) != string(val) {
			t.Fatalf("len %d: value %q", n, e.Value)
		}
		inside := n > 0 && uintptr(unsafe.Pointer(&e.Value[0])) > uintptr(unsafe.Pointer(e)) &&
			uintptr(unsafe.Pointer(&e.Value[0])) < uintptr(unsafe.Pointer(e))+unsafe.Sizeof(Entry{})+maxInline
		if inside != (n > 0 && n <= maxInline) {
			t.Fatalf("len %d: value in the entry's object: %v", n, inside)
		}
		if n > 0 && n <= maxInline && cap(e.Value) != sizeClass(n) && cap(e.Value) != (n+15)&^15 {
			t.Fatalf("len %d: capacity %d", n, cap(e.Value))
		}
	}
	checkInvariants(t, s)
	// An overwrite that a new entry would give a buffer of the same size
	// writes into the old one, down to a single byte (an entry's buffer is
	// 16 bytes at least), and allocates nothing.
	for _, n := range []int{1, 3, 8, 16, 17, 64, maxInline} {
		key := b(fmt.Sprintf("k%d", n))
		buf := &s.Peek(key).Value[0]
		val := bytes.Repeat(b("w"), n)
		if a := testing.AllocsPerRun(100, func() { s.SetCopy(key, val, 0, 1000) }); a != 0 {
			t.Errorf("len %d: an overwrite of the same length allocates %.0f times", n, a)
		}
		if e := s.Peek(key); &e.Value[0] != buf || string(e.Value) != string(val) {
			t.Errorf("len %d: value %q, in the old buffer: %v", n, e.Value, &e.Value[0] == buf)
		}
	}
	checkInvariants(t, s)
	v := s.Snapshot()
	s.SetCopy(b("k10"), b("0123456789"), 0, 1000)
	s.SetCopy(b("k20"), b("short"), 0, 1000)
	var seen []string
	for _, k := range []string{"k10", "k20"} {
		v.RangeSlot(Slot(b(k)), func(key string, e *Entry) bool {
			if key == k {
				seen = append(seen, string(e.Value))
			}
			return true
		})
	}
	if seen[0] != strings.Repeat("v", 10) || seen[1] != strings.Repeat("v", 20) {
		t.Fatalf("the view sees %q after the overwrites", seen)
	}
	if string(s.Peek(b("k10")).Value) != "0123456789" || string(s.Peek(b("k20")).Value) != "short" {
		t.Fatal("the store does not see the overwrites")
	}
	checkInvariants(t, s)
	s.Unlock()
	v.Release()
	s.Lock()
}

// TestViewKeepsValueAfterExpireAndInPlaceWrite: a key whose expiry changes
// while a view is open gets a private entry; a later in-place write (SetCopy
// into the value's buffer, Mutable as INCR and APPEND use it) must not
// reach the value the view sees. The entry's copy once shared the value's
// buffer, so the view saw the write.
func TestViewKeepsValueAfterExpireAndInPlaceWrite(t *testing.T) {
	for _, write := range []string{"SetCopy", "Mutable"} {
		s := New()
		s.Lock()
		key := b("k")
		s.Set(key, append(make([]byte, 0, 16), "1234"...), 0, 1000)
		v := s.Snapshot()
		s.SetExpire(key, 99000)
		if write == "SetCopy" {
			s.SetCopy(key, b("5678"), 99000, 1000)
		} else {
			m := s.Mutable(key)
			oldCap := cap(m.Value)
			m.Value = append(m.Value[:0], "5678"...)
			s.Resize(key, m, oldCap)
		}
		var seen string
		v.RangeSlot(Slot(key), func(k string, e *Entry) bool { seen = string(e.Value); return true })
		if seen != "1234" || string(s.Peek(key).Value) != "5678" {
			t.Errorf("%s: view sees %q (want 1234), store %q (want 5678)", write, seen, s.Peek(key).Value)
		}
		s.Unlock()
		v.Release()
	}
}

func TestBytesAccounting(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	if s.Bytes() != 0 {
		t.Fatalf("empty store has %d bytes", s.Bytes())
	}
	prev := int64(0)
	for _, n := range []int{0, 1, 100, 1000, 10000, 100000} {
		s.Set(b(fmt.Sprintf("k%d", n)), make([]byte, n), 0, 1000)
		if s.Bytes() <= prev {
			t.Fatalf("Bytes() = %d after adding a %d-byte value, was %d", s.Bytes(), n, prev)
		}
		prev = s.Bytes()
	}
	// A value's size dominates its accounting.
	one := New()
	one.Set(b("k"), make([]byte, 1<<20), 0, 0)
	if one.Bytes() < 1<<20 || one.Bytes() > 1<<20+4096 {
		t.Fatalf("1 MB value accounted as %d bytes", one.Bytes())
	}
	// Growing and shrinking through overwrite.
	s.Set(b("k0"), make([]byte, 5000), 0, 1000)
	if s.Bytes() <= prev {
		t.Fatalf("overwrite with a larger value did not grow Bytes")
	}
	s.Set(b("k0"), nil, 9000, 1000)
	s.SetExpire(b("k1"), 9000)
	checkInvariants(t, s)
	for _, n := range []int{0, 1, 100, 1000, 10000, 100000} {
		s.Delete(b(fmt.Sprintf("k%d", n)))
	}
	if s.Bytes() != 0 || s.Len() != 0 || s.VolatileLen() != 0 {
		t.Fatalf("after deleting everything Bytes=%d Len=%d VolatileLen=%d", s.Bytes(), s.Len(), s.VolatileLen())
	}
}

func TestFlushAndFlushSlot(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	tag := "{tag}"
	slot := Slot(tag)
	for i := 0; i < 10; i++ {
		exp := int64(0)
		if i%2 == 0 {
			exp = 9000
		}
		s.Set(b(fmt.Sprintf("%s%d", tag, i)), b("v"), exp, 1000)
		s.Set(b(fmt.Sprintf("other%d", i)), b("v"), exp, 1000)
	}
	others := int64(0)
	for i := 0; i < 10; i++ {
		if Slot(fmt.Sprintf("other%d", i)) != slot {
			others++
		}
	}
	before := s.Len()
	if s.SlotLen(slot) != int(before-others) {
		t.Fatalf("SlotLen = %d, want %d", s.SlotLen(slot), before-others)
	}
	n := s.FlushSlot(slot)
	if n != int(before-others) || s.SlotLen(slot) != 0 || s.Len() != others {
		t.Fatalf("FlushSlot = %d, SlotLen=%d Len=%d", n, s.SlotLen(slot), s.Len())
	}
	if s.Peek(b(tag+"0")) != nil {
		t.Fatal("FlushSlot left a key of the slot")
	}
	for i := 0; i < 10; i++ {
		k := fmt.Sprintf("other%d", i)
		if Slot(k) != slot && s.Peek(b(k)) == nil {
			t.Fatalf("FlushSlot removed %q of another slot", k)
		}
	}
	checkInvariants(t, s)
	if s.FlushSlot(slot) != 0 {
		t.Fatal("FlushSlot of an empty slot returned keys")
	}
	// The slot is usable again.
	s.Set(b(tag+"x"), b("v"), 9000, 1000)
	checkInvariants(t, s)
	s.Flush()
	if s.Len() != 0 || s.VolatileLen() != 0 || s.Bytes() != 0 || s.Peek(b(tag+"x")) != nil {
		t.Fatalf("after Flush Len=%d VolatileLen=%d Bytes=%d", s.Len(), s.VolatileLen(), s.Bytes())
	}
	checkInvariants(t, s)
	s.Set(b("again"), b("v"), 0, 1000)
	if s.Get(b("again"), 1000, 0) == nil || s.Len() != 1 {
		t.Fatal("store unusable after Flush")
	}
	checkInvariants(t, s)
}

func TestRangeSlot(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	want := map[string]bool{}
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("{t}%d", i)
		want[k] = true
		s.Set(b(k), b(k), int64(i%3)*1000, 1500) // some expired: RangeSlot still lists them
	}
	got := map[string]bool{}
	s.RangeSlot(Slot("{t}"), func(k string, e *Entry) bool {
		if string(e.Value) != k {
			t.Errorf("key %q has value %q", k, e.Value)
		}
		got[k] = true
		return true
	})
	if len(got) != len(want) {
		t.Fatalf("RangeSlot listed %d keys, want %d", len(got), len(want))
	}
	calls := 0
	s.RangeSlot(Slot("{t}"), func(string, *Entry) bool { calls++; return false })
	if calls != 1 {
		t.Fatalf("RangeSlot kept going after false: %d calls", calls)
	}
}

// modelEntry is the reference model of one key.
type modelEntry struct {
	val string
	exp int64
}

// TestRandomOpsAgainstModel applies random operations to a Store and to a
// map, and checks that they agree after every step.
func TestRandomOpsAgainstModel(t *testing.T) {
	rng := testutil.Rand(t)
	s := New()
	s.Lock()
	defer s.Unlock()
	model := map[string]modelEntry{}
	var expired int64
	keys := make([]string, 40)
	for i := range keys {
		if i%4 == 0 {
			keys[i] = fmt.Sprintf("{same}%d", i) // several keys share a slot
		} else {
			keys[i] = fmt.Sprintf("key:%d", i)
		}
	}
	now := int64(1_000_000)
	ttl := func() int64 {
		if rng.IntN(2) == 0 {
			return 0
		}
		return now + int64(rng.IntN(200)) - 50 // some already expired
	}
	const steps = 20000
	var view *View
	var viewWant map[string]snapEntry
	for step := 0; step < steps; step++ {
		now += int64(rng.IntN(5))
		k := keys[rng.IntN(len(keys))]
		op := rng.IntN(100)
		switch {
		case op < 30: // Set, SetCopy, or GetWrite and SetCopyOf (values inline or not)
			v := fmt.Sprintf("v%d", step)
			if op%3 == 0 {
				v += strings.Repeat("x", rng.IntN(200))
			}
			exp := ttl()
			switch op % 4 {
			case 0, 2:
				s.SetCopy(b(k), b(v), exp, now)
			case 1:
				s.Set(b(k), b(v), exp, now)
			case 3:
				if m, ok := model[k]; ok && m.exp != 0 && m.exp <= now {
					expired++ // GetWrite deletes it
				}
				s.SetCopyOf(b(k), s.GetWrite(b(k), now), b(v), exp, now)
			}
			model[k] = modelEntry{v, exp}
		case op < 40: // Delete
			_, had := model[k]
			if got := s.Delete(b(k)); got != had {
				t.Fatalf("step %d: Delete(%q) = %v, model %v", step, k, got, had)
			}
			delete(model, k)
		case op < 50: // SetExpire on a live key
			m, ok := model[k]
			if ok && (m.exp == 0 || m.exp > now) {
				exp := ttl()
				s.SetExpire(b(k), exp)
				m.exp = exp
				model[k] = m
			}
		case op < 60: // GetWrite
			m, ok := model[k]
			e := s.GetWrite(b(k), now)
			switch {
			case !ok:
				if e != nil {
					t.Fatalf("step %d: GetWrite(%q) found a deleted key", step, k)
				}
			case m.exp != 0 && m.exp <= now:
				if e != nil {
					t.Fatalf("step %d: GetWrite(%q) returned an expired key", step, k)
				}
				delete(model, k)
				expired++
			default:
				if e == nil || string(e.Value) != m.val || e.ExpireAt != m.exp {
					t.Fatalf("step %d: GetWrite(%q) = %v, model %+v", step, k, e, m)
				}
			}
		case op < 70: // Mutable append on a live key
			m, ok := model[k]
			if ok && (m.exp == 0 || m.exp > now) {
				e := s.Mutable(b(k))
				oldCap := cap(e.Value)
				e.Value = append(e.Value, '+')
				s.Resize(b(k), e, oldCap)
				m.val += "+"
				model[k] = m
			}
		case op < 75: // Expire with the model's expireAt
			m, ok := model[k]
			want := ok && m.exp != 0 && m.exp <= now
			if got := s.Expire(b(k), m.exp, now); got != want {
				t.Fatalf("step %d: Expire(%q, %d, %d) = %v, want %v", step, k, m.exp, now, got, want)
			}
			if want {
				delete(model, k)
				expired++
			}
		case op < 76:
			if rng.IntN(10) == 0 {
				s.Flush()
				clear(model)
			}
		case op < 77:
			slot := Slot(k)
			n := 0
			for mk := range model {
				if Slot(mk) == slot {
					delete(model, mk)
					n++
				}
			}
			if got := s.FlushSlot(slot); got != n {
				t.Fatalf("step %d: FlushSlot = %d, want %d", step, got, n)
			}
		default: // Get
			m, ok := model[k]
			e := s.Get(b(k), now, rng.Float64())
			live := ok && (m.exp == 0 || m.exp > now)
			if (e != nil) != live {
				t.Fatalf("step %d: Get(%q) = %v, model %+v live=%v", step, k, e, m, live)
			}
			if live && (string(e.Value) != m.val || e.ExpireAt != m.exp) {
				t.Fatalf("step %d: Get(%q) = %q/%d, model %+v", step, k, e.Value, e.ExpireAt, m)
			}
		}
		var vol int64
		for _, m := range model {
			if m.exp != 0 {
				vol++
			}
		}
		if s.Len() != int64(len(model)) || s.VolatileLen() != vol {
			t.Fatalf("step %d: Len=%d VolatileLen=%d, model %d %d", step, s.Len(), s.VolatileLen(), len(model), vol)
		}
		if s.Stats().ExpiredKeys != expired {
			t.Fatalf("step %d: ExpiredKeys=%d, model %d", step, s.Stats().ExpiredKeys, expired)
		}
		if step%500 == 0 {
			checkInvariants(t, s)
		}
		// Keep a view open over stretches of the run: writes must not
		// show through it.
		switch step % 1000 {
		case 100:
			view, viewWant = s.Snapshot(), storeContents(s)
		case 900:
			s.Unlock()
			diffContents(t, fmt.Sprintf("view taken at step %d", step-800), viewContents(view), viewWant)
			view.Release()
			s.Lock()
		}
	}
	checkInvariants(t, s)
	for k := range model {
		s.Delete(b(k))
	}
	if s.Bytes() != 0 || s.Len() != 0 {
		t.Fatalf("after deleting every key Bytes=%d Len=%d", s.Bytes(), s.Len())
	}
}
