package command

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/shard"
)

// functionLibs are the libraries functionEntries loads: writes with
// random numbers, TIME, a library-level counter (which must not carry
// from one call to the next), errors after a write, a loop the budget
// stops, a read-only function and a library whose REPLACE drops one.
var functionLibs = []string{
	"#!lua name=a\nlocal n = 0\n" +
		"redis.register_function('incr', function(keys, args) n = n + 1 redis.call('INCRBY', keys[1], n) return redis.call('GET', keys[1]) end)\n" +
		"redis.register_function('rnd', function(keys, args) redis.call('SET', keys[1], math.random(1000000)) return redis.call('GET', keys[1]) end)",
	"#!lua name=b\n" +
		"redis.register_function('time', function(keys, args) local t = redis.call('TIME') redis.call('SET', keys[1], t[1] .. '.' .. t[2], 'PX', args[1]) return 1 end)\n" +
		"redis.register_function('fail', function(keys) redis.call('SET', keys[1], 'x') error('fails after a write') end)\n" +
		"redis.register_function('loop', function(keys) while true do redis.call('INCR', keys[1]) end end)",
	"#!lua name=c\nredis.register_function{function_name='get', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}\n" +
		"redis.register_function('names', function(keys) redis.call('SET', keys[1], tostring({}) .. table.concat(redis.call('KEYS', '*'), ',')) return 1 end)",
	// Replaces a with one function fewer; collides with nothing.
	"#!lua name=a\nredis.register_function('incr', function(keys, args) return redis.call('INCRBY', keys[1], 100) end)",
	// Collides with b's time.
	"#!lua name=d\nredis.register_function('time', function() return 0 end)",
	"#!lua name=e\nbroken(",
}

var functionNames = []string{"incr", "rnd", "time", "fail", "loop", "get", "names", "nope"}

// functionEntries builds a random sequence of function entries.
func functionEntries(rng *rand.Rand, n int) [][]byte {
	var out [][]byte
	now := int64(1_700_000_000_000)
	for i := 0; i < n; i++ {
		now += int64(rng.IntN(50))
		switch r := rng.IntN(20); {
		case r < 3:
			out = append(out, raftfsm.EncodeFunctionLoad(nil, rng.IntN(2) == 0, []byte(functionLibs[rng.IntN(len(functionLibs))])))
		case r == 3:
			out = append(out, raftfsm.EncodeFunctionDelete(nil, []byte(string(rune('a'+rng.IntN(5))))))
		case r == 4 && rng.IntN(3) == 0:
			out = append(out, raftfsm.EncodeFunctionFlush(nil))
		case r == 5:
			codes := [][]byte{[]byte(functionLibs[rng.IntN(3)]), []byte(functionLibs[2])}
			out = append(out, raftfsm.EncodeFunctionRestore(nil, byte(rng.IntN(3)), codes[:1+rng.IntN(2)]))
		default:
			key := fmt.Sprintf("{t}k%d", rng.IntN(8))
			out = append(out, raftfsm.EncodeFCall(nil, now, 0, 0, 5000, []byte(functionNames[rng.IntN(len(functionNames))]),
				[][]byte{[]byte(key)}, [][]byte{[]byte(fmt.Sprint(1 + rng.IntN(100)))}))
		}
	}
	return out
}

// TestFunctionEntriesDeterministic applies the same function entries on
// two FSMs; the second is restored mid-way from the first's snapshot only
// (the registry must come with it). Both must end with identical stores,
// registries and replies.
func TestFunctionEntriesDeterministic(t *testing.T) {
	seed := testutil.Seed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	// Libraries first, so that the snapshot has some.
	entries := [][]byte{
		raftfsm.EncodeFunctionLoad(nil, false, []byte(functionLibs[0])),
		raftfsm.EncodeFunctionLoad(nil, false, []byte(functionLibs[1])),
		raftfsm.EncodeFunctionLoad(nil, false, []byte(functionLibs[2])),
	}
	entries = append(entries, functionEntries(rng, 400)...)
	a := raftfsm.NewFSM(shard.New(), Executor(), nil)
	b := raftfsm.NewFSM(shard.New(), Executor(), nil)
	mid := 3 + rng.IntN(30)
	var repA, repB []string
	found := 0
	for i, e := range entries {
		l := &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: e}
		r := fmt.Sprintf("%q", a.ApplyBatch([]*raft.Log{l})[0])
		repA = append(repA, r)
		if i > mid && e[2] == 8 && !strings.Contains(r, "Function not found") {
			found++
		}
		if i < mid {
			continue
		}
		if i == mid {
			restoreFrom(t, b, a)
			repB = append(repB, repA[i])
			continue
		}
		repB = append(repB, fmt.Sprintf("%q", b.ApplyBatch([]*raft.Log{l})[0]))
	}
	for i := range repB {
		if repA[mid+i] != repB[i] {
			t.Fatalf("entry %d (seed %d): replies differ: %s vs %s", mid+i, seed, repA[mid+i], repB[i])
		}
	}
	if da, db := dumpStore(a.Store()), dumpStore(b.Store()); da != db {
		t.Fatalf("stores differ:\n%s\nvs\n%s", da, db)
	}
	if ca, cb := a.FunctionCodes(), b.FunctionCodes(); fmt.Sprintf("%q", ca) != fmt.Sprintf("%q", cb) {
		t.Fatalf("registries differ: %q vs %q", ca, cb)
	}
	if found == 0 || dumpStore(a.Store()) == "" {
		t.Fatal("no function ran after the snapshot: the test tests nothing")
	}
}

// TestFunctionEntryReplies checks the FSM's replies to function entries.
func TestFunctionEntryReplies(t *testing.T) {
	f := raftfsm.NewFSM(shard.New(), Executor(), nil)
	idx := uint64(0)
	apply := func(e []byte) string {
		idx++
		return fmt.Sprintf("%s", f.ApplyBatch([]*raft.Log{{Index: idx, Type: raft.LogCommand, Data: e}})[0])
	}
	for _, tc := range []struct {
		e    []byte
		want string
	}{
		{raftfsm.EncodeFCall(nil, 1, 0, 0, 0, []byte("incr"), [][]byte{[]byte("k")}, nil), "-ERR Function not found\r\n"},
		{raftfsm.EncodeFunctionLoad(nil, false, []byte(functionLibs[0])), "$1\r\na\r\n"},
		{raftfsm.EncodeFunctionLoad(nil, false, []byte(functionLibs[0])), "-ERR Library 'a' already exists\r\n"},
		{raftfsm.EncodeFunctionLoad(nil, false, []byte(functionLibs[5])), "-ERR Error compiling function: user_function:2:"},
		{raftfsm.EncodeFCall(nil, 1, 0, 0, 0, []byte("incr"), [][]byte{[]byte("k")}, nil), "$1\r\n1\r\n"},
		{raftfsm.EncodeFCall(nil, 1, 0, 0, 0, []byte("incr"), [][]byte{[]byte("k")}, nil), "$1\r\n2\r\n"},
		{raftfsm.EncodeFunctionLoad(nil, true, []byte(functionLibs[3])), "$1\r\na\r\n"},
		{raftfsm.EncodeFCall(nil, 1, 0, 0, 0, []byte("rnd"), [][]byte{[]byte("k")}, nil), "-ERR Function not found\r\n"},
		{raftfsm.EncodeFCall(nil, 1, 0, 0, 0, []byte("incr"), [][]byte{[]byte("k")}, nil), ":102\r\n"},
		{raftfsm.EncodeFunctionDelete(nil, []byte("a")), "+OK\r\n"},
		{raftfsm.EncodeFunctionDelete(nil, []byte("a")), "-ERR Library not found\r\n"},
		{raftfsm.EncodeFunctionRestore(nil, 0, [][]byte{[]byte(functionLibs[1]), []byte(functionLibs[4])}), "-ERR Function time already exists\r\n"},
		{raftfsm.EncodeFunctionRestore(nil, 0, [][]byte{[]byte(functionLibs[1])}), "+OK\r\n"},
		{raftfsm.EncodeFCall(nil, 1, 0, 0, 10, []byte("loop"), [][]byte{[]byte("n")}, nil), "-ERR Script exceeded the step budget"},
		{raftfsm.EncodeFunctionFlush(nil), "+OK\r\n"},
		{raftfsm.EncodeFCall(nil, 1, 0, 0, 0, []byte("time"), [][]byte{[]byte("k")}, nil), "-ERR Function not found\r\n"},
	} {
		if got := apply(tc.e); !strings.HasPrefix(got, tc.want) {
			t.Fatalf("entry %d: %q, want %q", idx, got, tc.want)
		}
	}
	if libs, funcs := f.Functions().Len(); libs != 0 || funcs != 0 {
		t.Fatalf("after FLUSH: %d libraries, %d functions", libs, funcs)
	}
}
