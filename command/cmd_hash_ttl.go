package command

import "github.com/shoalcache/shoal/shard"

// Hash field expiry, as Redis 7.4's t_hash.c: HEXPIRE, HPEXPIRE,
// HEXPIREAT, HPEXPIREAT (set a time on fields), HTTL, HPTTL, HEXPIRETIME,
// HPEXPIRETIME (read it), HPERSIST (remove it). Times are decided by the
// leader's clock stamped on the log entry (Ctx.Now) like key expiry; the
// store side is shard/hash_ttl.go. Expired fields are invisible to reads
// and deleted by the FSM before a write changes the hash, and by the
// leader's active expiry.

func init() {
	w := func(name string) *Command {
		return &Command{Name: name, Arity: -6, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM | FlagFast,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: []string{"write", "hash", "fast"},
			Run: func(x *Ctx, args [][]byte) { hexpireGeneric(x, name, args) }}
	}
	r := func(name string) *Command {
		return &Command{Name: name, Arity: -5, Kind: KindRead, Flags: FlagReadOnly | FlagFast,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: []string{"read", "hash", "fast"},
			Run: func(x *Ctx, args [][]byte) { httlGeneric(x, name, args) }}
	}
	Register(
		w("hexpire"), w("hpexpire"), w("hexpireat"), w("hpexpireat"),
		r("httl"), r("hpttl"), r("hexpiretime"), r("hpexpiretime"),
		&Command{Name: "hpersist", Arity: -5, Kind: KindWrite, Flags: FlagWrite | FlagFast,
			FirstKey: 1, LastKey: 1, Step: 1, ACL: []string{"write", "hash", "fast"}, Run: hpersistCommand},
	)
}

// Replies of the field expiry commands, per field (Redis's HSETEX_*,
// HFE_GET_*, HFE_PERSIST_*).
const (
	hfeNoField  = -2 // no such field (or key)
	hfeNoTTL    = -1 // HTTL, HPERSIST: the field has no time
	hfeNoCond   = 0  // HEXPIRE: NX/XX/GT/LT not met
	hfeSet      = 1  // HEXPIRE: time set; HPERSIST: time removed
	hfeDeleted  = 2  // HEXPIRE: the time is not in the future: field deleted
	hfeMaxAbsMs = (1<<48 - 1) >> 2
	hfeCondNX   = 1
	hfeCondXX   = 2
	hfeCondGT   = 3
	hfeCondLT   = 4
)

// hfeFields checks "FIELDS numfields field..." at args[at-1:], as Redis:
// the FIELDS keyword, a positive numfields (badNum is the error of a bad
// one), and exactly numfields fields after it. It returns the fields, or
// false after replying the error.
func hfeFields(x *Ctx, args [][]byte, at int, badNum string) ([][]byte, bool) {
	if !cEqFold(args[at-1], "fields") {
		x.Err(ErrFieldsMissing)
		return nil, false
	}
	n, ok := ParseInt(args[at])
	if !ok || n < 1 {
		x.Err(badNum)
		return nil, false
	}
	if n != int64(len(args)-at-1) {
		x.Err(ErrNumFieldsMatch)
		return nil, false
	}
	return args[at+1:], true
}

// hexpireGeneric is Redis's hexpireGenericCommand: HEXPIRE/HPEXPIRE key
// time [NX|XX|GT|LT] FIELDS numfields field..., and the *AT forms. It
// replies one code per field; fields whose time is not in the future are
// deleted (and the key with its last field).
func hexpireGeneric(x *Ctx, name string, args [][]byte) {
	key := args[1]
	h, ok := x.hashPeekWrite(key)
	if !ok {
		return
	}
	at, ok := ParseInt(args[2])
	if !ok {
		x.Err(ErrNotInteger)
		return
	}
	if at < 0 {
		x.Err(ErrFieldExpireRange)
		return
	}
	seconds := name == "hexpire" || name == "hexpireat"
	if seconds {
		if at > hfeMaxAbsMs/1000 {
			x.Err(ErrInvalidExpire(name))
			return
		}
		at *= 1000
	}
	var base int64
	if name == "hexpire" || name == "hpexpire" {
		base = x.Now
	}
	if at > hfeMaxAbsMs-base {
		x.Err(ErrInvalidExpire(name))
		return
	}
	at += base
	cond, numAt := 0, 4
	switch {
	case cEqFold(args[3], "nx"):
		cond = hfeCondNX
	case cEqFold(args[3], "xx"):
		cond = hfeCondXX
	case cEqFold(args[3], "gt"):
		cond = hfeCondGT
	case cEqFold(args[3], "lt"):
		cond = hfeCondLT
	}
	if cond != 0 {
		numAt++
	}
	fields, ok := hfeFields(x, args, numAt, ErrNumFieldsSet)
	if !ok {
		return
	}
	x.Array(len(fields))
	if h == nil {
		for range fields {
			x.Int(hfeNoField)
		}
		return
	}
	// A call that changes nothing leaves the key untouched (no copy, no
	// change seen by WATCH or tracking).
	changes := false
	for _, f := range fields {
		if hfeOutcome(h, f, at, cond, x.Now) > 0 {
			changes = true
			break
		}
	}
	if !changes {
		for _, f := range fields {
			x.Int(hfeOutcome(h, f, at, cond, x.Now))
		}
		return
	}
	ed := objWrite[*shard.Hash](x, key, nil)
	for _, f := range fields {
		r := hfeOutcome(ed.o, f, at, cond, x.Now)
		switch r {
		case hfeSet:
			ed.o.SetFieldTTL(f, at)
		case hfeDeleted:
			ed.o.Delete(f)
		}
		x.Int(r)
	}
	ed.done(x, key)
}

// hfeOutcome is what HEXPIRE does to field f of h for the time at under
// cond (Redis's hashTypeSetEx): no field, condition not met, deleted (the
// time is not after now) or set.
func hfeOutcome(h *shard.Hash, f []byte, at int64, cond int, now int64) int64 {
	if _, ok := h.Get(f); !ok {
		return hfeNoField
	}
	prev := h.FieldTTL(f)
	if prev == 0 {
		if cond == hfeCondXX || cond == hfeCondGT {
			return hfeNoCond
		}
	} else if cond == hfeCondNX || (cond == hfeCondGT && prev >= at) || (cond == hfeCondLT && prev <= at) {
		return hfeNoCond
	}
	if at <= now {
		return hfeDeleted
	}
	return hfeSet
}

// httlGeneric is Redis's httlGenericCommand: HTTL/HPTTL key FIELDS
// numfields field... (the time left, in seconds rounded up or
// milliseconds) and HEXPIRETIME/HPEXPIRETIME (the Unix time).
func httlGeneric(x *Ctx, name string, args [][]byte) {
	h, ok := x.hashRead(args[1])
	if !ok {
		return
	}
	fields, ok := hfeFields(x, args, 3, ErrNumFieldsGet)
	if !ok {
		return
	}
	var base int64
	if name == "httl" || name == "hpttl" {
		base = x.Now
	}
	seconds := name == "httl" || name == "hexpiretime"
	x.Array(len(fields))
	for _, f := range fields {
		at := fieldTime(h, f)
		switch {
		case at < 0:
			x.Int(hfeNoField)
		case at == 0:
			x.Int(hfeNoTTL)
		case seconds:
			x.Int((at + 999 - base) / 1000)
		default:
			x.Int(at - base)
		}
	}
}

// hpersistCommand: HPERSIST key FIELDS numfields field...: per field 1
// (time removed), -1 (no time) or -2 (no field).
func hpersistCommand(x *Ctx, args [][]byte) {
	key := args[1]
	h, ok := x.hashPeekWrite(key)
	if !ok {
		return
	}
	fields, ok := hfeFields(x, args, 3, ErrNumFieldsGet)
	if !ok {
		return
	}
	x.Array(len(fields))
	var ed objEdit[*shard.Hash]
	for _, f := range fields {
		switch at := fieldTime(h, f); {
		case at < 0:
			x.Int(hfeNoField)
			continue
		case at == 0:
			x.Int(hfeNoTTL)
			continue
		}
		if ed.o == nil {
			ed = objWrite[*shard.Hash](x, key, nil)
			h = ed.o
		}
		h.PersistField(f)
		x.Int(hfeSet)
	}
	if ed.o != nil {
		ed.done(x, key)
	}
}

// fieldTime returns field f's time in h: -1 when there is no such field
// (or no hash), 0 when it has no time.
func fieldTime(h *shard.Hash, f []byte) int64 {
	if h == nil {
		return -1
	}
	if _, found := h.Get(f); !found {
		return -1
	}
	return h.FieldTTL(f)
}
