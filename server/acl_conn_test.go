package server

import (
	"strings"
	"testing"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
)

// aclTestClient returns a connection (as the default user) of a
// standalone server over a fakeGroup, and a second one of the same server.
func aclTestClients(t *testing.T) (*client, *client) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ReadConsistency = ReadLeader
	s, err := New(cfg, SingleRouter{Group: &fakeGroup{st: newFakeGroup(nil).st}})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id int64) *client {
		c := &client{srv: s, id: id, proto: resp.RESP2, authed: true, rng: command.NewRand(), acl: aclConn{user: s.defaultUser()}}
		s.clientsMu.Lock()
		s.clients[id] = c
		s.clientsMu.Unlock()
		return c
	}
	return mk(1), mk(2)
}

// run runs one command line on c and returns its reply.
func (c *client) runLine(line string) string {
	c.runBatch([][][]byte{bytesArgs(strings.Fields(line))})
	return string(c.out)
}

// TestACLConnection runs the ACL path through the dispatcher: a user made
// with ACL SETUSER authenticates, its command and key rules are enforced
// with Redis's replies and logged in ACL LOG, a failed AUTH is logged, and
// ACL DELUSER from another connection closes its connection.
func TestACLConnection(t *testing.T) {
	c, admin := aclTestClients(t)
	for _, lc := range []struct{ line, want string }{
		{"ACL SETUSER u on >p ~k* +get +acl|log +acl|whoami", "+OK\r\n"},
		{"AUTH u wrong", "-" + command.ErrWrongPass + "\r\n"},
		{"AUTH u p", "+OK\r\n"},
		{"ACL WHOAMI", "$1\r\nu\r\n"},
		{"GET k1", "$-1\r\n"},
		{"GET zz", "-" + command.ErrACLNoPermKey + "\r\n"},
		{"SET k1 v", "-NOPERM this user has no permissions to run the 'set' command\r\n"},
	} {
		if got := c.runLine(lc.line); got != lc.want {
			t.Errorf("%s = %q, want %q", lc.line, got, lc.want)
		}
	}
	log := c.runLine("ACL LOG")
	for _, want := range []string{
		"*3\r\n",
		"$6\r\nreason\r\n$7\r\ncommand\r\n$7\r\ncontext\r\n$8\r\ntoplevel\r\n$6\r\nobject\r\n$3\r\nset\r\n$8\r\nusername\r\n$1\r\nu\r\n",
		"$6\r\nreason\r\n$3\r\nkey\r\n$7\r\ncontext\r\n$8\r\ntoplevel\r\n$6\r\nobject\r\n$2\r\nzz\r\n",
		"$6\r\nreason\r\n$4\r\nauth\r\n$7\r\ncontext\r\n$8\r\ntoplevel\r\n$6\r\nobject\r\n$4\r\nauth\r\n",
		" user=u ",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("ACL LOG %q lacks %q", log, want)
		}
	}
	if got := admin.runLine("CLIENT KILL USER nosuch"); !strings.HasPrefix(got, "-ERR No such user") {
		t.Errorf("CLIENT KILL USER nosuch = %q", got)
	}
	if got := admin.runLine("ACL DELUSER u"); got != ":1\r\n" {
		t.Fatalf("ACL DELUSER u = %q", got)
	}
	if !c.killed.Load() {
		t.Error("the deleted user's connection is still open")
	}
	if admin.killed.Load() || admin.closing {
		t.Error("the default user's connection was closed")
	}
	// A user that deletes itself gets its reply, then its connection closes.
	admin.runLine("ACL SETUSER self on nopass +@all ~*")
	if got := admin.runLine("AUTH self x"); got != "+OK\r\n" {
		t.Fatalf("AUTH self = %q", got)
	}
	if got := admin.runLine("ACL DELUSER self"); got != ":1\r\n" || !admin.closing || admin.killed.Load() {
		t.Fatalf("ACL DELUSER self = %q, closing %v killed %v", got, admin.closing, admin.killed.Load())
	}
}

// TestACLDisableAndRedact checks that switching a user off closes its
// connections, and that SLOWLOG shows ACL SETUSER's user and rules as
// "(redacted)", as Redis 7.0 does.
func TestACLDisableAndRedact(t *testing.T) {
	c, admin := aclTestClients(t)
	admin.runLine("CONFIG SET slowlog-log-slower-than 0")
	admin.runLine("ACL SETUSER v on >secret +@all ~*")
	if got := c.runLine("AUTH v secret"); got != "+OK\r\n" {
		t.Fatalf("AUTH v = %q", got)
	}
	admin.runLine("ACL SETUSER v on")
	if c.killed.Load() {
		t.Fatal("a change that keeps the user on closed its connection")
	}
	admin.runLine("ACL SETUSER v off")
	if !c.killed.Load() {
		t.Fatal("the disabled user's connection is still open")
	}
	log := admin.runLine("SLOWLOG GET 10")
	if strings.Contains(log, "secret") || !strings.Contains(log, "$7\r\nSETUSER\r\n$10\r\n(redacted)\r\n$10\r\n(redacted)\r\n") {
		t.Fatalf("SLOWLOG %q", log)
	}
}
