package raftfsm

import "encoding/binary"

// Script entries (type 12, entryScript; FSM semantics in script.go). The
// payload starts with a kind byte:
//
//	12 Script, version 1:
//	  kind    1 byte: 1 Eval, 2 Load, 3 Flush; functions (function.go):
//	          4 FunctionLoad, 5 FunctionDelete, 6 FunctionFlush,
//	          7 FunctionRestore, 8 FCall
//	  Eval:   now, db (< shard.NumDBs), flags (uvarint, ScriptFlag bits),
//	          budget (steps; 0 = none), body (len, bytes),
//	          nkeys, nkeys × (len, key), nargs, nargs × (len, arg)
//	  Load:   body (len, bytes)
//	  Flush:  nothing
//	  FunctionLoad:    replace (1 byte, 0 or 1), code (len, bytes)
//	  FunctionDelete:  library name (len, bytes)
//	  FunctionFlush:   nothing
//	  FunctionRestore: policy (1 byte: 0 append, 1 replace, 2 flush),
//	                   ncodes, ncodes × (len, library code)
//	  FCall:  as Eval, the body being the function's name
//
//	12 Script, version 2: as version 1. An Eval or FCall of version 2 runs
//	  with script's table-set guard (script/holes.go: a budget of empty
//	  table slots, and Lua's multiple assignment where gopher-lua's
//	  differed); one of version 1, written before, runs as it ran then
//	  (ScriptCall.Legacy), so that every replica applies it alike. A
//	  replica that predates version 2 halts on it rather than diverge.
//
// The entry carries the script's body also for EVALSHA (the leader looks
// it up in its cache), so that applying it never depends on a cache a
// replica might lack. Decoding aliases the entry's bytes and never panics.
const versionScript = 2

// Kinds of script entries.
const (
	scriptEval  byte = 1
	scriptLoad  byte = 2
	scriptFlush byte = 3

	scriptFuncLoad    byte = 4
	scriptFuncDelete  byte = 5
	scriptFuncFlush   byte = 6
	scriptFuncRestore byte = 7
	scriptFCall       byte = 8
)

// ScriptFlag are the bits of an Eval entry's flags.
type ScriptFlag uint64

const (
	// ScriptCluster: the front end runs in cluster mode; the script may
	// touch keys of one slot only (unless ScriptCrossSlot), and only of
	// slots its group owns.
	ScriptCluster ScriptFlag = 1 << iota
	// ScriptCrossSlot: the script's allow-cross-slot-keys shebang flag.
	ScriptCrossSlot
	// ScriptNoWrites: the script may not write (no-writes, EVAL_RO).
	ScriptNoWrites

	scriptFlagsKnown = ScriptCluster | ScriptCrossSlot | ScriptNoWrites
)

// maxScriptBody bounds a script's body in an entry (512 MB, Redis's
// proto-max-bulk-len ceiling).
const maxScriptBody = 512 << 20

// scriptEntry is a decoded script entry; its slices alias the entry.
type scriptEntry struct {
	kind   byte
	now    int64
	db     int
	flags  ScriptFlag
	budget int64
	body   []byte
	keys   [][]byte
	args   [][]byte
	// legacy: a version 1 entry (see versionScript).
	legacy bool
}

// EncodeScriptEval appends an Eval entry: the script body run in database
// db with flags and a step budget (0: none), stamped with now.
func EncodeScriptEval(dst []byte, now int64, db int, flags ScriptFlag, budget int64, body []byte, keys, args [][]byte) []byte {
	return appendScriptRun(dst, scriptEval, now, db, flags, budget, body, keys, args)
}

// EncodeFCall appends an FCall entry: the registered function name run
// with keys and args, as EncodeScriptEval.
func EncodeFCall(dst []byte, now int64, db int, flags ScriptFlag, budget int64, name []byte, keys, args [][]byte) []byte {
	return appendScriptRun(dst, scriptFCall, now, db, flags, budget, name, keys, args)
}

func appendScriptRun(dst []byte, kind byte, now int64, db int, flags ScriptFlag, budget int64, body []byte, keys, args [][]byte) []byte {
	dst = append(dst, byte(entryScript), versionScript, kind)
	dst = binary.AppendUvarint(dst, uint64(now))
	dst = binary.AppendUvarint(dst, uint64(db))
	dst = binary.AppendUvarint(dst, uint64(flags))
	dst = binary.AppendUvarint(dst, uint64(budget))
	dst = appendBytes(dst, body)
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	for _, k := range keys {
		dst = appendBytes(dst, k)
	}
	dst = binary.AppendUvarint(dst, uint64(len(args)))
	for _, a := range args {
		dst = appendBytes(dst, a)
	}
	return dst
}

// EncodeScriptLoad appends a Load entry.
func EncodeScriptLoad(dst []byte, body []byte) []byte {
	dst = append(dst, byte(entryScript), versionScript, scriptLoad)
	return appendBytes(dst, body)
}

// EncodeScriptFlush appends a Flush entry.
func EncodeScriptFlush(dst []byte) []byte {
	return append(dst, byte(entryScript), versionScript, scriptFlush)
}

// EncodeFunctionLoad appends a FunctionLoad entry (FUNCTION LOAD).
func EncodeFunctionLoad(dst []byte, replace bool, code []byte) []byte {
	r := byte(0)
	if replace {
		r = 1
	}
	dst = append(dst, byte(entryScript), versionScript, scriptFuncLoad, r)
	return appendBytes(dst, code)
}

// EncodeFunctionDelete appends a FunctionDelete entry (FUNCTION DELETE).
func EncodeFunctionDelete(dst []byte, name []byte) []byte {
	dst = append(dst, byte(entryScript), versionScript, scriptFuncDelete)
	return appendBytes(dst, name)
}

// EncodeFunctionFlush appends a FunctionFlush entry (FUNCTION FLUSH).
func EncodeFunctionFlush(dst []byte) []byte {
	return append(dst, byte(entryScript), versionScript, scriptFuncFlush)
}

// EncodeFunctionRestore appends a FunctionRestore entry: the libraries'
// codes of a FUNCTION RESTORE payload and the policy (0 append, 1
// replace, 2 flush: script.RestorePolicy).
func EncodeFunctionRestore(dst []byte, policy byte, codes [][]byte) []byte {
	dst = append(dst, byte(entryScript), versionScript, scriptFuncRestore, policy)
	dst = binary.AppendUvarint(dst, uint64(len(codes)))
	for _, c := range codes {
		dst = appendBytes(dst, c)
	}
	return dst
}

// decodeScript decodes a script entry (data starts with its type byte)
// into e, reusing its slices. ErrUnknownEntry for another version or kind,
// ErrBadEntry for a malformed one.
func decodeScript(data []byte, e *scriptEntry) error {
	if len(data) < 2 || entryType(data[0]) != entryScript {
		return ErrBadEntry
	}
	if data[1] != versionScript && data[1] != 1 {
		return ErrUnknownEntry
	}
	if len(data) < 3 {
		return ErrBadEntry
	}
	e.kind = data[2]
	e.legacy = data[1] == 1
	e.now, e.db, e.flags, e.budget, e.body = 0, 0, 0, 0, nil
	e.keys, e.args = e.keys[:0], e.args[:0]
	p := data[3:]
	var ok bool
	switch e.kind {
	case scriptFlush, scriptFuncFlush:
	case scriptLoad, scriptFuncDelete:
		if e.body, p, ok = field(p); !ok || len(e.body) > maxScriptBody {
			return ErrBadEntry
		}
	case scriptFuncLoad, scriptFuncRestore:
		// flags holds the replace flag or the restore policy.
		if len(p) < 1 || p[0] > 1 && (e.kind == scriptFuncLoad || p[0] > 2) {
			return ErrBadEntry
		}
		e.flags, p = ScriptFlag(p[0]), p[1:]
		if e.kind == scriptFuncLoad {
			if e.body, p, ok = field(p); !ok || len(e.body) > maxScriptBody {
				return ErrBadEntry
			}
		} else if e.args, p, ok = readFields(p, e.args[:0]); !ok {
			return ErrBadEntry
		}
	case scriptEval, scriptFCall:
		var now, flags uint64
		if now, p, ok = uvarint(p); !ok || now > maxNow {
			return ErrBadEntry
		}
		e.now = int64(now)
		if e.db, p, ok = readDB(p); !ok {
			return ErrBadEntry
		}
		if flags, p, ok = uvarint(p); !ok || ScriptFlag(flags)&^scriptFlagsKnown != 0 {
			return ErrBadEntry
		}
		e.flags = ScriptFlag(flags)
		var budget uint64
		if budget, p, ok = uvarint(p); !ok || budget > maxNow {
			return ErrBadEntry
		}
		e.budget = int64(budget)
		if e.body, p, ok = field(p); !ok || len(e.body) > maxScriptBody {
			return ErrBadEntry
		}
		if e.keys, p, ok = readFields(p, e.keys[:0]); !ok {
			return ErrBadEntry
		}
		if e.args, p, ok = readFields(p, e.args[:0]); !ok {
			return ErrBadEntry
		}
	default:
		return ErrUnknownEntry
	}
	if len(p) != 0 {
		return ErrBadEntry
	}
	return nil
}

// readFields reads count × (len, bytes), count at most len(p).
func readFields(p []byte, dst [][]byte) ([][]byte, []byte, bool) {
	n, p, ok := uvarint(p)
	if !ok || n > uint64(len(p)) || n > maxArgs {
		return nil, nil, false
	}
	for i := uint64(0); i < n; i++ {
		var f []byte
		if f, p, ok = field(p); !ok {
			return nil, nil, false
		}
		dst = append(dst, f)
	}
	return dst, p, true
}
