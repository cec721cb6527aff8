package command

// RESP error texts of scripting (EVAL, EVALSHA, SCRIPT and the commands a
// script calls), as Redis 7.0 words them; without the leading '-'.
const (
	ErrNoScript            = "NOSCRIPT No matching script. Please use EVAL."
	ErrNumKeysNegative     = "ERR Number of keys can't be negative"
	ErrNumKeysTooMany      = "ERR Number of keys can't be greater than number of args"
	ErrScriptUnknownCmd    = "ERR Unknown Redis command called from script"
	ErrScriptWrongArgs     = "ERR Wrong number of args calling Redis command from script"
	ErrScriptNotAllowed    = "ERR This Redis command is not allowed from script"
	ErrScriptWriteReadOnly = "ERR Write commands are not allowed from read-only scripts."
	ErrScriptNoCluster     = "ERR Can not run script on cluster, 'no-cluster' flag is set."
	ErrScriptBusy          = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
	ErrScriptNotBusy       = "NOTBUSY No scripts in execution right now."
	// ErrFunctionBusy: SCRIPT KILL while only a function that may be
	// killed runs.
	ErrFunctionBusy     = "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
	ErrScriptUnkillable = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."
	// ErrScriptNondeterministic: a write script runs on every replica,
	// which must all compute the same (docs/scripting.md).
	ErrScriptNondeterministic = "ERR RANDOMKEY is not allowed from write scripts: they run on every replica (use EVAL_RO or a no-writes script)"
	// ErrScriptACLWrite: a user with restricted ACL rules ran a write
	// script, whose commands run in the FSM where the user's rules are
	// unknown (docs/scripting.md).
	ErrScriptACLWrite      = "NOPERM this user has no permissions to run write scripts: the commands of a replicated script cannot be checked against restricted ACL rules (use EVAL_RO or a no-writes script)"
	ErrScriptACLDenied     = "ERR The user executing the script can't run this command or subcommand"
	ErrScriptSelectCluster = "ERR SELECT is not allowed in cluster mode"
	ErrScriptFlushArg      = "ERR SCRIPT FLUSH only support SYNC|ASYNC option"
)
