package command

// globMaxNesting bounds how many '*' wildcards may recurse into each other,
// as Redis does to protect against abusive patterns: a pattern with more
// nested stars than this matches nothing.
const globMaxNesting = 1000

// globMatch reports whether str matches the glob pattern with the semantics
// of Redis's stringmatchlen (case-sensitive), byte by byte:
//
//   - '*' matches any sequence of bytes, '?' any single byte;
//   - '[...]' matches one byte of a set; a leading '^' negates it ('!' does
//     not); 'a-z' is a range and a reversed range 'z-a' means the same; '\x'
//     inside a set is a literal x; a set left unclosed at the end of the
//     pattern takes the remaining pattern bytes as its members;
//   - '\x' outside a set matches x literally; a trailing '\' matches '\'.
//
// Range bounds compare as signed chars, as Redis built for x86 does. Note
// that, as in Redis, the pattern "*" does not match the empty string (KEYS and
// SCAN special-case "*" themselves).
func globMatch(pattern []byte, str string) bool {
	skipLonger := false
	return globMatchFrom(pattern, str, &skipLonger, 0)
}

// globMatchFrom matches p against s. skipLonger is set once a '*' found that
// the rest of the pattern matches no suffix of the string, which means no
// enclosing '*' can succeed either; nesting counts the enclosing stars.
func globMatchFrom(p []byte, s string, skipLonger *bool, nesting int) bool {
	if nesting > globMaxNesting {
		return false
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if globMatchFrom(p[1:], s, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			p, s = p[1:], s[1:]
		case '[':
			var ok bool
			p, ok = globClass(p[1:], s[0])
			if !ok {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if p[0] != s[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}

// globClass matches byte c against the set that starts at p (just after the
// '['). It returns the pattern after the set and whether c matched.
func globClass(p []byte, c byte) ([]byte, bool) {
	not := len(p) > 0 && p[0] == '^'
	if not {
		p = p[1:]
	}
	match := false
	for {
		switch {
		case len(p) >= 2 && p[0] == '\\':
			if p[1] == c {
				match = true
			}
			p = p[2:]
			continue
		case len(p) > 0 && p[0] == ']':
			p = p[1:]
		case len(p) == 0:
			// Unclosed set: it ends with the pattern.
		case len(p) >= 3 && p[1] == '-':
			lo, hi, v := int8(p[0]), int8(p[2]), int8(c)
			if lo > hi {
				lo, hi = hi, lo
			}
			if lo <= v && v <= hi {
				match = true
			}
			p = p[3:]
			continue
		default:
			if p[0] == c {
				match = true
			}
			p = p[1:]
			continue
		}
		break
	}
	return p, match != not
}
