package server

import (
	"bytes"
	"errors"
	"io"
	"math"
	"unsafe"

	"github.com/shoalcache/shoal/command"
)

// Limits of Redis 7.0's request parser (server.h, networking.c).
const (
	// protoInlineMaxSize is PROTO_INLINE_MAX_SIZE: the most bytes buffered
	// without the line terminator of an inline request, a multibulk count or
	// a bulk count.
	protoInlineMaxSize = 64 * 1024
	// protoIOBufLen is PROTO_IOBUF_LEN, the most Redis reads at a time while
	// it waits for a line; reading no more keeps the "too big" errors where
	// Redis puts them.
	protoIOBufLen = 16 * 1024
	// maxMultibulkLen is the largest multibulk count (INT_MAX in 7.0).
	maxMultibulkLen = math.MaxInt32
	// unauthMaxMultibulkLen and unauthMaxBulkLen are the limits for clients
	// that must still authenticate.
	unauthMaxMultibulkLen = 10
	unauthMaxBulkLen      = 16384

	// readerInitSize is the buffer a reader starts with and shrinks back to.
	readerInitSize = 16 * 1024
	// readerShrinkAbove is the capacity above which an idle buffer is
	// replaced by a small one.
	readerShrinkAbove = 1 << 20
)

// errQueryBufLimit is returned by readBatch when a request buffers more
// than client-query-buffer-limit: the connection closes without a reply,
// as Redis's does.
var errQueryBufLimit = errors.New("server: client query buffer limit reached")

// protoError is a malformed request. The connection replies
// "-ERR Protocol error: <msg>" and closes, as Redis does.
type protoError struct{ msg string }

func (e *protoError) Error() string { return "Protocol error: " + e.msg }

// span is one argument: n bytes at off, relative to its command's start.
type span struct{ off, n int }

// cmdRef is one complete command: its start in buf and its arguments
// spans[from:to].
type cmdRef struct{ start, from, to int }

// reader parses client requests from a connection, as Redis 7's
// processInlineBuffer/processMultibulkBuffer do.
//
// Buffered bytes are buf[cmd:w]: cmd is where the first request not yet
// returned starts, pos is the parse cursor (pos == cmd between requests).
// A multibulk request may stay partially parsed across reads: multibulk
// arguments are still due, bulk is the length of the next one (-1 until its
// "$<len>" line is read) and spans[from:] are the arguments read so far.
// Nothing is ever allocated by a declared length: the buffer grows as bytes
// arrive, at most doubling.
type reader struct {
	rd  io.Reader
	buf []byte
	w   int
	cmd int
	pos int

	// scan is where the search for the current line's terminator resumes:
	// buf[pos:scan] holds none. nul is set when a NUL byte comes first;
	// Redis searches with strchr, so such a line never ends.
	scan int
	nul  bool

	multibulk int
	bulk      int
	from      int

	spans []span
	cmds  []cmdRef
	args  [][]byte

	authed bool
	// maxBulk is proto-max-bulk-len and maxQuery client-query-buffer-limit
	// (bytes), set by setLimits.
	maxBulk, maxQuery int64
	rerr              error // error of the last Read, returned once its bytes are used
	err               error // sticky: a protocol error or rerr, returned ever after
}

// newReader returns a reader of requests from rd. It starts authenticated
// (no extra limits, as for a server without a password); the connection
// calls setAuthenticated(false) when clients must AUTH first.
func newReader(rd io.Reader) *reader {
	return &reader{rd: rd, buf: make([]byte, readerInitSize), bulk: -1, authed: true,
		maxBulk: command.ProtoMaxBulkLen, maxQuery: 1 << 30}
}

// setLimits sets proto-max-bulk-len and client-query-buffer-limit.
func (r *reader) setLimits(maxBulk, maxQuery int64) { r.maxBulk, r.maxQuery = maxBulk, maxQuery }

// queryBuf is the memory held for the request being read: its bytes and
// the spans of its arguments so far.
func (r *reader) queryBuf() int64 {
	return int64(r.w-r.cmd) + int64(len(r.spans)-r.from)*int64(unsafe.Sizeof(span{}))
}

// setAuthenticated toggles Redis's stricter limits for unauthenticated
// clients: at most 10 arguments and 16 KB per argument. While they apply,
// readBatch returns one command at a time, so that the limits for the
// commands pipelined after an AUTH follow its outcome, as in Redis.
func (r *reader) setAuthenticated(ok bool) { r.authed = ok }

// readBatch returns every complete command now buffered (at least one,
// reading from rd as needed), appended to dst[:0]. Each command is its
// argument list; arguments alias the reader's buffer and stay valid until
// the next readBatch call. Empty commands (blank inline lines, *0, *-1) are
// skipped. On a protocol error it returns the commands parsed before it and a
// *protoError; the caller replies "-ERR Protocol error: <msg>" and closes.
// Errors from rd are returned once the complete commands before them have
// been; every later call returns the same error.
func (r *reader) readBatch(dst [][][]byte) ([][][]byte, error) {
	dst = dst[:0]
	if r.err != nil {
		return dst, r.err
	}
	r.release()
	idle := 0
	for {
		if err := r.parse(); err != nil {
			r.err = err
			return r.batch(dst), err
		}
		if len(r.cmds) > 0 {
			return r.batch(dst), nil
		}
		if r.rerr != nil {
			r.err = r.rerr
			return dst, r.err
		}
		n := r.fill()
		if n > 0 {
			idle = 0
			if r.queryBuf() > r.maxQuery {
				r.err = errQueryBufLimit
				return r.batch(dst), r.err
			}
		} else if idle++; idle >= 100 && r.rerr == nil {
			r.rerr = io.ErrNoProgress
		}
	}
}

// release forgets the commands returned by the previous call, keeping the
// partial request, and shrinks a large idle buffer.
func (r *reader) release() {
	r.cmds = r.cmds[:0]
	clear(r.args) // drop references to old buffers
	r.args = r.args[:0]
	if r.multibulk > 0 {
		n := copy(r.spans, r.spans[r.from:])
		r.spans = r.spans[:n]
	} else {
		r.spans = r.spans[:0]
	}
	r.from = 0
	live := r.w - r.cmd
	if len(r.buf) > readerShrinkAbove && live <= readerInitSize/2 {
		buf := make([]byte, readerInitSize)
		copy(buf, r.buf[r.cmd:r.w])
		r.buf = buf
		r.shift(r.cmd)
	} else if live == 0 {
		r.shift(r.cmd)
	}
}

// shift moves every offset k bytes down, after the buffered bytes moved.
func (r *reader) shift(k int) {
	r.cmd -= k
	r.pos -= k
	r.scan -= k
	r.w -= k
}

// fill reads once from rd into free space, first making room, when little
// is left, by sliding the live bytes to the front or, when they fill more
// than half the buffer, growing it. It returns the bytes read.
func (r *reader) fill() int {
	if len(r.buf)-r.w < len(r.buf)/8 {
		live := r.w - r.cmd
		if live <= len(r.buf)/2 {
			copy(r.buf, r.buf[r.cmd:r.w])
			r.shift(r.cmd)
		} else {
			size := 2 * len(r.buf)
			if r.multibulk > 0 && r.bulk >= 0 {
				// Waiting for a bulk: no more than it needs plus room for
				// what follows, but still growing geometrically so that a
				// command of many large bulks is not copied once per bulk.
				if need := r.pos - r.cmd + r.bulk + 2 + readerInitSize; need < size {
					size = max(need, len(r.buf)+len(r.buf)/4)
				}
			}
			buf := make([]byte, size)
			copy(buf, r.buf[r.cmd:r.w])
			r.buf = buf
			r.shift(r.cmd)
		}
	}
	end := len(r.buf)
	if (r.multibulk == 0 || r.bulk < 0) && end-r.w > protoIOBufLen {
		end = r.w + protoIOBufLen
	}
	n, err := r.rd.Read(r.buf[r.w:end])
	if n < 0 || n > end-r.w {
		n, err = 0, io.ErrShortBuffer // a broken io.Reader
	}
	r.w += n
	if err != nil {
		r.rerr = err
	}
	return n
}

// batch appends the parsed commands to dst.
func (r *reader) batch(dst [][][]byte) [][][]byte {
	if len(r.cmds) == 0 {
		return dst
	}
	total := r.cmds[len(r.cmds)-1].to - r.cmds[0].from
	if cap(r.args) < total {
		r.args = make([][]byte, 0, total)
	}
	for _, c := range r.cmds {
		first := len(r.args)
		for _, s := range r.spans[c.from:c.to] {
			off := c.start + s.off
			r.args = append(r.args, r.buf[off:off+s.n:off+s.n])
		}
		dst = append(dst, r.args[first:len(r.args):len(r.args)])
	}
	return dst
}

// parse parses the buffered requests, as Redis's processInputBuffer does,
// appending complete commands to r.cmds. It stops at the first incomplete
// request, or after one command while unauthenticated.
func (r *reader) parse() error {
	for r.pos < r.w {
		if !r.authed && len(r.cmds) > 0 {
			return nil
		}
		if r.multibulk == 0 {
			var done bool
			var err error
			if r.buf[r.pos] == '*' {
				done, err = r.multibulkCount()
			} else {
				done, err = r.inline()
			}
			if err != nil || !done {
				return err
			}
			if r.multibulk == 0 {
				continue // inline request, or an empty multibulk
			}
		}
		for r.multibulk > 0 {
			if r.bulk < 0 {
				done, err := r.bulkCount()
				if err != nil || !done {
					return err
				}
			}
			if r.w-r.pos < r.bulk+2 {
				return nil
			}
			// Redis skips the two bytes after the data unchecked.
			r.spans = append(r.spans, span{r.pos - r.cmd, r.bulk})
			r.pos += r.bulk + 2
			r.bulk = -1
			r.multibulk--
		}
		r.cmds = append(r.cmds, cmdRef{r.cmd, r.from, len(r.spans)})
		r.from = len(r.spans)
		r.cmd = r.pos
	}
	return nil
}

// findLine finds the terminator c of the line at pos as Redis's strchr
// does: the search stops at a NUL byte. ok is false when the line is not
// complete yet.
func (r *reader) findLine(c byte) (i int, ok bool) {
	if r.nul {
		return 0, false
	}
	if r.scan < r.pos {
		r.scan = r.pos
	}
	b := r.buf[r.scan:r.w]
	j := bytes.IndexByte(b, c)
	if j >= 0 {
		b = b[:j]
	}
	if k := bytes.IndexByte(b, 0); k >= 0 {
		r.nul = true
		return 0, false
	}
	if j < 0 {
		r.scan = r.w
		return 0, false
	}
	r.scan += j
	return r.scan, true
}

// nextLine resets the line search for the line starting at pos.
func (r *reader) nextLine() {
	r.scan = r.pos
	r.nul = false
}

// tooBig reports whether more bytes than Redis tolerates are buffered
// without a line terminator.
func (r *reader) tooBig() bool { return r.w-r.pos > protoInlineMaxSize }

// multibulkCount reads "*<count>\r\n" at pos.
func (r *reader) multibulkCount() (bool, error) {
	nl, ok := r.findLine('\r')
	if !ok {
		if r.tooBig() {
			return false, &protoError{"too big mbulk count string"}
		}
		return false, nil
	}
	if nl+1 >= r.w { // the byte after '\r' has not arrived
		return false, nil
	}
	n, ok := string2ll(r.buf[r.pos+1 : nl])
	if !ok || n > maxMultibulkLen {
		return false, &protoError{"invalid multibulk length"}
	}
	if n > unauthMaxMultibulkLen && !r.authed {
		return false, &protoError{"unauthenticated multibulk length"}
	}
	r.pos = nl + 2 // Redis does not check that '\n' follows
	r.nextLine()
	if n <= 0 {
		r.cmd = r.pos
		return true, nil
	}
	r.multibulk = int(n)
	r.bulk = -1
	r.from = len(r.spans)
	return true, nil
}

// bulkCount reads "$<len>\r\n" at pos.
func (r *reader) bulkCount() (bool, error) {
	nl, ok := r.findLine('\r')
	if !ok {
		if r.tooBig() {
			return false, &protoError{"too big bulk count string"}
		}
		return false, nil
	}
	if nl+1 >= r.w {
		return false, nil
	}
	if c := r.buf[r.pos]; c != '$' {
		// Redis's error replies turn CR and LF into spaces.
		if c == '\r' || c == '\n' {
			c = ' '
		}
		return false, &protoError{"expected '$', got '" + string([]byte{c}) + "'"}
	}
	n, ok := string2ll(r.buf[r.pos+1 : nl])
	if !ok || n < 0 || n > r.maxBulk {
		return false, &protoError{"invalid bulk length"}
	}
	if n > unauthMaxBulkLen && !r.authed {
		return false, &protoError{"unauthenticated bulk length"}
	}
	r.pos = nl + 2
	r.nextLine()
	r.bulk = int(n)
	return true, nil
}

// inline reads an inline request: a line up to '\n', split into arguments
// as sdssplitargs does.
func (r *reader) inline() (bool, error) {
	nl, ok := r.findLine('\n')
	if !ok {
		if r.tooBig() {
			return false, &protoError{"too big inline request"}
		}
		return false, nil
	}
	end := nl
	if end > r.pos && r.buf[end-1] == '\r' {
		end--
	}
	first := len(r.spans)
	if !r.splitArgs(r.buf[r.pos:end]) {
		r.spans = r.spans[:first]
		return false, &protoError{"unbalanced quotes in request"}
	}
	if len(r.spans) > first {
		r.cmds = append(r.cmds, cmdRef{r.cmd, first, len(r.spans)})
		r.from = len(r.spans)
	}
	r.pos = nl + 1
	r.cmd = r.pos
	r.nextLine()
	return true, nil
}

// splitArgs splits an inline request line (which holds no NUL and no '\n')
// into arguments like Redis's sdssplitargs, appending their spans. It
// unescapes in place: an argument is never longer than its source text.
// It reports false for unbalanced quotes.
func (r *reader) splitArgs(line []byte) bool {
	n := len(line)
	at := func(i int) byte { // the C string's view: NUL past the end
		if i < n {
			return line[i]
		}
		return 0
	}
	p, w := 0, 0
	for {
		for p < n && isSpace(line[p]) {
			p++
		}
		if p == n {
			return true
		}
		start := w
		inq, insq := false, false
		for done := false; !done; {
			c := at(p)
			switch {
			case inq:
				switch {
				case c == '\\' && at(p+1) == 'x' && isHexDigit(at(p+2)) && isHexDigit(at(p+3)):
					line[w] = hexDigitValue(at(p+2))<<4 | hexDigitValue(at(p+3))
					w++
					p += 3
				case c == '\\' && at(p+1) != 0:
					p++
					switch e := line[p]; e {
					case 'n':
						line[w] = '\n'
					case 'r':
						line[w] = '\r'
					case 't':
						line[w] = '\t'
					case 'b':
						line[w] = '\b'
					case 'a':
						line[w] = '\a'
					default:
						line[w] = e
					}
					w++
				case c == '"':
					// A closing quote must be followed by a space or the end.
					if nx := at(p + 1); nx != 0 && !isSpace(nx) {
						return false
					}
					done = true
				case c == 0:
					return false // unterminated quotes
				default:
					line[w] = c
					w++
				}
			case insq:
				switch {
				case c == '\\' && at(p+1) == '\'':
					p++
					line[w] = '\''
					w++
				case c == '\'':
					if nx := at(p + 1); nx != 0 && !isSpace(nx) {
						return false
					}
					done = true
				case c == 0:
					return false
				default:
					line[w] = c
					w++
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
					line[w] = c
					w++
				}
			}
			if p < n {
				p++
			}
		}
		r.spans = append(r.spans, span{start, w - start})
	}
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func hexDigitValue(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// string2ll is Redis's string2ll: a decimal int64 with an optional '-',
// no '+', no leading zeros, no spaces, fewer than 21 bytes.
func string2ll(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) >= 21 {
		return 0, false
	}
	if len(s) == 1 && s[0] == '0' {
		return 0, true
	}
	neg := false
	if s[0] == '-' {
		neg = true
		s = s[1:]
		if len(s) == 0 {
			return 0, false
		}
	}
	if s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > math.MaxUint64/10 {
			return 0, false
		}
		v *= 10
		if v > math.MaxUint64-uint64(c-'0') {
			return 0, false
		}
		v += uint64(c - '0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return int64(-v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}
