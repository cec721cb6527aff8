package command

// Test hooks for the external test package (command_test).
var (
	Meta              = commandMeta
	AppendCommandInfo = appendCommandInfo
	AppendCommandDocs = appendCommandDocs
)

// MetaInfo returns m's COMMAND INFO elements.
func MetaInfo(m cmdMeta) string { return m.info }
