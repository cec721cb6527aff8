package metrics

import "errors"

// Sentinel errors.
var (
	// ErrBadAddr: the metrics address is not HOST:PORT.
	ErrBadAddr = errors.New("metrics: address must be HOST:PORT")
)
