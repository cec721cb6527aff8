package raftfsm

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func sampleTx() *Tx {
	return &Tx{
		Watches: []TxWatch{
			{DB: 0, Key: []byte("k"), Since: 7, Existed: true},
			{DB: 15, Key: []byte{}, Since: 1 << 40, Existed: true, Expired: true},
			{DB: 3, Key: []byte("missing"), Since: 0},
		},
		Cmds: [][][]byte{cmd("SET", "k", "v"), cmd("GET", "k"), cmd("PING")},
		DBs:  []int{0, 3, 15},
	}
}

func sameTx(a *Decoded, b *Tx) bool {
	if fmt.Sprint(a.watches) != fmt.Sprint(b.Watches) || !equalCmds(a.Cmds, b.Cmds) {
		return false
	}
	for i := range b.Cmds {
		if a.DB(i) != b.db(i) {
			return false
		}
	}
	return true
}

// TestTxRoundTrip: a Transaction entry decodes to what was encoded, with
// its watches, commands and databases; an empty one too.
func TestTxRoundTrip(t *testing.T) {
	for name, tx := range map[string]*Tx{
		"full":        sampleTx(),
		"empty":       {},
		"no watches":  {Cmds: [][][]byte{cmd("INCR", "n")}},
		"only watch":  {Watches: []TxWatch{{Key: []byte("w"), Since: 1}}},
		"nil dbs":     {Cmds: [][][]byte{cmd("SET", "a", "1"), cmd("SET", "b", "2")}},
		"binary keys": {Watches: []TxWatch{{Key: []byte("\x00\r\n\xff"), Since: 3, Existed: true}}, Cmds: [][][]byte{cmd("SET", "\x00", "")}},
	} {
		t.Run(name, func(t *testing.T) {
			data := EncodeTx(nil, 1_700_000_000_000, tx)
			var d Decoded
			if err := decodeEntry(data, &d); err != nil {
				t.Fatal(err)
			}
			if d.typ != entryTransaction || d.version != versionTransaction || d.Now != 1_700_000_000_000 {
				t.Fatalf("header: type %d version %d now %d", d.typ, d.version, d.Now)
			}
			if !sameTx(&d, tx) {
				t.Fatalf("decoded %+v %q %v, want %+v", d.watches, d.Cmds, d.DBs, tx)
			}
			// A reused Decoded holds nothing of an earlier entry.
			if err := decodeEntry(EncodeTx(nil, 5, &Tx{}), &d); err != nil || len(d.watches) != 0 || len(d.Cmds) != 0 {
				t.Fatalf("reused decode: %v, %d watches, %d commands", err, len(d.watches), len(d.Cmds))
			}
		})
	}
}

// TestTxMalformed: every truncation of a valid entry, bad flags, a
// database out of range, or trailing bytes are ErrBadEntry, never a panic.
func TestTxMalformed(t *testing.T) {
	data := EncodeTx(nil, 1000, sampleTx())
	for n := 2; n < len(data); n++ {
		var d Decoded
		if err := decodeEntry(data[:n], &d); !errors.Is(err, ErrBadEntry) {
			t.Fatalf("truncated to %d of %d bytes: err = %v", n, len(data), err)
		}
	}
	bad := map[string][]byte{
		"trailing byte":     append(bytes.Clone(data), 0),
		"header only":       hdr(entryTransaction, versionTransaction),
		"flag 4":            hdr(entryTransaction, versionTransaction, 0, 1, 0, 0, 4, 0, 0),
		"expired, not seen": hdr(entryTransaction, versionTransaction, 0, 1, 0, 0, 2, 0, 0),
		"db 16":             hdr(entryTransaction, versionTransaction, 0, 1, 16, 0, 1, 0, 0),
		"command db 16":     hdr(entryTransaction, versionTransaction, 0, 0, 1, 16, 1, 1, 'x'),
		"argc 0":            hdr(entryTransaction, versionTransaction, 0, 0, 1, 0, 0),
		"count too large":   hdr(entryTransaction, versionTransaction, 0, 0, 200, 0),
		"wcount too large":  hdr(entryTransaction, versionTransaction, 0, 0xff, 0xff, 0x03),
		"key overruns":      hdr(entryTransaction, versionTransaction, 0, 1, 0, 0, 1, 9, 'k', 0),
	}
	for name, b := range bad {
		var d Decoded
		if err := decodeEntry(b, &d); !errors.Is(err, ErrBadEntry) {
			t.Errorf("%s: err = %v, want ErrBadEntry", name, err)
		}
	}
	var d Decoded
	if err := decodeEntry(hdr(entryTransaction, 2), &d); !errors.Is(err, ErrUnknownEntry) {
		t.Errorf("version 2: err = %v, want ErrUnknownEntry", err)
	}
}

// FuzzDecodeTx decodes arbitrary Transaction payloads: no panic, errors are
// ErrBadEntry, and an accepted entry re-encodes to one that decodes the
// same and is no longer.
func FuzzDecodeTx(f *testing.F) {
	f.Add(EncodeTx(nil, 1000, sampleTx())[2:])
	f.Add(EncodeTx(nil, 0, &Tx{})[2:])
	f.Add([]byte{0, 1, 0, 0, 3, 0, 0})
	f.Fuzz(func(t *testing.T, payload []byte) {
		data := append(hdr(entryTransaction, versionTransaction), payload...)
		var d Decoded
		if err := decodeEntry(data, &d); err != nil {
			if !errors.Is(err, ErrBadEntry) {
				t.Fatalf("unexpected error %v", err)
			}
			return
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
			t.Fatalf("round trip changed the entry")
		}
	})
}

// decodedTx rebuilds the Tx of a decoded Transaction entry.
func decodedTx(d *Decoded) *Tx {
	return &Tx{Watches: d.watches, Cmds: d.Cmds, DBs: d.DBs}
}
