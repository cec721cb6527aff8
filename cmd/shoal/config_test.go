package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/internal/node"
	"github.com/shoalcache/shoal/internal/redisconf"
	"github.com/shoalcache/shoal/raftfsm"
)

// parseServerFlags runs `shoal server args...` in-process up to the node's
// configuration (the config file included) and returns it and the file.
func parseServerFlags(t *testing.T, args ...string) (node.Config, *configFile, error) {
	t.Helper()
	var cfg node.Config
	var cf *configFile
	var cfgErr error
	cmd := serverCommand()
	cmd.Action = func(cc *cli.Context) error {
		if cf, cfgErr = loadConfigFile(cc, devCommand().Flags); cfgErr != nil {
			return nil
		}
		cfg, cfgErr = nodeConfig(cc, cf)
		return nil
	}
	app := &cli.App{Name: "shoal", Commands: []*cli.Command{cmd}, Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{}}
	if err := app.Run(append([]string{"shoal", "server"}, args...)); err != nil {
		return cfg, cf, err
	}
	return cfg, cf, cfgErr
}

// writeConf writes a config file in a temporary directory.
func writeConf(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shoal.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEnvVarsOnEveryFlag(t *testing.T) {
	for _, cmd := range []*cli.Command{serverCommand(), devCommand()} {
		for _, f := range cmd.Flags {
			df, ok := f.(cli.DocGenerationFlag)
			want := envVar(f.Names()[0])
			if !ok || !reflect.DeepEqual(df.GetEnvVars(), []string{want}) {
				t.Errorf("%s --%s: EnvVars %v, want %s", cmd.Name, f.Names()[0], df.GetEnvVars(), want)
			}
		}
	}
	if envVar("cluster-port") != "SHOAL_CLUSTER_PORT" {
		t.Errorf("envVar(cluster-port) = %s", envVar("cluster-port"))
	}
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"shoal", "server", "--help"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[$SHOAL_CLUSTER_PORT]", "[$SHOAL_MAXMEMORY]", "[$SHOAL_CONFIG]", "--config FILE"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("server --help lacks %s:\n%s", want, out.String())
		}
	}
}

// TestPrecedence: command-line flag > environment variable > config file
// > default, for each kind of flag.
func TestPrecedence(t *testing.T) {
	file := writeConf(t, "maxmemory 1mb\nmaxmemory-policy allkeys-lru\njoin a:1 b:2\njoin c:3\n"+
		"raft-election-timeout 3s\nauto-rebalance yes\nreplicas 2\n")
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(node.Config) bool
	}{
		{"defaults", nil, nil, func(c node.Config) bool {
			return c.Server.MaxMemory == 0 && c.Join == nil && !c.Placement.AutoRebalance && c.Replicas == 1 &&
				c.Group.ElectionTimeout == node.DefaultConfig().Group.ElectionTimeout
		}},
		{"file", nil, []string{"--config", file}, func(c node.Config) bool {
			return c.Server.MaxMemory == 1<<20 && reflect.DeepEqual(c.Join, []string{"a:1", "b:2", "c:3"}) &&
				c.Placement.AutoRebalance && c.Replicas == 2 && c.Group.ElectionTimeout == 3*time.Second &&
				c.Server.MaxMemoryPolicy.String() == "allkeys-lru"
		}},
		{"env over file", map[string]string{"SHOAL_MAXMEMORY": "2mb", "SHOAL_JOIN": "x:1,y:2", "SHOAL_AUTO_REBALANCE": "false"},
			[]string{"--config", file}, func(c node.Config) bool {
				return c.Server.MaxMemory == 2<<20 && reflect.DeepEqual(c.Join, []string{"x:1", "y:2"}) &&
					!c.Placement.AutoRebalance && c.Replicas == 2 // not in the environment: the file's
			}},
		{"flag over env and file", map[string]string{"SHOAL_MAXMEMORY": "2mb", "SHOAL_REPLICAS": "3"},
			[]string{"--config", file, "--maxmemory", "3mb", "--join", "z:9"}, func(c node.Config) bool {
				return c.Server.MaxMemory == 3<<20 && reflect.DeepEqual(c.Join, []string{"z:9"}) && c.Replicas == 3
			}},
		{"env without file", map[string]string{"SHOAL_MAXMEMORY": "4mb"}, nil, func(c node.Config) bool {
			return c.Server.MaxMemory == 4<<20
		}},
		{"config file from the environment", map[string]string{"SHOAL_CONFIG": file}, nil, func(c node.Config) bool {
			return c.Server.MaxMemory == 1<<20 && c.Server.ConfigFile == file
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			cfg, _, err := parseServerFlags(t, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

// TestConfigFileDirectives: Redis's names, CONFIG SET parameters without
// a flag, and shoal dev's directives in a server's file.
func TestConfigFileDirectives(t *testing.T) {
	dataDir := t.TempDir()
	file := writeConf(t, "# Redis's names\n"+
		"port 7001\nbind 0.0.0.0\ndir "+redisconf.Quote(dataDir)+"\nloglevel warning\n"+
		"requirepass \"p w\"\nmaxmemory-samples 10\nhz 100\n"+
		"save 900 1\nsave 300 10\nappendonly yes\n"+
		"# Shoal's own\ncluster-port 17100\nbootstrap-expect 3\nread-consistency leader\nMigrate-Rate 10mb\n"+
		"# shoal dev's\nnodes 5\n")
	var logLevel string
	cmd := serverCommand()
	var cfg node.Config
	var cf *configFile
	cmd.Action = func(cc *cli.Context) error {
		var err error
		if cf, err = loadConfigFile(cc, devCommand().Flags); err != nil {
			return err
		}
		logLevel = cc.String("log-level")
		cfg, err = nodeConfig(cc, cf)
		return err
	}
	app := &cli.App{Name: "shoal", Commands: []*cli.Command{cmd}, Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{}}
	if err := app.Run([]string{"shoal", "server", "--config", file}); err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 7001 || cfg.Bind != "0.0.0.0" || cfg.DataDir != dataDir || logLevel != "warning" ||
		cfg.Server.RequirePass != "p w" || cfg.Server.MaxMemorySamples != 10 || cfg.Server.ExpiryInterval != 10*time.Millisecond ||
		cfg.ClusterPort != 17100 || cfg.BootstrapExpect != 3 || cfg.Migration.RateBytes != 10<<20 || cfg.Server.ConfigFile != file {
		t.Errorf("config %+v (log level %q)", cfg, logLevel)
	}
	if want := map[string]string{"save": "900 1 300 10", "appendonly": "yes"}; !reflect.DeepEqual(cfg.Server.Params, want) {
		t.Errorf("Params %v, want %v", cfg.Server.Params, want)
	}
	if len(cf.Ignored) != 1 || cf.Ignored[0].Name != "nodes" || cf.Ignored[0].Line != 18 {
		t.Errorf("ignored %+v", cf.Ignored)
	}
}

func TestConfigFileErrors(t *testing.T) {
	cases := []struct {
		text string
		line int
		why  string
	}{
		{"port 7000\n# x\nmaxmemry 1mb\n", 3, `"maxmemry" is not a flag of ` + "`shoal server`"},
		{"port 1 2\n", 1, "wrong number of arguments"},
		{"port\n", 1, "wrong number of arguments"},
		{"bind 127.0.0.1 ::1\n", 1, "Shoal listens on one address"},
		{"join\n", 1, "wrong number of arguments"},
		{"\nport abc\n", 2, `invalid value "abc" for port`},
		{"auto-rebalance maybe\n", 1, `invalid value "maybe" for auto-rebalance`},
		{"maxmemory 100mb\nmaxmemory 1x\n", 2, `"1x" is not a memory size`},
		{"maxmemory-policy lru\n", 1, `"lru" is not a policy`},
		{"hz 1000\n", 1, "1000 is not in [1, 500]"},
		{"save 900 1\nsave 300\n", 2, "Invalid save parameters"},
		{"appendonly maybe\n", 1, "argument must be 'yes' or 'no'"},
		{"requirepass \"x\n", 1, "Unbalanced quotes"},
		{"include\n", 1, "include takes one file name"},
		{"config other.conf\n", 1, `"config" is not a flag`},
		{"port 1\nloglevel loud\n", 2, `log level "loud"`},
		{"log-format xml\n", 1, `log format "xml"`},
		{"id 12\n", 1, "--id must be 40 hex characters"},
	}
	for _, c := range cases {
		file := writeConf(t, c.text)
		var err error
		if strings.HasPrefix(c.text, "port 1\nloglevel") || strings.HasPrefix(c.text, "log-format") {
			// Checked when the logger is made.
			cmd := serverCommand()
			cmd.Action = func(cc *cli.Context) error {
				cf, err := loadConfigFile(cc, nil)
				if err != nil {
					return err
				}
				_, _, err = serverLogger(cc, cf)
				return err
			}
			app := &cli.App{Name: "shoal", Commands: []*cli.Command{cmd}, Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{}}
			err = app.Run([]string{"shoal", "server", "--config", file})
		} else {
			_, _, err = parseServerFlags(t, "--config", file)
		}
		var ce *redisconf.Error
		if !errors.As(err, &ce) || ce.File != file || ce.Line != c.line || !strings.Contains(err.Error(), c.why) ||
			!strings.Contains(err.Error(), "FATAL CONFIG FILE ERROR") {
			t.Errorf("%q: error %v, want line %d: %s", c.text, err, c.line, c.why)
		}
	}
	if _, _, err := parseServerFlags(t, "--config", filepath.Join(t.TempDir(), "none.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// Without a file, a bad flag is reported as the flag's.
	if _, _, err := parseServerFlags(t, "--maxmemory", "1x"); err == nil || err.Error() != `--maxmemory: "1x" is not a memory size` {
		t.Errorf("bad flag: %v", err)
	}
	if _, _, err := parseServerFlags(t, "--id", "12"); err == nil || err.Error() != "--id must be 40 hex characters" {
		t.Errorf("bad --id: %v", err)
	}
}

func TestDevConfigFile(t *testing.T) {
	file := writeConf(t, "nodes 4\nport 8000\ndir rel/dir\nmaxmemory 1mb\nsave 900 1\nauto-rebalance yes\nlog-format text\ngomaxprocs 2\n")
	cfg, err := parseDevFlags(t, "--config", file, "--port", "9000")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if cfg.Nodes != 4 || cfg.Port != 9000 || cfg.DataDir != filepath.Join(wd, "rel/dir") || cfg.ConfigFile != file ||
		cfg.LogFormat != "text" {
		t.Errorf("dev config %+v", cfg)
	}
	want := "server --port 9001 --bind 127.0.0.1 --bootstrap-expect 4 --join 127.0.0.1:29000 --data-dir " +
		filepath.Join(wd, "rel/dir", "node1") + " --log-format text --config " + file + " --gomaxprocs 2"
	if got := strings.Join(cfg.childArgs(1), " "); got != want {
		t.Errorf("node 1: %q, want %q", got, want)
	}

	for text, why := range map[string]string{
		"nodes 3\ncluster-port 17000\n": "cluster-port cannot be shared by the nodes of shoal dev",
		"id " + strings.Repeat("a", 40): "id cannot be shared",
		"logfile /tmp/x.log\n":          "logfile cannot be shared",
		"nodes 3\nbogus 1\n":            `"bogus" is not a flag of ` + "`shoal dev`",
		"save 1\n":                      "Invalid save parameters",
	} {
		_, err := parseDevFlags(t, "--config", writeConf(t, text))
		var ce *redisconf.Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: %v, want %s", text, err, why)
		}
	}
	t.Setenv("SHOAL_GOSSIP_PORT", "27000")
	if _, err := parseDevFlags(t); err == nil || !strings.Contains(err.Error(), "$SHOAL_GOSSIP_PORT cannot be shared") {
		t.Errorf("SHOAL_GOSSIP_PORT: %v", err)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"shoal", "--version"}, {"shoal", "version"}} {
		var out bytes.Buffer
		app := newApp()
		app.Writer = &out
		if err := app.Run(args); err != nil {
			t.Fatal(err)
		}
		if want := "shoal version " + appVersion() + "\n"; out.String() != want {
			t.Errorf("%v: %q, want %q", args, out.String(), want)
		}
		if !strings.HasPrefix(out.String(), "shoal version "+version+" ") {
			t.Errorf("%v: %q lacks the version", args, out.String())
		}
	}
}

// TestGoMaxProcsFlag checks that --gomaxprocs, from the command line or a
// config file, sets GOMAXPROCS, that 0 leaves Go's default, and that a
// negative number is refused.
func TestGoMaxProcsFlag(t *testing.T) {
	orig := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(orig) })
	run := func(cmd *cli.Command, args ...string) error {
		t.Helper()
		runtime.GOMAXPROCS(orig)
		var err error
		cmd.Action = func(cc *cli.Context) error {
			var cf *configFile
			if cmd.Name == "server" {
				if cf, err = loadConfigFile(cc, devCommand().Flags); err != nil {
					return nil
				}
			}
			err = setGoMaxProcs(cc, cf)
			return nil
		}
		app := &cli.App{Name: "shoal", Commands: []*cli.Command{cmd}, Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{}}
		if rerr := app.Run(append([]string{"shoal", cmd.Name}, args...)); rerr != nil {
			return rerr
		}
		return err
	}
	want := orig + 1 // differs from Go's default
	proxy := []string{"--cluster", "127.0.0.1:7000"}
	for _, tc := range []struct {
		cmd  func() *cli.Command
		args []string
		want int
	}{
		{serverCommand, nil, orig},
		{serverCommand, []string{"--gomaxprocs", "0"}, orig},
		{serverCommand, []string{"--gomaxprocs", strconv.Itoa(want)}, want},
		{serverCommand, []string{"--config", writeConf(t, "gomaxprocs "+strconv.Itoa(want)+"\n")}, want},
		{proxyCommand, proxy, orig},
		{proxyCommand, append(proxy, "--gomaxprocs", strconv.Itoa(want)), want},
	} {
		cmd := tc.cmd()
		if err := run(cmd, tc.args...); err != nil {
			t.Fatalf("%s %q: %v", cmd.Name, tc.args, err)
		}
		if got := runtime.GOMAXPROCS(0); got != tc.want {
			t.Errorf("%s %q: GOMAXPROCS %d, want %d", cmd.Name, tc.args, got, tc.want)
		}
	}
	for _, tc := range []struct {
		cmd  *cli.Command
		args []string
	}{{serverCommand(), nil}, {proxyCommand(), proxy}} {
		if err := run(tc.cmd, append(tc.args, "--gomaxprocs", "-2")...); err == nil || !strings.Contains(err.Error(), "gomaxprocs") {
			t.Errorf("%s --gomaxprocs -2: %v, want an error naming gomaxprocs", tc.cmd.Name, err)
		}
	}
}

// TestRaftReadLeaseFlag checks --raft-read-lease: auto is 4/5 of the
// heartbeat timeout (following --raft-heartbeat-timeout), 0 turns leases
// off, and a lease at or above the heartbeat timeout is refused.
func TestRaftReadLeaseFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
		ok   bool
	}{
		{nil, 400 * time.Millisecond, true},
		{[]string{"--raft-heartbeat-timeout", "1s", "--raft-election-timeout", "1s"}, 800 * time.Millisecond, true},
		{[]string{"--raft-read-lease", "0"}, 0, true},
		{[]string{"--raft-read-lease", "300ms"}, 300 * time.Millisecond, true},
		{[]string{"--raft-read-lease", "500ms"}, 0, false},
		{[]string{"--raft-read-lease", "-1s"}, 0, false},
		{[]string{"--raft-read-lease", "soon"}, 0, false},
	} {
		cfg, _, err := parseServerFlags(t, tc.args...)
		if tc.ok && (err != nil || cfg.Group.ReadLease != tc.want) {
			t.Errorf("%v: ReadLease %v, %v; want %v", tc.args, cfg.Group.ReadLease, err, tc.want)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "raft-read-lease")) {
			t.Errorf("%v: %v, want an error naming raft-read-lease", tc.args, err)
		}
	}
}

// TestRaftCohortWaitFlag checks --raft-cohort-wait: 2ms by default, 0 turns
// the wait off, a negative wait is refused.
func TestRaftCohortWaitFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
		ok   bool
	}{
		{nil, 2 * time.Millisecond, true},
		{[]string{"--raft-cohort-wait", "0"}, 0, true},
		{[]string{"--raft-cohort-wait", "500us"}, 500 * time.Microsecond, true},
		{[]string{"--raft-cohort-wait", "-1ms"}, 0, false},
	} {
		cfg, _, err := parseServerFlags(t, tc.args...)
		if tc.ok && (err != nil || cfg.Group.CohortWait != tc.want) {
			t.Errorf("%v: CohortWait %v, %v; want %v", tc.args, cfg.Group.CohortWait, err, tc.want)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "raft-cohort-wait")) {
			t.Errorf("%v: %v, want an error naming raft-cohort-wait", tc.args, err)
		}
	}
}

// TestRaftCompactionFlags checks the hidden --raft-trailing-bytes and
// --raft-compact-min-bytes (the Jepsen pause-snapshot phase's): sizes with
// units, the defaults when unset, and errors that name the flag.
func TestRaftCompactionFlags(t *testing.T) {
	def := raftfsm.DefaultConfig()
	trailing := func(c node.Config) [3]int64 { return [3]int64{c.Group.TrailingBytes, 0, 0} }
	compact := func(c node.Config) [3]int64 {
		return [3]int64{c.Group.CompactMinBytes, c.Group.CompactMinBytesMemory, c.Group.CompactMinBytesSole}
	}
	for _, tc := range []struct {
		flag string
		args []string
		get  func(node.Config) [3]int64
		want [3]int64 // ignored when the flag's value is refused
		ok   bool
	}{
		{"raft-trailing-bytes", nil, trailing, [3]int64{8 << 20, 0, 0}, true},
		{"raft-trailing-bytes", []string{"--raft-trailing-bytes", "4kb"}, trailing, [3]int64{4 << 10, 0, 0}, true},
		{"raft-trailing-bytes", []string{"--raft-trailing-bytes", "0"}, trailing, [3]int64{0, 0, 0}, true},
		{"raft-trailing-bytes", []string{"--raft-trailing-bytes", "lots"}, trailing, [3]int64{}, false},
		{"raft-compact-min-bytes", nil, compact, [3]int64{def.CompactMinBytes, def.CompactMinBytesMemory, def.CompactMinBytesSole}, true},
		{"raft-compact-min-bytes", []string{"--raft-compact-min-bytes", "32kb"}, compact, [3]int64{32 << 10, 32 << 10, 32 << 10}, true},
		{"raft-compact-min-bytes", []string{"--raft-compact-min-bytes", "-1"}, compact, [3]int64{}, false},
	} {
		cfg, _, err := parseServerFlags(t, tc.args...)
		if tc.ok && (err != nil || tc.get(cfg) != tc.want) {
			t.Errorf("%v: %v, %v; want %v", tc.args, tc.get(cfg), err, tc.want)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), tc.flag)) {
			t.Errorf("%v: %v, want an error naming %s", tc.args, err, tc.flag)
		}
	}
}
