package script

import (
	"strings"
	"testing"
)

// FuzzLibDecoders feeds arbitrary bytes to the decoders written for this
// package (cjson.decode, cmsgpack.unpack, struct.unpack with an arbitrary
// format): they may raise Lua errors, never panic (a panic would surface
// as the engine's "internal error" reply).
func FuzzLibDecoders(f *testing.F) {
	f.Add([]byte(`{"a":[1,2,{"b":null}],"c":"\u00e9"}`), []byte(">i2 s c0"))
	f.Add([]byte("\x93\x01\xa3two\x92\x03\x04"), []byte("<bBhHlLT"))
	f.Add([]byte("\xdc\xff\xff"), []byte("!4 i40 c"))
	e := NewEngine()
	scripts := []string{
		"return cjson.decode(ARGV[1])",
		"return {cmsgpack.unpack(ARGV[1])}",
		"return {cmsgpack.unpack_limit(ARGV[1], 2, 1)}",
		"return {struct.unpack(ARGV[2], ARGV[1])}",
		"return struct.size(ARGV[2])",
		"return struct.pack(ARGV[2], 1, 2, 'abc', 4)",
	}
	f.Fuzz(func(t *testing.T, data, format []byte) {
		for _, s := range scripts {
			r := &Run{Body: []byte(s), Args: [][]byte{data, format}, Host: &fakeHost{}}
			out := string(e.Run(r, nil))
			if strings.Contains(out, "internal error") {
				t.Fatalf("%s with %q, %q: %q", s, data, format, out)
			}
		}
	})
}
