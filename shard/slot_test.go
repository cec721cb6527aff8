package shard

import (
	"testing"
	"unsafe"
)

func TestCRC16CheckValue(t *testing.T) {
	if got := CRC16("123456789"); got != 0x31C3 {
		t.Fatalf("CRC16(123456789) = %#x, want 0x31c3", got)
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
}
