package raftfsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

// cmd builds a command from strings.
func cmd(args ...string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}

func equalCmds(a, b [][][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if !bytes.Equal(a[i][j], b[i][j]) {
				return false
			}
		}
	}
	return true
}

func manyCmds(n int) [][][]byte {
	out := make([][][]byte, n)
	for i := range out {
		out[i] = cmd("SET", fmt.Sprintf("key:%d", i), fmt.Sprintf("value:%d", i))
	}
	return out
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		now  int64
		cmds [][][]byte
	}{
		{"no commands", 1, nil},
		{"one command", 1_700_000_000_000, [][][]byte{cmd("PING")}},
		{"empty arguments", 5, [][][]byte{cmd("SET", "", ""), cmd("")}},
		{"binary arguments", 5, [][][]byte{cmd("SET", "\x00\xff\r\n", "\x80\x81\x82"), cmd("\x00expire", "k", "\x00\x00\x00\x00\x00\x00\x00\x01")}},
		{"now zero", 0, [][][]byte{cmd("GET", "k")}},
		{"now max", 1 << 62, [][][]byte{cmd("GET", "k")}},
		{"many commands", 42, manyCmds(5000)},
		{"many arguments", 42, [][][]byte{append(cmd("DEL"), manyCmds(1000)[0]...)}},
		{"large argument", 42, [][][]byte{{[]byte("SET"), []byte("k"), bytes.Repeat([]byte("v"), 1<<20)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := EncodeCommands(nil, tt.now, tt.cmds)
			var d Decoded
			if err := DecodeCommands(data, &d); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if d.Now != tt.now {
				t.Errorf("Now = %d, want %d", d.Now, tt.now)
			}
			if !equalCmds(d.Cmds, tt.cmds) {
				t.Errorf("decoded %d commands, differ from the %d encoded", len(d.Cmds), len(tt.cmds))
			}
			// Encoding appends: a prefix is kept.
			pre := EncodeCommands([]byte("prefix"), tt.now, tt.cmds)
			if !bytes.HasPrefix(pre, []byte("prefix")) || !bytes.Equal(pre[6:], data) {
				t.Error("EncodeCommands does not append to dst")
			}
			// EncodedSize bounds every command's encoding.
			sum := 0
			for _, c := range tt.cmds {
				n := len(appendCommand(nil, c))
				if n > EncodedSize(c) {
					t.Errorf("command encodes to %d bytes, EncodedSize says %d", n, EncodedSize(c))
				}
				sum += EncodedSize(c)
			}
			if len(data) > sum+1+2*binary.MaxVarintLen64 {
				t.Errorf("entry of %d bytes exceeds the EncodedSize bound %d", len(data), sum)
			}
		})
	}
}

func TestDecodedReuse(t *testing.T) {
	var d Decoded
	big := EncodeCommands(nil, 1, manyCmds(300))
	small := EncodeCommands(nil, 2, [][][]byte{cmd("GET", "a"), cmd("DEL", "b", "c")})
	if err := DecodeCommands(big, &d); err != nil {
		t.Fatal(err)
	}
	if err := DecodeCommands(small, &d); err != nil {
		t.Fatal(err)
	}
	if d.Now != 2 || !equalCmds(d.Cmds, [][][]byte{cmd("GET", "a"), cmd("DEL", "b", "c")}) {
		t.Fatalf("reused Decoded = %d %q", d.Now, d.Cmds)
	}
	// A failed decode after a good one reports the error.
	if err := DecodeCommands(small[:len(small)-1], &d); !errors.Is(err, ErrBadEntry) {
		t.Fatalf("truncated entry: err = %v", err)
	}
}

func TestDecodeArgsAliasButDoNotOverlap(t *testing.T) {
	data := EncodeCommands(nil, 1, [][][]byte{cmd("SET", "ab", "cd")})
	var d Decoded
	if err := DecodeCommands(data, &d); err != nil {
		t.Fatal(err)
	}
	// Arguments alias the entry...
	i := bytes.Index(data, []byte("ab"))
	data[i] = 'X'
	if string(d.Cmds[0][1]) != "Xb" {
		t.Fatalf("argument does not alias the entry: %q", d.Cmds[0][1])
	}
	// ...but appending to one must not overwrite the next.
	_ = append(d.Cmds[0][1], "!!!!"...)
	if string(d.Cmds[0][2]) != "cd" {
		t.Fatalf("append to an argument clobbered the next: %q", d.Cmds[0][2])
	}
	_ = append(d.Cmds[0], []byte("extra"))
	if err := DecodeCommands(data, &d); err != nil || len(d.Cmds[0]) != 3 {
		t.Fatalf("after appending to a command: %v, %q", err, d.Cmds)
	}
}

func TestDecodeMalformed(t *testing.T) {
	valid := EncodeCommands(nil, 1000, [][][]byte{cmd("SET", "k", "v"), cmd("DEL", "k")})
	hugeArgc := []byte{entryCommands, 1, 1}
	hugeArgc = binary.AppendUvarint(hugeArgc, maxArgs+1)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"unknown type", append([]byte{9}, valid[1:]...)},
		{"type only", []byte{entryCommands}},
		{"bad now varint", []byte{entryCommands, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"now too large", binary.AppendUvarint([]byte{entryCommands}, 1<<62+1)},
		{"count without commands", []byte{entryCommands, 1, 5}},
		{"count larger than data", binary.AppendUvarint([]byte{entryCommands, 1}, 1<<40)},
		{"zero arguments", []byte{entryCommands, 1, 1, 0}},
		{"argc larger than data", []byte{entryCommands, 1, 1, 100, 1, 'x'}},
		{"argc over limit", hugeArgc},
		{"argument overruns", []byte{entryCommands, 1, 1, 1, 10, 'x'}},
		{"argument length overflow", append([]byte{entryCommands, 1, 1, 1}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"trailing garbage", append(bytes.Clone(valid), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoded
			if err := DecodeCommands(tt.data, &d); !errors.Is(err, ErrBadEntry) {
				t.Fatalf("err = %v, want ErrBadEntry", err)
			}
		})
	}
	// Every strict prefix of a valid entry is rejected.
	for n := 0; n < len(valid); n++ {
		var d Decoded
		if err := DecodeCommands(valid[:n], &d); !errors.Is(err, ErrBadEntry) {
			t.Fatalf("prefix of %d bytes: err = %v", n, err)
		}
	}
}
