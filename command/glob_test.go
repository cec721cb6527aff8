package command

import (
	"bytes"
	"strings"
	"testing"
)

// TestGlobMatch checks globMatch against results taken from Redis 7.0's KEYS
// (each case was run as SET str + KEYS pattern on redis-server 7.0.15).
func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pattern, str string
		want         bool
	}{
		{"", "", true},
		{"", "a", false},
		{"a", "", false},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"ab", "abc", false},
		{"A", "a", false},
		{"**", "", false},
		{"*", "abc", true},
		{"a*", "a", true},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"*c", "ab", false},
		{"a*c", "ac", true},
		{"a*c", "abbbc", true},
		{"a*c", "abcd", false},
		{"*b*", "abc", true},
		{"*b*", "ac", false},
		{"a**", "a", true},
		{"***?", "x", true},
		{"***?", "", false},
		{"*a*b*c*", "xaybzc", true},
		{"*a*b*c*", "xcybza", false},
		{"a*b", "a", false},
		{"*?", "", false},
		{"?*", "a", true},
		{"?", "a", true},
		{"?", "", false},
		{"?", "ab", false},
		{"??", "ab", true},
		{"a?c", "abc", true},
		{"h??", "h\xc3\xa9", true},
		{"h?", "h\xc3\xa9", false},
		{"[abc]", "b", true},
		{"[abc]", "d", false},
		{"[a-c]", "b", true},
		{"[c-a]", "b", true},
		{"[b-a]", "a", true},
		{"[a-b]", "c", false},
		{"[^a]", "b", true},
		{"[^a]", "a", false},
		{"[!a]", "!", true},
		{"[!a]", "b", false},
		{"[^]", "x", true},
		{"[^]", "", false},
		{"[]", "]", false},
		{"[]]", "]", false},
		{"[[]x]", "[x]", true},
		{"[a", "a", true},
		{"[a", "b", false},
		{"[ab", "b", true},
		{"[", "[", false},
		{"[", "", false},
		{"[^", "x", true},
		{"a[", "a[", false},
		{"a[", "a", false},
		{"[a-]", "a", true},
		{"[a-]", "-", false},
		{"[a-]", "^", true},
		{"[a-]*", "a", true},
		{"[a-]*", "*", true},
		{"[-]", "-", true},
		{"[-a]", "-", true},
		{"[a-z]", "-", false},
		{"[\\]]", "]", true},
		{"[\\-]", "-", true},
		{"[\\", "\\", true},
		{"[a\\", "\\", true},
		{"[a-\\]", "[", false},
		{"[\x00-a]", "\xc3", false},
		{"[a-\xc3]", "\xc3", true},
		{"[a-\xc3]", "\xff", true},
		{"[a-\xc3]", "b", false},
		{"[a-\xc3]", "\x80", false},
		{"[\x80-\xff]", "\x90", true},
		{"[\x80-\xff]", "a", false},
		{"[A-Z]", "a", false},
		{"k[12]", "k1", true},
		{"k[^1]*", "k1x", false},
		{"k[^1]*", "kx1", true},
		{"\\*", "*", true},
		{"\\*", "a", false},
		{"a\\?", "a?", true},
		{"a\\?", "ab", false},
		{"\\[x\\]", "[x]", true},
		{"a\\\\b", "a\\b", true},
		{"a\\b", "ab", true},
		{"a\\b", "a\\b", false},
		{"\\", "\\", true},
		{"a\\", "a\\", true},
		{"a\\", "a", false},
		{"\\a", "a", true},
		{"\x00", "\x00", true},
		{"a\x00*", "a\x00b", true},
		{"?", "\x00", true},
		{"*\x00", "ab\x00", true},
	}
	for _, c := range cases {
		if got := globMatch([]byte(c.pattern), c.str); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", c.pattern, c.str, got, c.want)
		}
	}
}

// TestGlobStarOnEmpty pins a Redis quirk KEYS and SCAN work around: the
// pattern "*" (and any all-star pattern) does not match the empty string.
func TestGlobStarOnEmpty(t *testing.T) {
	for _, p := range []string{"*", "**", "***"} {
		if globMatch([]byte(p), "") {
			t.Errorf("globMatch(%q, \"\") = true, want false", p)
		}
		if !globMatch([]byte(p), "x") {
			t.Errorf("globMatch(%q, \"x\") = false, want true", p)
		}
	}
}

// TestGlobNesting checks the limit on nested stars (verified against Redis:
// 1000 separated stars still match, 1001 match nothing) and that patterns
// which backtrack exponentially in a naive matcher finish quickly.
func TestGlobNesting(t *testing.T) {
	str := strings.Repeat("a", 1002)
	tests := []struct {
		stars int
		want  bool
	}{
		{1, true}, {999, true}, {1000, true}, {1001, false}, {1002, false},
	}
	for _, tt := range tests {
		p := []byte(strings.Repeat("*a", tt.stars))
		if got := globMatch(p, str); got != tt.want {
			t.Errorf("%d stars: got %v, want %v", tt.stars, got, tt.want)
		}
	}
	p := []byte(strings.Repeat("*a", 30) + "b")
	if globMatch(p, strings.Repeat("a", 200)) {
		t.Error("backtracking pattern matched")
	}
}

// escapeGlob returns a pattern that matches exactly s: every byte escaped.
func escapeGlob(s []byte) []byte {
	p := make([]byte, 0, 2*len(s))
	for _, c := range s {
		p = append(p, '\\', c)
	}
	return p
}

// FuzzGlob checks that globMatch never panics and agrees with itself on
// identities that hold for every input.
func FuzzGlob(f *testing.F) {
	seeds := []struct{ p, s string }{
		{"", ""}, {"*", "abc"}, {"a?c", "abc"}, {"[a-c]*", "b"}, {"[^", "x"},
		{"[\\", "\\"}, {"a\\", "a\\"}, {"*a*b*c", "aabbcc"}, {"[b-a]", "a"},
		{"h[\x80-\xff]*", "h\xc3\xa9"}, {"\\[x\\]", "[x]"}, {"[a-]*", "*"},
	}
	for _, s := range seeds {
		f.Add([]byte(s.p), []byte(s.s))
	}
	f.Fuzz(func(t *testing.T, pattern, str []byte) {
		if len(pattern) > 64 {
			pattern = pattern[:64]
		}
		got := globMatch(pattern, string(str))
		if got != globMatch(pattern, string(str)) {
			t.Fatal("globMatch is not deterministic")
		}
		// Without special bytes a pattern is a literal.
		if !bytes.ContainsAny(pattern, "*?[\\") && got != bytes.Equal(pattern, str) {
			t.Fatalf("literal %q vs %q: got %v", pattern, str, got)
		}
		// Escaping every byte makes any string a literal pattern.
		esc := escapeGlob(str)
		if !globMatch(esc, string(str)) {
			t.Fatalf("escaped %q does not match itself", str)
		}
		if globMatch(esc, string(pattern)) != bytes.Equal(pattern, str) {
			t.Fatalf("escaped %q vs %q disagrees with equality", str, pattern)
		}
		// '?' per byte matches exactly the strings of that length.
		q := bytes.Repeat([]byte{'?'}, len(str))
		if !globMatch(q, string(str)) || globMatch(q, string(append(str, 'x'))) {
			t.Fatalf("%q vs %q: '?' must match exactly one byte each", q, str)
		}
		if len(str) > 0 {
			// A lone star matches any non-empty string, and a star
			// before or after a literal allows any affix.
			if !globMatch([]byte("*"), string(str)) {
				t.Fatalf("* does not match %q", str)
			}
			if !globMatch(append([]byte("*"), esc...), "zz"+string(str)) ||
				!globMatch(append(append([]byte{}, esc...), '*'), string(str)+"zz") {
				t.Fatalf("star affix of %q does not match", str)
			}
		}
		// Negating a one-byte class inverts it.
		if len(str) == 1 && len(pattern) > 0 && !bytes.ContainsAny(pattern, "]\\^") {
			cls := append(append([]byte{'['}, pattern...), ']')
			neg := append(append([]byte{'[', '^'}, pattern...), ']')
			if globMatch(cls, string(str)) == globMatch(neg, string(str)) {
				t.Fatalf("%q and %q agree on %q", cls, neg, str)
			}
		}
	})
}
