package respclient

import (
	"strconv"
	"strings"
)

// Kinds of Value: the RESP type byte of the reply. Null bulk strings and
// null arrays of RESP2 are reported as KindNull too, so callers test one kind.
const (
	KindSimple    byte = '+' // simple string: Str
	KindError     byte = '-' // simple error: Str holds the message
	KindInt       byte = ':' // integer: Int
	KindBulk      byte = '$' // bulk string: Str
	KindArray     byte = '*' // array: Array
	KindNull      byte = '_' // RESP3 null, RESP2 null bulk ($-1) and null array (*-1)
	KindDouble    byte = ',' // double: Str holds the text as sent ("1.5", "inf")
	KindBool      byte = '#' // boolean: Int is 1 or 0
	KindBlobError byte = '!' // bulk error: Str holds the message
	KindVerbatim  byte = '=' // verbatim string: Str without its "txt:" prefix, Format holds it
	KindBigNumber byte = '(' // big number: Str holds the digits
	KindMap       byte = '%' // map: Map, in the order the server sent it
	KindSet       byte = '~' // set: Array
	KindPush      byte = '>' // push: Array (out-of-band; Do skips pushes)
)

// Value is one parsed RESP2 or RESP3 reply.
type Value struct {
	Kind   byte    // one of the Kind constants
	Str    string  // simple, bulk, verbatim, double, big number and error text
	Format string  // format of a verbatim string ("txt", "mkd")
	Int    int64   // integer, or 1/0 for a boolean
	Array  []Value // elements of an array, set or push
	Map    []KV    // pairs of a map, in order

	// Attr is the RESP3 attribute (a KindMap) sent before this reply, if
	// any.
	Attr *Value
	// Raw is the exact encoding of the value as the server sent it (with
	// its attribute); set by ReadRaw and Parse only.
	Raw []byte
}

// KV is one key/value pair of a RESP3 map.
type KV struct {
	Key   Value
	Value Value
}

// IsNull reports whether v is a null of any protocol version.
func (v Value) IsNull() bool { return v.Kind == KindNull }

// IsError reports whether v is an error reply (simple or bulk).
func (v Value) IsError() bool { return v.Kind == KindError || v.Kind == KindBlobError }

// Err returns v as a *ReplyError when it is an error reply, else nil.
func (v Value) Err() error {
	if !v.IsError() {
		return nil
	}
	return &ReplyError{Msg: v.Str}
}

// Text returns v as a string when it is one of the string-like kinds
// (simple, bulk, verbatim, double, big number) or an integer, and whether it
// was.
func (v Value) Text() (string, bool) {
	switch v.Kind {
	case KindSimple, KindBulk, KindVerbatim, KindDouble, KindBigNumber:
		return v.Str, true
	case KindInt:
		return strconv.FormatInt(v.Int, 10), true
	}
	return "", false
}

// Elems returns the elements of an array, set or push, and of a map the keys
// and values flattened in order (as RESP2 sends a map), so that code reading
// either protocol version can walk one list.
func (v Value) Elems() []Value {
	switch v.Kind {
	case KindArray, KindSet, KindPush:
		return v.Array
	case KindMap:
		out := make([]Value, 0, 2*len(v.Map))
		for _, kv := range v.Map {
			out = append(out, kv.Key, kv.Value)
		}
		return out
	}
	return nil
}

// Get returns the value stored under the string key in a map, or in a flat
// array of alternating keys and values (the RESP2 form of a map).
func (v Value) Get(key string) (Value, bool) {
	elems := v.Elems()
	for i := 0; i+1 < len(elems); i += 2 {
		if k, ok := elems[i].Text(); ok && k == key {
			return elems[i+1], true
		}
	}
	return Value{}, false
}

// String renders v in a compact, redis-cli-like form for messages and tests.
func (v Value) String() string {
	var b strings.Builder
	v.render(&b)
	return b.String()
}

func (v Value) render(b *strings.Builder) {
	switch v.Kind {
	case KindNull:
		b.WriteString("(nil)")
	case KindInt:
		b.WriteString(strconv.FormatInt(v.Int, 10))
	case KindBool:
		b.WriteString(strconv.FormatBool(v.Int != 0))
	case KindError, KindBlobError:
		b.WriteString("(error) ")
		b.WriteString(v.Str)
	case KindSimple, KindDouble, KindBigNumber:
		b.WriteString(v.Str)
	case KindBulk, KindVerbatim:
		b.WriteString(strconv.Quote(v.Str))
	case KindArray, KindSet, KindPush:
		b.WriteByte('[')
		for i, e := range v.Array {
			if i > 0 {
				b.WriteByte(' ')
			}
			e.render(b)
		}
		b.WriteByte(']')
	case KindMap:
		b.WriteByte('{')
		for i, kv := range v.Map {
			if i > 0 {
				b.WriteByte(' ')
			}
			kv.Key.render(b)
			b.WriteString(": ")
			kv.Value.render(b)
		}
		b.WriteByte('}')
	default:
		b.WriteString("(unknown)")
	}
}

// ReplyError is an error reply sent by the server, such as
// "ERR unknown command" or "MOVED 3999 127.0.0.1:7001".
type ReplyError struct {
	Msg string
}

// Error returns the server's message.
func (e *ReplyError) Error() string { return e.Msg }

// Code returns the first word of the message: "ERR", "MOVED", "NOAUTH"...
func (e *ReplyError) Code() string {
	code, _, _ := strings.Cut(e.Msg, " ")
	return code
}
