package command

import (
	"math"
	"strconv"

	"github.com/shoalcache/shoal/shard"
)

func init() {
	Register(
		&Command{Name: "scan", Arity: -2, Kind: KindRead, Flags: FlagReadOnly,
			ACL: []string{"keyspace", "read", "slow"}, Run: scanCommand},
	)
}

// scanDefaultCount is SCAN's COUNT when none is given, as in Redis.
const scanDefaultCount = 10

// scanCommand: SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
//
// The cursor is the next hash slot to scan. A call returns the keys of whole
// slots, from the cursor on, until at least COUNT keys were examined, and
// replies the following slot as the new cursor (0 once the last slot is
// done). Every key present for the whole iteration is therefore returned
// exactly once; expired keys are skipped. TYPE keeps the keys whose type
// has that name (in any case); an unknown name keeps none, as Redis 7.0.
func scanCommand(x *Ctx, args [][]byte) {
	cursor, ok := parseCursor(args[1])
	if !ok {
		x.Err(ErrInvalidCursor)
		return
	}
	count := int64(scanDefaultCount)
	var pat, typ []byte
	usePat, useType := false, false
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			x.Err(ErrSyntax)
			return
		}
		switch {
		case cEqFold(args[i], "count"):
			n, ok := ParseInt(args[i+1])
			if !ok {
				x.Err(ErrNotInteger)
				return
			}
			if n < 1 {
				x.Err(ErrSyntax)
				return
			}
			count = n
		case cEqFold(args[i], "match"):
			pat = args[i+1]
			usePat = !(len(pat) == 1 && pat[0] == '*')
		case cEqFold(args[i], "type"):
			typ = args[i+1]
			useType = true
		default:
			x.Err(ErrSyntax)
			return
		}
	}

	var keys []string
	slot := shard.NumSlots
	if cursor < shard.NumSlots {
		slot = int(cursor)
		var examined int64
		for ; slot < shard.NumSlots && examined < count; slot++ {
			for _, st := range x.keySpace() {
				n := st.SlotLen(slot)
				if n == 0 {
					continue
				}
				examined += int64(n)
				st.RangeSlot(slot, func(k string, e *shard.Entry) bool {
					if usePat && !globMatch(pat, k) {
						return true
					}
					live := !expiredAt(e, x.Now)
					if useType {
						// Redis looks the key up to learn its type, which
						// counts in the keyspace hit/miss statistics.
						x.hitOrMiss(live)
					}
					if live && (!useType || cEqFold(typ, e.Type().String())) {
						keys = append(keys, k)
					}
					return true
				})
			}
		}
	}
	if slot >= shard.NumSlots {
		slot = 0
	}
	x.Array(2)
	var buf [20]byte
	x.Bulk(strconv.AppendInt(buf[:0], int64(slot), 10))
	x.Array(len(keys))
	for _, k := range keys {
		x.BulkString(k)
	}
}

// parseCursor parses a SCAN cursor as Redis does with strtoul: the argument
// ends at its first NUL; a leading space is rejected; an optional sign is
// accepted ('-' negates modulo 2^64); the rest must be decimal digits that
// fit in 64 bits. The empty string is cursor 0.
func parseCursor(b []byte) (uint64, bool) {
	b = cString(b)
	if len(b) == 0 {
		return 0, true
	}
	switch b[0] {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return 0, false
	}
	neg := false
	if b[0] == '+' || b[0] == '-' {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	if neg {
		v = -v
	}
	return v, true
}
