package script

import (
	"crypto/sha1"
	"encoding/hex"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/shoalcache/shoal/internal/resp"
)

// Version is the Redis version scripts see (redis.REDIS_VERSION).
const (
	Version    = "7.0.15"
	VersionNum = 0x07000f
)

// Replication flags of redis.set_repl, accepted and ignored: Shoal
// replicates a script as one log entry run on every replica.
const (
	replNone = 0
	replAOF  = 1
	replRepl = 2
	replAll  = replAOF | replRepl
)

// Log levels of redis.log.
const (
	LogDebug   = 0
	LogVerbose = 1
	LogNotice  = 2
	LogWarning = 3
)

// Logger receives redis.log lines; a Host may implement it.
type Logger interface {
	ScriptLog(level int, msg string)
}

func (s *state) redisLib() *lua.LTable {
	L := s.L
	t := L.NewTable()
	fns := map[string]lua.LGFunction{
		"call":    func(L *lua.LState) int { return s.call(L, true) },
		"pcall":   func(L *lua.LState) int { return s.call(L, false) },
		"sha1hex": redisSha1hex,
		"error_reply": func(L *lua.LState) int {
			if L.GetTop() != 1 || L.Get(1).Type() != lua.LTString {
				L.Push(errorTable(L, "-ERR wrong number or type of arguments")) // returned, as Redis does
				return 1
			}
			msg := L.ToString(1)
			if !strings.HasPrefix(msg, "-") {
				msg = "-" + msg
			}
			L.Push(errorTable(L, msg))
			return 1
		},
		"status_reply": func(L *lua.LState) int {
			if L.GetTop() != 1 || L.Get(1).Type() != lua.LTString {
				L.Push(errorTable(L, "-ERR wrong number or type of arguments")) // returned, as Redis does
				return 1
			}
			t := L.CreateTable(0, 1)
			t.RawSetString("ok", L.Get(1))
			L.Push(t)
			return 1
		},
		"log": func(L *lua.LState) int {
			if L.GetTop() < 2 {
				raise(L, "ERR redis.log() requires two arguments or more.")
			}
			lv, ok := L.Get(1).(lua.LNumber)
			if !ok {
				raise(L, "ERR First argument must be a number (log level).")
			}
			if lv < LogDebug || lv > LogWarning {
				raise(L, "ERR Invalid debug level.")
			}
			var b strings.Builder
			for i := 2; i <= L.GetTop(); i++ {
				if i > 2 {
					b.WriteByte(' ')
				}
				b.WriteString(lua.LVAsString(L.Get(i)))
			}
			if lg, ok := s.cur.Host.(Logger); ok {
				lg.ScriptLog(int(lv), b.String())
			}
			return 0
		},
		"setresp": func(L *lua.LState) int {
			if L.GetTop() != 1 {
				raise(L, "ERR redis.setresp() requires one argument.")
			}
			n := L.CheckInt(1)
			if n != 2 && n != 3 {
				raise(L, "ERR RESP version must be 2 or 3.")
			}
			s.resp = n
			return 0
		},
		"set_repl": func(L *lua.LState) int {
			if L.GetTop() != 1 {
				raise(L, "ERR redis.set_repl() requires two arguments.") // sic
			}
			n := L.CheckInt(1)
			if n&^replAll != 0 {
				raise(L, "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
			}
			return 0
		},
		"replicate_commands": func(L *lua.LState) int { L.Push(lua.LTrue); return 1 },
		"breakpoint":         func(L *lua.LState) int { L.Push(lua.LFalse); return 1 },
		"debug":              func(L *lua.LState) int { return 0 },
	}
	for name, fn := range fns {
		t.RawSetString(name, L.NewFunction(fn))
	}
	for name, v := range map[string]int{
		"LOG_DEBUG": LogDebug, "LOG_VERBOSE": LogVerbose, "LOG_NOTICE": LogNotice, "LOG_WARNING": LogWarning,
		"REPL_NONE": replNone, "REPL_AOF": replAOF, "REPL_SLAVE": replRepl, "REPL_REPLICA": replRepl, "REPL_ALL": replAll,
		"REDIS_VERSION_NUM": VersionNum,
	} {
		t.RawSetString(name, lua.LNumber(v))
	}
	t.RawSetString("REDIS_VERSION", lua.LString(Version))
	return t
}

// raise raises a Redis error table {err=msg} (Redis's luaPushError +
// luaError: no position prefix; the error handler adds source and line).
func raise(L *lua.LState, msg string) {
	t := L.CreateTable(0, 3)
	t.RawSetString("err", lua.LString(msg))
	L.Error(t, 0)
}

func redisSha1hex(L *lua.LState) int {
	if L.GetTop() != 1 {
		raise(L, "ERR wrong number of arguments")
	}
	sum := sha1.Sum([]byte(lua.LVAsString(L.Get(1))))
	L.Push(lua.LString(hex.EncodeToString(sum[:])))
	return 1
}

// errorTable is Redis's luaPushErrorBuff: an error reply ("-CODE msg", or
// "-msg" without a code, which gets "ERR") as the table {err="CODE msg"}.
func errorTable(L *lua.LState, reply string) *lua.LTable {
	code, msg := "ERR", reply
	if strings.HasPrefix(reply, "-") {
		if i := strings.IndexByte(reply, ' '); i >= 0 {
			code, msg = reply[1:i], reply[i+1:]
		} else {
			msg = reply[1:]
		}
	}
	msg = strings.Trim(msg, "\r\n")
	t := L.CreateTable(0, 3)
	t.RawSetString("err", lua.LString(code+" "+msg))
	return t
}

// call is redis.call (raise) and redis.pcall: it runs the command through
// the host and converts its reply for the script.
func (s *state) call(L *lua.LState, raiseErr bool) int {
	n := L.GetTop()
	if n == 0 {
		s.callError(L, raiseErr, "ERR Please specify at least one argument for this redis lib call")
		return 1
	}
	s.argbuf = s.argbuf[:0]
	var ends [16]int
	end := ends[:0]
	for i := 1; i <= n; i++ {
		switch v := L.Get(i).(type) {
		case lua.LString:
			s.argbuf = append(s.argbuf, v...)
		case lua.LNumber:
			s.argbuf = append(s.argbuf, cNumber(float64(v), 17)...)
		default:
			s.callError(L, raiseErr, "ERR Lua redis lib command arguments must be strings or integers")
			return 1
		}
		end = append(end, len(s.argbuf))
	}
	s.args = s.args[:0]
	start := 0
	for _, e := range end {
		s.args = append(s.args, s.argbuf[start:e:e])
		start = e
	}
	s.reply = s.cur.Host.Call(s.args, s.reply[:0])
	if s.halter != nil {
		s.checkHalt(L)
	}
	r := s.reply
	if len(r) > 0 && r[0] == '-' {
		line, _, _ := strings.Cut(string(r), "\r\n")
		s.callError(L, raiseErr, line)
		return 1
	}
	if s.resp == 2 && resp.NeedsDowngrade(r) {
		var err error
		s.reply, err = resp.Downgrade(make([]byte, 0, len(r)), r)
		if err != nil {
			s.callError(L, raiseErr, "ERR Error running script: bad reply")
			return 1
		}
		r = s.reply
	}
	v, _, ok := s.fromResp(r, 0)
	if !ok {
		s.callError(L, raiseErr, "ERR Error running script: bad reply")
		return 1
	}
	L.Push(v)
	return 1
}

// callError raises (redis.call) or returns (redis.pcall) an error reply.
func (s *state) callError(L *lua.LState, raiseErr bool, reply string) {
	if !strings.HasPrefix(reply, "-") {
		reply = "-" + reply
	}
	t := errorTable(L, reply)
	if raiseErr {
		L.Error(t, 0)
	}
	L.Push(t)
}
