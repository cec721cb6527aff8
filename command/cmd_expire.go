package command

import "math"

func init() {
	writeFast := []string{"keyspace", "write", "fast"}
	readFast := []string{"keyspace", "read", "fast"}
	Register(
		&Command{Name: "expire", Arity: -3, Kind: KindWrite, Flags: FlagWrite | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: writeFast, Run: expireCommand},
		&Command{Name: "pexpire", Arity: -3, Kind: KindWrite, Flags: FlagWrite | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: writeFast, Run: pexpireCommand},
		&Command{Name: "expireat", Arity: -3, Kind: KindWrite, Flags: FlagWrite | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: writeFast, Run: expireatCommand},
		&Command{Name: "pexpireat", Arity: -3, Kind: KindWrite, Flags: FlagWrite | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: writeFast, Run: pexpireatCommand},
		&Command{Name: "persist", Arity: 2, Kind: KindWrite, Flags: FlagWrite | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: writeFast, Run: persistCommand},
		&Command{Name: "ttl", Arity: 2, Kind: KindRead, Flags: FlagReadOnly | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: readFast, Run: ttlCommand},
		&Command{Name: "pttl", Arity: 2, Kind: KindRead, Flags: FlagReadOnly | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: readFast, Run: pttlCommand},
		&Command{Name: "expiretime", Arity: 2, Kind: KindRead, Flags: FlagReadOnly | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: readFast, Run: expiretimeCommand},
		&Command{Name: "pexpiretime", Arity: 2, Kind: KindRead, Flags: FlagReadOnly | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: readFast, Run: pexpiretimeCommand},
	)
}

// EXPIRE option flags, as Redis's EXPIRE_*.
const (
	expireNX = 1 << iota
	expireXX
	expireGT
	expireLT
)

// expireCommand: EXPIRE key seconds [NX | XX | GT | LT].
func expireCommand(x *Ctx, args [][]byte) { expireGeneric(x, args, "expire", x.Now, true) }

// pexpireCommand: PEXPIRE key milliseconds [NX | XX | GT | LT].
func pexpireCommand(x *Ctx, args [][]byte) { expireGeneric(x, args, "pexpire", x.Now, false) }

// expireatCommand: EXPIREAT key unix-time-seconds [NX | XX | GT | LT].
func expireatCommand(x *Ctx, args [][]byte) { expireGeneric(x, args, "expireat", 0, true) }

// pexpireatCommand: PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT].
func pexpireatCommand(x *Ctx, args [][]byte) { expireGeneric(x, args, "pexpireat", 0, false) }

// parseExpireFlags parses the EXPIRE options as Redis's
// parseExtendedExpireArgumentsOrReply: any repetition is allowed, then the
// incompatible combinations are rejected. On error it returns a reply text.
func parseExpireFlags(opts [][]byte) (int, string) {
	flags := 0
	for _, opt := range opts {
		switch {
		case cEqFold(opt, "nx"):
			flags |= expireNX
		case cEqFold(opt, "xx"):
			flags |= expireXX
		case cEqFold(opt, "gt"):
			flags |= expireGT
		case cEqFold(opt, "lt"):
			flags |= expireLT
		default:
			return 0, errFormat("ERR Unsupported option ", opt)
		}
	}
	if flags&expireNX != 0 && flags&(expireXX|expireGT|expireLT) != 0 {
		return 0, errExpireNXCompat
	}
	if flags&expireGT != 0 && flags&expireLT != 0 {
		return 0, errExpireGTLT
	}
	return flags, ""
}

// expireGeneric implements the EXPIRE family as Redis's
// expireGenericCommand: options first, then the time (relative to basetime,
// in seconds when seconds is set), then the key. A time not after now
// deletes the key. A key without TTL counts as an infinite TTL for GT and LT.
func expireGeneric(x *Ctx, args [][]byte, name string, basetime int64, seconds bool) {
	flags, msg := parseExpireFlags(args[3:])
	if msg != "" {
		x.Err(msg)
		return
	}
	when, ok := ParseInt(args[2])
	if !ok {
		x.Err(ErrNotInteger)
		return
	}
	if seconds {
		if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
			x.Err(ErrInvalidExpire(name))
			return
		}
		when *= 1000
	}
	if when > math.MaxInt64-basetime {
		x.Err(ErrInvalidExpire(name))
		return
	}
	when += basetime
	key := args[1]
	e := x.St.GetWrite(key, x.Now)
	if e == nil {
		x.Int(0)
		return
	}
	cur := e.ExpireAt // 0: no TTL
	switch {
	case flags&expireNX != 0 && cur != 0,
		flags&expireXX != 0 && cur == 0,
		flags&expireGT != 0 && (cur == 0 || when <= cur),
		flags&expireLT != 0 && cur != 0 && when >= cur:
		x.Int(0)
		return
	}
	if when <= x.Now {
		x.St.Delete(key)
	} else {
		x.St.SetExpire(key, when)
	}
	x.Int(1)
}

// persistCommand: PERSIST key.
func persistCommand(x *Ctx, args [][]byte) {
	e := x.St.GetWrite(args[1], x.Now)
	if e == nil || e.ExpireAt == 0 {
		x.Int(0)
		return
	}
	x.St.SetExpire(args[1], 0)
	x.Int(1)
}

// ttlCommand: TTL key.
func ttlCommand(x *Ctx, args [][]byte) { ttlGeneric(x, args[1], false, false) }

// pttlCommand: PTTL key.
func pttlCommand(x *Ctx, args [][]byte) { ttlGeneric(x, args[1], true, false) }

// expiretimeCommand: EXPIRETIME key.
func expiretimeCommand(x *Ctx, args [][]byte) { ttlGeneric(x, args[1], false, true) }

// pexpiretimeCommand: PEXPIRETIME key.
func pexpiretimeCommand(x *Ctx, args [][]byte) { ttlGeneric(x, args[1], true, true) }

// ttlGeneric implements TTL, PTTL, EXPIRETIME and PEXPIRETIME as Redis's
// ttlGenericCommand: -2 for a missing key, -1 without expiry, otherwise the
// remaining time (abs: the expiry time) in ms, or in seconds rounded half up.
func ttlGeneric(x *Ctx, key []byte, ms, abs bool) {
	e := x.St.Peek(key)
	if e == nil || expiredAt(e, x.Now) {
		x.hitOrMiss(false)
		x.Int(-2)
		return
	}
	x.hitOrMiss(true)
	if e.ExpireAt == 0 {
		x.Int(-1)
		return
	}
	t := e.ExpireAt
	if !abs {
		t -= x.Now
	}
	if t < 0 {
		t = 0
	}
	if !ms {
		t = (t + 500) / 1000
	}
	x.Int(t)
}
