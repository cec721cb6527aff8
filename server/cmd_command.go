package server

//go:generate go run ../internal/gen/commandmeta -out command_meta_gen.go

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
	sub := func(name string, arity int, run func(*Ctx, [][]byte)) *command {
		return &command{name: "command|" + name, arity: arity, kind: kindLocal,
			flags: flagLoading | flagStale, acl: []string{"slow", "connection"}, run: run}
	}
	register(&command{name: "command", arity: -1, kind: kindLocal, flags: flagLoading | flagStale,
		acl: []string{"slow", "connection"}, run: commandCommand,
		subs: []*command{
			sub("count", 2, commandCountCommand),
			sub("docs", -2, commandDocsCommand),
			sub("getkeys", -4, commandGetKeysCommand),
			sub("help", 2, commandHelpCommand),
			sub("info", -2, commandInfoCommand),
			sub("list", -2, commandListCommand),
		}})
}

// sortedCommands returns the top-level commands of the table, by name. The
// table is read at call time: other families register their commands in
// their own init functions.
func sortedCommands() []*command {
	cmds := make([]*command, 0, len(commands.m))
	for _, c := range commands.m {
		cmds = append(cmds, c)
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	return cmds
}

// lookupFullName finds a command by its full name ("get", "config|get"),
// case-insensitively, as Redis's lookupCommandBySds.
func lookupFullName(name []byte) *command {
	parent, sub, found := strings.Cut(string(name), "|")
	c := commands.lookup([]byte(parent))
	if !found || c == nil {
		return c
	}
	if len(c.subs) == 0 || strings.Contains(sub, "|") {
		return nil
	}
	return c.sub([]byte(sub))
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
		x.err(unknownSubcommand("command", args[1]))
		return
	}
	cmds := sortedCommands()
	b := resp.AppendArray(nil, len(cmds))
	for _, c := range cmds {
		b = appendCommandInfo(b, c)
	}
	x.replyRESP3(b)
}

// commandCountCommand: COMMAND COUNT.
func commandCountCommand(x *Ctx, args [][]byte) {
	x.int(int64(len(commands.m)))
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
	var cmds []*command
	if len(args) == 2 {
		cmds = sortedCommands()
	} else {
		for _, name := range args[2:] {
			if c := lookupFullName(name); c != nil {
				cmds = append(cmds, c)
			}
		}
	}
	b := resp.AppendMap(nil, resp.RESP3, len(cmds))
	for _, c := range cmds {
		b = resp.AppendBulkString(b, c.name)
		b = appendCommandDocs(b, c)
	}
	x.replyRESP3(b)
}

// commandListCommand: COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern].
func commandListCommand(x *Ctx, args [][]byte) {
	var match func(c *command) bool
	switch {
	case len(args) == 2:
		match = func(*command) bool { return true }
	case len(args) == 5 && eqFold(args[2], "filterby"):
		arg := string(args[4])
		switch {
		case eqFold(args[3], "module"):
			match = func(*command) bool { return false }
		case eqFold(args[3], "aclcat"):
			match = func(c *command) bool {
				for _, a := range c.acl {
					if strings.EqualFold(a, arg) {
						return true
					}
				}
				return false
			}
		case eqFold(args[3], "pattern"):
			match = func(c *command) bool { return globMatchFold(arg, c.name) }
		}
	}
	if match == nil {
		x.err(errSyntax)
		return
	}
	var names []string
	for _, c := range sortedCommands() {
		if match(c) {
			names = append(names, c.name)
		}
		for _, s := range c.subs {
			if match(s) {
				names = append(names, s.name)
			}
		}
	}
	x.array(len(names))
	for _, n := range names {
		x.bulkString(n)
	}
}

// commandGetKeysCommand: COMMAND GETKEYS command [arg ...].
func commandGetKeysCommand(x *Ctx, args [][]byte) {
	argv := args[2:]
	c := commands.lookup(argv[0])
	if c != nil && len(c.subs) > 0 && len(argv) > 1 {
		c = c.sub(argv[1])
	}
	switch {
	case c == nil:
		x.err(errGetKeysInvalidCmd)
		return
	case c.firstKey <= 0 && c.flags&flagMovableKeys == 0:
		x.err(errGetKeysNoKeys)
		return
	case !c.arityOK(len(argv)):
		x.err(errGetKeysBadArity)
		return
	}
	var keys [][]byte
	if c.firstKey > 0 {
		keys = c.keys(argv, nil)
	}
	if len(keys) == 0 {
		x.err(errGetKeysInvalidArgs)
		return
	}
	x.array(len(keys))
	for _, k := range keys {
		x.bulk(k)
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
func commandHelpCommand(x *Ctx, args [][]byte) { x.help(commandHelp) }

// help replies a help text as Redis's addReplyHelp: one status per line.
func (x *Ctx) help(lines []string) {
	x.array(len(lines))
	for _, l := range lines {
		x.simple(l)
	}
}

// appendCommandInfo appends c's COMMAND INFO entry in RESP3: Redis's
// metadata when generated, else one synthesized from the table.
func appendCommandInfo(b []byte, c *command) []byte {
	b = resp.AppendArray(b, 10)
	if m, ok := commandMeta[c.name]; ok {
		b = append(b, m.info...)
	} else {
		b = appendSynthInfo(b, c)
	}
	// As Redis: an empty set without subcommands, else an array.
	if len(c.subs) == 0 {
		return resp.AppendSet(b, resp.RESP3, 0)
	}
	b = resp.AppendArray(b, len(c.subs))
	for _, s := range c.subs {
		b = appendCommandInfo(b, s)
	}
	return b
}

// appendSynthInfo appends elements 1-9 of a COMMAND INFO entry built from
// the table fields.
func appendSynthInfo(b []byte, c *command) []byte {
	b = resp.AppendBulkString(b, c.name)
	b = resp.AppendInt(b, int64(c.arity))
	n := 0
	for _, f := range flagNames {
		if c.flags&f.f != 0 {
			n++
		}
	}
	b = resp.AppendSet(b, resp.RESP3, n)
	for _, f := range flagNames {
		if c.flags&f.f != 0 {
			b = resp.AppendSimple(b, f.name)
		}
	}
	b = resp.AppendInt(b, int64(c.firstKey))
	b = resp.AppendInt(b, int64(c.lastKey))
	b = resp.AppendInt(b, int64(c.step))
	b = resp.AppendSet(b, resp.RESP3, len(c.acl))
	for _, a := range c.acl {
		b = resp.AppendSimple(b, "@"+a)
	}
	b = resp.AppendSet(b, resp.RESP3, 0) // tips
	if c.firstKey <= 0 {
		return resp.AppendSet(b, resp.RESP3, 0) // key specs
	}
	last := c.lastKey
	if last >= 0 {
		last -= c.firstKey
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
	b = resp.AppendInt(b, int64(c.firstKey))
	b = resp.AppendBulkString(b, "find_keys")
	b = resp.AppendMap(b, resp.RESP3, 2)
	b = resp.AppendBulkString(b, "type")
	b = resp.AppendBulkString(b, "range")
	b = resp.AppendBulkString(b, "spec")
	b = resp.AppendMap(b, resp.RESP3, 3)
	b = resp.AppendBulkString(b, "lastkey")
	b = resp.AppendInt(b, int64(last))
	b = resp.AppendBulkString(b, "keystep")
	b = resp.AppendInt(b, int64(c.step))
	b = resp.AppendBulkString(b, "limit")
	return resp.AppendInt(b, 0)
}

// appendCommandDocs appends c's COMMAND DOCS map in RESP3.
func appendCommandDocs(b []byte, c *command) []byte {
	m, ok := commandMeta[c.name]
	if !ok {
		m = cmdMeta{docs: "$5\r\ngroup\r\n$" + strconv.Itoa(len(synthGroup(c))) + "\r\n" + synthGroup(c) + "\r\n", docFields: 1}
	}
	n := m.docFields
	if len(c.subs) > 0 {
		n++
	}
	b = resp.AppendMap(b, resp.RESP3, n)
	b = append(b, m.docs...)
	if len(c.subs) > 0 {
		b = resp.AppendBulkString(b, "subcommands")
		b = resp.AppendMap(b, resp.RESP3, len(c.subs))
		for _, s := range c.subs {
			b = resp.AppendBulkString(b, s.name)
			b = appendCommandDocs(b, s)
		}
	}
	return b
}

// synthGroup guesses a command's documentation group from its ACL
// categories.
func synthGroup(c *command) string {
	for _, a := range c.acl {
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

// globMatchFold matches like Redis's stringmatchlen with nocase set: the same
// as matching the lower-cased pattern against the lower-cased string.
func globMatchFold(pattern, s string) bool {
	return globMatch([]byte(strings.ToLower(pattern)), strings.ToLower(s))
}
