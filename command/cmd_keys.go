package command

import (
	"bytes"
	"math"

	"github.com/shoalcache/shoal/shard"
)

// RESP error texts of the keys family.
const (
	errSameObject     = "ERR source and destination objects are the same"
	errExpireNXCompat = "ERR NX and XX, GT or LT options at the same time are not compatible"
	errExpireGTLT     = "ERR GT and LT options at the same time are not compatible"
	// errIntRange is getIntFromObjectOrReply's error (Redis's own wording).
	errIntRange = "ERR value is out of range, value must between -2147483648 and 2147483647"
)

func init() {
	keyspaceWrite := []string{"keyspace", "write", "slow"}
	keyspaceWriteFast := []string{"keyspace", "write", "fast"}
	keyspaceReadFast := []string{"keyspace", "read", "fast"}
	Register(
		&Command{Name: "del", Arity: -2, Kind: KindWrite, Flags: FlagWrite,
			FirstKey: 1, LastKey: -1, ACL: keyspaceWrite, Run: delCommand},
		&Command{Name: "unlink", Arity: -2, Kind: KindWrite, Flags: FlagWrite | FlagFast,
			FirstKey: 1, LastKey: -1, ACL: keyspaceWriteFast, Run: delCommand},
		&Command{Name: "exists", Arity: -2, Kind: KindRead, Flags: FlagReadOnly | FlagFast,
			FirstKey: 1, LastKey: -1, ACL: keyspaceReadFast, Run: existsCommand},
		&Command{Name: "touch", Arity: -2, Kind: KindRead, Flags: FlagReadOnly | FlagFast,
			FirstKey: 1, LastKey: -1, ACL: keyspaceReadFast, Run: touchCommand},
		&Command{Name: "type", Arity: 2, Kind: KindRead, Flags: FlagReadOnly | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: keyspaceReadFast, Run: typeCommand},
		&Command{Name: "rename", Arity: 3, Kind: KindWrite, Flags: FlagWrite,
			FirstKey: 1, LastKey: 2, ACL: keyspaceWrite, Run: renameCommand},
		&Command{Name: "renamenx", Arity: 3, Kind: KindWrite, Flags: FlagWrite | FlagFast,
			FirstKey: 1, LastKey: 2, ACL: keyspaceWriteFast, Run: renamenxCommand},
		&Command{Name: "copy", Arity: -3, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM | FlagOtherDB,
			FirstKey: 1, LastKey: 2, ACL: keyspaceWrite, Run: copyCommand},
		&Command{Name: "keys", Arity: 2, Kind: KindRead, Flags: FlagReadOnly,
			ACL: []string{"keyspace", "read", "slow", "dangerous"}, Run: keysCommand},
		&Command{Name: "randomkey", Arity: 1, Kind: KindRead, Flags: FlagReadOnly,
			ACL: []string{"keyspace", "read", "slow"}, Run: randomkeyCommand},
		&Command{Name: "dbsize", Arity: 1, Kind: KindRead, Flags: FlagReadOnly | FlagFast,
			ACL: keyspaceReadFast, Run: dbsizeCommand},
		&Command{Name: "flushall", Arity: -1, Kind: KindWrite, Flags: FlagWrite,
			ACL: []string{"keyspace", "write", "slow", "dangerous"}, Run: flushCommand},
		&Command{Name: "flushdb", Arity: -1, Kind: KindWrite, Flags: FlagWrite,
			ACL: []string{"keyspace", "write", "slow", "dangerous"}, Run: flushCommand},
	)
}

// delCommand: DEL key [key ...] and UNLINK key [key ...]. Expired keys are
// deleted lazily first and do not count.
func delCommand(x *Ctx, args [][]byte) {
	var n int64
	for _, key := range args[1:] {
		if x.St.GetWrite(key, x.Now) != nil {
			x.St.Delete(key)
			n++
		}
	}
	x.Int(n)
}

// existsCommand: EXISTS key [key ...]. A key named twice counts twice.
func existsCommand(x *Ctx, args [][]byte) {
	var n int64
	for _, key := range args[1:] {
		ok := x.St.Exists(key, x.Now)
		x.hitOrMiss(ok)
		if ok {
			n++
		}
	}
	x.Int(n)
}

// touchCommand: TOUCH key [key ...]. Records an access on each live key and
// counts them.
func touchCommand(x *Ctx, args [][]byte) {
	var n int64
	for _, key := range args[1:] {
		ok := x.St.Get(key, x.Now, x.LFURand) != nil
		x.hitOrMiss(ok)
		if ok {
			n++
		}
	}
	x.Int(n)
}

// typeCommand: TYPE key. As Redis, the lookup does not touch the key but
// counts in the keyspace statistics.
func typeCommand(x *Ctx, args [][]byte) {
	e := x.St.Peek(args[1])
	live := e != nil && !expiredAt(e, x.Now)
	x.hitOrMiss(live)
	if live {
		x.Simple(e.Type().String())
	} else {
		x.Simple("none")
	}
}

// renameCommand: RENAME key newkey. The value keeps its TTL.
func renameCommand(x *Ctx, args [][]byte) { renameGeneric(x, args, false) }

// renamenxCommand: RENAMENX key newkey.
func renamenxCommand(x *Ctx, args [][]byte) { renameGeneric(x, args, true) }

// renameGeneric implements RENAME and RENAMENX as Redis's
// renameGenericCommand: a missing source is an error even when both names
// are the same; renaming a key to itself is a no-op.
func renameGeneric(x *Ctx, args [][]byte, nx bool) {
	src, dst := args[1], args[2]
	if x.St.GetWrite(src, x.Now) == nil {
		x.Err(ErrNoSuchKey)
		return
	}
	if bytes.Equal(src, dst) {
		if nx {
			x.Int(0)
		} else {
			x.OK()
		}
		return
	}
	if x.St.GetWrite(dst, x.Now) != nil && nx {
		x.Int(0)
		return
	}
	x.St.Rename(src, dst)
	if nx {
		x.Int(1)
	} else {
		x.OK()
	}
}

// copyCommand: COPY source destination [DB destination-db] [REPLACE].
// The destination database is 0 to shard.NumDBs-1 (standalone mode; the
// front end refuses another than 0 in cluster mode, CrossDBRefusal).
func copyCommand(x *Ctx, args [][]byte) {
	db, replace, msg := copyOptions(args)
	if msg != "" {
		x.Err(msg)
		return
	}
	dst := x.St
	if db >= 0 {
		dst = x.St.DB(db)
	}
	src, dkey := args[1], args[2]
	if dst == x.St && bytes.Equal(src, dkey) {
		x.Err(errSameObject)
		return
	}
	e := x.St.GetWrite(src, x.Now)
	if e == nil {
		x.Int(0)
		return
	}
	if dst.GetWrite(dkey, x.Now) != nil && !replace {
		x.Int(0)
		return
	}
	if o := e.Object(); o != nil {
		dst.SetObject(dkey, shard.CloneObject(o), e.ExpireAt, x.Now)
		x.Int(1)
		return
	}
	v, enc := dupObject(e)
	dst.Set(dkey, v, e.ExpireAt, x.Now).SetEnc(enc)
	x.Int(1)
}

// copyOptions parses COPY's options: the DB option's database (-1 without
// one) and REPLACE, or the error reply.
func copyOptions(args [][]byte) (db int, replace bool, msg string) {
	db = -1
	for j := 3; j < len(args); j++ {
		switch {
		case cEqFold(args[j], "replace"):
			replace = true
		case cEqFold(args[j], "db") && j+1 < len(args):
			if db, msg = parseDB(args[j+1]); msg != "" {
				return 0, false, msg
			}
			j++
		default:
			return 0, false, ErrSyntax
		}
	}
	return db, replace, ""
}

// parseDB parses a database index as Redis's getIntFromObjectOrReply then
// selectDb do: the index, or the error reply.
func parseDB(b []byte) (int, string) {
	db, ok := ParseInt(b)
	switch {
	case !ok:
		return 0, ErrNotInteger
	case db < math.MinInt32 || db > math.MaxInt32:
		return 0, errIntRange
	case db < 0 || db >= shard.NumDBs:
		return 0, ErrSelectDB
	}
	return int(db), ""
}

// keysCommand: KEYS pattern. Expired keys are left out.
func keysCommand(x *Ctx, args [][]byte) {
	pat := args[1]
	all := len(pat) == 1 && pat[0] == '*'
	var keys []string
	for _, st := range x.keySpace() {
		for slot := 0; slot < shard.NumSlots; slot++ {
			if st.SlotLen(slot) == 0 {
				continue
			}
			st.RangeSlot(slot, func(k string, e *shard.Entry) bool {
				if (all || globMatch(pat, k)) && !expiredAt(e, x.Now) {
					keys = append(keys, k)
				}
				return true
			})
		}
	}
	x.Array(len(keys))
	for _, k := range keys {
		x.BulkString(k)
	}
}

// expiredAt reports whether e is expired at now (milliseconds).
func expiredAt(e *shard.Entry, now int64) bool {
	return e.ExpireAt != 0 && e.ExpireAt <= now
}

// randomkeyCommand: RANDOMKEY.
func randomkeyCommand(x *Ctx, _ [][]byte) {
	rng := x.Rng
	if rng == nil {
		rng = NewRand() // not on a connection: never expected for a read
	}
	// Try the stores in a random order; an empty one has no key to give.
	stores := x.keySpace()
	start := 0
	if len(stores) > 1 {
		start = rng.IntN(len(stores))
	}
	for i := range stores {
		if k, ok := stores[(start+i)%len(stores)].RandomKey(rng, x.Now); ok {
			x.BulkString(k)
			return
		}
	}
	x.Null()
}

// dbsizeCommand: DBSIZE. Like Redis, it counts expired keys not yet deleted.
func dbsizeCommand(x *Ctx, _ [][]byte) {
	var n int64
	for _, st := range x.keySpace() {
		n += st.Len()
	}
	x.Int(n)
}

// flushCommand: FLUSHALL [ASYNC | SYNC] empties every database, FLUSHDB
// [ASYNC | SYNC] the connection's; the flush is always immediate.
func flushCommand(x *Ctx, args [][]byte) {
	if len(args) > 2 || (len(args) == 2 && !cEqFold(args[1], "sync") && !cEqFold(args[1], "async")) {
		x.Err(ErrSyntax)
		return
	}
	if EqFold(args[0], "flushall") {
		x.St.FlushAll()
	} else {
		x.St.Flush()
	}
	x.OK()
}

// cEqFold is eqFold on the argument as C's strcasecmp sees it: Redis
// compares option names as C strings, so an embedded NUL ends the word.
func cEqFold(b []byte, w string) bool {
	return EqFold(cString(b), w)
}

// cString truncates b at its first NUL byte, as C's string functions read it.
func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// errFormat builds an error text the way Redis's addReplyErrorFormat does
// with one "%s" argument at the end: the argument ends at its first NUL,
// trailing CR/LF are trimmed and any other CR/LF becomes a space.
func errFormat(prefix string, arg []byte) string {
	b := make([]byte, 0, len(prefix)+len(arg))
	b = append(b, prefix...)
	b = append(b, cString(arg)...)
	for len(b) > 0 && (b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return Sanitize(b)
}
