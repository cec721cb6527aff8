package shard

import (
	"testing"
	"unsafe"

	"github.com/shoalcache/shoal/internal/testutil"
)

func TestCRC16CheckValue(t *testing.T) {
	if got := CRC16("123456789"); got != 0x31C3 {
		t.Fatalf("CRC16(123456789) = %#x, want 0x31c3", got)
	}
}

// crc16Bitwise is the CRC16/XMODEM definition, a bit at a time.
func crc16Bitwise(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for j := 0; j < 8; j++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// TestCRC16MatchesDefinition: the sliced CRC16 equals the bitwise
// definition for every length from 0 to 100 (every split of 8-byte steps
// and tail), on random bytes; testutil.Seed's variable replays a run.
func TestCRC16MatchesDefinition(t *testing.T) {
	rng := testutil.Rand(t)
	for n := 0; n <= 100; n++ {
		for r := 0; r < 20; r++ {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			if got, want := CRC16(b), crc16Bitwise(b); got != want {
				t.Fatalf("CRC16(%x) = %#x, want %#x", b, got, want)
			}
			if got, want := CRC16(string(b)), crc16Bitwise(b); got != want {
				t.Fatalf("CRC16(string %x) = %#x, want %#x", b, got, want)
			}
		}
	}
}

func BenchmarkSlot16(b *testing.B) {
	key := []byte("key:000000012345")
	for i := 0; i < b.N; i++ {
		_ = Slot(key)
	}
}

func TestSlot(t *testing.T) {
	tests := []struct {
		key  string
		want int
	}{
		{"foo", 12182},
		{"bar", 5061},
		{"{user1000}.following", Slot("user1000")},
		{"{user1000}.followers", Slot("user1000")},
		{"foo{}{bar}", int(CRC16("foo{}{bar}") & 16383)},
		{"foo{{bar}}zap", Slot("{bar")},
		{"foo{bar}{zap}", Slot("bar")},
		{"{", int(CRC16("{") & 16383)},
		{"", 0},
	}
	for _, tt := range tests {
		if got := Slot(tt.key); got != tt.want {
			t.Errorf("Slot(%q) = %d, want %d", tt.key, got, tt.want)
		}
		if got := Slot([]byte(tt.key)); got != tt.want {
			t.Errorf("Slot([]byte(%q)) = %d, want %d", tt.key, got, tt.want)
		}
	}
}

func TestEntryStaysInItsSizeClass(t *testing.T) {
	// Entry is allocated once per key: growing past 48 bytes moves it to the
	// 64-byte size class and costs 16 bytes per key.
	if got := unsafe.Sizeof(Entry{}); got != 48 {
		t.Fatalf("sizeof(Entry) = %d, want 48", got)
	}
	// Likewise a Hash, once per hash key (many small session hashes).
	if got := unsafe.Sizeof(Hash{}); got != 48 {
		t.Fatalf("sizeof(Hash) = %d, want 48", got)
	}
}
