package rdb

import "sync"

// LZF, as Redis's bundled liblzf 3.6 (lzf_c.c, lzf_d.c, lzfP.h) with
// Redis's settings: HLOG 16, VERY_FAST, not ULTRA_FAST. No Go LZF library
// is among the modules this project can fetch, so both directions are
// ported here; the compressor must emit Redis's exact bytes for DUMP
// payloads to be byte-identical, which a library of another lineage would
// not guarantee anyway.
//
// One difference: Redis does not clear its hash table between calls
// (INIT_HTAB 0), so a stale slot may, rarely, offer a genuine match inside
// an earlier match's span that a cleared table does not; the output is
// valid either way, and this port always clears it.

const (
	lzfHLog   = 16
	lzfHSize  = 1 << lzfHLog
	lzfMaxLit = 1 << 5
	lzfMaxOff = 1 << 13
	lzfMaxRef = (1 << 8) + (1 << 3)
	// lzfMaxRatio bounds how much LZF can expand: a 2-byte back reference
	// yields at most 8 bytes, a 3-byte one at most 264.
	lzfMaxRatio = 88
)

// htabPool holds the compressor's hash tables (256 KiB each).
var htabPool = sync.Pool{New: func() any { return new([lzfHSize]uint32) }}

func lzfIdx(h uint32) uint32 { return ((h >> (3*8 - lzfHLog)) - h*5) & (lzfHSize - 1) }

// lzfCompress compresses in into out (whose length is the limit) and
// returns the compressed length, or 0 when the output would not fit in
// out, as lzf_compress.
func lzfCompress(in, out []byte) int {
	if len(in) == 0 || len(out) == 0 {
		return 0
	}
	htab := htabPool.Get().(*[lzfHSize]uint32)
	defer htabPool.Put(htab)
	clear(htab[:])

	inEnd, outEnd := len(in), len(out)
	ip, op := 0, 0
	lit := 0
	op++ // start run
	frst := func(p int) uint32 { return uint32(in[p])<<8 | uint32(in[p+1]) }
	next := func(v uint32, p int) uint32 { return v<<8 | uint32(in[p+2]) }
	hval := uint32(0)
	if inEnd >= 2 {
		hval = frst(ip)
	}
	for ip < inEnd-2 {
		hval = next(hval, ip)
		slot := &htab[lzfIdx(hval)]
		ref := int(*slot) // 0: no reference (position 0 is never one)
		*slot = uint32(ip)
		if ref > 0 && ref < ip && ip-ref-1 < lzfMaxOff &&
			in[ref+2] == in[ip+2] && in[ref] == in[ip] && in[ref+1] == in[ip+1] {
			off := ip - ref - 1
			ln := 2
			maxlen := inEnd - ip - ln
			if maxlen > lzfMaxRef {
				maxlen = lzfMaxRef
			}
			if op+3+1 >= outEnd {
				nl := 0
				if lit == 0 {
					nl = 1
				}
				if op-nl+3+1 >= outEnd {
					return 0
				}
			}
			out[op-lit-1] = byte(lit - 1) // stop run
			if lit == 0 {
				op-- // undo run if length is zero
			}
			// As lzf_c.c: 16 unrolled steps without the maxlen test when
			// maxlen > 16, then one at a time up to maxlen.
			unrolled := false
			if maxlen > 16 {
				for k := 0; k < 16; k++ {
					ln++
					if in[ref+ln] != in[ip+ln] {
						unrolled = true
						break
					}
				}
			}
			if !unrolled {
				for {
					ln++
					if ln >= maxlen || in[ref+ln] != in[ip+ln] {
						break
					}
				}
			}
			ln -= 2 // octets - 1
			ip++
			if ln < 7 {
				out[op] = byte(off>>8 + ln<<5)
				op++
			} else {
				out[op] = byte(off>>8 + 7<<5)
				out[op+1] = byte(ln - 7)
				op += 2
			}
			out[op] = byte(off)
			op++
			lit = 0
			op++ // start run
			ip += ln + 1
			if ip >= inEnd-2 {
				break
			}
			ip -= 2
			hval = frst(ip)
			hval = next(hval, ip)
			htab[lzfIdx(hval)] = uint32(ip)
			ip++
			hval = next(hval, ip)
			htab[lzfIdx(hval)] = uint32(ip)
			ip++
		} else {
			if op >= outEnd {
				return 0
			}
			lit++
			out[op] = in[ip]
			op++
			ip++
			if lit == lzfMaxLit {
				out[op-lit-1] = byte(lit - 1)
				lit = 0
				op++
			}
		}
	}
	if op+3 > outEnd {
		return 0
	}
	for ip < inEnd {
		lit++
		out[op] = in[ip]
		op++
		ip++
		if lit == lzfMaxLit {
			out[op-lit-1] = byte(lit - 1)
			lit = 0
			op++
		}
	}
	out[op-lit-1] = byte(lit - 1)
	if lit == 0 {
		op--
	}
	return op
}

// lzfDecompress decompresses in into out, which must be exactly the
// uncompressed length, and reports whether in was a valid stream of that
// length (Redis's check: lzf_decompress returned len).
func lzfDecompress(in, out []byte) bool {
	ip, op := 0, 0
	for ip < len(in) {
		ctrl := int(in[ip])
		ip++
		if ctrl < 1<<5 { // literal run
			ctrl++
			if op+ctrl > len(out) || ip+ctrl > len(in) {
				return false
			}
			copy(out[op:], in[ip:ip+ctrl])
			op += ctrl
			ip += ctrl
			continue
		}
		ln := ctrl >> 5
		ref := op - (ctrl&0x1f)<<8 - 1
		if ip >= len(in) {
			return false
		}
		if ln == 7 {
			ln += int(in[ip])
			ip++
			if ip >= len(in) {
				return false
			}
		}
		ref -= int(in[ip])
		ip++
		ln += 2
		if op+ln > len(out) || ref < 0 {
			return false
		}
		for i := 0; i < ln; i++ { // the areas may overlap
			out[op+i] = out[ref+i]
		}
		op += ln
	}
	return op == len(out)
}
