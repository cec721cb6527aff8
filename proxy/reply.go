package proxy

// maxReplyDepth bounds the nesting of a backend reply.
const maxReplyDepth = 64

// replyEnd returns the end of the one complete reply (with any RESP3
// attribute before it) that starts at b[i], or ok=false when b does not hold
// all of it yet. It does not allocate.
func replyEnd(b []byte, i int) (end int, ok bool, err error) {
	return replyEndDepth(b, i, 0)
}

func replyEndDepth(b []byte, i, depth int) (int, bool, error) {
	if depth > maxReplyDepth {
		return 0, false, errBadReply
	}
	if i >= len(b) {
		return 0, false, nil
	}
	t := b[i]
	nl, ok := lineEnd(b, i+1)
	if !ok {
		return 0, false, nil
	}
	line := b[i+1 : nl]
	next := nl + 2
	switch t {
	case '+', '-', ':', '_', '#', ',', '(':
		return next, true, nil
	case '$', '!', '=':
		n, ok := parseLen(line)
		if !ok {
			return 0, false, errBadReply
		}
		if n < 0 {
			return next, true, nil
		}
		if len(b)-next < n+2 {
			return 0, false, nil
		}
		return next + n + 2, true, nil
	case '*', '~', '>', '%', '|':
		n, ok := parseLen(line)
		if !ok {
			return 0, false, errBadReply
		}
		if t == '%' || t == '|' {
			n *= 2
		}
		pos := next
		for k := 0; k < n; k++ {
			e, ok, err := replyEndDepth(b, pos, depth+1)
			if err != nil || !ok {
				return 0, ok, err
			}
			pos = e
		}
		if t == '|' {
			// An attribute is followed by the reply it describes.
			return replyEndDepth(b, pos, depth+1)
		}
		return pos, true, nil
	}
	return 0, false, errBadReply
}

// lineEnd returns the index of the "\r\n" that ends the line starting at i.
func lineEnd(b []byte, i int) (int, bool) {
	for j := i; j+1 < len(b); j++ {
		if b[j] == '\r' {
			if b[j+1] != '\n' {
				return 0, false
			}
			return j, true
		}
	}
	return 0, false
}

// parseLen parses a length line: a decimal number or -1. A length too
// large to be real is refused.
func parseLen(b []byte) (int, bool) {
	if len(b) == 2 && b[0] == '-' && b[1] == '1' {
		return -1, true
	}
	n, ok := parseUint(b)
	if !ok || n > 1<<40 {
		return 0, false
	}
	return int(n), true
}

// parseUint parses a non-negative decimal number of at most 19 digits.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// parseInt parses a decimal int64 with an optional '-'.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	n, ok := parseUint(b)
	if !ok || n > 1<<63-1 {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// isRedirect classifies an error reply that the proxy handles itself.
type replyClass uint8

const (
	replyFinal     replyClass = iota // give it to the client
	replyMoved                       // -MOVED slot host:port
	replyAsk                         // -ASK slot host:port
	replyTransient                   // TRYAGAIN, CLUSTERDOWN, TIMEOUT, shutting down: retry later
)

// classify tells which replies the proxy retries.
func classify(r []byte) replyClass {
	if len(r) < 4 || r[0] != '-' {
		return replyFinal
	}
	switch {
	case hasPrefix(r, "-MOVED "):
		return replyMoved
	case hasPrefix(r, "-ASK "):
		return replyAsk
	case hasPrefix(r, "-TRYAGAIN"), hasPrefix(r, "-CLUSTERDOWN"), hasPrefix(r, "-TIMEOUT"),
		hasPrefix(r, "-LOADING"), hasPrefix(r, "-ERR server is shutting down"):
		return replyTransient
	}
	return replyFinal
}

func hasPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == p
}

// redirectAddr returns the host:port of a MOVED or ASK reply.
func redirectAddr(r []byte) (slot int, addr string, ok bool) {
	// -MOVED 3999 127.0.0.1:6381\r\n
	sp := indexByte(r, ' ')
	if sp < 0 {
		return 0, "", false
	}
	rest := r[sp+1:]
	sp2 := indexByte(rest, ' ')
	if sp2 < 0 {
		return 0, "", false
	}
	n, ok := parseUint(rest[:sp2])
	if !ok || n >= numSlots {
		return 0, "", false
	}
	a := rest[sp2+1:]
	for len(a) > 0 && (a[len(a)-1] == '\n' || a[len(a)-1] == '\r') {
		a = a[:len(a)-1]
	}
	if len(a) == 0 {
		return 0, "", false
	}
	return int(n), string(a), true
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
