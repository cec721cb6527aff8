package server

import (
	"math"
	"strings"
	"testing"

	"github.com/shoalcache/shoal/internal/resp"
)

func TestMemToInt(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"", 0, true}, {"100", 100, true}, {"64k", 64000, true}, {"64K", 64000, true},
		{"2KB", 2048, true}, {"2kb", 2048, true}, {"1m", 1000000, true}, {"100mb", 100 << 20, true},
		{"1g", 1e9, true}, {"1gb", 1 << 30, true}, {"5b", 5, true}, {"kb", 0, true},
		{"1.5mb", 0, false}, {"-1", 0, false}, {"abc", 0, false}, {" 1", 0, false}, {"+1", 0, false},
		{"1 mb", 0, false}, {"1tb", 0, false},
		{"99999999999999999999", math.MaxInt64, true},
	}
	for _, c := range cases {
		got, ok := memToInt(c.in)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("memToInt(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestConfigGetSet(t *testing.T) {
	x := connTestCtx(t, "", resp.RESP2)
	policyErr := "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - " + cfgErrPolicy + "\r\n"
	runCases(t, x, []lineCase{
		{[]string{"CONFIG", "GET", "maxmemory"}, "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"},
		{[]string{"CONFIG", "GET", "MAXMEMORY-POLICY"}, "*2\r\n$16\r\nMAXMEMORY-POLICY\r\n$10\r\nnoeviction\r\n"},
		{[]string{"CONFIG", "GET", "maxmemory", "MAXMEMORY"}, "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"},
		{[]string{"CONFIG", "GET", "nosuch"}, "*0\r\n"},
		{[]string{"CONFIG", "GET", "save"}, "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"},
		{[]string{"CONFIG", "SET", "maxmemory", "64k"}, "+OK\r\n"},
		{[]string{"CONFIG", "GET", "maxmemory"}, "*2\r\n$9\r\nmaxmemory\r\n$5\r\n64000\r\n"},
		{[]string{"CONFIG", "SET", "maxmemory", "1.5mb"}, "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value\r\n"},
		{[]string{"CONFIG", "SET", "MAXMEMORY", "x"}, "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value\r\n"},
		{[]string{"CONFIG", "SET", "maxmemory-policy", "allkeys-fifo"}, "+OK\r\n"},
		{[]string{"CONFIG", "GET", "maxmemory-policy"}, "*2\r\n$16\r\nmaxmemory-policy\r\n$12\r\nallkeys-fifo\r\n"},
		{[]string{"CONFIG", "SET", "maxmemory-policy", "foo"}, policyErr},
		{[]string{"CONFIG", "SET", "maxmemory", "0", "maxmemory-policy"}, "-ERR syntax error\r\n"},
		{[]string{"CONFIG", "SET", "maxmemory", "0", "MAXMEMORY", "1"}, "-ERR CONFIG SET failed (possibly related to argument 'MAXMEMORY') - duplicate parameter\r\n"},
		{[]string{"CONFIG", "SET", "nosuch", "1"}, "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n"},
		{[]string{"CONFIG", "SET", "port", "1"}, "-ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config\r\n"},
		// All or nothing: a bad second value leaves the first unchanged.
		{[]string{"CONFIG", "SET", "maxmemory", "1mb", "maxmemory-policy", "bad"}, policyErr},
		{[]string{"CONFIG", "GET", "maxmemory"}, "*2\r\n$9\r\nmaxmemory\r\n$5\r\n64000\r\n"},
		{[]string{"CONFIG", "SET", "appendonly", "maybe"}, "-ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'\r\n"},
		{[]string{"CONFIG", "SET", "appendonly", "YES", "save", "3600 1 300 100"}, "+OK\r\n"},
		{[]string{"CONFIG", "GET", "appendonly"}, "*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n"},
		{[]string{"CONFIG", "GET", "save"}, "*2\r\n$4\r\nsave\r\n$14\r\n3600 1 300 100\r\n"},
		{[]string{"CONFIG", "SET", "save", "3600"}, "-ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters\r\n"},
		{[]string{"CONFIG", "SET", "requirepass", "pw"}, "+OK\r\n"},
		{[]string{"CONFIG", "GET", "requirepass"}, "*2\r\n$11\r\nrequirepass\r\n$2\r\npw\r\n"},
		{[]string{"CONFIG", "REWRITE"}, "-ERR The server is running without a config file\r\n"},
		{[]string{"CONFIG", "RESETSTAT"}, "+OK\r\n"},
	})
	if srvOf(x).currentPassword() != "pw" {
		t.Error("CONFIG SET requirepass did not set the password")
	}
	connOf(x).proto = resp.RESP3
	if got := runLocal(t, x, "CONFIG", "GET", "maxmemory"); got != "%1\r\n$9\r\nmaxmemory\r\n$5\r\n64000\r\n" {
		t.Errorf("RESP3 CONFIG GET = %q", got)
	}
	got := runLocal(t, x, "CONFIG", "GET", "maxmemory*")
	for _, name := range []string{"maxmemory", "maxmemory-policy", "maxmemory-samples"} {
		if !strings.Contains(got, "\r\n"+name+"\r\n") {
			t.Errorf("CONFIG GET maxmemory* = %q, missing %s", got, name)
		}
	}
}
