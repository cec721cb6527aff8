package respclient

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

const (
	// maxBulk bounds a bulk string (Redis's proto-max-bulk-len default).
	maxBulk = 512 << 20
	// maxDepth bounds the nesting of aggregates.
	maxDepth = 64
	// maxPrealloc bounds the capacity reserved from a declared aggregate
	// length before its elements have arrived.
	maxPrealloc = 1024
)

// ErrProtocol is wrapped by errors for replies that are not valid RESP.
var ErrProtocol = errors.New("respclient: protocol error")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// Read parses one reply from r, including out-of-band pushes (KindPush);
// an attribute before a reply is returned in its Attr. It is what Do uses
// after sending a command, and is exported for callers that read from a
// stream of replies themselves.
func Read(r *bufio.Reader) (Value, error) { return readValue(r, 0) }

// ReadRaw is Read that also keeps the exact bytes of the reply: the Raw of
// the returned value holds its whole encoding (with an attribute that
// preceded it), and the Raw of each nested value its own. Tests comparing
// servers byte for byte and generators copying replies use it.
func ReadRaw(r *bufio.Reader) (Value, error) {
	d := &decoder{r: r, keep: true}
	return d.value(0)
}

// Parse parses the reply at the start of b (bytes after it are ignored)
// as ReadRaw does.
func Parse(b []byte) (Value, error) {
	return ReadRaw(bufio.NewReader(bytes.NewReader(b)))
}

func readValue(r *bufio.Reader, depth int) (Value, error) {
	d := &decoder{r: r}
	return d.value(depth)
}

// decoder reads values from r; with keep, it records the bytes it
// consumed in raw and hands each value its share.
type decoder struct {
	r    *bufio.Reader
	keep bool
	raw  []byte
}

func (d *decoder) value(depth int) (Value, error) {
	start := len(d.raw)
	v, err := d.parse(depth)
	if err == nil && d.keep {
		v.Raw = d.raw[start:len(d.raw):len(d.raw)]
	}
	return v, err
}

func (d *decoder) parse(depth int) (Value, error) {
	start := len(d.raw)
	if depth > maxDepth {
		return Value{}, protoErr("nesting deeper than %d", maxDepth)
	}
	line, err := d.readLine()
	if err != nil {
		if depth > 0 && errors.Is(err, io.EOF) {
			return Value{}, io.ErrUnexpectedEOF
		}
		return Value{}, err
	}
	if len(line) == 0 {
		return Value{}, protoErr("empty line")
	}
	kind, rest := line[0], string(line[1:])
	switch kind {
	case KindSimple, KindError, KindBigNumber:
		return Value{Kind: kind, Str: rest}, nil
	case KindDouble:
		if _, err := strconv.ParseFloat(rest, 64); err != nil && rest != "inf" && rest != "-inf" && rest != "nan" {
			return Value{}, protoErr("bad double %q", rest)
		}
		return Value{Kind: kind, Str: rest}, nil
	case KindInt:
		n, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return Value{}, protoErr("bad integer %q", rest)
		}
		return Value{Kind: kind, Int: n}, nil
	case KindNull:
		return Value{Kind: KindNull}, nil
	case KindBool:
		switch rest {
		case "t":
			return Value{Kind: kind, Int: 1}, nil
		case "f":
			return Value{Kind: kind, Int: 0}, nil
		}
		return Value{}, protoErr("bad boolean %q", rest)
	case KindBulk, KindBlobError, KindVerbatim:
		return d.readBulk(kind, rest)
	case KindArray, KindSet, KindPush:
		n, err := length(rest)
		if err != nil {
			return Value{}, err
		}
		if n < 0 {
			if kind != KindArray {
				return Value{}, protoErr("negative length %d", n)
			}
			return Value{Kind: KindNull}, nil
		}
		v := Value{Kind: kind, Array: make([]Value, 0, min(n, maxPrealloc))}
		for i := 0; i < n; i++ {
			e, err := d.value(depth + 1)
			if err != nil {
				return Value{}, err
			}
			v.Array = append(v.Array, e)
		}
		return v, nil
	case KindMap, '|':
		n, err := length(rest)
		if err != nil {
			return Value{}, err
		}
		if n < 0 {
			return Value{}, protoErr("negative length %d", n)
		}
		v := Value{Kind: KindMap, Map: make([]KV, 0, min(n, maxPrealloc))}
		for i := 0; i < n; i++ {
			k, err := d.value(depth + 1)
			if err != nil {
				return Value{}, err
			}
			e, err := d.value(depth + 1)
			if err != nil {
				return Value{}, err
			}
			v.Map = append(v.Map, KV{Key: k, Value: e})
		}
		if kind == '|' {
			// An attribute describes the reply that follows it.
			if d.keep {
				v.Raw = d.raw[start:len(d.raw):len(d.raw)]
			}
			next, err := d.value(depth)
			if err != nil {
				return Value{}, err
			}
			next.Attr = &v
			return next, nil
		}
		return v, nil
	}
	return Value{}, protoErr("unknown type byte %q", kind)
}

func (d *decoder) readBulk(kind byte, header string) (Value, error) {
	n, err := length(header)
	if err != nil {
		return Value{}, err
	}
	if n < 0 {
		if kind != KindBulk {
			return Value{}, protoErr("negative length %d", n)
		}
		return Value{Kind: KindNull}, nil
	}
	if n > maxBulk {
		return Value{}, protoErr("bulk of %d bytes exceeds %d", n, maxBulk)
	}
	// Grow with the bytes that actually arrive rather than trusting the
	// declared length with one allocation.
	var buf bytes.Buffer
	buf.Grow(min(n+2, 64<<10))
	if _, err := io.CopyN(&buf, d.r, int64(n+2)); err != nil {
		return Value{}, unexpectedEOF(err)
	}
	b := buf.Bytes()
	if d.keep {
		d.raw = append(d.raw, b...)
	}
	if b[n] != '\r' || b[n+1] != '\n' {
		return Value{}, protoErr("bulk string not terminated by CRLF")
	}
	v := Value{Kind: kind, Str: string(b[:n])}
	if kind == KindVerbatim {
		if n < 4 || v.Str[3] != ':' {
			return Value{}, protoErr("verbatim string without format")
		}
		v.Format, v.Str = v.Str[:3], v.Str[4:]
	}
	return v, nil
}

// length parses an aggregate or bulk length; -1 means null.
func length(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < -1 {
		return 0, protoErr("bad length %q", s)
	}
	return n, nil
}

// readLine returns the next line without its CRLF.
func (d *decoder) readLine() ([]byte, error) {
	line, err := readLine(d.r)
	if err == nil && d.keep {
		d.raw = append(d.raw, line...)
		d.raw = append(d.raw, '\r', '\n')
	}
	return line, err
}

func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// Very long simple strings: collect the rest of the line.
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			if len(long) > maxBulk {
				return nil, protoErr("line longer than %d bytes", maxBulk)
			}
			line, err = r.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if err == io.EOF && len(line) == 0 {
		return nil, io.EOF
	}
	if err != nil {
		return nil, unexpectedEOF(err)
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, protoErr("line not terminated by CRLF")
	}
	return line[:len(line)-2], nil
}

// unexpectedEOF turns an EOF in the middle of a reply into
// io.ErrUnexpectedEOF; a clean EOF before a reply stays io.EOF.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
