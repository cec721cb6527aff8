package server

import (
	"fmt"
	"testing"
)

// TestPrefetchWindow: a window covers prefetchRun commands from its start
// (fewer at the batch's end) and takes argument 1 of those that have one.
func TestPrefetchWindow(t *testing.T) {
	var batch [][][]byte
	for i := range 40 {
		if i%5 == 4 {
			batch = append(batch, [][]byte{[]byte("PING")})
			continue
		}
		batch = append(batch, [][]byte{[]byte("GET"), []byte(fmt.Sprintf("k%d", i))})
	}
	for _, tc := range []struct{ from, end, keys int }{
		{0, 16, 13},  // 4, 9 and 14 are PINGs
		{16, 32, 13}, // 19, 24, 29
		{32, 40, 6},  // 34 and 39; 40 is the batch's end
		{39, 40, 0},
	} {
		keys, end := prefetchWindow(batch, tc.from, nil)
		if end != tc.end || len(keys) != tc.keys {
			t.Fatalf("window from %d: end %d with %d keys, want %d with %d", tc.from, end, len(keys), tc.end, tc.keys)
		}
		if tc.keys > 0 && string(keys[0]) != fmt.Sprintf("k%d", tc.from) {
			t.Fatalf("window from %d starts with %q", tc.from, keys[0])
		}
	}
}
