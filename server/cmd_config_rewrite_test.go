package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/proc"
	"github.com/shoalcache/shoal/internal/redisconf"
	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
)

// startConfigServer serves a Server configured with cfg (without groups)
// on an OS-chosen port and returns a connection to it.
func startConfigServer(t *testing.T, cfg Config) *respclient.Conn {
	t.Helper()
	cfg.Logger = testutil.Logger(t)
	s, err := New(cfg, connTestRouter{})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTest(t, s)
	return dialConfig(t, addr)
}

func dialConfig(t *testing.T, addr string) *respclient.Conn {
	t.Helper()
	c, err := respclient.Dial(context.Background(), addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// do runs a command that must succeed.
func do(t *testing.T, c *respclient.Conn, args ...any) respclient.Value {
	t.Helper()
	v, err := c.Do(context.Background(), args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

// replyText runs a command and returns its reply, an error's text included.
func replyText(t *testing.T, c *respclient.Conn, args ...any) string {
	t.Helper()
	v, err := c.Do(context.Background(), args...)
	if v.IsError() {
		return v.Str
	}
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v.String()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConfigRewrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shoal.conf")
	orig := "# Shoal test configuration\n" +
		"port 7000\n" +
		"  # an indented comment\n" +
		"maxmemory 1mb\n" +
		"cluster-port 17000\n" +
		"save 900 1\n" +
		"save 300 10\n" +
		"requirepass old\n"
	if err := os.WriteFile(path, []byte(orig), 0o640); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.ConfigFile = path
	cfg.MaxMemory = 1 << 20
	cfg.RequirePass = "old"
	cfg.Params = map[string]string{"save": "900 1 300 10"}
	c := startConfigServer(t, cfg)
	do(t, c, "AUTH", "old")

	// Nothing changed: the file is written back as it was.
	do(t, c, "CONFIG", "REWRITE")
	if got := readFile(t, path); got != orig {
		t.Errorf("rewrite without changes:\n%s\nwant\n%s", got, orig)
	}
	// Set back to its startup value: not a change.
	do(t, c, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
	do(t, c, "CONFIG", "SET", "maxmemory-policy", "noeviction")
	do(t, c, "CONFIG", "SET", "maxmemory", "100mb", "requirepass", `n w"`, "appendonly", "yes")
	if got := replyText(t, c, "CONFIG", "REWRITE"); got != "OK" {
		t.Fatalf("CONFIG REWRITE = %q", got)
	}
	want := "# Shoal test configuration\n" +
		"port 7000\n" +
		"  # an indented comment\n" +
		"maxmemory 100mb\n" +
		"cluster-port 17000\n" +
		"save 900 1\n" +
		"save 300 10\n" +
		`requirepass "n w\""` + "\n" +
		"\n" + rewriteSignature + "\n" +
		"appendonly yes\n"
	if got := readFile(t, path); got != want {
		t.Errorf("rewritten file:\n%s\nwant\n%s", got, want)
	}
	// A second rewrite replaces the save lines (the first in place, the
	// other dropped) and appends under the existing signature.
	do(t, c, "CONFIG", "SET", "save", "", "maxmemory", "12345", "maxmemory-policy", "volatile-ttl")
	do(t, c, "CONFIG", "REWRITE")
	want = "# Shoal test configuration\n" +
		"port 7000\n" +
		"  # an indented comment\n" +
		"maxmemory 12345\n" +
		"cluster-port 17000\n" +
		`save ""` + "\n" +
		`requirepass "n w\""` + "\n" +
		"\n" + rewriteSignature + "\n" +
		"appendonly yes\n" +
		"maxmemory-policy volatile-ttl\n"
	if got := readFile(t, path); got != want {
		t.Errorf("second rewrite:\n%s\nwant\n%s", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after rewrite: %v, %v; want 0640", fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files left in the directory: %v", ents)
	}

	// The rewritten file reads back as the values CONFIG GET reports.
	ds, err := redisconf.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range ds {
		got[d.Name] = strings.Join(d.Args, " ")
	}
	for _, name := range []string{"save", "requirepass", "appendonly", "maxmemory-policy", "maxmemory"} {
		v := do(t, c, "CONFIG", "GET", name).Elems()
		if len(v) != 2 || v[1].Str != got[name] {
			t.Errorf("%s: file has %q, CONFIG GET %v", name, got[name], v)
		}
	}

	// The file's directory is gone: the error is strerror's.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if got := replyText(t, c, "CONFIG", "REWRITE"); got != "ERR Rewriting config file: No such file or directory" {
		t.Errorf("rewrite into a removed directory: %q", got)
	}
}

// TestConfigRewriteMissingFile: a config file removed since startup is
// written from scratch, as Redis does, with only what changed.
func TestConfigRewriteMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone.conf")
	cfg := DefaultConfig()
	cfg.ConfigFile = path
	c := startConfigServer(t, cfg)
	do(t, c, "CONFIG", "SET", "maxmemory", "2gb")
	do(t, c, "CONFIG", "REWRITE")
	if got, want := readFile(t, path), rewriteSignature+"\nmaxmemory 2gb\n"; got != want {
		t.Errorf("file %q, want %q", got, want)
	}
}

// TestConfigRewriteConcurrent: rewrites racing CONFIG SETs on several
// connections never lose the file or leave a temporary file, and the
// last rewrite writes the last values.
func TestConfigRewriteConcurrent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shoal.conf")
	if err := os.WriteFile(path, []byte("# keep me\nmaxmemory 1mb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.ConfigFile = path
	cfg.MaxMemory = 1 << 20
	c := startConfigServer(t, cfg)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		conn := dialConfig(t, c.Addr())
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				ctx := context.Background()
				if _, err := conn.Do(ctx, "CONFIG", "SET", "maxmemory", strconv.Itoa((w*100+i+1)<<10)); err != nil {
					errs <- err
					return
				}
				if _, err := conn.Do(ctx, "CONFIG", "REWRITE"); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	do(t, c, "CONFIG", "SET", "maxmemory", "7mb")
	do(t, c, "CONFIG", "REWRITE")
	if got, want := readFile(t, path), "# keep me\nmaxmemory 7mb\n"; got != want {
		t.Errorf("file %q, want %q", got, want)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files left: %v", ents)
	}
}

func TestConfigParams(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Params = map[string]string{"save": "3600  1 300 100", "appendonly": "YES", "MaxMemory": "1kb"}
	c := startConfigServer(t, cfg)
	for name, want := range map[string]string{"save": "3600 1 300 100", "appendonly": "yes", "maxmemory": "1024"} {
		if v := do(t, c, "CONFIG", "GET", name).Elems(); len(v) != 2 || v[1].Str != want {
			t.Errorf("CONFIG GET %s = %v, want %s", name, v, want)
		}
	}
	for params, want := range map[string]string{
		"save=1":       "server: config parameter save: Invalid save parameters",
		"port=1":       "server: config parameter port: not a parameter CONFIG SET can change",
		"nosuch=1":     "server: config parameter nosuch: not a parameter CONFIG SET can change",
		"appendonly=x": "server: config parameter appendonly: argument must be 'yes' or 'no'",
	} {
		name, value, _ := strings.Cut(params, "=")
		cfg := DefaultConfig()
		cfg.Params = map[string]string{name: value}
		if _, err := New(cfg, nil); err == nil || err.Error() != want {
			t.Errorf("Params %s: %v, want %s", params, err, want)
		}
		if err := CheckParam(name, value); err == nil || !strings.HasSuffix(want, err.Error()) {
			t.Errorf("CheckParam(%s): %v, want the end of %s", params, err, want)
		}
	}
	if err := CheckParam("maxmemory-policy", "allkeys-lru"); err != nil {
		t.Errorf("CheckParam of a good value: %v", err)
	}
	if !SettableParam("save") || !SettableParam("REQUIREPASS") || SettableParam("port") || SettableParam("nosuch") {
		t.Error("SettableParam")
	}
}

// startRedisWithFile starts redis-server with the configuration file path
// (in its directory) and returns a connection to it.
func startRedisWithFile(t *testing.T, path string) *respclient.Conn {
	t.Helper()
	bin, err := proc.RedisServer()
	if err != nil {
		t.Fatal(err)
	}
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--daemonize", "no",
		"--logfile", "")
	cmd.Dir = filepath.Dir(path)
	p, err := proc.Start(cmd, proc.LocalAddr(port), proc.StartTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return dialConfig(t, p.Addr)
}

// paramLines returns the lines of text that set one of names, by name.
func paramLines(t *testing.T, text string, names ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, l := range strings.Split(text, "\n") {
		args, skip, err := redisconf.ParseLine(l)
		if err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if skip {
			continue
		}
		for _, n := range names {
			if strings.EqualFold(args[0], n) {
				out[n] = append(out[n], l)
			}
		}
	}
	return out
}

// TestConfigRewriteAgainstRedis compares CONFIG REWRITE with
// redis-server's: the error without a config file, and, from the same
// file after the same CONFIG SETs, the lines of the changed parameters
// and the comments kept (Redis also appends settings Shoal does not have,
// which are not compared).
func TestConfigRewriteAgainstRedis(t *testing.T) {
	r := dialConfig(t, testutil.StartRedis(t).Addr)
	s := startConfigServer(t, DefaultConfig())
	for _, args := range [][]any{{"CONFIG", "REWRITE"}, {"CONFIG", "REWRITE", "x"}} {
		if got, want := replyText(t, s, args...), replyText(t, r, args...); got != want {
			t.Errorf("%v without a config file: Shoal %q, Redis %q", args, got, want)
		}
	}

	orig := "# a comment\nmaxmemory 1mb\n# another\nsave 900 1\nsave 300 10\nmaxmemory-policy allkeys-lru\n"
	rdir, sdir := t.TempDir(), t.TempDir()
	rpath, spath := filepath.Join(rdir, "redis.conf"), filepath.Join(sdir, "shoal.conf")
	for _, p := range []string{rpath, spath} {
		if err := os.WriteFile(p, []byte(orig), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r = startRedisWithFile(t, rpath)
	cfg := DefaultConfig()
	cfg.ConfigFile = spath
	cfg.MaxMemory = 1 << 20
	cfg.Params = map[string]string{"save": "900 1 300 10", "maxmemory-policy": "allkeys-lru"}
	s = startConfigServer(t, cfg)
	names := []string{"maxmemory", "save", "maxmemory-policy", "requirepass"}
	for _, set := range [][]any{
		{"maxmemory", "100mb", "save", "3600 1", "requirepass", "a b\"c\\\x01"},
		{"maxmemory", "12345", "save", "", "maxmemory-policy", "volatile-lfu"},
		{"maxmemory", "3gb", "maxmemory-policy", "allkeys-lru", "requirepass", "plain"},
	} {
		for _, c := range []*respclient.Conn{r, s} {
			do(t, c, append([]any{"CONFIG", "SET"}, set...)...)
			do(t, c, "CONFIG", "REWRITE")
		}
		rtext, stext := readFile(t, rpath), readFile(t, spath)
		rl, sl := paramLines(t, rtext, names...), paramLines(t, stext, names...)
		if !reflect.DeepEqual(rl, sl) {
			t.Errorf("after CONFIG SET %q, lines of %v:\nShoal %q\nRedis %q\nShoal's file:\n%s\nRedis's file:\n%s",
				set, names, sl, rl, stext, rtext)
		}
		comments := func(text string) []string {
			var out []string
			for _, l := range strings.Split(text, "\n") {
				if strings.HasPrefix(l, "#") {
					out = append(out, l)
				}
			}
			sort.Strings(out)
			return out
		}
		if rc, sc := comments(rtext), comments(stext); !reflect.DeepEqual(rc, sc) {
			t.Errorf("comments: Shoal %q, Redis %q", sc, rc)
		}
	}
}

// FuzzConfigSplitArgs checks that the config file's argument splitting
// (redisconf.SplitArgs) agrees with the inline request reader's, both being
// Redis's sdssplitargs (the reader's is checked against a live
// redis-server by TestReaderAgainstRedis).
func FuzzConfigSplitArgs(f *testing.F) {
	for _, tc := range readerInlineCases {
		f.Add(tc.line)
	}
	f.Add(`a "b\x41" 'c\'' d"e f"`)
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\x00\n") {
			return // neither reader sees these in a line
		}
		got, ok := redisconf.SplitArgs(line)
		var r reader
		buf := []byte(line)
		rok := r.splitArgs(buf)
		if ok != rok {
			t.Fatalf("%q: redisconf %v (%q), inline reader %v", line, ok, got, rok)
		}
		if !ok {
			return
		}
		want := []string{}
		for _, sp := range r.spans {
			want = append(want, string(buf[sp.off:sp.off+sp.n]))
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: redisconf %q, inline reader %q", line, got, want)
		}
	})
}
