package script

import (
	"encoding/binary"

	"github.com/shoalcache/shoal/internal/rdb"
)

// FUNCTION DUMP / FUNCTION RESTORE payloads, Redis 7.0's: for each library
// the opcode RDB_OPCODE_FUNCTION2 (245) and its code as an RDB string;
// then the RDB version (2 bytes, little-endian: 10) and the CRC-64 of
// everything before (8 bytes, little-endian). Redis writes codes longer
// than 20 bytes LZF-compressed; Shoal writes them plain (a valid RDB
// string Redis reads) and reads both.

const (
	opFunction2    = 245
	opFunctionPre  = 246
	dumpRDBVersion = 10
)

// Error texts of FUNCTION RESTORE (Redis 7.0's).
const (
	errDumpFooter  = "ERR DUMP payload version or checksum are wrong"
	errDumpType    = "ERR given type is not a function"
	errDumpPreGA   = "ERR Pre-GA function format not supported"
	errDumpLibrary = "ERR failed loading the given functions payload"
)

// DumpPayload returns FUNCTION DUMP's payload for the libraries' codes.
func DumpPayload(codes [][]byte) []byte {
	n := 10
	for _, c := range codes {
		n += len(c) + 6
	}
	out := make([]byte, 0, n)
	for _, c := range codes {
		out = append(out, opFunction2)
		out = appendRDBLen(out, uint64(len(c)))
		out = append(out, c...)
	}
	out = binary.LittleEndian.AppendUint16(out, dumpRDBVersion)
	return binary.LittleEndian.AppendUint64(out, rdb.CRC64(0, out))
}

// appendRDBLen appends an RDB length (6-bit, 14-bit, 32-bit or 64-bit form).
func appendRDBLen(out []byte, n uint64) []byte {
	switch {
	case n < 1<<6:
		return append(out, byte(n))
	case n < 1<<14:
		return append(out, 0x40|byte(n>>8), byte(n))
	case n <= 0xffffffff:
		out = append(out, 0x80)
		return binary.BigEndian.AppendUint32(out, uint32(n))
	}
	out = append(out, 0x81)
	return binary.BigEndian.AppendUint64(out, n)
}

// ParseDump returns the library codes of a FUNCTION DUMP payload, or
// Redis's error text.
func ParseDump(p []byte) ([][]byte, string) {
	if len(p) < 10 {
		return nil, errDumpFooter
	}
	body, footer := p[:len(p)-10], p[len(p)-10:]
	if binary.LittleEndian.Uint16(footer) > dumpRDBVersion ||
		binary.LittleEndian.Uint64(footer[2:]) != rdb.CRC64(0, p[:len(p)-8]) {
		return nil, errDumpFooter
	}
	var codes [][]byte
	for len(body) > 0 {
		op := body[0]
		body = body[1:]
		switch op {
		case opFunction2:
		case opFunctionPre:
			return nil, errDumpPreGA
		default:
			return nil, errDumpType
		}
		var code []byte
		var ok bool
		if code, body, ok = readRDBString(body); !ok {
			return nil, errDumpLibrary
		}
		codes = append(codes, code)
	}
	return codes, ""
}

// maxRDBString bounds a string read from a payload (512 MB).
const maxRDBString = 512 << 20

// readRDBLen reads an RDB length; enc reports the special (encoded) form,
// whose value is then the encoding.
func readRDBLen(p []byte) (n uint64, enc bool, rest []byte, ok bool) {
	if len(p) < 1 {
		return 0, false, nil, false
	}
	switch p[0] >> 6 {
	case 0:
		return uint64(p[0] & 0x3f), false, p[1:], true
	case 1:
		if len(p) < 2 {
			return 0, false, nil, false
		}
		return uint64(p[0]&0x3f)<<8 | uint64(p[1]), false, p[2:], true
	case 3:
		return uint64(p[0] & 0x3f), true, p[1:], true
	}
	switch p[0] {
	case 0x80:
		if len(p) < 5 {
			return 0, false, nil, false
		}
		return uint64(binary.BigEndian.Uint32(p[1:])), false, p[5:], true
	case 0x81:
		if len(p) < 9 {
			return 0, false, nil, false
		}
		return binary.BigEndian.Uint64(p[1:]), false, p[9:], true
	}
	return 0, false, nil, false
}

// readRDBString reads an RDB string: plain, an integer encoding or LZF.
func readRDBString(p []byte) ([]byte, []byte, bool) {
	n, enc, p, ok := readRDBLen(p)
	if !ok {
		return nil, nil, false
	}
	if !enc {
		if n > uint64(len(p)) {
			return nil, nil, false
		}
		return append([]byte(nil), p[:n]...), p[n:], true
	}
	switch n {
	case 0, 1, 2: // 8, 16, 32-bit integers
		size := 1 << n
		if len(p) < size {
			return nil, nil, false
		}
		var v int64
		switch size {
		case 1:
			v = int64(int8(p[0]))
		case 2:
			v = int64(int16(binary.LittleEndian.Uint16(p)))
		default:
			v = int64(int32(binary.LittleEndian.Uint32(p)))
		}
		return []byte(itoa(v)), p[size:], true
	case 3: // LZF
		clen, cenc, q, ok := readRDBLen(p)
		if !ok || cenc {
			return nil, nil, false
		}
		ulen, uenc, q, ok := readRDBLen(q)
		if !ok || uenc || clen > uint64(len(q)) || ulen > maxRDBString {
			return nil, nil, false
		}
		out, ok := lzfDecompress(q[:clen], int(ulen))
		if !ok {
			return nil, nil, false
		}
		return out, q[clen:], true
	}
	return nil, nil, false
}

func itoa(v int64) string {
	var b [24]byte
	i := len(b)
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	for {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// lzfDecompress is liblzf's lzf_decompress (which Redis's RDB strings
// use): literal runs (ctrl < 32: ctrl+1 bytes) and back references
// (length ctrl>>5 + 2, or 7 + the next byte + 2; offset from the low bits
// and the next byte). Hand-written: a dozen lines, and no maintained Go
// module for it is available here. It returns false for an input that
// does not decompress to exactly n bytes.
func lzfDecompress(in []byte, n int) ([]byte, bool) {
	out := make([]byte, 0, n)
	for i := 0; i < len(in); {
		ctrl := int(in[i])
		i++
		if ctrl < 32 {
			l := ctrl + 1
			if i+l > len(in) || len(out)+l > n {
				return nil, false
			}
			out = append(out, in[i:i+l]...)
			i += l
			continue
		}
		l := ctrl >> 5
		if l == 7 {
			if i >= len(in) {
				return nil, false
			}
			l += int(in[i])
			i++
		}
		l += 2
		if i >= len(in) {
			return nil, false
		}
		ref := len(out) - ((ctrl & 0x1f) << 8) - 1 - int(in[i])
		i++
		if ref < 0 || len(out)+l > n {
			return nil, false
		}
		for k := 0; k < l; k++ { // may overlap: byte by byte
			out = append(out, out[ref+k])
		}
	}
	return out, len(out) == n
}
