package server

// ACL enforcement on every command: the connection's user, its command
// bits and key patterns. The default user (all commands, all keys) costs
// one atomic load and one field test per command.

import (
	"sync/atomic"

	"github.com/shoalcache/shoal/command"
)

// aclConn is a connection's ACL state.
type aclConn struct {
	// user is the connection's user: written by the connection goroutine
	// (AUTH, HELLO AUTH, RESET) under client.mu; the connection goroutine
	// reads it without the lock, others (CLIENT LIST, closeUserClients)
	// with it.
	user *aclUser
	// busy is set while the connection runs an ACL command that changes
	// users; a change that must close it then sets closeAfter instead, and
	// the connection closes once its reply is written.
	busy       atomic.Bool
	closeAfter atomic.Bool
}

// userName returns the connection's user name (CLIENT LIST's user=).
// The caller holds c.mu or is the connection goroutine.
func (c *client) userName() string {
	if c.acl.user == nil {
		return "default"
	}
	return c.acl.user.name
}

// setUser makes u the connection's user (authenticated).
func (c *client) setUser(u *aclUser) {
	c.mu.Lock()
	c.acl.user = u
	c.mu.Unlock()
	c.authed = true
}

// aclDenied checks cmd with args against the connection's user and
// returns the NOPERM reply, or "" when it may run. Inlined part: the
// unrestricted test.
func (c *client) aclDenied(cmd *command.Command, args [][]byte) string {
	u := c.acl.user
	if u == nil {
		return ""
	}
	st := u.st.Load()
	if st.unrestricted {
		return ""
	}
	return c.aclCheckSlow(u, st, cmd, args)
}

// aclCheckSlow is the check of a restricted user; it logs a denial.
func (c *client) aclCheckSlow(u *aclUser, st *userState, cmd *command.Command, args [][]byte) string {
	reason, obj := aclCheck(st, cmd, args, &c.keybuf)
	if reason == aclOK {
		return ""
	}
	ctx := "toplevel"
	if c.multi != nil {
		ctx = "multi"
	}
	c.srv.aclLogDenial(c, reason, ctx, obj, u.name)
	if reason == aclDeniedCmd {
		return command.ErrACLNoPermCmd(cmd.Name)
	}
	return command.ErrACLNoPermKey
}

// Outcomes of aclCheck.
const (
	aclOK = iota
	aclDeniedCmd
	aclDeniedKey
	aclDeniedAuth
)

// aclCheck checks cmd (the subcommand when there is one) against st, as
// Redis's ACLSelectorCheckCmd: the command bit (commands that need no
// authentication always pass), then every key against the patterns with
// the permissions the command's key specs need. It returns the outcome
// and the denied command's name or key. keybuf is scratch space.
func aclCheck(st *userState, cmd *command.Command, args [][]byte, keybuf *[][]byte) (int, string) {
	if !st.allCmds && cmd.Flags&command.FlagNoAuth == 0 && !st.bit(cmd.ID) {
		return aclDeniedCmd, cmd.Name
	}
	if st.allKeys || !cmd.Keyed(args, *keybuf) {
		return aclOK, ""
	}
	ka := command.KeyAccessOf(cmd)
	if len(ka.Specs) > 0 {
		// Several key specs: each applies to its own keys.
		for _, sp := range ka.Specs {
			last := sp.Index + sp.LastKey
			if sp.LastKey < 0 {
				last = len(args) + sp.LastKey
			}
			need := specNeed(sp.Read, sp.Write)
			for i := sp.Index; i <= last && i < len(args); i += sp.Step {
				if !st.keyAllowed(args[i], need) {
					return aclDeniedKey, string(args[i])
				}
			}
		}
		return aclOK, ""
	}
	need := specNeed(ka.Read, ka.Write)
	if ka.Variable && cmd.Name == "set" {
		// SET's flags depend on GET (setGetKeys): OW update without it.
		need = keyWrite
		for _, a := range args[3:] {
			if command.EqFold(a, "get") {
				need = keyAll
			}
		}
	}
	*keybuf = cmd.Keys(args, (*keybuf)[:0])
	for _, k := range *keybuf {
		if !st.keyAllowed(k, need) {
			return aclDeniedKey, string(k)
		}
	}
	return aclOK, ""
}

// specNeed returns the key permissions of a key spec.
func specNeed(read, write bool) uint8 {
	var need uint8
	if read {
		need |= keyRead
	}
	if write {
		need |= keyWrite
	}
	return need
}

// keyAllowed reports whether a pattern with the permissions need matches
// key (ACLSelectorCheckKey).
func (st *userState) keyAllowed(key []byte, need uint8) bool {
	for _, p := range st.keys {
		if p.flags&need != need {
			continue
		}
		if command.ACLKeyMatch(p.pattern, key) {
			return true
		}
	}
	return false
}

// userOf returns cl's user; safe from any goroutine.
func (c *client) userOf() *aclUser {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acl.user
}
