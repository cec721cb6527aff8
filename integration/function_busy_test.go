package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestFunctionBusyAndKill: a read-only function that loops shows in
// FUNCTION STATS and makes other commands answer BUSY; SCRIPT KILL does
// not stop it, FUNCTION KILL does (its client gets Redis's kill error).
// A write function that wrote and then loops runs in the FSM: FUNCTION
// KILL answers UNKILLABLE.
func TestFunctionBusyAndKill(t *testing.T) {
	addr := startShoal(t)
	ctl := mustDial(t, addr)
	if raw, err := ctl.Do("CONFIG", "SET", "busy-reply-threshold", "100"); err != nil || string(raw) != "+OK\r\n" {
		t.Fatalf("CONFIG SET busy-reply-threshold: %q %v", raw, err)
	}
	if raw, _ := ctl.Do("FUNCTION", "KILL"); string(raw) != "-NOTBUSY No scripts in execution right now.\r\n" {
		t.Fatalf("FUNCTION KILL with nothing running: %q", raw)
	}
	lib := "#!lua name=loop\n" +
		"redis.register_function{function_name='spin', callback=function() local i = 0 while true do i = i + 1 end end, flags={'no-writes'}}\n" +
		"redis.register_function('wspin', function() redis.call('SET', 'w', '1') while true do end end)"
	if raw, _ := ctl.Do("FUNCTION", "LOAD", lib); string(raw) != "$4\r\nloop\r\n" {
		t.Fatalf("FUNCTION LOAD: %q", raw)
	}
	runner := mustDial(t, addr)
	done := make(chan string, 1)
	go func() {
		raw, err := runner.Do("FCALL_RO", "spin", "0")
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
		if !strings.HasPrefix(string(raw), "-BUSY ") {
			return fmt.Errorf("GET = %q", raw)
		}
		return nil
	})
	raw, _ := ctl.Do("FUNCTION", "STATS")
	if !strings.Contains(string(raw), "$14\r\nrunning_script\r\n*6\r\n$4\r\nname\r\n$4\r\nspin\r\n$7\r\ncommand\r\n*3\r\n$8\r\nFCALL_RO\r\n$4\r\nspin\r\n$1\r\n0\r\n$11\r\nduration_ms\r\n:") {
		t.Fatalf("FUNCTION STATS while spin runs: %q", raw)
	}
	if raw, _ := ctl.Do("SCRIPT", "KILL"); string(raw) != "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n" {
		t.Fatalf("SCRIPT KILL while a function runs: %q", raw)
	}
	if raw, _ := ctl.Do("FUNCTION", "KILL"); string(raw) != "+OK\r\n" {
		t.Fatalf("FUNCTION KILL: %q", raw)
	}
	select {
	case r := <-done:
		if r != "-ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2.\r\n" {
			t.Fatalf("killed function replied %q", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the function did not stop after FUNCTION KILL")
	}
	if raw, _ := ctl.Do("GET", "k"); string(raw) != "$-1\r\n" {
		t.Fatalf("GET after the kill: %q", raw)
	}
	if raw, _ := ctl.Do("FUNCTION", "STATS"); !strings.Contains(string(raw), "running_script\r\n$-1\r\n") {
		t.Fatalf("FUNCTION STATS after the kill: %q", raw)
	}

	// A write function that wrote, then loops, cannot be killed: it runs
	// in the FSM (its step budget ends it).
	if raw, _ := ctl.Do("CONFIG", "SET", "script-step-budget", "20000000"); string(raw) != "+OK\r\n" {
		t.Fatalf("CONFIG SET script-step-budget: %q", raw)
	}
	writer := mustDial(t, addr)
	go func() { writer.Do("FCALL", "wspin", "0") }()
	testutil.Eventually(t, 10*time.Second, "UNKILLABLE", func() error {
		raw, err := ctl.Do("FUNCTION", "KILL")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(raw), "-UNKILLABLE ") {
			return fmt.Errorf("FUNCTION KILL = %q", raw)
		}
		return nil
	})
}
