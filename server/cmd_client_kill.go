package server

import (
	"time"

	"github.com/shoalcache/shoal/command"
)

// RESP error texts of CLIENT KILL (Redis 7.0's).
const (
	errNoSuchClient = "ERR No such client"
	errKillID       = "ERR client-id should be greater than 0"
)

// clientCtl is the state CLIENT KILL and CLIENT NO-EVICT keep on a
// connection; both are read by other connections (CLIENT LIST).
type clientCtl struct {
	// noEvict is CLIENT NO-EVICT ON (shown as the 'e' flag; Shoal does
	// not evict clients, so it changes nothing else).
	noEvict bool
}

// clientNoEvictCommand: CLIENT NO-EVICT <ON | OFF>.
func clientNoEvictCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	var on bool
	switch {
	case command.EqFold(args[2], "on"):
		on = true
	case command.EqFold(args[2], "off"):
	default:
		x.Err(command.ErrSyntax)
		return
	}
	c.mu.Lock()
	c.ctl.noEvict = on
	c.mu.Unlock()
	x.OK()
}

// killFilter is CLIENT KILL's selection; zero fields match any client.
type killFilter struct {
	addr, laddr string
	hasAddr     bool
	hasLaddr    bool
	id          int64
	// typ is the TYPE asked for: "" (any), "normal", or another (no
	// Shoal client is a master, a replica or in pub/sub).
	typ    string
	maxAge int64 // seconds; 0: any
	skipMe bool
	user   *aclUser // USER; nil: any
}

// clientKillCommand: CLIENT KILL ip:port, or CLIENT KILL with filters
// [ID client-id] [TYPE NORMAL | MASTER | SLAVE | REPLICA | PUBSUB]
// [USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME yes | no]
// [MAXAGE seconds] (MAXAGE is Redis 7.4's). The old form replies +OK or
// "No such client" and may kill the caller; the filter form replies the
// number killed and skips the caller unless SKIPME no. A killed connection
// is closed at once (the caller's own after its reply).
func clientKillCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	f := killFilter{skipMe: true}
	if len(args) == 3 {
		f.addr, f.hasAddr, f.skipMe = string(args[2]), true, false
	} else {
		for i := 2; i < len(args); i += 2 {
			if i+1 >= len(args) {
				x.Err(command.ErrSyntax)
				return
			}
			opt, v := args[i], args[i+1]
			switch {
			case command.EqFold(opt, "id"):
				id, ok := command.ParseInt(v)
				if !ok || id < 1 {
					x.Err(errKillID)
					return
				}
				f.id = id
			case command.EqFold(opt, "type"):
				switch {
				case command.EqFold(v, "normal"):
					f.typ = "normal"
				case command.EqFold(v, "master"), command.EqFold(v, "slave"), command.EqFold(v, "replica"),
					command.EqFold(v, "pubsub"):
					f.typ = "other"
				default:
					x.Err(command.Sanitize(append(append([]byte("ERR Unknown client type '"), truncNUL(v)...), '\'')))
					return
				}
			case command.EqFold(opt, "addr"):
				f.addr, f.hasAddr = string(v), true
			case command.EqFold(opt, "laddr"):
				f.laddr, f.hasLaddr = string(v), true
			case command.EqFold(opt, "user"):
				if f.user = srvOf(x).aclUserByName(string(v)); f.user == nil {
					x.Err(command.Sanitize(append(append([]byte("ERR No such user '"), truncNUL(v)...), '\'')))
					return
				}
			case command.EqFold(opt, "skipme"):
				switch {
				case command.EqFold(v, "yes"):
					f.skipMe = true
				case command.EqFold(v, "no"):
					f.skipMe = false
				default:
					x.Err(command.ErrSyntax)
					return
				}
			case command.EqFold(opt, "maxage"):
				age, ok := command.ParseInt(v)
				if !ok {
					x.Err(command.ErrNotInteger)
					return
				}
				f.maxAge = age
			default:
				x.Err(command.ErrSyntax)
				return
			}
		}
	}
	killed := c.srv.killClients(c, f)
	if len(args) == 3 {
		if killed == 0 {
			x.Err(errNoSuchClient)
			return
		}
		x.OK()
		return
	}
	x.Int(int64(killed))
}

// killClients closes the connections f selects and returns how many; the
// caller's own (self), if selected, closes after its reply.
func (s *Server) killClients(self *client, f killFilter) int {
	now := time.Now()
	n := 0
	for _, cl := range s.clientList() {
		switch {
		case f.hasAddr && cl.addr != f.addr,
			f.hasLaddr && cl.laddr != f.laddr,
			f.typ != "" && f.typ != "normal",
			f.id != 0 && cl.id != f.id,
			f.maxAge != 0 && int64(now.Sub(cl.created)/time.Second) < f.maxAge,
			cl == self && f.skipMe,
			f.user != nil && cl.userOf() != f.user:
			continue
		}
		n++
		if cl == self {
			self.closing = true
			continue
		}
		cl.kill()
	}
	return n
}

// kill closes another connection: its goroutine sees the error on its next
// read or write (one waiting in a CLIENT PAUSE sees killed) and ends.
func (c *client) kill() {
	c.killed.Store(true)
	if c.nc != nil {
		_ = c.nc.Close()
	}
}
