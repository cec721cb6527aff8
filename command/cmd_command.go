package command

//go:generate go run ../internal/gen/commandmeta -out command_meta_gen.go -newer-redis ${SHOAL_REDIS_NEWER}

import (
	"sort"
	"strconv"
	"strings"

	"github.com/shoalcache/shoal/internal/resp"
)

// RESP error texts of the COMMAND family.
const (
	errGetKeysInvalidCmd  = "ERR Invalid command specified"
	errGetKeysNoKeys      = "ERR The command has no key arguments"
	errGetKeysBadArity    = "ERR Invalid number of arguments specified for command"
	errGetKeysInvalidArgs = "ERR Invalid arguments specified for command"
)

// cmdMeta is Redis's metadata of one command, in RESP3, as generated into
// command_meta_gen.go by internal/gen/commandmeta.
type cmdMeta struct {
	// info is elements 1-9 of the command's COMMAND INFO entry: name,
	// arity, flags, first key, last key, step, ACL categories, tips and key
	// specs. The subcommands element is built from the command table.
	info string
	// docs holds the fields of the COMMAND DOCS map but "subcommands";
	// docFields is their count.
	docs      string
	docFields int
}

func init() {
	sub := func(name string, arity int, run func(*Ctx, [][]byte)) *Command {
		return &Command{Name: "command|" + name, Arity: arity, Kind: KindLocal,
			Flags: FlagLoading | FlagStale, ACL: []string{"slow", "connection"}, Run: run}
	}
	Register(&Command{Name: "command", Arity: -1, Kind: KindLocal, Flags: FlagLoading | FlagStale,
		ACL: []string{"slow", "connection"}, Run: commandCommand,
		Subs: []*Command{
			sub("count", 2, commandCountCommand),
			sub("docs", -2, commandDocsCommand),
			sub("getkeys", -4, commandGetKeysCommand),
			sub("help", 2, commandHelpCommand),
			sub("info", -2, commandInfoCommand),
			sub("list", -2, commandListCommand),
		}})
}

// All returns the top-level commands of the table, by name. The
// table is read at call time: other families register their commands in
// their own init functions.
func All() []*Command {
	cmds := make([]*Command, 0, len(commands.m))
	for _, c := range commands.m {
		cmds = append(cmds, c)
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	return cmds
}

// lookupFullName finds a command by its full name ("get", "config|get"),
// case-insensitively, as Redis's lookupCommandBySds.
func lookupFullName(name []byte) *Command {
	parent, sub, found := strings.Cut(string(name), "|")
	c := Lookup([]byte(parent))
	if !found || c == nil {
		return c
	}
	if len(c.Subs) == 0 || strings.Contains(sub, "|") {
		return nil
	}
	return c.Sub([]byte(sub))
}

// replyRESP3 appends a reply built in RESP3 to x.Out, downgraded for RESP2
// connections.
func (x *Ctx) replyRESP3(b []byte) {
	if x.Proto == resp.RESP3 {
		x.Out = append(x.Out, b...)
		return
	}
	x.Out, _ = resp.Downgrade(x.Out, b)
}

// commandCommand: COMMAND (every command's COMMAND INFO entry).
func commandCommand(x *Ctx, args [][]byte) {
	if len(args) > 1 {
		x.Err(UnknownSubcommand("command", args[1]))
		return
	}
	cmds := All()
	b := resp.AppendArray(nil, len(cmds))
	for _, c := range cmds {
		b = appendCommandInfo(b, c)
	}
	x.replyRESP3(b)
}

// commandCountCommand: COMMAND COUNT.
func commandCountCommand(x *Ctx, args [][]byte) {
	x.Int(int64(len(commands.m)))
}

// commandInfoCommand: COMMAND INFO [command-name ...].
func commandInfoCommand(x *Ctx, args [][]byte) {
	if len(args) == 2 {
		commandCommand(x, args[:1])
		return
	}
	b := resp.AppendArray(nil, len(args)-2)
	for _, name := range args[2:] {
		if c := lookupFullName(name); c != nil {
			b = appendCommandInfo(b, c)
		} else {
			b = append(b, resp.Null3...)
		}
	}
	x.replyRESP3(b)
}

// commandDocsCommand: COMMAND DOCS [command-name ...].
func commandDocsCommand(x *Ctx, args [][]byte) {
	var cmds []*Command
	if len(args) == 2 {
		cmds = All()
	} else {
		for _, name := range args[2:] {
			if c := lookupFullName(name); c != nil {
				cmds = append(cmds, c)
			}
		}
	}
	b := resp.AppendMap(nil, resp.RESP3, len(cmds))
	for _, c := range cmds {
		b = resp.AppendBulkString(b, c.Name)
		b = appendCommandDocs(b, c)
	}
	x.replyRESP3(b)
}

// commandListCommand: COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern].
func commandListCommand(x *Ctx, args [][]byte) {
	var match func(c *Command) bool
	switch {
	case len(args) == 2:
		match = func(*Command) bool { return true }
	case len(args) == 5 && EqFold(args[2], "filterby"):
		arg := string(args[4])
		switch {
		case EqFold(args[3], "module"):
			match = func(*Command) bool { return false }
		case EqFold(args[3], "aclcat"):
			match = func(c *Command) bool {
				for _, a := range c.ACL {
					if strings.EqualFold(a, arg) {
						return true
					}
				}
				return false
			}
		case EqFold(args[3], "pattern"):
			match = func(c *Command) bool { return GlobMatchFold(arg, c.Name) }
		}
	}
	if match == nil {
		x.Err(ErrSyntax)
		return
	}
	var names []string
	for _, c := range All() {
		if match(c) {
			names = append(names, c.Name)
		}
		for _, s := range c.Subs {
			if match(s) {
				names = append(names, s.Name)
			}
		}
	}
	x.Array(len(names))
	for _, n := range names {
		x.BulkString(n)
	}
}

// commandGetKeysCommand: COMMAND GETKEYS command [arg ...].
func commandGetKeysCommand(x *Ctx, args [][]byte) {
	argv := args[2:]
	c := Lookup(argv[0])
	if c != nil && len(c.Subs) > 0 && len(argv) > 1 {
		c = c.Sub(argv[1])
	}
	switch {
	case c == nil:
		x.Err(errGetKeysInvalidCmd)
		return
	case c.FirstKey <= 0 && c.KeysFunc == nil && c.Flags&FlagMovableKeys == 0:
		x.Err(errGetKeysNoKeys)
		return
	case !c.ArityOK(len(argv)):
		x.Err(errGetKeysBadArity)
		return
	}
	var keys [][]byte
	if c.FirstKey > 0 || c.KeysFunc != nil {
		keys = c.Keys(argv, nil)
	} else if c.Flags&FlagMovableKeys != 0 {
		keys = MovableKeys(argv, nil) // script_exec.go
	}
	if len(keys) == 0 {
		x.Err(errGetKeysInvalidArgs)
		return
	}
	x.Array(len(keys))
	for _, k := range keys {
		x.Bulk(k)
	}
}

var commandHelp = []string{
	"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"(no subcommand)",
	"    Return details about all Redis commands.",
	"COUNT",
	"    Return the total number of commands in this Redis server.",
	"LIST",
	"    Return a list of all commands in this Redis server.",
	"INFO [<command-name> ...]",
	"    Return details about multiple Redis commands.",
	"    If no command names are given, documentation details for all",
	"    commands are returned.",
	"DOCS [<command-name> ...]",
	"    Return documentation details about multiple Redis commands.",
	"    If no command names are given, documentation details for all",
	"    commands are returned.",
	"GETKEYS <full-command>",
	"    Return the keys from a full Redis command.",
	"HELP",
	"    Prints this help.",
}

// commandHelpCommand: COMMAND HELP.
func commandHelpCommand(x *Ctx, args [][]byte) { x.Help(commandHelp) }

// Help replies a Help text as Redis's addReplyHelp: one status per line.
func (x *Ctx) Help(lines []string) {
	x.Array(len(lines))
	for _, l := range lines {
		x.Simple(l)
	}
}

// appendCommandInfo appends c's COMMAND INFO entry in RESP3: Redis's
// metadata when generated, else one synthesized from the table.
func appendCommandInfo(b []byte, c *Command) []byte {
	b = resp.AppendArray(b, 10)
	if m, ok := commandMeta[c.Name]; ok {
		b = append(b, m.info...)
	} else {
		b = appendSynthInfo(b, c)
	}
	// As Redis: an empty set without subcommands, else an array.
	if len(c.Subs) == 0 {
		return resp.AppendSet(b, resp.RESP3, 0)
	}
	b = resp.AppendArray(b, len(c.Subs))
	for _, s := range c.Subs {
		b = appendCommandInfo(b, s)
	}
	return b
}

// appendSynthInfo appends elements 1-9 of a COMMAND INFO entry built from
// the table fields.
func appendSynthInfo(b []byte, c *Command) []byte {
	b = resp.AppendBulkString(b, c.Name)
	b = resp.AppendInt(b, int64(c.Arity))
	n := 0
	for _, f := range flagNames {
		if c.Flags&f.f != 0 {
			n++
		}
	}
	b = resp.AppendSet(b, resp.RESP3, n)
	for _, f := range flagNames {
		if c.Flags&f.f != 0 {
			b = resp.AppendSimple(b, f.Name)
		}
	}
	b = resp.AppendInt(b, int64(c.FirstKey))
	b = resp.AppendInt(b, int64(c.LastKey))
	b = resp.AppendInt(b, int64(c.Step))
	b = resp.AppendSet(b, resp.RESP3, len(c.ACL))
	for _, a := range c.ACL {
		b = resp.AppendSimple(b, "@"+a)
	}
	b = resp.AppendSet(b, resp.RESP3, 0) // tips
	if c.FirstKey <= 0 {
		return resp.AppendSet(b, resp.RESP3, 0) // key specs
	}
	last := c.LastKey
	if last >= 0 {
		last -= c.FirstKey
	}
	b = resp.AppendSet(b, resp.RESP3, 1)
	b = resp.AppendMap(b, resp.RESP3, 3)
	b = resp.AppendBulkString(b, "flags")
	b = resp.AppendSet(b, resp.RESP3, 0)
	b = resp.AppendBulkString(b, "begin_search")
	b = resp.AppendMap(b, resp.RESP3, 2)
	b = resp.AppendBulkString(b, "type")
	b = resp.AppendBulkString(b, "index")
	b = resp.AppendBulkString(b, "spec")
	b = resp.AppendMap(b, resp.RESP3, 1)
	b = resp.AppendBulkString(b, "index")
	b = resp.AppendInt(b, int64(c.FirstKey))
	b = resp.AppendBulkString(b, "find_keys")
	b = resp.AppendMap(b, resp.RESP3, 2)
	b = resp.AppendBulkString(b, "type")
	b = resp.AppendBulkString(b, "range")
	b = resp.AppendBulkString(b, "spec")
	b = resp.AppendMap(b, resp.RESP3, 3)
	b = resp.AppendBulkString(b, "lastkey")
	b = resp.AppendInt(b, int64(last))
	b = resp.AppendBulkString(b, "keystep")
	b = resp.AppendInt(b, int64(c.Step))
	b = resp.AppendBulkString(b, "limit")
	return resp.AppendInt(b, 0)
}

// appendCommandDocs appends c's COMMAND DOCS map in RESP3.
func appendCommandDocs(b []byte, c *Command) []byte {
	m, ok := commandMeta[c.Name]
	if !ok {
		m = cmdMeta{docs: "$5\r\ngroup\r\n$" + strconv.Itoa(len(synthGroup(c))) + "\r\n" + synthGroup(c) + "\r\n", docFields: 1}
	}
	n := m.docFields
	if len(c.Subs) > 0 {
		n++
	}
	b = resp.AppendMap(b, resp.RESP3, n)
	b = append(b, m.docs...)
	if len(c.Subs) > 0 {
		b = resp.AppendBulkString(b, "subcommands")
		b = resp.AppendMap(b, resp.RESP3, len(c.Subs))
		for _, s := range c.Subs {
			b = resp.AppendBulkString(b, s.Name)
			b = appendCommandDocs(b, s)
		}
	}
	return b
}

// synthGroup guesses a command's documentation group from its ACL
// categories.
func synthGroup(c *Command) string {
	for _, a := range c.ACL {
		switch a {
		case "string", "connection", "hash", "list", "set", "pubsub", "transaction", "scripting":
			return a
		case "sortedset":
			return "sorted-set"
		case "admin", "dangerous":
			return "server"
		}
	}
	return "generic"
}

// GlobMatchFold matches like Redis's stringmatchlen with nocase set: the same
// as matching the lower-cased pattern against the lower-cased string.
func GlobMatchFold(pattern, s string) bool {
	return globMatch([]byte(strings.ToLower(pattern)), strings.ToLower(s))
}
