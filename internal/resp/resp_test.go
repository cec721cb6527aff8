package resp

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestEncoders(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"ok", AppendOK(nil), "+OK\r\n"},
		{"simple", AppendSimple(nil, "PONG"), "+PONG\r\n"},
		{"simple empty", AppendSimple(nil, ""), "+\r\n"},
		{"error", AppendError(nil, "ERR syntax error"), "-ERR syntax error\r\n"},
		{"int", AppendInt(nil, 42), ":42\r\n"},
		{"int zero", AppendInt(nil, 0), ":0\r\n"},
		{"int negative", AppendInt(nil, -7), ":-7\r\n"},
		{"int min", AppendInt(nil, math.MinInt64), ":-9223372036854775808\r\n"},
		{"int max", AppendInt(nil, math.MaxInt64), ":9223372036854775807\r\n"},
		{"bulk", AppendBulk(nil, []byte("hello")), "$5\r\nhello\r\n"},
		{"bulk empty", AppendBulk(nil, []byte{}), "$0\r\n\r\n"},
		{"bulk nil", AppendBulk(nil, nil), "$0\r\n\r\n"},
		{"bulk binary", AppendBulk(nil, []byte("a\r\nb\x00")), "$5\r\na\r\nb\x00\r\n"},
		{"bulk string", AppendBulkString(nil, "hi"), "$2\r\nhi\r\n"},
		{"bulk int", AppendBulkInt(nil, -123), "$4\r\n-123\r\n"},
		{"null resp3", AppendNull(nil, RESP3), "_\r\n"},
		{"null resp2", AppendNull(nil, RESP2), "$-1\r\n"},
		{"null array resp3", AppendNullArray(nil, RESP3), "_\r\n"},
		{"null array resp2", AppendNullArray(nil, RESP2), "*-1\r\n"},
		{"array", AppendArray(nil, 3), "*3\r\n"},
		{"array empty", AppendArray(nil, 0), "*0\r\n"},
		{"set resp3", AppendSet(nil, RESP3, 2), "~2\r\n"},
		{"set resp2", AppendSet(nil, RESP2, 2), "*2\r\n"},
		{"map resp3", AppendMap(nil, RESP3, 2), "%2\r\n"},
		{"map resp2", AppendMap(nil, RESP2, 2), "*4\r\n"},
		{"map resp2 empty", AppendMap(nil, RESP2, 0), "*0\r\n"},
		{"verbatim resp3", AppendVerbatim(nil, RESP3, []byte("Some string")), "=15\r\ntxt:Some string\r\n"},
		{"verbatim resp3 empty", AppendVerbatim(nil, RESP3, nil), "=4\r\ntxt:\r\n"},
		{"verbatim resp2", AppendVerbatim(nil, RESP2, []byte("Some string")), "$11\r\nSome string\r\n"},
		{"double resp3", AppendDouble(nil, RESP3, 1.5), ",1.5\r\n"},
		{"double resp2", AppendDouble(nil, RESP2, 1.5), "$3\r\n1.5\r\n"},
		{"double resp3 inf", AppendDouble(nil, RESP3, math.Inf(1)), ",inf\r\n"},
		{"double resp2 -inf", AppendDouble(nil, RESP2, math.Inf(-1)), "$4\r\n-inf\r\n"},
		{"appends", AppendInt([]byte("+OK\r\n"), 1), "+OK\r\n:1\r\n"},
	}
	for _, tt := range tests {
		if string(tt.got) != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestFormatDouble(t *testing.T) {
	tests := []struct {
		f    float64
		want string
	}{
		{math.Inf(1), "inf"},
		{math.Inf(-1), "-inf"},
		{math.NaN(), "nan"},
		{0, "0"},
		{math.Copysign(0, -1), "-0"},
		{1, "1"},
		{-2.5, "-2.5"},
		{1.5, "1.5"},
		{0.1, "0.10000000000000001"}, // %.17g
		{3.14, "3.1400000000000001"},
		{1e20, "1e+20"},
		{1.5e-7, "1.4999999999999999e-07"},
		{123456789012345678, "1.2345678901234568e+17"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
	}
	for _, tt := range tests {
		if got := string(FormatDouble(nil, tt.f)); got != tt.want {
			t.Errorf("FormatDouble(%v) = %q, want %q", tt.f, got, tt.want)
		}
	}
	if got := string(FormatDouble([]byte("x="), 2)); got != "x=2" {
		t.Errorf("FormatDouble does not append: %q", got)
	}
}

func TestNeedsDowngrade(t *testing.T) {
	for in, want := range map[string]bool{
		"":            false,
		"+OK\r\n":     false,
		"-ERR\r\n":    false,
		":1\r\n":      false,
		"$1\r\na\r\n": false,
		"*0\r\n":      true,
		"_\r\n":       true,
		"%0\r\n":      true,
		",1\r\n":      true,
		"#t\r\n":      true,
	} {
		if got := NeedsDowngrade([]byte(in)); got != want {
			t.Errorf("NeedsDowngrade(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestDowngrade(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"simple", "+OK\r\n", "+OK\r\n"},
		{"error", "-ERR x\r\n", "-ERR x\r\n"},
		{"int", ":-5\r\n", ":-5\r\n"},
		{"bulk", "$3\r\nfoo\r\n", "$3\r\nfoo\r\n"},
		{"bulk binary", "$4\r\n\r\n\r\n\r\n", "$4\r\n\r\n\r\n\r\n"},
		{"null bulk", "$-1\r\n", "$-1\r\n"},
		{"null", "_\r\n", "$-1\r\n"},
		{"null array", "*-1\r\n", "*-1\r\n"},
		{"array", "*2\r\n:1\r\n$1\r\na\r\n", "*2\r\n:1\r\n$1\r\na\r\n"},
		{"empty array", "*0\r\n", "*0\r\n"},
		{"map", "%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n", "*4\r\n+a\r\n:1\r\n+b\r\n:2\r\n"},
		{"empty map", "%0\r\n", "*0\r\n"},
		{"set", "~2\r\n$1\r\nx\r\n$1\r\ny\r\n", "*2\r\n$1\r\nx\r\n$1\r\ny\r\n"},
		{"push", ">2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n", "*2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n"},
		{"double", ",1.5\r\n", "$3\r\n1.5\r\n"},
		{"double inf", ",inf\r\n", "$3\r\ninf\r\n"},
		{"double -inf", ",-inf\r\n", "$4\r\n-inf\r\n"},
		{"double nan", ",nan\r\n", "$3\r\nnan\r\n"},
		{"bool true", "#t\r\n", ":1\r\n"},
		{"bool false", "#f\r\n", ":0\r\n"},
		{"verbatim", "=15\r\ntxt:Some string\r\n", "$11\r\nSome string\r\n"},
		{"verbatim markdown", "=8\r\nmkd:# hi\r\n", "$4\r\n# hi\r\n"},
		{"big number", "(3492890328409238509324850943850943825024385\r\n",
			"$43\r\n3492890328409238509324850943850943825024385\r\n"},
		{"blob error", "!21\r\nSYNTAX invalid syntax\r\n", "-SYNTAX invalid syntax\r\n"},
		{"blob error with newline", "!8\r\nERR a\r\nb\r\n", "-ERR a  b\r\n"},
		{"nested", "%1\r\n+key\r\n~3\r\n,1.5\r\n#t\r\n_\r\n",
			"*2\r\n+key\r\n*3\r\n$3\r\n1.5\r\n:1\r\n$-1\r\n"},
		{"deeply nested", "*1\r\n*1\r\n%1\r\n*1\r\n_\r\n>1\r\n#f\r\n",
			"*1\r\n*1\r\n*2\r\n*1\r\n$-1\r\n*1\r\n:0\r\n"},
		{"attribute", "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n",
			"*2\r\n:2039123\r\n:9543892\r\n"},
		{"attribute inside array", "*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n:2\r\n", "*2\r\n$1\r\nv\r\n:2\r\n"},
		{"several replies", "_\r\n#t\r\n+OK\r\n", "$-1\r\n:1\r\n+OK\r\n"},
		{"empty input", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Downgrade([]byte("prefix:"), []byte(tt.in))
			if err != nil {
				t.Fatalf("Downgrade(%q): %v", tt.in, err)
			}
			if string(got) != "prefix:"+tt.want {
				t.Fatalf("Downgrade(%q) = %q, want %q", tt.in, got[len("prefix:"):], tt.want)
			}
		})
	}
}

func TestDowngradeMalformed(t *testing.T) {
	tests := []string{
		"+OK",                            // no CRLF
		"?what\r\n",                      // unknown type
		"$3\r\nfooXY",                    // no CRLF after the body
		"$5\r\nab\r\n",                   // short bulk
		"$x\r\n",                         // bad length
		"*2\r\n:1\r\n",                   // missing element
		"*x\r\n",                         // bad count
		"%1\r\n+a\r\n",                   // map missing value
		"|1\r\n+a\r\n+b\r\n",             // attribute without a reply
		"$9223372036854775807\r\nab\r\n", // length overflowing len+2
		"$9223372036854775806\r\n",
		"=9223372036854775807\r\nab\r\n",
		"!9223372036854775807\r\nab\r\n",
		"%4611686018427387904\r\n", // 2n overflows
		"%4611686018427387905\r\n:1\r\n",
		"*9223372036854775807\r\n",
		"|4611686018427387904\r\n",
	}
	for _, in := range tests {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Downgrade(%q) panicked: %v", in, r)
				}
			}()
			out, err := Downgrade(nil, []byte(in))
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Downgrade(%q) = %q, %v; want ErrMalformed", in, out, err)
			}
		}()
	}
}

// TestDowngradeEncoders checks that every RESP3 encoder's output downgrades
// to the RESP2 encoder's output.
func TestDowngradeEncoders(t *testing.T) {
	build := func(p Proto) []byte {
		b := AppendMap(nil, p, 2)
		b = AppendBulkString(b, "score")
		b = AppendDouble(b, p, 2.5)
		b = AppendBulkString(b, "members")
		b = AppendSet(b, p, 3)
		b = AppendNull(b, p)
		b = AppendVerbatim(b, p, []byte("text"))
		b = AppendDouble(b, p, math.Inf(-1))
		return b
	}
	got, err := Downgrade(nil, build(RESP3))
	if err != nil {
		t.Fatal(err)
	}
	if want := build(RESP2); string(got) != string(want) {
		t.Fatalf("downgraded RESP3 = %q\nRESP2 encoders   = %q", got, want)
	}
	if strings.ContainsAny(string(got[:1]), "%~_,=") {
		t.Fatal("downgrade left a RESP3 type")
	}
}

func TestDowngradeFlatPairs(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"*2\r\n*2\r\n$1\r\na\r\n,1.5\r\n*2\r\n$1\r\nb\r\n,2\r\n", "*4\r\n$1\r\na\r\n$3\r\n1.5\r\n$1\r\nb\r\n$1\r\n2\r\n"},
		{"*0\r\n", "*0\r\n"},
		{"_\r\n", "$-1\r\n"},
		{"*1\r\n$1\r\na\r\n", "*1\r\n$1\r\na\r\n"},
		{"*1\r\n*3\r\n:1\r\n:2\r\n:3\r\n", "*1\r\n*3\r\n:1\r\n:2\r\n:3\r\n"},
	} {
		got, err := DowngradeFlatPairs(nil, []byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("DowngradeFlatPairs(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := DowngradeFlatPairs(nil, []byte("*2\r\n*2\r\n$1\r\na\r\n")); err == nil {
		t.Error("truncated reply accepted")
	}
}
