// Package logtest records the lines a logger writes, as JSON, for tests
// that check which lines Shoal logs and with which keys (the lines listed
// in docs/logging.md).
package logtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/shoalcache/shoal/internal/testutil"
)

// Record is one logged line: its keys and values as JSON decodes them
// (numbers are float64), including "time", "level" and "msg".
type Record map[string]any

// Recorder keeps every line of a logger. Safe for concurrent use.
type Recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// New returns a JSON logger at level whose lines r keeps and t.Log shows.
func New(t testing.TB, level slog.Level) (*slog.Logger, *Recorder) {
	r := &Recorder{}
	w := testutil.NewLogWriter(t, "")
	t.Cleanup(w.Close)
	return slog.New(slog.NewJSONHandler(io.MultiWriter(r, w), &slog.HandlerOptions{Level: level})), r
}

// Write implements io.Writer.
func (r *Recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

// All returns every line logged so far.
func (r *Recorder) All() ([]Record, error) {
	r.mu.Lock()
	data := bytes.Clone(r.buf.Bytes())
	r.mu.Unlock()
	var out []Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("log line %q: %w", sc.Text(), err)
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

// Lines returns the lines with message msg whose keys have the values of
// match (compared as fmt.Sprint renders them, so 3 matches 3.0).
func (r *Recorder) Lines(t testing.TB, msg string, match ...any) []Record {
	t.Helper()
	all, err := r.All()
	if err != nil {
		t.Fatal(err)
	}
	var out []Record
	for _, rec := range all {
		if rec["msg"] == msg && Matches(rec, match...) {
			out = append(out, rec)
		}
	}
	return out
}

// Matches reports whether rec has, for each key-value pair of kv, that key
// with that value (compared as fmt.Sprint renders them).
func Matches(rec Record, kv ...any) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		v, ok := rec[fmt.Sprint(kv[i])]
		if !ok || fmt.Sprint(v) != fmt.Sprint(kv[i+1]) {
			return false
		}
	}
	return true
}

// One returns the single line with message msg matching match (see
// Lines); the test fails when there is none or more than one.
func (r *Recorder) One(t testing.TB, msg string, match ...any) Record {
	t.Helper()
	lines := r.Lines(t, msg, match...)
	if len(lines) != 1 {
		t.Fatalf("%d lines %q %v, want exactly one: %v", len(lines), msg, match, lines)
	}
	return lines[0]
}

// HasKeys fails the test unless rec has every key of keys.
func HasKeys(t testing.TB, rec Record, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := rec[k]; !ok {
			t.Errorf("line %q lacks key %q: %v", rec["msg"], k, rec)
		}
	}
}
