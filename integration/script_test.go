package integration

// Corpus script parsing and reply comparison for the differential tests.
//
// Script format (testdata/diff/*.txt): one command per line, arguments split
// like redis-cli (double quotes with \" \\ \n \r \t \b \a \xHH escapes, single
// quotes with \' only). Lines starting with '#' are comments; blank lines are
// ignored. Lines starting with '!' are directives:
//
//	!ttl [tol]   next reply is an integer compared within tol (default 1),
//	             or an array of them (HTTL), each compared so; negative
//	             values (-1, -2) must match exactly
//	!sort        next reply is an array compared as a sorted multiset
//	!scan        next command is a SCAN from cursor 0: iterate to cursor 0 on
//	             each server and compare the sorted set of keys returned
//	!any         next replies only need the same RESP type byte
//	!errprefix   next replies must both be errors with the same first word
//	!resp3       send HELLO 3 on both connections now (only the reply type is
//	             compared); !resp2 switches back with HELLO 2
//	!conn N      the next commands run on connection N of each server (0 is
//	             the first, dialed on first use)
//	!send        the next command is written on both servers without reading
//	             its replies: a blocking command (BLPOP...) that waits; the
//	             connection takes no other command until !recv
//	!recv        read the replies a !send left pending on the current
//	             connection and compare them (as exact, or in the !send's mode)
//	!blocked N   wait (10 s at most) until INFO's blocked_clients is N on both
//	             servers, asked on the current connection (not one with a
//	             pending !send): before waking a !send's command, so that it
//	             is blocked on both servers, not yet sent to one of them

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/shoalcache/shoal/internal/redisconf"
	"github.com/shoalcache/shoal/internal/respclient"
)

// compareMode says how two replies are compared.
type compareMode int

const (
	modeExact compareMode = iota
	modeTTL
	modeSort
	modeScan
	modeAny
	modeErrPrefix
	modeTTLCategory // used by the random test: -2, -1 or positive
	modeShape       // same structure, map keys and strings; any numbers
)

func (m compareMode) String() string {
	return [...]string{"exact", "ttl", "sort", "scan", "any", "errprefix", "ttlcategory", "shape"}[m]
}

// step is one executable line of a script.
type step struct {
	line  int
	args  []string // command and arguments; empty for !resp3/!resp2
	mode  compareMode
	tol   int64 // tolerance for modeTTL
	proto int   // 2 or 3 for a protocol switch step, else 0
	// conn is 1 + the connection a "!conn N" step switches to, else 0:
	// the commands after it run on connection N of each server (0 is the
	// first; corpora such as multi.txt need a second client).
	conn int
	// send: the command is written without reading its replies (!send);
	// recv: the step reads the replies a send step left pending (!recv);
	// blocked is 1 + the blocked_clients count a !blocked step waits for.
	send, recv bool
	blocked    int
}

func (s step) String() string {
	if s.proto != 0 {
		return fmt.Sprintf("!resp%d", s.proto)
	}
	if s.conn != 0 {
		return fmt.Sprintf("!conn %d", s.conn-1)
	}
	if s.recv {
		return "!recv"
	}
	if s.blocked != 0 {
		return fmt.Sprintf("!blocked %d", s.blocked-1)
	}
	if s.send {
		return "!send " + formatArgs(s.args)
	}
	return formatArgs(s.args)
}

// formatArgs renders args so that splitArgs(formatArgs(a)) == a.
func formatArgs(args []string) string {
	parts := make([]string, len(args))
	for i, a := range args {
		if a != "" && !strings.ContainsAny(a, " \t\r\n\"'\\") && isPrintable(a) {
			parts[i] = a
		} else {
			parts[i] = quoteArg(a)
		}
	}
	return strings.Join(parts, " ")
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// quoteArg quotes s as redis-cli and Redis's sdscatrepr do.
func quoteArg(s string) string { return redisconf.Quote(s) }

// splitArgs splits a line like redis-cli's sdssplitargs (the config
// file reader's splitter, which is Redis's).
func splitArgs(line string) ([]string, error) {
	args, ok := redisconf.SplitArgs(line)
	if !ok {
		return nil, errors.New("unbalanced quotes, or a closing quote not followed by a space")
	}
	return args, nil
}

func parseScript(path string) ([]step, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var steps []step
	pending := modeExact
	var pendingTol int64
	pendingLine := 0
	pendingSend := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			f := strings.Fields(line[1:])
			if len(f) == 0 {
				return nil, fmt.Errorf("%s:%d: empty directive", path, n)
			}
			if pendingLine != 0 {
				return nil, fmt.Errorf("%s:%d: directive follows directive on line %d", path, n, pendingLine)
			}
			switch d := strings.ToLower(f[0]); d {
			case "resp2", "resp3":
				steps = append(steps, step{line: n, proto: int(d[4] - '0')})
				continue
			case "conn":
				c := -1
				if len(f) == 2 {
					c, err = strconv.Atoi(f[1])
				}
				if err != nil || c < 0 || c >= maxDiffConns {
					return nil, fmt.Errorf("%s:%d: !conn wants a connection number below %d", path, n, maxDiffConns)
				}
				steps = append(steps, step{line: n, conn: c + 1})
				continue
			case "recv":
				steps = append(steps, step{line: n, recv: true})
				continue
			case "blocked":
				b := -1
				if len(f) == 2 {
					b, err = strconv.Atoi(f[1])
				}
				if err != nil || b < 0 {
					return nil, fmt.Errorf("%s:%d: !blocked wants a count of blocked clients", path, n)
				}
				steps = append(steps, step{line: n, blocked: b + 1})
				continue
			case "send":
				pendingSend = true
			case "ttl":
				pending, pendingTol = modeTTL, 1
				if len(f) > 1 {
					if pendingTol, err = strconv.ParseInt(f[1], 10, 64); err != nil || pendingTol < 0 {
						return nil, fmt.Errorf("%s:%d: bad ttl tolerance %q", path, n, f[1])
					}
				}
			case "sort":
				pending = modeSort
			case "scan":
				pending = modeScan
			case "any":
				pending = modeAny
			case "shape":
				pending = modeShape
			case "errprefix":
				pending = modeErrPrefix
			default:
				return nil, fmt.Errorf("%s:%d: unknown directive %q", path, n, line)
			}
			pendingLine = n
			continue
		}
		args, err := splitArgs(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		if len(args) == 0 {
			return nil, fmt.Errorf("%s:%d: no arguments", path, n)
		}
		if pending == modeScan && !strings.EqualFold(args[0], "scan") {
			return nil, fmt.Errorf("%s:%d: !scan applies to SCAN only", path, n)
		}
		steps = append(steps, step{line: n, args: args, mode: pending, tol: pendingTol, send: pendingSend})
		pending, pendingTol, pendingLine, pendingSend = modeExact, 0, 0, false
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if pendingLine != 0 {
		return nil, fmt.Errorf("%s:%d: directive without a following command", path, pendingLine)
	}
	return steps, nil
}

// compareReplies checks two raw replies under mode and returns a description
// of the difference, or "" when they agree.
func compareReplies(mode compareMode, tol int64, a, b []byte) string {
	if bytes.Equal(a, b) {
		return ""
	}
	if mode == modeExact {
		return "replies differ"
	}
	va, errA := respclient.Parse(a)
	vb, errB := respclient.Parse(b)
	if errA != nil || errB != nil {
		return fmt.Sprintf("unparsable reply: %v / %v", errA, errB)
	}
	switch mode {
	case modeShape:
		return sameShape(va, vb, "")
	case modeAny:
		if ka, kb := wireKind(va), wireKind(vb); ka != kb {
			return fmt.Sprintf("reply types differ: %q vs %q", ka, kb)
		}
		return ""
	case modeErrPrefix:
		if !va.IsError() || !vb.IsError() {
			return "expected two errors"
		}
		if firstWord(va.Str) != firstWord(vb.Str) {
			return "error codes differ"
		}
		return ""
	case modeTTL, modeTTLCategory:
		if isArrayKind(va.Kind) && va.Kind == vb.Kind && !va.IsNull() && !vb.IsNull() {
			// HTTL and friends: an integer per field, each compared so.
			ea, eb := va.Elems(), vb.Elems()
			if len(ea) != len(eb) {
				return "array lengths differ"
			}
			for i := range ea {
				if d := compareReplies(mode, tol, ea[i].Raw, eb[i].Raw); d != "" {
					return fmt.Sprintf("element %d: %s", i, d)
				}
			}
			return ""
		}
		if va.Kind != ':' || vb.Kind != ':' {
			return "replies differ (expected integers)"
		}
		x, y := va.Int, vb.Int
		if mode == modeTTLCategory {
			if ttlCategory(x) != ttlCategory(y) {
				return "TTL categories differ"
			}
			return ""
		}
		if x < 0 || y < 0 {
			return "negative TTL replies differ"
		}
		if d := x - y; d > tol || d < -tol {
			return fmt.Sprintf("TTLs differ by more than %d", tol)
		}
		return ""
	case modeSort:
		if !isArrayKind(va.Kind) || va.Kind != vb.Kind || va.IsNull() || vb.IsNull() {
			return "replies differ (expected arrays)"
		}
		sa, sb := sortedRaw(va.Elems()), sortedRaw(vb.Elems())
		if !slices.Equal(sa, sb) {
			return "sorted elements differ"
		}
		return ""
	}
	return "replies differ"
}

// sameShape compares two replies' structure: kinds, lengths, map keys and
// strings must match, numbers may differ (integers, doubles, and strings
// that parse as numbers, as RESP2 sends doubles). It returns "" or where
// they differ.
func sameShape(a, b respclient.Value, at string) string {
	if ka, kb := wireKind(a), wireKind(b); ka != kb {
		return fmt.Sprintf("%sreply types differ: %q vs %q", at, ka, kb)
	}
	switch {
	case len(a.Array) != len(b.Array) || len(a.Map) != len(b.Map):
		return fmt.Sprintf("%slengths differ: %d/%d vs %d/%d", at, len(a.Array), len(a.Map), len(b.Array), len(b.Map))
	case a.Kind == respclient.KindInt || a.Kind == respclient.KindDouble:
		return ""
	}
	for i := range a.Array {
		if d := sameShape(a.Array[i], b.Array[i], fmt.Sprintf("%s[%d] ", at, i)); d != "" {
			return d
		}
	}
	for i := range a.Map {
		if d := sameShape(a.Map[i].Key, b.Map[i].Key, fmt.Sprintf("%skey %d ", at, i)); d != "" {
			return d
		}
		if d := sameShape(a.Map[i].Value, b.Map[i].Value, fmt.Sprintf("%s%s: ", at, a.Map[i].Key.Str)); d != "" {
			return d
		}
	}
	if len(a.Array) > 0 || len(a.Map) > 0 || a.Str == b.Str {
		return ""
	}
	_, errA := strconv.ParseFloat(a.Str, 64)
	_, errB := strconv.ParseFloat(b.Str, 64)
	if errA == nil && errB == nil {
		return ""
	}
	return fmt.Sprintf("%sstrings differ: %.80q vs %.80q", at, a.Str, b.Str)
}

func ttlCategory(n int64) int64 {
	if n > 0 {
		return 1
	}
	if n < 0 {
		return n
	}
	return 0
}

// wireKind is the type byte a reply was sent with (after any attribute):
// unlike Kind it tells a RESP2 null bulk from a null array and a RESP3 null.
func wireKind(v respclient.Value) byte {
	raw := v.Raw
	if v.Attr != nil {
		raw = raw[len(v.Attr.Raw):]
	}
	if len(raw) == 0 {
		return v.Kind
	}
	return raw[0]
}

func isArrayKind(k byte) bool { return k == '*' || k == '~' || k == '>' }

func firstWord(s string) string {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i]
	}
	return s
}

func sortedRaw(vs []respclient.Value) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v.Raw)
	}
	sort.Strings(out)
	return out
}

// scanAll runs a SCAN command (args[1] is the cursor) from cursor 0 until the
// server returns cursor 0, and returns the sorted, de-duplicated keys. If a
// reply is not a well-formed SCAN reply (e.g. an error), it is returned as
// raw with ok=false so the caller can compare it verbatim.
func scanAll(c *respConn, args []string) (keys []string, raw []byte, ok bool, err error) {
	args = append([]string(nil), args...)
	if len(args) < 2 {
		r, err := c.Do(args...)
		return nil, r, false, err
	}
	seen := map[string]bool{}
	args[1] = "0"
	for iter := 0; ; iter++ {
		if iter > 100000 {
			return nil, nil, false, fmt.Errorf("SCAN did not terminate after %d calls", iter)
		}
		r, v, err := c.DoValue(args...)
		if err != nil {
			return nil, r, false, err
		}
		if !isArrayKind(v.Kind) || len(v.Elems()) != 2 || v.Elems()[0].Kind != '$' || !isArrayKind(v.Elems()[1].Kind) {
			if iter == 0 {
				return nil, r, false, nil
			}
			return nil, nil, false, fmt.Errorf("malformed SCAN reply mid-iteration: %q", r)
		}
		for _, k := range v.Elems()[1].Elems() {
			seen[k.Str] = true
		}
		if v.Elems()[0].Str == "0" {
			break
		}
		args[1] = v.Elems()[0].Str
	}
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, nil, true, nil
}
