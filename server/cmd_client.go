package server

import (
	"sort"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"github.com/shoalcache/shoal/command"
)

// RESP error texts of the CLIENT family.
const (
	errInvalidClientID = "ERR Invalid client ID"
)

func init() {
	sub := func(name string, arity int, admin bool, run func(*command.Ctx, [][]byte)) *command.Command {
		c := &command.Command{Name: "client|" + name, Arity: arity, Kind: command.KindLocal,
			Flags: command.FlagNoScript | command.FlagLoading | command.FlagStale, ACL: []string{"slow", "connection"}, Run: run}
		if admin {
			c.Flags |= command.FlagAdmin
			c.ACL = []string{"admin", "slow", "dangerous", "connection"}
		}
		return c
	}
	command.Register(&command.Command{Name: "client", Arity: -2, Kind: command.KindLocal, ACL: []string{"slow"},
		Subs: []*command.Command{
			sub("id", 2, false, clientIDCommand),
			sub("setname", 3, false, clientSetNameCommand),
			sub("getname", 2, false, clientGetNameCommand),
			sub("setinfo", 4, false, clientSetInfoCommand),
			sub("list", -2, true, clientListCommand),
			sub("info", 2, false, clientInfoCommand),
			sub("help", 2, false, clientHelpCommand),
			sub("tracking", -3, false, clientTrackingCommand),
			sub("caching", 3, false, clientCachingCommand),
			sub("getredir", 2, false, clientGetRedirCommand),
			sub("trackinginfo", 2, false, clientTrackingInfoCommand),
			sub("no-evict", 3, true, clientNoEvictCommand),
			sub("kill", -3, true, clientKillCommand),
			sub("pause", -3, true, clientPauseCommand),
			sub("unpause", 2, true, clientUnpauseCommand),
			sub("unblock", -3, true, clientUnblockCommand),
		}})
}

// clientIDCommand: CLIENT ID.
func clientIDCommand(x *command.Ctx, args [][]byte) { x.Int(connOf(x).id) }

// validClientAttr reports whether a client name (or library name or
// version) is acceptable: printable ASCII without spaces, or empty.
func validClientAttr(b []byte) bool {
	for _, ch := range b {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	return true
}

// clientSetNameCommand: CLIENT SETNAME connection-name. An empty name
// clears it.
func clientSetNameCommand(x *command.Ctx, args [][]byte) {
	if !validClientAttr(args[2]) {
		x.Err(errClientName)
		return
	}
	connOf(x).mu.Lock()
	connOf(x).name = string(args[2])
	connOf(x).mu.Unlock()
	x.OK()
}

// clientGetNameCommand: CLIENT GETNAME.
func clientGetNameCommand(x *command.Ctx, args [][]byte) {
	connOf(x).mu.Lock()
	name := connOf(x).name
	connOf(x).mu.Unlock()
	if name == "" {
		x.Null()
		return
	}
	x.BulkString(name)
}

// clientSetInfoCommand: CLIENT SETINFO <LIB-NAME libname | LIB-VER libver>
// (Redis 7.2).
func clientSetInfoCommand(x *command.Ctx, args [][]byte) {
	attr, val := args[2], args[3]
	lib := command.EqFold(attr, "lib-name")
	if !lib && !command.EqFold(attr, "lib-ver") {
		x.Err(command.Sanitize(append(append([]byte("ERR Unrecognized option '"), truncNUL(attr)...), '\'')))
		return
	}
	if !validClientAttr(val) {
		x.Err(command.Sanitize(append(append([]byte("ERR "), truncNUL(attr)...),
			" cannot contain spaces, newlines or special characters."...)))
		return
	}
	connOf(x).mu.Lock()
	if lib {
		connOf(x).libName = string(val)
	} else {
		connOf(x).libVer = string(val)
	}
	connOf(x).mu.Unlock()
	x.OK()
}

// truncNUL returns b up to its first NUL byte, as C's %s prints it.
func truncNUL(b []byte) []byte {
	for i, ch := range b {
		if ch == 0 {
			return b[:i]
		}
	}
	return b
}

// clientListCommand: CLIENT LIST [TYPE NORMAL | MASTER | REPLICA | PUBSUB] [ID client-id [client-id ...]].
func clientListCommand(x *command.Ctx, args [][]byte) {
	s := srvOf(x)
	var list []*client
	switch {
	case len(args) == 2:
		list = s.clientList()
	case len(args) == 4 && command.EqFold(args[2], "type"):
		switch {
		case command.EqFold(args[3], "normal"):
			list = s.clientList()
		case command.EqFold(args[3], "master"), command.EqFold(args[3], "replica"), command.EqFold(args[3], "slave"),
			command.EqFold(args[3], "pubsub"):
		default:
			x.Err(command.Sanitize(append(append([]byte("ERR Unknown client type '"), truncNUL(args[3])...), '\'')))
			return
		}
	case len(args) > 3 && command.EqFold(args[2], "id"):
		s.clientsMu.Lock()
		for _, a := range args[3:] {
			id, ok := command.ParseInt(a)
			if !ok {
				s.clientsMu.Unlock()
				x.Err(errInvalidClientID)
				return
			}
			if cl := s.clients[id]; cl != nil {
				list = append(list, cl)
			}
		}
		s.clientsMu.Unlock()
	default:
		x.Err(command.ErrSyntax)
		return
	}
	now := time.Now()
	var b []byte
	for _, cl := range list {
		b = appendClientInfo(x, b, cl, now, "client|list", argvMem(args))
		b = append(b, '\n')
	}
	x.Verbatim(b)
}

// clientInfoCommand: CLIENT INFO.
func clientInfoCommand(x *command.Ctx, args [][]byte) {
	b := appendClientInfo(x, nil, connOf(x), time.Now(), "client|info", argvMem(args))
	x.Verbatim(append(b, '\n'))
}

// clientList returns the connected clients in id (connection) order.
func (s *Server) clientList() []*client {
	s.clientsMu.Lock()
	list := make([]*client, 0, len(s.clients))
	for _, cl := range s.clients {
		list = append(list, cl)
	}
	s.clientsMu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].id < list[j].id })
	return list
}

// clientStructSize is what a connection costs besides its buffers, for
// tot-mem.
const clientStructSize = int(unsafe.Sizeof(client{})) + int(unsafe.Sizeof(reader{}))

// replyChunk is the size of Redis's static reply buffer: obl counts the
// bytes in it, oll and omem the chunks and bytes beyond.
const replyChunk = 16 * 1024

// argvMem is the bytes of a command's arguments (CLIENT LIST argv-mem).
func argvMem(args [][]byte) int {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	return n
}

// appendClientInfo appends cl's CLIENT LIST line (without the newline) in
// Redis 7.2's format (Redis 7.0's fields, then lib-name and lib-ver). cur
// names the command being run and argv its arguments' size, shown for the
// calling connection, whose buffers are read live; other connections show
// their buffers as they were at the end of their last batch of commands
// (between batches a connection holds no arguments and no pending output).
// Fields of features Shoal lacks (pub/sub) are zero.
func appendClientInfo(x *command.Ctx, b []byte, cl *client, now time.Time, cur string, argv int) []byte {
	tracking, brokenRedir, bcast, redir := false, false, false, int64(-1)
	cl.srv.track.mu.Lock()
	if st := cl.trk; st != nil {
		tracking, brokenRedir, bcast, redir = true, st.brokenRedir, st.bcast, st.redirect
	}
	cl.srv.track.mu.Unlock()
	cl.mu.Lock()
	noEvict, multiN := cl.ctl.noEvict, cl.multiN-1
	name, libName, libVer := cl.name, cl.libName, cl.libVer
	lastCmd, lastTime := cl.lastCmd, cl.lastTime
	proto, readonly, monitoring := cl.proto, cl.readonly, cl.monitoring
	user := cl.userName()
	qbuf, qbufFree, rbs, rbp, outCap := cl.qbuf, cl.qbufFree, cl.rbs, cl.rbp, cl.outCap
	cl.mu.Unlock()
	out := 0
	self := cl == connOf(x)
	if self {
		proto, readonly = connOf(x).proto, connOf(x).readonly
		lastCmd, lastTime = cur, now.UnixMilli()
		out, outCap = len(x.Out), cap(x.Out)
		if rd := cl.rd; rd != nil {
			start := rd.cmd
			if len(rd.cmds) > 0 {
				start = rd.cmds[0].start
			}
			qbuf, qbufFree, rbs = rd.w-start, len(rd.buf)-rd.w, len(rd.buf)
			rbp = max(rbp, rd.w)
		}
	} else {
		argv = 0
		out = int(cl.outPending.Load()) // replies being written
	}
	if lastCmd == "" {
		lastCmd = "NULL"
	}
	idle := now.Sub(cl.created)
	if lastTime != 0 {
		idle = now.Sub(time.UnixMilli(lastTime))
	}
	var flags []byte
	if monitoring {
		flags = append(flags, 'O')
	}
	if multiN >= 0 {
		flags = append(flags, 'x')
	}
	if cl.srv.track.isBlocked(cl.id) {
		flags = append(flags, 'b')
	}
	if tracking {
		flags = append(flags, 't')
	}
	if brokenRedir {
		flags = append(flags, 'R')
	}
	if bcast {
		flags = append(flags, 'B')
	}
	if readonly {
		flags = append(flags, 'r')
	}
	if noEvict {
		flags = append(flags, 'e')
	}
	if len(flags) == 0 {
		flags = append(flags, 'N')
	}
	obl := min(out, replyChunk)
	omem := out - obl
	oll := (omem + replyChunk - 1) / replyChunk
	b = append(b, "id="...)
	b = strconv.AppendInt(b, cl.id, 10)
	b = append(b, " addr="...)
	b = append(b, cl.addr...)
	b = append(b, " laddr="...)
	b = append(b, cl.laddr...)
	b = append(b, " fd="...)
	b = strconv.AppendInt(b, int64(connFD(cl)), 10)
	b = append(b, " name="...)
	b = append(b, name...)
	b = append(b, " age="...)
	b = strconv.AppendInt(b, int64(now.Sub(cl.created)/time.Second), 10)
	b = append(b, " idle="...)
	b = strconv.AppendInt(b, max(int64(idle/time.Second), 0), 10)
	b = append(b, " flags="...)
	b = append(b, flags...)
	b = append(b, " db="...)
	b = strconv.AppendInt(b, int64(cl.DB()), 10)
	b = append(b, " sub=0 psub=0 ssub=0 multi="...)
	b = strconv.AppendInt(b, int64(multiN), 10)
	b = append(b, " qbuf="...)
	b = strconv.AppendInt(b, int64(qbuf), 10)
	b = append(b, " qbuf-free="...)
	b = strconv.AppendInt(b, int64(qbufFree), 10)
	b = append(b, " argv-mem="...)
	b = strconv.AppendInt(b, int64(argv), 10)
	b = append(b, " multi-mem=0 rbs="...)
	b = strconv.AppendInt(b, int64(rbs), 10)
	b = append(b, " rbp="...)
	b = strconv.AppendInt(b, int64(rbp), 10)
	b = append(b, " obl="...)
	b = strconv.AppendInt(b, int64(obl), 10)
	b = append(b, " oll="...)
	b = strconv.AppendInt(b, int64(oll), 10)
	b = append(b, " omem="...)
	b = strconv.AppendInt(b, int64(omem), 10)
	b = append(b, " tot-mem="...)
	b = strconv.AppendInt(b, int64(clientStructSize+rbs+outCap+argv), 10)
	b = append(b, " events=r cmd="...)
	b = append(b, lastCmd...)
	b = append(b, " user="...)
	b = append(b, user...)
	b = append(b, " redir="...)
	b = strconv.AppendInt(b, redir, 10)
	b = append(b, " resp="...)
	b = strconv.AppendInt(b, int64(proto), 10)
	b = append(b, " lib-name="...)
	b = append(b, libName...)
	b = append(b, " lib-ver="...)
	return append(b, libVer...)
}

// connFD returns the file descriptor of cl's socket, or -1.
func connFD(cl *client) int {
	fd := -1
	if cl.nc == nil {
		return fd
	}
	sc, ok := cl.nc.(syscall.Conn)
	if !ok {
		return fd
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return fd
	}
	_ = raw.Control(func(f uintptr) { fd = int(f) })
	return fd
}

var clientHelp = []string{
	"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"CACHING (YES|NO)",
	"    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
	"GETREDIR",
	"    Return the client ID we are redirecting to when tracking is enabled.",
	"GETNAME",
	"    Return the name of the current connection.",
	"ID",
	"    Return the ID of the current connection.",
	"INFO",
	"    Return information about the current client connection.",
	"KILL <ip:port>",
	"    Kill connection made from <ip:port>.",
	"KILL <option> <value> [<option> <value> [...]]",
	"    Kill connections. Options are:",
	"    * ADDR (<ip:port>|<unixsocket>:0)",
	"      Kill connections made from the specified address",
	"    * LADDR (<ip:port>|<unixsocket>:0)",
	"      Kill connections made to specified local address",
	"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
	"      Kill connections by type.",
	"    * USER <username>",
	"      Kill connections authenticated by <username>.",
	"    * SKIPME (YES|NO)",
	"      Skip killing current connection (default: yes).",
	"LIST [options ...]",
	"    Return information about client connections. Options:",
	"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
	"      Return clients of specified type.",
	"UNPAUSE",
	"    Stop the current client pause, resuming traffic.",
	"PAUSE <timeout> [WRITE|ALL]",
	"    Suspend all, or just write, clients for <timeout> milliseconds.",
	"SETNAME <name>",
	"    Assign the name <name> to the current connection.",
	"SETINFO <option> <value>",
	"    Set client meta attr. Options are:",
	"    * LIB-NAME: the client lib name.",
	"    * LIB-VER: the client lib version.",
	"UNBLOCK <clientid> [TIMEOUT|ERROR]",
	"    Unblock the specified blocked client.",
	"TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
	"         [OPTIN] [OPTOUT] [NOLOOP]",
	"    Control server assisted client side caching.",
	"TRACKINGINFO",
	"    Report tracking status for the current connection.",
	"NO-EVICT (ON|OFF)",
	"    Protect current client connection from eviction.",
	"HELP",
	"    Prints this help.",
}

// clientHelpCommand: CLIENT HELP. The text is Redis 7.0's (with 7.2's
// SETINFO), limited to the subcommands Shoal implements.
func clientHelpCommand(x *command.Ctx, args [][]byte) { x.Help(clientHelp) }
