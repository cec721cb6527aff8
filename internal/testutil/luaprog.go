package testutil

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// LuaProgramOptions selects what LuaTableProgram writes.
type LuaProgramOptions struct {
	// Multi: assignments to several targets (gopher-lua as written gets
	// some of them wrong; Shoal's rewrite repairs them).
	Multi bool
	// Length: the length operator and table.insert, whose results depend
	// on how the implementation splits a table with holes between array
	// and hash (a border is not unique): only where both sides run
	// gopher-lua.
	Length bool
	// Calls: keys and values that call a function changing a local the
	// program also uses as a key or value. Lua reads a local target part
	// when it sets, after the values; gopher-lua as written does not
	// always: only against Redis.
	Calls bool
}

// LuaTableProgram writes a random Lua program that sets keys of three
// tables (assignments, constructors, rawset, and with the options more)
// with keys and values that are small and large integers, floats,
// strings, locals and (with Calls) calls with side effects, and returns the tables' contents
// sorted and the side-effect counter, as one string. Tests of Shoal's
// script rewrite run such programs against another interpreter.
func LuaTableProgram(rng *rand.Rand, opt LuaProgramOptions) string {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	table := func() string { return pick("a", "b", "c.t") }
	keys := []string{
		fmt.Sprint(1 + rng.IntN(40)), fmt.Sprint(1 + rng.IntN(5000)), fmt.Sprint(-rng.IntN(5)),
		"1.5", "'s'", "'" + fmt.Sprint(rng.IntN(9)) + "'", "n", "(n % 7) + 1",
	}
	values := []string{fmt.Sprint(rng.IntN(100)), "'v'", "n"}
	if opt.Calls {
		keys = append(keys, "f()")
		values = append(values, "f()")
	}
	if opt.Length {
		keys = append(keys, "#a + 1", "#b")
		values = append(values, "#a")
	}
	key := func() string { return pick(keys...) }
	value := func() string { return pick(values...) }
	var b strings.Builder
	b.WriteString("local a, b, c, n = {}, {1, 2, 3}, {t = {}}, 0\n")
	b.WriteString("local function f() n = n + 1 return n end\n")
	for i, stmts := 0, 5+rng.IntN(20); i < stmts; {
		switch rng.IntN(7) {
		case 0, 1:
			fmt.Fprintf(&b, "%s[%s] = %s\n", table(), key(), value())
		case 2:
			if !opt.Multi {
				continue
			}
			fmt.Fprintf(&b, "%s[%s], %s[%s] = %s, %s\n", table(), key(), table(), key(), value(), value())
		case 3:
			if !opt.Multi {
				continue
			}
			if rng.IntN(2) == 0 {
				fmt.Fprintf(&b, "%s[%s], n = %s, n + 1\n", table(), key(), value())
			} else {
				fmt.Fprintf(&b, "n, %s[%s] = n + 1, %s\n", table(), key(), value())
			}
		case 4:
			// Ends with a positional field: gopher-lua as written stores
			// extra values when the last field is keyed with a call.
			fmt.Fprintf(&b, "%s = {%s, [%s] = %s, %s, [%s] = %s, %s}\n", pick("a", "b"), value(), key(), value(), value(), key(), value(), value())
		case 5:
			fmt.Fprintf(&b, "rawset(%s, %s, %s)\n", table(), key(), value())
		case 6:
			if !opt.Length {
				continue
			}
			fmt.Fprintf(&b, "table.insert(%s, %s, %s)\n", table(), pick("1", "2", "#b + 1"), value())
		}
		i++
	}
	b.WriteString(`local out = {}
for name, t in pairs({a = a, b = b, c = c.t}) do
  for k, v in pairs(t) do out[#out + 1] = name .. '[' .. tostring(k) .. ']=' .. tostring(v) end
end
table.sort(out)
return table.concat(out, ' ') .. ' n=' .. n`)
	return b.String()
}
