package shard

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/shoalcache/shoal/internal/testutil"
)

// ttlModel is a hash with field times as Redis 7.4 keeps a listpackex: the
// fields in order (times first, ascending, a field before those with an
// equal time; fields without a time after them).
type ttlModel struct {
	order []string
	val   map[string]string
	at    map[string]int64
}

func newTTLModel() *ttlModel {
	return &ttlModel{val: map[string]string{}, at: map[string]int64{}}
}

func (m *ttlModel) clone() *ttlModel {
	c := newTTLModel()
	c.order = slices.Clone(m.order)
	for k, v := range m.val {
		c.val[k] = v
	}
	for k, v := range m.at {
		c.at[k] = v
	}
	return c
}

func (m *ttlModel) remove(f string) {
	m.order = slices.DeleteFunc(m.order, func(s string) bool { return s == f })
}

// place puts f where listpackex puts a field with time at (0: none).
func (m *ttlModel) place(f string, at int64) {
	m.remove(f)
	pos := len(m.order)
	if at != 0 {
		for i, g := range m.order {
			if t := m.at[g]; t == 0 || t >= at {
				pos = i
				break
			}
		}
	}
	m.order = slices.Insert(m.order, pos, f)
}

func (m *ttlModel) check(t *testing.T, what string, h *Hash, listpackOrder bool) {
	t.Helper()
	var got []string
	h.Range(func(f, v []byte) bool {
		if m.val[string(f)] != string(v) {
			t.Fatalf("%s: field %s = %q, model %q", what, f, v, m.val[string(f)])
		}
		got = append(got, string(f))
		return true
	})
	if h.Len() != len(m.val) || len(got) != len(m.val) {
		t.Fatalf("%s: %d fields (Range %d), model %d", what, h.Len(), len(got), len(m.val))
	}
	if listpackOrder && h.Listpack() && !slices.Equal(got, m.order) {
		t.Fatalf("%s: listpack order %q, listpackex's %q", what, got, m.order)
	}
	var minAt int64
	for f := range m.val {
		if h.FieldTTL([]byte(f)) != m.at[f] {
			t.Fatalf("%s: FieldTTL(%s) = %d, model %d", what, f, h.FieldTTL([]byte(f)), m.at[f])
		}
		if a := m.at[f]; a != 0 && (minAt == 0 || a < minAt) {
			minAt = a
		}
	}
	if mt := h.MinFieldTTL(); minAt != 0 && (mt == 0 || mt > minAt) {
		t.Fatalf("%s: MinFieldTTL %d is after the earliest time %d", what, mt, minAt)
	}
}

// TestHashFieldTTLAgainstModel drives a hash with field times through
// random Set, SetKeepTTL, Delete, SetFieldTTL, PersistField, Live and
// ExpireFields calls, with clones taken along the way (which must keep
// what they had), and checks contents, times, the listpackex field order
// and snapshot round trips against a model. SHOAL_TEST_SEED replays.
func TestHashFieldTTLAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(testutil.Seed(t), 7))
	for round := 0; round < 30; round++ {
		h, m := NewHash(), newTTLModel()
		type frozen struct {
			h *Hash
			m *ttlModel
		}
		var clones []frozen
		nf := 1 + rng.IntN(40)
		if round%3 == 0 {
			nf = 600 // becomes a hashtable
		}
		now := int64(1000)
		for op := 0; op < 1500; op++ {
			f := "f" + strconv.Itoa(rng.IntN(nf))
			_, exists := m.val[f]
			switch rng.IntN(8) {
			case 0, 1:
				v := strconv.Itoa(rng.IntN(100))
				h.Set([]byte(f), []byte(v))
				if !exists {
					m.order = append(m.order, f)
				} else if m.at[f] != 0 {
					delete(m.at, f)
					m.place(f, 0)
				}
				m.val[f] = v
			case 2:
				if exists {
					v := "k" + strconv.Itoa(rng.IntN(100))
					h.SetKeepTTL([]byte(f), []byte(v))
					m.val[f] = v
				}
			case 3:
				h.Delete([]byte(f))
				m.remove(f)
				delete(m.val, f)
				delete(m.at, f)
			case 4, 5:
				if exists {
					at := now + 1 + int64(rng.IntN(50))
					h.SetFieldTTL([]byte(f), at)
					m.at[f] = at
					m.place(f, at)
				}
			case 6:
				had := m.at[f] != 0
				if h.PersistField([]byte(f)) != had {
					t.Fatalf("round %d op %d: PersistField(%s) != %v", round, op, f, had)
				}
				if had {
					delete(m.at, f)
					m.place(f, 0)
				}
			case 7:
				now += int64(rng.IntN(10))
				live := h.Live(now)
				want := m.clone()
				n := 0
				for g, a := range m.at {
					if a < now {
						want.remove(g)
						delete(want.val, g)
						delete(want.at, g)
						n++
					}
				}
				want.check(t, "Live", live, true)
				m.check(t, "after Live", h, true) // Live never changes h
				if rng.IntN(2) == 0 {
					if got := h.ExpireFields(now); got != n {
						t.Fatalf("round %d op %d: ExpireFields = %d, want %d", round, op, got, n)
					}
					m = want
					if h.FieldsDue(now) {
						t.Fatalf("round %d op %d: fields still due after ExpireFields", round, op)
					}
				}
			}
			if rng.IntN(100) == 0 {
				clones = append(clones, frozen{h, m.clone()})
				h = h.clone().(*Hash)
			}
		}
		m.check(t, "end", h, true)
		for i, c := range clones {
			c.m.check(t, "clone "+strconv.Itoa(i), c.h, true)
		}
		if h.Len() == 0 {
			continue
		}
		o, err := DecodeObject(TypeHash, AppendObject(nil, h))
		if err != nil {
			t.Fatalf("round %d: decode: %v", round, err)
		}
		d := o.(*Hash)
		m.check(t, "decoded", d, true)
		if d.size() != h.size() || d.HasTTLs() != h.HasTTLs() || d.Listpack() != h.Listpack() {
			t.Fatalf("round %d: round trip differs: size %d/%d", round, d.size(), h.size())
		}
	}
}

// TestHashFieldTTLDecodeRefuses checks that the times of an encoded hash
// are validated: a time for a missing field, a field twice, a zero or too
// large time, trailing bytes.
func TestHashFieldTTLDecodeRefuses(t *testing.T) {
	h := NewHash()
	h.Set([]byte("a"), []byte("1"))
	h.Set([]byte("b"), []byte("2"))
	h.SetFieldTTL([]byte("a"), 5000)
	good := AppendObject(nil, h)
	if _, err := DecodeObject(TypeHash, good); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(good); i++ {
		if _, err := DecodeObject(TypeHash, good[:i]); err == nil {
			t.Fatalf("truncated at %d decoded", i)
		}
	}
	pairs := func(enc byte) []byte {
		b := []byte{enc, 2}
		b = appendPair(b, []byte("a"), []byte("1"))
		return appendPair(b, []byte("b"), []byte("2"))
	}
	ttl := func(b []byte, f string, at uint64) []byte {
		b = append(b, byte(len(f)))
		b = append(b, f...)
		for at >= 0x80 {
			b = append(b, byte(at)|0x80)
			at >>= 7
		}
		return append(b, byte(at))
	}
	for _, tc := range []struct {
		name string
		p    []byte
	}{
		{"missing field", ttl(append(pairs(2), 1), "zz", 5)},
		{"field twice", ttl(ttl(append(pairs(2), 2), "a", 5), "a", 6)},
		{"zero time", ttl(append(pairs(2), 1), "a", 0)},
		{"time too large", ttl(append(pairs(3), 1), "a", 1<<48)},
		{"trailing", append(ttl(append(pairs(2), 1), "a", 5), 0)},
		{"encoding 4", ttl(append(pairs(4), 1), "a", 5)},
	} {
		if _, err := DecodeObject(TypeHash, tc.p); err == nil {
			t.Errorf("%s: decoded", tc.name)
		}
	}
	for _, enc := range []byte{2, 3} {
		if _, err := DecodeObject(TypeHash, ttl(append(pairs(enc), 1), "b", 5)); err != nil {
			t.Errorf("encoding %d with a time: %v", enc, err)
		}
	}
}

// TestStoreExpireFields checks the store's side: the list of hashes with
// field times (kept through SWAPDB, COPY-like SetObject and snapshots
// restores), what CollectExpiredFields proposes, and ExpireFields deleting
// due fields, the key with its last one, and stale names.
func TestStoreExpireFields(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	mk := func(key string, times map[string]int64) {
		h := NewHash()
		for f := range times {
			h.Set([]byte(f), []byte("v"))
		}
		e := s.SetObject([]byte(key), h, 0, 0)
		before := ObjectSize(e)
		for f, at := range times {
			if at != 0 {
				h.SetFieldTTL([]byte(f), at)
			}
		}
		s.ObjectDone([]byte(key), e, before)
	}
	mk("h1", map[string]int64{"a": 100, "b": 200, "c": 0})
	mk("h2", map[string]int64{"a": 100})
	mk("plain", map[string]int64{"a": 0})
	if n := s.FieldTTLKeys(); n != 2 {
		t.Fatalf("FieldTTLKeys = %d, want 2", n)
	}
	due := func(now int64) []string {
		var ks []string
		for _, k := range s.CollectExpiredFields(nil, 100, now) {
			if k.ExpireAt != 0 {
				t.Fatalf("field expiry proposal with ExpireAt %d", k.ExpireAt)
			}
			ks = append(ks, k.Key)
		}
		slices.Sort(ks)
		return ks
	}
	if got := due(50); len(got) != 0 {
		t.Fatalf("due at 50: %q", got)
	}
	if got := due(150); !slices.Equal(got, []string{"h1", "h2"}) {
		t.Fatalf("due at 150: %q", got)
	}
	bytesBefore := s.Bytes()
	if n := s.ExpireFields([]byte("h1"), 150); n != 1 {
		t.Fatalf("ExpireFields(h1) = %d", n)
	}
	if s.Bytes() >= bytesBefore {
		t.Fatalf("memory not released: %d -> %d", bytesBefore, s.Bytes())
	}
	if n := s.ExpireFields([]byte("h2"), 150); n != 1 || s.Peek([]byte("h2")) != nil {
		t.Fatalf("ExpireFields(h2) = %d, key left %v", n, s.Peek([]byte("h2")) != nil)
	}
	if s.Stats().ExpiredFields != 2 {
		t.Fatalf("ExpiredFields = %d", s.Stats().ExpiredFields)
	}
	// h2 went with its last field, and left the list; h1 is not due.
	if got := due(150); len(got) != 0 || s.FieldTTLKeys() != 1 {
		t.Fatalf("due after: %q, listed %d", got, s.FieldTTLKeys())
	}
	// A deleted key's name is stale: proposed once more, then dropped.
	mk("h4", map[string]int64{"a": 1000})
	s.Delete([]byte("h4"))
	if got := due(150); !slices.Equal(got, []string{"h4"}) {
		t.Fatalf("stale name not proposed: %q", got)
	}
	s.ExpireFields([]byte("h4"), 150)
	if n := s.FieldTTLKeys(); n != 1 {
		t.Fatalf("FieldTTLKeys after the stale name = %d, want 1", n)
	}
	// A hash whose times are all removed leaves the list at its next turn.
	e := s.EditObject([]byte("h1"))
	before := ObjectSize(e)
	e.Object().(*Hash).PersistField([]byte("b"))
	s.ObjectDone([]byte("h1"), e, before)
	if got := due(1 << 40); !slices.Equal(got, []string{"h1"}) {
		t.Fatalf("h1 without times not proposed: %q", got)
	}
	if n := s.ExpireFields([]byte("h1"), 1<<40); n != 0 || s.FieldTTLKeys() != 0 || s.Peek([]byte("h1")) == nil {
		t.Fatalf("ExpireFields(h1 without times) = %d, listed %d", n, s.FieldTTLKeys())
	}
	// SWAPDB carries the list with the keys.
	mk("h3", map[string]int64{"a": 100})
	s.SwapDB(0, 1)
	if s.FieldTTLKeys() != 0 || s.DB(1).FieldTTLKeys() != 1 {
		t.Fatalf("after SWAPDB: %d / %d", s.FieldTTLKeys(), s.DB(1).FieldTTLKeys())
	}
	// A restored hash with times is listed.
	h := NewHash()
	h.Set([]byte("x"), []byte("1"))
	h.SetFieldTTL([]byte("x"), 100)
	s.RestoreObject("r", h, 0, 1, 0)
	if s.FieldTTLKeys() != 1 {
		t.Fatalf("restored hash not listed")
	}
}
