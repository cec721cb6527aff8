package shard

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// checkKeysCounters verifies the store's key, volatile and byte counters against
// a full recount.
func checkKeysCounters(t *testing.T, s *Store) {
	t.Helper()
	var keys, volatile, bytes int64
	for i := range s.slots {
		sd := &s.slots[i]
		var slotBytes int64
		for k, e := range sd.m.all() {
			keys++
			if e.ExpireAt != 0 {
				volatile++
				if _, ok := sd.volatile[k]; !ok {
					t.Errorf("key %q has a TTL but is not in the volatile index", k)
				}
			}
			slotBytes += entrySize(len(k), cap(e.Value))
		}
		if slotBytes != sd.bytes {
			t.Errorf("slot %d: bytes %d, recount %d", i, sd.bytes, slotBytes)
		}
		bytes += slotBytes
	}
	if keys != s.Len() || volatile != s.VolatileLen() || bytes != s.Bytes() {
		t.Errorf("counters keys=%d volatile=%d bytes=%d, recount %d/%d/%d",
			s.Len(), s.VolatileLen(), s.Bytes(), keys, volatile, bytes)
	}
}

func TestRename(t *testing.T) {
	const now = 1_000_000
	tests := []struct {
		name          string
		src, dst      string
		srcExpire     int64
		dstExists     bool
		dstExpire     int64
		wantOK        bool
		wantValue     string
		wantExpireAt  int64
		wantKeysAfter int64
	}{
		{name: "to new key", src: "a", dst: "b", wantOK: true, wantValue: "va", wantKeysAfter: 1},
		{name: "keeps ttl", src: "a", dst: "b", srcExpire: now + 5000, wantOK: true, wantValue: "va", wantExpireAt: now + 5000, wantKeysAfter: 1},
		{name: "replaces dst", src: "a", dst: "b", dstExists: true, wantOK: true, wantValue: "va", wantKeysAfter: 1},
		{name: "replaces volatile dst", src: "a", dst: "b", dstExists: true, dstExpire: now + 9000, wantOK: true, wantValue: "va", wantKeysAfter: 1},
		{name: "same slot via hash tag", src: "{t}a", dst: "{t}b", srcExpire: now + 1, wantOK: true, wantValue: "va", wantExpireAt: now + 1, wantKeysAfter: 1},
		{name: "to itself", src: "a", dst: "a", srcExpire: now + 7, wantOK: true, wantValue: "va", wantExpireAt: now + 7, wantKeysAfter: 1},
		{name: "missing src", src: "", dst: "b", dstExists: true, wantOK: false, wantValue: "vb", wantKeysAfter: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			src := tt.src
			if src != "" {
				s.Set([]byte(src), []byte("va"), tt.srcExpire, now)
			} else {
				src = "missing"
			}
			if tt.dstExists {
				s.Set([]byte(tt.dst), []byte("vb"), tt.dstExpire, now)
			}
			if got := s.Rename([]byte(src), []byte(tt.dst)); got != tt.wantOK {
				t.Fatalf("Rename = %v, want %v", got, tt.wantOK)
			}
			e := s.Peek([]byte(tt.dst))
			if e == nil || string(e.Value) != tt.wantValue || e.ExpireAt != tt.wantExpireAt {
				t.Fatalf("dst entry = %+v, want value %q expire %d", e, tt.wantValue, tt.wantExpireAt)
			}
			if tt.wantOK && src != tt.dst && s.Peek([]byte(src)) != nil {
				t.Error("src still present")
			}
			if s.Len() != tt.wantKeysAfter {
				t.Errorf("Len = %d, want %d", s.Len(), tt.wantKeysAfter)
			}
			checkKeysCounters(t, s)
		})
	}
}

func TestRenameWithOpenView(t *testing.T) {
	s := New()
	s.Set([]byte("a"), []byte("va"), 0, 1)
	s.Set([]byte("b"), []byte("vb"), 0, 1)
	v := s.Snapshot()
	s.Rename([]byte("a"), []byte("b"))
	s.SetExpire([]byte("b"), 99)
	found := map[string]string{}
	for _, k := range []string{"a", "b"} {
		v.RangeSlot(Slot(k), func(key string, e *Entry) bool {
			if key == k {
				found[k] = string(e.Value)
				if e.ExpireAt != 0 {
					t.Errorf("view entry %q changed expiry to %d", k, e.ExpireAt)
				}
			}
			return true
		})
	}
	if found["a"] != "va" || found["b"] != "vb" {
		t.Errorf("view changed by Rename: %v", found)
	}
	v.Release()
	if e := s.Peek([]byte("b")); e == nil || string(e.Value) != "va" || e.ExpireAt != 99 {
		t.Errorf("store entry b = %+v", e)
	}
	checkKeysCounters(t, s)
}

func TestRandomKey(t *testing.T) {
	const now = 1_000_000
	rng := rand.New(rand.NewPCG(1, 2))
	s := New()
	if k, ok := s.RandomKey(rng, now); ok {
		t.Fatalf("empty store: got %q", k)
	}
	s.Set([]byte("only"), []byte("v"), 0, now)
	if k, ok := s.RandomKey(rng, now); !ok || k != "only" {
		t.Fatalf("one key: got %q, %v", k, ok)
	}
	// Expired keys are never returned while a live one exists.
	for i := 0; i < 200; i++ {
		s.Set([]byte("dead"+strconv.Itoa(i)), []byte("v"), now-1, now-10)
	}
	for i := 0; i < 50; i++ {
		if k, ok := s.RandomKey(rng, now); !ok || k != "only" {
			t.Fatalf("mostly expired: got %q, %v", k, ok)
		}
	}
	// Every key expired and the store small enough to walk: none.
	s.Delete([]byte("only"))
	if k, ok := s.RandomKey(rng, now); ok {
		t.Fatalf("all expired: got %q", k)
	}
}

func TestRandomKeyCoversAllKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := New()
	const n = 20
	for i := 0; i < n; i++ {
		s.Set([]byte("{same}"+strconv.Itoa(i)), []byte("v"), 0, 1) // one slot
		s.Set([]byte("k"+strconv.Itoa(i)), []byte("v"), 0, 1)      // many slots
	}
	seen := map[string]bool{}
	for i := 0; i < 5000 && len(seen) < 2*n; i++ {
		k, ok := s.RandomKey(rng, 1)
		if !ok {
			t.Fatal("no key")
		}
		seen[k] = true
	}
	if len(seen) != 2*n {
		t.Errorf("saw %d distinct keys, want %d", len(seen), 2*n)
	}
}

func TestRandomKeyGivesUpOnLargeExpiredStore(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	s := New()
	for i := 0; i < randomKeyWalkBudget*2; i++ {
		s.Set([]byte("x"+strconv.Itoa(i)), []byte("v"), 5, 1)
	}
	k, ok := s.RandomKey(rng, 10)
	if !ok || s.Peek([]byte(k)) == nil {
		t.Fatalf("got %q, %v; want the name of an (expired) key", k, ok)
	}
}
