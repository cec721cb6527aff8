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
