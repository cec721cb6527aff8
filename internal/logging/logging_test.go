package logging

import (
	"bytes"
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
