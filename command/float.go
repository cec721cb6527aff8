package command

import (
	"math/big"
)

// Emulation of the C long double arithmetic Redis uses for INCRBYFLOAT: on
// x86-64 Linux that is the x87 80-bit extended format (64-bit mantissa,
// exponent range 2^-16382 .. 2^16383, subnormals down to 2^-16445). Values
// are big.Floats of precision ldPrec rounded to nearest-even, which gives the
// same results as the hardware for parsing (glibc's strtold is correctly
// rounded), addition and printing, and is deterministic across replicas.

const (
	// ldPrec is the mantissa width of the x87 extended format.
	ldPrec = 64
	// ldMaxExp is the largest big.Float exponent (x = m × 2^exp with
	// 0.5 <= m < 1) of a finite long double: values >= 2^16384 overflow.
	ldMaxExp = 16384
	// ldMinExp is the big.Float exponent of half the smallest subnormal
	// long double, 2^-16446: values below it round to zero.
	ldMinExp = -16445
	// maxLongDoubleChars is Redis's MAX_LONG_DOUBLE_CHARS: string2ld
	// rejects strings of this length or longer.
	maxLongDoubleChars = 5 * 1024
	// expLimit saturates parsed exponents; anything beyond is far outside
	// the long double range whatever the mantissa (at most 5119 digits).
	expLimit = 1 << 20
)

// newLD returns a zero long double.
func newLD() *big.Float { return new(big.Float).SetPrec(ldPrec).SetMode(big.ToNearestEven) }

// parseLongDouble parses b as Redis's string2ld: glibc strtold, which must
// consume all of b (so a NUL byte is invalid), rejecting leading white space,
// NaN, and results that overflow to infinity or underflow to zero. "inf" and
// "infinity" (any case, optional sign) are accepted and yield ±Inf.
func parseLongDouble(b []byte) (*big.Float, bool) {
	if len(b) == 0 || len(b) >= maxLongDoubleChars {
		return nil, false
	}
	if isCSpace(b[0]) {
		return nil, false
	}
	s := b
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		s = s[1:]
	}
	var v *big.Float
	switch {
	case len(s) >= 3 && EqFold(s[:3], "inf"):
		if len(s) != 3 && !EqFold(s, "infinity") {
			return nil, false
		}
		v = newLD().SetInf(false)
	case len(s) >= 2 && s[0] == '0' && (s[1]|0x20) == 'x':
		var ok bool
		if v, ok = parseHexFloat(s[2:]); !ok {
			return nil, false
		}
	default:
		var ok bool
		if v, ok = parseDecFloat(s); !ok {
			return nil, false
		}
	}
	if neg {
		v.Neg(v)
	}
	return v, true
}

// isCSpace reports whether c is white space for C's isspace in the C locale.
func isCSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

// scanDigits returns the length of the prefix of s made of digits of the
// given base (10 or 16).
func scanDigits(s []byte, hex bool) int {
	i := 0
	for i < len(s) && digitVal(s[i], hex) >= 0 {
		i++
	}
	return i
}

func digitVal(c byte, hex bool) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case hex && c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case hex && c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// scanExponent parses an exponent (optional sign and at least one decimal
// digit) that must make up all of s, saturating at ±expLimit.
func scanExponent(s []byte) (int, bool) {
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 || scanDigits(s, false) != len(s) {
		return 0, false
	}
	e := 0
	for _, c := range s {
		if e < expLimit {
			e = e*10 + int(c-'0')
		}
	}
	if neg {
		e = -e
	}
	return e, true
}

// splitMantissa splits s into integer digits, fraction digits and the rest
// (starting at the exponent marker), requiring at least one digit.
func splitMantissa(s []byte, hex bool) (intPart, frac, rest []byte, ok bool) {
	n := scanDigits(s, hex)
	intPart, s = s[:n], s[n:]
	if len(s) > 0 && s[0] == '.' {
		s = s[1:]
		n = scanDigits(s, hex)
		frac, s = s[:n], s[n:]
	}
	return intPart, frac, s, len(intPart)+len(frac) > 0
}

// parseDecFloat parses an unsigned decimal floating-point number that must
// make up all of s, rounding it correctly to a long double.
func parseDecFloat(s []byte) (*big.Float, bool) {
	intPart, frac, rest, ok := splitMantissa(s, false)
	if !ok {
		return nil, false
	}
	exp := 0
	if len(rest) > 0 {
		if rest[0] != 'e' && rest[0] != 'E' {
			return nil, false
		}
		if exp, ok = scanExponent(rest[1:]); !ok {
			return nil, false
		}
	}
	digits := make([]byte, 0, len(intPart)+len(frac))
	digits = append(digits, intPart...)
	digits = append(digits, frac...)
	exp -= len(frac)
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return newLD(), true
	}
	// The value lies in [10^order, 10^(order+1)). The largest long double
	// is about 1.19e4932, the smallest subnormal about 3.65e-4951.
	order := exp + len(digits) - 1
	if order > 4932 || order < -4952 {
		return nil, false
	}
	var m big.Int
	m.SetString(string(digits), 10)
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(exp))), nil)
	v := newLD()
	if exp >= 0 {
		v.SetInt(m.Mul(&m, p))
	} else {
		v.Quo(new(big.Float).SetInt(&m), new(big.Float).SetInt(p))
	}
	return v, ldInRange(v)
}

// parseHexFloat parses the part after "0x" of a hexadecimal floating-point
// number (hex digits, optional fraction, optional binary exponent "p").
func parseHexFloat(s []byte) (*big.Float, bool) {
	intPart, frac, rest, ok := splitMantissa(s, true)
	if !ok {
		return nil, false
	}
	exp := 0
	if len(rest) > 0 {
		if rest[0] != 'p' && rest[0] != 'P' {
			return nil, false
		}
		if exp, ok = scanExponent(rest[1:]); !ok {
			return nil, false
		}
	}
	var m big.Int
	digits := make([]byte, 0, len(intPart)+len(frac))
	digits = append(digits, intPart...)
	digits = append(digits, frac...)
	m.SetString(string(digits), 16)
	if m.Sign() == 0 {
		return newLD(), true
	}
	exp -= 4 * len(frac)
	top := exp + m.BitLen() // the value lies in [2^(top-1), 2^top)
	if top > ldMaxExp+1 || top < ldMinExp-1 {
		return nil, false
	}
	v := newLD().SetInt(&m) // rounds to 64 bits; the scaling below is exact
	v.SetMantExp(v, exp)
	return v, ldInRange(v)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// ldInRange reports whether v, rounded to 64 bits, is a finite long double
// that does not underflow to zero (strtold's ERANGE cases Redis rejects).
// Zero itself is in range.
func ldInRange(v *big.Float) bool {
	if v.IsInf() {
		return false
	}
	if v.Sign() == 0 {
		return true
	}
	e := v.MantExp(nil)
	if e > ldMaxExp {
		return false
	}
	// |v| < 2^(e): below half the smallest subnormal it rounds to zero
	// (exactly half is a tie that rounds to the even zero).
	if e < ldMinExp {
		return false
	}
	if e == ldMinExp {
		var m big.Float
		v.MantExp(&m)
		if m.Abs(&m).Cmp(big.NewFloat(0.5)) == 0 {
			return false
		}
	}
	return true
}

// addLongDouble returns a+b in long double arithmetic, or false when the sum
// is NaN or infinite (Redis's "increment would produce NaN or Infinity").
func addLongDouble(a, b *big.Float) (*big.Float, bool) {
	if a.IsInf() || b.IsInf() {
		return nil, false
	}
	z := newLD().Add(a, b)
	if z.Sign() != 0 && z.MantExp(nil) > ldMaxExp {
		return nil, false
	}
	return z, true
}

// appendLongDouble appends v formatted as Redis's ld2string in LD_STR_HUMAN
// mode: printf("%.17Lf"), trailing zeros and then a trailing '.' removed,
// and "-0" written as "0".
func appendLongDouble(dst []byte, v *big.Float) []byte {
	start := len(dst)
	dst = v.Append(dst, 'f', 17)
	l := len(dst)
	for dst[l-1] == '0' {
		l--
	}
	if dst[l-1] == '.' {
		l--
	}
	dst = dst[:l]
	if l-start == 2 && dst[start] == '-' && dst[start+1] == '0' {
		dst = append(dst[:start], '0')
	}
	return dst
}
