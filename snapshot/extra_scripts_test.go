package snapshot

import (
	"bytes"
	"errors"
	"testing"
)

// TestScriptsSection: scripts round trip beside a TxWatch section, in
// either order; no section reads as nil; malformed ones are corrupt.
func TestScriptsSection(t *testing.T) {
	bodies := [][]byte{[]byte("return 1"), []byte(""), []byte("return redis.call('GET', KEYS[1])")}
	tw := &TxWatch{From: 3, Global: 7, Buckets: []uint64{0, 5, 0, 9}}
	for name, extra := range map[string][]byte{
		"scripts first": AppendTxWatch(AppendScripts(nil, bodies), tw),
		"scripts last":  AppendScripts(AppendTxWatch(nil, tw), bodies),
	} {
		got, err := ReadScripts(extra)
		if err != nil || len(got) != len(bodies) {
			t.Fatalf("%s: %d scripts, %v", name, len(got), err)
		}
		for i := range bodies {
			if !bytes.Equal(got[i], bodies[i]) {
				t.Fatalf("%s: script %d = %q", name, i, got[i])
			}
		}
		if w, err := ReadTxWatch(extra); err != nil || w == nil || w.Global != 7 {
			t.Fatalf("%s: TxWatch %+v, %v", name, w, err)
		}
	}
	if got, err := ReadScripts(nil); got != nil || err != nil {
		t.Fatalf("no Extra: %v, %v", got, err)
	}
	if got := AppendScripts(nil, nil); got != nil {
		t.Fatalf("no scripts appended %q", got)
	}
	good := AppendScripts(nil, bodies)
	for i := len(extraMagic) + 1; i < len(good); i++ {
		bad := append([]byte(nil), good[:i]...)
		if _, err := ReadScripts(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated at %d: %v, want ErrCorrupt", i, err)
		}
	}
}
