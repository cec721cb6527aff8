package script

import (
	"fmt"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestHoleRewriteRandom checks that the guard's rewrite keeps what a
// program does: random programs of table sets (single assignments,
// constructors, rawset, table.insert, the length operator) run through
// the Engine, rewritten, and in a plain gopher-lua state as written; the
// tables they leave must be the same. Assignments to several targets and
// calls with side effects, which gopher-lua as written gets wrong in
// places, are compared with Redis in integration's
// TestScriptTableSetsRandom. Replay a failure with SHOAL_SEED.
func TestHoleRewriteRandom(t *testing.T) {
	rng := testutil.Rand(t)
	e := NewEngine()
	for i := 0; i < 300; i++ {
		body := testutil.LuaTableProgram(rng, testutil.LuaProgramOptions{Length: true})
		got := run(t, e, body)
		L := lua.NewState()
		err := L.DoString(body)
		want := ""
		if err == nil {
			want = L.Get(-1).String()
		}
		L.Close()
		if err != nil {
			t.Fatalf("program %d fails as written: %v\n%s", i, err, body)
		}
		if wantReply := fmt.Sprintf("$%d\r\n%s\r\n", len(want), want); got != wantReply {
			t.Fatalf("program %d:\n%s\nrewritten: %q\nas written: %q", i, body, got, wantReply)
		}
	}
}
