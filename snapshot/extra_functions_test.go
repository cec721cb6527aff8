package snapshot

import (
	"errors"
	"fmt"
	"testing"
)

func TestExtraFunctions(t *testing.T) {
	codes := [][]byte{[]byte("#!lua name=a\nx"), {}, []byte("#!lua name=b\ny")}
	extra := AppendScripts(nil, [][]byte{[]byte("return 1")})
	extra = AppendFunctions(extra, codes)
	got, err := ReadFunctions(extra)
	if err != nil || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", codes) {
		t.Fatalf("ReadFunctions = %q, %v", got, err)
	}
	if s, err := ReadScripts(extra); err != nil || len(s) != 1 {
		t.Fatalf("ReadScripts beside functions = %q, %v", s, err)
	}
	if got, err := ReadFunctions(AppendScripts(nil, [][]byte{[]byte("x")})); err != nil || got != nil {
		t.Fatalf("no Functions section: %q, %v", got, err)
	}
	if AppendFunctions(nil, nil) != nil {
		t.Fatal("no libraries: a section anyway")
	}
	bad := AppendFunctions(nil, codes)
	for n := len(bad) - 1; n > len(extraMagic); n-- {
		if _, err := ReadFunctions(bad[:n]); err == nil {
			t.Fatalf("truncated to %d: no error", n)
		} else if !errors.Is(err, ErrCorrupt) {
			t.Logf("truncated to %d: %v", n, err)
		}
	}
}
