package testutil

import (
	"strings"
	"testing"
)

func TestSeed(t *testing.T) {
	t.Setenv("SHOAL_SEED", "42")
	if got := Seed(t); got != 42 {
		t.Fatalf("Seed with SHOAL_SEED=42: %d", got)
	}
	t.Setenv("SHOAL_SEED", "x")
	f := &fatalTB{TB: t}
	Seed(f)
	if !strings.Contains(f.msg, `bad SHOAL_SEED "x"`) {
		t.Fatalf("bad SHOAL_SEED: %q", f.msg)
	}
}
