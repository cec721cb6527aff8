package server

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoalcache/shoal/command"
)

// RESP error texts of the SLOWLOG family.
const (
	errSlowlogCount = "ERR count should be greater than or equal to -1"
)

// errSubcommandSyntax is Redis's addReplySubcommandSyntaxError: the
// subcommand as given (at most 128 bytes) and the command in upper case.
func errSubcommandSyntax(cmd string, sub []byte) string {
	sub = truncNUL(sub)
	if len(sub) > 128 {
		sub = sub[:128]
	}
	b := append([]byte("ERR unknown subcommand or wrong number of arguments for '"), sub...)
	return command.Sanitize(append(b, "'. Try "+strings.ToUpper(cmd)+" HELP."...))
}

// Limits of a slowlog entry's arguments (SLOWLOG_ENTRY_MAX_ARGC and
// SLOWLOG_ENTRY_MAX_STRING).
const (
	slowlogMaxArgc   = 32
	slowlogMaxString = 128
)

// slowEntry is one SLOWLOG entry.
type slowEntry struct {
	id, unix, usec int64
	args           [][]byte // truncated copies
	addr, name     string
}

// slowlog is the server's slow log: newest entry last. Connection
// goroutines push on the slow path only (see introState); SLOWLOG reads it.
// Every field is guarded by mu.
type slowlog struct {
	mu      sync.Mutex
	nextID  int64
	entries []slowEntry
}

// push adds an entry for a command of c that took us microseconds, then
// drops the oldest entries beyond maxLen (Redis trims on push only).
func (l *slowlog) push(c *client, args [][]byte, us, maxLen int64) {
	e := slowEntry{unix: time.Now().Unix(), usec: us, addr: c.addr, args: slowlogArgs(args)}
	c.mu.Lock()
	e.name = c.name
	c.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	e.id = l.nextID
	l.nextID++
	l.entries = append(l.entries, e)
	if n := int64(len(l.entries)) - maxLen; n > 0 {
		clear(l.entries[:n])
		l.entries = l.entries[n:]
	}
}

// slowlogArgs copies args as Redis's slowlogCreateEntry: at most 32, the
// last of them saying how many more there were, each string cut at 128
// bytes with how many more there were.
func slowlogArgs(args [][]byte) [][]byte {
	n := min(len(args), slowlogMaxArgc)
	out := make([][]byte, n)
	for j := range n {
		a := args[j]
		switch {
		case n != len(args) && j == n-1:
			out[j] = []byte("... (" + strconv.Itoa(len(args)-n+1) + " more arguments)")
		case len(a) > slowlogMaxString:
			b := append([]byte(nil), a[:slowlogMaxString]...)
			out[j] = append(b, "... ("+strconv.Itoa(len(a)-slowlogMaxString)+" more bytes)"...)
		default:
			out[j] = append([]byte(nil), a...)
		}
	}
	return out
}

func init() {
	sub := func(name string, arity int, run func(*command.Ctx, [][]byte)) *command.Command {
		return &command.Command{Name: "slowlog|" + name, Arity: arity, Kind: command.KindLocal,
			Flags: command.FlagAdmin | command.FlagLoading | command.FlagStale,
			ACL:   []string{"admin", "slow", "dangerous"}, Run: run}
	}
	help := sub("help", 2, slowlogHelpCommand)
	help.Flags, help.ACL = command.FlagLoading|command.FlagStale, []string{"slow"}
	command.Register(&command.Command{Name: "slowlog", Arity: -2, Kind: command.KindLocal, ACL: []string{"slow"},
		Subs: []*command.Command{
			sub("get", -2, slowlogGetCommand),
			sub("len", 2, slowlogLenCommand),
			sub("reset", 2, slowlogResetCommand),
			help,
		}})
}

// slowlogGetCommand: SLOWLOG GET [count]. The newest count entries
// (default 10, -1 for all), newest first.
func slowlogGetCommand(x *command.Ctx, args [][]byte) {
	if len(args) > 3 {
		x.Err(errSubcommandSyntax("slowlog", args[1]))
		return
	}
	count := int64(10)
	if len(args) == 3 {
		n, ok := command.ParseInt(args[2])
		if !ok || n < -1 {
			x.Err(errSlowlogCount)
			return
		}
		count = n
	}
	l := &srvOf(x).intro.slowlog
	l.mu.Lock()
	n := int64(len(l.entries))
	if count == -1 || count > n {
		count = n
	}
	list := make([]slowEntry, count)
	for i := range list {
		list[i] = l.entries[n-1-int64(i)]
	}
	l.mu.Unlock()
	x.Array(len(list))
	for _, e := range list {
		x.Array(6)
		x.Int(e.id)
		x.Int(e.unix)
		x.Int(e.usec)
		x.Array(len(e.args))
		for _, a := range e.args {
			x.Bulk(a)
		}
		x.BulkString(e.addr)
		x.BulkString(e.name)
	}
}

// slowlogLenCommand: SLOWLOG LEN.
func slowlogLenCommand(x *command.Ctx, args [][]byte) {
	l := &srvOf(x).intro.slowlog
	l.mu.Lock()
	n := len(l.entries)
	l.mu.Unlock()
	x.Int(int64(n))
}

// slowlogResetCommand: SLOWLOG RESET. Entry ids keep counting.
func slowlogResetCommand(x *command.Ctx, args [][]byte) {
	l := &srvOf(x).intro.slowlog
	l.mu.Lock()
	l.entries = nil
	l.mu.Unlock()
	x.OK()
}

var slowlogHelp = []string{
	"SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"GET [<count>]",
	"    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
	"    Entries are made of:",
	"    id, timestamp, time in microseconds, arguments array, client IP and port,",
	"    client name",
	"LEN",
	"    Return the length of the slowlog.",
	"RESET",
	"    Reset the slowlog.",
	"HELP",
	"    Prints this help.",
}

// slowlogHelpCommand: SLOWLOG HELP.
func slowlogHelpCommand(x *command.Ctx, args [][]byte) { x.Help(slowlogHelp) }
