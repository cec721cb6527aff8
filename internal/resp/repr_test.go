package resp

import "testing"

// TestAppendRepr: the escapes of Redis's sdscatrepr (checked against
// MONITOR and CONFIG REWRITE output of redis-server elsewhere).
func TestAppendRepr(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{"a b", `"a b"`},
		{`q"\`, `"q\"\\"`},
		{"\n\r\t\a\b", `"\n\r\t\a\b"`},
		{"\x00\x7f\xff", `"\x00\x7f\xff"`},
	} {
		if got := string(AppendRepr(nil, c.in)); got != c.want {
			t.Errorf("AppendRepr(%q) = %s, want %s", c.in, got, c.want)
		}
		if got := string(AppendRepr([]byte("x"), []byte(c.in))); got != "x"+c.want {
			t.Errorf("AppendRepr(x, %q) = %s", c.in, got)
		}
	}
}
