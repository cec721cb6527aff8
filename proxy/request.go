package proxy

import "io"

// Limits of the request parser, as Redis's.
const (
	maxInline    = 64 * 1024 // PROTO_INLINE_MAX_SIZE
	maxBulkLen   = 512 << 20 // proto-max-bulk-len
	maxMultibulk = 1<<31 - 1 // INT_MAX
	readChunk    = 16 * 1024 // the least free space a read is offered
	shrinkAbove  = 1 << 20   // an idle buffer larger than this is replaced
	initBufSize  = 16 * 1024 // a reader's first buffer
	maxArgsKept  = 4096      // args slice capacity kept between batches
	maxReqsKept  = 1024      // requests slice capacity kept between batches
	maxBatchSize = 1024      // commands returned by one readBatch at most
	maxBatchByte = 4 << 20   // bytes of commands returned by one readBatch at most (soft)
)

// protoError is a malformed request: the client gets
// "-ERR Protocol error: <msg>" and the connection closes, as in Redis.
type protoError struct{ msg string }

func (e *protoError) Error() string { return "ERR Protocol error: " + e.msg }

// request is one parsed command. args alias the reader's buffer and stay
// valid until the next readBatch; raw is the command's exact multibulk
// encoding (nil for an inline command, which is re-encoded to forward).
type request struct {
	args [][]byte
	raw  []byte
}

// reqReader parses pipelined client requests (multibulk and inline).
type reqReader struct {
	rd   io.Reader
	buf  []byte
	r, w int // unparsed bytes are buf[r:w]
	need int // parse again only once w reaches this (a bulk still arriving)
	args [][]byte
	reqs []request
	rerr error
}

func newReqReader(rd io.Reader) *reqReader {
	return &reqReader{rd: rd, buf: make([]byte, initBufSize)}
}

// readBatch returns the complete commands buffered (at least one, reading
// as needed; at most maxBatchSize). On a protocol error it returns the
// commands before it and a *protoError; a read error is returned once the
// commands before it have been.
func (rr *reqReader) readBatch() ([]request, error) {
	rr.compact()
	for {
		if rr.w >= rr.need {
			reqs, err := rr.parse()
			if len(reqs) > 0 || err != nil {
				return reqs, err
			}
		}
		if rr.rerr != nil {
			return nil, rr.rerr
		}
		rr.fill()
	}
}

// compact forgets the previous batch: unparsed bytes move to the front and a
// large idle buffer shrinks.
func (rr *reqReader) compact() {
	clear(rr.args)
	rr.args = rr.args[:0]
	if cap(rr.args) > maxArgsKept {
		rr.args = nil
	}
	clear(rr.reqs)
	rr.reqs = rr.reqs[:0]
	if cap(rr.reqs) > maxReqsKept {
		rr.reqs = nil
	}
	live := rr.w - rr.r
	if len(rr.buf) > shrinkAbove && live < initBufSize {
		nb := make([]byte, initBufSize)
		copy(nb, rr.buf[rr.r:rr.w])
		rr.buf = nb
	} else if rr.r > 0 {
		copy(rr.buf, rr.buf[rr.r:rr.w])
	}
	rr.need -= rr.r
	rr.r, rr.w = 0, live
}

// fill reads once, growing the buffer when less than readChunk is free.
func (rr *reqReader) fill() {
	if len(rr.buf)-rr.w < readChunk {
		if rr.r > 0 {
			copy(rr.buf, rr.buf[rr.r:rr.w])
			rr.need -= rr.r
			rr.w -= rr.r
			rr.r = 0
		}
		if len(rr.buf)-rr.w < readChunk {
			size := 2 * len(rr.buf)
			if rr.need > size {
				size = rr.need + readChunk
			}
			nb := make([]byte, size)
			copy(nb, rr.buf[:rr.w])
			rr.buf = nb
		}
	}
	n, err := rr.rd.Read(rr.buf[rr.w:])
	if n > 0 {
		rr.w += n
	}
	if err != nil {
		rr.rerr = err
	} else if n == 0 {
		rr.rerr = io.ErrNoProgress
	}
}

// parse parses complete commands from buf[r:w].
func (rr *reqReader) parse() ([]request, error) {
	rr.need = 0
	batchStart := rr.r
	for rr.r < rr.w && len(rr.reqs) < maxBatchSize && rr.r-batchStart < maxBatchByte {
		var (
			end int
			ok  bool
			err error
		)
		first := len(rr.args)
		if rr.buf[rr.r] == '*' {
			end, ok, err = rr.multibulk(rr.r)
		} else {
			end, ok, err = rr.inline(rr.r)
		}
		if err != nil {
			rr.args = rr.args[:first]
			return rr.reqs, err
		}
		if !ok {
			rr.args = rr.args[:first]
			break
		}
		if len(rr.args) > first {
			req := request{args: rr.args[first:len(rr.args):len(rr.args)]}
			if rr.buf[rr.r] == '*' {
				req.raw = rr.buf[rr.r:end:end]
			}
			rr.reqs = append(rr.reqs, req)
		}
		rr.r = end
	}
	return rr.reqs, nil
}

// multibulk parses "*<n>\r\n" and n bulks at i, appending the arguments.
// Arguments appended before a growth of rr.args stay valid: they alias buf.
func (rr *reqReader) multibulk(i int) (int, bool, error) {
	nl, ok := lineEnd(rr.buf[:rr.w], i+1)
	if !ok {
		if rr.w-i > maxInline {
			return 0, false, &protoError{"too big mbulk count string"}
		}
		return 0, false, nil
	}
	n, ok := parseInt(rr.buf[i+1 : nl])
	if !ok || n > maxMultibulk {
		return 0, false, &protoError{"invalid multibulk length"}
	}
	pos := nl + 2
	for k := int64(0); k < n; k++ {
		if pos >= rr.w {
			return 0, false, nil
		}
		nl, ok := lineEnd(rr.buf[:rr.w], pos+1)
		if !ok {
			if rr.w-pos > maxInline {
				return 0, false, &protoError{"too big bulk count string"}
			}
			return 0, false, nil
		}
		if rr.buf[pos] != '$' {
			c := rr.buf[pos]
			if c == '\r' || c == '\n' {
				c = ' '
			}
			return 0, false, &protoError{"expected '$', got '" + string(c) + "'"}
		}
		m, ok := parseInt(rr.buf[pos+1 : nl])
		if !ok || m < 0 || m > maxBulkLen {
			return 0, false, &protoError{"invalid bulk length"}
		}
		start := nl + 2
		end := start + int(m)
		if end+2 > rr.w {
			rr.need = end + 2
			return 0, false, nil
		}
		rr.args = append(rr.args, rr.buf[start:end:end])
		pos = end + 2
	}
	return pos, true, nil
}

// inline parses an inline command: a line split on spaces and tabs (quotes
// are not interpreted).
func (rr *reqReader) inline(i int) (int, bool, error) {
	j := i
	for j < rr.w && rr.buf[j] != '\n' {
		j++
	}
	if j == rr.w {
		if rr.w-i > maxInline {
			return 0, false, &protoError{"too big inline request"}
		}
		return 0, false, nil
	}
	line := rr.buf[i:j]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	for k := 0; k < len(line); {
		for k < len(line) && isSpace(line[k]) {
			k++
		}
		s := k
		for k < len(line) && !isSpace(line[k]) {
			k++
		}
		if k > s {
			rr.args = append(rr.args, line[s:k:k])
		}
	}
	return j + 1, true, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}
