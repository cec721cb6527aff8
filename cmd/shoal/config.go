package main

// Settings of `shoal server` and `shoal dev` from the environment
// (SHOAL_<FLAG>) and from a redis.conf-style file (--config). Precedence:
// command-line flag > environment variable > config file > default.
// urfave/cli does the first two (EnvVars); the file is applied after flag
// parsing with cc.Set, only to flags neither the command line nor the
// environment set (cc.IsSet), so the precedence is urfave's own.

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/internal/redisconf"
	"github.com/shoalcache/shoal/server"
)

// envVar is the environment variable of a flag: SHOAL_ and its name in
// upper case with '_' for '-' (cluster-port: SHOAL_CLUSTER_PORT).
func envVar(flag string) string {
	return "SHOAL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// withEnvVars gives every flag without EnvVars its SHOAL_<NAME> variable
// (urfave shows it in --help) and returns flags. Every urfave flag type
// has an EnvVars []string field; a flag without one panics at startup.
func withEnvVars(flags []cli.Flag) []cli.Flag {
	for _, f := range flags {
		v := reflect.ValueOf(f)
		var field reflect.Value
		if v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
			field = v.Elem().FieldByName("EnvVars")
		}
		if !field.IsValid() || field.Type() != reflect.TypeOf([]string(nil)) {
			panic(fmt.Sprintf("flag %s (%T) has no EnvVars field", f.Names()[0], f))
		}
		if field.Len() == 0 {
			field.Set(reflect.ValueOf([]string{envVar(f.Names()[0])}))
		}
	}
	return flags
}

// configFlag is --config, of `shoal server` and `shoal dev`.
func configFlag() cli.Flag {
	return &cli.StringFlag{Name: "config", TakesFile: true,
		Usage: "read settings from `FILE`, in redis.conf's format: a directive and its value a line, the directive a flag's " +
			"name or Redis's (port, bind, dir, maxmemory, requirepass, save, loglevel...); flags and SHOAL_* variables override it"}
}

// redisAliases are Redis's directive names for Shoal flags of another name.
var redisAliases = map[string]string{"dir": "data-dir", "loglevel": "log-level", "logfile": "log-file"}

// configFile is what a --config file set.
type configFile struct {
	// Path is the file's absolute path; "" without --config.
	Path string
	// Params are directives with no flag that CONFIG SET knows (save,
	// appendonly), for server.Config.Params: values are the directive's
	// arguments joined with spaces.
	Params map[string]string
	// Ignored are directives for the other command (`shoal dev`'s nodes
	// in a file given to `shoal server`).
	Ignored []redisconf.Directive
	// from is the directive that set each flag the file set (the last
	// one, for flags given several times).
	from map[string]redisconf.Directive
}

// errorf reports a bad value of the flag name: at the file's line when
// the file set it, else as the flag's.
func (cf *configFile) errorf(name, format string, args ...any) error {
	if d, ok := cf.from[name]; ok {
		return d.Errorf(format, args...)
	}
	return fmt.Errorf("--"+name+": "+format, args...)
}

// wrap returns err at the file's line when the file set the flag name,
// else err as it is (its text names the flag).
func (cf *configFile) wrap(name string, err error) error {
	if d, ok := cf.from[name]; ok {
		return d.Errorf("%v", err)
	}
	return err
}

// loadConfigFile reads the --config file of the command running in cc, if
// any, and sets the flags it names that neither the command line nor the
// environment set. A directive may be a flag of the command (by any of its
// names), one of Redis's names in redisAliases, a parameter CONFIG SET
// knows (for the server: Params), or a flag of the other command in other
// (Ignored). Anything else is an error naming the file and line, as
// Redis's FATAL CONFIG FILE ERROR.
func loadConfigFile(cc *cli.Context, other []cli.Flag) (*configFile, error) {
	cf := &configFile{Params: map[string]string{}, from: map[string]redisconf.Directive{}}
	path := cc.String("config")
	if path == "" {
		return cf, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	cf.Path = abs
	ds, err := redisconf.Parse(abs)
	if err != nil {
		return nil, err
	}
	flags := flagsByName(cc.Command.Flags)
	others := flagsByName(other)
	type setting struct {
		flag   cli.Flag
		values []string
	}
	var order []string // flags in the order the file first sets them
	settings := map[string]*setting{}
	paramFrom := map[string]redisconf.Directive{}
	for _, d := range ds {
		name := d.Name
		if alias, ok := redisAliases[name]; ok {
			name = alias
		}
		f := flags[name]
		if f == nil {
			switch {
			case server.SettableParam(name):
				v := strings.Join(d.Args, " ")
				if prev := cf.Params[name]; name == "save" && prev != "" && v != "" {
					v = prev + " " + v // save lines add up, as in Redis
				}
				cf.Params[name], paramFrom[name] = v, d
			case others[name] != nil:
				cf.Ignored = append(cf.Ignored, d)
			default:
				return nil, d.Errorf("Bad directive or wrong number of arguments: %q is not a flag of `shoal %s` "+
					"nor a Redis setting Shoal has (see shoal %s --help)", d.Name, cc.Command.Name, cc.Command.Name)
			}
			continue
		}
		canon := f.Names()[0]
		s := settings[canon]
		if s == nil {
			s = &setting{flag: f}
			settings[canon] = s
			order = append(order, canon)
		}
		cf.from[canon] = d
		if isMultiValue(f) {
			if len(d.Args) == 0 {
				return nil, d.Errorf("wrong number of arguments")
			}
			s.values = append(s.values, d.Args...)
			continue
		}
		if len(d.Args) != 1 {
			if canon == "bind" && len(d.Args) > 1 {
				return nil, d.Errorf("wrong number of arguments: Shoal listens on one address")
			}
			return nil, d.Errorf("wrong number of arguments")
		}
		v := d.Args[0]
		if _, ok := f.(*cli.BoolFlag); ok {
			switch strings.ToLower(v) {
			case "yes":
				v = "true"
			case "no":
				v = "false"
			}
		}
		s.values = []string{v} // the last line wins, as in Redis
	}
	for name, v := range cf.Params {
		if err := server.CheckParam(name, v); err != nil {
			return nil, paramFrom[name].Errorf("%v", err)
		}
	}
	for _, name := range order {
		if cc.IsSet(name) {
			delete(cf.from, name) // the command line or the environment wins
			continue
		}
		for _, v := range settings[name].values {
			if err := cc.Set(name, v); err != nil {
				return nil, cf.from[name].Errorf("invalid value %q for %s: %v", v, name, err)
			}
		}
	}
	return cf, nil
}

// flagsByName indexes flags by each of their names, without help and
// config (a config file cannot name another: use include).
func flagsByName(flags []cli.Flag) map[string]cli.Flag {
	m := map[string]cli.Flag{}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != "help" && n != "h" && n != "config" {
				m[n] = f
			}
		}
	}
	return m
}

// isMultiValue reports whether f takes several values (a slice flag):
// its directive's arguments and lines add up.
func isMultiValue(f cli.Flag) bool {
	switch f.(type) {
	case *cli.StringSliceFlag, *cli.IntSliceFlag, *cli.Int64SliceFlag, *cli.UintSliceFlag, *cli.Uint64SliceFlag,
		*cli.Float64SliceFlag:
		return true
	}
	return false
}

// perNodeSettings are server settings every node of `shoal dev` must have
// its own of: a config file or environment shared by the nodes must not
// set them.
var perNodeSettings = []struct{ name, why string }{
	{"id", "each node needs its own id"},
	{"cluster-port", "shoal dev gives node i port+i+10000"},
	{"gossip-port", "shoal dev gives node i port+i+20000"},
	{"log-file", "shoal dev writes node i's log to node<i>.log or the console"},
	{"metrics-addr", "use shoal dev --metrics-port: node i serves metrics on PORT+i"},
}

// checkSharedSettings fails when the file or environment given to every
// node of `shoal dev` sets a per-node setting.
func checkSharedSettings(cf *configFile) error {
	for _, s := range perNodeSettings {
		for _, d := range cf.Ignored {
			name := d.Name
			if alias, ok := redisAliases[name]; ok {
				name = alias
			}
			if name == s.name {
				return d.Errorf("%s cannot be shared by the nodes of shoal dev: %s", d.Name, s.why)
			}
		}
		if v := envVar(s.name); os.Getenv(v) != "" {
			return fmt.Errorf("$%s cannot be shared by the nodes of shoal dev: %s", v, s.why)
		}
	}
	return nil
}
