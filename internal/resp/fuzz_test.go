package resp

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDowngrade feeds arbitrary bytes to Downgrade: it must not panic, must
// fail only with ErrMalformed, and what it produces must be RESP2 that
// Downgrade accepts again unchanged.
func FuzzDowngrade(f *testing.F) {
	for _, s := range []string{
		"+OK\r\n", "_\r\n", "%1\r\n+a\r\n~2\r\n,1.5\r\n#t\r\n",
		"=15\r\ntxt:Some string\r\n", "(123\r\n", "!3\r\nERR\r\n",
		"|1\r\n+a\r\n:1\r\n*1\r\n$1\r\nx\r\n", ">2\r\n+a\r\n:1\r\n",
		"*-1\r\n", "$-1\r\n", "*3\r\n:1\r\n:2\r\n", "!6\r\nERR\r\nx\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Downgrade(nil, data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(out) > 0 && !bytes.ContainsRune([]byte("+-:$*"), rune(out[0])) {
			t.Fatalf("output %q starts with a non-RESP2 type", out)
		}
		again, err := Downgrade(nil, out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("Downgrade is not idempotent on %q: %q, %v", out, again, err)
		}
	})
}
