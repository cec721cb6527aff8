// Package prefetch asks the processor to bring memory into its caches ahead
// of use, without waiting for it: a lookup that will read a cold cache line
// can start its miss while the processor works on something else, so that
// the misses of several lookups overlap instead of following one another.
//
// Go has no prefetch intrinsic outside the runtime, so on amd64 Line is a
// two-instruction assembly function (PREFETCHT0), and elsewhere it does
// nothing. A prefetch never faults: any address is safe to pass, and a
// wrong one costs only the cache line it brings in.
package prefetch
