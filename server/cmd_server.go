package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/shard"
)

// RESP error texts of the server family.
const (
	errBgsaveInProgress = "ERR Background save already in progress"
	errSaveFailed       = "ERR"
)

// saveTimeout bounds SAVE and BGSAVE.
const saveTimeout = 10 * time.Minute

// serverExtra is server state owned by the connection and server command
// families: settings CONFIG SET accepts without acting on them, save status
// and the INFO baselines. It is a field of Server (extraState).
type serverExtra struct {
	runID  string
	replID string

	mu         sync.Mutex
	save       string // guarded by mu
	appendonly string // guarded by mu

	bgsave      atomic.Bool
	lastSaveOK  atomic.Bool
	saves       atomic.Int64
	peakMemory  atomic.Int64
	expiredBase atomic.Int64 // store expired-key count at the last CONFIG RESETSTAT
	// expiredFieldsBase is the expired hash field count at the last CONFIG
	// RESETSTAT.
	expiredFieldsBase atomic.Int64
	evictedBase       atomic.Int64 // store evicted-key count at the last CONFIG RESETSTAT
	startupBytes      int64
}

// extra returns s's serverExtra.
func (s *Server) extra() *serverExtra { return &s.extraState }

// newServerExtra returns the initial serverExtra of a new Server.
func initServerExtra(e *serverExtra) {
	e.runID, e.replID = randomHex(), randomHex()
	e.appendonly = "no"
	e.startupBytes = startupHeap
	e.lastSaveOK.Store(true)
}

// clusterEnabled reports whether the node runs in cluster mode.
func (s *Server) clusterEnabled() bool { return s.router != nil && s.router.ClusterEnabled() }

// hostedGroups returns every group with a replica on this node.
func (s *Server) hostedGroups() []Group {
	if s.router == nil {
		return nil
	}
	return s.router.HostedGroups()
}

// localGroups returns the groups this node leads (what keyless commands
// and INFO keyspace look at).
func (s *Server) localGroups() []Group {
	if s.router == nil {
		return nil
	}
	return s.router.LocalGroups()
}

// eachStore calls fn for the store of every group in groups, under its
// RLock.
func eachStore(groups []Group, fn func(st *shard.Store)) {
	for _, g := range groups {
		st := g.Store()
		st.RLock()
		fn(st)
		st.RUnlock()
	}
}

// randomHex returns 40 random hex characters, like Redis's run ids.
func randomHex() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func init() {
	admin := []string{"admin", "slow", "dangerous"}
	command.Register(
		&command.Command{Name: "time", Arity: 1, Kind: command.KindLocal, Flags: command.FlagLoading | command.FlagStale | command.FlagFast,
			ACL: []string{"fast"}, Run: timeCommand},
		&command.Command{Name: "save", Arity: 1, Kind: command.KindLocal, Flags: command.FlagAdmin | command.FlagNoScript | command.FlagNoMulti,
			ACL: admin, Run: saveCommand},
		&command.Command{Name: "bgsave", Arity: -1, Kind: command.KindLocal, Flags: command.FlagAdmin | command.FlagNoScript,
			ACL: admin, Run: bgsaveCommand},
		&command.Command{Name: "lastsave", Arity: 1, Kind: command.KindLocal, Flags: command.FlagLoading | command.FlagStale | command.FlagFast,
			ACL: []string{"admin", "fast", "dangerous"}, Run: lastsaveCommand},
	)
}

// timeCommand: TIME. Replies the local clock as seconds and microseconds.
func timeCommand(x *command.Ctx, args [][]byte) {
	now := time.Now()
	var tmp [24]byte
	x.Array(2)
	x.Bulk(strconv.AppendInt(tmp[:0], now.Unix(), 10))
	x.Bulk(strconv.AppendInt(tmp[:0], int64(now.Nanosecond()/1000), 10))
}

// saveCommand: SAVE. Snapshots the node's groups and waits for them.
func saveCommand(x *command.Ctx, args [][]byte) {
	e := srvOf(x).extra()
	if e.bgsave.Load() {
		x.Err(errBgsaveInProgress)
		return
	}
	if err := srvOf(x).snapshot(e); err != nil {
		srvOf(x).log.Warn("SAVE failed", "err", err)
		x.Err(errSaveFailed)
		return
	}
	x.OK()
}

// bgsaveCommand: BGSAVE [SCHEDULE]. Snapshots the node's groups in the
// background.
func bgsaveCommand(x *command.Ctx, args [][]byte) {
	// SCHEDULE only matters when another kind of save runs, which Shoal
	// does not have.
	if len(args) > 2 || (len(args) == 2 && !command.EqFold(args[1], "schedule")) {
		x.Err(command.ErrSyntax)
		return
	}
	s := srvOf(x)
	e := s.extra()
	if !e.bgsave.CompareAndSwap(false, true) {
		x.Err(errBgsaveInProgress)
		return
	}
	go func() {
		defer e.bgsave.Store(false)
		if err := s.snapshot(e); err != nil {
			s.log.Warn("BGSAVE failed", "err", err)
		}
	}()
	x.Simple("Background saving started")
}

// snapshot snapshots every group hosted here and records the outcome for
// INFO.
func (s *Server) snapshot(e *serverExtra) error {
	ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
	defer cancel()
	var err error
	for _, g := range s.hostedGroups() {
		if gerr := g.Snapshot(ctx); gerr != nil {
			err = errors.Join(err, gerr)
		}
	}
	e.lastSaveOK.Store(err == nil)
	if err == nil {
		e.saves.Add(1)
	}
	return err
}

// lastsaveCommand: LASTSAVE. The Unix time of the last successful snapshot
// (the oldest of the node's groups' last snapshots).
func lastsaveCommand(x *command.Ctx, args [][]byte) { x.Int(srvOf(x).lastSave()) }

// lastSave is the oldest last-snapshot time of the hosted groups, or the
// server's start when it hosts none.
func (s *Server) lastSave() int64 {
	var t int64
	for _, g := range s.hostedGroups() {
		if ls := g.LastSave(); t == 0 || ls < t {
			t = ls
		}
	}
	if t == 0 {
		t = s.start.Unix()
	}
	return t
}
