package respclient

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func parse(t *testing.T, s string) Value {
	t.Helper()
	v, err := Read(bufio.NewReader(strings.NewReader(s)))
	if err != nil {
		t.Fatalf("Read(%q): %v", s, err)
	}
	return v
}

// TestReadTypes covers every RESP2 and RESP3 type, including the ones a
// stock redis-server is awkward to make send (blob errors, attributes).
func TestReadTypes(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		kind     byte
	}{
		{"+OK\r\n", "OK", KindSimple},
		{"-ERR bad\r\n", "(error) ERR bad", KindError},
		{":-42\r\n", "-42", KindInt},
		{"$5\r\nhe\r\no\r\n", `"he\r\no"`, KindBulk},
		{"$0\r\n\r\n", `""`, KindBulk},
		{"$-1\r\n", "(nil)", KindNull},
		{"*-1\r\n", "(nil)", KindNull},
		{"_\r\n", "(nil)", KindNull},
		{"*0\r\n", "[]", KindArray},
		{"*2\r\n*2\r\n:1\r\n$1\r\na\r\n*0\r\n", `[[1 "a"] []]`, KindArray},
		{",1.5\r\n", "1.5", KindDouble},
		{",-inf\r\n", "-inf", KindDouble},
		{"#t\r\n", "true", KindBool},
		{"#f\r\n", "false", KindBool},
		{"!8\r\nSYNTAX x\r\n", "(error) SYNTAX x", KindBlobError},
		{"=7\r\ntxt:abc\r\n", `"abc"`, KindVerbatim},
		{"(12345678901234567890\r\n", "12345678901234567890", KindBigNumber},
		{"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n*1\r\n:2\r\n", `{a: 1 "b": [2]}`, KindMap},
		{"~2\r\n+x\r\n+y\r\n", "[x y]", KindSet},
		{">2\r\n+message\r\n+hi\r\n", "[message hi]", KindPush},
		{"|1\r\n+ttl\r\n:3\r\n:7\r\n", "7", KindInt},
	} {
		v := parse(t, tc.in)
		if v.Kind != tc.kind || v.String() != tc.want {
			t.Errorf("Read(%q) = kind %q %s, want kind %q %s", tc.in, v.Kind, v, tc.kind, tc.want)
		}
	}
}

func TestReadMalformed(t *testing.T) {
	for _, in := range []string{
		"?\r\n", "+OK\n", ":x\r\n", "$3\r\nab\r\n", "$-2\r\n", "#x\r\n",
		",abc\r\n", "=2\r\nab\r\n", "%-1\r\n", "\r\n",
	} {
		_, err := Read(bufio.NewReader(strings.NewReader(in)))
		if err == nil {
			t.Errorf("Read(%q) succeeded", in)
		}
	}
	if _, err := Read(bufio.NewReader(strings.NewReader(""))); err != io.EOF {
		t.Errorf("Read of nothing: %v, want io.EOF", err)
	}
	for _, in := range []string{"*2\r\n:1\r\n", "$5\r\nab", "+OK"} {
		if _, err := Read(bufio.NewReader(strings.NewReader(in))); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("Read(%q): %v, want io.ErrUnexpectedEOF", in, err)
		}
	}
	deep := strings.Repeat("*1\r\n", maxDepth+2) + ":1\r\n"
	if _, err := Read(bufio.NewReader(strings.NewReader(deep))); !errors.Is(err, ErrProtocol) {
		t.Errorf("deep nesting: %v, want ErrProtocol", err)
	}
}

func TestValueHelpers(t *testing.T) {
	m := parse(t, "%2\r\n+proto\r\n:3\r\n+mode\r\n+cluster\r\n")
	flat := parse(t, "*4\r\n$5\r\nproto\r\n:2\r\n$4\r\nmode\r\n$7\r\ncluster\r\n")
	for _, v := range []Value{m, flat} {
		if mode, ok := v.Get("mode"); !ok || mode.Str != "cluster" {
			t.Errorf("%s: Get(mode) = %s, %v", v, mode, ok)
		}
		if _, ok := v.Get("nope"); ok {
			t.Errorf("%s: Get(nope) found", v)
		}
		if len(v.Elems()) != 4 {
			t.Errorf("%s: Elems has %d values", v, len(v.Elems()))
		}
	}
	e := parse(t, "-MOVED 3999 127.0.0.1:7001\r\n")
	var re *ReplyError
	if !errors.As(e.Err(), &re) || re.Code() != "MOVED" {
		t.Errorf("Err() = %v", e.Err())
	}
	if s, ok := parse(t, ":7\r\n").Text(); !ok || s != "7" {
		t.Errorf("Text of 7 = %q, %v", s, ok)
	}
}

func TestAppendCommand(t *testing.T) {
	got, err := appendCommand(nil, []any{"SET", []byte("k"), 12, int64(-1), uint64(3), 1.5})
	if err != nil {
		t.Fatal(err)
	}
	want := "*6\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n$2\r\n-1\r\n$1\r\n3\r\n$3\r\n1.5\r\n"
	if string(got) != want {
		t.Errorf("appendCommand = %q, want %q", got, want)
	}
	if _, err := appendCommand(nil, []any{"GET", struct{}{}}); err == nil {
		t.Error("unsupported argument type accepted")
	}
}

// FuzzRead feeds arbitrary bytes to Read: it must not panic, and must fail
// only with a protocol error or an unexpected end of input.
func FuzzRead(f *testing.F) {
	for _, s := range []string{
		"+OK\r\n", "*2\r\n:1\r\n$1\r\na\r\n", "%1\r\n+a\r\n~1\r\n,1.5\r\n",
		"=7\r\ntxt:abc\r\n", "|1\r\n+a\r\n:1\r\n:2\r\n", ">1\r\n_\r\n", "$-1\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Read(bufio.NewReader(strings.NewReader(string(data))))
		if err != nil && !errors.Is(err, ErrProtocol) && !errors.Is(err, io.ErrUnexpectedEOF) && err != io.EOF {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// TestReadRaw checks that ReadRaw and Parse keep the exact bytes of every
// reply type, of nested values, and of an attribute before a reply.
func TestReadRaw(t *testing.T) {
	replies := []string{
		"+OK\r\n", "-ERR x y\r\n", ":-12\r\n", "$3\r\na\r\n\r\n", "$-1\r\n", "$0\r\n\r\n",
		"*-1\r\n", "*0\r\n", "*2\r\n$1\r\na\r\n*1\r\n:1\r\n", "_\r\n", ",3.5\r\n", "#t\r\n",
		"(123456789012345678901234567890\r\n", "!5\r\nERR x\r\n", "=7\r\ntxt:abc\r\n",
		"%1\r\n+k\r\n*1\r\n_\r\n", "~2\r\n:1\r\n:2\r\n", ">2\r\n+message\r\n$1\r\nx\r\n",
		"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n",
	}
	for _, r := range replies {
		v, err := Parse([]byte(r + "+TRAILING\r\n"))
		if err != nil {
			t.Errorf("parse %q: %v", r, err)
			continue
		}
		if string(v.Raw) != r {
			t.Errorf("parse %q: raw = %q", r, v.Raw)
		}
	}
	v, err := Parse([]byte("|1\r\n+a\r\n+b\r\n*2\r\n:5\r\n%1\r\n+k\r\n$1\r\nv\r\n"))
	if err != nil || v.Kind != KindArray || v.Attr == nil || string(v.Attr.Raw) != "|1\r\n+a\r\n+b\r\n" {
		t.Fatalf("attribute not attached: %+v, %v", v, err)
	}
	if string(v.Array[0].Raw) != ":5\r\n" || string(v.Array[1].Raw) != "%1\r\n+k\r\n$1\r\nv\r\n" ||
		string(v.Array[1].Map[0].Value.Raw) != "$1\r\nv\r\n" {
		t.Errorf("nested raw: %q %q %q", v.Array[0].Raw, v.Array[1].Raw, v.Array[1].Map[0].Value.Raw)
	}
	for _, bad := range []string{"$3\r\nab\r\n", "?x\r\n", "*2\r\n:1\r\n", "+OK\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("parse %q: want error", bad)
		}
	}
	// Read leaves Raw unset.
	if v, err := Read(bufio.NewReader(strings.NewReader("+OK\r\n"))); err != nil || v.Raw != nil {
		t.Errorf("Read: %+v, %v", v, err)
	}
}
