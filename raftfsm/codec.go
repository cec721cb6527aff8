package raftfsm

import (
	"encoding/binary"
)

// Log entry format, version 1 (all integers are unsigned varints):
//
//	type    1 byte: entryCommands
//	now     the proposing leader's clock, milliseconds since the Unix epoch
//	count   number of commands
//	count × command:
//	  argc  number of arguments (>= 1)
//	  argc × (len, bytes)
//
// Every command of an entry sees the same now. Decoding never copies: the
// arguments alias the entry's bytes.
const (
	entryCommands byte = 1
)

// Limits that decoding enforces, so that a corrupt entry cannot make the FSM
// allocate without bound.
const (
	maxArgs = 1 << 24
)

// EncodeCommands appends a command entry holding cmds, stamped with now, to dst.
func EncodeCommands(dst []byte, now int64, cmds [][][]byte) []byte {
	dst = append(dst, entryCommands)
	dst = binary.AppendUvarint(dst, uint64(now))
	dst = binary.AppendUvarint(dst, uint64(len(cmds)))
	for _, args := range cmds {
		dst = appendCommand(dst, args)
	}
	return dst
}

func appendCommand(dst []byte, args [][]byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(args)))
	for _, a := range args {
		dst = binary.AppendUvarint(dst, uint64(len(a)))
		dst = append(dst, a...)
	}
	return dst
}

// EncodedSize returns the number of bytes appendCommand adds for args, as an
// upper bound used to cap batch sizes.
func EncodedSize(args [][]byte) int {
	n := binary.MaxVarintLen64
	for _, a := range args {
		n += binary.MaxVarintLen64 + len(a)
	}
	return n
}

// Decoded is a decoded command entry. Its argument slices alias the entry's
// bytes; a Decoded may be reused across calls to DecodeCommands.
type Decoded struct {
	Now  int64
	Cmds [][][]byte
	args [][]byte
}

// DecodeCommands decodes a command entry into d, reusing its buffers.
func DecodeCommands(data []byte, d *Decoded) error {
	if len(data) == 0 || data[0] != entryCommands {
		return ErrBadEntry
	}
	p := data[1:]
	now, n := binary.Uvarint(p)
	if n <= 0 || now > 1<<62 {
		return ErrBadEntry
	}
	p = p[n:]
	count, n := binary.Uvarint(p)
	if n <= 0 || count > uint64(len(p)) {
		return ErrBadEntry
	}
	p = p[n:]
	d.Now = int64(now)
	d.Cmds = d.Cmds[:0]
	d.args = d.args[:0]
	starts := make([]int, 0, 16)
	for c := uint64(0); c < count; c++ {
		argc, n := binary.Uvarint(p)
		if n <= 0 || argc == 0 || argc > maxArgs || argc > uint64(len(p)) {
			return ErrBadEntry
		}
		p = p[n:]
		starts = append(starts, len(d.args))
		for a := uint64(0); a < argc; a++ {
			l, n := binary.Uvarint(p)
			if n <= 0 || l > uint64(len(p)-n) {
				return ErrBadEntry
			}
			p = p[n:]
			d.args = append(d.args, p[:l:l])
			p = p[l:]
		}
	}
	if len(p) != 0 {
		return ErrBadEntry
	}
	// Slice the flat argument list into commands only now: d.args may have
	// been reallocated while growing.
	for i, s := range starts {
		end := len(d.args)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		d.Cmds = append(d.Cmds, d.args[s:end:end])
	}
	return nil
}
