package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	l := HCLog(slog.New(slog.NewJSONHandler(&buf, nil)), "raft")
	l.Info("initial configuration", "index", 3, "servers", hclog.Fmt("%+v", []int{1, 2}))
	l.Debug("hidden below info")
	got := buf.String()
	for _, want := range []string{`"msg":"initial configuration"`, `"component":"raft"`, `"index":3`, `"servers":"[1 2]"`} {
		if !strings.Contains(got, want) {
			t.Errorf("log line %s lacks %s", got, want)
		}
	}
	if strings.Contains(got, "hidden") {
		t.Errorf("debug line logged at info level: %s", got)
	}
}

// TestHCLogLevelFollowsHandler checks that the adapter's level is the slog
// handler's: hclog Debug lines (raft's) reach a debug-level handler and not
// an info-level one, and the Is*/GetLevel methods agree; SetLevel raises
// the minimum on top of the handler's.
func TestHCLogLevelFollowsHandler(t *testing.T) {
	for _, tc := range []struct {
		level     slog.Level
		debug     bool
		wantLevel hclog.Level
	}{
		{slog.LevelDebug, true, hclog.Trace},
		{slog.LevelInfo, false, hclog.Info},
		{slog.LevelWarn, false, hclog.Warn},
	} {
		var buf bytes.Buffer
		l := HCLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level})), "raft")
		l.Debug("entering follower state", "follower", "n1")
		l.Named("sub").With("k", 1).Debug("sub debug")
		got := buf.String()
		if logged := strings.Contains(got, "entering follower state") && strings.Contains(got, "sub debug"); logged != tc.debug {
			t.Errorf("handler at %v: debug lines logged = %v, want %v:\n%s", tc.level, logged, tc.debug, got)
		}
		if l.IsDebug() != tc.debug || l.IsTrace() != tc.debug || !l.IsError() {
			t.Errorf("handler at %v: IsDebug %v IsTrace %v IsError %v", tc.level, l.IsDebug(), l.IsTrace(), l.IsError())
		}
		if lv := l.GetLevel(); lv != tc.wantLevel {
			t.Errorf("handler at %v: GetLevel = %v, want %v", tc.level, lv, tc.wantLevel)
		}
	}
	var buf bytes.Buffer
	l := HCLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), "raft")
	l.SetLevel(hclog.Warn)
	l.Info("hidden info")
	l.Warn("shown warn")
	if got := buf.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "shown warn") ||
		l.IsInfo() || !l.IsWarn() || l.GetLevel() != hclog.Warn {
		t.Errorf("SetLevel(Warn): IsInfo %v IsWarn %v GetLevel %v:\n%s", l.IsInfo(), l.IsWarn(), l.GetLevel(), got)
	}
	l.SetLevel(hclog.NoLevel)
	if !l.IsDebug() {
		t.Error("SetLevel(NoLevel) did not go back to the handler's level")
	}
}

func TestNew(t *testing.T) {
	cases := []struct {
		format, level string
		want          []string // substrings of the output of one debug, info and warn line
		not           []string
	}{
		{"json", "info", []string{`"msg":"i"`, `"msg":"w"`, `"the-key":1`}, []string{`"msg":"d"`}},
		{"JSON", "debug", []string{`"msg":"d"`, `"msg":"i"`}, nil},
		{"text", "warn", []string{"level=WARN msg=w the-key=1"}, []string{"msg=i", "msg=d"}},
		{"text", "notice", []string{"msg=i", "msg=w"}, []string{"msg=d"}},
		{"text", "verbose", []string{"msg=d"}, nil},
		{"text", "warning", []string{"msg=w"}, []string{"msg=i"}},
		{"text", "nothing", nil, []string{"msg="}},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		l, err := New(&buf, c.format, c.level)
		if err != nil {
			t.Fatalf("%s %s: %v", c.format, c.level, err)
		}
		l.Debug("d", "the-key", 1)
		l.Info("i", "the-key", 1)
		l.Warn("w", "the-key", 1)
		HCLog(l, "raft").Debug("raft-debug")
		out := buf.String()
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s %s: output lacks %s:\n%s", c.format, c.level, w, out)
			}
		}
		for _, w := range c.not {
			if strings.Contains(out, w) {
				t.Errorf("%s %s: output has %s:\n%s", c.format, c.level, w, out)
			}
		}
		if debug := c.level == "debug" || c.level == "verbose"; strings.Contains(out, "raft-debug") != debug {
			t.Errorf("%s %s: raft's debug line logged: %v", c.format, c.level, !debug)
		}
	}
	for _, bad := range [][2]string{{"xml", "info"}, {"json", "loud"}, {"text", ""}} {
		if _, err := New(&bytes.Buffer{}, bad[0], bad[1]); err == nil {
			t.Errorf("New(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

// TestStdLogger checks the serf/memberlist adapter: the "[LEVEL]" prefix
// sets the record's level and leaves the message, trace lines are debug
// lines (as raft's are through HCLog), and a line without a prefix is info.
func TestStdLogger(t *testing.T) {
	cases := []struct {
		line, level, msg string
	}{
		{"[TRACE] serf: Rejected coordinate from n2: bad\n", "DEBUG", "serf: Rejected coordinate from n2: bad"},
		{"[DEBUG] memberlist: Stream connection from=127.0.0.1:1", "DEBUG", "memberlist: Stream connection from=127.0.0.1:1"},
		{"[INFO] serf: EventMemberJoin: n1 127.0.0.1", "INFO", "serf: EventMemberJoin: n1 127.0.0.1"},
		{"[WARN] memberlist: Refuting a suspect message (from: n2)", "WARN", "memberlist: Refuting a suspect message (from: n2)"},
		{"[ERR] memberlist: Failed to send ping: timeout", "ERROR", "memberlist: Failed to send ping: timeout"},
		{"[ERROR] serf: Failed to update tags", "ERROR", "serf: Failed to update tags"},
		{"no prefix at all", "INFO", "no prefix at all"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		l := StdLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "serf"))
		l.Print(c.line)
		var rec struct{ Level, Msg, Component string }
		if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
			t.Fatalf("%q: %v: %s", c.line, err, buf.String())
		}
		if rec.Level != c.level || rec.Msg != c.msg || rec.Component != "serf" {
			t.Errorf("%q logged as level %s msg %q component %q; want %s %q serf", c.line, rec.Level, rec.Msg, rec.Component, c.level, c.msg)
		}
	}
	var buf bytes.Buffer
	StdLogger(slog.New(slog.NewTextHandler(&buf, nil))).Print("[DEBUG] memberlist: hidden")
	if buf.Len() != 0 {
		t.Errorf("debug line logged at info: %s", buf.String())
	}
}

// TestHCLogStandardWriter checks hclog's standard-logger options: lines
// are info unless InferLevels reads their prefix or ForceLevel sets one.
func TestHCLogStandardWriter(t *testing.T) {
	for _, c := range []struct {
		opts *hclog.StandardLoggerOptions
		want string
	}{
		{nil, `level=INFO msg="[WARN] raft: x"`},
		{&hclog.StandardLoggerOptions{InferLevels: true}, `level=WARN msg="raft: x"`},
		{&hclog.StandardLoggerOptions{ForceLevel: hclog.Error}, `level=ERROR msg="[WARN] raft: x"`},
	} {
		var buf bytes.Buffer
		l := HCLog(slog.New(slog.NewTextHandler(&buf, nil)), "")
		l.StandardLogger(c.opts).Print("[WARN] raft: x")
		if got := buf.String(); !strings.Contains(got, c.want) {
			t.Errorf("opts %+v: got %s, want %s", c.opts, got, c.want)
		}
	}
}
