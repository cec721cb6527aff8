package command

import "github.com/shoalcache/shoal/shard"

func init() {
	Register(
		&Command{Name: "append", Arity: 3, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: []string{"write", "string", "fast"}, Run: appendCommand},
		&Command{Name: "strlen", Arity: 2, Kind: KindRead, Flags: FlagReadOnly | FlagFast,
			FirstKey: 1, LastKey: 1, ACL: []string{"read", "string", "fast"}, Run: strlenCommand},
		&Command{Name: "getrange", Arity: 4, Kind: KindRead, Flags: FlagReadOnly,
			FirstKey: 1, LastKey: 1, ACL: []string{"read", "string", "slow"}, Run: getrangeCommand},
		&Command{Name: "substr", Arity: 4, Kind: KindRead, Flags: FlagReadOnly,
			FirstKey: 1, LastKey: 1, ACL: []string{"read", "string", "slow"}, Run: getrangeCommand},
		&Command{Name: "setrange", Arity: 4, Kind: KindWrite, Flags: FlagWrite | FlagDenyOOM,
			FirstKey: 1, LastKey: 1, ACL: []string{"write", "string", "slow"}, Run: setrangeCommand},
	)
}

// ProtoMaxBulkLen is Redis's default proto-max-bulk-len (512 MB), the
// largest string APPEND and SETRANGE may build.
const ProtoMaxBulkLen = 512 << 20

// checkStringLength is Redis's checkStringLength: whether a string of size
// bytes extended by add bytes stays within proto-max-bulk-len.
func checkStringLength(size, add int64) bool {
	total := int64(uint64(size) + uint64(add))
	return total <= ProtoMaxBulkLen && total >= size && total >= add
}

// appendCommand: APPEND key value. Grows the value in place (amortized) and
// keeps the key's expiry.
func appendCommand(x *Ctx, args [][]byte) {
	key, val := args[1], args[2]
	e := x.St.LookupWrite(key, x.Now, x.LFURand)
	if x.wrongType(e, shard.TypeString) {
		return
	}
	if e == nil {
		x.St.Set(key, clone(val), 0, x.Now)
		x.Int(int64(len(val)))
		return
	}
	if !checkStringLength(int64(len(e.Value)), int64(len(val))) {
		x.Err(ErrStringTooLong)
		return
	}
	m := x.St.MutableOf(key, e)
	oldCap := cap(m.Value)
	// The value becomes a raw string that grows as Redis's sds does
	// (robj.go), which OBJECT ENCODING and MEMORY USAGE report.
	m.Value = append(toRaw(m, int64(len(m.Value)+len(val))), val...)
	x.St.Resize(key, m, oldCap)
	x.Int(int64(len(m.Value)))
}

// strlenCommand: STRLEN key.
func strlenCommand(x *Ctx, args [][]byte) {
	e := x.St.Get(args[1], x.Now, x.LFURand)
	x.hitOrMiss(e != nil)
	if x.wrongType(e, shard.TypeString) {
		return
	}
	if e == nil {
		x.Int(0)
		return
	}
	x.Int(int64(len(e.Value)))
}

// getrangeCommand: GETRANGE key start end, and its old name SUBSTR key
// start end. Indexes are inclusive; negative ones count from the end.
func getrangeCommand(x *Ctx, args [][]byte) {
	start, ok := ParseInt(args[2])
	if !ok {
		x.Err(ErrNotInteger)
		return
	}
	end, ok := ParseInt(args[3])
	if !ok {
		x.Err(ErrNotInteger)
		return
	}
	e := x.St.Get(args[1], x.Now, x.LFURand)
	x.hitOrMiss(e != nil)
	if x.wrongType(e, shard.TypeString) {
		return
	}
	if e == nil {
		x.Bulk(nil)
		return
	}
	x.Bulk(substr(e.Value, start, end))
}

// substr returns the part of s between the inclusive indexes start and end
// as Redis's getrangeCommand computes it.
func substr(s []byte, start, end int64) []byte {
	n := int64(len(s))
	if start < 0 && end < 0 && start > end {
		return nil
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	if start < 0 {
		start = 0
	}
	if end < 0 {
		end = 0
	}
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		return nil
	}
	return s[start : end+1]
}

// setrangeCommand: SETRANGE key offset value. Overwrites the value from
// offset, padding with zero bytes; keeps the key's expiry. An empty value
// changes nothing (and creates no key).
func setrangeCommand(x *Ctx, args [][]byte) {
	key, val := args[1], args[3]
	offset, ok := ParseInt(args[2])
	if !ok {
		x.Err(ErrNotInteger)
		return
	}
	if offset < 0 {
		x.Err(ErrOffsetRange)
		return
	}
	e := x.St.LookupWrite(key, x.Now, x.LFURand)
	if x.wrongType(e, shard.TypeString) {
		return
	}
	if e == nil {
		if len(val) == 0 {
			x.Int(0)
			return
		}
		if !checkStringLength(offset, int64(len(val))) {
			x.Err(ErrStringTooLong)
			return
		}
		v := newRaw(offset + int64(len(val)))
		copy(v[offset:], val)
		x.St.Set(key, v, 0, x.Now).SetEnc(shard.EncRaw)
		x.Int(int64(len(v)))
		return
	}
	if len(val) == 0 {
		x.Int(int64(len(e.Value)))
		return
	}
	if !checkStringLength(offset, int64(len(val))) {
		x.Err(ErrStringTooLong)
		return
	}
	m := x.St.MutableOf(key, e)
	oldCap := cap(m.Value)
	need := int(offset) + len(val)
	m.Value = toRaw(m, int64(need))
	if need > len(m.Value) {
		m.Value = growZero(m.Value, need)
	}
	copy(m.Value[offset:], val)
	x.St.Resize(key, m, oldCap)
	x.Int(int64(len(m.Value)))
}

// growZero extends b to length n with zero bytes, reusing its capacity.
func growZero(b []byte, n int) []byte {
	old := len(b)
	if n <= cap(b) {
		b = b[:n]
		clear(b[old:])
		return b
	}
	return append(b, make([]byte, n-old)...)
}
