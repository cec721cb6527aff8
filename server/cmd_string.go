package server

import (
	"math"

	"github.com/shoalcache/shoal/shard"
)

func init() {
	register(
		&command{name: "get", arity: 2, kind: kindRead, flags: flagReadOnly | flagFast,
			firstKey: 1, lastKey: 1, acl: []string{"read", "string", "fast"}, run: getCommand},
		&command{name: "set", arity: -3, kind: kindWrite, flags: flagWrite | flagDenyOOM,
			firstKey: 1, lastKey: 1, acl: []string{"write", "string", "slow"}, run: setCommand},
	)
}

// getCommand: GET key.
func getCommand(x *Ctx, args [][]byte) {
	e := x.St.Get(args[1], x.Now, x.r)
	x.hitOrMiss(e != nil)
	x.bulkOrNull(e)
}

// hitOrMiss counts a keyspace lookup for INFO (reads on a connection only).
func (x *Ctx) hitOrMiss(hit bool) {
	if x.srv == nil {
		return
	}
	if hit {
		x.srv.stats.keyspaceHits.Add(1)
	} else {
		x.srv.stats.keyspaceMiss.Add(1)
	}
}

// SET option flags, as Redis's OBJ_SET_*.
const (
	setNX = 1 << iota
	setXX
	setGet
	setKeepTTL
	setEX
	setPX
	setEXAT
	setPXAT
	setPersist
)

const setExpireFlags = setEX | setPX | setEXAT | setPXAT

// parseSetOptions parses SET/GETEX options from args[from:] as Redis's
// parseExtendedStringArgumentsOrReply does, and resolves the expiry to an
// absolute time in milliseconds (0 for none). isGetEx selects GETEX's
// grammar. On error it returns a reply text.
func parseSetOptions(args [][]byte, from int, now int64, isGetEx bool, cmdName string) (flags int, expireAt int64, errMsg string) {
	var expire []byte
	for j := from; j < len(args); j++ {
		opt := args[j]
		hasNext := j+1 < len(args)
		switch {
		case !isGetEx && eqFold(opt, "nx") && flags&setXX == 0:
			flags |= setNX
		case !isGetEx && eqFold(opt, "xx") && flags&setNX == 0:
			flags |= setXX
		case !isGetEx && eqFold(opt, "get"):
			flags |= setGet
		case !isGetEx && eqFold(opt, "keepttl") && flags&(setPersist|setExpireFlags) == 0:
			flags |= setKeepTTL
		case isGetEx && eqFold(opt, "persist") && flags&(setExpireFlags|setKeepTTL) == 0:
			flags |= setPersist
		case eqFold(opt, "ex") && flags&(setKeepTTL|setPersist|setExpireFlags) == 0 && hasNext:
			flags |= setEX
			expire = args[j+1]
			j++
		case eqFold(opt, "px") && flags&(setKeepTTL|setPersist|setExpireFlags) == 0 && hasNext:
			flags |= setPX
			expire = args[j+1]
			j++
		case eqFold(opt, "exat") && flags&(setKeepTTL|setPersist|setExpireFlags) == 0 && hasNext:
			flags |= setEXAT
			expire = args[j+1]
			j++
		case eqFold(opt, "pxat") && flags&(setKeepTTL|setPersist|setExpireFlags) == 0 && hasNext:
			flags |= setPXAT
			expire = args[j+1]
			j++
		default:
			return 0, 0, errSyntax
		}
	}
	if expire != nil {
		seconds := flags&(setEX|setEXAT) != 0
		relative := flags&(setEX|setPX) != 0
		at, msg := expireTime(expire, seconds, relative, now, cmdName)
		if msg != "" {
			return 0, 0, msg
		}
		expireAt = at
	}
	return flags, expireAt, ""
}

// expireTime converts an expire argument to absolute milliseconds as Redis's
// getExpireMillisecondsOrReply: the value must be a positive integer that
// does not overflow once converted.
func expireTime(arg []byte, seconds, relative bool, now int64, cmdName string) (int64, string) {
	ms, ok := parseInt(arg)
	if !ok {
		return 0, errNotInteger
	}
	if ms <= 0 || (seconds && ms > math.MaxInt64/1000) {
		return 0, errInvalidExpire(cmdName)
	}
	if seconds {
		ms *= 1000
	}
	if relative {
		ms += now // wraps like C's signed overflow; caught below
	}
	if ms <= 0 {
		return 0, errInvalidExpire(cmdName)
	}
	return ms, ""
}

// setCommand: SET key value [NX | XX] [GET] [EX s | PX ms | EXAT ts | PXAT ts-ms | KEEPTTL].
func setCommand(x *Ctx, args [][]byte) {
	flags, expireAt, msg := parseSetOptions(args, 3, x.Now, false, "set")
	if msg != "" {
		x.err(msg)
		return
	}
	key := args[1]
	old := x.St.GetWrite(key, x.Now)
	if flags&setGet != 0 {
		x.bulkOrNull(old)
	}
	if (flags&setNX != 0 && old != nil) || (flags&setXX != 0 && old == nil) {
		if flags&setGet == 0 {
			x.null()
		}
		return
	}
	if flags&setKeepTTL != 0 && old != nil {
		expireAt = old.ExpireAt
	}
	x.St.Set(key, clone(args[2]), expireAt, x.Now)
	if flags&setGet == 0 {
		x.ok()
	}
}

// clone copies an argument the store will keep (arguments alias the log
// entry or the connection's read buffer).
func clone(b []byte) []byte {
	if len(b) == 0 {
		return []byte{}
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

var _ = shard.NumSlots
