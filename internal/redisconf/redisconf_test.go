package redisconf

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	cases := []struct {
		in   string
		want []string // nil: unbalanced
	}{
		{"", []string{}},
		{"   \t ", []string{}},
		{"port 6379", []string{"port", "6379"}},
		{"  save   900 1  ", []string{"save", "900", "1"}},
		{`requirepass "a b"`, []string{"requirepass", "a b"}},
		{`requirepass ""`, []string{"requirepass", ""}},
		{`requirepass ''`, []string{"requirepass", ""}},
		{`x "\x41\x4a\n\r\t\b\a\\\"\q"`, []string{"x", "AJ\n\r\t\b\a\\\"q"}},
		{`x "\x4"`, []string{"x", "x4"}}, // not two hex digits: \x is x
		{`x '\'it\n'`, []string{"x", `'it\n`}},
		{`x ab"c d"`, []string{"x", "abc d"}},
		{`x ab'c d'`, []string{"x", "abc d"}},
		{`x "a"b`, nil},
		{`x 'a'b`, nil},
		{`x "abc`, nil},
		{`x 'abc`, nil},
		{`x "abc\"`, nil},
		{"x \"a\"\tb", []string{"x", "a", "b"}},
		{"x a\vb", []string{"x", "a\vb"}}, // \v does not end an unquoted word
		{"x #y", []string{"x", "#y"}},     // '#' comments whole lines only
	}
	for _, c := range cases {
		got, ok := SplitArgs(c.in)
		if c.want == nil {
			if ok {
				t.Errorf("SplitArgs(%q) = %q, want unbalanced", c.in, got)
			}
			continue
		}
		if !ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q", c.in, got, ok, c.want)
		}
	}
}

func TestParseString(t *testing.T) {
	text := "# Shoal\n\n  # indented comment\r\nport 7000\r\nMaxMemory 100mb\n\tjoin a:1 b:2\nrequirepass \"p w\"\n\"\"\n"
	ds, err := ParseString("s.conf", text)
	if err != nil {
		t.Fatal(err)
	}
	type dl struct {
		name string
		args []string
		line int
	}
	var got []dl
	for _, d := range ds {
		got = append(got, dl{d.Name, d.Args, d.Line})
	}
	want := []dl{
		{"port", []string{"7000"}, 4},
		{"maxmemory", []string{"100mb"}, 5},
		{"join", []string{"a:1", "b:2"}, 6},
		{"requirepass", []string{"p w"}, 7},
		{"", []string{}, 8}, // an empty name is the caller's unknown directive
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("directives %+v\nwant %+v", got, want)
	}
	if ds[1].Text != "MaxMemory 100mb" || ds[1].File != "s.conf" {
		t.Errorf("directive 2: %+v", ds[1])
	}
}

func TestParseStringErrors(t *testing.T) {
	cases := []struct {
		text string
		line int
		want error
	}{
		{"port 1\nrequirepass \"abc\n", 2, ErrUnbalanced},
		{"# ok\n\n\nx 'a'b", 4, ErrUnbalanced},
		{"port 1\nx a\x00b\n", 2, ErrNUL},
	}
	for _, c := range cases {
		_, err := ParseString("f.conf", c.text)
		var ce *Error
		if !errors.As(err, &ce) || ce.Line != c.line || !errors.Is(err, c.want) || ce.File != "f.conf" {
			t.Errorf("%q: error %v, want %v at line %d", c.text, err, c.want, c.line)
			continue
		}
		msg := err.Error()
		for _, part := range []string{"FATAL CONFIG FILE ERROR", "f.conf", "at line", c.want.Error()} {
			if !strings.Contains(msg, part) {
				t.Errorf("%q: message %q lacks %q", c.text, msg, part)
			}
		}
	}
}

func write(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseInclude(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.conf"), "maxmemory 1mb\n")
	write(t, filepath.Join(dir, "b.conf"), "maxmemory 2mb\ninclude "+filepath.Join(dir, "c.inc")+"\n")
	write(t, filepath.Join(dir, "c.inc"), "requirepass x\n")
	main := write(t, filepath.Join(dir, "main.conf"),
		"port 1\ninclude "+Quote(filepath.Join(dir, "*.conf"))+"\nport 2\n")
	// main.conf matches its own glob: it would include itself forever.
	if _, err := Parse(main); !errors.Is(err, ErrIncludeDepth) {
		t.Fatalf("self-including glob: %v", err)
	}
	os.Remove(main)
	main = write(t, filepath.Join(dir, "main.cfg"),
		"port 1\ninclude "+Quote(filepath.Join(dir, "*.conf"))+"\nport 2\n")
	ds, err := Parse(main)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, filepath.Base(d.File)+":"+d.Name+"="+strings.Join(d.Args, ","))
	}
	want := []string{"main.cfg:port=1", "a.conf:maxmemory=1mb", "b.conf:maxmemory=2mb", "c.inc:requirepass=x", "main.cfg:port=2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	for _, c := range []struct {
		text string
		want error
		line int
	}{
		{"port 1\ninclude\n", ErrIncludeArgs, 2},
		{"include a b\n", ErrIncludeArgs, 1},
		{"include " + filepath.Join(dir, "none-*.conf") + "\n", ErrIncludeNoFile, 1},
		{"\ninclude " + filepath.Join(dir, "missing.conf") + "\n", os.ErrNotExist, 2},
	} {
		f := write(t, filepath.Join(dir, "bad.cfg"), c.text)
		_, err := Parse(f)
		var ce *Error
		if !errors.Is(err, c.want) || !errors.As(err, &ce) || ce.Line != c.line || ce.File != f {
			t.Errorf("%q: %v, want %v at line %d", c.text, err, c.want, c.line)
		}
	}
	// An error in an included file names that file and its line.
	write(t, filepath.Join(dir, "broken.inc"), "ok 1\nbad \"\n")
	f := write(t, filepath.Join(dir, "top.cfg"), "include "+filepath.Join(dir, "broken.inc")+"\n")
	_, err = Parse(f)
	var ce *Error
	if !errors.As(err, &ce) || filepath.Base(ce.File) != "broken.inc" || ce.Line != 2 || !errors.Is(err, ErrUnbalanced) {
		t.Errorf("error in an included file: %v", err)
	}
	if _, err := Parse(filepath.Join(dir, "nope.conf")); !errors.Is(err, os.ErrNotExist) || !errors.As(err, &ce) || ce.Line != 0 {
		t.Errorf("missing file: %v", err)
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":             `""`,
		"abc":          `"abc"`,
		`a b"c\`:       `"a b\"c\\"`,
		"\n\r\t\a\b":   `"\n\r\t\a\b"`,
		"\x00\x7f\xff": `"\x00\x7f\xff"`,
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"abc": "abc", "a:1,b:2": "a:1,b:2", "": `""`, "a b": `"a b"`, "it's": `"it's"`, "#x": `"#x"`, "é": `"\xc3\xa9"`,
	} {
		if got := QuoteIfNeeded(in); got != want {
			t.Errorf("QuoteIfNeeded(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestFormatMemory(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1: "1", 1024: "1kb", 1536: "1536", 100 << 20: "100mb",
		3 << 30: "3gb", 1000000: "1000000", (1 << 30) + 1024: "1048577kb"} {
		if got := FormatMemory(n); got != want {
			t.Errorf("FormatMemory(%d) = %s, want %s", n, got, want)
		}
	}
}

// FuzzParseString checks that parsing never panics and that what
// FormatLine writes for a parsed directive parses back to it, and Quote
// round-trips any string.
func FuzzParseString(f *testing.F) {
	for _, s := range []string{
		"port 6379\n# c\nsave 900 1\n", `requirepass "a\x41 b\"" 'c\'d'`, "x ab\"c d\"\n\n", "x \"a\"b",
		"include /nonexistent\n", "\"\"\n", "x \"\\x\"", "a\x00b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if got, ok := SplitArgs(Quote(text)); !ok || len(got) != 1 || got[0] != text {
			t.Fatalf("Quote(%q) = %s reads back as %q, %v", text, Quote(text), got, ok)
		}
		ds, err := ParseString("fuzz.conf", text)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Line < 1 || ce.Line > strings.Count(text, "\n")+1 {
				t.Fatalf("error %v without a line in the text", err)
			}
			return
		}
		for _, d := range ds {
			line := FormatLine(d.Name, d.Args...)
			again, err := ParseString("again.conf", line)
			if err != nil || len(again) != 1 || again[0].Name != d.Name || !reflect.DeepEqual(again[0].Args, d.Args) {
				t.Fatalf("directive %q %q written as %q reads back as %+v, %v", d.Name, d.Args, line, again, err)
			}
		}
	})
}
