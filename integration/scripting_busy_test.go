package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestScriptingBusyAndKill: a read-only script that loops makes other
// clients' commands answer BUSY once it has run past busy-reply-threshold;
// SCRIPT KILL stops it (its client gets the kill error) and the server
// serves again. A write script that wrote and then loops runs in the FSM
// of every replica: SCRIPT KILL answers UNKILLABLE (docs/scripting.md).
func TestScriptingBusyAndKill(t *testing.T) {
	addr := startShoal(t)
	ctl := mustDial(t, addr)
	if raw, err := ctl.Do("CONFIG", "SET", "busy-reply-threshold", "100"); err != nil || string(raw) != "+OK\r\n" {
		t.Fatalf("CONFIG SET busy-reply-threshold: %q %v", raw, err)
	}
	if raw, _ := ctl.Do("CONFIG", "GET", "lua-time-limit"); !strings.Contains(string(raw), "100") {
		t.Fatalf("CONFIG GET lua-time-limit: %q", raw)
	}
	if raw, _ := ctl.Do("SCRIPT", "KILL"); string(raw) != "-NOTBUSY No scripts in execution right now.\r\n" {
		t.Fatalf("SCRIPT KILL with nothing running: %q", raw)
	}
	ctl.Do("SET", "k", "v")

	runner := mustDial(t, addr)
	done := make(chan string, 1)
	go func() {
		raw, err := runner.Do("EVAL_RO", "local n = 0 while true do n = n + 1 end", "1", "k")
		if err != nil {
			done <- "error: " + err.Error()
			return
		}
		done <- string(raw)
	}()
	testutil.Eventually(t, 10*time.Second, "BUSY from another client", func() error {
		raw, err := ctl.Do("GET", "k")
		if err != nil {
			t.Fatal(err)
		}
		if string(raw) != "-"+"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."+"\r\n" {
			return fmt.Errorf("GET = %q", raw)
		}
		return nil
	})
	if raw, _ := ctl.Do("SCRIPT", "KILL"); string(raw) != "+OK\r\n" {
		t.Fatalf("SCRIPT KILL: %q", raw)
	}
	select {
	case r := <-done:
		if !strings.HasPrefix(r, "-ERR Script killed by user with SCRIPT KILL... script: ") {
			t.Fatalf("killed script replied %q", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the script did not stop after SCRIPT KILL")
	}
	if raw, _ := ctl.Do("GET", "k"); string(raw) != "$1\r\nv\r\n" {
		t.Fatalf("GET after the kill: %q", raw)
	}

	// A write script that wrote, then loops, cannot be killed: it runs in
	// the FSM (one that loops before writing can be:
	// TestKillWriteScriptBeforeItWrites).
	writer := mustDial(t, addr)
	go func() { writer.Do("EVAL", "redis.call('SET', KEYS[1], 'w') while true do end", "1", "k") }()
	testutil.Eventually(t, 10*time.Second, "UNKILLABLE", func() error {
		raw, err := ctl.Do("SCRIPT", "KILL")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(raw), "-UNKILLABLE ") {
			return fmt.Errorf("SCRIPT KILL = %q", raw)
		}
		return nil
	})
}

// TestScriptingACL: a user with restricted rules may not run write scripts
// (their commands run in the FSM, which does not know the rules); its
// read-only scripts have each command checked.
func TestScriptingACL(t *testing.T) {
	addr := startShoal(t)
	admin := mustDial(t, addr)
	admin.Do("SET", "k", "v")
	for _, rule := range [][]string{
		{"ACL", "SETUSER", "limited", "on", ">pw", "~*", "+@all", "-set"},
		{"ACL", "SETUSER", "noget", "on", ">pw", "~*", "+@all", "-get"},
	} {
		if raw, err := admin.Do(rule...); err != nil || string(raw) != "+OK\r\n" {
			t.Fatalf("%v: %q %v", rule, raw, err)
		}
	}
	if raw, _ := admin.Do("EVAL", "return redis.call('SET', KEYS[1], 'w')", "1", "k"); string(raw) != "+OK\r\n" {
		t.Fatalf("default user's write script: %q", raw)
	}
	c := mustDial(t, addr)
	c.Do("AUTH", "limited", "pw")
	raw, _ := c.Do("EVAL", "return redis.call('SET', KEYS[1], 'x')", "1", "k")
	if !strings.HasPrefix(string(raw), "-NOPERM this user has no permissions to run write scripts") {
		t.Fatalf("restricted user's write script: %q", raw)
	}
	if raw, _ := c.Do("EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "k"); string(raw) != "$1\r\nw\r\n" {
		t.Fatalf("restricted user's read-only script: %q", raw)
	}
	d := mustDial(t, addr)
	d.Do("AUTH", "noget", "pw")
	raw, _ = d.Do("EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "k")
	if !strings.HasPrefix(string(raw), "-ERR The user executing the script can't run this command or subcommand script: ") {
		t.Fatalf("read-only script calling a denied command: %q", raw)
	}
}

// TestScriptingPipeline: write scripts of a pipeline are proposed back to
// back and answered in order, interleaved with writes, reads and errors;
// an EVALSHA right after the EVAL that caches its script finds it.
func TestScriptingPipeline(t *testing.T) {
	addr := startShoal(t)
	c := mustDial(t, addr)
	incr := "return redis.call('INCR', KEYS[1])"
	sha := "61636018f4e6b5817b89791bbed242f93fa089e3" // SHA1 of incr
	cmds := [][]string{
		{"SET", "p", "1"},
		{"EVAL", incr, "1", "p"},
		{"EVALSHA", sha, "1", "p"},
		{"EVAL", incr, "1", "p"},
		{"GET", "p"},
		{"EVAL", "return {err='E1'}", "0"},
		{"EVAL", incr, "1", "p"},
		{"SET", "q", "x"},
		{"EVAL", incr, "1", "p"},
		{"EVAL", "return 1", "-1"},
		{"EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "p"},
		{"EVAL", incr, "1", "q"},
		{"INCR", "p"},
	}
	want := []string{
		"+OK\r\n", ":2\r\n", ":3\r\n", ":4\r\n", "$1\r\n4\r\n", "-E1\r\n", ":5\r\n", "+OK\r\n", ":6\r\n",
		"-ERR Number of keys can't be negative\r\n", "$1\r\n6\r\n",
		"-ERR value is not an integer or out of range script: " + sha + ", on @user_script:1.\r\n", ":7\r\n",
	}
	var buf []byte
	for _, a := range cmds {
		buf = append(buf, encodeCommand(a)...)
	}
	if err := c.conn.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.conn.Write(buf); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		raw, _, err := readReply(c.r)
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if string(raw) != w {
			t.Fatalf("reply %d to %q: %q, want %q", i, cmds[i], raw, w)
		}
	}
}

// TestScriptingStepBudget: a write script that never ends fails once it
// exceeds script-step-budget (the same step on every replica), keeping
// the writes it made, and the group serves on.
func TestScriptingStepBudget(t *testing.T) {
	addr := startShoal(t)
	c := mustDial(t, addr)
	if raw, _ := c.Do("CONFIG", "SET", "script-step-budget", "1000"); string(raw) != "+OK\r\n" {
		t.Fatalf("CONFIG SET script-step-budget: %q", raw)
	}
	raw, _ := c.Do("EVAL", "while true do redis.call('INCR', KEYS[1]) end", "1", "n")
	if !strings.HasPrefix(string(raw), "-ERR Script exceeded the step budget of write scripts") {
		t.Fatalf("looping write script: %q", raw)
	}
	if raw, _ := c.Do("GET", "n"); string(raw) != "$4\r\n1000\r\n" {
		t.Fatalf("GET n after the budget stopped the script: %q", raw)
	}
	// Read-only scripts have no budget (SCRIPT KILL stops them).
	if raw, _ := c.Do("EVAL_RO", "local n = 0 for i = 1, 5000 do n = n + 1 end return n", "0"); string(raw) != ":5000\r\n" {
		t.Fatalf("read-only loop over the budget: %q", raw)
	}
}
