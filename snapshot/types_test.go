package snapshot

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/shoalcache/shoal/shard"
)

// valueString describes an entry's value for comparisons: a string's
// bytes, or a collection's type, encoding and sorted elements.
func valueString(e *shard.Entry) string {
	o := e.Object()
	if o == nil {
		return string(e.Value)
	}
	if z, ok := o.(*shard.ZSet); ok {
		var ps []string
		z.AscendFrom(0, func(m string, sc float64) bool { ps = append(ps, fmt.Sprint(m, "=", sc)); return true })
		return fmt.Sprintf("zset listpack=%v [%s]", z.Listpack(), strings.Join(ps, ","))
	}
	if l, ok := o.(*shard.List); ok {
		var vs []string
		l.Range(0, l.Len()-1, func(_ int, v string) bool { vs = append(vs, v); return true })
		return fmt.Sprintf("list [%s]", strings.Join(vs, ","))
	}
	if set, ok := o.(*shard.Set); ok {
		var ms []string
		set.Range(func(m []byte) bool { ms = append(ms, string(m)); return true })
		if !set.Intset() {
			sort.Strings(ms)
		}
		return fmt.Sprintf("set intset=%v {%s}", set.Intset(), strings.Join(ms, ","))
	}
	h := o.(*shard.Hash)
	var pairs []string
	h.Range(func(f, v []byte) bool {
		pairs = append(pairs, string(f)+"="+string(v))
		return true
	})
	if !h.Listpack() {
		sort.Strings(pairs) // hash order is the B-tree's; compare the set
	}
	return fmt.Sprintf("%s listpack=%v {%s}", e.Type(), h.Listpack(), strings.Join(pairs, ","))
}

// typedStore returns a store with strings, hashes and sets of both encodings, in
// databases 0 and 2, some expiring.
func typedStore(t testing.TB) *shard.Store {
	t.Helper()
	st := shard.New()
	st.Lock()
	defer st.Unlock()
	for _, db := range []int{0, 2} {
		d := st.DB(db)
		d.Set([]byte("str"), []byte("plain"), 0, 1000)
		small := shard.NewHash()
		for i := 0; i < 5; i++ {
			small.Set([]byte(fmt.Sprintf("f%d", 4-i)), []byte(fmt.Sprintf("v%d", i)))
		}
		d.SetObject([]byte("small"), small, 9_000_000, 1000)
		big := shard.NewHash()
		for i := 0; i < 3000; i++ {
			big.Set([]byte(fmt.Sprintf("field:%d", i)), []byte(fmt.Sprintf("%d", i*i)))
		}
		d.SetObject([]byte("{t}big"), big, 0, 1000)
		long := shard.NewHash()
		long.Set([]byte("a"), bytes.Repeat([]byte("x"), 100))
		long.Delete([]byte("a"))
		long.Set([]byte("b"), []byte("1")) // a hashtable of one field: stays one
		d.SetObject([]byte("long"), long, 0, 1000)
		ints := shard.NewSet([]byte("1"))
		for _, m := range []string{"5", "-3", "9223372036854775807"} {
			ints.Add([]byte(m))
		}
		d.SetObject([]byte("ints"), ints, 7_000_000, 1000)
		strs := shard.NewSet([]byte("a"))
		for i := 0; i < 1000; i++ {
			strs.Add([]byte(fmt.Sprint("m", i)))
		}
		d.SetObject([]byte("strs"), strs, 0, 1000)
		list := shard.NewList()
		for i := 0; i < 300; i++ {
			list.PushFront([]byte(fmt.Sprint("e", i)))
		}
		d.SetObject([]byte("list"), list, 0, 1000)
		for _, n := range []int{3, 500} {
			z := shard.NewZSet(0, 0)
			for i := 0; i < n; i++ {
				z.Set([]byte(fmt.Sprint("z", i)), float64(i%7)/3)
			}
			d.SetObject([]byte(fmt.Sprint("zset", n)), z, 0, 1000)
		}
	}
	return st
}

// TestTypesRoundTrip: strings and hashes come back with their type,
// encoding, fields, expiry, creation numbers and accounted memory; and the
// listpack's field order is kept.
func TestTypesRoundTrip(t *testing.T) {
	st := typedStore(t)
	data := encode(t, st, Meta{Now: 1000})
	got, _ := decode(t, data)
	for _, db := range []int{0, 2} {
		sameContents(t, contents(got.DB(db)), contents(st.DB(db)))
	}
	if got.Bytes() != st.Bytes() || got.TotalLen() != st.TotalLen() {
		t.Errorf("restored %d keys, %d bytes; want %d, %d", got.TotalLen(), got.Bytes(), st.TotalLen(), st.Bytes())
	}
	got.RLock()
	defer got.RUnlock()
	var order []string
	got.Peek([]byte("small")).Object().(*shard.Hash).Range(func(f, _ []byte) bool {
		order = append(order, string(f))
		return true
	})
	if strings.Join(order, " ") != "f4 f3 f2 f1 f0" {
		t.Errorf("listpack order after restore: %v", order)
	}
	if h := got.Peek([]byte("long")).Object().(*shard.Hash); h.Listpack() {
		t.Error("a hashtable came back as a listpack")
	}
}

// TestTypesCorruption: a flipped byte anywhere is detected (checksums), and
// a record whose object encoding is malformed, or whose type is unknown,
// is corrupt even with a valid checksum.
func TestTypesCorruption(t *testing.T) {
	valid := encode(t, typedStore(t), Meta{})
	// About 400 positions spread over the stream (every byte would take
	// minutes under -race: each flip reads the whole snapshot).
	for i := 0; i < len(valid); i += max(1, len(valid)/400) {
		bad := bytes.Clone(valid)
		bad[i] ^= 0x41
		checkRejected(t, fmt.Sprintf("byte %d", i), bad)
	}
	// The control: a well-formed hand-made record reads.
	h := shard.NewHash()
	h.Set([]byte("f"), []byte("v"))
	enc := shard.AppendObject(nil, h)
	good := append([]byte{1, 'k', byte(shard.TypeHash), byte(len(enc))}, enc...)
	good = append(good, 0, 1)
	st := shard.New()
	if _, err := Read(bytes.NewReader(withRecord(t, encode(t, shard.New(), Meta{}), good)), st); err != nil || st.Len() != 1 {
		t.Fatalf("control record: %v, %d keys", err, st.Len())
	}
	for name, obj := range map[string][]byte{
		"unknown type": {9, 3, 0, 1, 1},
		"bad hash":     {byte(shard.TypeHash), 3, 7, 7, 7},
		"empty hash":   {byte(shard.TypeHash), 2, 0, 0},
	} {
		st := shard.New()
		data := encode(t, st, Meta{})
		// Rebuild the stream with one hand-made record.
		rec := append([]byte{1, 'k'}, obj...)
		rec = append(rec, 0, 1) // expireAt, seq
		data = withRecord(t, data, rec)
		if _, err := Read(bytes.NewReader(data), shard.New()); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Read = %v, want ErrCorrupt", name, err)
		}
	}
}

// withRecord returns the snapshot data of an empty store with one data
// block holding rec inserted before the end block, and the count fixed.
func withRecord(t *testing.T, empty, rec []byte) []byte {
	t.Helper()
	// The empty store's stream ends with the end block (0) and the count.
	end := len(empty) - 9
	if empty[end] != 0 {
		t.Fatal("unexpected snapshot layout")
	}
	var out bytes.Buffer
	out.Write(empty[:end])
	w := &writer{w: bufio.NewWriter(&out), block: append([]byte(nil), rec...)}
	if err := w.flushBlock(); err != nil {
		t.Fatal(err)
	}
	w.w.Flush()
	out.Write([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1})
	return out.Bytes()
}

// TestReadVersion4: a snapshot written before data types
// (testdata/v4.snap, written by the version 4 code from multiDB with Now
// 4321 and epoch 2) reads every database as strings.
func TestReadVersion4(t *testing.T) {
	st, meta := decodeTestdata(t, 4)
	want := multiDB(t)
	for db := 0; db < shard.NumDBs; db++ {
		sameContents(t, contents(st.DB(db)), contents(want.DB(db)))
	}
	if meta.Now != 4321 || meta.Epoch != 2 {
		t.Errorf("meta = %+v", meta)
	}
}
