package server

import (
	"math"
)

func init() {
	register(
		&command{name: "get", arity: 2, kind: kindRead, flags: flagReadOnly | flagFast,
			firstKey: 1, lastKey: 1, acl: []string{"read", "string", "fast"}, run: getCommand},
		&command{name: "set", arity: -3, kind: kindWrite, flags: flagWrite | flagDenyOOM,
			firstKey: 1, lastKey: 1, acl: []string{"write", "string", "slow"}, run: setCommand},
		&command{name: "setnx", arity: 3, kind: kindWrite, flags: flagWrite | flagDenyOOM | flagFast,
			firstKey: 1, lastKey: 1, acl: []string{"write", "string", "fast"}, run: setnxCommand},
		&command{name: "setex", arity: 4, kind: kindWrite, flags: flagWrite | flagDenyOOM,
			firstKey: 1, lastKey: 1, acl: []string{"write", "string", "slow"}, run: setexCommand},
		&command{name: "psetex", arity: 4, kind: kindWrite, flags: flagWrite | flagDenyOOM,
			firstKey: 1, lastKey: 1, acl: []string{"write", "string", "slow"}, run: psetexCommand},
		&command{name: "getset", arity: 3, kind: kindWrite, flags: flagWrite | flagDenyOOM | flagFast,
			firstKey: 1, lastKey: 1, acl: []string{"write", "string", "fast"}, run: getsetCommand},
		&command{name: "getdel", arity: 2, kind: kindWrite, flags: flagWrite | flagFast,
			firstKey: 1, lastKey: 1, acl: []string{"write", "string", "fast"}, run: getdelCommand},
		&command{name: "getex", arity: -2, kind: kindWrite, flags: flagWrite | flagFast,
			firstKey: 1, lastKey: 1, acl: []string{"write", "string", "fast"}, run: getexCommand},
		&command{name: "mget", arity: -2, kind: kindRead, flags: flagReadOnly | flagFast,
			firstKey: 1, lastKey: -1, step: 1, acl: []string{"read", "string", "fast"}, run: mgetCommand},
		&command{name: "mset", arity: -3, kind: kindWrite, flags: flagWrite | flagDenyOOM,
			firstKey: 1, lastKey: -1, step: 2, acl: []string{"write", "string", "slow"}, run: msetCommand},
		&command{name: "msetnx", arity: -3, kind: kindWrite, flags: flagWrite | flagDenyOOM,
			firstKey: 1, lastKey: -1, step: 2, acl: []string{"write", "string", "slow"}, run: msetnxCommand},
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
	if x.c == nil {
		return
	}
	if hit {
		x.c.hits++
	} else {
		x.c.misses++
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

// parseSetOptions parses the SET/GETEX options of args[from:] as Redis's
// parseExtendedStringArgumentsOrReply does: isGetEx selects GETEX's grammar.
// It returns the option flags and the expire argument (nil for none), which
// the caller validates with setExpireAt at the point Redis does; ok is false
// on a syntax error.
func parseSetOptions(args [][]byte, from int, isGetEx bool) (flags int, expire []byte, ok bool) {
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
		// Each expiry option excludes the others but, as in Redis, not
		// itself: "EX 10 EX 20" sets 20.
		case eqFold(opt, "ex") && flags&(setKeepTTL|setPersist|setExpireFlags&^setEX) == 0 && hasNext:
			flags |= setEX
			expire = args[j+1]
			j++
		case eqFold(opt, "px") && flags&(setKeepTTL|setPersist|setExpireFlags&^setPX) == 0 && hasNext:
			flags |= setPX
			expire = args[j+1]
			j++
		case eqFold(opt, "exat") && flags&(setKeepTTL|setPersist|setExpireFlags&^setEXAT) == 0 && hasNext:
			flags |= setEXAT
			expire = args[j+1]
			j++
		case eqFold(opt, "pxat") && flags&(setKeepTTL|setPersist|setExpireFlags&^setPXAT) == 0 && hasNext:
			flags |= setPXAT
			expire = args[j+1]
			j++
		default:
			return 0, nil, false
		}
	}
	return flags, expire, true
}

// setExpireAt resolves the expire argument of SET-like options to an
// absolute time in milliseconds, or returns the error reply.
func setExpireAt(expire []byte, flags int, now int64, cmdName string) (int64, string) {
	return expireTime(expire, flags&(setEX|setEXAT) != 0, flags&(setEX|setPX) != 0, now, cmdName)
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
	flags, expire, ok := parseSetOptions(args, 3, false)
	if !ok {
		x.err(errSyntax)
		return
	}
	setGeneric(x, "set", flags, args[1], args[2], expire, false)
}

// setGeneric is Redis's setGenericCommand: it validates the expiry, replies
// the old value for GET, applies NX/XX and stores the value. intReply
// replaces +OK and the null reply with :1 and :0 (SETNX).
func setGeneric(x *Ctx, cmdName string, flags int, key, val, expire []byte, intReply bool) {
	var expireAt int64
	if expire != nil {
		at, msg := setExpireAt(expire, flags, x.Now, cmdName)
		if msg != "" {
			x.err(msg)
			return
		}
		expireAt = at
	}
	old := x.St.GetWrite(key, x.Now)
	if flags&setGet != 0 {
		x.bulkOrNull(old)
	}
	if (flags&setNX != 0 && old != nil) || (flags&setXX != 0 && old == nil) {
		if flags&setGet == 0 {
			if intReply {
				x.int(0)
			} else {
				x.null()
			}
		}
		return
	}
	if flags&setKeepTTL != 0 && old != nil {
		expireAt = old.ExpireAt
	}
	x.St.Set(key, clone(val), expireAt, x.Now)
	if flags&setGet == 0 {
		if intReply {
			x.int(1)
		} else {
			x.ok()
		}
	}
}

// setnxCommand: SETNX key value.
func setnxCommand(x *Ctx, args [][]byte) {
	setGeneric(x, "setnx", setNX, args[1], args[2], nil, true)
}

// setexCommand: SETEX key seconds value.
func setexCommand(x *Ctx, args [][]byte) {
	setGeneric(x, "setex", setEX, args[1], args[3], args[2], false)
}

// psetexCommand: PSETEX key milliseconds value.
func psetexCommand(x *Ctx, args [][]byte) {
	setGeneric(x, "psetex", setPX, args[1], args[3], args[2], false)
}

// getsetCommand: GETSET key value. Replies the old value and stores the new
// one without any expiry.
func getsetCommand(x *Ctx, args [][]byte) {
	old := x.St.GetWrite(args[1], x.Now)
	x.bulkOrNull(old)
	x.St.Set(args[1], clone(args[2]), 0, x.Now)
}

// getdelCommand: GETDEL key.
func getdelCommand(x *Ctx, args [][]byte) {
	e := x.St.GetWrite(args[1], x.Now)
	x.bulkOrNull(e)
	if e != nil {
		x.St.Delete(args[1])
	}
}

// getexCommand: GETEX key [EX s | PX ms | EXAT ts | PXAT ts-ms | PERSIST].
// As in Redis, a missing key replies nil before the expire time is checked,
// and an EXAT/PXAT time already past deletes the key.
func getexCommand(x *Ctx, args [][]byte) {
	flags, expire, ok := parseSetOptions(args, 2, true)
	if !ok {
		x.err(errSyntax)
		return
	}
	key := args[1]
	e := x.St.LookupWrite(key, x.Now, x.r)
	if e == nil {
		x.null()
		return
	}
	var expireAt int64
	if expire != nil {
		at, msg := setExpireAt(expire, flags, x.Now, "getex")
		if msg != "" {
			x.err(msg)
			return
		}
		expireAt = at
	}
	x.bulk(e.Value)
	switch {
	case flags&(setEXAT|setPXAT) != 0 && expireAt <= x.Now:
		x.St.Delete(key)
	case expire != nil:
		x.St.SetExpire(key, expireAt)
	case flags&setPersist != 0:
		x.St.SetExpire(key, 0)
	}
}

// mgetCommand: MGET key [key ...].
func mgetCommand(x *Ctx, args [][]byte) {
	x.array(len(args) - 1)
	for _, k := range args[1:] {
		e := x.St.Get(k, x.Now, x.r)
		x.hitOrMiss(e != nil)
		x.bulkOrNull(e)
	}
}

// msetCommand: MSET key value [key value ...]. Every key loses its expiry.
func msetCommand(x *Ctx, args [][]byte) {
	if len(args)%2 == 0 {
		x.err(errWrongArgs("mset"))
		return
	}
	for j := 1; j < len(args); j += 2 {
		x.St.Set(args[j], clone(args[j+1]), 0, x.Now)
	}
	x.ok()
}

// msetnxCommand: MSETNX key value [key value ...]. Sets all the keys, or
// none if any of them exists.
func msetnxCommand(x *Ctx, args [][]byte) {
	if len(args)%2 == 0 {
		x.err(errWrongArgs("msetnx"))
		return
	}
	for j := 1; j < len(args); j += 2 {
		if x.St.GetWrite(args[j], x.Now) != nil {
			x.int(0)
			return
		}
	}
	for j := 1; j < len(args); j += 2 {
		x.St.Set(args[j], clone(args[j+1]), 0, x.Now)
	}
	x.int(1)
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
