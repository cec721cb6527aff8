package command

import (
	"math"
	"strings"
	"testing"
)

func TestParseInt(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1", 1, true},
		{"-1", -1, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"-9223372036854775808", math.MinInt64, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"18446744073709551615", 0, false},
		{"18446744073709551616", 0, false},
		{"99999999999999999999", 0, false},
		{"000000000000000000001", 0, false},
		{"", 0, false},
		{"-", 0, false},
		{"-0", 0, false},
		{"00", 0, false},
		{"01", 0, false},
		{"+1", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1.0", 0, false},
		{"1e3", 0, false},
		{"0x10", 0, false},
		{"\x001", 0, false},
		{"1\x00", 0, false},
		{"--1", 0, false},
	}
	for _, c := range cases {
		got, ok := ParseInt([]byte(c.in))
		if ok != c.ok || got != c.want {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// incrFloat runs INCRBYFLOAT's arithmetic on two strings: the formatted sum,
// or "ERRV" (not a valid float) or "ERRNAN" (NaN or infinite result).
func incrFloat(t *testing.T, a, b string) string {
	t.Helper()
	va, ok := parseLongDouble([]byte(a))
	if !ok {
		return "ERRV"
	}
	vb, ok := parseLongDouble([]byte(b))
	if !ok {
		return "ERRV"
	}
	sum, ok := addLongDouble(va, vb)
	if !ok {
		return "ERRNAN"
	}
	return string(appendLongDouble(nil, sum))
}

// TestLongDouble checks the long double emulation against results of C
// (x86-64 gcc/glibc: strtold, long double addition, "%.17Lf" with Redis's
// trimming).
func TestLongDouble(t *testing.T) {
	cases := []struct{ a, b, want string }{
		{"150.00001", "0.00001", "150.00001999999999999"},
		{"123456789.123456789", "0", "123456789.12345678899873747"},
		{"12345678901234567890", "1", "12345678901234567891"},
		{"1e308", "1e308", "199999999999999999993371759311691291321120199694831134415594095989843469737676123744200253843777078640893494450108026446304269499187921167194841628860392837535918200039206381557326219209014213335878306791577877829121087126122536729803237260434173178506889763247582601711514636284849020905456510092687857156096"},
		{"0x10", ".5", "16.5"},
		{"5.", "+1.5", "6.5"},
		{"0.1", "0.2", "0.3"},
		{"0.1", "0.1", "0.2"},
		{"1.23456789012345678", "0", "1.23456789012345678"},
		{"100", "0.1", "100.1"},
		{"1e20", "1", "100000000000000000000"},
		{"9223372036854775807", "1", "9223372036854775808"},
		{"0xffffffffffffffffff", "0", "4722366482869645213696"},
		{"18446744073709551617", "0", "18446744073709551616"},
		{"1E2", "3.0e3", "3100"},
		{"0X1.8p-3", "0", "0.1875"},
		// hex mantissas longer than 64 bits are rounded when parsed
		{"-0xbdBCaDA02cBCFBFE.43f3f2p-0", "0xcda9CCc48FB0cCbe.175ae745cd4df750d", "1147607721188774080"},
		// zero and rounding of the last printed digit (ties to even)
		{"-0", "0", "0"},
		{"-0", "-0", "0"},
		{"-1e-30", "0", "0"},
		{"1e-17", "0", "0.00000000000000001"},
		{"1.5e-17", "0", "0.00000000000000002"},
		{"0.000003814697265625", "0", "0.00000381469726562"},
		// range: overflow, subnormals, underflow to zero
		{"1.18973149535723176502e+4932", "1.18973149535723176502e+4932", "ERRNAN"},
		{"1e4933", "0", "ERRV"},
		{"1e-4951", "0", "ERRV"},
		{"3.6e-4951", "1", "1"},
		{"0x1p16383", "0x1p16383", "ERRNAN"},
		{"0x1p16384", "0", "ERRV"},
		{"0x1p-16445", "0", "0"},
		{"0x1p-16446", "0", "ERRV"},
		{"0x1.1p-16446", "0", "0"},
		// infinities and NaN
		{"Infinity", "1", "ERRNAN"},
		{"-inf", "1", "ERRNAN"},
		{"inf", "-inf", "ERRNAN"},
		{"1", "+INF", "ERRNAN"},
		{"infinit", "1", "ERRV"},
		{"nan", "1", "ERRV"},
		{"-nan", "1", "ERRV"},
		// syntax strtold (and Redis) reject
		{"1e", "1", "ERRV"},
		{"0x", "1", "ERRV"},
		{"0x1p", "1", "ERRV"},
		{".", "1", "ERRV"},
		{"1_000", "1", "ERRV"},
		{"0b1", "1", "ERRV"},
		{"1.5.5", "1", "ERRV"},
		{"--1", "1", "ERRV"},
		{"+", "1", "ERRV"},
		{"", "1", "ERRV"},
		{" 1", "1", "ERRV"},
		{"1 ", "1", "ERRV"},
		{"\t1", "1", "ERRV"},
		{"1\x00", "1", "ERRV"},
		{"\x00", "1", "ERRV"},
		{strings.Repeat("1", maxLongDoubleChars), "1", "ERRV"},
	}
	for _, c := range cases {
		if got := incrFloat(t, c.a, c.b); got != c.want {
			t.Errorf("%q + %q = %q; want %q", c.a, c.b, got, c.want)
		}
	}
}
