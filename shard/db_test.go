package shard

import (
	"fmt"
	"testing"
)

// dbViewContents returns every entry of database db in v.
func dbViewContents(v *View, db int) map[string]snapEntry {
	m := map[string]snapEntry{}
	for i := 0; i < NumSlots; i++ {
		v.RangeDBSlot(db, i, func(k string, e *Entry) bool {
			m[k] = snapEntry{string(e.Value), e.ExpireAt, e.Seq()}
			return true
		})
	}
	return m
}

// TestDatabasesAreSeparateKeySpaces: the same key in several databases is
// several keys; counts are per database, memory and creation numbers are
// shared; Flush empties one database, FlushAll every one.
func TestDatabasesAreSeparateKeySpaces(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	if s.DB(0) != s || s.Index() != 0 {
		t.Fatal("DB(0) is not the store itself")
	}
	d3, d15 := s.DB(3), s.DB(15)
	if s.DB(3) != d3 || d3.DB(15) != d15 || d15.DB(0) != s || d3.Index() != 3 {
		t.Fatal("DB does not return one store per database from any database")
	}
	s.Set(b("k"), b("zero"), 0, 1000)
	d3.Set(b("k"), b("three"), 5000, 1000)
	d3.Set(b("other"), b("x"), 0, 1000)
	d15.Set(b("k"), b("fifteen"), 0, 1000)
	for _, c := range []struct {
		st        *Store
		val       string
		keys, vol int64
	}{{s, "zero", 1, 0}, {d3, "three", 2, 1}, {d15, "fifteen", 1, 0}} {
		if e := c.st.Get(b("k"), 2000, 0.5); e == nil || string(e.Value) != c.val {
			t.Errorf("db %d: k = %v, want %q", c.st.Index(), e, c.val)
		}
		if c.st.Len() != c.keys || c.st.VolatileLen() != c.vol {
			t.Errorf("db %d: %d keys, %d volatile; want %d, %d", c.st.Index(), c.st.Len(), c.st.VolatileLen(), c.keys, c.vol)
		}
	}
	if s.TotalLen() != 4 || d3.TotalLen() != 4 || len(s.Databases()) != 3 {
		t.Errorf("TotalLen %d, %d databases; want 4 keys in 3", s.TotalLen(), len(s.Databases()))
	}
	if s.Seq() != 4 || d15.Seq() != 4 {
		t.Errorf("creation counter %d, want 4 (shared)", s.Seq())
	}
	checkInvariants(t, s)
	d3.Flush()
	if d3.Len() != 0 || s.Len() != 1 || d15.Len() != 1 {
		t.Errorf("after FLUSHDB of 3: %d, %d, %d keys", s.Len(), d3.Len(), d15.Len())
	}
	checkInvariants(t, s)
	d15.FlushAll()
	if s.TotalLen() != 0 || s.Bytes() != 0 {
		t.Errorf("after FLUSHALL: %d keys, %d bytes", s.TotalLen(), s.Bytes())
	}
	checkInvariants(t, s)
}

// TestMoveTo: MOVE carries value, expiry and creation number to the other
// database, and refuses a key the target has (live or expired: the caller
// deletes expired ones first) or a missing one.
func TestMoveTo(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	d5 := s.DB(5)
	s.Set(b("m"), b("v"), 9000, 1000)
	seq := s.Peek(b("m")).Seq()
	if !s.MoveTo(d5, b("m")) {
		t.Fatal("MoveTo of a key missing in the target failed")
	}
	if s.Peek(b("m")) != nil || s.VolatileLen() != 0 {
		t.Error("the key stayed in the source")
	}
	e := d5.Peek(b("m"))
	if e == nil || string(e.Value) != "v" || e.ExpireAt != 9000 || e.Seq() != seq || d5.VolatileLen() != 1 {
		t.Fatalf("moved entry %+v", e)
	}
	checkInvariants(t, s)
	s.Set(b("m"), b("again"), 0, 1000)
	if d5.MoveTo(s, b("m")) || s.MoveTo(d5, b("missing")) || s.MoveTo(s, b("m")) {
		t.Error("MoveTo onto an existing key, of a missing key or to itself succeeded")
	}
	if string(s.Peek(b("m")).Value) != "again" || string(d5.Peek(b("m")).Value) != "v" {
		t.Error("a refused MoveTo changed a database")
	}
	checkInvariants(t, s)
}

// TestSwapDBWithOpenView: SWAPDB exchanges two databases (created or not)
// at once; a View taken before keeps its contents while both swapped
// databases are written (copy-on-write follows the maps).
func TestSwapDBWithOpenView(t *testing.T) {
	s := New()
	s.Lock()
	populate(s, 200, 1000)
	d2 := s.DB(2)
	d2.Set(b("only2"), b("x"), 0, 1000)
	want0, want2 := storeContents(s), storeContents(d2)
	v := s.Snapshot()
	s.SwapDB(0, 2)
	if got := storeContents(d2); len(got) != 200 {
		t.Errorf("database 2 holds %d keys after SWAPDB, want 200", len(got))
	}
	diffContents(t, "database 0 after SWAPDB", storeContents(s), want2)
	checkInvariants(t, s)
	// Write to both: the view must not see it.
	mutateAll(t, d2, 2000)
	s.Set(b("only2"), b("changed"), 0, 2000)
	s.SwapDB(9, 0) // with a database never used
	if s.Len() != 0 || s.DB(9).Len() != 1 {
		t.Errorf("SWAPDB with an unused database: %d and %d keys", s.Len(), s.DB(9).Len())
	}
	s.SwapDB(3, 3)
	checkInvariants(t, s)
	s.Unlock()
	diffContents(t, "view of database 0", viewContents(v), want0)
	diffContents(t, "view of database 2", dbViewContents(v, 2), want2)
	if dbs := v.DBs(); len(dbs) != 1 || dbs[0] != 2 || v.TotalKeys() != 201 || v.DBSlotLen(7, 0) != 0 {
		t.Errorf("view databases %v, %d keys", dbs, v.TotalKeys())
	}
	v.Release()
}

// TestReplaceWithDatabases: a restored key space replaces every database,
// and a database the snapshot lacks becomes empty.
func TestReplaceWithDatabases(t *testing.T) {
	s := New()
	s.Lock()
	defer s.Unlock()
	s.DB(4).Set(b("stale"), b("x"), 0, 1000)
	s.Set(b("stale0"), b("x"), 0, 1000)
	fresh := New()
	for db := 1; db < NumDBs; db += 7 {
		for i := 0; i < db; i++ {
			fresh.DB(db).Set(b(fmt.Sprintf("k%d", i)), b("v"), int64(i%2)*9000, 1000)
		}
	}
	d4 := s.DB(4)
	s.ReplaceWith(fresh)
	if d4.Len() != 0 || s.Len() != 0 || s.DB(8).Len() != 8 || s.DB(15).Len() != 15 || s.TotalLen() != 24 {
		t.Errorf("after ReplaceWith: db0 %d, db4 %d, db8 %d, db15 %d keys", s.Len(), d4.Len(), s.DB(8).Len(), s.DB(15).Len())
	}
	if s.Bytes() != fresh.Bytes() || s.Seq() != fresh.Seq() {
		t.Errorf("bytes %d seq %d, want %d %d", s.Bytes(), s.Seq(), fresh.Bytes(), fresh.Seq())
	}
	checkInvariants(t, s)
}

// TestDatabasesConcurrentUse: readers under RLock create and read
// databases while a writer sets keys, swaps databases and opens views that
// another goroutine reads and releases (run with -race).
func TestDatabasesConcurrentUse(t *testing.T) {
	s := New()
	done := make(chan struct{})
	views := make(chan *View, 16) // more than the views opened: the writer never waits holding Lock
	var readers [3]chan struct{}
	for r := range readers {
		readers[r] = make(chan struct{})
		go func(r int) {
			defer close(readers[r])
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				s.RLock()
				d := s.DB((i + r) % NumDBs)
				_ = d.Get(b(fmt.Sprintf("k%d", i%50)), 2000, 0.5)
				_ = d.Len()
				s.RUnlock()
			}
		}(r)
	}
	viewer := make(chan struct{})
	go func() {
		defer close(viewer)
		for v := range views {
			for _, db := range append(v.DBs(), 0) {
				_ = dbViewContents(v, db)
			}
			v.Release()
		}
	}()
	for i := 0; i < 2000; i++ {
		s.Lock()
		s.DB(i%NumDBs).Set(b(fmt.Sprintf("k%d", i%50)), b("v"), 0, 1000)
		if i%97 == 0 {
			s.SwapDB(i%NumDBs, (i/97)%NumDBs)
		}
		if i%250 == 0 {
			views <- s.Snapshot()
		}
		s.Unlock()
	}
	close(views)
	<-viewer
	close(done)
	for _, r := range readers {
		<-r
	}
	s.Lock()
	checkInvariants(t, s)
	s.Unlock()
}
