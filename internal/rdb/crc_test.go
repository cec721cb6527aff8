package rdb

import "testing"

// TestCRC64 checks the check value Redis's crc64.c tests itself with
// ("123456789" -> 0xe9c6d914c4b8d9ca) and that updates chain.
func TestCRC64(t *testing.T) {
	if got := CRC64(0, []byte("123456789")); got != 0xe9c6d914c4b8d9ca {
		t.Fatalf("CRC64(123456789) = %#x, want 0xe9c6d914c4b8d9ca", got)
	}
	if got := CRC64(CRC64(0, []byte("1234")), []byte("56789")); got != 0xe9c6d914c4b8d9ca {
		t.Fatalf("chained CRC64 = %#x", got)
	}
	if got := CRC64(0, nil); got != 0 {
		t.Fatalf("CRC64(empty) = %#x, want 0", got)
	}
}
