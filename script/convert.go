package script

import (
	"bytes"
	"math"
	"strconv"

	lua "github.com/yuin/gopher-lua"

	"github.com/shoalcache/shoal/internal/resp"
)

// maxDepth bounds the nesting of converted replies and values (Redis
// checks the Lua stack instead; a deeper value is an error, not a crash).
const maxDepth = 1000

// fromResp converts one RESP reply (RESP2, or RESP3 when the script called
// redis.setresp(3)) into a Lua value as Redis 7 does, and returns the rest
// of r. RESP2: integer → number, bulk → string, null bulk or array →
// false, array → table, status → {ok=...}, error → {err=...}. RESP3 adds:
// null → nil, boolean → boolean, double → {double=n}, big number →
// {big_number=s}, map → {map={k=v}}, set → {set={member=true}}, verbatim →
// {verbatim_string={format=f, string=s}}.
func (s *state) fromResp(r []byte, depth int) (lua.LValue, []byte, bool) {
	L := s.L
	if len(r) < 3 || depth > maxDepth {
		return nil, nil, false
	}
	i := bytes.Index(r, []byte("\r\n"))
	if i < 0 {
		return nil, nil, false
	}
	t, line, rest := r[0], r[1:i], r[i+2:]
	switch t {
	case '+':
		tb := L.CreateTable(0, 2)
		tb.RawSetString("ok", lua.LString(line))
		return tb, rest, true
	case '-':
		return errorTable(L, "-"+string(line)), rest, true
	case ':':
		n, err := strconv.ParseInt(string(line), 10, 64)
		return lua.LNumber(n), rest, err == nil
	case '_':
		return lua.LNil, rest, true
	case '#':
		return lua.LBool(len(line) == 1 && line[0] == 't'), rest, true
	case ',':
		f, err := strconv.ParseFloat(string(line), 64)
		if err != nil {
			switch string(line) {
			case "inf":
				f, err = math.Inf(1), nil
			case "-inf":
				f, err = math.Inf(-1), nil
			case "nan":
				f, err = math.NaN(), nil
			}
		}
		tb := L.CreateTable(0, 2)
		tb.RawSetString("double", lua.LNumber(f))
		return tb, rest, err == nil
	case '(':
		tb := L.CreateTable(0, 2)
		tb.RawSetString("big_number", lua.LString(line))
		return tb, rest, true
	case '$', '=', '!':
		n, err := strconv.Atoi(string(line))
		if err != nil {
			return nil, nil, false
		}
		if n < 0 {
			return lua.LFalse, rest, true
		}
		if n > len(rest)-2 {
			return nil, nil, false
		}
		body := rest[:n]
		rest = rest[n+2:]
		switch t {
		case '=':
			tb := L.CreateTable(0, 2)
			v := L.CreateTable(0, 2)
			if len(body) >= 4 {
				v.RawSetString("format", lua.LString(body[:3]))
				body = body[4:]
			}
			v.RawSetString("string", lua.LString(body))
			tb.RawSetString("verbatim_string", v)
			return tb, rest, true
		case '!':
			return errorTable(L, "-"+string(body)), rest, true
		}
		return lua.LString(body), rest, true
	case '*', '~', '%', '>':
		n, err := strconv.Atoi(string(line))
		if err != nil || n > len(rest) {
			return nil, nil, false
		}
		if n < 0 {
			return lua.LFalse, rest, true
		}
		switch t {
		case '%':
			m := L.CreateTable(0, n)
			for j := 0; j < n; j++ {
				var k, v lua.LValue
				var ok bool
				if k, rest, ok = s.fromResp(rest, depth+1); !ok {
					return nil, nil, false
				}
				if v, rest, ok = s.fromResp(rest, depth+1); !ok {
					return nil, nil, false
				}
				if k != lua.LNil {
					m.RawSet(k, v)
				}
			}
			tb := L.CreateTable(0, 2)
			tb.RawSetString("map", m)
			return tb, rest, true
		case '~':
			m := L.CreateTable(0, n)
			for j := 0; j < n; j++ {
				var k lua.LValue
				var ok bool
				if k, rest, ok = s.fromResp(rest, depth+1); !ok {
					return nil, nil, false
				}
				if k != lua.LNil {
					m.RawSet(k, lua.LTrue)
				}
			}
			tb := L.CreateTable(0, 2)
			tb.RawSetString("set", m)
			return tb, rest, true
		}
		a := L.CreateTable(n, 0)
		for j := 0; j < n; j++ {
			var v lua.LValue
			var ok bool
			if v, rest, ok = s.fromResp(rest, depth+1); !ok {
				return nil, nil, false
			}
			a.RawSetInt(j+1, v)
		}
		return a, rest, true
	}
	return nil, nil, false
}

// toResp appends the RESP3 form of the script's value v, as Redis 7
// converts a script's return value: number → integer (truncated), string →
// bulk, true → 1 (a boolean after redis.setresp(3)), false and nil →
// null (false is a boolean after redis.setresp(3)), a table with err →
// error, ok → status, double → double, big_number → big number, map →
// map, set → set, else an array of its elements 1..n up to the first nil.
func (s *state) toResp(v lua.LValue, out []byte, depth int) []byte {
	if depth > maxDepth {
		return appendError(out, "ERR reached lua stack limit")
	}
	switch v := v.(type) {
	case lua.LString:
		return resp.AppendBulkString(out, string(v))
	case lua.LNumber:
		return resp.AppendInt(out, toInt(float64(v)))
	case lua.LBool:
		if s.resp == 3 {
			if v {
				return append(out, "#t\r\n"...)
			}
			return append(out, "#f\r\n"...)
		}
		if v {
			return append(out, ":1\r\n"...)
		}
		return append(out, resp.Null3...)
	case *lua.LTable:
		if e, ok := v.RawGetString("err").(lua.LString); ok {
			return appendError(out, string(e))
		}
		if st, ok := v.RawGetString("ok").(lua.LString); ok {
			return appendStatus(out, string(st))
		}
		if d, ok := v.RawGetString("double").(lua.LNumber); ok {
			return resp.AppendDouble(out, resp.RESP3, float64(d))
		}
		if b, ok := v.RawGetString("big_number").(lua.LString); ok {
			out = append(out, '(')
			out = append(out, sanitize(string(b))...)
			return append(out, '\r', '\n')
		}
		if vs, ok := v.RawGetString("verbatim_string").(*lua.LTable); ok {
			str, _ := vs.RawGetString("string").(lua.LString)
			format, _ := vs.RawGetString("format").(lua.LString)
			if len(format) != 3 {
				format = "txt"
			}
			out = append(out, '=')
			out = strconv.AppendInt(out, int64(len(str)+4), 10)
			out = append(out, '\r', '\n')
			out = append(out, format...)
			out = append(out, ':')
			out = append(out, str...)
			return append(out, '\r', '\n')
		}
		if m, ok := v.RawGetString("map").(*lua.LTable); ok {
			n := 0
			forEach(m, func(lua.LValue, lua.LValue) { n++ })
			out = resp.AppendMap(out, resp.RESP3, n)
			forEach(m, func(k, val lua.LValue) {
				out = s.toResp(k, out, depth+1)
				out = s.toResp(val, out, depth+1)
			})
			return out
		}
		if m, ok := v.RawGetString("set").(*lua.LTable); ok {
			n := 0
			forEach(m, func(lua.LValue, lua.LValue) { n++ })
			out = resp.AppendSet(out, resp.RESP3, n)
			forEach(m, func(k, _ lua.LValue) { out = s.toResp(k, out, depth+1) })
			return out
		}
		n := 0
		for v.RawGetInt(n+1) != lua.LNil {
			n++
		}
		out = resp.AppendArray(out, n)
		for i := 1; i <= n; i++ {
			out = s.toResp(v.RawGetInt(i), out, depth+1)
		}
		return out
	}
	return append(out, resp.Null3...)
}

// toInt converts a Lua number to a reply integer as Redis's C cast does on
// x86-64: truncation, and the minimum integer for NaN and out-of-range.
func toInt(f float64) int64 {
	if math.IsNaN(f) || f >= 9.223372036854775807e18 || f < -9.223372036854775808e18 {
		return math.MinInt64
	}
	return int64(f)
}

func appendStatus(out []byte, s string) []byte {
	out = append(out, '+')
	out = append(out, sanitize(s)...)
	return append(out, '\r', '\n')
}

// sanitize replaces CR and LF, which a simple reply cannot hold.
func sanitize(s string) string {
	if !bytes.ContainsAny([]byte(s), "\r\n") {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

// forEach calls fn for every key and value of t in the order of Lua's next
// (the array part, then keys in insertion order). gopher-lua's ForEach
// ranges over a Go map for string keys, in a random order: a write script
// that encodes a table must produce the same bytes on every replica.
func forEach(t *lua.LTable, fn func(k, v lua.LValue)) {
	for k, v := t.Next(lua.LNil); k != lua.LNil; k, v = t.Next(k) {
		fn(k, v)
	}
}

// cNumber formats f as C's printf("%.<prec>g") does on glibc: Lua 5.1's
// tostring (prec 14) and Redis's number arguments of redis.call (prec 17).
func cNumber(f float64, prec int) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		if math.Signbit(f) {
			return "-nan"
		}
		return "nan"
	}
	return strconv.FormatFloat(f, 'g', prec, 64)
}
