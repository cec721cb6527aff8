// Package logging builds Shoal's log/slog loggers (New: text or JSON, a
// level) and adapts them to the hclog interface that hashicorp/raft
// expects, so that every log line of a node goes through one structured
// handler.
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

func (a *adapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		a.Info(strings.TrimSpace(string(p)))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

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
