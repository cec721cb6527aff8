package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	gometrics "github.com/hashicorp/go-metrics/compat"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/server"
)

// scrape fetches url and parses the text exposition format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return mfs
}

// TestListenServesRegistry serves a registry with a fake front end and
// checks the scrape: the front end's families, the Go and process
// collectors, and a go-metrics figure emitted the way raft, serf and
// memberlist emit theirs.
func TestListenServesRegistry(t *testing.T) {
	reg, err := NewRegistry(Sources{Server: &fakeServer{st: server.InfoStats{CommandsProcessed: 42}}, Libraries: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Listen("127.0.0.1:0", reg, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + s.Addr().String() + "/metrics"
	// What the compat package forwards to is where raft v1.7.3 emits (its
	// raft.apply counter, say).
	gometrics.IncrCounter([]string{"raft", "test_apply"}, 3)
	mfs := scrape(t, url)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "shoal_commands_processed_total", "shoal_raft_test_apply"} {
		if mfs[name] == nil {
			t.Errorf("scrape lacks %s", name)
		}
	}
	if mf := mfs["shoal_commands_processed_total"]; mf != nil && mf.GetMetric()[0].GetCounter().GetValue() != 42 {
		t.Errorf("shoal_commands_processed_total = %v, want 42", mf.GetMetric()[0])
	}
	if mf := mfs["shoal_raft_test_apply"]; mf != nil && mf.GetMetric()[0].GetCounter().GetValue() != 3 {
		t.Errorf("shoal_raft_test_apply = %v, want 3", mf.GetMetric()[0])
	}
	// A second registry (a second node in the process) shares the sink.
	if _, err := NewRegistry(Sources{}); err != nil {
		t.Fatalf("second registry: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := http.Get(url); err == nil {
		t.Error("scrape succeeded after Shutdown")
	}
}

func TestListenBadAddr(t *testing.T) {
	reg, err := NewRegistry(Sources{})
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"9100", "localhost"} {
		if _, err := Listen(addr, reg, nil); !errors.Is(err, ErrBadAddr) {
			t.Errorf("Listen(%q): %v, want ErrBadAddr", addr, err)
		}
	}
	// A taken port fails at once.
	s, err := Listen("127.0.0.1:0", reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	if _, err := Listen(s.Addr().String(), reg, nil); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("Listen on a taken port: %v", err)
	}
}

// TestRegistryWithoutLibraries: without Sources.Libraries the registry has
// no go-metrics family, even once the process-wide sink receives some.
func TestRegistryWithoutLibraries(t *testing.T) {
	if _, err := NewRegistry(Sources{Libraries: true}); err != nil { // installs the sink
		t.Fatal(err)
	}
	gometrics.IncrCounter([]string{"raft", "test_without"}, 1)
	reg, err := NewRegistry(Sources{})
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "shoal_raft_") {
			t.Errorf("registry without Libraries has %s", mf.GetName())
		}
	}
}
