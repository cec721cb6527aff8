package command

import (
	"errors"

	"github.com/shoalcache/shoal/internal/rdb"
	"github.com/shoalcache/shoal/shard"
)

// RESP error texts of DUMP and RESTORE (Redis 7.0's cluster.c).
const (
	errBusyKey         = "BUSYKEY Target key name already exists."
	errRestoreTTL      = "ERR Invalid TTL value, must be >= 0"
	errRestoreIdle     = "ERR Invalid IDLETIME value, must be >= 0"
	errRestoreFreq     = "ERR Invalid FREQ value, must be >= 0 and <= 255"
	errDumpPayload     = "ERR DUMP payload version or checksum are wrong"
	errDumpBadDataFmt  = "ERR Bad data format"
	restoreNoAccessArg = -1
)

func init() {
	Register(
		&Command{Name: "dump", Arity: 2, Kind: KindRead, Flags: FlagReadOnly,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: []string{"keyspace", "read", "slow"}, Run: dumpCommand},
		&Command{Name: "restore", Arity: -4, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: []string{"keyspace", "write", "slow", "dangerous"}, Run: restoreCommand},
	)
}

// dumpCommand: DUMP key. The payload is Redis 7.0's (internal/rdb); null
// for a missing key. The lookup counts as an access, as Redis's
// lookupKeyRead.
func dumpCommand(x *Ctx, args [][]byte) {
	e := x.St.Get(args[1], x.Now, x.LFURand)
	x.hitOrMiss(e != nil)
	if e == nil {
		x.Null()
		return
	}
	if o := e.Object(); o != nil {
		x.Bulk(rdb.DumpObject(o))
		return
	}
	x.Bulk(rdb.DumpString(e.Value))
}

// restoreOptions parses RESTORE's options as Redis's restoreCommand:
// REPLACE, ABSTTL, IDLETIME seconds and FREQ frequency (IDLETIME and FREQ
// exclusive: the second is a syntax error). idle and freq are -1 when not
// given.
func restoreOptions(args [][]byte) (replace, absttl bool, idle, freq int64, msg string) {
	idle, freq = restoreNoAccessArg, restoreNoAccessArg
	for j := 4; j < len(args); j++ {
		more := len(args) - j - 1
		switch {
		case cEqFold(args[j], "replace"):
			replace = true
		case cEqFold(args[j], "absttl"):
			absttl = true
		case cEqFold(args[j], "idletime") && more >= 1 && freq == restoreNoAccessArg:
			v, ok := ParseInt(args[j+1])
			if !ok {
				return false, false, 0, 0, ErrNotInteger
			}
			if v < 0 {
				return false, false, 0, 0, errRestoreIdle
			}
			idle = v
			j++
		case cEqFold(args[j], "freq") && more >= 1 && idle == restoreNoAccessArg:
			v, ok := ParseInt(args[j+1])
			if !ok {
				return false, false, 0, 0, ErrNotInteger
			}
			if v < 0 || v > 255 {
				return false, false, 0, 0, errRestoreFreq
			}
			freq = v
			j++
		default:
			return false, false, 0, 0, ErrSyntax
		}
	}
	return replace, absttl, idle, freq, ""
}

// restoreCommand: RESTORE key ttl serialized-value [REPLACE] [ABSTTL]
// [IDLETIME seconds] [FREQ frequency]. It runs in the FSM on every
// replica: the time is Ctx.Now, and the payload's decoding (rdb.Restore)
// is deterministic, bounded by the payload's size and refuses any bad
// payload with an error. The checks are in Redis's order: options,
// BUSYKEY, TTL, the payload's footer, its object. A TTL already past
// (ABSTTL in the past) stores nothing, deleting the key under REPLACE, and
// answers OK as Redis. IDLETIME sets the key's last access, FREQ its LFU
// counter: Shoal keeps both whatever the policy (Redis keeps the one its
// policy uses, and ignores the other option).
func restoreCommand(x *Ctx, args [][]byte) {
	replace, absttl, idle, freq, msg := restoreOptions(args)
	if msg != "" {
		x.Err(msg)
		return
	}
	key := args[1]
	if !replace && x.St.GetWrite(key, x.Now) != nil {
		x.Err(errBusyKey)
		return
	}
	ttl, ok := ParseInt(args[2])
	if !ok {
		x.Err(ErrNotInteger)
		return
	}
	if ttl < 0 {
		x.Err(errRestoreTTL)
		return
	}
	str, obj, err := rdb.Restore(args[3])
	if err != nil {
		if errors.Is(err, rdb.ErrVersionOrChecksum) {
			x.Err(errDumpPayload)
		} else {
			x.Err(errDumpBadDataFmt)
		}
		return
	}
	if replace && x.St.GetWrite(key, x.Now) != nil {
		x.St.Delete(key)
	}
	if ttl != 0 && !absttl {
		ttl += x.Now
	}
	if ttl != 0 && ttl <= x.Now {
		x.OK()
		return
	}
	var e *shard.Entry
	if obj != nil {
		e = x.St.SetObject(key, obj, ttl, x.Now)
	} else {
		e = x.St.Set(key, str, ttl, x.Now)
		e.SetEnc(shard.EncDefault)
	}
	e.SetAccess(x.Now, idle, int(freq))
	x.OK()
}
