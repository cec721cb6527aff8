package command_test

import (
	"testing"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/testutil"
)

// TestLookupCache checks that a LookupCache finds what Lookup finds, for
// every command's name in random case, names that differ from the last one
// only in length or one letter, and unknown names, in a random order.
func TestLookupCache(t *testing.T) {
	r := testutil.Rand(t)
	var names []string
	for _, c := range command.All() {
		n := c.Name
		names = append(names, n, n+"x", n[:len(n)-1], n[:len(n)-1]+"\x00", "x"+n[1:])
	}
	names = append(names, "", "gEt", "GET", "getex", "ge", "nosuchcommand",
		"a-name-of-more-than-thirty-two-bytes-long")
	randomCase := func(s string) []byte {
		b := []byte(s)
		for i, c := range b {
			if 'a' <= c && c <= 'z' && r.IntN(2) == 0 {
				b[i] = c - 'a' + 'A'
			}
		}
		return b
	}
	var lc command.LookupCache
	for i := 0; i < 20000; i++ {
		// Runs of one name, as pipelines send them, between random ones.
		name := randomCase(names[r.IntN(len(names))])
		for range 1 + r.IntN(3) {
			got, want := lc.Lookup(name), command.Lookup(name)
			if got != want {
				t.Fatalf("Lookup(%q) through the cache: %v, want %v", name, cmdName(got), cmdName(want))
			}
			name = randomCase(string(name))
		}
	}
}

func cmdName(c *command.Command) string {
	if c == nil {
		return "nil"
	}
	return c.Name
}

// BenchmarkLookup compares the table's lookup with a LookupCache's on a
// run of the same command.
func BenchmarkLookup(b *testing.B) {
	name := []byte("SET")
	b.Run("table", func(b *testing.B) {
		for b.Loop() {
			if command.Lookup(name) == nil {
				b.Fatal("no SET")
			}
		}
	})
	b.Run("cache", func(b *testing.B) {
		var lc command.LookupCache
		for b.Loop() {
			if lc.Lookup(name) == nil {
				b.Fatal("no SET")
			}
		}
	})
}
