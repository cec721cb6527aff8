package server

// ACL LOG: the denials of commands, keys and authentications, newest
// first, similar ones within a minute grouped (Redis's ACLLogMatchEntry).

import (
	"sync"
	"time"

	"github.com/shoalcache/shoal/command"
)

// aclLogMax is Redis's default acllog-max-len.
const aclLogMax = 128

// aclLogEntry is one ACL LOG entry.
type aclLogEntry struct {
	count                         int64
	reason, context, object, user string
	ctime                         int64 // unix ms of the last occurrence
	clientInfo                    string
}

// aclLog holds the entries, newest first; mu guards them (denials are
// logged from connection goroutines).
type aclLog struct {
	mu      sync.Mutex
	entries []*aclLogEntry
}

var aclReasons = [...]string{aclDeniedCmd: "command", aclDeniedKey: "key", aclDeniedAuth: "auth"}

// aclLogDenial records a denial by connection c.
func (s *Server) aclLogDenial(c *client, reason int, ctx, object, user string) {
	x := command.Ctx{Conn: c}
	cur := "auth"
	if c.cur != nil {
		cur = c.cur.Name
	}
	info := string(appendClientInfo(&x, nil, c, time.Now(), cur, 0))
	now := time.Now().UnixMilli()
	l := &s.acl.log
	l.mu.Lock()
	defer l.mu.Unlock()
	r := aclReasons[reason]
	for i, e := range l.entries {
		if e.reason == r && e.context == ctx && e.object == object && e.user == user && now-e.ctime < 60000 {
			e.count++
			e.ctime, e.clientInfo = now, info
			copy(l.entries[1:i+1], l.entries[:i])
			l.entries[0] = e
			return
		}
	}
	e := &aclLogEntry{count: 1, reason: r, context: ctx, object: object, user: user, ctime: now, clientInfo: info}
	l.entries = append([]*aclLogEntry{e}, l.entries...)
	if len(l.entries) > aclLogMax {
		l.entries = l.entries[:aclLogMax]
	}
}

// aclLogCommand: ACL LOG [count | RESET].
func aclLogCommand(x *command.Ctx, args [][]byte) {
	s := srvOf(x)
	l := &s.acl.log
	count := int64(10)
	if len(args) > 3 {
		x.Err(errSubcommandSyntax("acl", args[1]))
		return
	}
	if len(args) == 3 {
		if command.EqFold(args[2], "reset") {
			l.mu.Lock()
			l.entries = nil
			l.mu.Unlock()
			x.OK()
			return
		}
		n, ok := command.ParseInt(args[2])
		if !ok {
			x.Err(command.ErrNotInteger)
			return
		}
		count = n // negative: every entry, as Redis's while (count--)
	}
	l.mu.Lock()
	entries := l.entries
	if count >= 0 && int64(len(entries)) > count {
		entries = entries[:count]
	}
	entries = append([]*aclLogEntry(nil), entries...)
	l.mu.Unlock()
	now := time.Now().UnixMilli()
	x.Array(len(entries))
	for _, e := range entries {
		x.MapHeader(7)
		x.BulkString("count")
		x.Int(e.count)
		x.BulkString("reason")
		x.BulkString(e.reason)
		x.BulkString("context")
		x.BulkString(e.context)
		x.BulkString("object")
		x.BulkString(e.object)
		x.BulkString("username")
		x.BulkString(e.user)
		x.BulkString("age-seconds")
		x.Double(float64(now-e.ctime) / 1000)
		x.BulkString("client-info")
		x.BulkString(e.clientInfo)
	}
}
