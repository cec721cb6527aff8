// Package snapshot defines Shoal's snapshot format and reads and writes it as a
// stream, so that neither taking nor restoring a snapshot holds a second full
// copy of the data in memory.
//
// # Format, version 2
//
//	magic    "SHOALSNP"
//	version  uint16, big endian (2)
//	block*   the header block, then data blocks, then an empty block
//	trailer  uint64 big endian: total number of records
//
// A block is uvarint(len) ‖ payload ‖ xxhash64(payload) as a big-endian
// uint64; a block with len 0 ends the stream and has no checksum. The first
// block is the header:
//
//	uvarint(now) ‖ uvarint(seq) ‖ uvarint(len) ‖ extra ‖
//	uvarint(epoch) ‖ kind (1 byte) ‖ [bitmap]
//
// epoch and the slot set are the group's slot ownership (Meta.Epoch,
// Meta.Slots). kind 0 means every slot (Meta.Slots nil) and has no bitmap;
// kind 1 is followed by the bitmap: NumSlots/64 uint64 words, big endian,
// slot s being bit s%64 of word s/64.
//
// Every other payload is a sequence of records:
//
//	uvarint(len(key)) ‖ key ‖ uvarint(len(value)) ‖ value ‖
//	uvarint(expireAt) ‖ uvarint(seq)
//
// A record never spans two blocks. Readers verify every block's checksum
// before using it, and the record count at the end.
//
// # Version 1
//
// Version 1 is version 2 without the ownership fields at the end of the
// header: it predates slot ownership. Read still accepts it and reports
// epoch 0 and every slot (Meta.Slots nil), which is what a group of that
// time owned; Write produces version 2 only.
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
	version = 2
	// version1 is the format before slot ownership; Read accepts it.
	version1 = 1

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
	if err := w.flushBlock(); err != nil {
		return err
	}
	var count uint64
	var err error
	for slot := 0; slot < shard.NumSlots && err == nil; slot++ {
		v.RangeSlot(slot, func(key string, e *shard.Entry) bool {
			w.block = binary.AppendUvarint(w.block, uint64(len(key)))
			w.block = append(w.block, key...)
			w.block = binary.AppendUvarint(w.block, uint64(len(e.Value)))
			w.block = append(w.block, e.Value...)
			w.block = binary.AppendUvarint(w.block, uint64(e.ExpireAt))
			w.block = binary.AppendUvarint(w.block, e.Seq())
			count++
			if len(w.block) >= blockTarget {
				err = w.flushBlock()
			}
			return err == nil
		})
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

// Read loads a snapshot from in into st, which must be empty and is not
// shared yet, and returns the snapshot's meta. On error st holds a part of
// the data and must be discarded.
func Read(in io.Reader, st *shard.Store) (Meta, error) {
	var meta Meta
	r := &reader{r: bufio.NewReaderSize(in, 256<<10)}
	var head [len(magic) + 2]byte
	if _, err := io.ReadFull(r.r, head[:]); err != nil {
		return meta, ErrFormat
	}
	ver := binary.BigEndian.Uint16(head[len(magic):])
	if string(head[:len(magic)]) != magic || (ver != version && ver != version1) {
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
			var key, val []byte
			var exp, seq uint64
			if key, p, err = bytesField(p); err != nil {
				return meta, err
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
			st.Restore(string(key), append([]byte(nil), val...), int64(exp), seq, meta.Now)
			count++
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
