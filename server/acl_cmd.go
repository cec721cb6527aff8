package server

// The ACL command (Redis 7.0's subcommands). Changes of users go through
// Server.changeUsers: the local table, or the meta group's map in cluster
// mode.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/shoalcache/shoal/command"
)

func init() {
	sub := func(name string, arity int, admin bool, run func(*command.Ctx, [][]byte)) *command.Command {
		flags := command.FlagNoScript | command.FlagLoading | command.FlagStale
		acl := []string{"slow"}
		if admin {
			flags |= command.FlagAdmin
			acl = []string{"admin", "slow", "dangerous"}
		}
		return &command.Command{Name: "acl|" + name, Arity: arity, Kind: command.KindLocal, Flags: flags, ACL: acl, Run: run}
	}
	help := sub("help", 2, false, aclHelpCommand)
	help.Flags = command.FlagLoading | command.FlagStale
	command.Register(&command.Command{Name: "acl", Arity: -2, Kind: command.KindLocal, ACL: []string{"slow"},
		Subs: []*command.Command{
			sub("cat", -2, false, aclCatCommand),
			sub("deluser", -3, true, aclDelUserCommand),
			sub("dryrun", -4, true, aclDryrunCommand),
			sub("genpass", -2, false, aclGenpassCommand),
			sub("getuser", 3, true, aclGetUserCommand),
			sub("list", 2, true, aclListCommand),
			sub("load", 2, true, aclLoadCommand),
			sub("log", -2, true, aclLogCommand),
			sub("save", 2, true, aclSaveCommand),
			sub("setuser", -3, true, aclSetUserCommand),
			sub("users", 2, true, aclUsersCommand),
			sub("whoami", 2, false, aclWhoamiCommand),
			help,
		}})
}

var aclHelp = []string{
	"ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"CAT [<category>]",
	"    List all commands that belong to <category>, or all command categories",
	"    when no category is specified.",
	"DELUSER <username> [<username> ...]",
	"    Delete a list of users.",
	"DRYRUN <username> <command> [<arg> ...]",
	"    Returns whether the user can execute the given command without executing the command.",
	"GETUSER <username>",
	"    Get the user's details.",
	"GENPASS [<bits>]",
	"    Generate a secure 256-bit user password. The optional `bits` argument can",
	"    be used to specify a different size.",
	"LIST",
	"    Show users details in config file format.",
	"LOAD",
	"    Reload users from the ACL file.",
	"LOG [<count> | RESET]",
	"    Show the ACL log entries.",
	"SAVE",
	"    Save the current config to the ACL file.",
	"SETUSER <username> <attribute> [<attribute> ...]",
	"    Create or modify a user with the specified attributes.",
	"USERS",
	"    List all the registered usernames.",
	"WHOAMI",
	"    Return the current connection username.",
	"HELP",
	"    Prints this help.",
}

func aclHelpCommand(x *command.Ctx, args [][]byte) { x.Help(aclHelp) }

// aclChange runs a change of users for connection c, which closes after
// its reply if the change closed its own user's connections.
func aclChange(x *command.Ctx, fn func(users map[string]*userState) error) error {
	c := connOf(x)
	c.acl.busy.Store(true)
	err := srvOf(x).changeUsers(fn)
	c.acl.busy.Store(false)
	if c.acl.closeAfter.Swap(false) {
		c.closing = true
	}
	return err
}

// aclReplyErr replies a change's error.
func aclReplyErr(x *command.Ctx, err error) {
	var re *ruleError
	var me msgError
	switch {
	case errors.As(err, &re):
		x.Err(re.Error())
	case errors.As(err, &me):
		x.Err(string(me))
	default:
		x.Err(command.Sanitize([]byte("ERR " + err.Error())))
	}
}

// msgError is a change refused with a reply text.
type msgError string

func (e msgError) Error() string { return string(e) }

// aclSetUserCommand: ACL SETUSER username [rule ...].
func aclSetUserCommand(x *command.Ctx, args [][]byte) {
	name := string(args[2])
	if hasSpaces(name) {
		x.Err(command.ErrACLUserSpaces)
		return
	}
	rules := make([]string, len(args)-3)
	for i, a := range args[3:] {
		rules[i] = string(a)
	}
	err := aclChange(x, func(users map[string]*userState) error {
		base := users[name]
		if base == nil {
			base = newUserState()
		}
		st, rule, why := applyRules(base, rules)
		if st == nil {
			return &ruleError{rule: rule, why: why}
		}
		users[name] = st
		return nil
	})
	if err != nil {
		aclReplyErr(x, err)
		return
	}
	x.OK()
}

// aclDelUserCommand: ACL DELUSER username [username ...].
func aclDelUserCommand(x *command.Ctx, args [][]byte) {
	var n int64
	err := aclChange(x, func(users map[string]*userState) error {
		n = 0
		for _, a := range args[2:] {
			name := string(a)
			if name == "default" {
				return msgError(command.ErrACLDelDefault)
			}
			if _, ok := users[name]; ok {
				delete(users, name)
				n++
			}
		}
		return nil
	})
	if err != nil {
		aclReplyErr(x, err)
		return
	}
	x.Int(n)
}

// aclGetUserCommand: ACL GETUSER username.
func aclGetUserCommand(x *command.Ctx, args [][]byte) {
	u := srvOf(x).aclUserByName(string(args[2]))
	if u == nil {
		x.Null()
		return
	}
	st := u.st.Load()
	x.MapHeader(6)
	x.BulkString("flags")
	flags := st.flagNames()
	x.SetHeader(len(flags))
	for _, f := range flags {
		x.BulkString(f)
	}
	x.BulkString("passwords")
	x.Array(len(st.passwords))
	for _, p := range st.passwords {
		x.BulkString(p)
	}
	x.BulkString("commands")
	x.BulkString(st.commandRules())
	x.BulkString("keys")
	x.BulkString(st.keysString())
	x.BulkString("channels")
	ch := "&*"
	if !st.allCh {
		ch = strings.TrimPrefix(strings.TrimPrefix(st.channelsString(), "resetchannels"), " ")
	}
	x.BulkString(ch)
	x.BulkString("selectors")
	x.Array(0)
}

// aclListCommand: ACL LIST.
func aclListCommand(x *command.Ctx, args [][]byte) {
	lines := srvOf(x).aclLines()
	x.Array(len(lines))
	for _, l := range lines {
		x.BulkString(l)
	}
}

// aclUsersCommand: ACL USERS.
func aclUsersCommand(x *command.Ctx, args [][]byte) {
	lines := srvOf(x).aclLines()
	x.Array(len(lines))
	for _, l := range lines {
		name, _, _ := strings.Cut(strings.TrimPrefix(l, "user "), " ")
		x.BulkString(name)
	}
}

// aclWhoamiCommand: ACL WHOAMI.
func aclWhoamiCommand(x *command.Ctx, args [][]byte) {
	x.BulkString(connOf(x).userName())
}

// aclCatCommand: ACL CAT [category].
func aclCatCommand(x *command.Ctx, args [][]byte) {
	if len(args) > 3 {
		x.Err(errSubcommandSyntax("acl", args[1]))
		return
	}
	if len(args) == 2 {
		x.Array(len(command.ACLCategories))
		for _, c := range command.ACLCategories {
			x.BulkString(c)
		}
		return
	}
	cat := string(args[2])
	if !knownCategory(cat) {
		x.Err(command.ErrACLUnknownCategory(cat))
		return
	}
	var names []string
	eachCommand(func(c *command.Command) {
		if inCategory(c, cat) {
			names = append(names, c.Name)
		}
	})
	x.Array(len(names))
	for _, n := range names {
		x.BulkString(n)
	}
}

// aclGenpassCommand: ACL GENPASS [bits].
func aclGenpassCommand(x *command.Ctx, args [][]byte) {
	if len(args) > 3 {
		x.Err(errSubcommandSyntax("acl", args[1]))
		return
	}
	bits := int64(256)
	if len(args) == 3 {
		n, ok := command.ParseInt(args[2])
		if !ok {
			x.Err(command.ErrNotInteger)
			return
		}
		if n <= 0 || n > 4096 {
			x.Err(command.ErrACLGenpass)
			return
		}
		bits = n
	}
	chars := (bits + 3) / 4
	b := make([]byte, (chars+1)/2)
	_, _ = rand.Read(b)
	x.BulkString(hex.EncodeToString(b)[:chars])
}

// aclDryrunCommand: ACL DRYRUN username command [arg ...].
func aclDryrunCommand(x *command.Ctx, args [][]byte) {
	u := srvOf(x).aclUserByName(string(args[2]))
	if u == nil {
		x.Err(command.ErrACLDryrunUser(string(args[2])))
		return
	}
	cargs := args[3:]
	cmd := command.Lookup(cargs[0])
	if cmd != nil && len(cmd.Subs) > 0 && len(cargs) >= 2 {
		if sub := cmd.Sub(cargs[1]); sub != nil {
			cmd = sub
		} else if cmd.Run == nil {
			cmd = nil
		}
	}
	if cmd == nil {
		x.Err(command.ErrACLDryrunCommand(string(cargs[0])))
		return
	}
	if !cmd.ArityOK(len(cargs)) {
		x.Err(command.ErrWrongArgs(cmd.Name))
		return
	}
	var keybuf [][]byte
	switch reason, obj := aclCheck(u.st.Load(), cmd, cargs, &keybuf); reason {
	case aclDeniedCmd:
		x.BulkString("This user has no permissions to run the '" + obj + "' command")
	case aclDeniedKey:
		x.BulkString("This user has no permissions to access the '" + obj + "' key")
	default:
		x.OK()
	}
}
