package server

import (
	"testing"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
)

// connTestRouter is a Router without groups, for commands that do not
// touch data.
type connTestRouter struct{ cluster bool }

func (r connTestRouter) ClusterEnabled() bool                { return r.cluster }
func (connTestRouter) Route(int) (Group, bool, string, bool) { return nil, false, "", false }
func (connTestRouter) LocalGroups() []Group                  { return nil }
func (connTestRouter) HostedGroups() []Group                 { return nil }
func (connTestRouter) Topology() *Topology                   { return nil }
func (connTestRouter) Admin() Admin                          { return nil }
func (connTestRouter) Incoming(int) Group                    { return nil }

// connTestCtx returns a command.Ctx for a front-end (KindLocal) command on a fresh connection
// of a server (without a Raft group) configured with password.
func connTestCtx(t *testing.T, password string, proto resp.Proto) *command.Ctx {
	t.Helper()
	cfg := DefaultConfig()
	cfg.RequirePass = password
	s, err := New(cfg, connTestRouter{})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{srv: s, id: 7, proto: proto, authed: password == ""}
	return &command.Ctx{Proto: proto, Conn: c, Rng: command.NewRand()}
}

// runLocal runs one command line through its handler, resolving
// subcommands and arity as the dispatcher does, and returns the reply.
func runLocal(t *testing.T, x *command.Ctx, args ...string) string {
	t.Helper()
	argv := make([][]byte, len(args))
	for i, a := range args {
		argv[i] = []byte(a)
	}
	cmd := command.Lookup(argv[0])
	if cmd == nil {
		t.Fatalf("%s: not in the table", args[0])
	}
	if len(cmd.Subs) > 0 && len(argv) >= 2 {
		if sub := cmd.Sub(argv[1]); sub != nil {
			cmd = sub
		}
	}
	x.Out = x.Out[:0]
	x.Proto = connOf(x).proto
	if !cmd.ArityOK(len(argv)) {
		return "-" + command.ErrWrongArgs(cmd.Name) + "\r\n"
	}
	cmd.Run(x, argv)
	return string(x.Out)
}

type lineCase struct {
	args []string
	want string
}

func runCases(t *testing.T, x *command.Ctx, cases []lineCase) {
	t.Helper()
	for _, c := range cases {
		if got := runLocal(t, x, c.args...); got != c.want {
			t.Errorf("%q = %q, want %q", c.args, got, c.want)
		}
	}
}

// TestSelectAndReset: SELECT sets the connection's database in standalone
// mode (0 to 15), not in cluster mode (0 only, Redis Cluster's replies);
// HELLO keeps it and RESET sets it back to 0 with the rest of the
// connection's state, as Redis does.
func TestSelectAndReset(t *testing.T) {
	x := connTestCtx(t, "", resp.RESP2)
	c := connOf(x)
	for _, tc := range []struct {
		arg  string
		want string
		db   int
	}{
		{"3", "+OK\r\n", 3},
		{"15", "+OK\r\n", 15},
		{"16", "-ERR DB index is out of range\r\n", 15},
		{"-1", "-ERR DB index is out of range\r\n", 15},
		{"x", "-ERR value is not an integer or out of range\r\n", 15},
		{"0", "+OK\r\n", 0},
		{"7", "+OK\r\n", 7},
	} {
		if got := runLocal(t, x, "SELECT", tc.arg); got != tc.want || c.DB() != tc.db {
			t.Errorf("SELECT %s = %q, db %d; want %q, db %d", tc.arg, got, c.DB(), tc.want, tc.db)
		}
	}
	if got := runLocal(t, x, "HELLO", "3", "SETNAME", "n"); got[0] != '%' || c.DB() != 7 {
		t.Fatalf("HELLO 3 = %q, db %d; want a map and db 7 (HELLO keeps the database)", got, c.DB())
	}
	if got := runLocal(t, x, "CLIENT", "INFO"); !contains(got, " db=7 sub=0 ") {
		t.Errorf("CLIENT INFO after SELECT 7: %q, want db=7", got)
	}
	runLocal(t, x, "READONLY")
	if got := runLocal(t, x, "RESET"); got != "+RESET\r\n" {
		t.Fatalf("RESET = %q", got)
	}
	if c.DB() != 0 || c.proto != resp.RESP2 || c.name != "" || c.readonly || !c.authed {
		t.Errorf("after RESET: db %d, proto %d, name %q, readonly %v, authed %v", c.DB(), c.proto, c.name, c.readonly, c.authed)
	}

	// With a password, RESET leaves the connection unauthenticated.
	x = connTestCtx(t, "pw", resp.RESP2)
	runCases(t, x, []lineCase{
		{[]string{"AUTH", "pw"}, "+OK\r\n"},
		{[]string{"RESET"}, "+RESET\r\n"},
	})
	if connOf(x).authed {
		t.Error("RESET kept a password-authenticated connection authenticated")
	}

	// Cluster mode: database 0 only.
	cx := connTestCtx(t, "", resp.RESP2)
	connOf(cx).srv.router = connTestRouter{cluster: true}
	runCases(t, cx, []lineCase{
		{[]string{"SELECT", "0"}, "+OK\r\n"},
		{[]string{"SELECT", "3"}, "-ERR SELECT is not allowed in cluster mode\r\n"},
		{[]string{"SELECT", "16"}, "-ERR SELECT is not allowed in cluster mode\r\n"},
		{[]string{"SELECT", "abc"}, "-ERR value is not an integer or out of range\r\n"},
	})
	if connOf(cx).DB() != 0 {
		t.Errorf("cluster mode: db %d after SELECT 3", connOf(cx).DB())
	}
}

func TestConnectionCommands(t *testing.T) {
	x := connTestCtx(t, "", resp.RESP2)
	runCases(t, x, []lineCase{
		{[]string{"PING"}, "+PONG\r\n"},
		{[]string{"PING", "hi"}, "$2\r\nhi\r\n"},
		{[]string{"ECHO", ""}, "$0\r\n\r\n"},
		{[]string{"SELECT", "0"}, "+OK\r\n"},
		{[]string{"SELECT", "16"}, "-ERR DB index is out of range\r\n"},
		{[]string{"SELECT", "-1"}, "-ERR DB index is out of range\r\n"},
		{[]string{"SELECT", "1.0"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"SELECT", "2147483648"}, "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"},
		{[]string{"AUTH", "x"}, "-" + command.ErrNoPassConfigured + "\r\n"},
		{[]string{"AUTH", "default", "x"}, "+OK\r\n"},
		{[]string{"AUTH", "bob", "x"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"AUTH", "a", "b", "c"}, "-ERR syntax error\r\n"},
		{[]string{"READONLY"}, "+OK\r\n"},
		{[]string{"READWRITE"}, "+OK\r\n"},
		{[]string{"ASKING"}, "+OK\r\n"},
		{[]string{"HELLO", "1"}, "-NOPROTO unsupported protocol version\r\n"},
		{[]string{"HELLO", "2.0"}, "-ERR Protocol version is not an integer or out of range\r\n"},
		{[]string{"HELLO", "2", "FOO"}, "-ERR Syntax error in HELLO option 'FOO'\r\n"},
		{[]string{"HELLO", "2", "a\x00b\r\n"}, "-ERR Syntax error in HELLO option 'a'\r\n"},
		{[]string{"HELLO", "2", "AUTH", "default"}, "-ERR Syntax error in HELLO option 'AUTH'\r\n"},
		{[]string{"HELLO", "2", "SETNAME", "a b"}, "-" + errClientName + "\r\n"},
		{[]string{"QUIT"}, "+OK\r\n"},
	})
	if !connOf(x).closing {
		t.Error("QUIT did not mark the connection closing")
	}
}

func TestSelectClusterMode(t *testing.T) {
	x := connTestCtx(t, "", resp.RESP2)
	srvOf(x).router = connTestRouter{cluster: true}
	runCases(t, x, []lineCase{
		{[]string{"SELECT", "0"}, "+OK\r\n"},
		{[]string{"SELECT", "16"}, "-ERR SELECT is not allowed in cluster mode\r\n"},
		{[]string{"SELECT", "x"}, "-ERR value is not an integer or out of range\r\n"},
	})
	if got := runLocal(t, x, "HELLO"); !contains(got, "$4\r\nmode\r\n$7\r\ncluster\r\n") {
		t.Errorf("HELLO in cluster mode = %q", got)
	}
}

func TestHello(t *testing.T) {
	x := connTestCtx(t, "", resp.RESP2)
	want2 := "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:2\r\n" +
		"$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
	if got := runLocal(t, x, "HELLO"); got != want2 {
		t.Fatalf("HELLO = %q, want %q", got, want2)
	}
	want3 := "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n" +
		"$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
	if got := runLocal(t, x, "hello", "3", "setname", "n1"); got != want3 {
		t.Fatalf("HELLO 3 = %q, want %q", got, want3)
	}
	if connOf(x).proto != resp.RESP3 || connOf(x).name != "n1" {
		t.Fatalf("after HELLO 3 SETNAME n1: proto %d name %q", connOf(x).proto, connOf(x).name)
	}
	// SETNAME applies even when a later option is bad (Redis 7.0).
	runLocal(t, x, "HELLO", "2", "SETNAME", "n2", "FOO")
	if connOf(x).proto != resp.RESP3 || connOf(x).name != "n2" {
		t.Fatalf("after a failed HELLO 2: proto %d name %q", connOf(x).proto, connOf(x).name)
	}
}

func TestAuthWithPassword(t *testing.T) {
	x := connTestCtx(t, "pw", resp.RESP2)
	runCases(t, x, []lineCase{
		{[]string{"HELLO", "3"}, "-" + command.ErrHelloNoAuth + "\r\n"},
		{[]string{"HELLO", "3", "AUTH", "default", "bad"}, "-" + command.ErrWrongPass + "\r\n"},
		{[]string{"AUTH", "bad"}, "-" + command.ErrWrongPass + "\r\n"},
		{[]string{"AUTH", "Default", "pw"}, "-" + command.ErrWrongPass + "\r\n"},
	})
	if connOf(x).authed {
		t.Fatal("authenticated by a wrong password")
	}
	runCases(t, x, []lineCase{{[]string{"AUTH", "pw"}, "+OK\r\n"}})
	if !connOf(x).authed {
		t.Fatal("AUTH pw did not authenticate")
	}
	runCases(t, x, []lineCase{{[]string{"AUTH", "bad"}, "-" + command.ErrWrongPass + "\r\n"}})
	if !connOf(x).authed {
		t.Fatal("a failed AUTH logged the connection out (Redis keeps it)")
	}

	y := connTestCtx(t, "pw", resp.RESP2)
	if got := runLocal(t, y, "HELLO", "3", "AUTH", "default", "pw"); got[0] != '%' || !connOf(y).authed {
		t.Fatalf("HELLO 3 AUTH default pw = %q, authed %v", got, connOf(y).authed)
	}
}

func TestClientCommands(t *testing.T) {
	x := connTestCtx(t, "", resp.RESP2)
	runCases(t, x, []lineCase{
		{[]string{"CLIENT", "ID"}, ":7\r\n"},
		{[]string{"CLIENT", "GETNAME"}, "$-1\r\n"},
		{[]string{"CLIENT", "SETNAME", "my\nconn"}, "-" + errClientName + "\r\n"},
		{[]string{"CLIENT", "SETNAME", "h\xc3\xa9"}, "-" + errClientName + "\r\n"},
		{[]string{"CLIENT", "SETNAME", "ok~!"}, "+OK\r\n"},
		{[]string{"client", "getname"}, "$4\r\nok~!\r\n"},
		{[]string{"CLIENT", "SETNAME", ""}, "+OK\r\n"},
		{[]string{"CLIENT", "GETNAME"}, "$-1\r\n"},
		{[]string{"CLIENT", "SETINFO", "LIB-NAME", "go-redis(x)"}, "+OK\r\n"},
		{[]string{"CLIENT", "SETINFO", "lib-ver", "9.0"}, "+OK\r\n"},
		{[]string{"CLIENT", "SETINFO", "lib-foo", "9.0"}, "-ERR Unrecognized option 'lib-foo'\r\n"},
		{[]string{"CLIENT", "SETINFO", "lib-ver", "a b"}, "-ERR lib-ver cannot contain spaces, newlines or special characters.\r\n"},
		{[]string{"CLIENT", "LIST", "TYPE", "foo"}, "-ERR Unknown client type 'foo'\r\n"},
		{[]string{"CLIENT", "LIST", "ID", "x"}, "-ERR Invalid client ID\r\n"},
		{[]string{"CLIENT", "LIST", "foo"}, "-ERR syntax error\r\n"},
		{[]string{"CLIENT", "LIST", "TYPE", "pubsub"}, "$0\r\n\r\n"},
	})
	connOf(x).proto = resp.RESP3
	if got := runLocal(t, x, "CLIENT", "GETNAME"); got != "_\r\n" {
		t.Errorf("RESP3 CLIENT GETNAME = %q", got)
	}
	if connOf(x).libName != "go-redis(x)" || connOf(x).libVer != "9.0" {
		t.Errorf("SETINFO stored %q %q", connOf(x).libName, connOf(x).libVer)
	}
}

func TestClientInfoLine(t *testing.T) {
	x := connTestCtx(t, "", resp.RESP3)
	connOf(x).addr, connOf(x).laddr = "127.0.0.1:5000", "127.0.0.1:6379"
	connOf(x).name, connOf(x).libName = "n", "lib"
	got := runLocal(t, x, "CLIENT", "INFO")
	line := "id=7 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=-1 name=n age="
	if len(got) < 12 || got[:1] != "=" || !contains(got, "txt:"+line) ||
		!contains(got, " flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 ") ||
		!contains(got, " cmd=client|info user=default redir=-1 resp=3 lib-name=lib lib-ver=\n\r\n") {
		t.Fatalf("CLIENT INFO = %q", got)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
