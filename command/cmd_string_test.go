package command

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/shoalcache/shoal/shard"
)

// strT0 is the fixed clock (ms) of the string command tests.
const strT0 = int64(1_700_000_000_000)

// strExec runs one command against st at time now as the server would: writes
// as in the FSM (RESP3), reads as on a RESP2 connection. It returns the raw
// reply.
func strExec(t *testing.T, st *shard.Store, now int64, args ...string) string {
	t.Helper()
	argv := make([][]byte, len(args))
	for i, a := range args {
		argv[i] = []byte(a)
	}
	cmd := Lookup(argv[0])
	if cmd == nil {
		t.Fatalf("unknown command %q", args[0])
	}
	if !cmd.ArityOK(len(argv)) {
		return "-" + ErrWrongArgs(cmd.Name) + "\r\n"
	}
	switch cmd.Kind {
	case KindWrite:
		x := Ctx{St: st, Now: now, Proto: 3, LFURand: 0.5}
		st.Lock()
		cmd.Run(&x, argv)
		st.Unlock()
		return string(x.Out)
	case KindRead:
		x := Ctx{St: st, Now: now, Proto: 2, LFURand: 0.5, Conn: struct{}{}, Rng: NewRand()}
		st.RLock()
		cmd.Run(&x, argv)
		st.RUnlock()
		return string(x.Out)
	}
	t.Fatalf("%s is not a string command", args[0])
	return ""
}

// strStep is one command of a script and its expected reply.
type strStep struct {
	cmd  string // arguments separated by '|'
	want string
	at   int64 // milliseconds after strT0
}

func runStrScript(t *testing.T, steps []strStep) {
	t.Helper()
	st := shard.New()
	for i, s := range steps {
		got := strExec(t, st, strT0+s.at, strings.Split(s.cmd, "|")...)
		if got != s.want {
			t.Errorf("step %d %q: got %q, want %q", i, s.cmd, got, s.want)
		}
	}
}

func TestStringCommands(t *testing.T) {
	const nil3 = "_\r\n"   // null inside the FSM (RESP3)
	const nil2 = "$-1\r\n" // null on a RESP2 read
	cases := []struct {
		name  string
		steps []strStep
	}{
		{"set options", []strStep{
			{cmd: "SET|k|v|EX|10|EX|20", want: "+OK\r\n"},
			{cmd: "GETEX|k", want: "$1\r\nv\r\n", at: 19_999},
			{cmd: "GET|k", want: nil2, at: 20_000},
			{cmd: "SET|k|v|EX|10|PX|10", want: "-ERR syntax error\r\n"},
			{cmd: "SET|k|v|KEEPTTL|PX|10", want: "-ERR syntax error\r\n"},
			{cmd: "SET|k|v|PERSIST", want: "-ERR syntax error\r\n"},
			{cmd: "SET|k|v|EX|0", want: "-ERR invalid expire time in 'set' command\r\n"},
			{cmd: "SET|k|v|EX|9223372036854775807", want: "-ERR invalid expire time in 'set' command\r\n"},
			{cmd: "SET|k|v|EX|abc", want: "-ERR value is not an integer or out of range\r\n"},
			{cmd: "SET|k|v|NX|GET", want: nil3, at: 20_000},
			{cmd: "SET|k|w|NX|GET", want: "$1\r\nv\r\n"},
			{cmd: "SET|k|w|XX|GET", want: "$1\r\nv\r\n"},
		}},
		{"setnx setex psetex", []strStep{
			{cmd: "SETNX|a|1", want: ":1\r\n"},
			{cmd: "SETNX|a|2", want: ":0\r\n"},
			{cmd: "SETEX|b|0|v", want: "-ERR invalid expire time in 'setex' command\r\n"},
			{cmd: "PSETEX|b|-5|v", want: "-ERR invalid expire time in 'psetex' command\r\n"},
			{cmd: "SETEX|b|10|v", want: "+OK\r\n"},
			{cmd: "PSETEX|c|10|v", want: "+OK\r\n"},
			{cmd: "GET|c", want: nil2, at: 10},
			{cmd: "GET|b", want: "$1\r\nv\r\n", at: 9_999},
		}},
		{"getset getdel", []strStep{
			{cmd: "GETSET|g|a", want: nil3},
			{cmd: "SET|g|b|EX|100", want: "+OK\r\n"},
			{cmd: "GETSET|g|c", want: "$1\r\nb\r\n"},
			{cmd: "GET|g", want: "$1\r\nc\r\n", at: 200_000},
			{cmd: "GETDEL|g", want: "$1\r\nc\r\n"},
			{cmd: "GETDEL|g", want: nil3},
		}},
		{"getex", []strStep{
			{cmd: "GETEX|nokey|EX|abc", want: nil3},
			{cmd: "GETEX|nokey|FOO", want: "-ERR syntax error\r\n"},
			{cmd: "SET|x|v", want: "+OK\r\n"},
			{cmd: "GETEX|x|EX|-1", want: "-ERR invalid expire time in 'getex' command\r\n"},
			{cmd: "GETEX|x|KEEPTTL", want: "-ERR syntax error\r\n"},
			{cmd: "GETEX|x|PX|100", want: "$1\r\nv\r\n"},
			{cmd: "GETEX|x|PERSIST", want: "$1\r\nv\r\n"},
			{cmd: "GET|x", want: "$1\r\nv\r\n", at: 1000},
			{cmd: "GETEX|x|EXAT|1", want: "$1\r\nv\r\n"},
			{cmd: "GET|x", want: nil2},
		}},
		{"mget mset msetnx", []strStep{
			{cmd: "MSET|a|1|b|2|a|3", want: "+OK\r\n"},
			{cmd: "MGET|a|b|c", want: "*3\r\n$1\r\n3\r\n$1\r\n2\r\n$-1\r\n"},
			{cmd: "MSET|a|1|b", want: "-ERR wrong number of arguments for 'mset' command\r\n"},
			{cmd: "MSETNX|c|1|a|2", want: ":0\r\n"},
			{cmd: "MSETNX|c|1|d|2", want: ":1\r\n"},
			{cmd: "MSETNX|e", want: "-ERR wrong number of arguments for 'msetnx' command\r\n"},
		}},
		{"append strlen", []strStep{
			{cmd: "APPEND|a|", want: ":0\r\n"},
			{cmd: "STRLEN|a", want: ":0\r\n"},
			{cmd: "APPEND|a|hello", want: ":5\r\n"},
			{cmd: "APPEND|a|\x00\xff", want: ":7\r\n"},
			{cmd: "STRLEN|a", want: ":7\r\n"},
		}},
		{"getrange", []strStep{
			{cmd: "SET|r|Hello World", want: "+OK\r\n"},
			{cmd: "GETRANGE|r|0|4", want: "$5\r\nHello\r\n"},
			{cmd: "GETRANGE|r|-5|-1", want: "$5\r\nWorld\r\n"},
			{cmd: "GETRANGE|r|-1|-5", want: "$0\r\n\r\n"},
			{cmd: "GETRANGE|r|-100|4", want: "$5\r\nHello\r\n"},
			{cmd: "GETRANGE|r|6|100", want: "$5\r\nWorld\r\n"},
			{cmd: "GETRANGE|r|-9223372036854775808|9223372036854775807", want: "$11\r\nHello World\r\n"},
			{cmd: "SUBSTR|r|0|1.5", want: "-ERR value is not an integer or out of range\r\n"},
			{cmd: "GETRANGE|nokey|0|-1", want: "$0\r\n\r\n"},
		}},
		{"setrange", []strStep{
			{cmd: "SETRANGE|s|0|", want: ":0\r\n"},
			{cmd: "STRLEN|s", want: ":0\r\n"},
			{cmd: "SETRANGE|s|3|ab", want: ":5\r\n"},
			{cmd: "GET|s", want: "$5\r\n\x00\x00\x00ab\r\n"},
			{cmd: "SETRANGE|s|1|Z", want: ":5\r\n"},
			{cmd: "SETRANGE|s|7|", want: ":5\r\n"},
			{cmd: "GET|s", want: "$5\r\n\x00Z\x00ab\r\n"},
			{cmd: "SETRANGE|s|-1|x", want: "-ERR offset is out of range\r\n"},
			{cmd: "SETRANGE|s|536870912|x", want: "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"},
			{cmd: "SETRANGE|s|9223372036854775807|x", want: "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"},
			{cmd: "SET|t|v|PX|100", want: "+OK\r\n"},
			{cmd: "SETRANGE|t|1|abc", want: ":4\r\n"},
			{cmd: "APPEND|t|d", want: ":5\r\n"},
			{cmd: "GET|t", want: "$5\r\nvabcd\r\n", at: 99},
			{cmd: "GET|t", want: nil2, at: 100},
		}},
		{"incr", []strStep{
			{cmd: "INCR|c", want: ":1\r\n"},
			{cmd: "INCRBY|c|-3", want: ":-2\r\n"},
			{cmd: "DECRBY|c|-9223372036854775808", want: "-ERR decrement would overflow\r\n"},
			{cmd: "INCRBY|c|+1", want: "-ERR value is not an integer or out of range\r\n"},
			{cmd: "SET|m|9223372036854775807", want: "+OK\r\n"},
			{cmd: "INCR|m", want: "-ERR increment or decrement would overflow\r\n"},
			{cmd: "SET|m|01", want: "+OK\r\n"},
			{cmd: "DECR|m", want: "-ERR value is not an integer or out of range\r\n"},
			{cmd: "SET|n|5|PX|100", want: "+OK\r\n"},
			{cmd: "INCRBY|n|995", want: ":1000\r\n"},
			{cmd: "INCRBYFLOAT|n|0.5", want: "$6\r\n1000.5\r\n"},
			{cmd: "GET|n", want: nil2, at: 100},
			{cmd: "INCRBYFLOAT|f|0x1p100", want: "$31\r\n1267650600228229401496703205376\r\n"},
			{cmd: "INCRBYFLOAT|f|inf", want: "-ERR increment would produce NaN or Infinity\r\n"},
			{cmd: "INCRBYFLOAT|f|nan", want: "-ERR value is not a valid float\r\n"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runStrScript(t, c.steps) })
	}
	t.Run("append creates empty key", func(t *testing.T) {
		st := shard.New()
		strExec(t, st, strT0, "APPEND", "a", "")
		if !st.Exists([]byte("a"), strT0) {
			t.Fatal("APPEND a \"\" did not create the key")
		}
	})
}

// TestAppendGrowsInPlace checks that APPEND reuses the value's spare capacity
// and keeps the memory accounting in step.
func TestAppendGrowsInPlace(t *testing.T) {
	st := shard.New()
	strExec(t, st, strT0, "SET", "k", "x")
	want := "x"
	for i := 0; i < 1000; i++ {
		strExec(t, st, strT0, "APPEND", "k", "abc")
		want += "abc"
	}
	if got := strExec(t, st, strT0, "GET", "k"); got != "$3001\r\n"+want+"\r\n" {
		t.Fatalf("GET after appends: %q", got[:20])
	}
	before := st.Bytes()
	strExec(t, st, strT0, "SET", "k", "x")
	if st.Bytes() >= before {
		t.Fatalf("accounted bytes did not shrink: %d -> %d", before, st.Bytes())
	}
}

// TestIncrNewCounterInline: INCR makes a new counter's digits part of its
// entry's object (as SET does for short values), where the next INCR's
// lookup finds them; a counter that outgrows the entry's 16 bytes moves to
// a buffer of its own and keeps counting.
func TestIncrNewCounterInline(t *testing.T) {
	st := shard.New()
	if got := strExec(t, st, strT0, "INCR", "c"); got != ":1\r\n" {
		t.Fatalf("INCR = %q", got)
	}
	e := st.Peek([]byte("c"))
	start, v := uintptr(unsafe.Pointer(e)), uintptr(unsafe.Pointer(&e.Value[0]))
	if v <= start || v >= start+unsafe.Sizeof(shard.Entry{})+16 {
		t.Errorf("the new counter's digits are not in its entry's object")
	}
	for _, step := range []struct{ cmd, want string }{
		{"INCRBY|c|999999999999998", ":999999999999999\r\n"}, // 15 digits
		{"INCR|c", ":1000000000000000\r\n"},                  // 16
		{"INCR|c", ":1000000000000001\r\n"},
		{"INCRBY|c|9000000000000000", ":10000000000000001\r\n"}, // 17: its own buffer
		{"DECR|c", ":10000000000000000\r\n"},
		{"GET|c", "$17\r\n10000000000000000\r\n"},
	} {
		if got := strExec(t, st, strT0, strings.Split(step.cmd, "|")...); got != step.want {
			t.Errorf("%s = %q, want %q", step.cmd, got, step.want)
		}
	}
}
