package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/server"
)

// described returns the family names c describes.
func described(c prometheus.Collector) []string {
	ch := make(chan *prometheus.Desc, 100)
	c.Describe(ch)
	close(ch)
	re := regexp.MustCompile(`fqName: "([^"]+)"`)
	var out []string
	for d := range ch {
		if m := re.FindStringSubmatch(d.String()); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// TestDocsListEveryFamily: docs/metrics.md has a table row for every
// family Shoal's collectors describe and for no other shoal_ family (the
// go-metrics ones, whose names are the libraries', excepted), and the
// Grafana dashboard queries only families that exist.
func TestDocsListEveryFamily(t *testing.T) {
	var families []string
	for _, c := range []prometheus.Collector{
		NewServerCollector(&fakeServerLimits{fakeServer: fakeServer{st: server.InfoStats{}}}),
		NewGroupCollector(func() []GroupSource { return nil }),
		NewPlacementCollector(&fakePlacement{}),
		NewMuxCollector(&raftfsm.Mux{}),
		NewCommandCollector(&fakeCommands{}),
	} {
		families = append(families, described(c)...)
	}
	if len(families) < 40 {
		t.Fatalf("only %d families described: %v", len(families), families)
	}

	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	inGoMetrics := false
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "## ") {
			inGoMetrics = strings.Contains(line, "raft, serf and memberlist")
		}
		if !strings.HasPrefix(line, "| `shoal_") || inGoMetrics {
			continue
		}
		for _, m := range regexp.MustCompile("`(shoal_[a-z_]+)`").FindAllStringSubmatch(strings.SplitN(line, "|", 3)[1], -1) {
			rows[m[1]] = true
		}
	}
	for _, f := range families {
		if !rows[f] {
			t.Errorf("docs/metrics.md has no row for %s", f)
		}
	}
	for f := range rows {
		if !slices.Contains(families, f) {
			t.Errorf("docs/metrics.md documents %s, which no collector describes", f)
		}
	}

	raw, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not valid JSON: %v", err)
	}
	used := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range regexp.MustCompile(`shoal_[A-Za-z_]+`).FindAllString(tg.Expr, -1) {
				used++
				base := name
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					base = strings.TrimSuffix(base, suffix)
				}
				if !slices.Contains(families, base) && !strings.HasPrefix(base, "shoal_raft_") {
					t.Errorf("panel %q queries %s, which no collector describes", p.Title, name)
				}
			}
		}
	}
	if used < 20 {
		t.Errorf("the dashboard queries only %d shoal_ series", used)
	}
}
