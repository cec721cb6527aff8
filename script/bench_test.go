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

// BenchmarkRunTableSets runs a script that fills a table of 1000 entries
// by index and another by a concatenated name: sets the table-set guard
// checks (holes.go), the second kind returning at the key's type.
func BenchmarkRunTableSets(b *testing.B) {
	e := NewEngine()
	body := []byte(`local t, u = {}, {}
for i = 1, 1000 do t[i] = i; u[KEYS[1] .. 'x'] = i end
return #t`)
	r := &Run{Body: body, SHA: SHA1(body), Keys: [][]byte{[]byte("k")}, Host: &fakeHost{}}
	out := make([]byte, 0, 64)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		out = e.Run(r, out[:0])
	}
	if string(out) != ":1000\r\n" {
		b.Fatalf("reply %q", out)
	}
}
