// Package resp holds append-style encoders for RESP2 and RESP3 replies, and the
// conversion of a RESP3 reply to its RESP2 form.
//
// Encoders append to a caller-owned buffer and never allocate beyond growing it,
// in the style of redcon's Append functions. Commands that run inside the Raft
// FSM do not know the protocol of the connection that will receive their reply,
// so they encode RESP3 and the front end calls Downgrade for RESP2 connections.
package resp

import (
	"math"
	"strconv"
)

// Proto is a negotiated protocol version: 2 or 3.
type Proto uint8

// Protocol versions.
const (
	RESP2 Proto = 2
	RESP3 Proto = 3
)

// Common replies, encoded once.
var (
	OK        = []byte("+OK\r\n")
	Null3     = []byte("_\r\n")
	NullBulk2 = []byte("$-1\r\n")
	NullArr2  = []byte("*-1\r\n")
	Zero      = []byte(":0\r\n")
	One       = []byte(":1\r\n")
)

// AppendOK appends +OK.
func AppendOK(b []byte) []byte { return append(b, OK...) }

// AppendSimple appends a simple string; s must not contain CR or LF.
func AppendSimple(b []byte, s string) []byte {
	b = append(b, '+')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// AppendError appends an error reply. msg must start with the error code
// ("ERR ...", "WRONGTYPE ...") and must not contain CR or LF.
func AppendError(b []byte, msg string) []byte {
	b = append(b, '-')
	b = append(b, msg...)
	return append(b, '\r', '\n')
}

// AppendInt appends an integer reply.
func AppendInt(b []byte, n int64) []byte {
	b = append(b, ':')
	b = strconv.AppendInt(b, n, 10)
	return append(b, '\r', '\n')
}

// AppendBulk appends a bulk string.
func AppendBulk(b []byte, v []byte) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, '\r', '\n')
	b = append(b, v...)
	return append(b, '\r', '\n')
}

// AppendBulkString appends a bulk string.
func AppendBulkString(b []byte, v string) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, '\r', '\n')
	b = append(b, v...)
	return append(b, '\r', '\n')
}

// AppendBulkInt appends an integer formatted as a bulk string.
func AppendBulkInt(b []byte, n int64) []byte {
	var tmp [24]byte
	return AppendBulk(b, strconv.AppendInt(tmp[:0], n, 10))
}

// AppendNull appends the null reply of p: "_" in RESP3, a null bulk in RESP2.
func AppendNull(b []byte, p Proto) []byte {
	if p == RESP3 {
		return append(b, Null3...)
	}
	return append(b, NullBulk2...)
}

// AppendNullArray appends a null array: "_" in RESP3, "*-1" in RESP2.
func AppendNullArray(b []byte, p Proto) []byte {
	if p == RESP3 {
		return append(b, Null3...)
	}
	return append(b, NullArr2...)
}

// AppendArray appends an array header of n elements.
func AppendArray(b []byte, n int) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// AppendSet appends a set header of n elements ("~" in RESP3, an array in RESP2).
func AppendSet(b []byte, p Proto, n int) []byte {
	if p == RESP3 {
		b = append(b, '~')
	} else {
		b = append(b, '*')
	}
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// AppendMap appends a map header of n key-value pairs ("%" in RESP3, a flat
// array of 2n elements in RESP2).
func AppendMap(b []byte, p Proto, n int) []byte {
	if p == RESP3 {
		b = append(b, '%')
	} else {
		b = append(b, '*')
		n *= 2
	}
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// AppendVerbatim appends a verbatim string of format "txt" in RESP3 and a bulk
// string in RESP2.
func AppendVerbatim(b []byte, p Proto, v []byte) []byte {
	if p != RESP3 {
		return AppendBulk(b, v)
	}
	b = append(b, '=')
	b = strconv.AppendInt(b, int64(len(v)+4), 10)
	b = append(b, "\r\ntxt:"...)
	b = append(b, v...)
	return append(b, '\r', '\n')
}

// AppendDouble appends a double (",") in RESP3 or a bulk string in RESP2,
// formatted as Redis formats doubles (%.17g, inf, -inf, nan).
func AppendDouble(b []byte, p Proto, f float64) []byte {
	var tmp [32]byte
	s := FormatDouble(tmp[:0], f)
	if p != RESP3 {
		return AppendBulk(b, s)
	}
	b = append(b, ',')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// FormatDouble appends f as Redis's RESP3 double replies print it.
func FormatDouble(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	case math.IsNaN(f):
		return append(b, "nan"...)
	}
	return strconv.AppendFloat(b, f, 'g', 17, 64)
}
