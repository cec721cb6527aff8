// Command netloop is an experiment (issue 9, point 3): it serves GET, SET and
// PING from a shoal shard.Store through Shoal's real command table, behind
// one of several network layers (-engine goroutine|gnet|evio), so that the
// network layer is the only thing that differs between runs. The RESP
// parser and the execution path (exec.go) are the same code for every
// engine. bench/netloop/run.sh benchmarks the engines side by side with
// redis-server and `shoal server`; README.md has the results.
//
// It is a separate Go module so that Shoal's go.mod gains no dependency for
// an experiment.
package main

import (
	"errors"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/shard"
)

// Parse errors. A malformed request gets "-ERR Protocol error: ..." and the
// connection closes, as in Redis.
var (
	errProto    = errors.New("Protocol error: expected '*' (only multibulk requests are supported)")
	errBadCount = errors.New("Protocol error: invalid multibulk length")
	errBadBulk  = errors.New("Protocol error: invalid bulk length")
	errBadByte  = errors.New("Protocol error: expected '$'")
)

// maxArgs and maxBulk bound one request, so that a bad client cannot make
// the parser allocate without limit.
const (
	maxArgs = 1 << 20
	maxBulk = 512 << 20
)

// parseInt parses a decimal line ending at the first '\r' of b: the value,
// the bytes consumed including "\r\n", ok=false if the line is incomplete,
// and an error if it is not a number.
func parseInt(b []byte) (v int, n int, complete bool, bad bool) {
	neg := false
	i := 0
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	start := i
	for ; i < len(b); i++ {
		c := b[i]
		if c == '\r' {
			if i+1 >= len(b) {
				return 0, 0, false, false
			}
			if b[i+1] != '\n' || i == start {
				return 0, 0, true, true
			}
			if neg {
				v = -v
			}
			return v, i + 2, true, false
		}
		if c < '0' || c > '9' || i-start > 10 {
			return 0, 0, true, true
		}
		v = v*10 + int(c-'0')
	}
	return 0, 0, false, false
}

// parseCommand parses one complete multibulk request at the start of b. It
// returns the arguments (slices of b, appended to args[:0]) and the bytes
// consumed; n == 0 with a nil error means the request is not complete yet.
func parseCommand(b []byte, args [][]byte) ([][]byte, int, error) {
	args = args[:0]
	if len(b) == 0 {
		return args, 0, nil
	}
	if b[0] != '*' {
		return args, 0, errProto
	}
	count, n, complete, bad := parseInt(b[1:])
	if bad || (complete && (count < 0 || count > maxArgs)) {
		return args, 0, errBadCount
	}
	if !complete {
		return args, 0, nil
	}
	pos := 1 + n
	for i := 0; i < count; i++ {
		if pos >= len(b) {
			return args, 0, nil
		}
		if b[pos] != '$' {
			return args, 0, errBadByte
		}
		l, n, complete, bad := parseInt(b[pos+1:])
		if bad || (complete && (l < 0 || l > maxBulk)) {
			return args, 0, errBadBulk
		}
		if !complete {
			return args, 0, nil
		}
		pos += 1 + n
		if len(b)-pos < l+2 {
			return args, 0, nil
		}
		if b[pos+l] != '\r' || b[pos+l+1] != '\n' {
			return args, 0, errBadBulk
		}
		args = append(args, b[pos:pos+l:pos+l])
		pos += l + 2
	}
	return args, pos, nil
}

// Canned replies of the commands answered outside the command table.
var (
	replyPong  = []byte("+PONG\r\n")
	replyOK    = []byte("+OK\r\n")
	replyEmpty = []byte("*0\r\n")
)

// kind classifies a request for the engines that hand writes off
// (-handoff).
type kind uint8

const (
	kindRead kind = iota
	kindWrite
)

// requestKind reports whether args is a write of the command table.
func requestKind(args [][]byte) kind {
	if c := command.Lookup(args[0]); c != nil && c.Kind == command.KindWrite {
		return kindWrite
	}
	return kindRead
}

// execOne runs one request and appends its reply to out. Reads run under
// the store's RLock, writes under its Lock, exactly as `shoal server` runs
// them on a connection goroutine and in its FSM, minus Raft. It is called
// by every engine, on its connection goroutine or event loop.
func execOne(st *shard.Store, now int64, args [][]byte, out []byte) []byte {
	name := args[0]
	switch {
	case eqFold(name, "ping"):
		if len(args) == 2 {
			return appendBulk(out, args[1])
		}
		return append(out, replyPong...)
	case eqFold(name, "command"):
		return append(out, replyEmpty...)
	case eqFold(name, "config"):
		if len(args) >= 2 && eqFold(args[1], "get") {
			return append(out, replyEmpty...)
		}
		return append(out, replyOK...)
	}
	c := command.Lookup(name)
	if c == nil || c.Kind == command.KindLocal {
		return append(out, "-ERR unknown command\r\n"...)
	}
	if !c.ArityOK(len(args)) {
		return append(out, "-ERR wrong number of arguments\r\n"...)
	}
	x := command.Ctx{St: st, Now: now, Proto: 2, Out: out}
	if c.Kind == command.KindRead {
		st.RLock()
		c.Run(&x, args)
		st.RUnlock()
	} else {
		st.Lock()
		c.Run(&x, args)
		st.Unlock()
	}
	return x.Out
}

// process parses every complete request in in, runs each and appends the
// replies to out. It returns the bytes consumed, the replies, the argument
// slice for reuse, and whether the connection must close after writing out
// (a protocol error, or QUIT).
func process(st *shard.Store, in, out []byte, args [][]byte) (int, []byte, [][]byte, bool) {
	consumed := 0
	now := time.Now().UnixMilli()
	for consumed < len(in) {
		var n int
		var err error
		args, n, err = parseCommand(in[consumed:], args)
		if err != nil {
			out = append(out, "-ERR "...)
			out = append(out, err.Error()...)
			out = append(out, "\r\n"...)
			return consumed, out, args, true
		}
		if n == 0 {
			break
		}
		consumed += n
		if len(args) == 0 {
			continue
		}
		if eqFold(args[0], "quit") {
			return consumed, append(out, replyOK...), args, true
		}
		out = execOne(st, now, args, out)
	}
	return consumed, out, args, false
}

func eqFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func appendBulk(out, b []byte) []byte {
	out = append(out, '$')
	out = appendUint(out, len(b))
	out = append(out, "\r\n"...)
	out = append(out, b...)
	return append(out, "\r\n"...)
}

func appendUint(out []byte, n int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(out, tmp[i:]...)
}
