package proxy

import "errors"

// Errors of the proxy's API.
var (
	ErrBadListen   = errors.New("proxy: Listen is not HOST:PORT")
	ErrNoCluster   = errors.New("proxy: Cluster names no node")
	ErrBadCluster  = errors.New("proxy: a Cluster address is not HOST:PORT")
	ErrBadConns    = errors.New("proxy: ConnsPerNode must be 1 to 64")
	ErrBadDuration = errors.New("proxy: RetryBudget must be >= 0 and DialTimeout, NodeTimeout, RefreshInterval > 0")
	ErrClosed      = errors.New("proxy: closed")
	ErrNoSlotMap   = errors.New("proxy: no node answered CLUSTER SLOTS")

	// errNodeDown fails the commands of a lost backend connection.
	errNodeDown = errors.New("proxy: connection to the node lost")
	// errNoNode is a slot no node serves in the proxy's map.
	errNoNode = errors.New("proxy: no node serves the slot")
	// errBadReply is a node reply that is not valid RESP: the node
	// connection is closed.
	errBadReply = errors.New("proxy: malformed reply from a node")
)

// RESP error replies of the proxy's own (those it shares with a node are
// command's).
const (
	errClusterDown = "CLUSTERDOWN The proxy cannot reach the node serving this slot"
	errUnsupported = "ERR this command is not supported by the Shoal proxy; connect to a node with a cluster client"
	// errProxyUser: the proxy's node connections are the default user's,
	// so it cannot act as another ACL user (it would run their commands
	// with the default user's rights).
	errProxyUser    = "ERR the Shoal proxy authenticates the default user only; connect to a node to use another ACL user"
	errBadNodeReply = "ERR the proxy got an unexpected reply from a node"
	errNoRESP2      = "ERR the proxy could not convert a reply to RESP2"
)
