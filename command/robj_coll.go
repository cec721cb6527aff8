package command

import "github.com/shoalcache/shoal/shard"

// The model of Redis 7.0's collection objects behind OBJECT ENCODING and
// MEMORY USAGE (object.c's objectComputeSize, listpack.c's entry sizes,
// dict.c's tables), as robj.go models strings.

// memorySamplesDefault is OBJ_COMPUTE_SIZE_DEF_SAMPLES.
const memorySamplesDefault = 5

// Sizes of Redis 7.0's structures on a 64-bit build.
const (
	robjStructSize = 16   // sizeof(robj)
	dictStructSize = 56   // sizeof(dict)
	listpackHeader = 6    // total bytes (4) and element count (2)
	listpackEnd    = 1    // the 0xFF terminator
	intsetHeader   = 8    // encoding and length
	quicklistSize  = 40   // sizeof(quicklist)
	qlNodeSize     = 40   // sizeof(quicklistNode)
	qlNodeBytes    = 8192 // list-max-listpack-size -2: 8 KB listpacks
)

// collectionEncoding returns OBJECT ENCODING of a collection.
func collectionEncoding(o shard.Object) string {
	switch o := o.(type) {
	case *shard.Hash:
		if o.Listpack() && o.HasTTLs() {
			return "listpackex" // Redis 7.4: a listpack with field times
		}
		if o.Listpack() {
			return "listpack"
		}
		return "hashtable"
	case *shard.Set:
		if o.Intset() {
			return "intset"
		}
		return "hashtable"
	case *shard.List:
		return "quicklist"
	case *shard.ZSet:
		if o.Listpack() {
			return "listpack"
		}
		return "skiplist"
	}
	return "unknown"
}

// lpEntrySize is the size of one listpack element holding s: its encoding
// byte(s) and data (an integer when s is one that lpStringToInt64 takes,
// in the smallest integer encoding), then its back-length.
func lpEntrySize(s []byte) int64 {
	var n int64
	if v, ok := isLong(s); ok {
		switch {
		case v >= 0 && v <= 127:
			n = 1
		case v >= -4096 && v <= 4095:
			n = 2
		case v >= -32768 && v <= 32767:
			n = 3
		case v >= -8388608 && v <= 8388607:
			n = 4
		case v >= -2147483648 && v <= 2147483647:
			n = 5
		default:
			n = 9
		}
	} else {
		l := int64(len(s))
		switch {
		case l < 64:
			n = 1 + l
		case l < 4096:
			n = 2 + l
		default:
			n = 5 + l
		}
	}
	switch {
	case n < 128:
		return n + 1
	case n < 16384:
		return n + 2
	case n < 2097152:
		return n + 3
	case n < 268435456:
		return n + 4
	}
	return n + 5
}

// collectionMemoryUsage is MEMORY USAGE for a collection: Redis's
// objectComputeSize (the listpack's allocation; for a dict, its table plus
// the average of the first samples elements times the count, 0 meaning
// all), plus the key and the main dict entry as for a string.
func collectionMemoryUsage(key []byte, o shard.Object, samples int64, cluster bool) int64 {
	var n int64
	switch o := o.(type) {
	case *shard.Hash:
		if o.Listpack() {
			lp := int64(listpackHeader + listpackEnd)
			o.Range(func(f, v []byte) bool {
				lp += lpEntrySize(f) + lpEntrySize(v)
				return true
			})
			n = robjStructSize + jemallocSize(lp)
		} else {
			count := int64(o.Len())
			n = robjStructSize + dictStructSize + 8*o.DictBuckets()
			var elems, seen int64
			o.Range(func(f, v []byte) bool {
				fl, vl := int64(len(f)), int64(len(v))
				elems += sdsAllocSize(fl, sdsNewAlloc(fl)) + sdsAllocSize(vl, sdsNewAlloc(vl)) + dictEntrySize
				seen++
				return samples == 0 || seen < samples
			})
			if seen > 0 {
				n += int64(float64(elems) / float64(seen) * float64(count))
			}
		}
	case *shard.Set:
		if o.Intset() {
			n = robjStructSize + jemallocSize(intsetHeader+int64(o.IntsetWidth()*o.Len()))
			break
		}
		count := int64(o.Len())
		n = robjStructSize + dictStructSize + 8*o.DictBuckets()
		var elems, seen int64
		o.Range(func(m []byte) bool {
			l := int64(len(m))
			elems += sdsAllocSize(l, sdsNewAlloc(l)) + dictEntrySize
			seen++
			return samples == 0 || seen < samples
		})
		if seen > 0 {
			n += int64(float64(elems) / float64(seen) * float64(count))
		}
	case *shard.List:
		n = listMemoryUsage(o, samples)
	case *shard.ZSet:
		n = zsetMemoryUsage(o, samples)
	}
	n += keySdsSize(key) + dictEntrySize
	if cluster {
		n += clusterEntryExtra
	}
	return n
}

// listMemoryUsage is objectComputeSize for a quicklist: the robj and the
// quicklist, and the average of the first samples nodes (node struct and
// listpack allocation) times the node count. The nodes are modelled as
// Redis fills them by pushes at the tail: listpacks of up to 8 KB.
func listMemoryUsage(l *shard.List, samples int64) int64 {
	var nodes []int64 // listpack bytes of each node
	cur := int64(listpackHeader + listpackEnd)
	l.Range(0, l.Len()-1, func(_ int, v string) bool {
		sz := lpEntrySize([]byte(v))
		if cur+sz > qlNodeBytes && cur > listpackHeader+listpackEnd {
			nodes = append(nodes, cur)
			cur = listpackHeader + listpackEnd
		}
		cur += sz
		return true
	})
	nodes = append(nodes, cur)
	var elems, seen int64
	for _, b := range nodes {
		if samples != 0 && seen >= samples {
			break
		}
		elems += qlNodeSize + jemallocSize(b)
		seen++
	}
	return robjStructSize + quicklistSize + int64(float64(elems)/float64(seen)*float64(len(nodes)))
}

// zsetMemoryUsage is objectComputeSize for a sorted set: a listpack's
// allocation (member, then the score as d2string writes it), or for a
// skiplist the zset, skiplist and dict structures and the average of the
// first samples members (their sds, dict entry and skiplist node, whose
// size Redis draws at random: modelled at the mean level, 1.33) times the
// count.
func zsetMemoryUsage(z *shard.ZSet, samples int64) int64 {
	if z.Listpack() {
		lp := int64(listpackHeader + listpackEnd)
		var buf [32]byte
		z.AscendFrom(0, func(m string, s float64) bool {
			lp += lpEntrySize([]byte(m)) + lpEntrySize(formatScore(buf[:0], s))
			return true
		})
		return robjStructSize + jemallocSize(lp)
	}
	const (
		zsetStruct     = 16 // dict and skiplist pointers
		skiplistStruct = 32
		zslHeader      = 32 + 32*16 // header node of 32 levels
		zslNode        = 24 + 16    // ele, score, backward, one level (mean 1.33 levels rounds to one class)
	)
	count := int64(z.Len())
	n := robjStructSize + zsetStruct + skiplistStruct + dictStructSize + 8*z.DictBuckets() + jemallocSize(zslHeader)
	var elems, seen int64
	z.AscendFrom(0, func(m string, _ float64) bool {
		l := int64(len(m))
		elems += sdsAllocSize(l, sdsNewAlloc(l)) + dictEntrySize + jemallocSize(zslNode)
		seen++
		return samples == 0 || seen < samples
	})
	if seen > 0 {
		n += int64(float64(elems) / float64(seen) * float64(count))
	}
	return n
}
