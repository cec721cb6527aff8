package raftfsm

import (
	"encoding/binary"

	"github.com/shoalcache/shoal/shard"
)

// Encoding and decoding of the slot migration entries. Their format is
// documented with the others at the top of codec.go.

// IngestKey is one key of an Ingest chunk: its value and expiry time
// (milliseconds since the Unix epoch, 0 for none), or its deletion. Decoded
// keys and values alias the entry's bytes.
type IngestKey struct {
	Key, Value []byte
	// Obj is the key's collection (Value is then its encoding), nil for a
	// string. Decoding builds it, so that a malformed one is a bad entry.
	Obj      shard.Object
	ExpireAt int64
	// Deleted means the key no longer exists in the source: the target
	// deletes it. Value and ExpireAt are then not encoded.
	Deleted bool
}

// Flags of an Ingest key.
const (
	ingestDeleted = 1
	ingestTyped   = 2
)

// canonical returns slots as ascending ranges that neither overlap nor
// touch, clipped to [0, NumSlots).
func canonical(slots []shard.SlotRange) []shard.SlotRange {
	var set shard.SlotSet
	for _, r := range slots {
		set.AddRange(r)
	}
	return set.Ranges(nil)
}

func encodeMigrateOut(dst []byte, job string, slots []shard.SlotRange, target string, epoch uint64) []byte {
	dst = append(dst, byte(entryMigrateOut), versionMigrateOut)
	dst = appendBytes(dst, job)
	dst = appendRanges(dst, canonical(slots))
	dst = appendBytes(dst, target)
	return binary.AppendUvarint(dst, epoch)
}

func encodeFence(dst []byte, job string) []byte {
	dst = append(dst, byte(entryFence), versionFence)
	return appendBytes(dst, job)
}

func encodeMigrateEnd(dst []byte, job string, done bool) []byte {
	dst = append(dst, byte(entryMigrateEnd), versionMigrateEnd)
	dst = appendBytes(dst, job)
	if done {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// EncodeIngestReset appends an IngestReset entry to dst: the target group
// (re)starts importing job's slots from the source group, whose leader is in
// term sourceTerm. slots are normalized (sorted, merged, clipped to the
// valid slots). The source's leader encodes it and ships the bytes to the
// target's leader, which proposes them with Group.ProposeMigrationEntry.
func EncodeIngestReset(dst []byte, job string, slots []shard.SlotRange, source string, sourceTerm uint64) []byte {
	dst = append(dst, byte(entryIngestReset), versionIngestReset)
	dst = appendBytes(dst, job)
	dst = appendRanges(dst, canonical(slots))
	dst = appendBytes(dst, source)
	return binary.AppendUvarint(dst, sourceTerm)
}

// EncodeIngest appends an Ingest entry to dst: a chunk of keys of job
// copied by the source leader of term sourceTerm; upTo, when not 0, raises
// the target's watermark (the source log index up to which the target then
// holds every change). A deleted key's Value and ExpireAt are not encoded.
// An ExpireAt below 0 or above 2^62 makes an entry the target refuses
// (ErrBadEntry).
func EncodeIngest(dst []byte, job string, sourceTerm, upTo uint64, keys []IngestKey) []byte {
	var b IngestBody
	for _, k := range keys {
		switch {
		case k.Deleted:
			b.Delete(k.Key)
		case k.Obj != nil:
			b.AddObject(string(k.Key), k.Obj, k.ExpireAt)
		default:
			b.Add(k.Key, k.Value, k.ExpireAt)
		}
	}
	return AppendIngest(dst, job, sourceTerm, upTo, &b)
}

// IngestBody collects the keys of an Ingest entry in their encoded form,
// so that a source can read them from its store straight into the chunk
// (one copy of each key and value, no allocation per key). The zero value
// is empty; Reset empties it for reuse.
type IngestBody struct {
	buf   []byte
	n     int
	typed bool // a collection was added: the entry is version 2
}

// Add appends a key with its value and expiry time.
func (b *IngestBody) Add(key, value []byte, expireAt int64) { addIngestKey(b, key, value, expireAt) }

// AddString is Add for a key held as a string (as the store's are).
func (b *IngestBody) AddString(key string, value []byte, expireAt int64) {
	addIngestKey(b, key, value, expireAt)
}

func addIngestKey[T string | []byte](b *IngestBody, key T, value []byte, expireAt int64) {
	b.buf = append(b.buf, 0)
	b.buf = appendBytes(b.buf, key)
	b.buf = appendBytes(b.buf, value)
	b.buf = binary.AppendUvarint(b.buf, uint64(expireAt))
	b.n++
}

// AddObject appends a key holding a collection, with its expiry time.
func (b *IngestBody) AddObject(key string, o shard.Object, expireAt int64) {
	b.buf = append(b.buf, ingestTyped)
	b.buf = appendBytes(b.buf, key)
	b.buf = append(b.buf, byte(o.Type()))
	start := len(b.buf)
	b.buf = shard.AppendObject(b.buf, o)
	enc := append([]byte(nil), b.buf[start:]...)
	b.buf = appendBytes(b.buf[:start], enc)
	b.buf = binary.AppendUvarint(b.buf, uint64(expireAt))
	b.n++
	b.typed = true
}

// AddEntry appends key with the value of e, a string or a collection.
// Caller holds the store's RLock.
func (b *IngestBody) AddEntry(key string, e *shard.Entry) {
	if o := e.Object(); o != nil {
		b.AddObject(key, o, e.ExpireAt)
		return
	}
	addIngestKey(b, key, e.Value, e.ExpireAt)
}

// Delete appends the deletion of key.
func (b *IngestBody) Delete(key []byte) {
	b.buf = append(b.buf, ingestDeleted)
	b.buf = appendBytes(b.buf, key)
	b.n++
}

// Keys returns how many keys were added; Size the bytes they take.
func (b *IngestBody) Keys() int { return b.n }

// Size returns the encoded bytes of the keys added so far.
func (b *IngestBody) Size() int { return len(b.buf) }

// Reset empties b, keeping its buffer.
func (b *IngestBody) Reset() { b.buf, b.n, b.typed = b.buf[:0], 0, false }

// AppendIngest appends an Ingest entry (see EncodeIngest) holding body's
// keys to dst. IngestHeaderSize bounds what it adds besides body.Size().
func AppendIngest(dst []byte, job string, sourceTerm, upTo uint64, body *IngestBody) []byte {
	ver := byte(versionIngest)
	if body.typed {
		ver = versionIngestTyped
	}
	dst = append(dst, byte(entryIngest), ver)
	dst = appendBytes(dst, job)
	dst = binary.AppendUvarint(dst, sourceTerm)
	dst = binary.AppendUvarint(dst, upTo)
	dst = binary.AppendUvarint(dst, uint64(body.n))
	return append(dst, body.buf...)
}

// IngestHeaderSize returns an upper bound of the bytes AppendIngest adds
// before the keys for job.
func IngestHeaderSize(job string) int { return 2 + 4*binary.MaxVarintLen64 + len(job) }

// name reads a length-prefixed name of at most maxName bytes.
func name(p []byte) ([]byte, []byte, bool) {
	b, p, ok := field(p)
	if !ok || len(b) > maxName {
		return nil, nil, false
	}
	return b, p, true
}

// decodeMigration decodes the payload of any migration entry (d.typ says
// which).
func (d *Decoded) decodeMigration(p []byte) error {
	d.job, d.peer, d.ranges, d.ingest = nil, nil, d.ranges[:0], d.ingest[:0]
	d.epoch, d.sourceTerm, d.upTo, d.done = 0, 0, 0, false
	var ok bool
	if d.job, p, ok = name(p); !ok {
		return ErrBadEntry
	}
	switch d.typ {
	case entryMigrateOut:
		if p, ok = d.decodeRanges(p, true); !ok {
			return ErrBadEntry
		}
		if d.peer, p, ok = name(p); !ok {
			return ErrBadEntry
		}
		if d.epoch, p, ok = uvarint(p); !ok {
			return ErrBadEntry
		}
	case entryFence:
	case entryIngestReset:
		if p, ok = d.decodeRanges(p, true); !ok {
			return ErrBadEntry
		}
		if d.peer, p, ok = name(p); !ok {
			return ErrBadEntry
		}
		if d.sourceTerm, p, ok = uvarint(p); !ok {
			return ErrBadEntry
		}
	case entryIngest:
		if p, ok = d.decodeIngestKeys(p, d.version == versionIngestTyped); !ok {
			return ErrBadEntry
		}
	case entryMigrateEnd:
		if len(p) == 0 || p[0] > 1 {
			return ErrBadEntry
		}
		d.done, p = p[0] == 1, p[1:]
	}
	if len(p) != 0 {
		return ErrBadEntry
	}
	return nil
}

func (d *Decoded) decodeIngestKeys(p []byte, typed bool) ([]byte, bool) {
	var ok bool
	if d.sourceTerm, p, ok = uvarint(p); !ok {
		return nil, false
	}
	if d.upTo, p, ok = uvarint(p); !ok {
		return nil, false
	}
	count, p, ok := uvarint(p)
	// Every key takes at least two bytes: the count cannot make us
	// allocate beyond the entry's size.
	if !ok || count > uint64(len(p)) {
		return nil, false
	}
	for i := uint64(0); i < count; i++ {
		if len(p) == 0 || (p[0] != 0 && p[0] != ingestDeleted && (!typed || p[0] != ingestTyped)) {
			return nil, false
		}
		k := IngestKey{Deleted: p[0] == ingestDeleted}
		isObj := p[0] == ingestTyped
		if k.Key, p, ok = field(p[1:]); !ok {
			return nil, false
		}
		if !k.Deleted {
			t := shard.TypeString
			if isObj {
				if len(p) == 0 {
					return nil, false
				}
				t, p = shard.Type(p[0]), p[1:]
			}
			if k.Value, p, ok = field(p); !ok {
				return nil, false
			}
			if isObj {
				o, err := shard.DecodeObject(t, k.Value)
				if err != nil {
					return nil, false
				}
				k.Obj = o
			}
			var at uint64
			if at, p, ok = uvarint(p); !ok || at > maxNow {
				return nil, false
			}
			k.ExpireAt = int64(at)
		}
		d.ingest = append(d.ingest, k)
	}
	return p, true
}
