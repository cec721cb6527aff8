package raftfsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shoalcache/shoal/shard"
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
			if len(data) > sum+2+2*binary.MaxVarintLen64 {
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

// hdr returns a new slice holding the header of type typ, version ver, then
// rest.
func hdr(typ entryType, ver byte, rest ...byte) []byte {
	return append([]byte{byte(typ), ver}, rest...)
}

func TestDecodeMalformed(t *testing.T) {
	valid := EncodeCommands(nil, 1000, [][][]byte{cmd("SET", "k", "v"), cmd("DEL", "k")})
	c := func(rest ...byte) []byte { return hdr(entryCommands, versionCommands, rest...) }
	hugeArgc := binary.AppendUvarint(c(1, 1), maxArgs+1)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"type only", []byte{byte(entryCommands)}},
		{"no now", c()},
		{"bad now varint", c(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)},
		{"now too large", binary.AppendUvarint(c(), 1<<62+1)},
		{"count without commands", c(1, 5)},
		{"count larger than data", binary.AppendUvarint(c(1), 1<<40)},
		{"zero arguments", c(1, 1, 0)},
		{"argc larger than data", c(1, 1, 100, 1, 'x')},
		{"argc over limit", hugeArgc},
		{"argument overruns", c(1, 1, 1, 10, 'x')},
		{"argument length overflow", c(1, 1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"trailing garbage", append(bytes.Clone(valid), 0)},
		{"legacy truncated", []byte{byte(entryLegacyCommands), 1, 1, 1, 10, 'x'}},
		{"expire truncated key", hdr(entryExpire, versionExpire, 1, 1, 5, 'k')},
		{"expire without expireAt", hdr(entryExpire, versionExpire, 1, 1, 1, 'k')},
		{"expire expireAt too large", binary.AppendUvarint(hdr(entryExpire, versionExpire, 1, 1, 1, 'k'), 1<<62+1)},
		{"expire trailing", hdr(entryExpire, versionExpire, 1, 0, 0)},
		{"evict count over data", hdr(entryEvict, versionEvict, 3, 1, 'k')},
		{"evict trailing", hdr(entryEvict, versionEvict, 1, 1, 'k', 'x')},
		{"ownership no count", hdr(entrySetOwnership, versionSetOwnership, 1)},
		{"ownership too many ranges", binary.AppendUvarint(hdr(entrySetOwnership, versionSetOwnership, 1), maxRanges+1)},
		{"ownership end past slots", binary.AppendUvarint(hdr(entrySetOwnership, versionSetOwnership, 1, 1, 0), 16384)},
		{"ownership second range past slots", binary.AppendUvarint(hdr(entrySetOwnership, versionSetOwnership, 1, 2, 0, 10, 1), 16373)},
		{"ownership ranges touch", hdr(entrySetOwnership, versionSetOwnership, 1, 2, 0, 10, 0, 1)},
		{"ownership trailing", hdr(entrySetOwnership, versionSetOwnership, 1, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoded
			if err := decodeEntry(tt.data, &d); !errors.Is(err, ErrBadEntry) {
				t.Fatalf("err = %v, want ErrBadEntry", err)
			}
		})
	}
	// Every strict prefix of a valid entry of each type is rejected.
	for _, v := range validEntries() {
		for n := 0; n < len(v); n++ {
			var d Decoded
			if err := decodeEntry(v[:n], &d); !errors.Is(err, ErrBadEntry) {
				t.Fatalf("prefix of %d bytes of % x: err = %v", n, v, err)
			}
		}
	}
}

// validEntries returns one valid entry of every type.
func validEntries() [][]byte {
	return [][]byte{
		EncodeCommands(nil, 1000, [][][]byte{cmd("SET", "k", "v"), cmd("DEL", "k")}),
		legacyCommands(1000, cmd("SET", "k", "v"), cmd("\x00evict", "k")),
		encodeExpire(nil, 1000, 0, []shard.ExpiredKey{{Key: "a", ExpireAt: 900}, {Key: "", ExpireAt: 1 << 62}}),
		encodeEvict(nil, 0, [][]byte{[]byte("a"), {}}),
		EncodeCommandsDB(nil, 1000, []int{3, 0, 15}, [][][]byte{cmd("SET", "k", "v"), cmd("DEL", "k"), cmd("INCR", "n")}),
		encodeExpire(nil, 1000, 7, []shard.ExpiredKey{{Key: "a", ExpireAt: 900}}),
		encodeEvict(nil, 15, [][]byte{[]byte("a")}),
		encodeOwnership(nil, 3, []shard.SlotRange{{Start: 0, End: 0}, {Start: 5, End: 100}, {Start: 16383, End: 16383}}),
		encodeMigrateOut(nil, "job-1", []shard.SlotRange{{Start: 10, End: 20}, {Start: 16383, End: 16383}}, "g2", 7),
		encodeFence(nil, "job-1"),
		EncodeIngestReset(nil, "job-1", []shard.SlotRange{{Start: 0, End: 16383}}, "g1", 3),
		EncodeIngest(nil, "job-1", 3, 99, []IngestKey{
			{Key: []byte("k"), Value: []byte("v"), ExpireAt: 1 << 62},
			{Key: []byte("gone"), Deleted: true},
			{Key: []byte{}, Value: []byte{}},
		}),
		EncodeIngest(nil, "", 0, 0, nil),
		encodeMigrateEnd(nil, "job-1", true),
		encodeMigrateEnd(nil, "job-1", false),
	}
}

// legacyCommands encodes a commands entry as Shoal wrote it before entries
// had versions.
func legacyCommands(now int64, cmds ...[][]byte) []byte {
	data := binary.AppendUvarint([]byte{byte(entryLegacyCommands)}, uint64(now))
	data = binary.AppendUvarint(data, uint64(len(cmds)))
	for _, c := range cmds {
		data = appendCommand(data, c)
	}
	return data
}

func TestDecodeUnknown(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"type 0", []byte{0, 1, 1, 0}},
		{"type 0 alone", []byte{0}},
		{"type 13", hdr(13, 1)},
		{"migrate out version 2", hdr(entryMigrateOut, 2, 0)},
		{"fence version 0", hdr(entryFence, 0, 0)},
		{"ingest reset version 2", hdr(entryIngestReset, 2)},
		{"ingest version 3", hdr(entryIngest, 3, 1, 'j')},
		{"migrate end version 2", hdr(entryMigrateEnd, 2, 0, 1)},
		{"type 255", hdr(255, 255)},
		{"commands version 3", hdr(entryCommands, 3, 1, 0)},
		{"commands version 0", hdr(entryCommands, 0, 1, 0)},
		{"expire version 3", hdr(entryExpire, 3, 1, 0)},
		{"evict version 9", hdr(entryEvict, 9, 0)},
		{"ownership version 2", hdr(entrySetOwnership, 2, 1, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoded
			if err := decodeEntry(tt.data, &d); !errors.Is(err, ErrUnknownEntry) {
				t.Fatalf("err = %v, want ErrUnknownEntry", err)
			}
			if d.typ != entryType(tt.data[0]) {
				t.Errorf("typ = %d, want %d", d.typ, tt.data[0])
			}
			if len(tt.data) > 1 && d.version != tt.data[1] {
				t.Errorf("version = %d, want %d", d.version, tt.data[1])
			}
		})
	}
}

func TestDecodeTypedEntries(t *testing.T) {
	var d Decoded
	// A legacy entry decodes as commands, marked legacy.
	if err := DecodeCommands(legacyCommands(77, cmd("SET", "k", "v")), &d); err != nil {
		t.Fatal(err)
	}
	if !d.legacy || d.Now != 77 || !equalCmds(d.Cmds, [][][]byte{cmd("SET", "k", "v")}) {
		t.Fatalf("legacy entry decoded as legacy=%v now=%d %q", d.legacy, d.Now, d.Cmds)
	}
	// DecodeCommands refuses other types.
	if err := DecodeCommands(encodeEvict(nil, 0, [][]byte{[]byte("k")}), &d); !errors.Is(err, ErrBadEntry) {
		t.Fatalf("DecodeCommands of an evict entry: %v", err)
	}
	keys := []shard.ExpiredKey{{Key: "a", ExpireAt: 5}, {Key: "bb", ExpireAt: 0}, {Key: "", ExpireAt: 1 << 62}}
	if err := decodeEntry(encodeExpire(nil, 1234, 0, keys), &d); err != nil {
		t.Fatal(err)
	}
	if d.typ != entryExpire || d.Now != 1234 || len(d.keys) != 3 {
		t.Fatalf("expire entry decoded as type %d now %d keys %q", d.typ, d.Now, d.keys)
	}
	for i, k := range keys {
		if string(d.keys[i]) != k.Key || d.expireAt[i] != k.ExpireAt {
			t.Errorf("key %d = %q at %d, want %+v", i, d.keys[i], d.expireAt[i], k)
		}
	}
	if err := decodeEntry(encodeEvict(nil, 0, [][]byte{[]byte("x"), []byte("yz")}), &d); err != nil {
		t.Fatal(err)
	}
	if d.typ != entryEvict || len(d.keys) != 2 || string(d.keys[0]) != "x" || string(d.keys[1]) != "yz" {
		t.Fatalf("evict entry decoded as type %d keys %q", d.typ, d.keys)
	}
	ranges := []shard.SlotRange{{Start: 0, End: 10}, {Start: 12, End: 12}, {Start: 100, End: 16383}}
	if err := decodeEntry(encodeOwnership(nil, 1<<40, ranges), &d); err != nil {
		t.Fatal(err)
	}
	if d.typ != entrySetOwnership || d.epoch != 1<<40 || fmt.Sprint(d.ranges) != fmt.Sprint(ranges) {
		t.Fatalf("ownership entry decoded as type %d epoch %d ranges %v", d.typ, d.epoch, d.ranges)
	}
	if err := decodeEntry(encodeOwnership(nil, 0, nil), &d); err != nil || len(d.ranges) != 0 {
		t.Fatalf("empty ownership: %v, %v", err, d.ranges)
	}
}

func TestDecodeCommandsDoesNotAllocate(t *testing.T) {
	data := EncodeCommands(nil, 1, manyCmds(100))
	var d Decoded
	if err := DecodeCommands(data, &d); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := DecodeCommands(data, &d); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("DecodeCommands allocates %v times per entry once warm", n)
	}
}

func TestMigrationEntriesRoundTrip(t *testing.T) {
	slots := []shard.SlotRange{{Start: 30, End: 40}, {Start: 10, End: 20}, {Start: 21, End: 25}, {Start: 16000, End: 20000}}
	canon := "[{10 25} {30 40} {16000 16383}]"
	keys := []IngestKey{
		{Key: []byte("a"), Value: []byte("1"), ExpireAt: 5000},
		{Key: []byte("b"), Deleted: true},
		{Key: []byte("c"), Value: []byte{}},
	}
	var d Decoded
	for _, tt := range []struct {
		name  string
		data  []byte
		check func() bool
	}{
		{"migrate out", encodeMigrateOut(nil, "j1", slots, "g2", 9), func() bool {
			return d.typ == entryMigrateOut && string(d.job) == "j1" && string(d.peer) == "g2" && d.epoch == 9 && fmt.Sprint(d.ranges) == canon
		}},
		{"fence", encodeFence(nil, "j1"), func() bool { return d.typ == entryFence && string(d.job) == "j1" }},
		{"ingest reset", EncodeIngestReset(nil, "j1", slots, "g1", 4), func() bool {
			return d.typ == entryIngestReset && string(d.job) == "j1" && string(d.peer) == "g1" && d.sourceTerm == 4 && fmt.Sprint(d.ranges) == canon
		}},
		{"ingest", EncodeIngest(nil, "j1", 4, 77, keys), func() bool {
			return d.typ == entryIngest && string(d.job) == "j1" && d.sourceTerm == 4 && d.upTo == 77 && sameIngest(d.ingest, []IngestKey{
				{Key: []byte("a"), Value: []byte("1"), ExpireAt: 5000}, {Key: []byte("b"), Deleted: true}, {Key: []byte("c"), Value: []byte{}}})
		}},
		{"end done", encodeMigrateEnd(nil, "j1", true), func() bool { return d.typ == entryMigrateEnd && d.done }},
		{"end aborted", encodeMigrateEnd(nil, "j1", false), func() bool { return d.typ == entryMigrateEnd && !d.done }},
	} {
		if err := decodeEntry(tt.data, &d); err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !tt.check() {
			t.Errorf("%s decoded as %+v", tt.name, d)
		}
		for n := 0; n < len(tt.data); n++ {
			if err := decodeEntry(tt.data[:n], &d); err == nil {
				t.Errorf("%s truncated to %d bytes decodes", tt.name, n)
			}
		}
	}
	// Malformed: no ranges, a name too long, a bad flag, a bad outcome,
	// an expiry beyond the limit, a count larger than the entry.
	for name, data := range map[string][]byte{
		"migrate out without slots":  encodeMigrateOut(nil, "j", nil, "g", 1),
		"ingest reset without slots": EncodeIngestReset(nil, "j", nil, "g", 1),
		"long job":                   encodeFence(nil, strings.Repeat("j", maxName+1)),
		"ingest flag 2":              hdr(entryIngest, versionIngest, 1, 'j', 1, 0, 1, 2, 1, 'k'),
		"end outcome 2":              hdr(entryMigrateEnd, versionMigrateEnd, 1, 'j', 2),
		"expiry too large":           EncodeIngest(nil, "j", 1, 0, []IngestKey{{Key: []byte("k"), ExpireAt: -1}}),
		"huge count":                 hdr(entryIngest, versionIngest, 1, 'j', 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f),
		"trailing byte":              append(encodeFence(nil, "j"), 0),
	} {
		if err := decodeEntry(data, &d); !errors.Is(err, ErrBadEntry) {
			t.Errorf("%s: err = %v, want ErrBadEntry", name, err)
		}
	}
}

// TestIngestCollections: a chunk with a hash is written as version 2 and
// decodes to the same hash; a strings-only chunk stays version 1; the
// typed flag is refused in version 1, and a malformed object is a bad
// entry.
func TestIngestCollections(t *testing.T) {
	h := shard.NewHash()
	for i := 0; i < 600; i++ { // a hashtable
		h.Set([]byte(fmt.Sprint("f", i)), []byte(fmt.Sprint(i)))
	}
	data := EncodeIngest(nil, "j1", 4, 77, []IngestKey{
		{Key: []byte("a"), Value: []byte("1")},
		{Key: []byte("h"), Obj: h, ExpireAt: 9000},
	})
	if data[1] != versionIngestTyped {
		t.Fatalf("version %d, want %d", data[1], versionIngestTyped)
	}
	var d Decoded
	if err := decodeEntry(data, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.ingest) != 2 || d.ingest[0].Obj != nil || string(d.ingest[0].Value) != "1" {
		t.Fatalf("decoded %+v", d.ingest)
	}
	got, ok := d.ingest[1].Obj.(*shard.Hash)
	if !ok || got.Len() != 600 || got.Listpack() || d.ingest[1].ExpireAt != 9000 {
		t.Fatalf("decoded hash: %+v", d.ingest[1])
	}
	if v, _ := got.Get([]byte("f42")); string(v) != "42" {
		t.Fatalf("f42 = %q", v)
	}
	for n := 0; n < len(data); n++ {
		if err := decodeEntry(data[:n], &d); err == nil {
			t.Fatalf("truncated to %d bytes decodes", n)
		}
	}
	if s := EncodeIngest(nil, "j", 1, 0, []IngestKey{{Key: []byte("a"), Value: []byte("1")}}); s[1] != versionIngest {
		t.Fatalf("strings-only chunk is version %d", s[1])
	}
	for name, p := range map[string][]byte{
		"typed flag in version 1": hdr(entryIngest, versionIngest, 1, 'j', 1, 0, 1, ingestTyped, 1, 'k', byte(shard.TypeHash), 0, 0),
		"malformed hash":          hdr(entryIngest, versionIngestTyped, 1, 'j', 1, 0, 1, ingestTyped, 1, 'k', byte(shard.TypeHash), 2, 9, 9, 0),
		"unknown type":            hdr(entryIngest, versionIngestTyped, 1, 'j', 1, 0, 1, ingestTyped, 1, 'k', 77, 0, 0),
	} {
		if err := decodeEntry(p, &d); !errors.Is(err, ErrBadEntry) {
			t.Errorf("%s: err = %v, want ErrBadEntry", name, err)
		}
	}
}
