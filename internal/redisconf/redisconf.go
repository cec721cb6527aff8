// Package redisconf reads and writes configuration files in redis.conf's
// format: one directive per line, its name then its arguments, split as
// Redis's sdssplitargs splits them ("double quotes" with C escapes,
// 'single quotes'), whole-line '#' comments, and `include FILE` directives.
// It knows nothing of the directives' meaning: cmd/shoal maps them to its
// flags, and server's CONFIG REWRITE edits a file's lines in place.
//
// Its functions are pure (Parse only reads files) and safe for concurrent use.
package redisconf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shoalcache/shoal/internal/resp"
)

// Reasons of *Error, Redis's wording where Redis has one.
var (
	ErrUnbalanced    = errors.New("Unbalanced quotes in configuration line")
	ErrNUL           = errors.New("NUL byte in configuration line")
	ErrIncludeArgs   = errors.New("include takes one file name (or glob pattern)")
	ErrIncludeDepth  = errors.New("include nesting too deep (a file includes itself?)")
	ErrIncludeNoFile = errors.New("include pattern matches no file")
)

// maxIncludeDepth bounds include nesting, which catches include cycles.
const maxIncludeDepth = 16

// Directive is one directive of a configuration file.
type Directive struct {
	// Name is the directive's name, its ASCII letters lower-cased as Redis
	// does.
	Name string
	// Args are its arguments, unquoted.
	Args []string
	// File and Line (from 1) locate it, for error messages.
	File string
	Line int
	// Text is the line as written, trimmed.
	Text string
}

// Error is a configuration file problem at a line, or with the file itself
// when Line is 0. It prints as Redis's fatal configuration error, naming
// the file.
type Error struct {
	File string
	Line int    // 0: the file as a whole (it cannot be read)
	Text string // the line, trimmed
	Err  error  // why
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("*** FATAL CONFIG FILE ERROR ***\nReading the configuration file %s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("*** FATAL CONFIG FILE ERROR ***\nReading the configuration file %s, at line %d\n>>> '%s'\n%v",
		e.File, e.Line, e.Text, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error at d's line.
func (d Directive) Errorf(format string, args ...any) *Error {
	return &Error{File: d.File, Line: d.Line, Text: d.Text, Err: fmt.Errorf(format, args...)}
}

// Parse reads the configuration file at path and returns its directives
// in order, those of included files in place of their include line.
// Include paths are taken as Redis takes them: relative to the working
// directory, and globs (include /etc/shoal/*.conf) in sorted order.
func Parse(path string) ([]Directive, error) {
	return parseFile(path, 0)
}

func parseFile(path string, depth int) ([]Directive, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	ds, err := ParseString(path, string(data))
	if err != nil {
		return nil, err
	}
	var out []Directive
	for _, d := range ds {
		if d.Name != "include" {
			out = append(out, d)
			continue
		}
		if len(d.Args) != 1 {
			return nil, &Error{File: d.File, Line: d.Line, Text: d.Text, Err: ErrIncludeArgs}
		}
		if depth+1 >= maxIncludeDepth {
			return nil, &Error{File: d.File, Line: d.Line, Text: d.Text, Err: ErrIncludeDepth}
		}
		files := []string{d.Args[0]}
		if strings.ContainsAny(d.Args[0], "*?[") {
			if files, err = filepath.Glob(d.Args[0]); err != nil {
				return nil, d.Errorf("include: %w", err)
			}
			if len(files) == 0 {
				return nil, &Error{File: d.File, Line: d.Line, Text: d.Text, Err: ErrIncludeNoFile}
			}
		}
		for _, f := range files {
			sub, err := parseFile(f, depth+1)
			if err != nil {
				var ce *Error
				if errors.As(err, &ce) && ce.Line == 0 {
					// The included file cannot be read: say where it is included.
					return nil, d.Errorf("include: %w", ce.Err)
				}
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	return out, nil
}

// ParseString parses the text of a configuration file named file (for
// error messages) without following includes: include lines are returned
// as directives named "include".
func ParseString(file, text string) ([]Directive, error) {
	var out []Directive
	for i, raw := range strings.Split(text, "\n") {
		args, skip, err := ParseLine(raw)
		line := strings.Trim(raw, " \t\r\n")
		if err != nil {
			return nil, &Error{File: file, Line: i + 1, Text: line, Err: err}
		}
		if skip {
			continue
		}
		out = append(out, Directive{Name: asciiLower(args[0]), Args: args[1:], File: file, Line: i + 1, Text: line})
	}
	return out, nil
}

// ParseLine splits one line as Redis's configuration loader does: the line
// is trimmed of spaces, tabs, CR and LF; empty lines, lines starting with
// '#' and lines with no argument are skipped (skip true); anything else is
// split with SplitArgs.
func ParseLine(line string) (args []string, skip bool, err error) {
	line = strings.Trim(line, " \t\r\n")
	if line == "" || line[0] == '#' {
		return nil, true, nil
	}
	if strings.IndexByte(line, 0) >= 0 {
		return nil, false, ErrNUL
	}
	args, ok := SplitArgs(line)
	if !ok {
		return nil, false, ErrUnbalanced
	}
	return args, len(args) == 0, nil
}

// asciiLower lowers ASCII letters only, as Redis's sdstolower in the C
// locale.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// SplitArgs splits s into arguments exactly as Redis's sdssplitargs: words
// separated by spaces; "double quotes" with \n \r \t \b \a \xHH and \<any>
// escapes; 'single quotes' with \' only; a quote may start mid-word
// (ab"c d" is one argument "abc d"), and a closing quote must be followed
// by a space or the end. It reports false for unbalanced quotes. s must not
// hold a NUL byte (C would stop there).
func SplitArgs(s string) ([]string, bool) {
	n := len(s)
	at := func(i int) byte { // the C string's view: NUL past the end
		if i < n {
			return s[i]
		}
		return 0
	}
	args := []string{}
	p := 0
	for {
		for p < n && isSpace(s[p]) {
			p++
		}
		if p >= n {
			return args, true
		}
		var cur []byte
		inq, insq := false, false
		for done := false; !done; p++ {
			c := at(p)
			switch {
			case inq:
				h1, ok1 := hexVal(at(p + 2))
				h2, ok2 := hexVal(at(p + 3))
				switch {
				case c == '\\' && at(p+1) == 'x' && ok1 && ok2:
					cur = append(cur, h1<<4|h2)
					p += 3
				case c == '\\' && at(p+1) != 0:
					p++
					switch e := s[p]; e {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'b':
						cur = append(cur, '\b')
					case 'a':
						cur = append(cur, '\a')
					default:
						cur = append(cur, e)
					}
				case c == '"':
					if nx := at(p + 1); nx != 0 && !isSpace(nx) {
						return nil, false
					}
					done = true
				case c == 0:
					return nil, false
				default:
					cur = append(cur, c)
				}
			case insq:
				switch {
				case c == '\\' && at(p+1) == '\'':
					p++
					cur = append(cur, '\'')
				case c == '\'':
					if nx := at(p + 1); nx != 0 && !isSpace(nx) {
						return nil, false
					}
					done = true
				case c == 0:
					return nil, false
				default:
					cur = append(cur, c)
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					cur = append(cur, c)
				}
			}
			if c == 0 {
				p-- // stay at the end
			}
		}
		args = append(args, string(cur))
	}
}

// Quote returns s as Redis's sdscatrepr writes it, always in double
// quotes: \\ \" \n \r \t \a \b escaped, other bytes outside printable
// ASCII as \xHH. SplitArgs reads it back as s.
func Quote(s string) string { return string(resp.AppendRepr(make([]byte, 0, len(s)+2), s)) }

// QuoteIfNeeded returns s as is when SplitArgs reads it back as one
// argument equal to s (no space, quote, control byte, or leading '#'),
// else Quote(s).
func QuoteIfNeeded(s string) string {
	if s == "" || s[0] == '#' {
		return Quote(s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > 0x7e || c == '"' || c == '\'' {
			return Quote(s)
		}
	}
	return s
}

// FormatLine returns a configuration line for name and args, each quoted
// if needed.
func FormatLine(name string, args ...string) string {
	var b strings.Builder
	b.WriteString(QuoteIfNeeded(name))
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(QuoteIfNeeded(a))
	}
	return b.String()
}

// FormatMemory writes a byte count as Redis's CONFIG REWRITE writes memory
// values: in gb, mb or kb when it is a whole number of them.
func FormatMemory(n int64) string {
	switch {
	case n != 0 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "gb"
	case n != 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "mb"
	case n != 0 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "kb"
	}
	return strconv.FormatInt(n, 10)
}
