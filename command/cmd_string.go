package command

import (
	"math"

	"github.com/shoalcache/shoal/shard"
)

func init() {
	Register(
		&Command{Name: "get", Arity: 2, Kind: KindRead, Flags: FlagReadOnly | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: []string{"read", "string", "fast"}, Run: getCommand},
		&Command{Name: "set", Arity: -3, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM,
			FirstKey: 1, LastKey: 1, ACL: []string{"write", "string", "slow"}, Run: setCommand},
		&Command{Name: "setnx", Arity: 3, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: []string{"write", "string", "fast"}, Run: setnxCommand},
		&Command{Name: "setex", Arity: 4, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM,
			FirstKey: 1, LastKey: 1, ACL: []string{"write", "string", "slow"}, Run: setexCommand},
		&Command{Name: "psetex", Arity: 4, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM,
			FirstKey: 1, LastKey: 1, ACL: []string{"write", "string", "slow"}, Run: psetexCommand},
		&Command{Name: "getset", Arity: 3, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: []string{"write", "string", "fast"}, Run: getsetCommand},
		&Command{Name: "getdel", Arity: 2, Kind: KindWrite, Flags: FlagWrite | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: []string{"write", "string", "fast"}, Run: getdelCommand},
		&Command{Name: "getex", Arity: -2, Kind: KindWrite, Flags: FlagWrite | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: []string{"write", "string", "fast"}, Run: getexCommand},
		&Command{Name: "mget", Arity: -2, Kind: KindRead, Flags: FlagReadOnly | FlagFast,
			FirstKey: 1, LastKey: -1, Step: 1, ACL: []string{"read", "string", "fast"}, Run: mgetCommand},
		&Command{Name: "mset", Arity: -3, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM,
			FirstKey: 1, LastKey: -1, Step: 2, ACL: []string{"write", "string", "slow"}, Run: msetCommand},
		&Command{Name: "msetnx", Arity: -3, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM,
			FirstKey: 1, LastKey: -1, Step: 2, ACL: []string{"write", "string", "slow"}, Run: msetnxCommand},
	)
}

// getCommand: GET key.
func getCommand(x *Ctx, args [][]byte) {
	e := x.St.Get(args[1], x.Now, x.LFURand)
	x.hitOrMiss(e != nil)
	if x.wrongType(e, shard.TypeString) {
		return
	}
	x.BulkOrNull(e)
}

// hitOrMiss counts a keyspace lookup for INFO (reads on a connection only).
func (x *Ctx) hitOrMiss(hit bool) {
	if x.InFSM() {
		return
	}
	if hit {
		x.Hits++
	} else {
		x.Misses++
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
		case !isGetEx && EqFold(opt, "nx") && flags&setXX == 0:
			flags |= setNX
		case !isGetEx && EqFold(opt, "xx") && flags&setNX == 0:
			flags |= setXX
		case !isGetEx && EqFold(opt, "get"):
			flags |= setGet
		case !isGetEx && EqFold(opt, "keepttl") && flags&(setPersist|setExpireFlags) == 0:
			flags |= setKeepTTL
		case isGetEx && EqFold(opt, "persist") && flags&(setExpireFlags|setKeepTTL) == 0:
			flags |= setPersist
		// Each expiry option excludes the others but, as in Redis, not
		// itself: "EX 10 EX 20" sets 20.
		case EqFold(opt, "ex") && flags&(setKeepTTL|setPersist|setExpireFlags&^setEX) == 0 && hasNext:
			flags |= setEX
			expire = args[j+1]
			j++
		case EqFold(opt, "px") && flags&(setKeepTTL|setPersist|setExpireFlags&^setPX) == 0 && hasNext:
			flags |= setPX
			expire = args[j+1]
			j++
		case EqFold(opt, "exat") && flags&(setKeepTTL|setPersist|setExpireFlags&^setEXAT) == 0 && hasNext:
			flags |= setEXAT
			expire = args[j+1]
			j++
		case EqFold(opt, "pxat") && flags&(setKeepTTL|setPersist|setExpireFlags&^setPXAT) == 0 && hasNext:
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
	ms, ok := ParseInt(arg)
	if !ok {
		return 0, ErrNotInteger
	}
	if ms <= 0 || (seconds && ms > math.MaxInt64/1000) {
		return 0, ErrInvalidExpire(cmdName)
	}
	if seconds {
		ms *= 1000
	}
	if relative {
		ms += now // wraps like C's signed overflow; caught below
	}
	if ms <= 0 {
		return 0, ErrInvalidExpire(cmdName)
	}
	return ms, ""
}

// setCommand: SET key value [NX | XX] [GET] [EX s | PX ms | EXAT ts | PXAT ts-ms | KEEPTTL].
func setCommand(x *Ctx, args [][]byte) {
	flags, expire, ok := parseSetOptions(args, 3, false)
	if !ok {
		x.Err(ErrSyntax)
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
			x.Err(msg)
			return
		}
		expireAt = at
	}
	old := x.St.GetWrite(key, x.Now)
	if flags&setGet != 0 {
		if x.wrongType(old, shard.TypeString) {
			return
		}
		x.BulkOrNull(old)
	}
	if (flags&setNX != 0 && old != nil) || (flags&setXX != 0 && old == nil) {
		if flags&setGet == 0 {
			if intReply {
				x.Int(0)
			} else {
				x.Null()
			}
		}
		return
	}
	if flags&setKeepTTL != 0 && old != nil {
		expireAt = old.ExpireAt
	}
	x.St.SetCopyOf(key, old, val, expireAt, x.Now)
	if flags&setGet == 0 {
		if intReply {
			x.Int(1)
		} else {
			x.OK()
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
	if x.wrongType(old, shard.TypeString) {
		return
	}
	x.BulkOrNull(old)
	x.St.SetCopyOf(args[1], old, args[2], 0, x.Now)
}

// getdelCommand: GETDEL key.
func getdelCommand(x *Ctx, args [][]byte) {
	e := x.St.GetWrite(args[1], x.Now)
	if x.wrongType(e, shard.TypeString) {
		return
	}
	x.BulkOrNull(e)
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
		x.Err(ErrSyntax)
		return
	}
	key := args[1]
	e := x.St.LookupWrite(key, x.Now, x.LFURand)
	if e == nil {
		x.Null()
		return
	}
	if x.wrongType(e, shard.TypeString) {
		return
	}
	var expireAt int64
	if expire != nil {
		at, msg := setExpireAt(expire, flags, x.Now, "getex")
		if msg != "" {
			x.Err(msg)
			return
		}
		expireAt = at
	}
	x.Bulk(e.Value)
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
	x.Array(len(args) - 1)
	for _, k := range args[1:] {
		e := x.St.Get(k, x.Now, x.LFURand)
		x.hitOrMiss(e != nil)
		x.BulkOrNull(e)
	}
}

// msetCommand: MSET key value [key value ...]. Every key loses its expiry.
func msetCommand(x *Ctx, args [][]byte) {
	if len(args)%2 == 0 {
		x.Err(ErrWrongArgs("mset"))
		return
	}
	for j := 1; j < len(args); j += 2 {
		x.St.SetCopy(args[j], args[j+1], 0, x.Now)
	}
	x.OK()
}

// msetnxCommand: MSETNX key value [key value ...]. Sets all the keys, or
// none if any of them exists.
func msetnxCommand(x *Ctx, args [][]byte) {
	if len(args)%2 == 0 {
		x.Err(ErrWrongArgs("msetnx"))
		return
	}
	for j := 1; j < len(args); j += 2 {
		if x.St.GetWrite(args[j], x.Now) != nil {
			x.Int(0)
			return
		}
	}
	for j := 1; j < len(args); j += 2 {
		x.St.SetCopy(args[j], args[j+1], 0, x.Now)
	}
	x.Int(1)
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
