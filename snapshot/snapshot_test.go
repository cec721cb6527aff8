package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/shoalcache/shoal/shard"
)

type rec struct {
	val string
	exp int64
	seq uint64
}

// contents returns every entry of st.
func contents(st *shard.Store) map[string]rec {
	st.RLock()
	defer st.RUnlock()
	m := map[string]rec{}
	for i := 0; i < shard.NumSlots; i++ {
		st.RangeSlot(i, func(k string, e *shard.Entry) bool {
			m[k] = rec{valueString(e), e.ExpireAt, e.Seq()}
			return true
		})
	}
	return m
}

func sameContents(t *testing.T, got, want map[string]rec) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d keys, want %d", len(got), len(want))
	}
	n := 0
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("key %q = %+v (present %v), want %+v", k, g, ok, w)
			if n++; n > 10 {
				t.FailNow()
			}
		}
	}
}

// encode writes a snapshot of st with meta (Seq taken from the view).
func encode(t testing.TB, st *shard.Store, meta Meta) []byte {
	t.Helper()
	st.Lock()
	v := st.Snapshot()
	st.Unlock()
	defer v.Release()
	meta.Seq = v.Seq()
	var buf bytes.Buffer
	if err := Write(&buf, v, meta); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

func decode(t testing.TB, data []byte) (*shard.Store, Meta) {
	t.Helper()
	st := shard.New()
	meta, err := Read(bytes.NewReader(data), st)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return st, meta
}

// sample returns a store with varied keys: binary, empty, with and without
// TTL, overwritten (so creation numbers are not dense).
func sample(n int) *shard.Store {
	st := shard.New()
	st.Lock()
	defer st.Unlock()
	st.Set([]byte(""), []byte("empty key"), 0, 1000)
	st.Set([]byte("empty value"), []byte{}, 0, 1000)
	st.Set([]byte("bin\x00\xff\r\n"), []byte{0, 0xff, 0x80, '\r', '\n', 0x7f}, 1<<41, 1000)
	for i := 0; i < n; i++ {
		exp := int64(0)
		if i%3 == 1 {
			exp = 5_000_000 + int64(i)
		}
		st.Set([]byte(fmt.Sprintf("key:%d", i)), bytes.Repeat([]byte{byte(i), 0xfe}, i%7), exp, 1000)
	}
	for i := 0; i < n; i += 5 {
		st.Set([]byte(fmt.Sprintf("key:%d", i)), []byte("overwritten"), 0, 2000)
	}
	for i := 2; i < n; i += 11 {
		st.Delete([]byte(fmt.Sprintf("key:%d", i)))
	}
	return st
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		store func() *shard.Store
		meta  Meta
	}{
		{"empty store", shard.New, Meta{}},
		{"empty store with meta", shard.New, Meta{Now: 1234, Extra: []byte("x")}},
		{"small", func() *shard.Store { return sample(20) }, Meta{Now: 1_700_000_000_123, Extra: []byte("extra\x00state")}},
		{"many keys", func() *shard.Store { return sample(30000) }, Meta{Now: 99}},
		{"large extra", func() *shard.Store { return sample(3) }, Meta{Now: 5, Extra: bytes.Repeat([]byte("E"), 1<<20)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.store()
			want := contents(st)
			data := encode(t, st, tt.meta)
			got, meta := decode(t, data)
			sameContents(t, contents(got), want)
			if meta.Now != tt.meta.Now || meta.Seq != st.Seq() || !bytes.Equal(meta.Extra, tt.meta.Extra) {
				t.Errorf("meta = {%d %d %d bytes}, want {%d %d %d bytes}",
					meta.Now, meta.Seq, len(meta.Extra), tt.meta.Now, st.Seq(), len(tt.meta.Extra))
			}
			got.RLock()
			st.RLock()
			if got.Seq() != st.Seq() || got.Len() != st.Len() || got.VolatileLen() != st.VolatileLen() {
				t.Errorf("restored Seq=%d Len=%d VolatileLen=%d, want %d %d %d",
					got.Seq(), got.Len(), got.VolatileLen(), st.Seq(), st.Len(), st.VolatileLen())
			}
			st.RUnlock()
			got.RUnlock()
			// Writing the restored store gives the same bytes' content again.
			again, meta2 := decode(t, encode(t, got, meta))
			sameContents(t, contents(again), want)
			if meta2.Now != meta.Now || meta2.Seq != meta.Seq || !bytes.Equal(meta2.Extra, meta.Extra) {
				t.Errorf("second round trip meta = %+v", meta2)
			}
		})
	}
}

func TestRoundTripLargeValues(t *testing.T) {
	st := shard.New()
	st.Lock()
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	st.Set([]byte("small-before"), []byte("a"), 0, 0)
	st.Set([]byte("big"), big, 0, 0)
	st.Set([]byte("64k-1"), bytes.Repeat([]byte("q"), 64<<10-1), 77, 0)
	st.Set([]byte("64k"), bytes.Repeat([]byte("r"), 64<<10), 0, 0)
	st.Set([]byte("64k+1"), bytes.Repeat([]byte("s"), 64<<10+1), 0, 0)
	for i := 0; i < 300; i++ { // ~300 KB of 1 KB values: several blocks
		st.Set([]byte(fmt.Sprintf("k%d", i)), bytes.Repeat([]byte{byte(i)}, 1000), 0, 0)
	}
	st.Unlock()
	want := contents(st)
	data := encode(t, st, Meta{Now: 42})
	if len(data) < 1<<20+3*64<<10 {
		t.Fatalf("snapshot is only %d bytes", len(data))
	}
	got, _ := decode(t, data)
	sameContents(t, contents(got), want)

	// A flipped byte in the middle of the big value is detected.
	i := bytes.Index(data, big[1000:1100])
	if i < 0 {
		t.Fatal("big value not found in the snapshot")
	}
	bad := bytes.Clone(data)
	bad[i+500] ^= 0x10
	if _, err := Read(bytes.NewReader(bad), shard.New()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped byte in a 1 MB value: err = %v, want ErrCorrupt", err)
	}
}

// checkRejected reads data and requires ErrCorrupt or ErrFormat, without a
// panic.
func checkRejected(t *testing.T, what string, data []byte) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s: Read panicked: %v", what, r)
		}
	}()
	_, err := Read(bytes.NewReader(data), shard.New())
	if err == nil {
		t.Fatalf("%s: Read succeeded", what)
	}
	if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) {
		t.Fatalf("%s: err = %v, want ErrCorrupt or ErrFormat", what, err)
	}
}

func TestCorruptionDetected(t *testing.T) {
	// Values with high bits set, so that a flipped length byte can run into
	// them as varint continuation bytes.
	st := shard.New()
	st.Lock()
	st.Set([]byte("a"), []byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"), 0, 0)
	st.Set([]byte("b"), []byte("plain"), 123456, 0)
	st.Set([]byte("\x80\x81"), bytes.Repeat([]byte{0x80}, 40), 0, 0)
	st.Unlock()
	valid := encode(t, st, Meta{Now: 1_700_000_000_000, Extra: []byte{0xff, 0xfe}})
	if _, err := Read(bytes.NewReader(valid), shard.New()); err != nil {
		t.Fatalf("valid snapshot: %v", err)
	}
	for i := range valid {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(valid)
			bad[i] ^= mask
			checkRejected(t, fmt.Sprintf("byte %d ^ %#x", i, mask), bad)
		}
	}
	for n := 0; n < len(valid); n++ {
		checkRejected(t, fmt.Sprintf("truncated to %d of %d bytes", n, len(valid)), valid[:n])
	}
}

func TestCorruptionDetectedEmptyStore(t *testing.T) {
	valid := encode(t, shard.New(), Meta{})
	for i := range valid {
		bad := bytes.Clone(valid)
		bad[i] ^= 0x41
		checkRejected(t, fmt.Sprintf("byte %d", i), bad)
	}
	for n := 0; n < len(valid); n++ {
		checkRejected(t, fmt.Sprintf("truncated to %d", n), valid[:n])
	}
}

func TestReadRejectsForeignInput(t *testing.T) {
	valid := encode(t, sample(3), Meta{})
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrFormat},
		{"wrong magic", append([]byte("REDIS0011"), valid[9:]...), ErrFormat},
		{"future version", append(append([]byte("SHOALSNP"), 0, version+1), valid[10:]...), ErrFormat},
		{"version 0", append(append([]byte("SHOALSNP"), 0, 0), valid[10:]...), ErrFormat},
		{"header only", valid[:10], ErrCorrupt},
		{"no header block", append([]byte("SHOALSNP\x00\x01"), 0, 0, 0, 0, 0, 0, 0, 0, 0), ErrCorrupt},
		{"block longer than the limit", append([]byte("SHOALSNP\x00\x01"), 0xff, 0xff, 0xff, 0xff, 0x0f), ErrCorrupt},
		{"overlong varint", append([]byte("SHOALSNP\x00\x01"), bytes.Repeat([]byte{0xff}, 12)...), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tt.data), shard.New())
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestReadBoundedAllocation feeds a block header that claims hundreds of
// megabytes followed by a few bytes: Read must fail without allocating
// anything close to the claimed size.
func TestReadBoundedAllocation(t *testing.T) {
	data := []byte("SHOALSNP\x00\x01")
	data = append(data, 0x80, 0x80, 0x80, 0x80, 0x02) // uvarint 512 MiB
	data = append(data, bytes.Repeat([]byte("x"), 100)...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Read(bytes.NewReader(data), shard.New())
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 8<<20 {
		t.Fatalf("Read allocated %d bytes for a 115-byte input", d)
	}
}

type failWriter struct{ left int }

var errDisk = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, errDisk
	}
	w.left -= len(p)
	return len(p), nil
}

func TestWriteReportsWriterErrors(t *testing.T) {
	st := sample(3000)
	st.Lock()
	v := st.Snapshot()
	st.Unlock()
	defer v.Release()
	var full bytes.Buffer
	if err := Write(&full, v, Meta{}); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{0, 5, 100, full.Len() / 2, full.Len() - 1} {
		if err := Write(&failWriter{left: limit}, v, Meta{}); !errors.Is(err, errDisk) {
			t.Errorf("writer failing after %d bytes: err = %v", limit, err)
		}
	}
}

// errReader fails with a non-EOF error after its data.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadPassesReaderErrors(t *testing.T) {
	valid := encode(t, sample(10), Meta{})
	ioErr := errors.New("read failed")
	for _, n := range []int{4, 10, 11, len(valid) / 2, len(valid) - 3} {
		_, err := Read(&errReader{data: valid[:n], err: ioErr}, shard.New())
		if !errors.Is(err, ioErr) && !errors.Is(err, ErrFormat) {
			t.Errorf("reader failing after %d bytes: err = %v", n, err)
		}
	}
	var _ io.Reader = (*errReader)(nil)
}

func TestOwnershipRoundTrip(t *testing.T) {
	some := &shard.SlotSet{}
	for _, s := range []int{0, 1, 63, 64, 5000, 16383} {
		some.Add(s)
	}
	tests := []struct {
		name  string
		epoch uint64
		slots *shard.SlotSet
	}{
		{"all slots", 0, nil},
		{"all slots at an epoch", 7, nil},
		{"no slots", 3, &shard.SlotSet{}},
		{"some slots", 1 << 50, some},
		{"full bitmap", 9, shard.AllSlots()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := sample(50)
			want := contents(st)
			got, meta := decode(t, encode(t, st, Meta{Now: 5, Extra: []byte("e"), Epoch: tt.epoch, Slots: tt.slots}))
			sameContents(t, contents(got), want)
			if meta.Epoch != tt.epoch || (meta.Slots == nil) != (tt.slots == nil) || (meta.Slots != nil && *meta.Slots != *tt.slots) {
				t.Fatalf("ownership = %d %v, want %d %v", meta.Epoch, meta.Slots, tt.epoch, tt.slots)
			}
			if meta.Now != 5 || string(meta.Extra) != "e" {
				t.Fatalf("meta = %+v", meta)
			}
		})
	}
	// Bad ownership fields are refused even under a valid checksum.
	for name, tail := range map[string][]byte{
		"missing kind":    {1},
		"unknown kind":    {1, 2},
		"short bitmap":    append([]byte{1, 1}, make([]byte, 2047)...),
		"trailing bytes":  {1, 0, 0},
		"missing epoch":   {},
		"overlong epoch":  bytes.Repeat([]byte{0xff}, 11),
		"bitmap and more": append([]byte{1, 1}, make([]byte, 2049)...),
	} {
		_, err := Read(bytes.NewReader(withHeader(append([]byte{0, 0, 0}, tail...))), shard.New())
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := Read(bytes.NewReader(withHeader([]byte{0, 0, 0, 1, 0})), shard.New()); err != nil {
		t.Errorf("hand-built valid header: %v", err)
	}
}

// withHeader returns a version 2 snapshot of no keys whose header block
// holds payload.
func withHeader(payload []byte) []byte {
	data := []byte("SHOALSNP\x00\x02")
	data = binary.AppendUvarint(data, uint64(len(payload)))
	data = append(data, payload...)
	data = binary.BigEndian.AppendUint64(data, xxhash.Sum64(payload))
	return append(data, 0, 0, 0, 0, 0, 0, 0, 0, 0)
}

// testdata/v1.snap was written by the version 1 writer (before slot
// ownership) from keys a=1, b=two (expiring at 5000000) and {tag}c=00ff,
// with Now 4242 and Extra "x".
func TestReadVersion1(t *testing.T) {
	st, meta := decodeTestdata(t, 1)
	sameContents(t, contents(st), oldSnapKeys)
	if meta.Now != 4242 || string(meta.Extra) != "x" || meta.Seq != 3 {
		t.Errorf("meta = %+v", meta)
	}
	// A version 1 snapshot predates ownership: every slot, epoch 0.
	if meta.Epoch != 0 || meta.Slots != nil {
		t.Errorf("ownership of a version 1 snapshot = %d %v, want 0 and every slot (nil)", meta.Epoch, meta.Slots)
	}
	// Writing it again gives version 2.
	again := encode(t, st, meta)
	if again[9] != version {
		t.Errorf("rewritten snapshot is version %d", again[9])
	}
	if _, meta2 := decode(t, again); meta2.Epoch != 0 || meta2.Slots != nil || meta2.Now != 4242 {
		t.Errorf("rewritten meta = %+v", meta2)
	}
}

func sampleJobs() Meta {
	return Meta{
		Now: 5, Epoch: 3, Slots: &shard.SlotSet{7},
		MigratingOut: []MigratingOut{
			{Job: "j1", Target: "g2", Slots: []shard.SlotRange{{Start: 0, End: 2}, {Start: 10, End: 16383}}, Epoch: 3, StartIndex: 40,
				Fenced: true, FenceIndex: 90, Dirty: map[string]uint64{"a": 41, "": 50, "bin\x00": 89}},
			{Job: "j3", Target: "g4", Slots: []shard.SlotRange{{Start: 5, End: 5}}, StartIndex: 7, Dirty: map[string]uint64{}},
		},
		Importing: []Importing{
			{Job: "j2", Source: "g0", Slots: []shard.SlotRange{{Start: 3, End: 4}}, MaxSourceTerm: 6, Watermark: 120, Keys: 9, Bytes: 300},
		},
		EndedJobs: []string{"j0", ""},
	}
}

// TestMigrationJobsRoundTrip: the jobs, dirty indexes included, survive a
// write and read, with the keys, also when the dirty records fill blocks.
func TestMigrationJobsRoundTrip(t *testing.T) {
	for _, many := range []int{0, 20000} {
		meta := sampleJobs()
		for i := 0; i < many; i++ {
			meta.MigratingOut[1].Dirty[fmt.Sprintf("dirty:%d", i)] = uint64(i)
		}
		st := sample(50)
		got, meta2 := decode(t, encode(t, st, meta))
		sameContents(t, contents(got), contents(st))
		meta.Seq = meta2.Seq
		if !reflect.DeepEqual(meta2, meta) {
			t.Fatalf("meta with %d extra dirty keys:\n got %+v\nwant %+v", many, meta2, meta)
		}
	}
}

// TestReadVersion2: a snapshot written before migrations (testdata/v2.snap,
// written by the version 2 code) reads with its ownership and no jobs.
func TestReadVersion2(t *testing.T) {
	data, err := os.ReadFile("testdata/v2.snap")
	if err != nil {
		t.Fatal(err)
	}
	st, meta := decode(t, data)
	var slots shard.SlotSet
	slots.AddRange(shard.SlotRange{Start: 0, End: 9000})
	if meta.Now != 1234 || meta.Epoch != 7 || meta.Slots == nil || *meta.Slots != slots || meta.MigratingOut != nil || meta.Importing != nil || meta.EndedJobs != nil {
		t.Fatalf("meta %+v", meta)
	}
	c := contents(st)
	if len(c) != 3 || c["a"].val != "1" || c["b"].exp != 5_000_000 || c["{tag}c"].val != "\x00\xff" {
		t.Fatalf("contents %+v", c)
	}
}

func TestReadRejectsBadJobs(t *testing.T) {
	valid := encode(t, shard.New(), sampleJobs())
	// Recompute the header block's checksum after changing it, so that
	// only the job fields are wrong.
	corruptHeader := func(change func(p []byte) []byte) []byte {
		n, k := binary.Uvarint(valid[10:])
		payload := change(bytes.Clone(valid[10+k : 10+k+int(n)]))
		out := binary.AppendUvarint(bytes.Clone(valid[:10]), uint64(len(payload)))
		out = append(out, payload...)
		out = binary.BigEndian.AppendUint64(out, xxhash.Sum64(payload))
		return append(out, valid[10+k+int(n)+8:]...)
	}
	if _, err := Read(bytes.NewReader(corruptHeader(func(p []byte) []byte { return p })), shard.New()); err != nil {
		t.Fatalf("unchanged header: %v", err)
	}
	for name, data := range map[string][]byte{
		"truncated jobs": corruptHeader(func(p []byte) []byte { return p[:len(p)-3] }),
		"trailing byte":  corruptHeader(func(p []byte) []byte { return append(p, 0) }),
	} {
		if _, err := Read(bytes.NewReader(data), shard.New()); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
	// A header that announces dirty records the stream does not hold.
	m := sampleJobs()
	m.MigratingOut = m.MigratingOut[:1]
	m.MigratingOut[0].Dirty = map[string]uint64{"x": 1}
	data := encode(t, shard.New(), m)
	// The dirty record is the only record of the second block: drop that
	// block (its length prefix, payload and checksum).
	n, k := binary.Uvarint(data[10:])
	second := 10 + k + int(n) + 8
	n2, k2 := binary.Uvarint(data[second:])
	cut := append(bytes.Clone(data[:second]), data[second+k2+int(n2)+8:]...)
	if _, err := Read(bytes.NewReader(cut), shard.New()); !errors.Is(err, ErrCorrupt) {
		t.Errorf("missing dirty records: err = %v, want ErrCorrupt", err)
	}
}
