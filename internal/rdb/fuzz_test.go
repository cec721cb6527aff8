package rdb

import (
	"encoding/hex"
	"encoding/json"
	"github.com/shoalcache/shoal/shard"
	"os"
	"testing"
)

// FuzzDecodePayload feeds Restore arbitrary payloads: it must never panic,
// and what it accepts must encode again to a payload that decodes to the
// same value. The seeds are redis-server 7.0.15's DUMP outputs
// (testdata/golden.json) and a few hand-made containers. mode says what p
// is: 0 a whole payload; 1 an object whose footer is recomputed (else
// nearly every mutation would stop at the CRC check); 2 a bare container
// (listpack, ziplist, intset, LZF stream), which the fuzzer then mutates
// directly rather than through LZF compression.
func FuzzDecodePayload(f *testing.F) {
	b, err := os.ReadFile(goldenFile)
	if err != nil {
		f.Fatal(err)
	}
	var es []goldenEntry
	if err := json.Unmarshal(b, &es); err != nil {
		f.Fatal(err)
	}
	for _, e := range es {
		p, _ := hex.DecodeString(e.Payload)
		if len(p) > 4096 {
			continue
		}
		f.Add(p, uint8(0))
		f.Add(p[:len(p)-10], uint8(1))
	}
	lp := newListpack(nil)
	for _, s := range []string{"a", "127", "-4096", "30000", "-8000000", "2000000000", "-9000000000000", rep("x", 70), rep("y", 5000)} {
		lp.appendString([]byte(s))
	}
	f.Add(lp.finish(0), uint8(2))
	f.Add(zlBuild("a", "5", "-300", "70000", "5000000000", "12", rep("q", 300)), uint8(2))
	f.Add([]byte{2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 2, 0}, uint8(2))
	f.Add([]byte("\x02\x01f\x01\x01vx\x03big\xfe\x2c\x01\x00\x00\x00"+rep("h", 300)+"\xff"), uint8(2))
	f.Add(rawStr([]byte{typeHashListpack}, lp.finish(0)), uint8(1))
	f.Add(rawStr([]byte{typeHashZiplist}, zlBuild("f", "1", "g", "two")), uint8(1))
	// Redis 7.4's hashes with field times, as Shoal dumps them.
	for _, big := range []bool{false, true} {
		h := shard.NewHash()
		h.Set([]byte("a"), []byte("1"))
		h.Set([]byte("b"), []byte(rep("v", 70*btoi(big))))
		h.Set([]byte("c"), []byte("3"))
		h.SetFieldTTL([]byte("a"), 4102444800000)
		h.SetFieldTTL([]byte("c"), 4102444700000)
		p := DumpObject(h)
		f.Add(p, uint8(0))
		f.Add(p[:len(p)-10], uint8(1))
	}
	f.Fuzz(func(t *testing.T, p []byte, mode uint8) {
		switch mode % 3 {
		case 1:
			p = payload(p)
		case 2:
			lpRange(p, func(lpEntry) bool { return true })
			zlRange(p, func(lpEntry) bool { return true })
			intsetRange(p, func(int64) {})
			zipmapRange(p, func(_, _ []byte) {})
			lzfDecompress(p, make([]byte, len(p)*4))
			return
		}
		str, obj, err := Restore(p)
		if err != nil {
			return
		}
		var q []byte
		if obj == nil {
			q = DumpString(str)
		} else {
			if obj.Len() == 0 {
				t.Fatal("empty collection accepted")
			}
			q = DumpObject(obj)
		}
		s2, o2, err := Restore(q)
		if err != nil {
			t.Fatalf("re-encoded payload refused: %v", err)
		}
		if got, want := describe(s2, o2), describe(str, obj); got != want {
			t.Fatalf("re-encoded value differs:\n got %.300s\nwant %.300s", got, want)
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
