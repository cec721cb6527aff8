package shard

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/shoalcache/shoal/internal/testutil"
)

func hashContents(h *Hash) map[string]string {
	m := map[string]string{}
	h.Range(func(f, v []byte) bool {
		if _, dup := m[string(f)]; dup {
			panic("field twice: " + string(f))
		}
		m[string(f)] = string(v)
		return true
	})
	return m
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestHashEncodings(t *testing.T) {
	h := NewHash()
	var order []string
	for i := 0; i < HashMaxListpackEntries; i++ {
		f := fmt.Sprintf("f%03d", (i*37)%HashMaxListpackEntries)
		if !h.Set([]byte(f), []byte("v")) {
			t.Fatalf("field %s not new", f)
		}
		order = append(order, f)
	}
	if !h.Listpack() || h.Len() != HashMaxListpackEntries {
		t.Fatalf("listpack=%v len=%d, want a listpack of %d", h.Listpack(), h.Len(), HashMaxListpackEntries)
	}
	var got []string
	h.Range(func(f, _ []byte) bool { got = append(got, string(f)); return true })
	if fmt.Sprint(got) != fmt.Sprint(order) {
		t.Fatalf("listpack order %v, want insertion order %v", got[:5], order[:5])
	}
	// Overwriting keeps the position; a new field past the limit converts.
	h.Set([]byte(order[3]), []byte("a longer value"))
	if f, _ := h.At(3); string(f) != order[3] {
		t.Fatalf("field 3 after overwrite = %s, want %s", f, order[3])
	}
	h.Set([]byte("one more"), []byte("v"))
	if h.Listpack() || h.Len() != HashMaxListpackEntries+1 {
		t.Fatalf("after %d fields: listpack=%v len=%d", HashMaxListpackEntries+1, h.Listpack(), h.Len())
	}
	// Never converts back.
	for _, f := range order {
		h.Delete([]byte(f))
	}
	if h.Listpack() || h.Len() != 1 {
		t.Fatalf("after deletes: listpack=%v len=%d", h.Listpack(), h.Len())
	}
	// A long value or field converts at once.
	for _, c := range []struct{ f, v int }{{HashMaxListpackValue + 1, 1}, {1, HashMaxListpackValue + 1}} {
		h := NewHash()
		h.Set([]byte("a"), []byte("b"))
		h.Set(bytes.Repeat([]byte("f"), c.f), bytes.Repeat([]byte("v"), c.v))
		if h.Listpack() {
			t.Fatalf("field %d bytes, value %d bytes: still a listpack", c.f, c.v)
		}
		if v, ok := h.Get([]byte("a")); !ok || string(v) != "b" {
			t.Fatalf("after conversion a = %q %v", v, ok)
		}
	}
	h = NewHash()
	h.Set(bytes.Repeat([]byte("f"), HashMaxListpackValue), bytes.Repeat([]byte("v"), HashMaxListpackValue))
	if !h.Listpack() {
		t.Fatalf("%d-byte field and value converted the hash", HashMaxListpackValue)
	}
}

// TestHashAgainstModel runs random operations on a hash and a map, across
// the conversion, checking contents, Get and the encoding's round trip.
func TestHashAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(testutil.Seed(t), 1))
	for round := 0; round < 20; round++ {
		h := NewHash()
		model := map[string]string{}
		nf := 1 + rng.IntN(400)
		for op := 0; op < 2000; op++ {
			f := "field:" + strconv.Itoa(rng.IntN(nf))
			switch rng.IntN(4) {
			case 0, 1:
				v := strconv.Itoa(rng.IntN(1 << 20))
				if rng.IntN(50) == 0 {
					v = string(bytes.Repeat([]byte("x"), rng.IntN(100)))
				}
				_, had := model[f]
				if isNew := h.Set([]byte(f), []byte(v)); isNew == had {
					t.Fatalf("round %d op %d: Set(%s) new=%v, model had it=%v", round, op, f, isNew, had)
				}
				model[f] = v
			case 2:
				_, had := model[f]
				if h.Delete([]byte(f)) != had {
					t.Fatalf("round %d op %d: Delete(%s) != %v", round, op, f, had)
				}
				delete(model, f)
			case 3:
				v, ok := h.Get([]byte(f))
				if w, had := model[f]; ok != had || string(v) != w {
					t.Fatalf("round %d op %d: Get(%s) = %q %v, want %q %v", round, op, f, v, ok, w, had)
				}
			}
		}
		if h.Len() != len(model) || !equalMaps(hashContents(h), model) {
			t.Fatalf("round %d: contents differ from the model (len %d, want %d)", round, h.Len(), len(model))
		}
		if h.Len() == 0 {
			continue
		}
		o, err := DecodeObject(TypeHash, AppendObject(nil, h))
		if err != nil {
			t.Fatalf("round %d: decode: %v", round, err)
		}
		d := o.(*Hash)
		if d.Listpack() != h.Listpack() || !equalMaps(hashContents(d), model) || d.size() != h.size() {
			t.Fatalf("round %d: round trip differs (listpack %v/%v, size %d/%d)", round, d.Listpack(), h.Listpack(), d.size(), h.size())
		}
	}
}

// TestHashScanGuarantee checks HSCAN's guarantee on a hashtable: every
// field present from the start to the end of a scan is returned, while
// other fields come and go between the steps.
func TestHashScanGuarantee(t *testing.T) {
	rng := rand.New(rand.NewPCG(testutil.Seed(t), 2))
	h := NewHash()
	for i := 0; i < 5000; i++ {
		h.Set([]byte("stay:"+strconv.Itoa(i)), []byte("v"))
	}
	seen := map[string]bool{}
	cursor, steps := uint64(0), 0
	for {
		cursor = h.Scan(cursor, 1+rng.IntN(20), func(f, _ []byte) { seen[string(f)] = true })
		steps++
		for j := 0; j < 5; j++ {
			f := []byte("churn:" + strconv.Itoa(rng.IntN(3000)))
			if rng.IntN(2) == 0 {
				h.Set(f, []byte("v"))
			} else {
				h.Delete(f)
			}
		}
		if cursor == 0 {
			break
		}
		if steps > 100000 {
			t.Fatal("scan does not end")
		}
	}
	for i := 0; i < 5000; i++ {
		if !seen["stay:"+strconv.Itoa(i)] {
			t.Fatalf("field stay:%d present throughout was not returned (%d steps)", i, steps)
		}
	}
	// A listpack is returned whole, cursor 0.
	small := NewHash()
	small.Set([]byte("a"), []byte("1"))
	small.Set([]byte("b"), []byte("2"))
	n := 0
	if c := small.Scan(0, 1, func(_, _ []byte) { n++ }); c != 0 || n != 2 {
		t.Fatalf("listpack scan: cursor %d, %d fields; want 0, 2", c, n)
	}
}

// TestObjectCopyOnWrite checks that a View keeps a hash as it was while the
// store changes it, for both encodings, with the view read concurrently.
func TestObjectCopyOnWrite(t *testing.T) {
	for _, n := range []int{10, 3000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			s := New()
			key := []byte("h")
			s.Lock()
			h := NewHash()
			want := map[string]string{}
			for i := 0; i < n; i++ {
				f := "f" + strconv.Itoa(i)
				h.Set([]byte(f), []byte("old"))
				want[f] = "old"
			}
			s.SetObject(key, h, 0, 1000)
			v := s.Snapshot()
			s.Unlock()

			var wg sync.WaitGroup
			wg.Add(1)
			var viewErr error
			go func() {
				defer wg.Done()
				for r := 0; r < 20; r++ {
					v.RangeSlot(Slot(key), func(_ string, e *Entry) bool {
						if got := hashContents(e.Object().(*Hash)); !equalMaps(got, want) {
							viewErr = fmt.Errorf("view changed: %d fields", len(got))
						}
						return true
					})
				}
			}()
			for i := 0; i < n; i += 2 {
				s.Lock()
				e := s.EditObject(key)
				before := ObjectSize(e)
				e.Object().(*Hash).Set([]byte("f"+strconv.Itoa(i)), []byte("new"))
				e.Object().(*Hash).Delete([]byte("f" + strconv.Itoa(i+1)))
				s.ObjectDone(key, e, before)
				s.Unlock()
			}
			wg.Wait()
			if viewErr != nil {
				t.Fatal(viewErr)
			}
			v.Release()
			s.RLock()
			got := hashContents(s.Get(key, 1000, 0.5).Object().(*Hash))
			s.RUnlock()
			if len(got) != (n+1)/2 || got["f0"] != "new" {
				t.Fatalf("store: %d fields, f0=%q; want %d, new", len(got), got["f0"], (n+1)/2)
			}
		})
	}
}

// TestObjectStore checks the store's handling of objects: accounting back
// to zero, type kept by reads, an empty object deleting its key, SET over a
// hash, RENAME and SetExpire under an open view.
func TestObjectStore(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	key := []byte("h")
	h := NewHash()
	h.Set([]byte("a"), []byte("1"))
	e := s.SetObject(key, h, 0, 1000)
	if e.Type() != TypeHash || s.Len() != 1 || s.Bytes() <= 0 {
		t.Fatalf("after SetObject: type %v, %d keys, %d bytes", e.Type(), s.Len(), s.Bytes())
	}
	for i := 0; i < 100; i++ {
		s.Get(key, 1000+int64(i)*60000, 0)
	}
	if e := s.Get(key, 1000, 0); e.Type() != TypeHash || e.Object() == nil {
		t.Fatalf("reads lost the type: %v", e.Type())
	}
	e.SetEnc(EncRaw)
	if e.Type() != TypeHash || e.Enc() != EncRaw {
		t.Fatalf("SetEnc: type %v enc %v", e.Type(), e.Enc())
	}
	// Grow, then empty it: the key goes and the accounting is back at 0.
	e = s.EditObject(key)
	before := ObjectSize(e)
	for i := 0; i < 500; i++ {
		e.Object().(*Hash).Set([]byte(strconv.Itoa(i)), []byte("value"))
	}
	s.ObjectDone(key, e, before)
	grown := s.Bytes()
	v := s.Snapshot()
	s.SetExpire(key, 5000) // clones under the view
	if s.Bytes() != grown {
		t.Fatalf("SetExpire under a view changed the accounting: %d -> %d", grown, s.Bytes())
	}
	e = s.EditObject(key)
	before = ObjectSize(e)
	var fields [][]byte
	e.Object().(*Hash).Range(func(f, _ []byte) bool { fields = append(fields, bytes.Clone(f)); return true })
	for _, f := range fields {
		e.Object().(*Hash).Delete(f)
	}
	if !s.ObjectDone(key, e, before) || s.Len() != 0 || s.Bytes() != 0 || s.VolatileLen() != 0 {
		t.Fatalf("emptied hash: %d keys, %d bytes, %d volatile; want none", s.Len(), s.Bytes(), s.VolatileLen())
	}
	var inView int
	v.RangeSlot(Slot(key), func(_ string, e *Entry) bool { inView = e.Object().Len(); return true })
	if inView != 501 {
		t.Fatalf("the view's hash has %d fields, want 501", inView)
	}
	s.Unlock()
	v.Release() // takes Lock
	s.Lock()

	// SET over a hash makes a string; RENAME moves a hash.
	h = NewHash()
	h.Set([]byte("a"), []byte("1"))
	s.SetObject(key, h, 0, 1000)
	s.Set(key, []byte("str"), 0, 1000)
	if e := s.Peek(key); e.Type() != TypeString || string(e.Value) != "str" || e.Object() != nil {
		t.Fatalf("SET over a hash: type %v value %q", e.Type(), e.Value)
	}
	h = NewHash()
	h.Set([]byte("a"), []byte("1"))
	s.SetObject(key, h, 0, 1000)
	s.Rename(key, []byte("h2"))
	if e := s.Peek([]byte("h2")); e == nil || e.Type() != TypeHash || e.Object().Len() != 1 {
		t.Fatal("RENAME lost the hash")
	}
	s.Delete([]byte("h2"))
	s.Delete(key)
	if s.Bytes() != 0 || s.Len() != 0 {
		t.Fatalf("accounting after deletes: %d bytes %d keys", s.Bytes(), s.Len())
	}
}

// TestDecodeObjectGarbage feeds random and truncated encodings to
// DecodeObject: errors, never a panic.
func TestDecodeObjectGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(testutil.Seed(t), 3))
	h := NewHash()
	for i := 0; i < 10; i++ {
		h.Set([]byte("f"+strconv.Itoa(i)), []byte("v"))
	}
	good := AppendObject(nil, h)
	for i := 0; i < len(good); i++ {
		if _, err := DecodeObject(TypeHash, good[:i]); err == nil {
			t.Fatalf("truncated at %d decoded", i)
		}
	}
	for i := 0; i < 20000; i++ {
		p := make([]byte, rng.IntN(64))
		for j := range p {
			p[j] = byte(rng.IntN(256))
		}
		if rng.IntN(2) == 0 {
			p = append(append([]byte{}, good[:rng.IntN(len(good))]...), p...)
		}
		DecodeObject(Type(rng.IntN(6)), p)
	}
	// A field twice is refused in both encodings.
	dup := []byte{0, 2}
	dup = appendPair(dup, []byte("f"), []byte("1"))
	dup = appendPair(dup, []byte("f"), []byte("2"))
	if _, err := DecodeObject(TypeHash, dup); err == nil {
		t.Fatal("listpack with a field twice decoded")
	}
	dup[0] = 1
	if _, err := DecodeObject(TypeHash, dup); err == nil {
		t.Fatal("hashtable with a field twice decoded")
	}
	keys := []string{}
	for k := range hashContents(h) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) != 10 {
		t.Fatal(keys)
	}
}
