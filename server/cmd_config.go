package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/shard"
)

// RESP error texts of the CONFIG family.
const (
	errConfigNoFile = "ERR The server is running without a config file"

	cfgErrMemory    = "argument must be a memory value"
	cfgErrYesNo     = "argument must be 'yes' or 'no'"
	cfgErrSave      = "Invalid save parameters"
	cfgErrImmutable = "can't set immutable config"
	cfgErrDuplicate = "duplicate parameter"
	// cfgErrClusterMap heads the error of a cluster-wide CONFIG SET whose
	// map change failed (Admin.SetClusterConfig's error follows).
	cfgErrClusterMap = "cannot record the cluster-wide setting in the cluster map: "
	// cfgErrPolicy lists Shoal's ten policies in Redis's order, the FIFO
	// ones after their group.
	cfgErrPolicy = "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, " +
		"volatile-ttl, volatile-fifo, allkeys-lru, allkeys-lfu, allkeys-random, allkeys-fifo, noeviction"
)

// configParam is one parameter CONFIG GET and CONFIG SET know.
type configParam struct {
	name string
	get  func(s *Server) string
	// set validates v and returns the function that applies it, or an
	// error text (Redis's wording). Nil for parameters Shoal cannot change
	// while running.
	set func(s *Server, v string) (apply func(), errMsg string)
	// cluster marks the cluster-wide parameters: in cluster mode CONFIG
	// SET records them in the map (Admin.SetClusterConfig) and every node
	// applies them (ApplyClusterConfig). The others stay per node.
	cluster bool
}

// configParams are Shoal's parameters, in CONFIG GET's order for patterns.
var configParams = []*configParam{
	{name: "maxmemory", get: func(s *Server) string { return strconv.FormatInt(s.maxMemory.Load(), 10) },
		set: setMaxMemory, cluster: true},
	{name: "maxmemory-policy", get: func(s *Server) string { return s.policyNow().String() },
		set: setMaxMemoryPolicy, cluster: true},
	{name: "maxmemory-samples", get: func(s *Server) string { return strconv.Itoa(s.cfg.MaxMemorySamples) }},
	{name: "requirepass", get: func(s *Server) string { return s.currentPassword() },
		set: func(s *Server, v string) (func(), string) {
			return func() { s.password.Store(&v); s.aclRequirePass(v) }, ""
		}},
	{name: "save", get: func(s *Server) string { e := s.extra(); e.mu.Lock(); defer e.mu.Unlock(); return e.save },
		set: setSave},
	{name: "appendonly", get: func(s *Server) string {
		e := s.extra()
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.appendonly
	}, set: setAppendOnly},
	{name: "port", get: func(s *Server) string { _, p := s.hostPort(); return p }},
	{name: "bind", get: func(s *Server) string { h, _ := s.hostPort(); return h }},
	{name: "dir", get: configDir},
	{name: "databases", get: func(*Server) string { return "1" }},
	{name: "hz", get: func(s *Server) string { return strconv.Itoa(s.hz()) }},
	{name: "cluster-enabled", get: func(s *Server) string {
		if s.clusterEnabled() {
			return "yes"
		}
		return "no"
	}},
	{name: "notify-keyspace-events", get: func(*Server) string { return "" }},
	// Introspection (stats_cmd.go).
	{name: "slowlog-max-len", get: getIntroInt(slowlogMaxOf), set: setIntroInt(slowlogMaxOf, 0), cluster: true},
	{name: "slowlog-log-slower-than", get: getIntroInt(slowlogThrOf), set: setIntroInt(slowlogThrOf, -1), cluster: true},
	{name: "latency-monitor-threshold", get: getIntroInt(latencyThrOf), set: setIntroInt(latencyThrOf, 0), cluster: true},
	{name: "latency-tracking", get: getLatencyTracking, set: setLatencyTracking, cluster: true},
	{name: "latency-tracking-info-percentiles", get: getPercentiles, set: setPercentiles, cluster: true},
}

func init() { configParams = append(configParams, limitParams...) }

// lookupConfig finds a parameter by name, case-insensitively.
func lookupConfig(name string) *configParam {
	for _, p := range configParams {
		if strings.EqualFold(p.name, name) {
			return p
		}
	}
	return nil
}

func init() {
	sub := func(name string, arity int, flags command.Flag, acl []string, run func(*command.Ctx, [][]byte)) *command.Command {
		return &command.Command{Name: "config|" + name, Arity: arity, Kind: command.KindLocal, Flags: flags, ACL: acl, Run: run}
	}
	adm := command.FlagAdmin | command.FlagNoScript | command.FlagLoading | command.FlagStale
	admACL := []string{"admin", "slow", "dangerous"}
	command.Register(&command.Command{Name: "config", Arity: -2, Kind: command.KindLocal, ACL: []string{"slow"},
		Subs: []*command.Command{
			sub("get", -3, adm, admACL, configGetCommand),
			sub("set", -4, adm, admACL, configSetCommand),
			sub("resetstat", 2, adm, admACL, configResetStatCommand),
			sub("rewrite", 2, adm, admACL, configRewriteCommand),
			sub("help", 2, command.FlagLoading|command.FlagStale, []string{"slow"}, configHelpCommand),
		}})
}

// configGetCommand: CONFIG GET parameter [parameter ...]. A name without
// glob characters is echoed as given; patterns match case-insensitively and
// reply the parameters' own names.
func configGetCommand(x *command.Ctx, args [][]byte) {
	type match struct {
		name string
		p    *configParam
	}
	var found []match
	seen := func(name string) bool {
		for _, m := range found {
			if strings.EqualFold(m.name, name) {
				return true
			}
		}
		return false
	}
	for _, a := range args[2:] {
		pat := string(a)
		if !strings.ContainsAny(pat, "[*?") {
			if p := lookupConfig(pat); p != nil && !seen(pat) {
				found = append(found, match{pat, p})
			}
			continue
		}
		for _, p := range configParams {
			if !seen(p.name) && command.GlobMatchFold(pat, p.name) {
				found = append(found, match{p.name, p})
			}
		}
	}
	x.MapHeader(len(found))
	for _, m := range found {
		x.BulkString(m.name)
		x.BulkString(m.p.get(srvOf(x)))
	}
}

// configSetCommand: CONFIG SET parameter value [parameter value ...]. All or
// nothing: every value is validated before any is applied. In cluster mode
// the cluster-wide parameters (configParam.cluster) go into the map in one
// change through the router's Admin, which applies them on this node
// before it returns (and every other node applies them from its map); the
// per-node ones are applied here only once that succeeded.
func configSetCommand(x *command.Ctx, args [][]byte) {
	if len(args)%2 != 0 {
		x.Err(command.ErrSyntax)
		return
	}
	n := (len(args) - 2) / 2
	params := make([]*configParam, n)
	for i := 0; i < n; i++ {
		name := string(args[2+2*i])
		p := lookupConfig(name)
		if p == nil {
			x.Err(command.Sanitize([]byte("ERR Unknown option or number of arguments for CONFIG SET - '" + truncNULString(name) + "'")))
			return
		}
		if p.set == nil {
			x.Err(configSetError(name, cfgErrImmutable))
			return
		}
		for _, q := range params[:i] {
			if q == p {
				x.Err(configSetError(name, cfgErrDuplicate))
				return
			}
		}
		params[i] = p
	}
	s := srvOf(x)
	applies := make([]func(), n)
	for i, p := range params {
		apply, msg := p.set(s, string(args[3+2*i]))
		if msg != "" {
			x.Err(configSetError(p.name, msg))
			return
		}
		applies[i] = apply
	}
	tlsApply, blame, msg := s.tlsSetCheck(args[2:]) // tls.go: tls-* values go together
	if msg != "" {
		x.Err(configSetError(blame, msg))
		return
	}
	applies = append(applies, tlsApply)
	if a := s.clusterConfigAdmin(); a != nil {
		var shared map[string]string
		first := ""
		for i, p := range params {
			if !p.cluster {
				continue
			}
			if shared == nil {
				shared, first = make(map[string]string), p.name
			}
			shared[p.name] = string(args[3+2*i])
			applies[i] = nil // the Admin applies it, from the map
		}
		if shared != nil {
			ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
			err := a.SetClusterConfig(ctx, shared)
			cancel()
			if err != nil {
				x.Err(configSetError(first, cfgErrClusterMap+command.Sanitize([]byte(err.Error()))))
				return
			}
		}
	}
	for _, apply := range applies {
		if apply != nil {
			apply()
		}
	}
	x.OK()
}

// clusterConfigAdmin returns the Admin that records cluster-wide settings:
// the router's, in cluster mode; nil for a standalone node (or a cluster
// router without one), which sets every parameter locally.
func (s *Server) clusterConfigAdmin() Admin {
	if !s.router.ClusterEnabled() {
		return nil
	}
	return s.router.Admin()
}

// ApplyClusterConfig applies the cluster-wide settings kv (parameter name
// to value, as the map's Config holds them) through the parameters'
// CONFIG SET setters, so that they are in force as if set here. Names that
// are not cluster-wide parameters (per-node ones such as requirepass or
// port, or ones this version does not know) are ignored, and a value the
// setter refuses leaves its parameter unchanged; both are reported in the
// error, the other settings applied regardless. Safe to call concurrently
// with commands (the setters store atomically); a node calls it from one
// goroutine at a time, in map order.
func (s *Server) ApplyClusterConfig(kv map[string]string) error {
	var errs []error
	for name, v := range kv {
		p := lookupConfig(name)
		if p == nil || !p.cluster || p.set == nil {
			errs = append(errs, fmt.Errorf("%w: %q", ErrNotClusterConfig, name))
			continue
		}
		apply, msg := p.set(s, v)
		if msg != "" {
			errs = append(errs, fmt.Errorf("%w: %s %q: %s", ErrBadClusterConfig, p.name, v, msg))
			continue
		}
		apply()
	}
	return errors.Join(errs...)
}

// configSetError formats Redis's CONFIG SET failure.
func configSetError(name, msg string) string {
	return command.Sanitize([]byte("ERR CONFIG SET failed (possibly related to argument '" + truncNULString(name) + "') - " + msg))
}

// truncNULString returns s up to its first NUL byte, as C's %s prints it.
func truncNULString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

func setMaxMemory(s *Server, v string) (func(), string) {
	n, ok := memToInt(v)
	if !ok {
		return nil, cfgErrMemory
	}
	return func() { s.maxMemory.Store(n) }, ""
}

// memToInt parses a memory value as Redis's memtoull: digits with an
// optional unit b, k, kb, m, mb, g or gb (case-insensitive; k = 1000,
// kb = 1024). The empty string is 0; signs, fractions and spaces are
// errors. Values beyond int64 saturate.
func memToInt(v string) (int64, bool) {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	var mul uint64
	switch strings.ToLower(v[i:]) {
	case "", "b":
		mul = 1
	case "k":
		mul = 1000
	case "kb":
		mul = 1024
	case "m":
		mul = 1000 * 1000
	case "mb":
		mul = 1024 * 1024
	case "g":
		mul = 1000 * 1000 * 1000
	case "gb":
		mul = 1024 * 1024 * 1024
	default:
		return 0, false
	}
	if i >= 128 {
		return 0, false
	}
	var n uint64
	if i > 0 {
		var err error
		n, err = strconv.ParseUint(v[:i], 10, 64)
		if err != nil {
			n = math.MaxUint64 // strtoull saturates
		}
	}
	n *= mul // wraps like C
	if n > math.MaxInt64 {
		return math.MaxInt64, true
	}
	return int64(n), true
}

func setMaxMemoryPolicy(s *Server, v string) (func(), string) {
	p, err := shard.ParsePolicy(v)
	if err != nil {
		return nil, cfgErrPolicy
	}
	return func() { s.policy.Store(uint32(p)) }, ""
}

// setSave accepts Redis's save syntax ("seconds changes" pairs, or "" for
// none). Shoal persists through Raft snapshots, so the value is only kept
// for CONFIG GET.
func setSave(s *Server, v string) (func(), string) {
	f := strings.Fields(v)
	if len(f)%2 != 0 {
		return nil, cfgErrSave
	}
	out := make([]string, len(f))
	for j, a := range f {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || (j%2 == 0 && n < 1) || (j%2 == 1 && n < 0) {
			return nil, cfgErrSave
		}
		out[j] = strconv.FormatInt(n, 10)
	}
	norm := strings.Join(out, " ")
	return func() {
		e := s.extra()
		e.mu.Lock()
		e.save = norm
		e.mu.Unlock()
	}, ""
}

// setAppendOnly accepts yes or no; Shoal has no AOF (the Raft log plays its
// part), so the value is only kept for CONFIG GET.
func setAppendOnly(s *Server, v string) (func(), string) {
	var val string
	switch {
	case strings.EqualFold(v, "yes"):
		val = "yes"
	case strings.EqualFold(v, "no"):
		val = "no"
	default:
		return nil, cfgErrYesNo
	}
	return func() {
		e := s.extra()
		e.mu.Lock()
		e.appendonly = val
		e.mu.Unlock()
	}, ""
}

// hostPort returns the host and port the server listens on.
func (s *Server) hostPort() (string, string) {
	if s.ln == nil {
		return "", "0"
	}
	h, p, err := net.SplitHostPort(s.ln.Addr().String())
	if err != nil {
		return "", "0"
	}
	return h, p
}

// hz is the active-expiry frequency, Redis's hz.
func (s *Server) hz() int {
	if s.cfg.ExpiryInterval <= 0 {
		return 10
	}
	return max(int(time.Second/s.cfg.ExpiryInterval), 1)
}

// configDir is the data directory, or the working directory when Shoal
// keeps everything in memory.
func configDir(s *Server) string {
	if s.cfg.DataDir != "" {
		return s.cfg.DataDir
	}
	wd, _ := os.Getwd()
	return wd
}

// configResetStatCommand: CONFIG RESETSTAT.
func configResetStatCommand(x *command.Ctx, args [][]byte) {
	s := srvOf(x)
	st := &s.stats
	for _, c := range []interface{ Store(int64) }{&st.connections, &st.commands, &st.keyspaceHits,
		&st.keyspaceMiss, &st.rejected, &st.netInput, &st.netOutput, &st.errorReplies,
		&st.proposals, &st.proposedCmds, &st.holds, &st.holdTimeouts, &s.lim.rejected, &s.lim.evicted, &s.lim.outClosed,
		&s.lim.queryClosed} {
		c.Store(0)
	}
	expired, evicted := s.storeStats()
	e := s.extra()
	e.expiredBase.Store(expired)
	e.expiredFieldsBase.Store(s.expiredFields())
	e.evictedBase.Store(evicted)
	e.peakMemory.Store(0)
	s.intro.resetStats()
	x.OK()
}

var configHelp = []string{
	"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"GET <pattern>",
	"    Return parameters matching the glob-like <pattern> and their values.",
	"SET <directive> <value>",
	"    Set the configuration <directive> to <value>.",
	"RESETSTAT",
	"    Reset statistics reported by the INFO command.",
	"REWRITE",
	"    Rewrite the configuration file.",
	"HELP",
	"    Prints this help.",
}

// configHelpCommand: CONFIG HELP.
func configHelpCommand(x *command.Ctx, args [][]byte) { x.Help(configHelp) }
