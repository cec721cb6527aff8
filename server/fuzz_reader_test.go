package server

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"
)

// Shoal used to read requests with tidwall/redcon's Reader, which panics on
// "*1\r\n$9223372036854775807\r\n" (an index computation overflows) and
// loops 2^63 times per parse on "*9223372036854775807\r\n": one request
// took the server down. These fuzz targets exercise Shoal's own reader.

// readAll reads everything from r with a reader, within limit and within
// maxCalls readBatch calls (each call must consume input), failing the test
// on a panic or a hang.
func readAll(t *testing.T, r io.Reader, authed bool, maxCalls int, limit time.Duration) (readOutcome, *reader) {
	t.Helper()
	type result struct {
		out      readOutcome
		panicked any
	}
	rd := newReader(r)
	rd.setAuthenticated(authed)
	done := make(chan result, 1)
	go func() {
		var res result
		defer func() {
			res.panicked = recover()
			done <- res
		}()
		res.out = readEverything(rd, maxCalls)
	}()
	select {
	case res := <-done:
		if res.panicked != nil {
			t.Fatalf("reader panicked: %v", res.panicked)
		}
		return res.out, rd
	case <-time.After(limit):
		t.Fatalf("reader did not finish within %v", limit)
		return readOutcome{}, nil
	}
}

// encodeCommand encodes args as a RESP array of bulk strings.
func encodeCommand(dst []byte, args [][]byte) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, '\r', '\n')
	for _, a := range args {
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(a)), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, a...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

// chunkSizes derives small Read sizes (1..8 bytes) from seed.
func chunkSizes(seed []byte) []int {
	sizes := []int{1}
	for _, b := range seed {
		sizes = append(sizes, int(b%8)+1)
	}
	return sizes
}

// FuzzReader feeds arbitrary bytes to the reader, whole and in small reads:
// no panic, no hang, an error at the end (io.EOF or a protocol error), every
// command has an argument, and (below the 64 KB line limit, where Redis's
// outcome does not depend on how the bytes arrive) the same result
// whatever the chunking.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"*1\r\n$4\r\nPING\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nx\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
		"PING\r\n",
		"set k \"a b\" 'c'\r\n",
		"set k \"\\x41\\n\" 'c\\'d'\r\n",
		"*2\r\n$3\r\nGET\r\n",
		"*-1\r\n",
		"*1\r\n$-1\r\n",
		"*1\r\n$100\r\nshort\r\n",
		"\r\n\r\n",
		"",
		"*1\r\n$9223372036854775807\r\n",
		"*9223372036854775807\r\n",
		"*1\x00\r\n",
		"*1\rX$4\rXPING\r\n",
	} {
		f.Add([]byte(s), []byte{3, 1}, false)
	}
	f.Add([]byte("AUTH x\r\n*11\r\n"), []byte{1}, true)
	f.Fuzz(func(t *testing.T, data, seed []byte, unauth bool) {
		maxCalls := len(data) + 2
		whole, rd1 := readAll(t, bytes.NewReader(data), !unauth, maxCalls, 5*time.Second)
		chunked, rd2 := readAll(t, &chunkReader{data: data, sizes: chunkSizes(seed)}, !unauth, maxCalls, 5*time.Second)
		for _, rd := range []*reader{rd1, rd2} {
			// The buffer grows with what arrives, not with declared lengths.
			if len(rd.buf) > max(readerInitSize, 4*len(data)) {
				t.Fatalf("buffer of %d bytes for %d bytes of input", len(rd.buf), len(data))
			}
		}
		for _, out := range []readOutcome{whole, chunked} {
			if out.err != io.EOF {
				if _, ok := out.err.(*protoError); !ok {
					t.Fatalf("reader ended with %v", out.err)
				}
			}
			for i, c := range out.cmds {
				if len(c) == 0 {
					t.Fatalf("command %d has no arguments", i)
				}
			}
		}
		if len(data) <= protoInlineMaxSize {
			if w, c := fmtCmds(whole.cmds), fmtCmds(chunked.cmds); w != c {
				t.Fatalf("whole input gave %s, in small reads %s", w, c)
			}
			if w, c := errText(whole.err), errText(chunked.err); w != c {
				t.Fatalf("whole input ended with %q, in small reads with %q", w, c)
			}
		}
	})
}

// FuzzReaderRoundTrip encodes commands built from the fuzz input as RESP
// arrays of bulk strings and checks that the reader returns exactly their
// arguments, whether the input arrives at once or in small reads.
func FuzzReaderRoundTrip(f *testing.F) {
	f.Add([]byte("\x03SET\x01k\x05value"), uint8(1), []byte{0})
	f.Add([]byte("\x01\r\n\x00\x02\r\n"), uint8(3), []byte{2, 5})
	f.Add([]byte{}, uint8(0), []byte{})
	f.Add(bytes.Repeat([]byte{0x1f, '*', '$', '\r', '\n'}, 40), uint8(2), []byte{7, 0, 3})
	f.Add(append([]byte{0xFF}, bytes.Repeat([]byte("abc"), 30)...), uint8(0), []byte{7})
	f.Fuzz(func(t *testing.T, data []byte, ncmds uint8, seed []byte) {
		// Build 1..4 commands; argument lengths come from the data.
		var want [][]string
		var wire []byte
		for c := 0; c < int(ncmds%4)+1; c++ {
			var args [][]byte
			for len(data) > 0 && len(args) < 16 {
				n := int(data[0] % 64)
				repeat := 1
				if data[0] >= 0xF0 {
					repeat = 400 // a large argument, beyond the initial buffer
				}
				data = data[1:]
				n = min(n, len(data))
				args = append(args, bytes.Repeat(data[:n], repeat))
				data = data[n:]
				if n == 0 && len(args) > 1 {
					break
				}
			}
			if len(args) == 0 {
				args = [][]byte{{}}
			}
			s := make([]string, len(args))
			for i, a := range args {
				s[i] = string(a)
			}
			want = append(want, s)
			wire = encodeCommand(wire, args)
		}
		for _, r := range []io.Reader{
			bytes.NewReader(wire),
			&chunkReader{data: wire, sizes: chunkSizes(seed)},
		} {
			out, _ := readAll(t, r, true, len(wire)+2, 10*time.Second)
			if out.err != io.EOF {
				t.Fatalf("reader ended with %v, want EOF", out.err)
			}
			if got, w := fmtCmds(out.cmds), fmtCmds(want); got != w {
				t.Fatalf("read %s, encoded %s", got, w)
			}
		}
	})
}

// TestReaderRedconRegressions: the inputs that crashed or hung redcon's
// Reader are rejected at once, as Redis rejects them.
func TestReaderRedconRegressions(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{"*1\r\n$9223372036854775807\r\n", "invalid bulk length"},
		{"*1\r\n$9223372036854775806\r\nab", "invalid bulk length"},
		{"*9223372036854775807\r\n", "invalid multibulk length"},
		{"*4611686018427387904\r\n$1\r\na\r\n", "invalid multibulk length"},
	} {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			start := time.Now()
			out, _ := readAll(t, bytes.NewReader([]byte(tc.in)), true, 2, 5*time.Second)
			if got := errText(out.err); got != tc.err || len(out.cmds) != 0 {
				t.Fatalf("got %s and %q, want error %q", fmtCmds(out.cmds), got, tc.err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}
