package server

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
)

// SetClusterConfig records the call ("config k=v k=v", names sorted) and,
// when err is nil, applies the settings to srv: a one-node cluster's map.
func (r *transferTestRouter) SetClusterConfig(ctx context.Context, kv map[string]string) error {
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("no deadline")
	}
	call := "config"
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		call += " " + k + "=" + kv[k]
	}
	r.calls = append(r.calls, call)
	if r.err != nil {
		return r.err
	}
	return r.srv.ApplyClusterConfig(kv)
}

// TestConfigSetCluster checks CONFIG SET in cluster mode: the cluster-wide
// parameters go to the Admin in one call after every value validated, the
// per-node ones are applied here only once it succeeded, a failure changes
// nothing, and a cluster Router without an Admin sets everything locally.
func TestConfigSetCluster(t *testing.T) {
	r := &transferTestRouter{clusterTestRouter: &clusterTestRouter{topo: testTopology(t)}}
	x := clusterCtx(t, r, resp.RESP2, 1)
	r.srv = srvOf(x)
	get := func(name string) string {
		return runLocal(t, x, "CONFIG", "GET", name)
	}
	bulk := func(name, v string) string { return rArr(2) + rBulk(name) + rBulk(v) }
	type step struct {
		args []string
		want string
		call string // the SetClusterConfig call, "" for none
	}
	steps := []step{
		{[]string{"CONFIG", "SET", "maxmemory", "123mb"}, "+OK\r\n", "config maxmemory=123mb"},
		{[]string{"CONFIG", "GET", "maxmemory"}, bulk("maxmemory", "128974848"), ""},
		{[]string{"CONFIG", "SET", "MAXMEMORY-POLICY", "allkeys-lru"}, "+OK\r\n", "config maxmemory-policy=allkeys-lru"},
		{[]string{"CONFIG", "GET", "maxmemory-policy"}, bulk("maxmemory-policy", "allkeys-lru"), ""},
		// A bad value is refused here, with Redis's error, before the map.
		{[]string{"CONFIG", "SET", "maxmemory-policy", "nope"},
			"-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - " + cfgErrPolicy + "\r\n", ""},
		{[]string{"CONFIG", "SET", "maxmemory", "1mb", "slowlog-max-len", "-1"},
			"-ERR CONFIG SET failed (possibly related to argument 'slowlog-max-len') - argument must be between 0 and 9223372036854775807 inclusive\r\n", ""},
		// Per-node parameters stay local.
		{[]string{"CONFIG", "SET", "requirepass", "pw"}, "+OK\r\n", ""},
		{[]string{"CONFIG", "SET", "port", "1"}, "-ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config\r\n", ""},
		// Mixed: one map change with the cluster-wide ones, the rest here.
		{[]string{"CONFIG", "SET", "slowlog-max-len", "7", "appendonly", "yes", "latency-tracking", "no", "maxmemory", "2mb"},
			"+OK\r\n", "config latency-tracking=no maxmemory=2mb slowlog-max-len=7"},
	}
	for _, st := range steps {
		r.calls = nil
		if got := runLocal(t, x, st.args...); got != st.want {
			t.Errorf("%q = %q, want %q", st.args, got, st.want)
		}
		var want []string
		if st.call != "" {
			want = []string{st.call}
		}
		if !slices.Equal(r.calls, want) {
			t.Errorf("%q: Admin calls %q, want %q", st.args, r.calls, want)
		}
	}
	for name, want := range map[string]string{"maxmemory": "2097152", "slowlog-max-len": "7", "appendonly": "yes",
		"latency-tracking": "no", "maxmemory-policy": "allkeys-lru", "requirepass": "pw"} {
		if got := get(name); got != bulk(name, want) {
			t.Errorf("CONFIG GET %s = %q, want %s", name, got, want)
		}
	}

	// The map change fails: nothing changes, the per-node value neither.
	r.calls, r.err = nil, errors.New("meta leader\r\nunreachable")
	got := runLocal(t, x, "CONFIG", "SET", "requirepass", "other", "maxmemory", "3mb")
	if want := "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - cannot record the cluster-wide setting " +
		"in the cluster map: meta leader  unreachable\r\n"; got != want {
		t.Errorf("CONFIG SET with a failing Admin = %q, want %q", got, want)
	}
	if !slices.Equal(r.calls, []string{"config maxmemory=3mb"}) {
		t.Errorf("Admin calls %q", r.calls)
	}
	if got := get("maxmemory"); got != bulk("maxmemory", "2097152") {
		t.Errorf("maxmemory after a failed map change: %q", got)
	}
	if p := srvOf(x).currentPassword(); p != "pw" {
		t.Errorf("requirepass after a failed map change: %q", p)
	}

	// A cluster Router without an Admin sets everything locally.
	y := clusterCtx(t, &clusterTestRouter{topo: testTopology(t)}, resp.RESP2, 1)
	if got := runLocal(t, y, "CONFIG", "SET", "maxmemory", "64k"); got != "+OK\r\n" {
		t.Errorf("CONFIG SET without an Admin = %q", got)
	}
	if got := runLocal(t, y, "CONFIG", "GET", "maxmemory"); got != bulk("maxmemory", "64000") {
		t.Errorf("CONFIG GET without an Admin = %q", got)
	}
}

// TestConfigSetStandaloneLocal checks that a standalone node (a
// SingleRouter, which has no Admin) sets cluster-wide parameters locally,
// as before cluster-wide settings existed.
func TestConfigSetStandaloneLocal(t *testing.T) {
	x := clusterCtx(t, SingleRouter{}, resp.RESP2, 1)
	runCases(t, x, []lineCase{
		{[]string{"CONFIG", "SET", "maxmemory", "123mb", "maxmemory-policy", "allkeys-lru", "slowlog-max-len", "9"}, "+OK\r\n"},
		{[]string{"CONFIG", "GET", "maxmemory"}, "*2\r\n$9\r\nmaxmemory\r\n$9\r\n128974848\r\n"},
		{[]string{"CONFIG", "GET", "maxmemory-policy"}, "*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lru\r\n"},
		{[]string{"CONFIG", "GET", "slowlog-max-len"}, "*2\r\n$15\r\nslowlog-max-len\r\n$1\r\n9\r\n"},
	})
}

// TestApplyClusterConfig checks the node's side: the map's settings go
// through the setters; names that are not cluster-wide (a map must never
// set requirepass) and refused values are reported and skipped, the rest
// applied.
func TestApplyClusterConfig(t *testing.T) {
	x := clusterCtx(t, SingleRouter{}, resp.RESP2, 1)
	s := srvOf(x)
	err := s.ApplyClusterConfig(map[string]string{
		"maxmemory": "123mb", "maxmemory-policy": "allkeys-lfu", "slowlog-log-slower-than": "-1",
		"latency-monitor-threshold": "100", "latency-tracking": "no", "latency-tracking-info-percentiles": "50 99.9",
		"slowlog-max-len": "x", "requirepass": "stolen", "port": "1", "no-such-param": "1",
	})
	for _, want := range []string{"slowlog-max-len", "requirepass", "port", "no-such-param"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	if !errors.Is(err, ErrNotClusterConfig) || !errors.Is(err, ErrBadClusterConfig) {
		t.Errorf("error %v is not ErrNotClusterConfig and ErrBadClusterConfig", err)
	}
	for name, want := range map[string]string{
		"maxmemory": "128974848", "maxmemory-policy": "allkeys-lfu", "slowlog-log-slower-than": "-1",
		"latency-monitor-threshold": "100", "latency-tracking": "no", "latency-tracking-info-percentiles": "50 99.9",
		"slowlog-max-len": "128", "requirepass": "",
	} {
		if got := lookupConfig(name).get(s); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if err := s.ApplyClusterConfig(nil); err != nil {
		t.Errorf("no settings: %v", err)
	}
}

// TestConfigRewriteClusterWide checks that CONFIG REWRITE writes the
// cluster-wide values in force, the map's, as the node's own record.
func TestConfigRewriteClusterWide(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.conf")
	if err := os.WriteFile(path, []byte("maxmemory 1mb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.ConfigFile = path
	cfg.MaxMemory = 1 << 20
	s, err := New(cfg, connTestRouter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyClusterConfig(map[string]string{"maxmemory": "2gb", "maxmemory-policy": "allkeys-lru"}); err != nil {
		t.Fatal(err)
	}
	x := &command.Ctx{Proto: resp.RESP2, Conn: &client{srv: s, id: 1, proto: resp.RESP2, authed: true}, Rng: command.NewRand()}
	if got := runLocal(t, x, "CONFIG", "REWRITE"); got != "+OK\r\n" {
		t.Fatalf("CONFIG REWRITE = %q", got)
	}
	want := "maxmemory 2gb\n\n" + rewriteSignature + "\nmaxmemory-policy allkeys-lru\n"
	if got := readFile(t, path); got != want {
		t.Errorf("rewritten file %q, want %q", got, want)
	}
}
