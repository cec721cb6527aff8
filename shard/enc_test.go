package shard

import "testing"

// TestEncHint checks that an entry's encoding hint survives accesses (which
// rewrite the LFU counter sharing its word), expiry changes and the copy
// Mutable makes while a View shares the entry (which also keeps the value's
// capacity), and that Set resets it.
func TestEncHint(t *testing.T) {
	const now = int64(1_700_000_000_000)
	s := New()
	s.Lock()
	v := make([]byte, 3, 12)
	copy(v, "abc")
	s.Set([]byte("k"), v, 0, now).SetEnc(EncRaw)
	s.Unlock()

	s.RLock()
	for i := 0; i < 10; i++ {
		s.Get([]byte("k"), now+int64(i)*60_000, 0)
	}
	e := s.Peek([]byte("k"))
	s.RUnlock()
	if e.Enc() != EncRaw {
		t.Fatalf("after reads: Enc = %d, want EncRaw", e.Enc())
	}
	if c := e.LFUCounter(uint32((now + 9*60_000) / 60_000)); c != LFUInitVal+1 {
		t.Errorf("LFU counter = %d, want %d (the hint must not disturb it)", c, LFUInitVal+1)
	}

	s.Lock()
	view := s.Snapshot()
	m := s.Mutable([]byte("k"))
	s.Unlock()
	if m == e {
		t.Fatal("Mutable returned the entry a View shares")
	}
	if m.Enc() != EncRaw || cap(m.Value) != 12 || string(m.Value) != "abc" {
		t.Errorf("Mutable's copy: Enc %d, cap %d, value %q; want EncRaw, 12, abc", m.Enc(), cap(m.Value), m.Value)
	}
	view.Release()

	s.Lock()
	view = s.Snapshot()
	s.SetExpire([]byte("k"), now+1000)
	c := s.Peek([]byte("k"))
	s.Unlock()
	view.Release()
	if c == m || c.Enc() != EncRaw {
		t.Errorf("SetExpire's copy: Enc %d (a copy: %v), want EncRaw", c.Enc(), c != m)
	}

	s.Lock()
	s.Set([]byte("k"), []byte("x"), 0, now)
	s.Unlock()
	if got := s.Peek([]byte("k")).Enc(); got != EncDefault {
		t.Errorf("after Set: Enc = %d, want EncDefault", got)
	}
}

// TestSetKeepsLFU checks that overwriting a key keeps its LFU counter,
// decayed to the time of the write, as Redis's dbOverwrite does, both when
// the entry is updated in place and when a View shares it (a new entry).
func TestSetKeepsLFU(t *testing.T) {
	const now = int64(1_700_000_020_000)
	for _, shared := range []bool{false, true} {
		s := New()
		s.Lock()
		s.Set([]byte("k"), []byte("v"), 0, now)
		s.Unlock()
		s.RLock()
		for range 3 {
			s.Get([]byte("k"), now, 0) // r = 0: every read counts
		}
		s.RUnlock()
		minute := uint32(now / 60_000)
		if c := s.Peek([]byte("k")).LFUCounter(minute); c != LFUInitVal+3 {
			t.Fatalf("after 3 reads: counter %d, want %d", c, LFUInitVal+3)
		}
		s.Lock()
		var view *View
		if shared {
			view = s.Snapshot()
		}
		e := s.Set([]byte("k"), []byte("w"), 0, now+60_000)
		s.Unlock()
		if c := e.LFUCounter(minute + 1); c != LFUInitVal+2 {
			t.Errorf("shared %v: after the overwrite a minute later: counter %d, want %d (kept, decayed by one)", shared, c, LFUInitVal+2)
		}
		if view != nil {
			view.Release()
		}
	}
}
