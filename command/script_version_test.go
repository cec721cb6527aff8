package command

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/shard"
)

// TestScriptEntryVersions: an Eval or FCall entry of script version 2
// runs with the table-set guard (script/holes.go), one of version 1 as
// scripts ran when it was written, so that a replica replaying an old log
// computes what the others did. The script below stores 11 as gopher-lua
// ran it, 10 as Lua and Redis do.
func TestScriptEntryVersions(t *testing.T) {
	const body = "local b, n = {}, 10 b.x, n = n, n + 1 redis.call('SET', KEYS[1], b.x) return b.x"
	const lib = "#!lua name=v\nredis.register_function('f', function(keys) " +
		"local b, n = {}, 10 b.x, n = n, n + 1 redis.call('SET', keys[1], b.x) return b.x end)"
	v1 := func(e []byte) []byte {
		e[1] = 1
		return e
	}
	f := raftfsm.NewFSM(shard.New(), Executor(), nil)
	idx := uint64(0)
	apply := func(e []byte) string {
		idx++
		return fmt.Sprintf("%s", f.ApplyBatch([]*raft.Log{{Index: idx, Type: raft.LogCommand, Data: e}})[0])
	}
	keys := func(k string) [][]byte { return [][]byte{[]byte(k)} }
	for _, tc := range []struct {
		name string
		e    []byte
		want string
	}{
		{"eval v2", raftfsm.EncodeScriptEval(nil, 1, 0, 0, 0, []byte(body), keys("e2"), nil), ":10\r\n"},
		{"eval v1", v1(raftfsm.EncodeScriptEval(nil, 1, 0, 0, 0, []byte(body), keys("e1"), nil)), ":11\r\n"},
		{"load", raftfsm.EncodeFunctionLoad(nil, false, []byte(lib)), "$1\r\nv\r\n"},
		{"fcall v2", raftfsm.EncodeFCall(nil, 1, 0, 0, 0, []byte("f"), keys("f2"), nil), ":10\r\n"},
		{"fcall v1", v1(raftfsm.EncodeFCall(nil, 1, 0, 0, 0, []byte("f"), keys("f1"), nil)), ":11\r\n"},
		{"holes v2", raftfsm.EncodeScriptEval(nil, 1, 0, 0, 0, []byte("local t = {} t[2^25] = 1"), nil, nil),
			"-ERR Script exceeded the budget of empty table slots"},
	} {
		if got := apply(tc.e); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	dump := dumpStore(f.Store())
	for k, want := range map[string]string{"e2": "10", "e1": "11", "f2": "10", "f1": "11"} {
		if kv := fmt.Sprintf("%q=%q@0\n", k, want); !strings.Contains(dump, kv) {
			t.Errorf("store lacks %s:\n%s", kv, dump)
		}
	}
}
