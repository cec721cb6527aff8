package shard

import (
	"encoding/binary"

	"github.com/tidwall/btree"
)

// Per-field expiry of hashes (Redis 7.4's HEXPIRE family). A hash that has
// ever had a field with a time to live keeps the times in ttl, a B-tree
// ordered as the hashtable encoding (field hash, then field), so that a
// clone for a snapshot stays O(1). A listpack hash with ttl is what Redis
// calls "listpackex" (OBJECT ENCODING); it stays so when its last time is
// removed, as in Redis.
//
// Times are Unix milliseconds. A field whose time is before now is expired:
// reads never see it (Live), writes remove it first (ExpireFields, inside
// the FSM at the entry's time) and the leader's active expiry proposes the
// removal of the fields of the hashes the store lists as having times
// (Store.CollectExpiredFields).

// hashTTL is a hash's field times: times ordered as the hashtable
// encoding, their accounted memory, and minAt, at or before the earliest.
type hashTTL struct {
	times *btree.BTreeG[fieldTTL]
	mem   int64
	minAt int64
}

// hashTTLHeader is the accounted size of a hashTTL and its tree's header.
const hashTTLHeader = 48

// fieldTTL is the time to live of one field.
type fieldTTL struct {
	h  uint64 // FieldHash(f)
	f  string
	at int64
}

func fieldTTLLess(a, b fieldTTL) bool {
	if a.h != b.h {
		return a.h < b.h
	}
	return a.f < b.f
}

// fieldTTLSize is the accounted size of one time in the B-tree's nodes.
const fieldTTLSize = 40

func ttlProbe(field []byte) fieldTTL {
	return fieldTTL{h: FieldHash(field), f: string(field)}
}

// HasTTLs reports whether the hash carries per-field times (the listpackex
// encoding for a listpack hash), even if none is set any more.
func (h *Hash) HasTTLs() bool { return h.ttl != nil }

// FieldTTL returns field's expiry time in Unix milliseconds, 0 when it has
// none (or the field does not exist).
func (h *Hash) FieldTTL(field []byte) int64 {
	if h.ttl == nil {
		return 0
	}
	t, ok := h.ttl.times.Get(ttlProbe(field))
	if !ok {
		return 0
	}
	return t.at
}

// SetFieldTTL sets the expiry time of field, which must exist, to at (> 0).
// In a listpack the field moves to where Redis 7.4's listpackex keeps it:
// before the first field without a time or with a time not before at.
func (h *Hash) SetFieldTTL(field []byte, at int64) {
	h.setTTL(field, at)
	if h.big == nil {
		h.lpReposition(field, at)
	}
}

// setTTL records field's time, without moving the field.
func (h *Hash) setTTL(field []byte, at int64) {
	if h.ttl == nil {
		h.ttl = &hashTTL{times: btree.NewBTreeGOptions(fieldTTLLess, btree.Options{NoLocks: true})}
	}
	t := ttlProbe(field)
	t.at = at
	if _, replaced := h.ttl.times.Set(t); !replaced {
		h.ttl.mem += fieldTTLSize + int64(sizeClass(len(field)))
	}
	if h.ttl.minAt == 0 || at < h.ttl.minAt {
		h.ttl.minAt = at
	}
}

// PersistField removes field's expiry time and reports whether it had one.
// In a listpack the field then moves to the end, as in Redis 7.4.
func (h *Hash) PersistField(field []byte) bool {
	if !h.dropTTL(field) {
		return false
	}
	if h.big == nil {
		h.lpReposition(field, 0)
	}
	return true
}

// dropTTL forgets field's time, without moving the field.
func (h *Hash) dropTTL(field []byte) bool {
	if h.ttl == nil {
		return false
	}
	if _, ok := h.ttl.times.Delete(ttlProbe(field)); ok {
		h.ttl.mem -= fieldTTLSize + int64(sizeClass(len(field)))
		return true
	}
	return false
}

// MinFieldTTL returns a time at or before the earliest field expiry time of
// the hash (exactly it after ExpireFields), or 0 when no field has one.
func (h *Hash) MinFieldTTL() int64 {
	if h.ttl == nil || h.ttl.times.Len() == 0 {
		return 0
	}
	return h.ttl.minAt
}

// FieldsDue reports whether a field may have expired at now: ExpireFields
// then has work to do (or recomputes the earliest time).
func (h *Hash) FieldsDue(now int64) bool {
	return h.ttl != nil && h.ttl.times.Len() > 0 && h.ttl.minAt < now
}

// ExpireFields deletes the fields whose time is before now and returns how
// many; it recomputes the earliest remaining time.
func (h *Hash) ExpireFields(now int64) int {
	if !h.FieldsDue(now) {
		return 0
	}
	var due []fieldTTL
	var minAt int64
	h.ttl.times.Scan(func(t fieldTTL) bool {
		if t.at < now {
			due = append(due, t)
		} else if minAt == 0 || t.at < minAt {
			minAt = t.at
		}
		return true
	})
	for _, t := range due {
		h.Delete(bytesOf(t.f)) // removes the time too
	}
	h.ttl.minAt = minAt
	return len(due)
}

// refreshMin sets minAt to the earliest field time when no field has
// expired at now, and reports whether it did: the hash is then left as it
// was (minAt is a cache, which the store's owner may refresh in place under
// Lock: Views never read it).
func (h *Hash) refreshMin(now int64) bool {
	var minAt int64
	due := false
	h.ttl.times.Scan(func(t fieldTTL) bool {
		if t.at < now {
			due = true
			return false
		}
		if minAt == 0 || t.at < minAt {
			minAt = t.at
		}
		return true
	})
	if !due {
		h.ttl.minAt = minAt
	}
	return !due
}

// Live returns the hash as seen at now: h itself when no field has expired,
// else a copy without the expired fields (reads never see them; the FSM
// deletes them at its own pace). The copy is cheap (see clone) and never
// stored.
func (h *Hash) Live(now int64) *Hash {
	if !h.FieldsDue(now) {
		return h
	}
	c := h.clone().(*Hash)
	c.ExpireFields(now)
	return c
}

// lpReposition moves field's pair in the listpack to where Redis 7.4's
// listpackex puts a field with time at: fields with times first, in the
// order of their times (a field goes before those with an equal time),
// then the fields without one, a field losing its time (at 0) last.
func (h *Hash) lpReposition(field []byte, at int64) {
	start, end, _ := h.lpFind(field)
	if start < 0 {
		return
	}
	pair := append([]byte(nil), h.lp[start:end]...)
	rest := append(h.lp[:start:start], h.lp[end:]...)
	pos := len(rest)
	if at != 0 {
		for off := 0; off < len(rest); {
			f, _, next := lpNext(rest, off)
			if t := h.FieldTTL(f); t == 0 || t >= at {
				pos = off
				break
			}
			off = next
		}
	}
	nb := make([]byte, 0, len(rest)+len(pair))
	nb = append(nb, rest[:pos]...)
	nb = append(nb, pair...)
	h.lp = append(nb, rest[pos:]...)
}

// appendTTLs appends the times of a hash with times: uvarint(count) ‖
// count × (uvarint(len) ‖ field ‖ uvarint(at)).
func (h *Hash) appendTTLs(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(h.ttl.times.Len()))
	h.ttl.times.Scan(func(t fieldTTL) bool {
		b = binary.AppendUvarint(b, uint64(len(t.f)))
		b = append(b, t.f...)
		b = binary.AppendUvarint(b, uint64(t.at))
		return true
	})
	return b
}

// decodeTTLs reads appendTTLs' times into h, whose fields are decoded: each
// time must name an existing field, once, and be positive.
func (h *Hash) decodeTTLs(p []byte) ([]byte, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)) {
		return nil, ErrBadObject
	}
	p = p[k:]
	h.ttl = &hashTTL{times: btree.NewBTreeGOptions(fieldTTLLess, btree.Options{NoLocks: true})}
	for i := uint64(0); i < n; i++ {
		f, rest, ok := readBytes(p)
		if !ok {
			return nil, ErrBadObject
		}
		at, k := binary.Uvarint(rest)
		if k <= 0 || at == 0 || at > maxFieldTTL {
			return nil, ErrBadObject
		}
		p = rest[k:]
		if _, exists := h.Get(f); !exists || h.FieldTTL(f) != 0 {
			return nil, ErrBadObject
		}
		h.setTTL(f, int64(at)) // the encoded order is already listpackex's
	}
	return p, nil
}

// maxFieldTTL bounds a decoded time (Redis's EB_EXPIRE_TIME_MAX, 2^48-1 ms).
const maxFieldTTL = 1<<48 - 1
