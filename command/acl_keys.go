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
// with the ACCESS flag, Write for INSERT, DELETE or UPDATE (Redis's
// ACLSelectorCheckKey). Read and Write are the union over the specs;
// Specs, when the command has several, says which keys each covers
// (RENAME's source needs read and write, its destination write only).
// Variable is set for a command whose flags depend on its arguments
// (SET ... GET).
type KeyAccess struct {
	Read, Write, Variable bool
	Specs                 []KeySpecAccess
}

// KeySpecAccess is one key spec of a command with several: the keys at
// argument Index, then every Step-th up to LastKey (as Command.LastKey:
// negative counts from the end, relative to Index when positive), and
// the permissions they need.
type KeySpecAccess struct {
	Index, LastKey, Step int
	Read, Write          bool
}

var (
	keyAccessOnce sync.Once
	keyAccess     []KeyAccess // by Command.ID
)

// KeyAccessOf returns c's KeyAccess. Safe for concurrent use once the
// table is registered (it is built on first call).
func KeyAccessOf(c *Command) *KeyAccess {
	keyAccessOnce.Do(buildKeyAccess)
	if c.ID <= 0 || c.ID >= len(keyAccess) {
		return &KeyAccess{Read: true, Write: true}
	}
	return &keyAccess[c.ID]
}

func buildKeyAccess() {
	keyAccess = make([]KeyAccess, NumIDs()+1)
	for _, c := range All() {
		for _, cc := range append([]*Command{c}, c.Subs...) {
			ka := KeyAccess{Read: true, Write: true}
			if m, ok := commandMeta[cc.Name]; ok {
				if k, ok := parseKeyAccess(m.info); ok {
					ka = k
				}
			}
			if cc.ID > 0 && cc.ID < len(keyAccess) {
				keyAccess[cc.ID] = ka
			}
		}
	}
}

// parseKeyAccess reads the key specs of a COMMAND INFO reply (RESP3, as
// command_meta_gen.go holds it): its ninth element.
func parseKeyAccess(info string) (KeyAccess, bool) {
	p := respWalker{s: info}
	var v []any
	for i := 0; i < 9; i++ {
		x, ok := p.value()
		if !ok {
			return KeyAccess{}, false
		}
		v = append(v, x)
	}
	specs, ok := v[8].([]any)
	if !ok {
		return KeyAccess{}, false
	}
	var ka KeyAccess
	simple := true
	for _, sp := range specs {
		m, ok := sp.(map[string]any)
		if !ok {
			return KeyAccess{}, false
		}
		var s KeySpecAccess
		flags, _ := m["flags"].([]any)
		for _, f := range flags {
			switch fs, _ := f.(string); toLower(fs) {
			case "access":
				s.Read = true
			case "insert", "delete", "update":
				s.Write = true
			case "variable_flags":
				ka.Variable = true
			}
		}
		ka.Read, ka.Write = ka.Read || s.Read, ka.Write || s.Write
		bs, _ := m["begin_search"].(map[string]any)
		fk, _ := m["find_keys"].(map[string]any)
		bspec, _ := bs["spec"].(map[string]any)
		fspec, _ := fk["spec"].(map[string]any)
		idx, ok1 := bspec["index"].(int)
		last, ok2 := fspec["lastkey"].(int)
		step, ok3 := fspec["keystep"].(int)
		if bs["type"] != "index" || fk["type"] != "range" || !ok1 || !ok2 || !ok3 || step <= 0 {
			simple = false
			continue
		}
		s.Index, s.LastKey, s.Step = idx, last, step
		ka.Specs = append(ka.Specs, s)
	}
	if !simple || len(ka.Specs) < 2 {
		ka.Specs = nil // one spec (or one we cannot map): the union
	}
	return ka, true
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

// value reads one value: a string (simple or bulk), an int, a []any
// (array or set) or a map[string]any.
func (p *respWalker) value() (any, bool) {
	t, l, ok := p.line()
	if !ok {
		return nil, false
	}
	switch t {
	case '+':
		return l, true
	case ':':
		n, err := strconv.Atoi(l)
		return n, err == nil
	case '$':
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 || p.i+n+2 > len(p.s) {
			return nil, false
		}
		v := p.s[p.i : p.i+n]
		p.i += n + 2
		return v, true
	case '*', '~':
		n, err := strconv.Atoi(l)
		if err != nil {
			return nil, false
		}
		out := make([]any, 0, n)
		for i := 0; i < n; i++ {
			v, ok := p.value()
			if !ok {
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	case '%':
		n, err := strconv.Atoi(l)
		if err != nil {
			return nil, false
		}
		out := make(map[string]any, n)
		for i := 0; i < n; i++ {
			k, ok := p.value()
			ks, isStr := k.(string)
			if !ok || !isStr {
				return nil, false
			}
			v, ok := p.value()
			if !ok {
				return nil, false
			}
			out[ks] = v
		}
		return out, true
	}
	return nil, false
}

// ACLKeyMatch reports whether key matches an ACL key pattern (Redis's
// stringmatchlen, case-sensitive).
func ACLKeyMatch(pattern string, key []byte) bool {
	return globMatch([]byte(pattern), string(key))
}
