package script

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// The cjson module: lua-cjson 2.1's encode and decode with Redis's default
// settings, written for this package (no pure-Go module for gopher-lua
// follows lua-cjson's rules). Differences from lua-cjson: the key order of
// encoded objects is gopher-lua's table order, numbers that are not JSON
// numbers (hex, inf, nan) do not decode, and the encode_*/decode_*
// settings functions are accepted but change nothing.

const cjsonMaxDepth = 1000

// cjsonNull is cjson.null, a light userdata in lua-cjson.
var cjsonNull = &lua.LUserData{Value: "cjson.null"}

func cjsonLib(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("encode", L.NewFunction(cjsonEncode))
	t.RawSetString("decode", L.NewFunction(cjsonDecode))
	t.RawSetString("null", cjsonNull)
	t.RawSetString("_NAME", lua.LString("cjson"))
	t.RawSetString("_VERSION", lua.LString("2.1.0"))
	for _, name := range []string{"encode_sparse_array", "encode_max_depth", "decode_max_depth",
		"encode_number_precision", "encode_keep_buffer", "encode_invalid_numbers", "decode_invalid_numbers"} {
		t.RawSetString(name, L.NewFunction(func(L *lua.LState) int { return 0 }))
	}
	t.RawSetString("new", L.NewFunction(func(L *lua.LState) int { L.Push(cjsonLib(L)); return 1 }))
	return t
}

func cjsonEncode(L *lua.LState) int {
	if L.GetTop() != 1 {
		L.RaiseError("bad argument #1 to 'encode' (expected 1 argument)")
	}
	var b strings.Builder
	encodeJSON(L, &b, L.Get(1), 0)
	L.Push(lua.LString(b.String()))
	return 1
}

func encodeJSON(L *lua.LState, b *strings.Builder, v lua.LValue, depth int) {
	switch v := v.(type) {
	case *lua.LNilType:
		b.WriteString("null")
	case lua.LBool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case lua.LNumber:
		f := float64(v)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			L.RaiseError("Cannot serialise number: must not be NaN or Inf")
		}
		b.WriteString(formatG14(f))
	case lua.LString:
		encodeJSONString(b, string(v))
	case *lua.LUserData:
		if v == cjsonNull {
			b.WriteString("null")
			return
		}
		L.RaiseError("Cannot serialise userdata: type not supported")
	case *lua.LTable:
		depth++
		if depth > cjsonMaxDepth {
			L.RaiseError("Cannot serialise, excessive nesting (%d)", depth)
		}
		n, isArray := jsonArrayLen(v)
		if isArray && n > 0 {
			items := 0
			forEach(v, func(lua.LValue, lua.LValue) { items++ })
			if n > items*2 && n > 10 {
				L.RaiseError("Cannot serialise table: excessively sparse array")
			}
			b.WriteByte('[')
			for i := 1; i <= n; i++ {
				if i > 1 {
					b.WriteByte(',')
				}
				encodeJSON(L, b, v.RawGetInt(i), depth)
			}
			b.WriteByte(']')
			return
		}
		b.WriteByte('{')
		first := true
		forEach(v, func(k, val lua.LValue) {
			if !first {
				b.WriteByte(',')
			}
			first = false
			switch k := k.(type) {
			case lua.LString:
				encodeJSONString(b, string(k))
			case lua.LNumber:
				encodeJSONString(b, formatG14(float64(k)))
			default:
				L.RaiseError("Cannot serialise table: table key must be a number or string")
			}
			b.WriteByte(':')
			encodeJSON(L, b, val, depth)
		})
		b.WriteByte('}')
	default:
		L.RaiseError("Cannot serialise %s: type not supported", v.Type().String())
	}
}

// jsonArrayLen reports whether every key of t is a positive integer, and
// the largest.
func jsonArrayLen(t *lua.LTable) (int, bool) {
	max, ok := 0, true
	forEach(t, func(k, _ lua.LValue) {
		n, isNum := k.(lua.LNumber)
		if !isNum || float64(n) != math.Floor(float64(n)) || n < 1 {
			ok = false
			return
		}
		if int(n) > max {
			max = int(n)
		}
	})
	return max, ok
}

// formatG14 formats a number as lua-cjson does (%.14g).
func formatG14(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e14 {
		return strconv.FormatInt(int64(f), 10)
	}
	s := strconv.FormatFloat(f, 'g', 14, 64)
	// %.14g drops trailing zeros of the mantissa; Go keeps 14 digits.
	mant, exp, hasExp := strings.Cut(s, "e")
	if strings.Contains(mant, ".") {
		mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
	}
	if !hasExp {
		return mant
	}
	// C writes at least two exponent digits.
	sign := exp[:1]
	digits := exp[1:]
	if len(digits) < 2 {
		digits = "0" + digits
	}
	return mant + "e" + sign + digits
}

func encodeJSONString(b *strings.Builder, s string) {
	const hexd = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '/':
			b.WriteString(`\/`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				b.WriteString(`\u00`)
				b.WriteByte(hexd[c>>4])
				b.WriteByte(hexd[c&15])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

// JSON decoding, token by token as lua-cjson does, with its error texts.

type jsonDecoder struct {
	L     *lua.LState
	s     string
	pos   int
	depth int
}

func cjsonDecode(L *lua.LState) int {
	if L.GetTop() != 1 {
		L.RaiseError("bad argument #1 to 'decode' (expected 1 argument)")
	}
	d := &jsonDecoder{L: L, s: L.CheckString(1)}
	v := d.value(d.next())
	tok := d.next()
	if tok.kind != "T_END" {
		d.fail("the end", tok)
	}
	L.Push(v)
	return 1
}

type jsonToken struct {
	kind string
	at   int // 1-based character of the token
	v    lua.LValue
}

func (d *jsonDecoder) fail(expected string, tok jsonToken) {
	found := tok.kind
	if found == "T_ERROR" {
		found = "invalid token"
	}
	d.L.RaiseError("Expected %s but found %s at character %d", expected, found, tok.at)
}

func (d *jsonDecoder) next() jsonToken {
	for d.pos < len(d.s) && strings.IndexByte(" \t\r\n", d.s[d.pos]) >= 0 {
		d.pos++
	}
	at := d.pos + 1
	if d.pos >= len(d.s) {
		return jsonToken{kind: "T_END", at: at}
	}
	c := d.s[d.pos]
	single := map[byte]string{'{': "T_OBJ_BEGIN", '}': "T_OBJ_END", '[': "T_ARR_BEGIN", ']': "T_ARR_END", ':': "T_COLON", ',': "T_COMMA"}
	if k, ok := single[c]; ok {
		d.pos++
		return jsonToken{kind: k, at: at}
	}
	switch {
	case c == '"':
		return d.str(at)
	case c == '-' || (c >= '0' && c <= '9'):
		end := d.pos + 1
		for end < len(d.s) && strings.IndexByte("0123456789.eE+-", d.s[end]) >= 0 {
			end++
		}
		f, err := strconv.ParseFloat(d.s[d.pos:end], 64)
		if err != nil {
			return jsonToken{kind: "T_ERROR", at: at}
		}
		d.pos = end
		return jsonToken{kind: "T_NUMBER", at: at, v: lua.LNumber(f)}
	case strings.HasPrefix(d.s[d.pos:], "true"):
		d.pos += 4
		return jsonToken{kind: "T_BOOLEAN", at: at, v: lua.LTrue}
	case strings.HasPrefix(d.s[d.pos:], "false"):
		d.pos += 5
		return jsonToken{kind: "T_BOOLEAN", at: at, v: lua.LFalse}
	case strings.HasPrefix(d.s[d.pos:], "null"):
		d.pos += 4
		return jsonToken{kind: "T_NULL", at: at, v: cjsonNull}
	}
	return jsonToken{kind: "T_ERROR", at: at}
}

func (d *jsonDecoder) str(at int) jsonToken {
	var b strings.Builder
	i := d.pos + 1
	for i < len(d.s) {
		c := d.s[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return jsonToken{kind: "T_STRING", at: at, v: lua.LString(b.String())}
		case c == '\\':
			if i+1 >= len(d.s) {
				return jsonToken{kind: "T_ERROR", at: at}
			}
			e := d.s[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				if i+4 > len(d.s) {
					return jsonToken{kind: "T_ERROR", at: at}
				}
				n, err := strconv.ParseUint(d.s[i:i+4], 16, 32)
				if err != nil {
					return jsonToken{kind: "T_ERROR", at: at}
				}
				i += 4
				r := rune(n)
				if r >= 0xD800 && r < 0xDC00 && i+6 <= len(d.s) && d.s[i] == '\\' && d.s[i+1] == 'u' {
					lo, err := strconv.ParseUint(d.s[i+2:i+6], 16, 32)
					if err == nil && lo >= 0xDC00 && lo < 0xE000 {
						r = 0x10000 + (r-0xD800)<<10 + rune(lo-0xDC00)
						i += 6
					}
				}
				var buf [4]byte
				b.Write(buf[:utf8.EncodeRune(buf[:], r)])
			default:
				return jsonToken{kind: "T_ERROR", at: at}
			}
		default:
			b.WriteByte(c)
			i++
		}
	}
	return jsonToken{kind: "T_ERROR", at: at}
}

func (d *jsonDecoder) value(tok jsonToken) lua.LValue {
	switch tok.kind {
	case "T_STRING", "T_NUMBER", "T_BOOLEAN", "T_NULL":
		return tok.v
	case "T_OBJ_BEGIN":
		d.nest()
		t := d.L.NewTable()
		tok = d.next()
		if tok.kind == "T_OBJ_END" {
			d.depth--
			return t
		}
		for {
			if tok.kind != "T_STRING" {
				d.fail("object key string", tok)
			}
			key := tok.v
			if c := d.next(); c.kind != "T_COLON" {
				d.fail("colon", c)
			}
			t.RawSet(key, d.value(d.next()))
			tok = d.next()
			if tok.kind == "T_OBJ_END" {
				d.depth--
				return t
			}
			if tok.kind != "T_COMMA" {
				d.fail("comma or object end", tok)
			}
			tok = d.next()
		}
	case "T_ARR_BEGIN":
		d.nest()
		t := d.L.NewTable()
		tok = d.next()
		if tok.kind == "T_ARR_END" {
			d.depth--
			return t
		}
		for i := 1; ; i++ {
			t.RawSetInt(i, d.value(tok))
			tok = d.next()
			if tok.kind == "T_ARR_END" {
				d.depth--
				return t
			}
			if tok.kind != "T_COMMA" {
				d.fail("comma or array end", tok)
			}
			tok = d.next()
		}
	}
	d.fail("value", tok)
	return lua.LNil
}

func (d *jsonDecoder) nest() {
	d.depth++
	if d.depth > cjsonMaxDepth {
		d.L.RaiseError("Found too many nested data structures (%d) at character %d", d.depth, d.pos)
	}
}
