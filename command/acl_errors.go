package command

// RESP error texts of ACL (Redis 7.0's), next to errors.go's: the ACL
// command, its rule parser and the permission checks of the front end.
const (
	ErrACLNoPermCmdPrefix = "NOPERM this user has no permissions to run the '"
	ErrACLNoPermKey       = "NOPERM this user has no permissions to access one of the keys used as arguments"
	ErrACLNoPermChannel   = "NOPERM this user has no permissions to access one of the channels used as arguments"
	ErrACLUserSpaces      = "ERR Usernames can't contain spaces or null characters"
	ErrACLDelDefault      = "ERR The 'default' user cannot be removed"
	ErrACLGenpass         = "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"
	ErrACLNoFile          = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."

	// Rule errors (ACLSetUserStringError), after "Error in ACL SETUSER
	// modifier '<rule>': ".
	ACLRuleUnknown     = "Unknown command or category name in ACL"
	ACLRuleSyntax      = "Syntax error"
	ACLRuleKeyAfterAll = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
	ACLRuleChAfterAll  = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
	ACLRuleNoPassword  = "The password you are trying to remove from the user does not exist"
	ACLRuleBadHash     = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
	ACLRuleFirstArgSub = "Allowing first-arg of a subcommand is not supported"
	ACLRuleSelectors   = "Selectors are not supported by Shoal"
)

// ErrACLNoPermCmd returns the NOPERM reply to a command the user may not
// run; name is the command's full name ("get", "client|kill").
func ErrACLNoPermCmd(name string) string {
	return ErrACLNoPermCmdPrefix + name + "' command"
}

// ErrACLSetUser returns ACL SETUSER's error for a rule it refused.
func ErrACLSetUser(rule, why string) string {
	return Sanitize([]byte("ERR Error in ACL SETUSER modifier '" + rule + "': " + why))
}

// ErrACLUnknownCategory returns ACL CAT's error for an unknown category.
func ErrACLUnknownCategory(cat string) string {
	return Sanitize([]byte("ERR Unknown category '" + cat + "'"))
}

// ErrACLDryrunUser and ErrACLDryrunCommand are ACL DRYRUN's errors.
func ErrACLDryrunUser(user string) string {
	return Sanitize([]byte("ERR User '" + user + "' not found"))
}

func ErrACLDryrunCommand(cmd string) string {
	return Sanitize([]byte("ERR Command '" + cmd + "' not found"))
}
