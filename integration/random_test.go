package integration

// Random command generator for TestDiffRandom.
//
// Determinism rules (both servers must reach the same state and replies):
//   - no RANDOMKEY, TIME, CLIENT ID, raw SCAN cursors (SCAN is iterated to the
//     end and compared as a key set);
//   - TTL/PTTL/EXPIRETIME/PEXPIRETIME are compared only as -2 / -1 / positive;
//   - relative expire times are large (weeks) so nothing expires mid-run, and
//     grow with the command index inside each magnitude class so that GT/LT
//     comparisons against an earlier relative time never tie; absolute times
//     are far in the past (key is deleted) or far in the future;
//   - SET never gets a past EXAT/PXAT: Redis 7.0 stores such a key and DBSIZE
//     counts it until active expiry (a background timer) reclaims it.

import (
	"math/rand"
	"strconv"
	"strings"
)

type cmdGen struct {
	r    *rand.Rand
	keys []string
}

func newCmdGen(seed int64) *cmdGen {
	return &cmdGen{
		r: rand.New(rand.NewSource(seed)),
		keys: []string{
			"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9",
			"{t}a", "{t}b", "{t}c", "{u}x", "{u}y",
			"", "sp ace", "bin\x00\xff", "k*", "K1",
		},
	}
}

var (
	genValues = []string{
		"", "v", "hello", "0", "1", "-1", "  1", "1 ", "+1", "01", "-0", "10.5", "3.0e3",
		"5.0e+3", "1.5", "abc", "\x00\xff\r\n", "9223372036854775807", "-9223372036854775808",
		"9223372036854775806", "inf", "nan", "0x10", "1e308", "hello world",
		strings.Repeat("x", 100),
	}
	genInts = []string{
		"0", "1", "-1", "2", "5", "100", "-100", "9223372036854775807", "-9223372036854775808",
		"9223372036854775808", "abc", "", "1.5", " 1", "+1", "01", "3",
	}
	genFloats = []string{
		"0.1", "1.5", "-2.5", "3.0e3", "5.0e+3", "inf", "-inf", "nan", "abc", "1e308", "10",
		"0", "-0", "1", "0.2", "", " 1", "1e-5",
	}
	genOffsets = []string{
		"0", "1", "3", "5", "-1", "-3", "10", "100", "-100", "abc",
		"9223372036854775807", "-9223372036854775808", "536870912",
	}
	genPatterns = []string{
		"*", "k*", "k?", "{t}*", "k[0-5]", "k[^0-5]*", "*a*", `k\*`, "[kK]1", "nomatch*", "", "?",
		`\{t\}?`, "bin*",
	}
	expireCmds = []string{"EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"}
	ttlCmds    = []string{"TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"}
)

func (g *cmdGen) pick(s []string) string { return s[g.r.Intn(len(s))] }
func (g *cmdGen) key() string            { return g.keys[g.r.Intn(len(g.keys))] }
func (g *cmdGen) chance(p float64) bool  { return g.r.Float64() < p }

func (g *cmdGen) value() string {
	if g.chance(0.15) {
		return strconv.FormatInt(g.r.Int63n(2000)-1000, 10)
	}
	return g.pick(genValues)
}

func (g *cmdGen) keysN(min, max int) []string {
	n := min + g.r.Intn(max-min+1)
	out := make([]string, n)
	for i := range out {
		out[i] = g.key()
	}
	return out
}

// relTime returns a relative expire time for command index i: seconds when
// ms is false, milliseconds otherwise; sometimes invalid or non-positive.
func (g *cmdGen) relTime(i int, ms bool) string {
	if g.chance(0.15) {
		return g.pick([]string{"0", "-1", "-100", "abc", "", "1.5", "9223372036854775807",
			"-9223372036854775808", "9223372036854775"})
	}
	class := int64(1 + g.r.Intn(3))
	if ms {
		return strconv.FormatInt(class*1_000_000_000+int64(i)*1000, 10)
	}
	return strconv.FormatInt(class*1_000_000+int64(i), 10)
}

// absTime returns an absolute Unix time far in the future, invalid, or (when
// past is true) far in the past.
func (g *cmdGen) absTime(ms, past bool) string {
	var v []string
	if ms {
		v = []string{"4102444800000", "4102444800001", "4102531200000", "-1", "0", "abc"}
	} else {
		v = []string{"4102444800", "4102444801", "4102531200", "-1", "0", "abc", "9223372036854775807"}
	}
	if past {
		v = append(v, "1", "1000")
	}
	return g.pick(v)
}

// expireOpt returns SET (forSet) or GETEX expiry options for command index i.
func (g *cmdGen) expireOpt(i int, forSet bool) []string {
	switch g.r.Intn(5) {
	case 0:
		return []string{"EX", g.relTime(i, false)}
	case 1:
		return []string{"PX", g.relTime(i, true)}
	case 2:
		return []string{"EXAT", g.absTime(false, !forSet)}
	case 3:
		return []string{"PXAT", g.absTime(true, !forSet)}
	default:
		if forSet != g.chance(0.1) {
			return []string{"KEEPTTL"}
		}
		return []string{"PERSIST"}
	}
}

// next returns the i-th random step.
func (g *cmdGen) next(i int) step {
	if g.chance(0.01) {
		return step{proto: 2 + g.r.Intn(2)}
	}
	st := step{args: g.command(i)}
	switch strings.ToUpper(st.args[0]) {
	case "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME":
		st.mode = modeTTLCategory
	case "KEYS", "HKEYS", "HVALS", "HRANDFIELD", "SMEMBERS", "SINTER", "SUNION", "SDIFF":
		// A hashtable's order is not Redis's.
		st.mode = modeSort
	case "SCAN":
		st.mode = modeScan
	}
	if st.mode != modeScan && len(st.args) > 1 && g.chance(0.02) {
		// Wrong arity or a stray trailing argument.
		if g.chance(0.5) {
			st.args = st.args[:g.r.Intn(len(st.args))+1]
		} else {
			st.args = append(st.args, g.pick([]string{"FOO", "NX", "1", ""}))
			if up := strings.ToUpper(st.args[0]); up == "ZRANK" || up == "ZREVRANK" {
				// Shoal has Redis 7.2's WITHSCORE: a fourth argument
				// is a syntax error there, an arity error in 7.0.
				st.mode = modeErrPrefix
			}
		}
		if st.mode == modeTTLCategory {
			st.mode = modeExact
			if len(st.args) == 2 {
				st.mode = modeTTLCategory
			}
		}
	}
	if g.chance(0.05) {
		st.args[0] = mixCase(g.r, st.args[0])
	}
	return st
}

func mixCase(r *rand.Rand, s string) string {
	b := []byte(strings.ToLower(s))
	for i := range b {
		if r.Intn(2) == 0 {
			b[i] = strings.ToUpper(string(b[i]))[0]
		}
	}
	return string(b)
}

func (g *cmdGen) command(i int) []string {
	k := g.key()
	switch g.r.Intn(54) {
	case 0, 1, 2:
		return []string{"GET", k}
	case 3, 4, 5:
		args := []string{"SET", k, g.value()}
		if g.chance(0.5) {
			args = append(args, g.expireOpt(i, true)...)
		}
		if g.chance(0.3) {
			args = append(args, g.pick([]string{"NX", "XX"}))
		}
		if g.chance(0.2) {
			args = append(args, "GET")
		}
		if g.chance(0.1) {
			args = append(args, g.pick([]string{"KEEPTTL", "EX", "NX", "BOGUS"}))
		}
		g.r.Shuffle(len(args)-3, func(a, b int) { args[3+a], args[3+b] = args[3+b], args[3+a] })
		return args
	case 6:
		return []string{"SETNX", k, g.value()}
	case 7:
		if g.chance(0.5) {
			return []string{"SETEX", k, g.relTime(i, false), g.value()}
		}
		return []string{"PSETEX", k, g.relTime(i, true), g.value()}
	case 8:
		return []string{"GETSET", k, g.value()}
	case 9:
		return []string{"GETDEL", k}
	case 10:
		args := []string{"GETEX", k}
		if g.chance(0.7) {
			args = append(args, g.expireOpt(i, false)...)
		}
		if g.chance(0.05) {
			args = append(args, g.expireOpt(i, false)...)
		}
		return args
	case 11:
		return append([]string{"MGET"}, g.keysN(1, 5)...)
	case 12:
		args := []string{g.pick([]string{"MSET", "MSETNX"})}
		for _, kk := range g.keysN(1, 3) {
			args = append(args, kk, g.value())
		}
		return args
	case 13, 14:
		return []string{"APPEND", k, g.value()}
	case 15:
		return []string{"STRLEN", k}
	case 16:
		return []string{g.pick([]string{"GETRANGE", "SUBSTR"}), k, g.pick(genOffsets), g.pick(genOffsets)}
	case 17:
		off := g.pick(genOffsets)
		if g.chance(0.5) {
			off = strconv.Itoa(g.r.Intn(200))
		}
		return []string{"SETRANGE", k, off, g.value()}
	case 18, 19:
		return []string{g.pick([]string{"INCR", "DECR"}), k}
	case 20, 21:
		return []string{g.pick([]string{"INCRBY", "DECRBY"}), k, g.pick(genInts)}
	case 22, 23:
		return []string{"INCRBYFLOAT", k, g.pick(genFloats)}
	case 24:
		return append([]string{g.pick([]string{"DEL", "UNLINK"})}, g.keysN(1, 3)...)
	case 25:
		return append([]string{g.pick([]string{"EXISTS", "TOUCH"})}, g.keysN(1, 4)...)
	case 26:
		return []string{"TYPE", k}
	case 27, 28, 29:
		c := g.pick(expireCmds)
		var t string
		switch c {
		case "EXPIRE":
			t = g.relTime(i, false)
		case "PEXPIRE":
			t = g.relTime(i, true)
		case "EXPIREAT":
			t = g.absTime(false, true)
		default:
			t = g.absTime(true, true)
		}
		args := []string{c, k, t}
		for n := g.r.Intn(4) - 1; n > 0; n-- {
			args = append(args, g.pick([]string{"NX", "XX", "GT", "LT", "nx", "gt"}))
		}
		if len(args) == 3 && g.chance(0.5) {
			args = append(args, g.pick([]string{"NX", "XX", "GT", "LT"}))
		}
		return args
	case 30, 31:
		return []string{g.pick(ttlCmds), k}
	case 32:
		return []string{"PERSIST", k}
	case 33:
		return []string{g.pick([]string{"RENAME", "RENAMENX"}), k, g.key()}
	case 34:
		args := []string{"COPY", k, g.key()}
		if g.chance(0.3) {
			args = append(args, "DB", g.pick([]string{"0", "0", "abc", "-1"}))
		}
		if g.chance(0.4) {
			args = append(args, "REPLACE")
		}
		return args
	case 35:
		return []string{"KEYS", g.pick(genPatterns)}
	case 36:
		args := []string{"SCAN", "0"}
		if g.chance(0.5) {
			args = append(args, "MATCH", g.pick(genPatterns))
		}
		if g.chance(0.5) {
			args = append(args, "COUNT", g.pick([]string{"1", "3", "10", "1000", "0", "abc"}))
		}
		if g.chance(0.3) {
			args = append(args, "TYPE", g.pick([]string{"string", "STRING", "list", "hash", "none"}))
		}
		return args
	case 37:
		if g.chance(0.05) {
			return []string{g.pick([]string{"FLUSHDB", "FLUSHALL"})}
		}
		return []string{"DBSIZE"}
	case 38:
		switch g.r.Intn(3) {
		case 0:
			return []string{"PING"}
		case 1:
			return []string{"PING", g.value()}
		default:
			return []string{"ECHO", g.value()}
		}
	case 39:
		// How Redis represents the value: encodings, shared integers and
		// sds sizes after any mix of writes; LCS of two keys.
		switch g.r.Intn(5) {
		case 0:
			return []string{"OBJECT", "ENCODING", k}
		case 1:
			return []string{"OBJECT", g.pick([]string{"REFCOUNT", "FREQ"}), k}
		case 2, 3:
			return []string{"MEMORY", "USAGE", k}
		default:
			opts := [][]string{{}, {"LEN"}, {"IDX"}, {"IDX", "WITHMATCHLEN", "MINMATCHLEN", "2"}}
			return append([]string{"LCS", k, g.key()}, opts[g.r.Intn(len(opts))]...)
		}
	case 40, 41:
		// Hash writes: fields from a small set, so that they collide.
		switch g.r.Intn(5) {
		case 0, 1:
			args := []string{g.pick([]string{"HSET", "HMSET"}), k}
			for n := 1 + g.r.Intn(3); n > 0; n-- {
				args = append(args, g.field(), g.value())
			}
			return args
		case 2:
			return append([]string{"HDEL", k}, g.field(), g.field())
		case 3:
			return []string{"HINCRBY", k, g.field(), strconv.Itoa(g.r.Intn(200) - 100)}
		default:
			return []string{g.pick([]string{"HSETNX", "HINCRBYFLOAT"}), k, g.field(), g.pick([]string{"1.5", "-2", "x", g.value()})}
		}
	case 42, 43:
		switch g.r.Intn(6) {
		case 0:
			return []string{"HGET", k, g.field()}
		case 1:
			return []string{"HMGET", k, g.field(), g.field()}
		case 2:
			return []string{g.pick([]string{"HLEN", "HKEYS", "HVALS"}), k}
		case 3:
			return []string{g.pick([]string{"HEXISTS", "HSTRLEN"}), k, g.field()}
		case 4:
			return []string{"TYPE", k}
		default:
			return []string{"HRANDFIELD", k, g.pick([]string{"0", "50", "-0"})}
		}
	case 45, 46:
		// Sets (no SPOP or SRANDMEMBER: their choices are random, and a
		// popped member would make the two stores differ).
		switch g.r.Intn(8) {
		case 0, 1:
			return append([]string{"SADD", k}, g.member(), g.member(), g.member())
		case 2:
			return append([]string{"SREM", k}, g.member(), g.member())
		case 3:
			return []string{"SMOVE", k, g.key(), g.member()}
		case 4:
			return []string{g.pick([]string{"SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"}), k, g.key(), g.key()}
		case 5:
			return []string{g.pick([]string{"SMEMBERS", "SCARD"}), k}
		case 6:
			return []string{g.pick([]string{"SINTER", "SUNION", "SDIFF"}), k, g.key()}
		default:
			return []string{g.pick([]string{"SISMEMBER", "SMISMEMBER"}), k, g.member()}
		}
	case 48, 49:
		switch g.r.Intn(9) {
		case 0, 1:
			return []string{g.pick([]string{"LPUSH", "RPUSH", "LPUSHX", "RPUSHX"}), k, g.member(), g.member()}
		case 2:
			args := []string{g.pick([]string{"LPOP", "RPOP"}), k}
			if g.chance(0.5) {
				args = append(args, g.pick([]string{"0", "1", "3"}))
			}
			return args
		case 3:
			return []string{"LRANGE", k, g.pick([]string{"0", "1", "-2"}), g.pick([]string{"-1", "2", "0"})}
		case 4:
			return []string{g.pick([]string{"LINDEX", "LSET"}), k, g.pick([]string{"0", "-1", "2", "9"}), g.member()}[:3+g.r.Intn(2)]
		case 5:
			return []string{"LREM", k, g.pick([]string{"0", "1", "-1"}), g.member()}
		case 6:
			return []string{"LINSERT", k, g.pick([]string{"BEFORE", "AFTER"}), g.member(), g.member()}
		case 7:
			return []string{"LMOVE", k, g.key(), g.pick([]string{"LEFT", "RIGHT"}), g.pick([]string{"LEFT", "RIGHT"})}
		default:
			return []string{g.pick([]string{"LLEN", "LTRIM"}), k, "1", "-2"}[:2+2*g.r.Intn(2)]
		}
	case 51, 52:
		score := func() string { return g.pick([]string{"1", "2", "-1.5", "0", "+inf", "-inf", "3e2", "x", "(1"}) }
		switch g.r.Intn(9) {
		case 0, 1:
			args := []string{"ZADD", k}
			if g.chance(0.3) {
				args = append(args, g.pick([]string{"NX", "XX", "GT", "LT", "CH", "INCR"}))
			}
			return append(args, score(), g.member(), score(), g.member())[:len(args)+2+2*g.r.Intn(2)]
		case 2:
			return []string{"ZINCRBY", k, score(), g.member()}
		case 3:
			return []string{g.pick([]string{"ZSCORE", "ZRANK", "ZREVRANK"}), k, g.member()}
		case 4:
			return []string{"ZRANGE", k, g.pick([]string{"0", "1", "-inf", "(1"}), g.pick([]string{"-1", "2", "+inf"}),
				g.pick([]string{"BYSCORE", "REV", "WITHSCORES", "BYSCORE"})}
		case 5:
			return []string{g.pick([]string{"ZCOUNT", "ZREMRANGEBYSCORE"}), k, score(), score()}
		case 6:
			return []string{"ZREM", k, g.member(), g.member()}
		case 7:
			return []string{g.pick([]string{"ZPOPMIN", "ZPOPMAX"}), k, g.pick([]string{"1", "2"})}[:2+g.r.Intn(2)]
		default:
			return []string{"ZCARD", k}
		}
	default:
		return []string{g.pick([]string{"FOO", "GETX", "SETT"}), k, g.value()}
	}
}

// member returns a set member from a small set of integers and strings.
func (g *cmdGen) member() string {
	return g.pick([]string{"1", "2", "-3", "10", "x", "y", "01", "", "9223372036854775807"})
}

// field returns a hash field name from a small set.
func (g *cmdGen) field() string { return g.pick([]string{"f1", "f2", "f3", "", "long-field-name"}) }
