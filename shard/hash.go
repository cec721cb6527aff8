package shard

import (
	"encoding/binary"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/tidwall/btree"
)

// Hash is a hash value: fields and their values, in one of Redis's two
// encodings. A small hash is a "listpack": its pairs packed in one buffer in
// insertion order, which is the order Redis answers HGETALL in for a
// listpack, and about as compact. It becomes a "hashtable" (a B-tree ordered
// by the fields' 64-bit hashes, then the fields) when it gets more than
// HashMaxListpackEntries fields or a field or value longer than
// HashMaxListpackValue bytes, and never goes back, as in Redis 7.0.
//
// The B-tree (tidwall/btree) copies on write: cloning a large hash for a
// snapshot costs O(1), and each later change copies only the nodes on its
// path. Its hash order is stable under insertions and deletions, which is
// what HSCAN's cursor (a position in that order) needs to return every field
// present for the whole scan.
//
// Concurrency: see Object.
type Hash struct {
	// lp holds the listpack encoding while big is nil: aux pairs of
	// uvarint(len(field)) ‖ field ‖ uvarint(len(value)) ‖ value.
	lp []byte
	// big is the hashtable encoding.
	big *btree.BTreeG[hashItem]
	// aux is the listpack's number of pairs, or the accounted memory of
	// big's items (the low 56 bits) and log2 of Redis's dict buckets (the
	// high 8, dicttable.go): one field for these keeps the struct at 48
	// bytes (a size class), which many small hashes (sessions) notice.
	aux int64
	// ttl holds the fields' expiry times, nil for a hash that never had
	// one (hash_ttl.go).
	ttl *hashTTL
}

// Redis 7.0's defaults of hash-max-listpack-entries and
// hash-max-listpack-value.
const (
	HashMaxListpackEntries = 512
	HashMaxListpackValue   = 64
)

// hashItem is a field of a hashtable-encoded hash: kv holds the field
// (its first flen bytes) and the value in one allocation; h is the field's
// hash (never 0: HSCAN's cursor 0 means done).
type hashItem struct {
	h    uint64
	kv   string
	flen uint32
}

func (it hashItem) field() string { return it.kv[:it.flen] }
func (it hashItem) value() string { return it.kv[it.flen:] }

// newHashItem returns the item of field and value, copied into one
// allocation.
func newHashItem(field, value []byte) hashItem {
	n := len(field) + len(value)
	it := hashItem{h: FieldHash(field), flen: uint32(len(field))}
	if n > 0 {
		buf := make([]byte, n)
		copy(buf, field)
		copy(buf[len(field):], value)
		it.kv = unsafe.String(&buf[0], n) // buf is never written again
	}
	return it
}

// probe returns the item that finds field (it aliases field).
func probe(field []byte) hashItem {
	return hashItem{h: FieldHash(field), kv: unsafe.String(unsafe.SliceData(field), len(field)), flen: uint32(len(field))}
}

// hashItemSize is the accounted size of an item's slot in the B-tree's
// nodes (32 bytes, with the nodes' free space).
const hashItemSize = 44

// itemSize is the accounted memory of an item.
func itemSize(it hashItem) int64 { return hashItemSize + int64(sizeClass(len(it.kv))) }

// hashHeader is the accounted size of the Hash struct and its buffer's or
// tree's header.
const hashHeader = 64

func hashItemLess(a, b hashItem) bool {
	if a.h != b.h {
		return a.h < b.h
	}
	return a.field() < b.field()
}

// FieldHash returns the hash that orders field in a hashtable-encoded hash.
func FieldHash(field []byte) uint64 {
	return xxhash.Sum64(field) | 1
}

// NewHash returns an empty hash (listpack-encoded).
func NewHash() *Hash { return &Hash{} }

// Type implements Object.
func (h *Hash) Type() Type { return TypeHash }

// Len returns the number of fields.
func (h *Hash) Len() int {
	if h.big != nil {
		return h.big.Len()
	}
	return int(h.aux)
}

// Listpack reports whether the hash is listpack-encoded (OBJECT ENCODING).
func (h *Hash) Listpack() bool { return h.big == nil }

func (h *Hash) clone() Object {
	var c *Hash
	if h.big != nil {
		c = &Hash{big: h.big.Copy(), aux: h.aux}
	} else {
		c = &Hash{aux: h.aux}
		if h.lp != nil {
			c.lp = make([]byte, len(h.lp), cap(h.lp))
			copy(c.lp, h.lp)
		}
	}
	if h.ttl != nil {
		c.ttl = &hashTTL{times: h.ttl.times.Copy(), mem: h.ttl.mem, minAt: h.ttl.minAt}
	}
	return c
}

func (h *Hash) size() int64 {
	var n int64 = hashHeader
	if h.ttl != nil {
		n += hashTTLHeader + h.ttl.mem
	}
	if h.big != nil {
		return n + h.aux&hashMemMask
	}
	return n + int64(sizeClass(len(h.lp)))
}

// lpNext decodes the pair at off of a listpack: the field, the value and the
// offset of the next pair.
func lpNext(lp []byte, off int) (f, v []byte, next int) {
	n, k := binary.Uvarint(lp[off:])
	off += k
	f = lp[off : off+int(n)]
	off += int(n)
	n, k = binary.Uvarint(lp[off:])
	off += k
	v = lp[off : off+int(n)]
	return f, v, off + int(n)
}

// lpFind returns the offsets of field's pair in the listpack (start, and the
// end of its value), or -1.
func (h *Hash) lpFind(field []byte) (start, end int, v []byte) {
	for off := 0; off < len(h.lp); {
		f, val, next := lpNext(h.lp, off)
		if string(f) == string(field) {
			return off, next, val
		}
		off = next
	}
	return -1, -1, nil
}

func appendPair(b, f, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(f)))
	b = append(b, f...)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// bytesOf returns the bytes of s without copying; they must not be changed.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// Get returns the value of field. The value aliases the hash: the caller
// must not change it, and must not keep it past the lock it holds.
func (h *Hash) Get(field []byte) ([]byte, bool) {
	if h.big != nil {
		it, ok := h.big.Get(probe(field))
		if !ok {
			return nil, false
		}
		return bytesOf(it.value()), true
	}
	start, _, v := h.lpFind(field)
	return v, start >= 0
}

// Set sets field to value (both copied) and reports whether the field is
// new; the field loses any expiry time, as HSET's do. It converts the hash
// to the hashtable encoding first when it would exceed the listpack limits.
func (h *Hash) Set(field, value []byte) bool {
	if h.ttl != nil {
		h.PersistField(field)
	}
	return h.SetKeepTTL(field, value)
}

// SetKeepTTL is Set keeping field's expiry time (HINCRBY, HINCRBYFLOAT).
func (h *Hash) SetKeepTTL(field, value []byte) bool {
	if h.big == nil && (len(field) > HashMaxListpackValue || len(value) > HashMaxListpackValue) {
		h.convert()
	}
	if h.big != nil {
		return h.bigSet(field, value)
	}
	start, end, old := h.lpFind(field)
	if start >= 0 {
		if len(old) == len(value) {
			copy(old, value)
			return false
		}
		nb := make([]byte, 0, len(h.lp)-len(old)+len(value))
		nb = append(nb, h.lp[:start]...)
		nb = appendPair(nb, field, value)
		h.lp = append(nb, h.lp[end:]...)
		return false
	}
	if h.aux+1 > HashMaxListpackEntries {
		h.convert()
		return h.bigSet(field, value)
	}
	h.lp = appendPair(h.lp, field, value)
	h.aux++
	return true
}

func (h *Hash) bigSet(f, v []byte) bool {
	it := newHashItem(f, v)
	old, replaced := h.big.Set(it)
	h.aux += itemSize(it)
	if replaced {
		h.aux -= itemSize(old)
		return false
	}
	h.setDictExp(dictGrow(h.dictExp(), h.big.Len()-1)) // dictAdd of a new field
	return true
}

// hashMemMask selects the accounted memory in a hashtable's aux; the
// dict's exponent is above it.
const (
	hashExpShift = 56
	hashMemMask  = 1<<hashExpShift - 1
)

func (h *Hash) dictExp() uint8 { return uint8(h.aux >> hashExpShift) }

func (h *Hash) setDictExp(e uint8) { h.aux = h.aux&hashMemMask | int64(e)<<hashExpShift }

// DictBuckets returns the bucket count of the dict Redis would keep a
// hashtable-encoded hash in (0 for a listpack), for MEMORY USAGE.
func (h *Hash) DictBuckets() int64 {
	if h.big == nil {
		return 0
	}
	return 1 << h.dictExp()
}

// convert moves a listpack-encoded hash to the hashtable encoding.
func (h *Hash) convert() {
	lp, n := h.lp, int(h.aux)
	h.big = btree.NewBTreeGOptions(hashItemLess, btree.Options{NoLocks: true})
	// aux now counts the items' memory; the dict is presized for the
	// fields, as hashTypeConvertListpack does.
	h.lp, h.aux = nil, 0
	h.setDictExp(dictExpFor(n))
	for off := 0; off < len(lp); {
		f, v, next := lpNext(lp, off)
		h.bigSet(f, v)
		off = next
	}
}

// Delete removes field and reports whether it existed.
func (h *Hash) Delete(field []byte) bool {
	if h.ttl != nil {
		h.dropTTL(field)
	}
	if h.big != nil {
		old, ok := h.big.Delete(probe(field))
		if ok {
			h.aux -= itemSize(old)
			h.setDictExp(dictShrink(h.dictExp(), h.big.Len()))
		}
		return ok
	}
	start, end, _ := h.lpFind(field)
	if start < 0 {
		return false
	}
	h.lp = append(h.lp[:start], h.lp[end:]...)
	h.aux--
	if h.aux == 0 {
		h.lp = nil
	}
	return true
}

// Range calls fn for each field and value, in the hash's order (insertion
// order for a listpack, hash order for a hashtable), until fn returns
// false. The slices alias the hash (see Get); fn must not change the hash.
func (h *Hash) Range(fn func(field, value []byte) bool) {
	if h.big != nil {
		h.big.Scan(func(it hashItem) bool { return fn(bytesOf(it.field()), bytesOf(it.value())) })
		return
	}
	for off := 0; off < len(h.lp); {
		f, v, next := lpNext(h.lp, off)
		if !fn(f, v) {
			return
		}
		off = next
	}
}

// At returns the i-th field and value in the hash's order (0 <= i < Len),
// for HRANDFIELD: O(log n) for a hashtable, O(i) for a listpack.
func (h *Hash) At(i int) (field, value []byte) {
	if h.big != nil {
		it, _ := h.big.GetAt(i)
		return bytesOf(it.field()), bytesOf(it.value())
	}
	off := 0
	for ; i > 0; i-- {
		_, _, off = lpNext(h.lp, off)
	}
	f, v, _ := lpNext(h.lp, off)
	return f, v
}

// Scan calls fn for the fields of a scan step from cursor and returns the
// next cursor (0 when the scan is done). A listpack is returned whole (as
// Redis does); a hashtable from the first field whose hash is at least
// cursor, about count fields: every field with the same hash as the last
// one returned is returned too, so that the next cursor is above it.
func (h *Hash) Scan(cursor uint64, count int, fn func(field, value []byte)) uint64 {
	if h.big == nil {
		h.Range(func(f, v []byte) bool { fn(f, v); return true })
		return 0
	}
	var next uint64
	n := 0
	var last uint64
	h.big.Ascend(hashItem{h: cursor}, func(it hashItem) bool {
		if n >= count && it.h != last {
			next = it.h
			return false
		}
		fn(bytesOf(it.field()), bytesOf(it.value()))
		last = it.h
		n++
		return true
	})
	return next
}

// appendBinary appends the hash's encoding: its encoding (0 listpack, 1
// hashtable; +2 with expiry times) ‖ uvarint(fields) ‖ fields ×
// (uvarint(len) ‖ field ‖ uvarint(len) ‖ value), in the hash's order, then
// for +2 the times (appendTTLs). Hashes without times encode as before
// per-field expiry existed.
func (h *Hash) appendBinary(b []byte) []byte {
	var enc byte
	if h.big != nil {
		enc = 1
	}
	if h.ttl != nil {
		enc += 2
	}
	b = append(b, enc)
	if h.big == nil {
		b = binary.AppendUvarint(b, uint64(h.aux))
		b = append(b, h.lp...)
	} else {
		b = binary.AppendUvarint(b, uint64(h.big.Len()))
		h.big.Scan(func(it hashItem) bool {
			b = appendPair(b, bytesOf(it.field()), bytesOf(it.value()))
			return true
		})
	}
	if h.ttl != nil {
		b = h.appendTTLs(b)
	}
	return b
}

func decodeHash(p []byte) (Object, error) {
	if len(p) < 1 || p[0] > 3 {
		return nil, ErrBadObject
	}
	withTTL := p[0]&2 != 0
	big := p[0]&1 == 1
	n, k := binary.Uvarint(p[1:])
	if k <= 0 || n > uint64(len(p)) {
		return nil, ErrBadObject
	}
	p = p[1+k:]
	h := NewHash()
	if big {
		h.big = btree.NewBTreeGOptions(hashItemLess, btree.Options{NoLocks: true})
		h.setDictExp(dictExpFor(int(n))) // as Redis sizes a loaded hash
	}
	for i := uint64(0); i < n; i++ {
		f, rest, ok := readBytes(p)
		if !ok {
			return nil, ErrBadObject
		}
		v, rest, ok := readBytes(rest)
		if !ok {
			return nil, ErrBadObject
		}
		p = rest
		if big {
			if !h.bigSet(f, v) {
				return nil, ErrBadObject // a field twice
			}
			continue
		}
		if start, _, _ := h.lpFind(f); start >= 0 || h.aux >= HashMaxListpackEntries ||
			len(f) > HashMaxListpackValue || len(v) > HashMaxListpackValue {
			return nil, ErrBadObject // a field twice, or beyond the listpack's limits
		}
		h.lp = appendPair(h.lp, f, v)
		h.aux++
	}
	if withTTL {
		var err error
		if p, err = h.decodeTTLs(p); err != nil {
			return nil, err
		}
	}
	if len(p) != 0 || h.Len() == 0 {
		return nil, ErrBadObject
	}
	return h, nil
}

// readBytes reads uvarint(len) ‖ bytes from p.
func readBytes(p []byte) (b, rest []byte, ok bool) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return nil, nil, false
	}
	return p[k : k+int(n)], p[k+int(n):], true
}
