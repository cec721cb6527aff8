package snapshot

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/shoalcache/shoal/shard"
)

// FuzzRead feeds arbitrary bytes to Read. It must not panic, must fail only
// with ErrCorrupt or ErrFormat, and whatever it accepts must survive another
// write/read cycle unchanged.
func FuzzRead(f *testing.F) {
	f.Add(encode(f, sample(5), Meta{Now: 77, Extra: []byte("x")}))
	f.Add(encode(f, shard.New(), Meta{}))
	valid := encode(f, sample(2), Meta{Now: 1})
	f.Add(valid[:len(valid)-3])
	f.Add([]byte("SHOALSNP\x00\x01"))
	f.Add(encode(f, sample(3), Meta{Now: 9, Epoch: 4, Slots: &shard.SlotSet{1, 2, 3}}))
	f.Add(encode(f, sample(1), Meta{Epoch: 4, Slots: shard.AllSlots()}))
	f.Add([]byte{})
	f.Add(encode(f, sample(2), sampleJobs()))
	v1, err := os.ReadFile("testdata/v1.snap")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v1)
	v3, err := os.ReadFile("testdata/v3.snap")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v3)
	f.Add(encode(f, multiDB(f), Meta{Now: 3}))
	f.Fuzz(func(t *testing.T, data []byte) {
		st := shard.New()
		meta, err := Read(bytes.NewReader(data), st)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		want := contents(st)
		st.RLock()
		if st.Seq() != meta.Seq || st.Len() != int64(len(want)) {
			t.Fatalf("Seq=%d Len=%d, meta.Seq=%d keys=%d", st.Seq(), st.Len(), meta.Seq, len(want))
		}
		st.RUnlock()
		again, meta2 := decode(t, encode(t, st, meta))
		for db := 0; db < shard.NumDBs; db++ {
			sameContents(t, contents(again.DB(db)), contents(st.DB(db)))
		}
		if meta2.Now != meta.Now || meta2.Seq != meta.Seq || !bytes.Equal(meta2.Extra, meta.Extra) ||
			meta2.Epoch != meta.Epoch || (meta2.Slots == nil) != (meta.Slots == nil) ||
			(meta.Slots != nil && *meta2.Slots != *meta.Slots) ||
			!reflect.DeepEqual(meta2.MigratingOut, meta.MigratingOut) || !reflect.DeepEqual(meta2.Importing, meta.Importing) ||
			!reflect.DeepEqual(meta2.EndedJobs, meta.EndedJobs) {
			t.Fatalf("meta changed across a round trip: %+v -> %+v", meta, meta2)
		}
	})
}
