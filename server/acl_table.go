package server

// The ACL user table of a node, and how it changes: locally on a
// standalone node, through the meta group's map in cluster mode (every
// node then applies the map's users, ApplyClusterACL).

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/shoalcache/shoal/command"
)

// ACLAdmin records ACL users cluster-wide. In cluster mode the router
// implements it (internal/node): the users live in the map the meta
// group holds, as ACL LIST lines.
//
// Concurrency: UpdateACL is called on a connection goroutine; it blocks
// until the map change is committed and this node applied it (it calls
// Server.ApplyClusterACL before returning), or ctx ends.
type ACLAdmin interface {
	// UpdateACL applies change to the cluster's user lines in one
	// compare-and-set of the map, calling change again (with the newer
	// lines) when another change won the race. lines is nil while the map
	// holds no users yet. An error from change is returned as is.
	UpdateACL(ctx context.Context, change func(lines []string) ([]string, error)) error
}

// aclState is the server's user table.
//
// Concurrency: mu guards users and serialises changes (ACL commands on
// connection goroutines, ApplyClusterACL on the node's sync goroutine).
// The states of the users are atomics (aclUser.st): connections read them
// without mu. def is set once, in New.
type aclState struct {
	mu    sync.Mutex
	users map[string]*aclUser
	def   *aclUser
	// file is --aclfile ("" for none).
	file string
	log  aclLog
}

// ruleError is a rule ACL SETUSER refused (its Error is the reply).
type ruleError struct{ rule, why string }

func (e *ruleError) Error() string { return command.ErrACLSetUser(e.rule, e.why) }

// initACL creates the default user from requirepass.
func (s *Server) initACL(requirePass, file string) {
	s.acl.def = newACLUser("default", defaultUserState(requirePass))
	s.acl.users = map[string]*aclUser{"default": s.acl.def}
	s.acl.file = file
}

// defaultUser returns the default user (new connections start as it).
func (s *Server) defaultUser() *aclUser { return s.acl.def }

// defaultAuthenticated reports whether a new connection is authenticated
// as the default user without AUTH: the default user is on and nopass.
func (s *Server) defaultAuthenticated() bool {
	st := s.acl.def.st.Load()
	return st.enabled && st.nopass
}

// HasAuth reports whether clients must authenticate: the default user
// needs a password (requirepass, ACL SETUSER default >...) or is off.
// Redis's protected mode applies only when it does not. Safe for
// concurrent use.
func (s *Server) HasAuth() bool { return !s.defaultAuthenticated() }

// aclUserByName returns the user called name, or nil.
func (s *Server) aclUserByName(name string) *aclUser {
	s.acl.mu.Lock()
	defer s.acl.mu.Unlock()
	return s.acl.users[name]
}

// aclRequirePass applies CONFIG SET requirepass to the default user, as
// Redis's ACLUpdateDefaultUserPassword: resetpass, then >pw or nopass.
func (s *Server) aclRequirePass(pw string) {
	s.acl.mu.Lock()
	defer s.acl.mu.Unlock()
	rule := "nopass"
	if pw != "" {
		rule = ">" + pw
	}
	st, _, _ := applyRules(s.acl.def.st.Load(), []string{"resetpass", rule})
	s.acl.def.st.Store(st)
}

// aclAdmin returns the cluster's ACLAdmin in cluster mode, else nil.
func (s *Server) aclAdmin() ACLAdmin {
	if !s.router.ClusterEnabled() {
		return nil
	}
	a, _ := s.router.(ACLAdmin)
	return a
}

// aclLines returns the table as ACL LIST lines, by name.
func (s *Server) aclLines() []string {
	s.acl.mu.Lock()
	defer s.acl.mu.Unlock()
	return s.aclLinesLocked()
}

func (s *Server) aclLinesLocked() []string {
	names := make([]string, 0, len(s.acl.users))
	for n := range s.acl.users {
		names = append(names, n)
	}
	sort.Strings(names)
	lines := make([]string, len(names))
	for i, n := range names {
		lines[i] = s.acl.users[n].st.Load().describe(n)
	}
	return lines
}

// parseUserLine parses an ACL LIST line ("user name rule..."), as ACL
// files and the map hold them.
func parseUserLine(line string) (string, *userState, error) {
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "user" {
		return "", nil, &ruleError{rule: line, why: command.ACLRuleSyntax}
	}
	st, rule, why := applyRules(newUserState(), f[2:])
	if st == nil {
		return "", nil, &ruleError{rule: rule, why: why}
	}
	return f[1], st, nil
}

// editLines is a change of a set of user lines: fn gets the users by
// name (a copy it may change) and returns an error to refuse.
func editLines(lines []string, fn func(users map[string]*userState) error) ([]string, error) {
	users := make(map[string]*userState, len(lines))
	for _, l := range lines {
		name, st, err := parseUserLine(l)
		if err != nil {
			return nil, err
		}
		users[name] = st
	}
	if err := fn(users); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = users[n].describe(n)
	}
	return out, nil
}

// localUsers returns the table's states by name (the base of the first
// cluster-wide change, when the map has no users yet).
func (s *Server) localUsers() []string {
	lines := s.aclLines()
	out := lines[:0]
	for _, l := range lines {
		if !strings.HasPrefix(l, "user default ") {
			out = append(out, l)
		}
	}
	return out
}

// changeUsers runs fn on the users: on the map in cluster mode (the node
// then applies the result), on the local table otherwise.
func (s *Server) changeUsers(fn func(users map[string]*userState) error) error {
	if a := s.aclAdmin(); a != nil {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		return a.UpdateACL(ctx, func(lines []string) ([]string, error) {
			if lines == nil {
				lines = s.localUsers()
			}
			return editLines(lines, func(users map[string]*userState) error {
				if _, ok := users["default"]; !ok {
					// The default user is per node until a cluster-wide
					// change names it: start from this node's.
					users["default"] = s.acl.def.st.Load().clone()
					err := fn(users)
					if st, ok := users["default"]; ok && st.describe("default") == s.acl.def.st.Load().describe("default") {
						delete(users, "default")
					}
					return err
				}
				return fn(users)
			})
		})
	}
	s.acl.mu.Lock()
	defer s.acl.mu.Unlock()
	users := make(map[string]*userState, len(s.acl.users))
	for n, u := range s.acl.users {
		users[n] = u.st.Load().clone()
	}
	if err := fn(users); err != nil {
		return err
	}
	s.replaceUsersLocked(users, false)
	return nil
}

// replaceUsersLocked makes users the table: existing users get their new
// state (the default user keeps its own when keepDefault is set), new ones
// are created, the others are deleted (never the default user).
// Connections of deleted users, and of users switched off, are closed.
// The caller holds s.acl.mu.
func (s *Server) replaceUsersLocked(users map[string]*userState, keepDefault bool) {
	var closeUsers []*aclUser
	for name, st := range users {
		st.finish()
		if u := s.acl.users[name]; u != nil {
			if name == "default" && keepDefault {
				continue
			}
			old := u.st.Load()
			u.st.Store(st)
			if old.enabled && !st.enabled {
				closeUsers = append(closeUsers, u)
			}
			continue
		}
		s.acl.users[name] = newACLUser(name, st)
	}
	for name, u := range s.acl.users {
		if _, ok := users[name]; ok || name == "default" {
			continue
		}
		delete(s.acl.users, name)
		u.deleted.Store(true)
		closeUsers = append(closeUsers, u)
	}
	if len(closeUsers) > 0 {
		s.closeUserClients(closeUsers)
	}
}

// ApplyClusterACL makes the map's users (ACL LIST lines) this node's: the
// default user too when the lines name it (else it keeps this node's
// requirepass). Lines it cannot parse (a newer node's rules) leave the
// table as it was and return the error. Called by internal/node on every
// map whose users changed; safe for concurrent use.
func (s *Server) ApplyClusterACL(lines []string) error {
	users := make(map[string]*userState, len(lines)+1)
	for _, l := range lines {
		name, st, err := parseUserLine(l)
		if err != nil {
			return err
		}
		users[name] = st
	}
	s.acl.mu.Lock()
	defer s.acl.mu.Unlock()
	keepDefault := false
	if _, ok := users["default"]; !ok {
		users["default"] = s.acl.def.st.Load()
		keepDefault = true
	}
	s.replaceUsersLocked(users, keepDefault)
	return nil
}

// closeUserClients closes the connections authenticated as one of users
// (deleted or disabled), as Redis closes the clients of a deleted user.
// A connection running the ACL command itself closes after its reply.
func (s *Server) closeUserClients(users []*aclUser) {
	for _, cl := range s.clientList() {
		cl.mu.Lock()
		u := cl.acl.user
		cl.mu.Unlock()
		for _, d := range users {
			if u == d {
				if cl.acl.busy.Load() {
					cl.acl.closeAfter.Store(true)
				} else {
					cl.kill()
				}
			}
		}
	}
}
