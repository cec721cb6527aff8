// Package rdb holds what Shoal shares with Redis's RDB serialization: the
// CRC-64 that DUMP payloads and FUNCTION DUMP payloads end with, and the
// payload encoders and decoders built on it.
package rdb

import "hash/crc64"

// jonesTable is the reflected table of the Jones polynomial Redis's crc64.c
// uses (0xad93d23594c935a9, reflected 0x95ac9329ac4bc9b5). The standard
// library's crc64 computes the table and the byte loop; Redis's variant
// starts from 0 and has no final XOR, while crc64.Update complements on
// entry and exit, which CRC64 undoes.
var jonesTable = crc64.MakeTable(0x95ac9329ac4bc9b5)

// CRC64 continues Redis's crc64(crc, p): CRC64(0, p) checksums p, and
// CRC64(CRC64(0, a), b) equals CRC64(0, a+b). Safe for concurrent use.
func CRC64(crc uint64, p []byte) uint64 {
	return ^crc64.Update(^crc, jonesTable, p)
}
