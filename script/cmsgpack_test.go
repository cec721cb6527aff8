package script

import (
	"strings"
	"testing"
	"time"
)

// TestMsgpackSparseIntegerKeys: cmsgpack.unpack keeps integer map keys
// (gopher-lua stores those below 2^26 in a table's array part and fills
// the slots before them), but refuses a key that would leave more empty
// slots than a few per input byte: a 6-byte map entry with key 2^25 took
// 512 MiB and seconds before (found by FuzzLibDecoders in CI).
func TestMsgpackSparseIntegerKeys(t *testing.T) {
	e := NewEngine()
	for _, tc := range []struct {
		name, data, script, want string
	}{
		{"small integer key", "\x81\x03\xa1x", "local t = cmsgpack.unpack(ARGV[1]) return t[3]", "$1\r\nx\r\n"},
		{"keys out of order", "\x82\x05\xa1a\x02\xa1b", "local t = cmsgpack.unpack(ARGV[1]) return t[5] .. t[2]", "$2\r\nab\r\n"},
		{"key past the array limit goes to the hash", "\x81\xce\x10\x00\x00\x00\xa1y", "local t = cmsgpack.unpack(ARGV[1]) return t[268435456]", "$1\r\ny\r\n"},
		{"key 4096 in a short input", "\x81\xcd\x10\x00\xa1z", "local t = cmsgpack.unpack(ARGV[1]) return t[4096]", "$1\r\nz\r\n"},
		{"key 2^25 refused", "\x81\xce\x02\x00\x00\x00\xa1w", "return cmsgpack.unpack(ARGV[1])", "-ERR user_script:1: Integer map key 33554432 in input leaves too many empty array slots"},
		{"CI fuzz input", "R\x8e\x8e\x8e\x8e\x8e\xce\x02',\xcf\xf9L\x8e\x8e\x8e\x8e\x8e\x8e\x8e\x8e\x8e\x8e\x8e\x8e\x00\x00\x80\x00\x8e\x8e\x8e\x8e\x8e\x8e\x8e\x8e\x8e\x8e\x8e00000000000000",
			"return {cmsgpack.unpack(ARGV[1])}", "-ERR user_script:1: Integer map key 36121807 in input leaves too many empty array slots"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			out := string(e.Run(&Run{Body: []byte(tc.script), Args: [][]byte{[]byte(tc.data)}, Host: &fakeHost{}}, nil))
			if !strings.HasPrefix(out, tc.want) {
				t.Fatalf("got %q, want a reply starting %q", out, tc.want)
			}
			t.Logf("%v", time.Since(start))
		})
	}
}
