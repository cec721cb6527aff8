package raftfsm

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/shoalcache/shoal/shard"
)

// reencode encodes a decoded entry again, in the format of its type.
func reencode(d *Decoded) []byte {
	switch d.typ {
	case entryLegacyCommands:
		return legacyCommands(d.Now, d.Cmds...)
	case entryCommands:
		if d.version == versionCommandsDB {
			return EncodeCommandsDB(nil, d.Now, d.DBs, d.Cmds)
		}
		return EncodeCommands(nil, d.Now, d.Cmds)
	case entryExpire:
		keys := make([]shard.ExpiredKey, len(d.keys))
		for i, k := range d.keys {
			keys[i] = shard.ExpiredKey{Key: string(k), ExpireAt: d.expireAt[i]}
		}
		return encodeExpire(nil, d.Now, d.db, keys)
	case entryEvict:
		return encodeEvict(nil, d.db, d.keys)
	case entrySetOwnership:
		return encodeOwnership(nil, d.epoch, d.ranges)
	case entryMigrateOut:
		return encodeMigrateOut(nil, string(d.job), d.ranges, string(d.peer), d.epoch)
	case entryFence:
		return encodeFence(nil, string(d.job))
	case entryIngestReset:
		return EncodeIngestReset(nil, string(d.job), d.ranges, string(d.peer), d.sourceTerm)
	case entryIngest:
		return EncodeIngest(nil, string(d.job), d.sourceTerm, d.upTo, d.ingest)
	case entryMigrateEnd:
		return encodeMigrateEnd(nil, string(d.job), d.done)
	case entryTransaction:
		return EncodeTx(nil, d.Now, decodedTx(d))
	}
	panic(fmt.Sprintf("decoded an entry of type %d", d.typ))
}

// sameDecoded compares what two decodings hold for their type.
func sameDecoded(a, b *Decoded) bool {
	// An Ingest entry of strings only may come as version 2; the encoder
	// writes it as version 1 (its canonical form).
	sameVersion := a.version == b.version || (a.typ == entryIngest && !typedIngest(a) && !typedIngest(b))
	if a.typ != b.typ || !sameVersion || a.legacy != b.legacy {
		return false
	}
	switch a.typ {
	case entryLegacyCommands, entryCommands:
		return a.Now == b.Now && equalCmds(a.Cmds, b.Cmds) && fmt.Sprint(a.DBs) == fmt.Sprint(b.DBs)
	case entryExpire:
		return a.Now == b.Now && a.db == b.db && fmt.Sprint(a.expireAt) == fmt.Sprint(b.expireAt) && equalCmds([][][]byte{a.keys}, [][][]byte{b.keys})
	case entryEvict:
		return a.db == b.db && equalCmds([][][]byte{a.keys}, [][][]byte{b.keys})
	case entrySetOwnership:
		return a.epoch == b.epoch && fmt.Sprint(a.ranges) == fmt.Sprint(b.ranges)
	case entryMigrateOut, entryFence, entryIngestReset, entryIngest, entryMigrateEnd:
		return bytes.Equal(a.job, b.job) && bytes.Equal(a.peer, b.peer) && a.epoch == b.epoch &&
			a.sourceTerm == b.sourceTerm && a.upTo == b.upTo && a.done == b.done &&
			fmt.Sprint(a.ranges) == fmt.Sprint(b.ranges) && sameIngest(a.ingest, b.ingest)
	case entryTransaction:
		return a.Now == b.Now && sameTx(a, decodedTx(b))
	}
	return false
}

func sameIngest(a, b []IngestKey) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Key, b[i].Key) || a[i].ExpireAt != b[i].ExpireAt || a[i].Deleted != b[i].Deleted ||
			(a[i].Obj == nil) != (b[i].Obj == nil) {
			return false
		}
		if a[i].Obj != nil {
			// A collection's encoding has one canonical order (a
			// hashtable's by hash, a sorted set's by score): compare
			// the objects, not the bytes that came in.
			if a[i].Obj.Type() != b[i].Obj.Type() ||
				!bytes.Equal(shard.AppendObject(nil, a[i].Obj), shard.AppendObject(nil, b[i].Obj)) {
				return false
			}
			continue
		}
		if !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

// typedIngest reports whether an Ingest entry holds a collection.
func typedIngest(d *Decoded) bool {
	for _, k := range d.ingest {
		if k.Obj != nil {
			return true
		}
	}
	return false
}

// FuzzDecodeEntry decodes arbitrary entries: no panic, errors are
// ErrBadEntry or ErrUnknownEntry, and an accepted entry of any type
// re-encodes to one that decodes the same (and is no longer: the encoders
// write minimal varints).
func FuzzDecodeEntry(f *testing.F) {
	f.Add(EncodeCommands(nil, 1_700_000_000_000, [][][]byte{cmd("SET", "k", "v"), cmd("GET", "k")}))
	f.Add(EncodeCommands(nil, 0, nil))
	f.Add(EncodeCommands(nil, 5, [][][]byte{cmd(""), cmd("\x00evict", "a", "b")}))
	f.Add(EncodeCommands(nil, 5, manyCmds(20)))
	f.Add(EncodeCommandsDB(nil, 5, []int{3, 0}, [][][]byte{cmd("SET", "k", "v"), cmd("DEL", "k")}))
	f.Add(encodeExpire(nil, 7, 15, []shard.ExpiredKey{{Key: "a", ExpireAt: 6}}))
	f.Add(encodeEvict(nil, 2, [][]byte{[]byte("a")}))
	f.Add(hdr(entryCommands, versionCommands, 0x80, 0x00, 0x01, 0x01, 0x00))
	for _, v := range validEntries() {
		f.Add(v)
	}
	f.Add(encodeOwnership(nil, 1, []shard.SlotRange{{Start: 0, End: 16383}}))
	f.Add(hdr(entryIngest, 1))
	f.Add(hdr(entryIngest, versionIngest, 1, 'j', 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f))
	f.Add(hdr(entryMigrateOut, versionMigrateOut, 0, 1, 0, 0, 0, 0))
	// Typed Ingest entries: a collection of each type.
	h, st, z, l := shard.NewHash(), shard.NewSet([]byte("x")), shard.NewZSet(0, 0), shard.NewList()
	for _, m := range []string{"a", "b", "c"} {
		h.Set([]byte(m), []byte("v"+m))
		st.Add([]byte(m))
		z.Set([]byte(m), float64(len(m)))
		l.PushBack([]byte(m))
	}
	f.Add(EncodeIngest(nil, "j", 2, 5, []IngestKey{{Key: []byte("h"), Obj: h}, {Key: []byte("s"), Obj: st},
		{Key: []byte("z"), Obj: z, ExpireAt: 7}, {Key: []byte("l"), Obj: l}, {Key: []byte("k"), Value: []byte("v")}}))
	f.Add(hdr(entryMigrateEnd, versionMigrateEnd, 0, 2))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Decoded
		if err := decodeEntry(data, &d); err != nil {
			if !errors.Is(err, ErrBadEntry) && !errors.Is(err, ErrUnknownEntry) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		for i, c := range d.Cmds {
			if len(c) == 0 {
				t.Fatalf("command %d has no arguments", i)
			}
		}
		again := reencode(&d)
		if len(again) > len(data) {
			t.Fatalf("re-encoding grew the entry from %d to %d bytes", len(data), len(again))
		}
		var d2 Decoded
		if err := decodeEntry(again, &d2); err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if !sameDecoded(&d, &d2) {
			t.Fatalf("round trip changed the entry: %+v -> %+v", d, d2)
		}
		if again2 := reencode(&d2); !bytes.Equal(again2, again) {
			t.Fatalf("encoding is not stable: % x, then % x", again, again2)
		}
	})
}
