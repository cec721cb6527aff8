package node

import "errors"

// Sentinel errors of package node. Compare with errors.Is: they are
// returned wrapped with details.
var (
	// ErrBadConfig is returned for an invalid configuration.
	ErrBadConfig = errors.New("node: invalid config")
)
