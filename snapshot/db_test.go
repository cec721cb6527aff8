package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/shoalcache/shoal/shard"
)

// multiDB returns a store with keys in databases 0, 3 and 15 (the same
// names in several), and an empty database 7 that was used.
func multiDB(t testing.TB) *shard.Store {
	t.Helper()
	st := shard.New()
	st.Lock()
	defer st.Unlock()
	for _, db := range []int{0, 3, 15} {
		d := st.DB(db)
		for i := 0; i <= db; i++ {
			exp := int64(0)
			if i%2 == 1 {
				exp = 9_000_000 + int64(db)
			}
			d.Set([]byte(fmt.Sprintf("k:%d", i)), []byte(fmt.Sprintf("db%d-%d", db, i)), exp, 1000)
		}
	}
	st.DB(7).Set([]byte("gone"), []byte("x"), 0, 1000)
	st.DB(7).Delete([]byte("gone"))
	return st
}

// TestDatabasesRoundTrip: every database's keys, with expiry and creation
// numbers, come back in the same database; database 0's too, when it is
// empty, and with migration jobs in the header.
func TestDatabasesRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		empty bool
		meta  Meta
	}{
		{"keys in 0, 3, 15", false, Meta{Now: 77}},
		{"database 0 empty", true, Meta{Now: 77}},
		{"with jobs", false, sampleJobs()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := multiDB(t)
			if tc.empty {
				st.Lock()
				st.Flush()
				st.Unlock()
			}
			data := encode(t, st, tc.meta)
			if data[9] != version {
				t.Fatalf("written version %d, want %d", data[9], version)
			}
			got, meta := decode(t, data)
			if meta.Now != tc.meta.Now {
				t.Errorf("Now = %d", meta.Now)
			}
			for db := 0; db < shard.NumDBs; db++ {
				sameContents(t, contents(got.DB(db)), contents(st.DB(db)))
			}
			if got.TotalLen() != st.TotalLen() || got.Bytes() != st.Bytes() || got.Seq() != st.Seq() {
				t.Errorf("restored %d keys, %d bytes, seq %d; want %d, %d, %d",
					got.TotalLen(), got.Bytes(), got.Seq(), st.TotalLen(), st.Bytes(), st.Seq())
			}
			if got.DB(3).VolatileLen() != 2 || got.DB(15).Len() != 16 {
				t.Errorf("database 3 has %d volatile keys, 15 has %d keys", got.DB(3).VolatileLen(), got.DB(15).Len())
			}
		})
	}
}

// TestDatabasesCorruption: every flipped byte of a multi-database snapshot
// is detected, and a database list out of order, with database 0, out of
// range, empty or truncated is corrupt.
func TestDatabasesCorruption(t *testing.T) {
	valid := encode(t, multiDB(t), Meta{})
	for i := range valid {
		bad := bytes.Clone(valid)
		bad[i] ^= 0x41
		checkRejected(t, fmt.Sprintf("byte %d", i), bad)
	}
	for name, p := range map[string][]byte{
		"descending":       {2, 15, 1, 3, 1},
		"database 0":       {1, 0, 1},
		"out of range":     {1, 16, 1},
		"no keys":          {1, 3, 0},
		"too many":         {16},
		"repeated":         {2, 3, 1, 3, 1},
		"truncated":        {2, 3, 1},
		"truncated varint": {1, 3},
	} {
		if _, _, err := readDBs(p); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: readDBs(% x) = %v, want ErrCorrupt", name, p, err)
		}
	}
	if dbs, rest, err := readDBs([]byte{2, 3, 4, 15, 1, 9}); err != nil || len(dbs) != 2 || dbs[1] != (dbCount{15, 1}) || len(rest) != 1 {
		t.Errorf("readDBs of a good list = %v, % x, %v", dbs, rest, err)
	}
}

// TestReadVersion3: a snapshot written before databases (testdata/v3.snap,
// written by the version 3 code from keys a=1, b=two expiring at 5000000,
// {tag}c=00ff, Now 4321, epoch 2, ended job j9) reads into database 0.
func TestReadVersion3(t *testing.T) {
	st, meta := decodeTestdata(t, 3)
	sameContents(t, contents(st), oldSnapKeys)
	if meta.Now != 4321 || meta.Epoch != 2 || meta.Seq != 3 || len(meta.EndedJobs) != 1 || meta.EndedJobs[0] != "j9" {
		t.Errorf("meta = %+v", meta)
	}
	if st.TotalLen() != 3 || len(st.Databases()) != 1 {
		t.Errorf("%d keys in %d databases, want 3 in database 0 only", st.TotalLen(), len(st.Databases()))
	}
}

// oldSnapKeys are the keys of testdata/v1.snap and v3.snap.
var oldSnapKeys = map[string]rec{
	"a":      {"1", 0, 1},
	"b":      {"two", 5_000_000, 2},
	"{tag}c": {"\x00\xff", 0, 3},
}

// decodeTestdata reads testdata/v<version>.snap, checking its version.
func decodeTestdata(t *testing.T, version int) (*shard.Store, Meta) {
	t.Helper()
	name := fmt.Sprintf("testdata/v%d.snap", version)
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if int(data[9]) != version {
		t.Fatalf("%s is version %d", name, data[9])
	}
	return decode(t, data)
}
