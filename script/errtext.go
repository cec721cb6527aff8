package script

import (
	"regexp"
	"strings"
)

// gopher-lua words some runtime errors differently from Lua 5.1; the
// common ones are rewritten to Lua's text, as Redis prints them.
var (
	reBadArg  = regexp.MustCompile(`bad argument #(\d+) to ([A-Za-z_][A-Za-z0-9_.]*) \(`)
	reArith   = regexp.MustCompile(`cannot perform (?:add|sub|mul|div|mod|pow|unm) operation between (\w+) and (\w+)`)
	reConcat  = regexp.MustCompile(`cannot perform concat operation between (\w+) and (\w+)`)
	reForName = regexp.MustCompile(`in table for ([A-Za-z_][A-Za-z0-9_]*)$`)
)

// luaErrorText rewrites a gopher-lua runtime error message to Lua 5.1's.
func luaErrorText(msg string) string {
	if !strings.Contains(msg, "bad argument") && !strings.Contains(msg, "cannot perform") && !strings.Contains(msg, "in table for") {
		return msg
	}
	msg = reBadArg.ReplaceAllString(msg, "bad argument #$1 to '$2' (")
	msg = reArith.ReplaceAllStringFunc(msg, func(m string) string {
		p := reArith.FindStringSubmatch(m)
		bad := p[1]
		if bad == "number" {
			bad = p[2]
		}
		return "attempt to perform arithmetic on a " + bad + " value"
	})
	msg = reConcat.ReplaceAllStringFunc(msg, func(m string) string {
		p := reConcat.FindStringSubmatch(m)
		bad := p[1]
		if bad == "string" || bad == "number" {
			bad = p[2]
		}
		return "attempt to concatenate a " + bad + " value"
	})
	return reForName.ReplaceAllString(msg, "in table for '$1'")
}
