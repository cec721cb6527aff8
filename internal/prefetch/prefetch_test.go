package prefetch

import (
	"testing"
	"unsafe"
)

// TestLineAnyAddress: a prefetch never faults, whatever the address: nil,
// the last byte of an object, an address freed memory had.
func TestLineAnyAddress(t *testing.T) {
	x := new([64]byte)
	Line(nil)
	Line(unsafe.Pointer(x))
	Line(unsafe.Add(unsafe.Pointer(x), 63))
	b := make([]byte, 1<<20)
	p := unsafe.Pointer(unsafe.SliceData(b))
	b = nil
	Line(p)
	Line(unsafe.Add(p, 1<<21)) // past the object's end
}
