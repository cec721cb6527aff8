package script

import "testing"

// BenchmarkRunIncr: one EVALSHA-like run of a cached small script, with a
// host answering at once (the Lua side's cost per script).
func BenchmarkRunIncr(b *testing.B) {
	e := NewEngine()
	body := []byte("return redis.call('INCR', KEYS[1])")
	r := &Run{Body: body, SHA: SHA1(body), Keys: [][]byte{[]byte("k")}, Host: &fakeHost{}}
	out := make([]byte, 0, 64)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.Host = &fakeHost{}
		out = e.Run(r, out[:0])
	}
}
