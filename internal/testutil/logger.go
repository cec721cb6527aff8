package testutil

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/shoalcache/shoal/internal/proc"
)

// Logger returns a *slog.Logger that writes each record as one t.Log line
// (text format, keys in kebab-case as in Shoal's logs), at Info, or at Debug
// when SHOAL_TEST_DEBUG is set. Records logged after the test's cleanups
// have run are dropped: call Logger before registering the cleanups of what
// logs to it, so that its own cleanup runs last.
func Logger(t testing.TB) *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("SHOAL_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return LoggerAt(t, level)
}

// LoggerAt is Logger with a fixed minimum level.
func LoggerAt(t testing.TB, level slog.Leveler) *slog.Logger {
	w := NewLogWriter(t, "")
	t.Cleanup(w.Close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			a.Key = strings.ReplaceAll(a.Key, "_", "-")
			return a
		},
	}))
}

// LockedBuffer is a goroutine-safe bytes.Buffer for logs and process
// output.
type LockedBuffer = proc.LockedBuffer

// LogWriter forwards complete lines to t.Log, each with a prefix, until
// closed; writes after Close are dropped (t.Log must not be called after
// the test finished).
type LogWriter struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	buf    []byte
	closed bool
}

// NewLogWriter returns a LogWriter for t. The caller closes it.
func NewLogWriter(t testing.TB, prefix string) *LogWriter {
	return &LogWriter{t: t, prefix: prefix}
}

// Write logs every complete line of p.
func (w *LogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.t.Log(w.prefix + string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// Close logs a pending partial line and drops everything written after.
func (w *LogWriter) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed && len(w.buf) > 0 {
		w.t.Log(w.prefix + string(w.buf))
	}
	w.closed = true
	w.buf = nil
}
