package snapshot

import (
	"errors"
	"slices"
	"testing"
)

// TestTxWatchRoundTrip: the change index survives Extra, sparse or full;
// an Extra without sections has none; garbage is ErrCorrupt.
func TestTxWatchRoundTrip(t *testing.T) {
	b := make([]uint64, 1<<16)
	b[0], b[7], b[len(b)-1] = 5, 1<<40, 9
	for name, tw := range map[string]*TxWatch{
		"sparse": {From: 3, Global: 4, Buckets: b},
		"empty":  {From: 1, Buckets: make([]uint64, 16)},
		"full":   {From: 1, Global: 2, Buckets: []uint64{3, 4, 5, 6}},
	} {
		got, err := ReadTxWatch(AppendTxWatch(nil, tw))
		if err != nil || got.From != tw.From || got.Global != tw.Global || !slices.Equal(got.Buckets, tw.Buckets) {
			t.Errorf("%s: got %+v, %v", name, got, err)
		}
	}
	for _, extra := range [][]byte{nil, []byte("x"), []byte("opaque state")} {
		if got, err := ReadTxWatch(extra); got != nil || err != nil {
			t.Errorf("Extra %q: %v, %v; want no section", extra, got, err)
		}
	}
	valid := AppendTxWatch(nil, &TxWatch{From: 1, Buckets: b})
	for n := len(extraMagic) + 1; n < len(valid); n++ {
		if _, err := ReadTxWatch(valid[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	huge := []byte(extraMagic + "\x01\x06\x01\x00\xff\xff\xff\x7f")
	if _, err := ReadTxWatch(huge); !errors.Is(err, ErrCorrupt) {
		t.Errorf("bucket count too large: %v", err)
	}
	// Unknown sections are skipped.
	other := append([]byte(extraMagic), 9, 2, 'a', 'b')
	other = append(other, valid[len(extraMagic):]...)
	if got, err := ReadTxWatch(other); err != nil || got == nil || got.From != 1 {
		t.Errorf("after an unknown section: %+v, %v", got, err)
	}
}

// FuzzReadTxWatch reads arbitrary Extra bytes: no panic, errors are
// ErrCorrupt, and an accepted section re-encodes to the same index.
func FuzzReadTxWatch(f *testing.F) {
	f.Add(AppendTxWatch(nil, &TxWatch{From: 3, Global: 4, Buckets: []uint64{0, 5, 0, 9}}))
	f.Add([]byte(extraMagic))
	f.Add([]byte("x"))
	f.Fuzz(func(t *testing.T, extra []byte) {
		tw, err := ReadTxWatch(extra)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if tw == nil {
			return
		}
		again, err := ReadTxWatch(AppendTxWatch(nil, tw))
		if err != nil || again.From != tw.From || again.Global != tw.Global || !slices.Equal(again.Buckets, tw.Buckets) {
			t.Fatalf("round trip: %+v, %v", again, err)
		}
	})
}
