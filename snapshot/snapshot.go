// Package snapshot defines Shoal's snapshot format and reads and writes it as a
// stream, so that neither taking nor restoring a snapshot holds a second full
// copy of the data in memory.
//
// # Format, version 5
//
//	magic    "SHOALSNP"
//	version  uint16, big endian (5)
//	block*   the header block, then data blocks, then an empty block
//	trailer  uint64 big endian: total number of key records
//
// A block is uvarint(len) ‖ payload ‖ xxhash64(payload) as a big-endian
// uint64; a block with len 0 ends the stream and has no checksum. The first
// block is the header:
//
//	uvarint(now) ‖ uvarint(seq) ‖ uvarint(len) ‖ extra ‖
//	uvarint(epoch) ‖ kind (1 byte) ‖ [bitmap] ‖
//	uvarint(nOut) ‖ nOut × out job ‖ uvarint(nIn) ‖ nIn × in job ‖
//	uvarint(nEnded) ‖ nEnded × str(ended job) ‖
//	uvarint(nDB) ‖ nDB × (uvarint(db) ‖ uvarint(keys))
//
// epoch and the slot set are the group's slot ownership (Meta.Epoch,
// Meta.Slots). kind 0 means every slot (Meta.Slots nil) and has no bitmap;
// kind 1 is followed by the bitmap: NumSlots/64 uint64 words, big endian,
// slot s being bit s%64 of word s/64.
//
// The jobs are the group's slot migrations (Meta.MigratingOut,
// Meta.Importing, Meta.EndedJobs), with str = uvarint(len) ‖ bytes and ranges =
// uvarint(count) ‖ count × (uvarint(start) ‖ uvarint(end)):
//
//	out job: str(job) ‖ str(target) ‖ ranges ‖ uvarint(epoch) ‖
//	         uvarint(startIndex) ‖ fenced (1 byte, 0 or 1) ‖
//	         uvarint(fenceIndex) ‖ uvarint(nDirty)
//	in job:  str(job) ‖ str(source) ‖ ranges ‖ uvarint(maxSourceTerm) ‖
//	         uvarint(watermark) ‖ uvarint(keys) ‖ uvarint(bytes)
//
// Every other payload is a sequence of records: first the dirty records of
// the out jobs, nDirty of the first job, then of the second, and so on:
//
//	uvarint(len(key)) ‖ key ‖ uvarint(index)
//
// then the key records:
//
//	uvarint(len(key)) ‖ key ‖ type (1 byte) ‖ uvarint(len(value)) ‖ value ‖
//	uvarint(expireAt) ‖ uvarint(seq)
//
// type is the value's data type (shard.Type: 0 string, 1 list, 2 set,
// 3 zset, 4 hash); a string's value is its bytes, a collection's the
// encoding of shard.AppendObject (its encoding, then its elements).
//
// The header's database list names the databases other than 0 that have
// keys (SELECT, standalone mode), ascending, each with its number of keys
// (1 to NumDBs-1; keys > 0): their key records come first, in that order,
// and every key record after them is database 0's.
//
// A record never spans two blocks. Readers verify every block's checksum
// before using it, and the record count at the end.
//
// # Version 4
//
// Version 4 is version 5 without the type byte of the key records: it
// predates data types, and every value is a string. Read still accepts it.
//
// # Version 3
//
// Version 3 is version 4 without the database list: it predates databases,
// and every key is database 0's. Read still accepts it.
//
// # Version 2
//
// Version 2 is version 3 without the job lists and dirty records: it
// predates slot migration. Read still accepts it and reports no jobs.
//
// # Version 1
//
// Version 1 is version 2 without the ownership fields at the end of the
// header: it predates slot ownership. Read still accepts it and reports
// epoch 0 and every slot (Meta.Slots nil), which is what a group of that
// time owned. Write produces version 5 only.
package snapshot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cespare/xxhash/v2"

	"github.com/shoalcache/shoal/shard"
)

// Errors returned by Read.
var (
	// ErrFormat means the input is not a snapshot of a known version.
	ErrFormat = errors.New("snapshot: not a Shoal snapshot")
	// ErrCorrupt means a checksum, length or count does not match.
	ErrCorrupt = errors.New("snapshot: corrupt snapshot")
)

const (
	magic   = "SHOALSNP"
	version = 5
	// version1 is the format before slot ownership, version2 the format
	// before slot migration, version3 the one before databases, version4
	// the one before data types; Read accepts them.
	version1 = 1
	version2 = 2
	version3 = 3
	version4 = 4

	// blockTarget is the payload size at which a data block is flushed.
	blockTarget = 64 << 10
	// maxBlock bounds a block's declared length (a value is at most 512 MB).
	maxBlock = 600 << 20
)

// Meta is the state saved beside the keys.
type Meta struct {
	// Now is the FSM's clock (milliseconds) when the snapshot was taken.
	Now int64
	// Seq is the store's creation counter.
	Seq uint64
	// Extra is opaque state of the caller (at most 1 MB).
	Extra []byte
	// Epoch is the epoch of the group's slot ownership.
	Epoch uint64
	// Slots are the slots the group owns; nil means every slot. Read
	// returns nil for a version 1 snapshot.
	Slots *shard.SlotSet
	// MigratingOut and Importing are the group's slot migration jobs, as
	// source and as target (none before version 3).
	MigratingOut []MigratingOut
	Importing    []Importing
	// EndedJobs are the ids of the last migration jobs that ended in the
	// group, oldest first.
	EndedJobs []string
}

// MigratingOut is a source group's state of one slot migration job.
type MigratingOut struct {
	Job, Target string
	// Slots ascend and neither overlap nor touch.
	Slots             []shard.SlotRange
	Epoch, StartIndex uint64
	Fenced            bool
	FenceIndex        uint64
	// Dirty maps each key changed since StartIndex to the index of its last
	// change. Write only reads it.
	Dirty map[string]uint64
}

// Importing is a target group's state of one slot migration job.
type Importing struct {
	Job, Source string
	// Slots ascend and neither overlap nor touch.
	Slots                                 []shard.SlotRange
	MaxSourceTerm, Watermark, Keys, Bytes uint64
}

// Kinds of slot sets in the header.
const (
	slotsAll    = 0
	slotsBitmap = 1
)

type writer struct {
	w     *bufio.Writer
	block []byte
	tmp   [binary.MaxVarintLen64]byte
}

func (w *writer) flushBlock() error {
	if len(w.block) == 0 {
		return nil
	}
	n := binary.PutUvarint(w.tmp[:], uint64(len(w.block)))
	if _, err := w.w.Write(w.tmp[:n]); err != nil {
		return err
	}
	if _, err := w.w.Write(w.block); err != nil {
		return err
	}
	var sum [8]byte
	binary.BigEndian.PutUint64(sum[:], xxhash.Sum64(w.block))
	_, err := w.w.Write(sum[:])
	w.block = w.block[:0]
	return err
}

// Write streams the view's keys and meta to out. It reads the view only, so
// it may run concurrently with writes to the store the view was taken from.
func Write(out io.Writer, v *shard.View, meta Meta) error {
	w := &writer{w: bufio.NewWriterSize(out, 256<<10), block: make([]byte, 0, blockTarget+4096)}
	if _, err := w.w.WriteString(magic); err != nil {
		return err
	}
	var ver [2]byte
	binary.BigEndian.PutUint16(ver[:], version)
	if _, err := w.w.Write(ver[:]); err != nil {
		return err
	}
	w.block = binary.AppendUvarint(w.block, uint64(meta.Now))
	w.block = binary.AppendUvarint(w.block, meta.Seq)
	w.block = binary.AppendUvarint(w.block, uint64(len(meta.Extra)))
	w.block = append(w.block, meta.Extra...)
	w.block = binary.AppendUvarint(w.block, meta.Epoch)
	if meta.Slots == nil {
		w.block = append(w.block, slotsAll)
	} else {
		w.block = append(w.block, slotsBitmap)
		for _, word := range meta.Slots {
			w.block = binary.BigEndian.AppendUint64(w.block, word)
		}
	}
	w.appendJobs(&meta)
	dbs := v.DBs()
	w.block = binary.AppendUvarint(w.block, uint64(len(dbs)))
	for _, db := range dbs {
		n := 0
		for slot := 0; slot < shard.NumSlots; slot++ {
			n += v.DBSlotLen(db, slot)
		}
		w.block = binary.AppendUvarint(w.block, uint64(db))
		w.block = binary.AppendUvarint(w.block, uint64(n))
	}
	if err := w.flushBlock(); err != nil {
		return err
	}
	for _, j := range meta.MigratingOut {
		for k, idx := range j.Dirty {
			w.block = binary.AppendUvarint(w.block, uint64(len(k)))
			w.block = append(w.block, k...)
			w.block = binary.AppendUvarint(w.block, idx)
			if len(w.block) >= blockTarget {
				if err := w.flushBlock(); err != nil {
					return err
				}
			}
		}
	}
	var count uint64
	var err error
	for _, db := range append(dbs, 0) { // database 0 last
		for slot := 0; slot < shard.NumSlots && err == nil; slot++ {
			v.RangeDBSlot(db, slot, func(key string, e *shard.Entry) bool {
				w.block = binary.AppendUvarint(w.block, uint64(len(key)))
				w.block = append(w.block, key...)
				w.block = append(w.block, byte(e.Type()))
				if o := e.Object(); o != nil {
					w.block = appendObject(w.block, o)
				} else {
					w.block = binary.AppendUvarint(w.block, uint64(len(e.Value)))
					w.block = append(w.block, e.Value...)
				}
				w.block = binary.AppendUvarint(w.block, uint64(e.ExpireAt))
				w.block = binary.AppendUvarint(w.block, e.Seq())
				count++
				if len(w.block) >= blockTarget {
					err = w.flushBlock()
				}
				return err == nil
			})
		}
	}
	if err != nil {
		return err
	}
	if err := w.flushBlock(); err != nil {
		return err
	}
	var tail [1 + 8]byte
	tail[0] = 0 // empty block
	binary.BigEndian.PutUint64(tail[1:], count)
	if _, err := w.w.Write(tail[:]); err != nil {
		return err
	}
	return w.w.Flush()
}

type reader struct {
	r   *bufio.Reader
	buf bytes.Buffer
}

// next returns the next block's verified payload, or nil at the end block.
func (r *reader) next() ([]byte, error) {
	n, err := binary.ReadUvarint(r.r)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, corrupt(err)
		}
		// A length that overflows 64 bits (or the reader's own error,
		// kept in the chain).
		return nil, fmt.Errorf("%w: block length: %w", ErrCorrupt, err)
	}
	if n == 0 {
		return nil, nil
	}
	if n > maxBlock {
		return nil, fmt.Errorf("%w: block of %d bytes", ErrCorrupt, n)
	}
	r.buf.Reset()
	// CopyN grows the buffer as data arrives, so a lying length cannot make
	// us allocate more than the input holds.
	if _, err := io.CopyN(&r.buf, r.r, int64(n)+8); err != nil {
		return nil, corrupt(err)
	}
	b := r.buf.Bytes()
	payload, sum := b[:n], binary.BigEndian.Uint64(b[n:])
	if xxhash.Sum64(payload) != sum {
		return nil, fmt.Errorf("%w: block checksum mismatch", ErrCorrupt)
	}
	return payload, nil
}

func corrupt(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated", ErrCorrupt)
	}
	return err
}

func uvarint(p []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(p)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: bad varint", ErrCorrupt)
	}
	return v, p[n:], nil
}

func bytesField(p []byte) ([]byte, []byte, error) {
	l, p, err := uvarint(p)
	if err != nil {
		return nil, nil, err
	}
	if l > uint64(len(p)) {
		return nil, nil, fmt.Errorf("%w: field overruns block", ErrCorrupt)
	}
	return p[:l], p[l:], nil
}

// appendObject appends a collection's record value: uvarint(len) ‖ its
// shard.AppendObject encoding, built in place.
func appendObject(b []byte, o shard.Object) []byte {
	start := len(b)
	b = shard.AppendObject(b, o)
	enc := append([]byte(nil), b[start:]...)
	b = binary.AppendUvarint(b[:start], uint64(len(enc)))
	return append(b, enc...)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendRanges(b []byte, rs []shard.SlotRange) []byte {
	b = binary.AppendUvarint(b, uint64(len(rs)))
	for _, r := range rs {
		b = binary.AppendUvarint(b, uint64(r.Start))
		b = binary.AppendUvarint(b, uint64(r.End))
	}
	return b
}

// appendJobs appends the job lists of a version 3 header.
func (w *writer) appendJobs(meta *Meta) {
	b := binary.AppendUvarint(w.block, uint64(len(meta.MigratingOut)))
	for _, j := range meta.MigratingOut {
		b = appendStr(b, j.Job)
		b = appendStr(b, j.Target)
		b = appendRanges(b, j.Slots)
		b = binary.AppendUvarint(b, j.Epoch)
		b = binary.AppendUvarint(b, j.StartIndex)
		if j.Fenced {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = binary.AppendUvarint(b, j.FenceIndex)
		b = binary.AppendUvarint(b, uint64(len(j.Dirty)))
	}
	b = binary.AppendUvarint(b, uint64(len(meta.Importing)))
	for _, j := range meta.Importing {
		b = appendStr(b, j.Job)
		b = appendStr(b, j.Source)
		b = appendRanges(b, j.Slots)
		for _, v := range []uint64{j.MaxSourceTerm, j.Watermark, j.Keys, j.Bytes} {
			b = binary.AppendUvarint(b, v)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(meta.EndedJobs)))
	for _, id := range meta.EndedJobs {
		b = appendStr(b, id)
	}
	w.block = b
}

func readStr(p []byte) (string, []byte, error) {
	b, p, err := bytesField(p)
	return string(b), p, err
}

// readRanges reads a range list; ranges must ascend without overlapping or
// touching.
func readRanges(p []byte) ([]shard.SlotRange, []byte, error) {
	n, p, err := uvarint(p)
	if err != nil {
		return nil, nil, err
	}
	if n > uint64(len(p))/2 || n > shard.NumSlots {
		return nil, nil, fmt.Errorf("%w: bad range count", ErrCorrupt)
	}
	rs := make([]shard.SlotRange, 0, n)
	prev := -2
	for i := uint64(0); i < n; i++ {
		var start, end uint64
		if start, p, err = uvarint(p); err != nil {
			return nil, nil, err
		}
		if end, p, err = uvarint(p); err != nil {
			return nil, nil, err
		}
		if start > end || end >= shard.NumSlots || int(start) <= prev+1 {
			return nil, nil, fmt.Errorf("%w: bad slot range", ErrCorrupt)
		}
		rs = append(rs, shard.SlotRange{Start: int(start), End: int(end)})
		prev = int(end)
	}
	return rs, p, nil
}

// readJobs reads the job lists of a version 3 header, and returns the
// number of dirty records of each out job.
func readJobs(p []byte, meta *Meta) ([]uint64, []byte, error) {
	n, p, err := uvarint(p)
	if err != nil {
		return nil, nil, err
	}
	if n > uint64(len(p)) {
		return nil, nil, fmt.Errorf("%w: bad job count", ErrCorrupt)
	}
	var dirty []uint64
	for i := uint64(0); i < n; i++ {
		var j MigratingOut
		if j.Job, p, err = readStr(p); err != nil {
			return nil, nil, err
		}
		if j.Target, p, err = readStr(p); err != nil {
			return nil, nil, err
		}
		if j.Slots, p, err = readRanges(p); err != nil {
			return nil, nil, err
		}
		if j.Epoch, p, err = uvarint(p); err != nil {
			return nil, nil, err
		}
		if j.StartIndex, p, err = uvarint(p); err != nil {
			return nil, nil, err
		}
		if len(p) == 0 || p[0] > 1 {
			return nil, nil, fmt.Errorf("%w: bad fenced flag", ErrCorrupt)
		}
		j.Fenced, p = p[0] == 1, p[1:]
		if j.FenceIndex, p, err = uvarint(p); err != nil {
			return nil, nil, err
		}
		var nd uint64
		if nd, p, err = uvarint(p); err != nil {
			return nil, nil, err
		}
		j.Dirty = make(map[string]uint64, min(nd, 1024))
		dirty = append(dirty, nd)
		meta.MigratingOut = append(meta.MigratingOut, j)
	}
	if n, p, err = uvarint(p); err != nil {
		return nil, nil, err
	}
	if n > uint64(len(p)) {
		return nil, nil, fmt.Errorf("%w: bad job count", ErrCorrupt)
	}
	for i := uint64(0); i < n; i++ {
		var j Importing
		if j.Job, p, err = readStr(p); err != nil {
			return nil, nil, err
		}
		if j.Source, p, err = readStr(p); err != nil {
			return nil, nil, err
		}
		if j.Slots, p, err = readRanges(p); err != nil {
			return nil, nil, err
		}
		for _, v := range []*uint64{&j.MaxSourceTerm, &j.Watermark, &j.Keys, &j.Bytes} {
			if *v, p, err = uvarint(p); err != nil {
				return nil, nil, err
			}
		}
		meta.Importing = append(meta.Importing, j)
	}
	if n, p, err = uvarint(p); err != nil {
		return nil, nil, err
	}
	if n > uint64(len(p)) {
		return nil, nil, fmt.Errorf("%w: bad ended job count", ErrCorrupt)
	}
	for i := uint64(0); i < n; i++ {
		var id string
		if id, p, err = readStr(p); err != nil {
			return nil, nil, err
		}
		meta.EndedJobs = append(meta.EndedJobs, id)
	}
	return dirty, p, nil
}

// readOwnership reads the ownership fields of a version 2 header.
func readOwnership(p []byte) (uint64, *shard.SlotSet, []byte, error) {
	epoch, p, err := uvarint(p)
	if err != nil {
		return 0, nil, nil, err
	}
	if len(p) == 0 {
		return 0, nil, nil, fmt.Errorf("%w: missing slot set", ErrCorrupt)
	}
	kind := p[0]
	p = p[1:]
	switch kind {
	case slotsAll:
		return epoch, nil, p, nil
	case slotsBitmap:
		var slots shard.SlotSet
		if len(p) < 8*len(slots) {
			return 0, nil, nil, fmt.Errorf("%w: short slot bitmap", ErrCorrupt)
		}
		for i := range slots {
			slots[i] = binary.BigEndian.Uint64(p[8*i:])
		}
		return epoch, &slots, p[8*len(slots):], nil
	}
	return 0, nil, nil, fmt.Errorf("%w: unknown slot set kind %d", ErrCorrupt, kind)
}

// dbCount is an entry of a version 4 header's database list.
type dbCount struct {
	db   int
	keys uint64
}

// readDBs reads the database list of a version 4 header: databases 1 to
// NumDBs-1, ascending, each with at least one key.
func readDBs(p []byte) ([]dbCount, []byte, error) {
	n, p, err := uvarint(p)
	if err != nil {
		return nil, nil, err
	}
	if n >= shard.NumDBs {
		return nil, nil, fmt.Errorf("%w: bad database list", ErrCorrupt)
	}
	out := make([]dbCount, 0, n)
	prev := uint64(0)
	for i := uint64(0); i < n; i++ {
		var db, keys uint64
		if db, p, err = uvarint(p); err != nil {
			return nil, nil, err
		}
		if keys, p, err = uvarint(p); err != nil {
			return nil, nil, err
		}
		if db <= prev || db >= shard.NumDBs || keys == 0 {
			return nil, nil, fmt.Errorf("%w: bad database list", ErrCorrupt)
		}
		prev = db
		out = append(out, dbCount{db: int(db), keys: keys})
	}
	return out, p, nil
}

// Read loads a snapshot from in into st (database 0 of a key space, and its
// other databases), which must be empty and is not shared yet, and returns the snapshot's meta. On error st holds a part of
// the data and must be discarded.
func Read(in io.Reader, st *shard.Store) (Meta, error) {
	var meta Meta
	r := &reader{r: bufio.NewReaderSize(in, 256<<10)}
	var head [len(magic) + 2]byte
	if _, err := io.ReadFull(r.r, head[:]); err != nil {
		return meta, ErrFormat
	}
	ver := binary.BigEndian.Uint16(head[len(magic):])
	if string(head[:len(magic)]) != magic || ver < version1 || ver > version {
		return meta, ErrFormat
	}
	p, err := r.next()
	if err != nil {
		return meta, err
	}
	if p == nil {
		return meta, fmt.Errorf("%w: missing header", ErrCorrupt)
	}
	var now uint64
	if now, p, err = uvarint(p); err != nil {
		return meta, err
	}
	if meta.Seq, p, err = uvarint(p); err != nil {
		return meta, err
	}
	var extra []byte
	if extra, p, err = bytesField(p); err != nil {
		return meta, err
	}
	if ver != version1 {
		if meta.Epoch, meta.Slots, p, err = readOwnership(p); err != nil {
			return meta, err
		}
	}
	// dirty[job] is the number of dirty records of out job job still to read.
	var dirty []uint64
	if ver >= version3 {
		if dirty, p, err = readJobs(p, &meta); err != nil {
			return meta, err
		}
	}
	// dbs are the databases other than 0 whose records come first, with
	// the number of records of each still to read.
	var dbs []dbCount
	if ver >= version4 {
		if dbs, p, err = readDBs(p); err != nil {
			return meta, err
		}
	}
	job := 0
	if len(p) != 0 || now > 1<<62 {
		return meta, fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	meta.Now = int64(now)
	meta.Extra = append([]byte(nil), extra...)
	var count uint64
	for {
		p, err := r.next()
		if err != nil {
			return meta, err
		}
		if p == nil {
			break
		}
		for len(p) > 0 {
			for job < len(dirty) && dirty[job] == 0 {
				job++
			}
			if job < len(dirty) {
				var key []byte
				var idx uint64
				if key, p, err = bytesField(p); err != nil {
					return meta, err
				}
				if idx, p, err = uvarint(p); err != nil {
					return meta, err
				}
				meta.MigratingOut[job].Dirty[string(key)] = idx
				dirty[job]--
				continue
			}
			var key, val []byte
			var exp, seq uint64
			if key, p, err = bytesField(p); err != nil {
				return meta, err
			}
			typ := shard.TypeString
			if ver >= version {
				if len(p) == 0 {
					return meta, fmt.Errorf("%w: truncated record", ErrCorrupt)
				}
				typ, p = shard.Type(p[0]), p[1:]
			}
			if val, p, err = bytesField(p); err != nil {
				return meta, err
			}
			if exp, p, err = uvarint(p); err != nil {
				return meta, err
			}
			if seq, p, err = uvarint(p); err != nil {
				return meta, err
			}
			if exp > 1<<62 {
				return meta, fmt.Errorf("%w: bad expiry", ErrCorrupt)
			}
			for len(dbs) > 0 && dbs[0].keys == 0 {
				dbs = dbs[1:]
			}
			into := st
			if len(dbs) > 0 {
				into = st.DB(dbs[0].db)
				dbs[0].keys--
			}
			if typ == shard.TypeString {
				into.Restore(string(key), append([]byte(nil), val...), int64(exp), seq, meta.Now)
			} else {
				o, err := shard.DecodeObject(typ, val)
				if err != nil {
					return meta, fmt.Errorf("%w: key %q: %v", ErrCorrupt, key, err)
				}
				into.RestoreObject(string(key), o, int64(exp), seq, meta.Now)
			}
			count++
		}
	}
	for ; job < len(dirty); job++ {
		if dirty[job] != 0 {
			return meta, fmt.Errorf("%w: missing dirty records", ErrCorrupt)
		}
	}
	for _, d := range dbs {
		if d.keys != 0 {
			return meta, fmt.Errorf("%w: missing key records of database %d", ErrCorrupt, d.db)
		}
	}
	var tail [8]byte
	if _, err := io.ReadFull(r.r, tail[:]); err != nil {
		return meta, corrupt(err)
	}
	if binary.BigEndian.Uint64(tail[:]) != count {
		return meta, fmt.Errorf("%w: record count mismatch", ErrCorrupt)
	}
	st.SetSeq(meta.Seq)
	return meta, nil
}
