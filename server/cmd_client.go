package server

import (
	"sort"
	"strconv"
	"syscall"
	"time"
)

// RESP error texts of the CLIENT family.
const (
	errInvalidClientID = "ERR Invalid client ID"
)

func init() {
	sub := func(name string, arity int, admin bool, run func(*Ctx, [][]byte)) *command {
		c := &command{name: "client|" + name, arity: arity, kind: kindLocal,
			flags: flagNoScript | flagLoading | flagStale, acl: []string{"slow", "connection"}, run: run}
		if admin {
			c.flags |= flagAdmin
			c.acl = []string{"admin", "slow", "dangerous", "connection"}
		}
		return c
	}
	register(&command{name: "client", arity: -2, kind: kindLocal, acl: []string{"slow"},
		subs: []*command{
			sub("id", 2, false, clientIDCommand),
			sub("setname", 3, false, clientSetNameCommand),
			sub("getname", 2, false, clientGetNameCommand),
			sub("setinfo", 4, false, clientSetInfoCommand),
			sub("list", -2, true, clientListCommand),
			sub("info", 2, false, clientInfoCommand),
			sub("help", 2, false, clientHelpCommand),
		}})
}

// clientIDCommand: CLIENT ID.
func clientIDCommand(x *Ctx, args [][]byte) { x.int(x.c.id) }

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
func clientSetNameCommand(x *Ctx, args [][]byte) {
	if !validClientAttr(args[2]) {
		x.err(errClientName)
		return
	}
	x.c.mu.Lock()
	x.c.name = string(args[2])
	x.c.mu.Unlock()
	x.ok()
}

// clientGetNameCommand: CLIENT GETNAME.
func clientGetNameCommand(x *Ctx, args [][]byte) {
	x.c.mu.Lock()
	name := x.c.name
	x.c.mu.Unlock()
	if name == "" {
		x.null()
		return
	}
	x.bulkString(name)
}

// clientSetInfoCommand: CLIENT SETINFO <LIB-NAME libname | LIB-VER libver>
// (Redis 7.2).
func clientSetInfoCommand(x *Ctx, args [][]byte) {
	attr, val := args[2], args[3]
	lib := eqFold(attr, "lib-name")
	if !lib && !eqFold(attr, "lib-ver") {
		x.err(sanitize(append(append([]byte("ERR Unrecognized option '"), truncNUL(attr)...), '\'')))
		return
	}
	if !validClientAttr(val) {
		x.err(sanitize(append(append([]byte("ERR "), truncNUL(attr)...),
			" cannot contain spaces, newlines or special characters."...)))
		return
	}
	x.c.mu.Lock()
	if lib {
		x.c.libName = string(val)
	} else {
		x.c.libVer = string(val)
	}
	x.c.mu.Unlock()
	x.ok()
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
func clientListCommand(x *Ctx, args [][]byte) {
	s := x.srv
	var list []*client
	switch {
	case len(args) == 2:
		list = s.clientList()
	case len(args) == 4 && eqFold(args[2], "type"):
		switch {
		case eqFold(args[3], "normal"):
			list = s.clientList()
		case eqFold(args[3], "master"), eqFold(args[3], "replica"), eqFold(args[3], "slave"),
			eqFold(args[3], "pubsub"):
		default:
			x.err(sanitize(append(append([]byte("ERR Unknown client type '"), truncNUL(args[3])...), '\'')))
			return
		}
	case len(args) > 3 && eqFold(args[2], "id"):
		s.clientsMu.Lock()
		for _, a := range args[3:] {
			id, ok := parseInt(a)
			if !ok {
				s.clientsMu.Unlock()
				x.err(errInvalidClientID)
				return
			}
			if cl := s.clients[id]; cl != nil {
				list = append(list, cl)
			}
		}
		s.clientsMu.Unlock()
	default:
		x.err(errSyntax)
		return
	}
	now := time.Now()
	var b []byte
	for _, cl := range list {
		b = x.appendClientInfo(b, cl, now, "client|list")
		b = append(b, '\n')
	}
	x.verbatim(b)
}

// clientInfoCommand: CLIENT INFO.
func clientInfoCommand(x *Ctx, args [][]byte) {
	b := x.appendClientInfo(nil, x.c, time.Now(), "client|info")
	x.verbatim(append(b, '\n'))
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

// appendClientInfo appends cl's CLIENT LIST line (without the newline) in
// Redis 7.2's format; fields Shoal does not track are zero. cur names the
// command being run, shown for the calling connection.
func (x *Ctx) appendClientInfo(b []byte, cl *client, now time.Time, cur string) []byte {
	cl.mu.Lock()
	name, libName, libVer := cl.name, cl.libName, cl.libVer
	lastCmd, lastTime := cl.lastCmd, cl.lastTime
	proto, readonly := cl.proto, cl.readonly
	cl.mu.Unlock()
	if cl == x.c {
		proto, readonly = x.c.proto, x.c.readonly
		lastCmd, lastTime = cur, now.UnixMilli()
	}
	if lastCmd == "" {
		lastCmd = "NULL"
	}
	idle := now.Sub(cl.created)
	if lastTime != 0 {
		idle = now.Sub(time.UnixMilli(lastTime))
	}
	flags := "N"
	if readonly {
		flags = "r"
	}
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
	b = append(b, " db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0"+
		" rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd="...)
	b = append(b, lastCmd...)
	b = append(b, " user=default redir=-1 resp="...)
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
	"GETNAME",
	"    Return the name of the current connection.",
	"ID",
	"    Return the ID of the current connection.",
	"INFO",
	"    Return information about the current client connection.",
	"LIST [options ...]",
	"    Return information about client connections. Options:",
	"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
	"      Return clients of specified type.",
	"SETNAME <name>",
	"    Assign the name <name> to the current connection.",
	"SETINFO <option> <value>",
	"    Set client meta attr. Options are:",
	"    * LIB-NAME: the client lib name.",
	"    * LIB-VER: the client lib version.",
	"HELP",
	"    Prints this help.",
}

// clientHelpCommand: CLIENT HELP. The text is Redis 7.2's, limited to the
// subcommands Shoal implements.
func clientHelpCommand(x *Ctx, args [][]byte) { x.help(clientHelp) }
