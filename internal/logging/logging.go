// Package logging builds Shoal's log/slog loggers (New: text or JSON, a
// level) and adapts them to what hashicorp's libraries take (HCLog for
// raft, StdLogger for serf and memberlist), so that every log line of a
// node goes through one structured handler. The lines Shoal itself logs
// at info and above, and their keys, are listed in docs/logging.md.
package logging

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// HCLog returns an hclog.Logger that writes to l. Keys hashicorp libraries
// pass are kept as they are. Its level follows l's handler: hclog Debug and
// Trace lines are logged (as slog debug records) exactly when the handler
// is enabled for slog.LevelDebug, so `--log-level debug` shows raft's debug
// lines. SetLevel can raise the minimum further for one logger.
func HCLog(l *slog.Logger, name string) hclog.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &adapter{l: l, name: name}
}

type adapter struct {
	l       *slog.Logger
	name    string
	implied []interface{}
	// min is a level set with SetLevel; NoLevel: only the handler's.
	min hclog.Level
}

func toSlog(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

// enabled reports whether a line at level is logged: it is at least the
// level set with SetLevel, if any, and the handler takes its slog level.
func (a *adapter) enabled(level hclog.Level) bool {
	if level == hclog.Off || a.min == hclog.Off {
		return false
	}
	if a.min != hclog.NoLevel && level != hclog.NoLevel && level < a.min {
		return false
	}
	return a.l.Enabled(context.Background(), toSlog(level))
}

func (a *adapter) Log(level hclog.Level, msg string, args ...interface{}) {
	if !a.enabled(level) {
		return
	}
	lv := toSlog(level)
	ctx := context.Background()
	all := make([]interface{}, 0, len(args)+len(a.implied)+2)
	if a.name != "" {
		all = append(all, "component", a.name)
	}
	all = append(all, a.implied...)
	for _, v := range args {
		// hclog.Fmt values are printf calls to be made only when logged.
		if f, ok := v.(hclog.Format); ok && len(f) > 0 {
			if format, ok := f[0].(string); ok {
				v = fmt.Sprintf(format, f[1:]...)
			}
		}
		all = append(all, v)
	}
	a.l.Log(ctx, lv, msg, all...)
}

func (a *adapter) Trace(msg string, args ...interface{}) { a.Log(hclog.Trace, msg, args...) }
func (a *adapter) Debug(msg string, args ...interface{}) { a.Log(hclog.Debug, msg, args...) }
func (a *adapter) Info(msg string, args ...interface{})  { a.Log(hclog.Info, msg, args...) }
func (a *adapter) Warn(msg string, args ...interface{})  { a.Log(hclog.Warn, msg, args...) }
func (a *adapter) Error(msg string, args ...interface{}) { a.Log(hclog.Error, msg, args...) }
func (a *adapter) IsTrace() bool                         { return a.enabled(hclog.Trace) }
func (a *adapter) IsDebug() bool                         { return a.enabled(hclog.Debug) }
func (a *adapter) IsInfo() bool                          { return a.enabled(hclog.Info) }
func (a *adapter) IsWarn() bool                          { return a.enabled(hclog.Warn) }
func (a *adapter) IsError() bool                         { return a.enabled(hclog.Error) }
func (a *adapter) ImpliedArgs() []interface{}            { return a.implied }
func (a *adapter) Name() string                          { return a.name }

// SetLevel sets a minimum level on top of the handler's; NoLevel goes back
// to the handler's alone. It does not lower the handler's level.
func (a *adapter) SetLevel(level hclog.Level) { a.min = level }

// GetLevel returns the lowest level this logger logs (Off when none).
func (a *adapter) GetLevel() hclog.Level {
	for lv := hclog.Trace; lv <= hclog.Error; lv++ {
		if a.enabled(lv) {
			return lv
		}
	}
	return hclog.Off
}

func (a *adapter) With(args ...interface{}) hclog.Logger {
	c := *a
	c.implied = append(append([]interface{}(nil), a.implied...), args...)
	return &c
}

func (a *adapter) Named(name string) hclog.Logger {
	c := *a
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (a *adapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

func (a *adapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

// StandardWriter returns a writer that logs each write as one line: at
// opts.ForceLevel when set, else, with opts.InferLevels, at the level of
// a "[DEBUG]"-style prefix (see StdLogger), else at info.
func (a *adapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	if opts == nil {
		opts = &hclog.StandardLoggerOptions{}
	}
	return writerFunc(func(p []byte) (int, error) {
		msg := strings.TrimSpace(string(p))
		level := hclog.Info
		if opts.ForceLevel != hclog.NoLevel {
			level = opts.ForceLevel
		} else if opts.InferLevels {
			var lv slog.Level
			lv, msg = splitLevel(msg)
			level = fromSlog(lv)
		}
		a.Log(level, msg)
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func fromSlog(l slog.Level) hclog.Level {
	switch {
	case l < slog.LevelInfo:
		return hclog.Debug
	case l < slog.LevelWarn:
		return hclog.Info
	case l < slog.LevelError:
		return hclog.Warn
	}
	return hclog.Error
}

// StdLogger returns a *log.Logger, as serf and memberlist take, that
// writes each line to l as one record: the level comes from the line's
// "[TRACE]", "[DEBUG]" (both slog debug, as HCLog maps raft's), "[INFO]",
// "[WARN]", "[ERR]" or "[ERROR]" prefix, which is dropped (no prefix:
// info); the rest of the line is the message, as the library wrote it
// (for example "serf: EventMemberJoin: n1 127.0.0.1"). Safe for
// concurrent use.
func StdLogger(l *slog.Logger) *log.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return log.New(levelWriter{l}, "", 0)
}

type levelWriter struct{ l *slog.Logger }

func (w levelWriter) Write(p []byte) (int, error) {
	level, msg := splitLevel(strings.TrimSpace(string(p)))
	w.l.Log(context.Background(), level, msg)
	return len(p), nil
}

// stdPrefixes are the level prefixes of hashicorp's log.Logger lines.
var stdPrefixes = []struct {
	prefix string
	level  slog.Level
}{
	{"[TRACE]", slog.LevelDebug}, {"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelError}, {"[ERROR]", slog.LevelError},
}

// splitLevel returns the level of msg's prefix (info without one) and msg
// without it.
func splitLevel(msg string) (slog.Level, string) {
	for _, lv := range stdPrefixes {
		if strings.HasPrefix(msg, lv.prefix) {
			return lv.level, strings.TrimSpace(msg[len(lv.prefix):])
		}
	}
	return slog.LevelInfo, msg
}

// ParseLevel parses a log level: slog's debug, info, warn and error, or
// Redis's loglevel values debug, verbose (debug), notice (info), warning
// (warn) and nothing (no logs at all: Off). Case-insensitive.
func ParseLevel(s string) (level slog.Level, off bool, err error) {
	switch strings.ToLower(s) {
	case "verbose":
		return slog.LevelDebug, false, nil
	case "notice":
		return slog.LevelInfo, false, nil
	case "warning":
		return slog.LevelWarn, false, nil
	case "nothing":
		return 0, true, nil
	}
	if err := level.UnmarshalText([]byte(s)); err != nil {
		return 0, false, fmt.Errorf("log level %q: want debug, info, warn or error (or Redis's verbose, notice, warning, nothing)", s)
	}
	return level, false, nil
}

// New returns a logger writing to w in format ("json" or "text", slog's
// handlers) the records at level and above (see ParseLevel). With
// level "debug", raft's and serf's debug lines are logged too: their
// adapters (HCLog, placement's serf writer) follow the handler's level.
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	lv, off, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch strings.ToLower(format) {
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "text":
		h = slog.NewTextHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
	if off {
		h = slog.DiscardHandler
	}
	return slog.New(h), nil
}
