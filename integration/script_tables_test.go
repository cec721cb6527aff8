package integration

import (
	"fmt"
	"testing"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestScriptTableSetsRandom runs random Lua programs of table sets
// (testutil.LuaTableProgram: assignments to one and several targets,
// constructors, rawset, keys and values with side effects) on Redis and
// on Shoal, whose compiler rewrites table sets to bound the empty slots
// gopher-lua would fill (script/holes.go); the replies must be the same.
// Every other program writes a key first, so that it runs as a write
// script, in the FSM. Replay a failure with SHOAL_SEED.
func TestScriptTableSetsRandom(t *testing.T) {
	rng := testutil.Rand(t)
	ref := mustDial(t, testutil.StartRedis(t).Addr)
	tgt := mustDial(t, startShoal(t))
	for i := 0; i < 200; i++ {
		body := testutil.LuaTableProgram(rng, testutil.LuaProgramOptions{Multi: true, Calls: true})
		if i%2 == 1 {
			body = "redis.call('SET', KEYS[1], 'x')\n" + body
		}
		args := []string{"EVAL", body, "1", fmt.Sprintf("tables:%d", i)}
		want, err := ref.Do(args...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tgt.Do(args...)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("program %d:\n%s\nredis: %q\nshoal: %q", i, body, want, got)
		}
	}
}
