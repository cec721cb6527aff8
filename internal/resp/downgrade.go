package resp

import (
	"bytes"
	"errors"
	"strconv"
)

// ErrMalformed is returned by Downgrade and Next for input that is not one
// complete, well-formed reply.
var ErrMalformed = errors.New("resp: malformed reply")

// NeedsDowngrade reports whether the encoded reply r contains RESP3-only types.
// Replies that start with +, -, :, or $ never do, which makes the common case a
// single byte comparison.
func NeedsDowngrade(r []byte) bool {
	if len(r) == 0 {
		return false
	}
	switch r[0] {
	case '+', '-', ':', '$':
		return false
	}
	return true
}

// Downgrade appends the RESP2 form of the RESP3 replies in src to dst: nulls
// become null bulks, maps become flat arrays, sets and pushes become arrays,
// doubles and big numbers become bulk strings, booleans become 1 or 0 and
// verbatim strings become bulk strings without their format prefix.
func Downgrade(dst, src []byte) ([]byte, error) {
	for len(src) > 0 {
		var err error
		dst, src, err = downgradeOne(dst, src)
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func readLine(src []byte) (line, rest []byte, err error) {
	i := bytes.Index(src, []byte("\r\n"))
	if i < 0 {
		return nil, nil, ErrMalformed
	}
	return src[:i], src[i+2:], nil
}

func downgradeOne(dst, src []byte) ([]byte, []byte, error) {
	if len(src) == 0 {
		return dst, src, ErrMalformed
	}
	t := src[0]
	line, rest, err := readLine(src[1:])
	if err != nil {
		return dst, src, err
	}
	switch t {
	case '+', '-', ':':
		dst = append(dst, src[:len(line)+3]...)
		return dst, rest, nil
	case '_':
		return append(dst, NullBulk2...), rest, nil
	case '#':
		if len(line) == 1 && line[0] == 't' {
			return append(dst, One...), rest, nil
		}
		return append(dst, Zero...), rest, nil
	case ',', '(':
		return AppendBulk(dst, line), rest, nil
	case '$', '=', '!':
		n, err := strconv.Atoi(string(line))
		if err != nil {
			return dst, src, ErrMalformed
		}
		if n < 0 {
			return append(dst, NullBulk2...), rest, nil
		}
		// n > len(rest)-2, not len(rest) < n+2: n+2 may overflow.
		if n > len(rest)-2 || rest[n] != '\r' || rest[n+1] != '\n' {
			return dst, src, ErrMalformed
		}
		body := rest[:n]
		if t == '=' && n >= 4 {
			body = body[4:]
		}
		if t == '!' {
			// A simple error cannot hold CR or LF: replace them with
			// spaces, as Redis does for error messages.
			start := len(dst)
			dst = AppendError(dst, string(body))
			for i := start + 1; i < len(dst)-2; i++ {
				if dst[i] == '\r' || dst[i] == '\n' {
					dst[i] = ' '
				}
			}
		} else {
			dst = AppendBulk(dst, body)
		}
		return dst, rest[n+2:], nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(string(line))
		if err != nil {
			return dst, src, ErrMalformed
		}
		if n < 0 {
			return append(dst, NullArr2...), rest, nil
		}
		if n > len(rest) {
			// Every element takes at least 3 bytes: this also keeps 2*n
			// from overflowing.
			return dst, src, ErrMalformed
		}
		elems := n
		if t == '%' || t == '|' {
			elems = 2 * n
		}
		if t != '|' {
			dst = AppendArray(dst, elems)
		}
		for i := 0; i < elems; i++ {
			if t == '|' {
				// Attributes are dropped in RESP2; skip them.
				var skip []byte
				skip, rest, err = downgradeOne(nil, rest)
				_ = skip
			} else {
				dst, rest, err = downgradeOne(dst, rest)
			}
			if err != nil {
				return dst, src, err
			}
		}
		if t == '|' {
			// The attribute is followed by the real reply.
			return downgradeOne(dst, rest)
		}
		return dst, rest, nil
	}
	return dst, src, ErrMalformed
}

// DowngradeFlatPairs is Downgrade for a reply that is an array of
// two-element arrays (RESP3's [member, score] pairs), which RESP2 has as
// one flat array of 2n elements (ZPOPMIN with a count). Any other reply is
// downgraded as Downgrade does.
func DowngradeFlatPairs(dst, src []byte) ([]byte, error) {
	if len(src) == 0 || src[0] != '*' {
		return Downgrade(dst, src)
	}
	line, rest, err := readLine(src[1:])
	if err != nil {
		return dst, err
	}
	n, err := strconv.Atoi(string(line))
	if err != nil || n <= 0 {
		return Downgrade(dst, src)
	}
	// Check the shape first: every element a two-element array.
	p := rest
	for i := 0; i < n; i++ {
		if !bytes.HasPrefix(p, []byte("*2\r\n")) {
			return Downgrade(dst, src)
		}
		p = p[4:]
		for k := 0; k < 2; k++ {
			if _, p, err = downgradeOne(nil, p); err != nil {
				return dst, err
			}
		}
	}
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(2*n), 10)
	dst = append(dst, '\r', '\n')
	p = rest
	for i := 0; i < n; i++ {
		p = p[4:]
		for k := 0; k < 2; k++ {
			if dst, p, err = downgradeOne(dst, p); err != nil {
				return dst, err
			}
		}
	}
	return dst, nil
}
