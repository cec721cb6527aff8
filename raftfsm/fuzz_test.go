package raftfsm

import (
	"errors"
	"testing"
)

// FuzzDecodeCommands decodes arbitrary entries: no panic, errors are
// ErrBadEntry, and an accepted entry re-encodes to one that decodes the same
// (and is no longer: the encoder writes minimal varints).
func FuzzDecodeCommands(f *testing.F) {
	f.Add(EncodeCommands(nil, 1_700_000_000_000, [][][]byte{cmd("SET", "k", "v"), cmd("GET", "k")}))
	f.Add(EncodeCommands(nil, 0, nil))
	f.Add(EncodeCommands(nil, 5, [][][]byte{cmd(""), cmd("\x00evict", "a", "b")}))
	f.Add(EncodeCommands(nil, 5, manyCmds(20)))
	f.Add([]byte{entryCommands, 0x80, 0x00, 0x01, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Decoded
		if err := DecodeCommands(data, &d); err != nil {
			if !errors.Is(err, ErrBadEntry) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		for i, c := range d.Cmds {
			if len(c) == 0 {
				t.Fatalf("command %d has no arguments", i)
			}
		}
		again := EncodeCommands(nil, d.Now, d.Cmds)
		if len(again) > len(data) {
			t.Fatalf("re-encoding grew the entry from %d to %d bytes", len(data), len(again))
		}
		var d2 Decoded
		if err := DecodeCommands(again, &d2); err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if d2.Now != d.Now || !equalCmds(d2.Cmds, d.Cmds) {
			t.Fatalf("round trip changed the entry: %d %q -> %d %q", d.Now, d.Cmds, d2.Now, d2.Cmds)
		}
	})
}
