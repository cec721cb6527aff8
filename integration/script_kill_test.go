package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
)

// TestKillWriteScriptBeforeItWrites runs the same steps against
// redis-server and Shoal and requires the same replies: a script without
// the no-writes flag that loops before its first write is stopped by
// SCRIPT KILL (Redis kills a script until it has written), its client gets
// the kill error, and its write never happens; the same for a write
// function and FUNCTION KILL; and for a script pipelined behind another
// write script of its connection (Shoal probes it again once the one
// before is answered). A script that has written answers UNKILLABLE
// (TestScriptingBusyAndKill).
func TestKillWriteScriptBeforeItWrites(t *testing.T) {
	targets := []struct{ name, addr string }{
		{"redis", testutil.StartRedis(t).Addr},
		{"shoal", startShoal(t)},
	}
	got := make([][]string, len(targets))
	for i, tg := range targets {
		got[i] = killBeforeWrite(t, tg.name, tg.addr)
	}
	for j := range got[0] {
		if got[0][j] != got[1][j] {
			t.Errorf("step %d: redis %q, shoal %q", j, got[0][j], got[1][j])
		}
	}
}

// killBeforeWrite runs the steps against addr and returns the replies to
// compare.
func killBeforeWrite(t *testing.T, name, addr string) []string {
	t.Helper()
	var out []string
	ctl := mustDial(t, addr)
	do := func(args ...string) string {
		t.Helper()
		raw, err := ctl.Do(args...)
		if err != nil {
			t.Fatalf("%s: %v: %v", name, args, err)
		}
		return string(raw)
	}
	out = append(out, do("CONFIG", "SET", "busy-reply-threshold", "100"))
	waitBusy := func(what string) {
		t.Helper()
		testutil.Eventually(t, 20*time.Second, name+": BUSY while "+what+" runs", func() error {
			if r := do("GET", "other"); !strings.HasPrefix(r, "-BUSY ") {
				return fmt.Errorf("GET = %q", r)
			}
			return nil
		})
	}
	await := func(done chan string, what string) string {
		t.Helper()
		select {
		case r := <-done:
			return r
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: %s did not stop after the kill", name, what)
			return ""
		}
	}

	// A script that loops, then writes.
	runner := mustDial(t, addr)
	done := make(chan string, 2)
	go func() {
		raw, err := runner.Do("EVAL", "local i = 0\nwhile true do i = i + 1 end\nredis.call('SET', KEYS[1], 'x')", "1", "{k}a")
		done <- fmt.Sprint(string(raw), err)
	}()
	waitBusy("the script")
	out = append(out, do("SCRIPT", "KILL"), await(done, "the script"), do("GET", "{k}a"), do("SCRIPT", "KILL"))

	// A script that reads, loops under pcall, then writes.
	go func() {
		raw, err := runner.Do("EVAL", "redis.call('GET', KEYS[1])\nlocal ok = pcall(function() while true do end end)\nredis.call('SET', KEYS[1], tostring(ok))", "1", "{k}b")
		done <- fmt.Sprint(string(raw), err)
	}()
	waitBusy("the pcall script")
	out = append(out, do("SCRIPT", "KILL"), await(done, "the pcall script"), do("GET", "{k}b"))

	// A write script pipelined behind another one on its connection.
	pipe := mustDial(t, addr)
	go func() {
		cmds := append(encodeCommand([]string{"EVAL", "return redis.call('INCR', KEYS[1])", "1", "{k}c"}),
			encodeCommand([]string{"EVAL", "local n = redis.call('GET', KEYS[1])\nwhile true do end\nredis.call('SET', KEYS[1], 'never')", "1", "{k}c"})...)
		if _, err := pipe.conn.Write(cmds); err != nil {
			done <- err.Error()
			return
		}
		var rs []string
		for range 2 {
			v, err := respclient.ReadRaw(pipe.r)
			if err != nil {
				done <- err.Error()
				return
			}
			rs = append(rs, string(v.Raw))
		}
		done <- strings.Join(rs, "")
	}()
	waitBusy("the pipelined script")
	out = append(out, do("SCRIPT", "KILL"), await(done, "the pipeline"), do("GET", "{k}c"))

	// A write function, FUNCTION KILL.
	lib := "#!lua name=killlib\nredis.register_function('spinw', function(keys)\n  while true do end\n  redis.call('SET', keys[1], 'x')\nend)"
	out = append(out, do("FUNCTION", "LOAD", "REPLACE", lib))
	go func() {
		raw, err := runner.Do("FCALL", "spinw", "1", "{k}d")
		done <- fmt.Sprint(string(raw), err)
	}()
	waitBusy("the function")
	out = append(out, do("SCRIPT", "KILL"), do("FUNCTION", "KILL"), await(done, "the function"), do("GET", "{k}d"))
	for i, r := range out {
		t.Logf("%s step %d: %q", name, i, r)
	}
	return out
}
