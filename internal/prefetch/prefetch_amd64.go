package prefetch

import "unsafe"

// Line starts loading the cache line that holds p into every level of the
// cache, and returns at once. It never faults, whatever p is.
//
//go:noescape
func Line(p unsafe.Pointer)
