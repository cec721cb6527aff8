package server

import (
	"strings"
	"testing"

	"github.com/shoalcache/shoal/command"
)

// setUser applies rules to a new user and returns its state (failing the
// test on a refused rule).
func setUser(t *testing.T, rules string) *userState {
	t.Helper()
	st, rule, why := applyRules(newUserState(), strings.Fields(rules))
	if st == nil {
		t.Fatalf("rules %q: %q refused: %s", rules, rule, why)
	}
	return st
}

// TestACLRulesDescribe checks ACL LIST's line for users made of rules (the
// expected lines are redis-server 7.0's), and that parsing a line gives
// the same user back (ACL files and the map rely on it).
func TestACLRulesDescribe(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, c := range []struct{ rules, want string }{
		{"", "user u off resetchannels -@all"},
		{"on nopass ~* &* +@all", "user u on nopass ~* &* +@all"},
		{"on >p1 #" + h + " ~k* %R~r* %W~w* &ch -@all +@string -set",
			"user u on #" + hashPassword("p1") + " #" + h + " ~k* %R~r* %W~w* resetchannels &ch -@all +@string -set"},
		{"on nopass ~* &* +@all -flushall +config|get", "user u on nopass ~* &* +@all -flushall"},
		{"+client|list", "user u off resetchannels -@all +client|list"},
		{"allkeys resetkeys ~a ~a %R~b %W~b", "user u off ~a ~b resetchannels -@all"},
		{"on >x reset", "user u off sanitize-payload resetchannels -@all"},
		{">x <x", "user u off resetchannels -@all"},
		{">x nopass", "user u off nopass resetchannels -@all"},
		{"allcommands nocommands +get", "user u off resetchannels -@all +get"},
		{"%R~", "user u off %R~ resetchannels -@all"},
	} {
		st := setUser(t, c.rules)
		if got := st.describe("u"); got != c.want {
			t.Errorf("rules %q:\n got %q\nwant %q", c.rules, got, c.want)
			continue
		}
		name, st2, err := parseUserLine(c.want)
		if err != nil || name != "u" || st2.describe("u") != c.want {
			t.Errorf("line %q parsed back as %v %q: %v", c.want, name, st2.describe("u"), err)
		}
	}
}

// TestACLRuleErrors checks the reason of each refused rule, and that a
// refused rule changes nothing.
func TestACLRuleErrors(t *testing.T) {
	for _, c := range []struct{ rules, bad, why string }{
		{"foo", "foo", command.ACLRuleSyntax},
		{"+nosuch", "+nosuch", command.ACLRuleUnknown},
		{"+@nosuch", "+@nosuch", command.ACLRuleUnknown},
		{"#abc", "#abc", command.ACLRuleBadHash},
		{"!" + strings.Repeat("A", 64), "!" + strings.Repeat("A", 64), command.ACLRuleBadHash},
		{"<nope", "<nope", command.ACLRuleNoPassword},
		{"~* ~a", "~a", command.ACLRuleKeyAfterAll},
		{"allkeys %R~a", "%R~a", command.ACLRuleKeyAfterAll},
		{"&* &a", "&a", command.ACLRuleChAfterAll},
		{"%X~a", "%X~a", command.ACLRuleSyntax},
		{"%RR~a", "%RR~a", command.ACLRuleSyntax},
		{"%~a", "%~a", command.ACLRuleSyntax},
		{"+client|", "+client|", command.ACLRuleSyntax},
		{"+client|nosuch", "+client|nosuch", command.ACLRuleUnknown},
		{"+client|list|x", "+client|list|x", command.ACLRuleFirstArgSub},
		{"+select|0", "+select|0", command.ACLRuleUnknown},
		{"on (+get ~x)", "(+get", command.ACLRuleSelectors},
	} {
		base := newUserState()
		st, rule, why := applyRules(base, strings.Fields(c.rules))
		if st != nil || rule != c.bad || why != c.why {
			t.Errorf("rules %q: refused %q (%q), want %q (%q)", c.rules, rule, why, c.bad, c.why)
		}
		if base.enabled {
			t.Errorf("rules %q: the base user changed", c.rules)
		}
	}
}

// TestACLPasswords checks AUTH's password check: enabled users only,
// nopass, several passwords, removal.
func TestACLPasswords(t *testing.T) {
	st := setUser(t, "on >a >b")
	for pw, ok := range map[string]bool{"a": true, "b": true, "c": false, "": false} {
		if st.checkPass([]byte(pw)) != ok {
			t.Errorf("password %q: %v", pw, !ok)
		}
	}
	if setUser(t, "on >a <a").checkPass([]byte("a")) {
		t.Error("removed password accepted")
	}
	if !setUser(t, "on nopass").checkPass([]byte("x")) {
		t.Error("nopass refused")
	}
	if setUser(t, "off nopass").checkPass([]byte("x")) {
		t.Error("disabled user accepted")
	}
	if !setUser(t, "on #"+hashPassword("h")).checkPass([]byte("h")) {
		t.Error("#hash refused its password")
	}
}

// TestACLCheck checks command and key permissions, with %R~ and %W~ and
// the key specs' needs (Redis 7.0's answers, see testdata/diff/acl.txt).
func TestACLCheck(t *testing.T) {
	st := setUser(t, "on nopass +@all %W~w* %R~r* ~k*")
	for _, c := range []struct {
		cmd    string
		reason int
		obj    string
	}{
		{"GET r1", aclOK, ""},
		{"GET w1", aclDeniedKey, "w1"},
		{"GET k1", aclOK, ""},
		{"SET w1 v", aclOK, ""},
		{"SET w1 v GET", aclDeniedKey, "w1"},
		{"SET r1 v", aclDeniedKey, "r1"},
		{"INCR w1", aclDeniedKey, "w1"},
		{"APPEND w1 x", aclOK, ""},
		{"EXISTS w1", aclOK, ""},
		{"EXISTS zz", aclDeniedKey, "zz"},
		{"MGET r1 w1", aclDeniedKey, "w1"},
		{"MSET w1 a w2 b", aclOK, ""},
		{"MSET w1 a r2 b", aclDeniedKey, "r2"},
		{"DEL k1 r1", aclDeniedKey, "r1"},
		{"COPY r1 w1", aclOK, ""}, // source RO access, destination OW update
		{"COPY w1 r1", aclDeniedKey, "w1"},
		{"RENAME r1 w1", aclDeniedKey, "r1"}, // source RW access delete
		{"RENAME k1 w1", aclOK, ""},
		{"LCS r1 r2", aclOK, ""},
		{"LCS r1 w2", aclDeniedKey, "w2"},
		{"PING", aclOK, ""},
	} {
		args := bytesArgs(strings.Fields(c.cmd))
		cmd := lookupFull(args)
		var kb [][]byte
		if r, o := aclCheck(st, cmd, args, &kb); r != c.reason || o != c.obj {
			t.Errorf("%s: %d %q, want %d %q", c.cmd, r, o, c.reason, c.obj)
		}
	}
	st = setUser(t, "on nopass -@all +get +client|list allkeys")
	for _, c := range []struct {
		cmd    string
		reason int
		obj    string
	}{
		{"GET a", aclOK, ""},
		{"SET a b", aclDeniedCmd, "set"},
		{"CLIENT LIST", aclOK, ""},
		{"CLIENT KILL x", aclDeniedCmd, "client|kill"},
		{"AUTH a b", aclOK, ""}, // no-auth commands pass, as in Redis
		{"PING", aclDeniedCmd, "ping"},
	} {
		args := bytesArgs(strings.Fields(c.cmd))
		var kb [][]byte
		if r, o := aclCheck(st, lookupFull(args), args, &kb); r != c.reason || o != c.obj {
			t.Errorf("%s: %d %q, want %d %q", c.cmd, r, o, c.reason, c.obj)
		}
	}
}

func bytesArgs(s []string) [][]byte {
	out := make([][]byte, len(s))
	for i, a := range s {
		out[i] = []byte(a)
	}
	return out
}

func lookupFull(args [][]byte) *command.Command {
	cmd := command.Lookup(args[0])
	if len(cmd.Subs) > 0 && len(args) > 1 {
		if sub := cmd.Sub(args[1]); sub != nil {
			return sub
		}
	}
	return cmd
}

// TestACLDefaultUserFree checks the hot path: the default user's check
// allocates nothing and answers "" (one atomic load, one field).
func TestACLDefaultUserFree(t *testing.T) {
	s, err := New(DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{srv: s, acl: aclConn{user: s.defaultUser()}}
	args := bytesArgs([]string{"SET", "k", "v"})
	cmd := command.Lookup(args[0])
	if n := testing.AllocsPerRun(1000, func() {
		if c.aclDenied(cmd, args) != "" {
			t.Fatal("default user denied")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per check", n)
	}
	// Restricting the default user takes effect on its connections.
	if err := s.changeUsers(func(u map[string]*userState) error {
		st, _, _ := applyRules(u["default"], []string{"-set"})
		u["default"] = st
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := c.aclDenied(cmd, args); got != command.ErrACLNoPermCmd("set") {
		t.Fatalf("after -set: %q", got)
	}
}
