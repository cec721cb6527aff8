package server

import (
	"bytes"
	"math"
	"math/rand/v2"

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
	register(
		&command{name: "del", arity: -2, kind: kindWrite, flags: flagWrite,
			firstKey: 1, lastKey: -1, acl: keyspaceWrite, run: delCommand},
		&command{name: "unlink", arity: -2, kind: kindWrite, flags: flagWrite | flagFast,
			firstKey: 1, lastKey: -1, acl: keyspaceWriteFast, run: delCommand},
		&command{name: "exists", arity: -2, kind: kindRead, flags: flagReadOnly | flagFast,
			firstKey: 1, lastKey: -1, acl: keyspaceReadFast, run: existsCommand},
		&command{name: "touch", arity: -2, kind: kindRead, flags: flagReadOnly | flagFast,
			firstKey: 1, lastKey: -1, acl: keyspaceReadFast, run: touchCommand},
		&command{name: "type", arity: 2, kind: kindRead, flags: flagReadOnly | flagFast,
			firstKey: 1, lastKey: 1, acl: keyspaceReadFast, run: typeCommand},
		&command{name: "rename", arity: 3, kind: kindWrite, flags: flagWrite,
			firstKey: 1, lastKey: 2, acl: keyspaceWrite, run: renameCommand},
		&command{name: "renamenx", arity: 3, kind: kindWrite, flags: flagWrite | flagFast,
			firstKey: 1, lastKey: 2, acl: keyspaceWriteFast, run: renamenxCommand},
		&command{name: "copy", arity: -3, kind: kindWrite, flags: flagWrite | flagDenyOOM,
			firstKey: 1, lastKey: 2, acl: keyspaceWrite, run: copyCommand},
		&command{name: "keys", arity: 2, kind: kindRead, flags: flagReadOnly,
			acl: []string{"keyspace", "read", "slow", "dangerous"}, run: keysCommand},
		&command{name: "randomkey", arity: 1, kind: kindRead, flags: flagReadOnly,
			acl: []string{"keyspace", "read", "slow"}, run: randomkeyCommand},
		&command{name: "dbsize", arity: 1, kind: kindRead, flags: flagReadOnly | flagFast,
			acl: keyspaceReadFast, run: dbsizeCommand},
		&command{name: "flushall", arity: -1, kind: kindWrite, flags: flagWrite,
			acl: []string{"keyspace", "write", "slow", "dangerous"}, run: flushCommand},
		&command{name: "flushdb", arity: -1, kind: kindWrite, flags: flagWrite,
			acl: []string{"keyspace", "write", "slow", "dangerous"}, run: flushCommand},
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
	x.int(n)
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
	x.int(n)
}

// touchCommand: TOUCH key [key ...]. Records an access on each live key and
// counts them.
func touchCommand(x *Ctx, args [][]byte) {
	var n int64
	for _, key := range args[1:] {
		ok := x.St.Get(key, x.Now, x.r) != nil
		x.hitOrMiss(ok)
		if ok {
			n++
		}
	}
	x.int(n)
}

// typeCommand: TYPE key. Every Shoal value is a string.
func typeCommand(x *Ctx, args [][]byte) {
	ok := x.St.Exists(args[1], x.Now)
	x.hitOrMiss(ok)
	if ok {
		x.simple("string")
	} else {
		x.simple("none")
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
		x.err(errNoSuchKey)
		return
	}
	if bytes.Equal(src, dst) {
		if nx {
			x.int(0)
		} else {
			x.ok()
		}
		return
	}
	if x.St.GetWrite(dst, x.Now) != nil && nx {
		x.int(0)
		return
	}
	x.St.Rename(src, dst)
	if nx {
		x.int(1)
	} else {
		x.ok()
	}
}

// copyCommand: COPY source destination [DB destination-db] [REPLACE].
// Shoal has only database 0: any other index is out of range.
func copyCommand(x *Ctx, args [][]byte) {
	replace := false
	for j := 3; j < len(args); j++ {
		switch {
		case cEqFold(args[j], "replace"):
			replace = true
		case cEqFold(args[j], "db") && j+1 < len(args):
			db, ok := parseInt(args[j+1])
			if !ok {
				x.err(errNotInteger)
				return
			}
			if db < math.MinInt32 || db > math.MaxInt32 {
				x.err(errIntRange)
				return
			}
			if db != 0 {
				x.err(errSelectDB)
				return
			}
			j++
		default:
			x.err(errSyntax)
			return
		}
	}
	src, dst := args[1], args[2]
	if bytes.Equal(src, dst) {
		x.err(errSameObject)
		return
	}
	e := x.St.GetWrite(src, x.Now)
	if e == nil {
		x.int(0)
		return
	}
	if x.St.GetWrite(dst, x.Now) != nil && !replace {
		x.int(0)
		return
	}
	x.St.Set(dst, clone(e.Value), e.ExpireAt, x.Now)
	x.int(1)
}

// keysCommand: KEYS pattern. Expired keys are left out.
func keysCommand(x *Ctx, args [][]byte) {
	pat := args[1]
	all := len(pat) == 1 && pat[0] == '*'
	var keys []string
	for slot := 0; slot < shard.NumSlots; slot++ {
		if x.St.SlotLen(slot) == 0 {
			continue
		}
		x.St.RangeSlot(slot, func(k string, e *shard.Entry) bool {
			if (all || globMatch(pat, k)) && !expiredAt(e, x.Now) {
				keys = append(keys, k)
			}
			return true
		})
	}
	x.array(len(keys))
	for _, k := range keys {
		x.bulkString(k)
	}
}

// expiredAt reports whether e is expired at now (milliseconds).
func expiredAt(e *shard.Entry, now int64) bool {
	return e.ExpireAt != 0 && e.ExpireAt <= now
}

// randomkeyCommand: RANDOMKEY.
func randomkeyCommand(x *Ctx, _ [][]byte) {
	var rng *rand.Rand
	if x.c != nil {
		rng = x.c.rng
	} else {
		rng = newRand() // not on a connection: never expected for a read
	}
	k, ok := x.St.RandomKey(rng, x.Now)
	if !ok {
		x.null()
		return
	}
	x.bulkString(k)
}

// dbsizeCommand: DBSIZE. Like Redis, it counts expired keys not yet deleted.
func dbsizeCommand(x *Ctx, _ [][]byte) {
	x.int(x.St.Len())
}

// flushCommand: FLUSHALL [ASYNC | SYNC] and FLUSHDB [ASYNC | SYNC]. Shoal
// has one database, so both empty the store; the flush is always immediate.
func flushCommand(x *Ctx, args [][]byte) {
	if len(args) > 2 || (len(args) == 2 && !cEqFold(args[1], "sync") && !cEqFold(args[1], "async")) {
		x.err(errSyntax)
		return
	}
	x.St.Flush()
	x.ok()
}

// cEqFold is eqFold on the argument as C's strcasecmp sees it: Redis
// compares option names as C strings, so an embedded NUL ends the word.
func cEqFold(b []byte, w string) bool {
	return eqFold(cString(b), w)
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
	return sanitize(b)
}
