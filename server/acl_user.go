package server

// ACL users: the model and its rules (ACL SETUSER's grammar, Redis 7.0's
// ACLSetUser/ACLSetSelector), and ACL LIST's description of a user
// (ACLDescribeUser). Enforcement is in acl_check.go, the ACL command in
// acl_cmd.go, the user table and its replication in acl_table.go.

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/shoalcache/shoal/command"
)

// Key pattern permissions (%R~, %W~; ~ is both).
const (
	keyRead  = 1
	keyWrite = 2
	keyAll   = keyRead | keyWrite
)

// keyPattern is one key pattern of a user.
type keyPattern struct {
	flags   uint8
	pattern string
}

// userState is a user's rules. It is immutable once published: a change
// builds a new one (clone, then the rules), so the connection goroutines
// read it with one atomic load and no lock.
type userState struct {
	enabled  bool
	nopass   bool
	sanitize uint8 // 0, 1 skip-sanitize-payload, 2 sanitize-payload
	// passwords are SHA-256 hex digests, in the order added.
	passwords []string
	// future is Redis's reserved command bit: set by +@all, cleared by
	// -@all; ACL LIST then starts from +@all.
	future bool
	// allCmds is Redis's ALLCOMMANDS flag: every command bit is set
	// (+@all, cleared by any later '-' rule).
	allCmds bool
	cmds    []uint64 // by command.Command.ID
	allKeys bool
	keys    []keyPattern
	allCh   bool
	chans   []string
	// unrestricted: allCmds and allKeys; the per-command check is then
	// this one field.
	unrestricted bool
}

// aclUser is one user. The name never changes; st is replaced whole by
// ACL SETUSER, ACL LOAD or a replicated change. deleted is set once the
// user left the table (its connections are then closed).
type aclUser struct {
	name    string
	st      atomic.Pointer[userState]
	deleted atomic.Bool
}

func newACLUser(name string, st *userState) *aclUser {
	u := &aclUser{name: name}
	u.st.Store(st)
	return u
}

// newUserState returns the state of a user ACL SETUSER creates: off, no
// password, no commands, no keys, no channels (Redis's acl-pubsub-default
// resetchannels).
func newUserState() *userState {
	return &userState{cmds: make([]uint64, cmdWords())}
}

// defaultUserState returns the default user's state with password pw
// (requirepass; "" is nopass): on ~* &* +@all.
func defaultUserState(pw string) *userState {
	st := newUserState()
	st.enabled, st.allKeys, st.allCh = true, true, true
	st.setAllCommands(true)
	if pw == "" {
		st.nopass = true
	} else {
		st.passwords = []string{hashPassword(pw)}
	}
	st.finish()
	return st
}

func cmdWords() int { return command.NumIDs()/64 + 1 }

func (st *userState) clone() *userState {
	c := *st
	c.passwords = append([]string(nil), st.passwords...)
	c.cmds = append([]uint64(nil), st.cmds...)
	c.keys = append([]keyPattern(nil), st.keys...)
	c.chans = append([]string(nil), st.chans...)
	return &c
}

// finish computes the derived fields once the rules are applied.
func (st *userState) finish() { st.unrestricted = st.allCmds && st.allKeys }

func (st *userState) bit(id int) bool {
	return id > 0 && id/64 < len(st.cmds) && st.cmds[id/64]&(1<<(id%64)) != 0
}

func (st *userState) setBit(id int, on bool) {
	if id <= 0 || id/64 >= len(st.cmds) {
		return
	}
	if on {
		st.cmds[id/64] |= 1 << (id % 64)
	} else {
		st.cmds[id/64] &^= 1 << (id % 64)
		st.allCmds = false
	}
}

func (st *userState) setAllCommands(on bool) {
	for i := range st.cmds {
		if on {
			st.cmds[i] = ^uint64(0)
		} else {
			st.cmds[i] = 0
		}
	}
	st.future, st.allCmds = on, on
}

// changePerm sets cmd's bit, and its subcommands' (ACLChangeSelectorPerm).
func (st *userState) changePerm(cmd *command.Command, on bool) {
	st.setBit(cmd.ID, on)
	for _, s := range cmd.Subs {
		st.setBit(s.ID, on)
	}
}

// setCategory sets the bit of every command and subcommand of category
// cat; false when there is no such category.
func (st *userState) setCategory(cat string, on bool) bool {
	if !knownCategory(cat) {
		return false
	}
	eachCommand(func(c *command.Command) {
		if inCategory(c, cat) {
			st.setBit(c.ID, on)
		}
	})
	return true
}

func knownCategory(cat string) bool {
	for _, c := range command.ACLCategories {
		if strings.EqualFold(c, cat) {
			return true
		}
	}
	return false
}

func inCategory(c *command.Command, cat string) bool {
	for _, a := range c.ACL {
		if strings.EqualFold(a, cat) {
			return true
		}
	}
	return false
}

// eachCommand calls f for every command and subcommand, by name.
func eachCommand(f func(c *command.Command)) {
	for _, c := range command.All() {
		f(c)
		subs := append([]*command.Command(nil), c.Subs...)
		sort.Slice(subs, func(i, j int) bool { return subs[i].Name < subs[j].Name })
		for _, s := range subs {
			f(s)
		}
	}
}

func hashPassword(pw string) string {
	h := sha256.Sum256([]byte(pw))
	return hex.EncodeToString(h[:])
}

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; (c < 'a' || c > 'f') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// hasSpaces reports whether s has a space or a NUL (Redis's
// ACLStringHasSpaces: not allowed in names and patterns).
func hasSpaces(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\v', '\f', '\r', 0:
			return true
		}
	}
	return false
}

// checkPass reports whether pass authenticates a user in state st.
func (st *userState) checkPass(pass []byte) bool {
	if !st.enabled {
		return false
	}
	if st.nopass {
		return true
	}
	h := sha256.Sum256(pass)
	var hx [64]byte
	hex.Encode(hx[:], h[:])
	ok := 0
	for _, p := range st.passwords {
		ok |= subtle.ConstantTimeCompare(hx[:], []byte(p))
	}
	return ok == 1
}

// apply applies one rule to st (which the caller cloned) and returns ""
// or the reason it refused (command.ACLRule*).
func (st *userState) apply(op string) string {
	if op == "" {
		return command.ACLRuleSyntax
	}
	lower := strings.ToLower(op)
	switch lower {
	case "on":
		st.enabled = true
		return ""
	case "off":
		st.enabled = false
		return ""
	case "skip-sanitize-payload":
		st.sanitize = 1
		return ""
	case "sanitize-payload":
		st.sanitize = 2
		return ""
	case "nopass":
		st.nopass, st.passwords = true, nil
		return ""
	case "resetpass":
		st.nopass, st.passwords = false, nil
		return ""
	case "reset":
		st.nopass, st.passwords = false, nil
		st.allKeys, st.keys = false, nil
		st.allCh, st.chans = false, nil
		st.enabled = false
		st.sanitize = 2
		st.setAllCommands(false)
		return ""
	case "allkeys", "~*":
		st.allKeys, st.keys = true, nil
		return ""
	case "resetkeys":
		st.allKeys, st.keys = false, nil
		return ""
	case "allchannels", "&*":
		st.allCh, st.chans = true, nil
		return ""
	case "resetchannels":
		st.allCh, st.chans = false, nil
		return ""
	case "allcommands", "+@all":
		st.setAllCommands(true)
		return ""
	case "nocommands", "-@all":
		st.setAllCommands(false)
		return ""
	case "clearselectors":
		return ""
	}
	switch op[0] {
	case '>', '#':
		h := op[1:]
		if op[0] == '>' {
			h = hashPassword(op[1:])
		} else if !validHash(h) {
			return command.ACLRuleBadHash
		}
		found := false
		for _, p := range st.passwords {
			found = found || p == h
		}
		if !found {
			st.passwords = append(st.passwords, h)
		}
		st.nopass = false
		return ""
	case '<', '!':
		h := op[1:]
		if op[0] == '<' {
			h = hashPassword(op[1:])
		} else if !validHash(h) {
			return command.ACLRuleBadHash
		}
		at := -1
		for i, p := range st.passwords {
			if p == h {
				at = i
			}
		}
		if at < 0 {
			return command.ACLRuleNoPassword
		}
		st.passwords = append(st.passwords[:at:at], st.passwords[at+1:]...)
		st.nopass = false
		return ""
	case '~', '%':
		return st.addKeyPattern(op)
	case '&':
		if st.allCh {
			return command.ACLRuleChAfterAll
		}
		ch := op[1:]
		for _, c := range st.chans {
			if c == ch {
				return ""
			}
		}
		st.chans = append(st.chans, ch)
		return ""
	case '(':
		return command.ACLRuleSelectors
	case '+', '-':
		on := op[0] == '+'
		if len(op) > 1 && op[1] == '@' {
			if !st.setCategory(op[2:], on) {
				return command.ACLRuleUnknown
			}
			return ""
		}
		name := op[1:]
		parent, sub, hasSub := strings.Cut(name, "|")
		if hasSub {
			pc := command.Lookup([]byte(parent))
			if pc == nil {
				return command.ACLRuleUnknown
			}
			if strings.Contains(sub, "|") {
				return command.ACLRuleFirstArgSub
			}
			if sub == "" {
				return command.ACLRuleSyntax
			}
			if len(pc.Subs) == 0 {
				// First-arg rules (+select|0) are not supported.
				return command.ACLRuleUnknown
			}
		}
		cmd := command.LookupFullName([]byte(name))
		if cmd == nil {
			return command.ACLRuleUnknown
		}
		st.changePerm(cmd, on)
		return ""
	}
	return command.ACLRuleSyntax
}

// addKeyPattern applies a ~pattern or %R~/%W~/%RW~pattern rule.
func (st *userState) addKeyPattern(op string) string {
	if st.allKeys {
		return command.ACLRuleKeyAfterAll
	}
	var flags uint8
	off := 1
	if op[0] == '%' {
		for ; off < len(op); off++ {
			c := op[off]
			if (c == 'R' || c == 'r') && flags&keyRead == 0 {
				flags |= keyRead
			} else if (c == 'W' || c == 'w') && flags&keyWrite == 0 {
				flags |= keyWrite
			} else if c == '~' {
				off++
				break
			} else {
				return command.ACLRuleSyntax
			}
		}
	} else {
		flags = keyAll
	}
	if flags == 0 || hasSpaces(op[off:]) {
		return command.ACLRuleSyntax
	}
	pat := op[off:]
	for i := range st.keys {
		if st.keys[i].pattern == pat {
			st.keys[i].flags |= flags
			return ""
		}
	}
	st.keys = append(st.keys, keyPattern{flags: flags, pattern: pat})
	return ""
}

// applyRules applies rules to a clone of st and returns the new state, or
// the failing rule and the reason.
func applyRules(st *userState, rules []string) (*userState, string, string) {
	n := st.clone()
	for _, r := range rules {
		if why := n.apply(r); why != "" {
			return nil, r, why
		}
	}
	n.finish()
	return n, "", ""
}

// describe returns ACL LIST's line for user name in state st.
func (st *userState) describe(name string) string {
	var b strings.Builder
	b.WriteString("user ")
	b.WriteString(name)
	for _, f := range st.flagNames() {
		b.WriteByte(' ')
		b.WriteString(f)
	}
	for _, p := range st.passwords {
		b.WriteString(" #")
		b.WriteString(p)
	}
	if k := st.keysString(); k != "" {
		b.WriteByte(' ')
		b.WriteString(k)
	}
	b.WriteByte(' ')
	b.WriteString(st.channelsString())
	b.WriteByte(' ')
	b.WriteString(st.commandRules())
	return b.String()
}

// flagNames are the user flags in ACLDescribeUser's order.
func (st *userState) flagNames() []string {
	f := []string{"off"}
	if st.enabled {
		f[0] = "on"
	}
	if st.nopass {
		f = append(f, "nopass")
	}
	switch st.sanitize {
	case 1:
		f = append(f, "skip-sanitize-payload")
	case 2:
		f = append(f, "sanitize-payload")
	}
	return f
}

// keysString is the key part of a description ("~*", "~a %R~b", "").
func (st *userState) keysString() string {
	if st.allKeys {
		return "~*"
	}
	parts := make([]string, 0, len(st.keys))
	for _, k := range st.keys {
		switch k.flags {
		case keyAll:
			parts = append(parts, "~"+k.pattern)
		case keyRead:
			parts = append(parts, "%R~"+k.pattern)
		default:
			parts = append(parts, "%W~"+k.pattern)
		}
	}
	return strings.Join(parts, " ")
}

// channelsString is the channel part ("&*", "resetchannels &a").
func (st *userState) channelsString() string {
	if st.allCh {
		return "&*"
	}
	parts := []string{"resetchannels"}
	for _, c := range st.chans {
		parts = append(parts, "&"+c)
	}
	return strings.Join(parts, " ")
}

// commandRules describes the command bits as Redis 7.0's
// ACLDescribeSelectorCommandRules does: start from +@all (when future
// commands are allowed) or -@all, add the categories that bring the
// description closer, then single commands for the remaining
// differences. Redis lists those in its hash table's order; Shoal by
// name. Counts are over Shoal's commands, so a category may be chosen
// where Redis (with more commands) would not.
func (st *userState) commandRules() string {
	var rules []string
	fake := newUserState()
	additive := !st.future
	if additive {
		rules = append(rules, "-@all")
	} else {
		rules = append(rules, "+@all")
		fake.setAllCommands(true)
	}
	temp := newUserState()
	copy(temp.cmds, st.cmds)
	for _, cat := range command.ACLCategories {
		on, off := 0, 0
		eachCommand(func(c *command.Command) {
			if inCategory(c, cat) {
				if temp.bit(c.ID) {
					on++
				} else {
					off++
				}
			}
		})
		if (additive && on > off) || (!additive && off > on) {
			fake.setCategory(cat, additive)
			temp.setCategory(cat, !additive)
			if additive {
				rules = append(rules, "+@"+cat)
			} else {
				rules = append(rules, "-@"+cat)
			}
		}
	}
	eachCommand(func(c *command.Command) {
		u, f := st.bit(c.ID), fake.bit(c.ID)
		if u == f {
			return
		}
		if u {
			rules = append(rules, "+"+c.Name)
		} else {
			rules = append(rules, "-"+c.Name)
		}
		fake.setBit(c.ID, u)
	})
	return strings.Join(rules, " ")
}
