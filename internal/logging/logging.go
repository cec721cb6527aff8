// Package logging adapts Shoal's log/slog loggers to the hclog interface that
// hashicorp/raft expects, so that every log line of a node goes through one
// structured handler.
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
// pass are kept as they are.
func HCLog(l *slog.Logger, name string) hclog.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &adapter{l: l, name: name, level: hclog.Info}
}

type adapter struct {
	l       *slog.Logger
	name    string
	implied []interface{}
	level   hclog.Level
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

func (a *adapter) Log(level hclog.Level, msg string, args ...interface{}) {
	if level < a.level && level != hclog.NoLevel {
		return
	}
	lv := toSlog(level)
	ctx := context.Background()
	if !a.l.Enabled(ctx, lv) {
		return
	}
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
func (a *adapter) IsTrace() bool                         { return a.level <= hclog.Trace }
func (a *adapter) IsDebug() bool                         { return a.level <= hclog.Debug }
func (a *adapter) IsInfo() bool                          { return a.level <= hclog.Info }
func (a *adapter) IsWarn() bool                          { return a.level <= hclog.Warn }
func (a *adapter) IsError() bool                         { return a.level <= hclog.Error }
func (a *adapter) ImpliedArgs() []interface{}            { return a.implied }
func (a *adapter) Name() string                          { return a.name }
func (a *adapter) SetLevel(level hclog.Level)            { a.level = level }
func (a *adapter) GetLevel() hclog.Level                 { return a.level }

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
