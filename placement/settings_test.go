package placement

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/internal/topology"
)

// TestMapConfigField checks Map.Config through Clone (a deep copy), JSON
// (round trip; omitted when empty; an old map without it decodes), the
// meta FSM's snapshot, and Validate's bounds.
func TestMapConfigField(t *testing.T) {
	m, err := InitialMap(testNodes(3), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	// A map without settings encodes as before the field existed, and
	// such a map (an old log entry or snapshot) decodes with none.
	old, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(old), `"config"`) {
		t.Fatalf("a map without settings encodes them: %s", old)
	}
	var dec Map
	if err := json.Unmarshal(old, &dec); err != nil || dec.Config != nil || !reflect.DeepEqual(&dec, m) {
		t.Fatalf("old map decoded as %+v (%v)", dec.Config, err)
	}

	m.Config = map[string]string{"maxmemory": "123mb", "maxmemory-policy": "allkeys-lru", "latency-tracking-info-percentiles": ""}
	c := m.Clone()
	if !maps.Equal(c.Config, m.Config) {
		t.Fatalf("Clone lost the settings: %v", c.Config)
	}
	c.Config["maxmemory"] = "1gb"
	if m.Config["maxmemory"] != "123mb" {
		t.Fatal("Clone shares the settings with the original")
	}

	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var got Map
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, m) {
		t.Fatalf("round trip changed the map:\n%s", b)
	}

	f := newMetaFSM(nil)
	if err := applyCmd(t, f, 1, metaCommand{Op: opInit, Map: m}); err != nil {
		t.Fatal(err)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := newMetaFSM(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(g.cur.Config, m.Config) {
		t.Fatalf("snapshot restored settings %v", g.cur.Config)
	}

	for name, bad := range map[string]map[string]string{
		"empty name":      {"": "1"},
		"upper-case name": {"MaxMemory": "1"},
		"name with space": {"max memory": "1"},
		"long name":       {strings.Repeat("x", topology.MaxConfigName+1): "1"},
		"long value":      {"maxmemory": strings.Repeat("1", topology.MaxConfigValue+1)},
		"too many": func() map[string]string {
			kv := make(map[string]string)
			for i := range topology.MaxConfigParams + 1 {
				kv[strings.Repeat("p", i+1)] = "1"
			}
			return kv
		}(),
	} {
		c := m.Clone()
		c.Config = bad
		if err := c.Validate(); !errors.Is(err, ErrBadMap) {
			t.Errorf("%s: Validate = %v, want ErrBadMap", name, err)
		}
		b, _ := json.Marshal(c)
		if err := json.Unmarshal(b, new(Map)); !errors.Is(err, ErrBadMap) {
			t.Errorf("%s: decoding = %v, want ErrBadMap", name, err)
		}
	}
}

func TestSetConfigChange(t *testing.T) {
	m, err := InitialMap(testNodes(3), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	next := setConfig(m.Clone(), map[string]string{"maxmemory": "1mb", "slowlog-max-len": "5"})
	if next == nil || !maps.Equal(next.Config, map[string]string{"maxmemory": "1mb", "slowlog-max-len": "5"}) {
		t.Fatalf("first change: %+v", next)
	}
	if setConfig(next.Clone(), map[string]string{"maxmemory": "1mb"}) != nil {
		t.Fatal("setting a value the map holds is a change")
	}
	third := setConfig(next.Clone(), map[string]string{"maxmemory": "2mb"})
	if third == nil || !maps.Equal(third.Config, map[string]string{"maxmemory": "2mb", "slowlog-max-len": "5"}) {
		t.Fatalf("second change: %+v", third)
	}
	if setConfig(m.Clone(), nil) != nil {
		t.Fatal("no settings is a change")
	}
}

// TestSetConfigCAS sets cluster-wide settings from a meta follower (a
// forwarded compare-and-set): every node's map gets them in one epoch, the
// follower's own replica holds them when SetConfig returns, and setting
// the same values again makes no new epoch.
func TestSetConfigCAS(t *testing.T) {
	nodes := formCluster(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var follower *testNode
	for _, n := range nodes {
		if !n.svc.IsMetaLeader() {
			follower = n
			break
		}
	}
	base := follower.svc.Map().Epoch
	want := map[string]string{"maxmemory": "123mb", "maxmemory-policy": "allkeys-lru"}
	if err := follower.svc.SetConfig(ctx, want); err != nil {
		t.Fatal(err)
	}
	if m := follower.svc.Map(); m.Epoch != base+1 || !maps.Equal(m.Config, want) {
		t.Fatalf("after SetConfig the follower holds epoch %d (base %d), settings %v", m.Epoch, base, m.Config)
	}
	testutil.Eventually(t, 10*time.Second, "the settings everywhere", func() error { return checkSameMap(nodes, base+1) })
	if err := follower.svc.SetConfig(ctx, map[string]string{"maxmemory": "123mb"}); err != nil {
		t.Fatal(err)
	}
	if err := follower.svc.SetConfig(ctx, map[string]string{"BAD NAME": "1"}); !errors.Is(err, ErrBadMap) {
		t.Fatalf("a bad name: %v, want ErrBadMap", err)
	}
	if err := checkSameMap(nodes, base+1); err != nil {
		t.Fatalf("an unchanged or refused setting made a new map: %v", err)
	}
}
