package rdb

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// FuzzDecodePayload feeds Restore arbitrary payloads: it must never panic,
// and what it accepts must encode again to a payload that decodes to the
// same value. The seeds are redis-server 7.0.15's DUMP outputs
// (testdata/golden.json); the fuzzer mostly mutates their objects, so the
// footer is recomputed for half of the inputs (else nearly every mutation
// would stop at the CRC check).
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
		f.Add(p, false)
		f.Add(p[:len(p)-10], true)
	}
	f.Fuzz(func(t *testing.T, p []byte, refooter bool) {
		if refooter {
			p = payload(p)
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
