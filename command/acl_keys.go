package command

import (
	"strconv"
	"sync"
)

// ACLCategories are Redis 7.0's ACL categories, in ACL CAT's order (and the
// order ACL LIST's rule compaction tries them).
var ACLCategories = []string{
	"keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
	"bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
	"blocking", "dangerous", "connection", "transaction", "scripting",
}

// KeyAccess says which key permissions a command needs, from its key
// specs in Redis 7.0's metadata (command_meta_gen.go): Read for a spec
// with the ACCESS flag, Write for INSERT, DELETE or UPDATE. Variable is
// set for a command whose flags depend on its arguments (SET ... GET).
// A command with several key specs (RENAME, COPY) gets their union for
// every key: stricter than Redis, which applies each spec to its keys.
type KeyAccess struct {
	Read, Write, Variable bool
}

var (
	keyAccessOnce sync.Once
	keyAccess     []KeyAccess // by Command.ID
)

// KeyAccessOf returns c's KeyAccess. Safe for concurrent use once the
// table is registered (it is built on first call).
func KeyAccessOf(c *Command) KeyAccess {
	keyAccessOnce.Do(buildKeyAccess)
	if c.ID <= 0 || c.ID >= len(keyAccess) {
		return KeyAccess{Read: true, Write: true}
	}
	return keyAccess[c.ID]
}

func buildKeyAccess() {
	keyAccess = make([]KeyAccess, NumIDs()+1)
	for _, c := range All() {
		for _, cc := range append([]*Command{c}, c.Subs...) {
			name := cc.Name
			ka := KeyAccess{Read: true, Write: true}
			if m, ok := commandMeta[name]; ok {
				if flags, ok := keySpecFlags(m.info); ok {
					ka = KeyAccess{}
					for _, f := range flags {
						switch f {
						case "access":
							ka.Read = true
						case "insert", "delete", "update":
							ka.Write = true
						case "variable_flags":
							ka.Variable = true
						}
					}
				}
			}
			if cc.ID > 0 && cc.ID < len(keyAccess) {
				keyAccess[cc.ID] = ka
			}
		}
	}
}

// keySpecFlags returns the flags of every key spec of a COMMAND INFO
// reply (RESP3, as command_meta_gen.go holds it): its ninth element.
func keySpecFlags(info string) ([]string, bool) {
	p := respWalker{s: info}
	var flags []string
	for i := 0; i < 8; i++ {
		if !p.skip() {
			return nil, false
		}
	}
	n, ok := p.header('~', '*')
	if !ok {
		return nil, false
	}
	for i := 0; i < n; i++ {
		fields, ok := p.header('%', 0)
		if !ok {
			return nil, false
		}
		for j := 0; j < fields; j++ {
			key, ok := p.str()
			if !ok {
				return nil, false
			}
			if key != "flags" {
				if !p.skip() {
					return nil, false
				}
				continue
			}
			k, ok := p.header('~', '*')
			if !ok {
				return nil, false
			}
			for l := 0; l < k; l++ {
				f, ok := p.str()
				if !ok {
					return nil, false
				}
				flags = append(flags, toLower(f))
			}
		}
	}
	return flags, true
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// respWalker reads the RESP3 of command_meta_gen.go's info strings.
type respWalker struct {
	s string
	i int
}

// line returns the type byte and the rest of the next line.
func (p *respWalker) line() (byte, string, bool) {
	if p.i >= len(p.s) {
		return 0, "", false
	}
	t := p.s[p.i]
	for j := p.i + 1; j+1 < len(p.s); j++ {
		if p.s[j] == '\r' && p.s[j+1] == '\n' {
			l := p.s[p.i+1 : j]
			p.i = j + 2
			return t, l, true
		}
	}
	return 0, "", false
}

// header reads an aggregate header of type a or b and returns its count.
func (p *respWalker) header(a, b byte) (int, bool) {
	t, l, ok := p.line()
	if !ok || (t != a && t != b) {
		return 0, false
	}
	n, err := strconv.Atoi(l)
	return n, err == nil
}

// str reads a simple or bulk string.
func (p *respWalker) str() (string, bool) {
	t, l, ok := p.line()
	if !ok {
		return "", false
	}
	switch t {
	case '+':
		return l, true
	case '$':
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 || p.i+n+2 > len(p.s) {
			return "", false
		}
		v := p.s[p.i : p.i+n]
		p.i += n + 2
		return v, true
	}
	return "", false
}

// skip reads one value of any type.
func (p *respWalker) skip() bool {
	if p.i >= len(p.s) {
		return false
	}
	switch p.s[p.i] {
	case '$':
		_, ok := p.str()
		return ok
	case '*', '~', '%':
		t := p.s[p.i]
		n, ok := p.header(t, 0)
		if !ok {
			return false
		}
		if t == '%' {
			n *= 2
		}
		for i := 0; i < n; i++ {
			if !p.skip() {
				return false
			}
		}
		return true
	default:
		_, _, ok := p.line()
		return ok
	}
}

// ACLKeyMatch reports whether key matches an ACL key pattern (Redis's
// stringmatchlen, case-sensitive).
func ACLKeyMatch(pattern string, key []byte) bool {
	return globMatch([]byte(pattern), string(key))
}
