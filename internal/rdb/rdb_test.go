package rdb

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

// payload wraps an object's bytes (type byte first) in a DUMP footer.
func payload(obj []byte) []byte { return finish(append([]byte{}, obj...)) }

// zlBuild builds a ziplist of elements (integers when canonical, as
// ziplist.c's zipTryEncoding), for the pre-7.0 types no 7.0 server emits.
func zlBuild(elems ...string) []byte {
	b := make([]byte, 10)
	prev, last := 0, 10
	for _, e := range elems {
		start := len(b)
		if prev < 254 {
			b = append(b, byte(prev))
		} else {
			b = append(b, 254)
			b = binary.LittleEndian.AppendUint32(b, uint32(prev))
		}
		if v, ok := parseCanonical([]byte(e)); ok {
			switch {
			case v >= 0 && v <= 12:
				b = append(b, 0xF1+byte(v))
			case v >= math.MinInt8 && v <= math.MaxInt8:
				b = append(b, 0xFE, byte(v))
			case v >= math.MinInt16 && v <= math.MaxInt16:
				b = append(b, 0xC0, byte(v), byte(v>>8))
			case v >= -1<<23 && v < 1<<23:
				b = append(b, 0xF0, byte(v), byte(v>>8), byte(v>>16))
			case v >= math.MinInt32 && v <= math.MaxInt32:
				b = append(b, 0xD0)
				b = binary.LittleEndian.AppendUint32(b, uint32(v))
			default:
				b = append(b, 0xE0)
				b = binary.LittleEndian.AppendUint64(b, uint64(v))
			}
		} else {
			switch n := len(e); {
			case n < 64:
				b = append(b, byte(n))
			case n < 16384:
				b = append(b, 0x40|byte(n>>8), byte(n))
			default:
				b = append(b, 0x80)
				b = binary.BigEndian.AppendUint32(b, uint32(n))
			}
			b = append(b, e...)
		}
		prev, last = len(b)-start, start
	}
	b = append(b, 0xFF)
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	if len(elems) == 0 {
		last = 10
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(last))
	binary.LittleEndian.PutUint16(b[8:], uint16(len(elems)))
	return b
}

func rawStr(b []byte, s []byte) []byte { return append(appendLen(b, uint64(len(s))), s...) }

// TestLegacyTypes decodes the types Redis 7.0 still restores but no
// longer writes: LIST, ZSET (text scores), LIST_QUICKLIST and
// LIST_ZIPLIST (ziplist nodes), HASH_ZIPLIST, ZSET_ZIPLIST, HASH_ZIPMAP
// and a QUICKLIST_2 plain node.
func TestLegacyTypes(t *testing.T) {
	lst := func(vs ...string) string {
		l := shard.NewList()
		for _, v := range vs {
			l.PushBack([]byte(v))
		}
		return describe(nil, l)
	}
	cases := []struct {
		name string
		obj  []byte
		want string
	}{
		{"list-linked", rawStr(rawStr(appendLen([]byte{typeList}, 2), []byte("a")), []byte("bb")), lst("a", "bb")},
		{"list-ziplist", rawStr([]byte{typeListZiplist}, zlBuild("x", "5", "-300", "70000", "5000000000", "12", rep("q", 300))),
			lst("x", "5", "-300", "70000", "5000000000", "12", rep("q", 300))},
		{"list-quicklist-ziplist", rawStr(rawStr(appendLen([]byte{typeListQuicklist}, 3), zlBuild("a", "b")), zlBuild("c")),
			""}, // 3 nodes announced, 2 present: bad
		{"list-quicklist-ziplist-ok", rawStr(rawStr(rawStr(appendLen([]byte{typeListQuicklist}, 3), zlBuild("a", "b")), zlBuild()), zlBuild("c")),
			lst("a", "b", "c")},
		{"list-quicklist2-plain", rawStr(appendLen(rawStr(appendLen(appendLen([]byte{typeListQuick2}, 2), containerPlain), []byte("big")), containerPacked),
			func() []byte { lp := newListpack(nil); lp.appendString([]byte("z")); return lp.finish(0) }()),
			lst("big", "z")},
		{"hash-ziplist", rawStr([]byte{typeHashZiplist}, zlBuild("f", "1", "g", "two")),
			func() string {
				h := shard.NewHash()
				h.Set([]byte("f"), []byte("1"))
				h.Set([]byte("g"), []byte("two"))
				return describe(nil, h)
			}()},
		{"zset-ziplist", rawStr([]byte{typeZSetZiplist}, zlBuild("a", "1", "b", "2.5")),
			func() string {
				z := shard.NewZSet(0, 0)
				z.Set([]byte("a"), 1)
				z.Set([]byte("b"), 2.5)
				return describe(nil, z)
			}()},
		{"zset-text-scores", append(append(append(rawStr(appendLen([]byte{typeZSet}, 3), []byte("a")), 3, '1', '.', '5'),
			append(rawStr(nil, []byte("b")), 254)...), append(rawStr(nil, []byte("c")), 255)...),
			func() string {
				z := shard.NewZSet(0, 0)
				z.Set([]byte("a"), 1.5)
				z.Set([]byte("b"), math.Inf(1))
				z.Set([]byte("c"), math.Inf(-1))
				return describe(nil, z)
			}()},
		{"zset-nan", append(rawStr(appendLen([]byte{typeZSet}, 1), []byte("a")), 253), ""},
		{"hash-dup", rawStr([]byte{typeHashZiplist}, zlBuild("f", "1", "f", "2")), ""},
		{"hash-odd", rawStr([]byte{typeHashZiplist}, zlBuild("f", "1", "g")), ""},
		{"list-empty", appendLen([]byte{typeList}, 0), ""},
		{"list-quicklist-empty-nodes", rawStr(appendLen([]byte{typeListQuicklist}, 1), zlBuild()), ""},
		{"set-dup", rawStr(rawStr(appendLen([]byte{typeSet}, 2), []byte("a")), []byte("a")), ""},
		{"zipmap-empty", rawStr([]byte{typeHashZipmap}, []byte{0, 0xFF}), ""},
		{"zipmap", rawStr([]byte{typeHashZipmap}, []byte("\x02\x01f\x01\x01vx\x03big\xfe\x2c\x01\x00\x00\x00"+rep("h", 300)+"\xff")),
			func() string {
				h := shard.NewHash()
				h.Set([]byte("f"), []byte("v"))
				h.Set([]byte("big"), []byte(rep("h", 300)))
				return describe(nil, h)
			}()},
		{"zipmap-long-form", rawStr([]byte{typeHashZipmap}, []byte("\x01\x03big\xfe\x05\x00\x00\x00\x00hello\xff")), ""},
		{"zipmap-bad-count", rawStr([]byte{typeHashZipmap}, []byte("\x03\x01f\x01\x00v\xff")), ""},
		{"zipmap-dup", rawStr([]byte{typeHashZipmap}, []byte("\x02\x01f\x01\x00v\x01f\x01\x00w\xff")), ""},
		{"zipmap-overrun", rawStr([]byte{typeHashZipmap}, []byte("\x01\x01f\x09\x00v\xff")), ""},
		{"stream", append([]byte{15}, 0), ""},
		{"set-listpack-7.2", rawStr([]byte{20}, func() []byte { lp := newListpack(nil); lp.appendString([]byte("a")); return lp.finish(0) }()), ""},
		{"unknown-type", []byte{99}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			str, obj, err := Restore(payload(c.obj))
			if c.want == "" {
				if !errors.Is(err, ErrBadData) {
					t.Fatalf("Restore = %v, %v, want ErrBadData", describe(str, obj), err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if got := describe(str, obj); got != c.want {
				t.Fatalf("got %s\nwant %s", got, c.want)
			}
		})
	}
}

// TestFooter: versions up to 10 are accepted, above refused; a wrong CRC
// or a payload shorter than its footer is refused.
func TestFooter(t *testing.T) {
	p := DumpString([]byte("v"))
	if _, _, err := Restore(p); err != nil {
		t.Fatal(err)
	}
	for _, ver := range []uint16{0, 9, 10, 11, 12, 0xFFFF} {
		q := append([]byte{}, p[:len(p)-10]...)
		q = binary.LittleEndian.AppendUint16(q, ver)
		q = binary.LittleEndian.AppendUint64(q, CRC64(0, q))
		_, _, err := Restore(q)
		if ver <= Version && err != nil || ver > Version && !errors.Is(err, ErrVersionOrChecksum) {
			t.Errorf("version %d: %v", ver, err)
		}
	}
	bad := append([]byte{}, p...)
	bad[len(bad)-1] ^= 1
	if _, _, err := Restore(bad); !errors.Is(err, ErrVersionOrChecksum) {
		t.Errorf("bad CRC: %v", err)
	}
	bad = append([]byte{}, p...)
	bad[1] ^= 0x40 // the data, not the footer
	if _, _, err := Restore(bad); !errors.Is(err, ErrVersionOrChecksum) {
		t.Errorf("changed data: %v", err)
	}
	for n := 0; n < 10; n++ {
		if _, _, err := Restore(make([]byte, n)); !errors.Is(err, ErrVersionOrChecksum) {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
	// A valid footer around nothing, or a truncated object.
	if _, _, err := Restore(payload(nil)); !errors.Is(err, ErrBadData) {
		t.Errorf("empty object: %v", err)
	}
	if _, _, err := Restore(payload([]byte{typeString, 0x80, 0xFF, 0xFF, 0xFF, 0xFF})); !errors.Is(err, ErrBadData) {
		t.Errorf("huge string length: %v", err)
	}
	if _, _, err := Restore(payload([]byte{typeString, 0xC3, 0x01, 0x80, 0xFF, 0xFF, 0xFF, 0xFF, 0x00})); !errors.Is(err, ErrBadData) {
		t.Errorf("LZF bomb: %v", err)
	}
}

// TestRoundTrip encodes and decodes random values of every type and
// encoding: big hashes, sets and sorted sets (hashtable, skiplist), lists
// of many nodes, binary strings, ±0 and ±inf scores.
func TestRoundTrip(t *testing.T) {
	seed := testutil.Seed(t)
	rng := rand.New(rand.NewPCG(seed, seed))
	str := func() []byte {
		switch rng.IntN(6) {
		case 0:
			return []byte(strconv.FormatInt(rng.Int64N(1<<40)-1<<39, 10))
		case 1:
			return bytes.Repeat([]byte{byte(rng.IntN(256))}, rng.IntN(300))
		case 2:
			b := make([]byte, rng.IntN(100))
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			return b
		case 3:
			return []byte(strconv.Itoa(rng.IntN(200)))
		}
		return []byte("s" + strconv.Itoa(rng.IntN(100000)))
	}
	scores := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), 1.5, -2, 1e300, 4611686018427387904, 0.1}
	for iter := 0; iter < 60; iter++ {
		n := 1 + rng.IntN(3)*rng.IntN(400)
		var objs []shard.Object
		h := shard.NewHash()
		l := shard.NewList()
		z := shard.NewZSet(0, 0)
		s := shard.NewSet([]byte("1"))
		for i := 0; i < n; i++ {
			h.Set(str(), str())
			l.PushBack(str())
			if rng.IntN(2) == 0 {
				l.PushFront(str())
			}
			sc := scores[rng.IntN(len(scores))]
			if rng.IntN(2) == 0 {
				sc = rng.NormFloat64() * 1000
			}
			z.Set(str(), sc)
			if iter%2 == 0 {
				s.Add([]byte(strconv.FormatInt(rng.Int64()-rng.Int64(), 10)))
			} else {
				s.Add(str())
			}
		}
		// Field times (Redis 7.4's HASH_LISTPACK_EX / HASH_METADATA): on a
		// copy, some fields timed, or none on a listpackex.
		ht := shard.CloneObject(h).(*shard.Hash)
		ht.EnableFieldTTLs()
		if iter%3 != 0 {
			ht.Range(func(f, _ []byte) bool {
				if rng.IntN(3) == 0 {
					ht.SetFieldTTL(append([]byte(nil), f...), 1+rng.Int64N(1<<47))
				}
				return true
			})
		}
		objs = append(objs, h, l, z, s, ht)
		for _, o := range objs {
			p := DumpObject(o)
			s2, o2, err := Restore(p)
			if err != nil {
				t.Fatalf("iter %d %T len %d: %v", iter, o, o.Len(), err)
			}
			if got, want := describe(s2, o2), describe(nil, o); got != want {
				t.Fatalf("iter %d %T: round trip differs:\n got %.500s\nwant %.500s", iter, o, got, want)
			}
		}
		v := str()
		if s2, _, err := Restore(DumpString(v)); err != nil || !bytes.Equal(s2, v) {
			t.Fatalf("string %q: %q %v", v, s2, err)
		}
	}
}

// TestLZF compresses and decompresses data of several kinds, and checks
// the decompressor refuses truncated and out-of-range streams.
func TestLZF(t *testing.T) {
	seed := testutil.Seed(t)
	rng := rand.New(rand.NewPCG(seed, seed))
	for i := 0; i < 300; i++ {
		n := 3 + rng.IntN(20000)
		in := make([]byte, n)
		alpha := 1 + rng.IntN(256)
		for j := range in {
			if j > 10 && rng.IntN(4) == 0 {
				in[j] = in[j-1-rng.IntN(min(j-1, 9000))]
			} else {
				in[j] = byte(rng.IntN(alpha))
			}
		}
		out := make([]byte, n+n/16+64)
		c := lzfCompress(in, out)
		if c == 0 {
			t.Fatalf("no room to compress %d bytes", n)
		}
		got := make([]byte, n)
		if !lzfDecompress(out[:c], got) || !bytes.Equal(got, in) {
			t.Fatalf("round trip of %d bytes (alphabet %d) differs", n, alpha)
		}
		if lzfDecompress(out[:c-1], got) && c > 1 {
			// A truncated stream may still be valid only if it decodes to
			// exactly n bytes, which it cannot with a byte less.
			t.Fatalf("truncated stream accepted")
		}
	}
	if lzfDecompress([]byte{0x20, 0x00}, make([]byte, 3)) {
		t.Fatal("back reference before the start accepted")
	}
}

// TestGoldenHex guards a known Redis payload with an LZF string, so a
// change in the compressor shows here first (redis-server 7.0.15, SET k
// "aaaaaaaaaaaaaaaaaaaaa": 21 bytes).
func TestGoldenHex(t *testing.T) {
	g := loadGolden(t)["str-21-a"]
	want, _ := hex.DecodeString(g.Payload)
	if got := DumpString([]byte(rep("a", 21))); !bytes.Equal(got, want) {
		t.Fatalf("got %x want %x", got, want)
	}
}
