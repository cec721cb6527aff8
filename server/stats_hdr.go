package server

import (
	"math/bits"
	"sync/atomic"
)

// Redis 7.0's per-command latency histograms are HdrHistogram_c histograms
// (hdr_init(1, 1000000000, 2)); INFO latencystats prints their
// hdr_value_at_percentile and LATENCY HISTOGRAM walks them with hdr's
// logarithmic iterator. This file reproduces the bucket layout and those
// two readings, with atomic counts so that connection goroutines record
// without a lock. Only the parts Redis uses are here (no resizing, no
// other iterators), hence no dependency.

// HDR histogram layout of Redis's per-command histograms: lowest
// discernible value 1, highest 1e9, 2 significant digits (hdr_init in
// updateCommandLatencyHistogram). Unit magnitude 0, 256 sub-buckets, 23
// buckets.
const (
	hdrSubHalfMag = 7
	hdrSubHalf    = 1 << hdrSubHalfMag
	hdrBuckets    = 23
	hdrCountsLen  = (hdrBuckets + 1) * hdrSubHalf
	hdrMaxValue   = 1_000_000_000
	// histLevels is how many LATENCY HISTOGRAM levels (1024<<j ns) fall in
	// the histogram's range.
	histLevels = 20
)

// hdrHist is one command's latency histogram, in nanoseconds.
type hdrHist struct {
	counts [hdrCountsLen]atomic.Int64
}

// hdrIndex is the counts index of value v (1 <= v <= hdrMaxValue).
func hdrIndex(v int64) int {
	b := bits.Len64(uint64(v)|(2*hdrSubHalf-1)) - (hdrSubHalfMag + 1)
	sub := int(v >> uint(b))
	return (b+1)<<hdrSubHalfMag + sub - hdrSubHalf
}

// hdrValueAt is the lowest value counted at index i.
func hdrValueAt(i int) int64 {
	b := i>>hdrSubHalfMag - 1
	sub := i&(hdrSubHalf-1) + hdrSubHalf
	if b < 0 {
		sub -= hdrSubHalf
		b = 0
	}
	return int64(sub) << uint(b)
}

// hdrHighest is the highest value equivalent to v (hdr's
// highest_equivalent_value).
func hdrHighest(v int64) int64 {
	b := bits.Len64(uint64(v)|(2*hdrSubHalf-1)) - (hdrSubHalfMag + 1)
	lowest := (v >> uint(b)) << uint(b)
	return lowest + 1<<uint(b) - 1
}

// record counts a latency of us microseconds, as Redis's
// updateCommandLatencyHistogram.
func (h *hdrHist) record(us int64) {
	v := min(max(us*1000, 1), hdrMaxValue)
	h.counts[hdrIndex(v)].Add(1)
}

// histSnap is a copy of a histogram.
type histSnap struct {
	counts [hdrCountsLen]int64
	total  int64
}

func (h *hdrHist) snapshot() *histSnap {
	s := new(histSnap)
	for i := range h.counts {
		n := h.counts[i].Load()
		s.counts[i] = n
		s.total += n
	}
	return s
}

// percentile is hdr_value_at_percentile, in nanoseconds.
func (s *histSnap) percentile(p float64) int64 {
	want := int64(min(p, 100)/100*float64(s.total) + 0.5)
	want = max(want, 1)
	var sum int64
	idx := 0
	for i, n := range s.counts {
		sum += n
		if sum >= want {
			idx = i
			break
		}
	}
	v := hdrValueAt(idx)
	if p == 0 {
		return v
	}
	return hdrHighest(v)
}

// levels returns LATENCY HISTOGRAM's buckets: for each level 1024<<j ns
// reached before the counts run out, its bound in microseconds (hdr's
// highest equivalent value / 1000) and the cumulative count, as Redis's
// fillCommandCDF walks hdr's logarithmic iterator (base 2 from 1024 ns).
// Only levels where the cumulative count grows are kept when sparse.
func (s *histSnap) levels(sparse bool) (bounds, cum []int64) {
	var sum, prev int64
	next := 0
	for j := range histLevels {
		if sum >= s.total {
			break
		}
		idx := hdrIndex(int64(1024) << uint(j))
		for ; next <= idx; next++ {
			sum += s.counts[next]
		}
		if !sparse || sum > prev {
			bounds = append(bounds, hdrHighest(hdrValueAt(idx))/1000)
			cum = append(cum, sum)
		}
		prev = sum
	}
	return bounds, cum
}
