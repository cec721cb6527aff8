package command

import (
	"math"

	"github.com/shoalcache/shoal/shard"
)

// RESP error texts of LCS.
const (
	errLCSLenAndIdx = "ERR If you want both the length and indexes, please just use IDX."
	errLCSTooLong   = "ERR String too long for LCS"
	errLCSNotString = "ERR The specified keys must contain string values"
	errLCSMemory    = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
)

func init() {
	Register(&Command{Name: "lcs", Arity: -3, Kind: KindRead, Flags: FlagReadOnly,
		FirstKey: 1, LastKey: 2, ACL: []string{"read", "string", "slow"}, Run: lcsCommand})
}

// lcsCommand: LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN].
// As Redis's lcsCommand: both keys are looked up (an access, and a keyspace
// hit or miss each) before the options are parsed; a missing key is an
// empty string; the table of LCS lengths, 4 bytes a cell, may not exceed
// proto-max-bulk-len. It runs under the store's read lock, as Redis runs it
// on its one thread: its cost is (len1+1)*(len2+1) cells.
func lcsCommand(x *Ctx, args [][]byte) {
	ea := x.St.Get(args[1], x.Now, x.LFURand)
	x.hitOrMiss(ea != nil)
	eb := x.St.Get(args[2], x.Now, x.LFURand)
	x.hitOrMiss(eb != nil)
	if (ea != nil && ea.Type() != shard.TypeString) || (eb != nil && eb.Type() != shard.TypeString) {
		x.Err(errLCSNotString)
		return
	}
	var a, b []byte
	if ea != nil {
		a = ea.Value
	}
	if eb != nil {
		b = eb.Value
	}
	var getLen, getIdx, withMatchLen bool
	var minMatchLen int64
	for j := 3; j < len(args); j++ {
		opt := args[j]
		switch {
		case cEqFold(opt, "idx"):
			getIdx = true
		case cEqFold(opt, "len"):
			getLen = true
		case cEqFold(opt, "withmatchlen"):
			withMatchLen = true
		case cEqFold(opt, "minmatchlen") && j+1 < len(args):
			n, ok := ParseInt(args[j+1])
			if !ok {
				x.Err(ErrNotInteger)
				return
			}
			minMatchLen = max(n, 0)
			j++
		default:
			x.Err(ErrSyntax)
			return
		}
	}
	if getLen && getIdx {
		x.Err(errLCSLenAndIdx)
		return
	}
	if len(a) >= math.MaxUint32-1 || len(b) >= math.MaxUint32-1 {
		x.Err(errLCSTooLong)
		return
	}
	if (uint64(len(a))+1)*(uint64(len(b))+1)*4 > ProtoMaxBulkLen {
		x.Err(errLCSMemory)
		return
	}
	if getLen {
		x.Int(int64(lcsLength(a, b)))
		return
	}
	lcsReply(x, a, b, getIdx, withMatchLen, minMatchLen)
}

// lcsLength returns the length of the longest common subsequence of a and
// b with two rows of the dynamic programming table (LEN needs no more).
func lcsLength(a, b []byte) uint32 {
	prev := make([]uint32, len(b)+1)
	cur := make([]uint32, len(b)+1)
	for i := 1; i <= len(a); i++ {
		lcsFillRow(a[i-1], b, prev, cur)
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// lcsFillRow computes a row of the LCS table, for the byte c of the first
// string, from the row above it: row[j] is the LCS length of the first
// string up to c and b[:j]. row[0] stays 0.
func lcsFillRow(c byte, b []byte, up, row []uint32) {
	for j := 1; j <= len(b); j++ {
		switch {
		case c == b[j-1]:
			row[j] = up[j-1] + 1
		case up[j] > row[j-1]:
			row[j] = up[j]
		default:
			row[j] = row[j-1]
		}
	}
}

// lcsReply replies the LCS string, or with IDX the matching ranges, walking
// the full table back from its end exactly as Redis does, so that ties
// resolve to the same subsequence and ranges.
func lcsReply(x *Ctx, a, b []byte, getIdx, withMatchLen bool, minMatchLen int64) {
	alen, blen := uint32(len(a)), uint32(len(b))
	w := blen + 1
	lcs := make([]uint32, (uint64(alen)+1)*uint64(w))
	for i := uint32(1); i <= alen; i++ {
		lcsFillRow(a[i-1], b, lcs[(i-1)*w:i*w], lcs[i*w:(i+1)*w])
	}
	total := lcs[alen*w+blen]
	var result []byte
	var ranges []uint32 // astart, aend, bstart, bend of each range emitted
	if getIdx {
		ranges = make([]uint32, 0, 16)
	} else {
		result = make([]byte, total)
	}
	idx := total
	aStart, aEnd, bStart, bEnd := alen, uint32(0), uint32(0), uint32(0) // aStart == alen: no range
	i, j := alen, blen
	for i > 0 && j > 0 {
		emit := false
		if a[i-1] == b[j-1] {
			if result != nil {
				result[idx-1] = a[i-1]
			}
			if aStart == alen {
				aStart, aEnd, bStart, bEnd = i-1, i-1, j-1, j-1
			} else if aStart == i && bStart == j {
				aStart--
				bStart--
			} else {
				emit = true
			}
			if aStart == 0 || bStart == 0 {
				emit = true
			}
			idx--
			i--
			j--
		} else {
			if lcs[(i-1)*w+j] > lcs[i*w+j-1] {
				i--
			} else {
				j--
			}
			if aStart != alen {
				emit = true
			}
		}
		if emit {
			matchLen := aEnd - aStart + 1
			if getIdx && (minMatchLen == 0 || int64(matchLen) >= minMatchLen) {
				ranges = append(ranges, aStart, aEnd, bStart, bEnd)
			}
			aStart = alen
		}
	}
	if !getIdx {
		x.Bulk(result)
		return
	}
	x.MapHeader(2)
	x.BulkString("matches")
	x.Array(len(ranges) / 4)
	for k := 0; k < len(ranges); k += 4 {
		if withMatchLen {
			x.Array(3)
		} else {
			x.Array(2)
		}
		x.Array(2)
		x.Int(int64(ranges[k]))
		x.Int(int64(ranges[k+1]))
		x.Array(2)
		x.Int(int64(ranges[k+2]))
		x.Int(int64(ranges[k+3]))
		if withMatchLen {
			x.Int(int64(ranges[k+1] - ranges[k] + 1))
		}
	}
	x.BulkString("len")
	x.Int(int64(total))
}
