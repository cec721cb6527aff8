package server

import (
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shoalcache/shoal/command"
)

// Client limits, as Redis 7.0's: client-output-buffer-limit, maxclients,
// timeout, client-query-buffer-limit, proto-max-bulk-len and
// maxmemory-clients. Their values live in Server.lim (atomics, set by
// CONFIG SET from any connection); connections read them once per batch.
// The clients cron (clientsCron, its own goroutine) closes idle clients
// and evicts the largest ones under maxmemory-clients.

// RESP error texts and log lines of the client limits (Redis's wording).
const (
	cfgErrOBLClass = "Invalid client class specified in buffer limit configuration."
	cfgErrOBLArgs  = "Wrong number of arguments in buffer limit configuration."
	cfgErrOBLValue = "Error in hard, soft or soft_seconds setting in buffer limit configuration."
	cfgErrNotInt   = "argument couldn't be parsed into an integer"
	cfgErrMemPct   = "argument must be a memory or percent value"
	cfgErrPctMax   = "percentage argument must be less or equal to 100"
)

// Output buffer classes, in CONFIG GET's order. Shoal has no Redis
// replication and no pub/sub: every client is of class normal; the
// replica and pubsub limits are kept for CONFIG GET and config files.
const (
	classNormal = iota
	classReplica
	classPubsub
	numClasses
)

var classNames = [numClasses]string{"normal", "slave", "pubsub"}

// outLimit is one class's client-output-buffer-limit.
type outLimit struct {
	Hard     int64 // bytes; 0: none
	Soft     int64 // bytes; 0: none
	SoftSecs int64 // seconds over Soft before the client is closed
}

// OutputLimits is client-output-buffer-limit: one limit per class
// (normal, replica, pubsub).
type OutputLimits [numClasses]outLimit

// String is CONFIG GET's form: "normal 0 0 0 slave 268435456 67108864 60
// pubsub 33554432 8388608 60".
func (o OutputLimits) String() string {
	var b []byte
	for i, l := range o {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, classNames[i]...)
		for _, v := range []int64{l.Hard, l.Soft, l.SoftSecs} {
			b = append(b, ' ')
			b = strconv.AppendInt(b, v, 10)
		}
	}
	return string(b)
}

// parseOutputLimits applies Redis's "class hard soft seconds ..." syntax
// to base and returns the result, or Redis's error text.
func parseOutputLimits(base OutputLimits, v string) (OutputLimits, string) {
	f := strings.Fields(v)
	if len(f)%4 != 0 {
		return base, cfgErrOBLArgs
	}
	for i := 0; i < len(f); i += 4 {
		class := -1
		switch strings.ToLower(f[i]) {
		case "normal":
			class = classNormal
		case "slave", "replica":
			class = classReplica
		case "pubsub":
			class = classPubsub
		}
		if class < 0 {
			return base, cfgErrOBLClass
		}
		hard, ok1 := memToInt(f[i+1])
		soft, ok2 := memToInt(f[i+2])
		secs, err := strconv.ParseInt(f[i+3], 10, 64)
		if !ok1 || !ok2 || err != nil || secs < 0 {
			return base, cfgErrOBLValue
		}
		base[class] = outLimit{Hard: hard, Soft: soft, SoftSecs: secs}
	}
	return base, ""
}

// LimitsConfig is the client limits' configuration (see limits.go).
type LimitsConfig struct {
	// ProtectedMode refuses clients that connect from another address than
	// 127.0.0.1 or ::1 while no authentication is configured (Redis's
	// protected-mode; default on).
	ProtectedMode bool
	// MaxClients is how many clients may be connected at once (maxclients).
	MaxClients int64
	// IdleTimeout closes a client idle that long (timeout, whole seconds);
	// 0: never.
	IdleTimeout time.Duration
	// Output is client-output-buffer-limit.
	Output OutputLimits
	// QueryBufferLimit is client-query-buffer-limit, in bytes: a client
	// that buffers more of a request is closed.
	QueryBufferLimit int64
	// ProtoMaxBulkLen is proto-max-bulk-len, in bytes: a longer bulk is a
	// protocol error.
	ProtoMaxBulkLen int64
	// MaxMemoryClients is maxmemory-clients in bytes (0: no limit); when
	// MaxMemoryClientsPct is set it is instead a percentage of maxmemory.
	MaxMemoryClients    int64
	MaxMemoryClientsPct bool
}

// DefaultLimits returns Redis 7.0's defaults, except for normal clients'
// output limit: Redis's is none; Shoal's is 1 GB hard, 64 MB soft for 60
// seconds, so that a client that never reads its replies cannot make the
// node hold gigabytes (see README, Limits).
func DefaultLimits() LimitsConfig {
	return LimitsConfig{
		ProtectedMode: true,
		MaxClients:    10000,
		Output: OutputLimits{
			{Hard: 1 << 30, Soft: 64 << 20, SoftSecs: 60},
			{Hard: 256 << 20, Soft: 64 << 20, SoftSecs: 60},
			{Hard: 32 << 20, Soft: 8 << 20, SoftSecs: 60},
		},
		QueryBufferLimit: 1 << 30,
		ProtoMaxBulkLen:  512 << 20,
	}
}

// Validate reports the first problem with c.
func (c *LimitsConfig) Validate() error {
	switch {
	case c.MaxClients < 1:
		return errors.New("server: MaxClients must be at least 1")
	case c.IdleTimeout < 0:
		return errors.New("server: IdleTimeout must not be negative")
	case c.QueryBufferLimit < 1<<20 || c.ProtoMaxBulkLen < 1<<20:
		return errors.New("server: QueryBufferLimit and ProtoMaxBulkLen must be at least 1 MB")
	case c.MaxMemoryClients < 0 || (c.MaxMemoryClientsPct && c.MaxMemoryClients > 100):
		return errors.New("server: MaxMemoryClients must be a size or a percentage up to 100")
	}
	for _, l := range c.Output {
		if l.Hard < 0 || l.Soft < 0 || l.SoftSecs < 0 {
			return errors.New("server: output buffer limits must not be negative")
		}
	}
	return nil
}

// limitState is the limits in force and their counters. Every field is
// atomic: CONFIG SET stores, connections and the clients cron load.
type limitState struct {
	protected   atomic.Bool
	maxClients  atomic.Int64
	idleSecs    atomic.Int64
	out         atomic.Pointer[OutputLimits]
	queryLimit  atomic.Int64
	maxBulk     atomic.Int64
	memClients  atomic.Int64 // bytes, or a percentage when memPct
	memPct      atomic.Bool
	rejected    atomic.Int64 // rejected_connections (maxclients, protected mode)
	evicted     atomic.Int64 // evicted_clients (maxmemory-clients)
	outClosed   atomic.Int64 // client_output_buffer_limit_disconnections
	queryClosed atomic.Int64 // client_query_buffer_limit_disconnections
}

func (l *limitState) init(c LimitsConfig) {
	l.protected.Store(c.ProtectedMode)
	l.maxClients.Store(c.MaxClients)
	l.idleSecs.Store(int64(c.IdleTimeout / time.Second))
	o := c.Output
	l.out.Store(&o)
	l.queryLimit.Store(c.QueryBufferLimit)
	l.maxBulk.Store(c.ProtoMaxBulkLen)
	l.memClients.Store(c.MaxMemoryClients)
	l.memPct.Store(c.MaxMemoryClientsPct)
}

// outCheckAt is the output size past which a connection checks its limits
// (normal class): the smaller non-zero of the hard and soft limits.
func (l *limitState) outCheckAt() int {
	n := l.out.Load()[classNormal]
	at := int64(math.MaxInt)
	if n.Hard > 0 {
		at = n.Hard
	}
	if n.Soft > 0 && n.Soft < at {
		at = n.Soft
	}
	return int(min(at, int64(math.MaxInt)))
}

// CONFIG parameters of the limits; configParams lists them.
var limitParams = []*configParam{
	{name: "protected-mode", get: func(s *Server) string { return yesNo(s.lim.protected.Load()) },
		set: func(s *Server, v string) (func(), string) {
			b, ok := parseYesNo(v)
			if !ok {
				return nil, cfgErrYesNo
			}
			return func() { s.lim.protected.Store(b) }, ""
		}},
	{name: "timeout", get: func(s *Server) string { return strconv.FormatInt(s.lim.idleSecs.Load(), 10) },
		set: intParam(0, math.MaxInt32, func(s *Server) *atomic.Int64 { return &s.lim.idleSecs })},
	{name: "maxclients", get: func(s *Server) string { return strconv.FormatInt(s.lim.maxClients.Load(), 10) },
		set: intParam(1, math.MaxUint32, func(s *Server) *atomic.Int64 { return &s.lim.maxClients })},
	{name: "proto-max-bulk-len", get: func(s *Server) string { return strconv.FormatInt(s.lim.maxBulk.Load(), 10) },
		set: memParam(1<<20, func(s *Server) *atomic.Int64 { return &s.lim.maxBulk })},
	{name: "client-query-buffer-limit", get: func(s *Server) string { return strconv.FormatInt(s.lim.queryLimit.Load(), 10) },
		set: memParam(1<<20, func(s *Server) *atomic.Int64 { return &s.lim.queryLimit })},
	{name: "client-output-buffer-limit", get: func(s *Server) string { return s.lim.out.Load().String() },
		set: func(s *Server, v string) (func(), string) {
			// Validated here; applied over the limits in force then, so
			// that the classes it does not name keep their values.
			if _, msg := parseOutputLimits(OutputLimits{}, v); msg != "" {
				return nil, msg
			}
			return func() {
				o, _ := parseOutputLimits(*s.lim.out.Load(), v)
				s.lim.out.Store(&o)
			}, ""
		}},
	{name: "maxmemory-clients", get: func(s *Server) string {
		n := strconv.FormatInt(s.lim.memClients.Load(), 10)
		if s.lim.memPct.Load() {
			return n + "%"
		}
		return n
	}, set: setMaxMemoryClients},
}

// intParam is the setter of an integer parameter in [lo, hi].
func intParam(lo, hi int64, field func(*Server) *atomic.Int64) func(*Server, string) (func(), string) {
	return func(s *Server, v string) (func(), string) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, cfgErrNotInt
		}
		if n < lo || n > hi {
			return nil, rangeErr(lo, hi)
		}
		return func() { field(s).Store(n) }, ""
	}
}

// memParam is the setter of a memory parameter of at least lo bytes.
func memParam(lo int64, field func(*Server) *atomic.Int64) func(*Server, string) (func(), string) {
	return func(s *Server, v string) (func(), string) {
		n, ok := memToInt(v)
		if !ok {
			return nil, cfgErrMemory
		}
		if n < lo {
			return nil, rangeErr(lo, math.MaxInt64)
		}
		return func() { field(s).Store(n) }, ""
	}
}

func rangeErr(lo, hi int64) string {
	return "argument must be between " + strconv.FormatInt(lo, 10) + " and " + strconv.FormatInt(hi, 10) + " inclusive"
}

// setMaxMemoryClients accepts a memory value or a percentage of maxmemory.
func setMaxMemoryClients(s *Server, v string) (func(), string) {
	if p, ok := strings.CutSuffix(v, "%"); ok {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 {
			return nil, cfgErrMemPct
		}
		if n > 100 {
			return nil, cfgErrPctMax
		}
		return func() { s.lim.memPct.Store(true); s.lim.memClients.Store(n) }, ""
	}
	n, ok := memToInt(v)
	if !ok {
		return nil, cfgErrMemPct
	}
	return func() { s.lim.memPct.Store(false); s.lim.memClients.Store(n) }, ""
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func parseYesNo(v string) (bool, bool) {
	switch {
	case strings.EqualFold(v, "yes"):
		return true, true
	case strings.EqualFold(v, "no"):
		return false, true
	}
	return false, false
}

// admit registers c unless maxclients is reached; it then writes Redis's
// error and reports false (the caller closes the connection).
func (s *Server) admit(c *client) bool {
	s.clientsMu.Lock()
	full := int64(len(s.clients)) >= s.lim.maxClients.Load()
	if !full {
		s.clients[c.id] = c
	}
	s.clientsMu.Unlock()
	if full {
		s.lim.rejected.Add(1)
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.nc.Write([]byte("-" + command.ErrMaxClients + "\r\n"))
	}
	return !full
}

// checkOutput runs when c.out passed lim.outCheckAt during a batch (the
// connection's goroutine). Over the hard limit, the client is closed
// without its replies; over the soft limit, the replies so far are written
// now, with a deadline of the soft limit's seconds: the batch goes on once
// the client took them, and a client that does not read them in time is
// closed. It reports whether the batch may go on.
func (c *client) checkOutput() bool {
	if c.monitor != nil || c.nc == nil {
		return true // a monitor's replies queue behind its feed
	}
	c.runlock()
	c.flushWrites()
	if c.leaseLost {
		return false
	}
	lim := c.srv.lim.out.Load()[classNormal]
	if lim.Hard > 0 && int64(len(c.out)) > lim.Hard {
		c.overOutput(len(c.out))
		return false
	}
	if lim.Soft == 0 || int64(len(c.out)) <= lim.Soft {
		return true
	}
	pushing := c.push.enabled.Load()
	if pushing {
		c.wmu.Lock()
	}
	ok := c.write()
	if pushing {
		c.wmu.Unlock()
	}
	if !ok {
		c.closing = true
	}
	return ok
}

// write writes c.out, under the output limits, and empties it. A client
// whose replies are over the hard limit is closed without them; over the
// soft limit, it must take them within the soft limit's seconds. It
// reports false when the connection must close.
func (c *client) write() bool {
	n := len(c.out)
	if n == 0 {
		return true
	}
	s := c.srv
	var lim outLimit
	if n > c.outCheck {
		lim = s.lim.out.Load()[classNormal]
		if lim.Hard > 0 && int64(n) > lim.Hard {
			c.overOutput(n)
			return false
		}
		if lim.Soft > 0 && int64(n) > lim.Soft {
			_ = c.nc.SetWriteDeadline(time.Now().Add(time.Duration(max(lim.SoftSecs, 1)) * time.Second))
		} else {
			lim.Soft = 0
		}
	}
	c.outPending.Store(int64(n))
	_, err := c.nc.Write(c.out)
	c.outPending.Store(0)
	if lim.Soft > 0 {
		_ = c.nc.SetWriteDeadline(time.Time{})
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			c.overOutput(n)
		}
	}
	if err != nil {
		return false
	}
	s.stats.netOutput.Add(int64(n))
	c.out = c.out[:0]
	return true
}

// overOutput closes c for overcoming its output buffer limit, as Redis
// does: logged and counted; its pending replies are dropped.
func (c *client) overOutput(n int) {
	s := c.srv
	s.lim.outClosed.Add(1)
	s.log.Warn("client scheduled to be closed ASAP for overcoming of output buffer limits",
		"client-id", c.id, "client-addr", c.addr, "client-class", classNames[classNormal], "omem", n)
	c.out = c.out[:0]
	c.closing = true
}

// clientsCron is the clients cron's goroutine: ten times a second it
// closes clients idle longer than timeout and, under maxmemory-clients,
// evicts the clients that use the most memory. It takes clientsMu and
// each client's mu, one at a time.
func (s *Server) clientsCron() {
	defer s.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.clock.refresh()
			if secs := s.lim.idleSecs.Load(); secs > 0 {
				s.closeIdle(now, time.Duration(secs)*time.Second)
			}
			if limit := s.clientsMemLimit(); limit > 0 {
				s.evictClients(limit)
			}
		}
	}
}

// closeIdle closes the clients that have run no command for idle (those
// in a batch and monitors aside, as Redis spares blocked clients and
// replicas).
func (s *Server) closeIdle(now time.Time, idle time.Duration) {
	for _, cl := range s.clientList() {
		if cl.busy.Load() {
			continue
		}
		cl.mu.Lock()
		last, mon := cl.lastTime, cl.monitoring
		cl.mu.Unlock()
		since := cl.created
		if last != 0 {
			since = time.UnixMilli(last)
		}
		if !mon && now.Sub(since) > idle {
			s.log.Debug("closing idle client", "client-id", cl.id, "client-addr", cl.addr)
			cl.kill()
		}
	}
}

// clientsMemLimit is maxmemory-clients in bytes (0: none).
func (s *Server) clientsMemLimit() int64 {
	n := s.lim.memClients.Load()
	if s.lim.memPct.Load() {
		return s.maxMemory.Load() / 100 * n
	}
	return n
}

// clientMem is what a client uses, as CLIENT LIST's tot-mem counts it at
// the end of its last batch, plus the replies it is writing.
func clientMem(cl *client) (int64, bool) {
	cl.mu.Lock()
	n := int64(clientStructSize + cl.rbs + cl.outCap)
	noEvict := cl.ctl.noEvict
	cl.mu.Unlock()
	return n + cl.outPending.Load(), noEvict
}

// evictClients closes the clients that use the most memory until the
// clients' total is under limit; CLIENT NO-EVICT ones are spared.
func (s *Server) evictClients(limit int64) {
	type usage struct {
		cl  *client
		mem int64
	}
	var all []usage
	total := int64(0)
	for _, cl := range s.clientList() {
		n, noEvict := clientMem(cl)
		total += n
		if !noEvict && !cl.killed.Load() {
			all = append(all, usage{cl, n})
		}
	}
	if total <= limit {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mem > all[j].mem })
	for _, u := range all {
		if total <= limit {
			break
		}
		s.lim.evicted.Add(1)
		s.log.Info("evicting client", "client-id", u.cl.id, "client-addr", u.cl.addr, "client-mem", u.mem)
		u.cl.kill()
		total -= u.mem
	}
}
