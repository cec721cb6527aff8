package command

// RESP error texts of functions (FCALL, FCALL_RO, FUNCTION), Redis 7.0's.
const (
	ErrFunctionNumKeys     = "ERR Bad number of keys provided"
	ErrFunctionNotFound    = "ERR Function not found"
	ErrFunctionWriteRO     = "ERR Can not execute a script with write flag using *_ro command."
	ErrFunctionFlushArg    = "ERR FUNCTION FLUSH only supports SYNC|ASYNC option"
	ErrFunctionFlushSyntax = "ERR unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP."
	ErrFunctionPolicy      = "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
	ErrFunctionListName    = "ERR library name argument was not given"
	ErrFunctionUnknownArg  = "ERR Unknown argument "
	ErrFunctionLoadOption  = "ERR Unknown option given: "
)
