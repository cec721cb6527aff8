package server

// SHOAL KEYS: rotation of the gossip encryption keyring (serf's
// KeyManager, through an Admin that implements GossipKeyAdmin).

import (
	"context"
	"sort"
	"strings"

	"github.com/shoalcache/shoal/command"
)

// GossipKeyAdmin is the keyring administration an Admin may also offer
// (SHOAL KEYS checks for it with a type assertion). GossipKeys is called
// from connection goroutines, concurrently, with no front-end lock held;
// it blocks until every member answered, serf's query timed out or ctx
// ended.
type GossipKeyAdmin interface {
	// GossipKeys runs op ("install", "use", "remove" or "list") with key
	// (base64; ignored by "list") on every member's gossip keyring and
	// returns the members' answers. An error means the key is invalid,
	// gossip is not encrypted, or a member failed or did not answer; the
	// status is filled in as far as it is known.
	GossipKeys(ctx context.Context, op, key string) (GossipKeyring, error)
}

// GossipKeyring is the cluster's answer to a keyring operation.
type GossipKeyring struct {
	// Nodes gossip knows; Responses received; Errors among them.
	Nodes, Responses, Errors int
	// Keys maps each key (base64) to how many members have it,
	// PrimaryKeys each primary key to how many members use it.
	Keys, PrimaryKeys map[string]int
	// Messages are the members' error messages, "node-id: message".
	Messages []string
}

// RESP error texts of SHOAL KEYS.
const (
	errKeysUnsupported = "ERR gossip keyring administration is not supported by this node"
)

// shoalKeysCommand: SHOAL KEYS INSTALL key | USE key | REMOVE key | LIST.
//
// Runs the operation on every member's gossip keyring (a serf query) and
// replies a map: nodes (members gossip knows), responses, errors,
// keys (a map of base64 key to the number of members that have it),
// primary-keys (likewise for the key members encrypt with) and messages
// (the members' error messages). When a member failed or did not answer
// the reply is an error naming the operation, the cause and the messages.
func shoalKeysCommand(x *command.Ctx, args [][]byte) {
	op := strings.ToLower(string(args[2]))
	switch {
	case op == "list" && len(args) == 3:
	case (op == "install" || op == "use" || op == "remove") && len(args) == 4:
	default:
		x.Err(command.ErrSyntax)
		return
	}
	a := shoalAdmin(x)
	if a == nil {
		return
	}
	ka, ok := a.(GossipKeyAdmin)
	if !ok {
		x.Err(errKeysUnsupported)
		return
	}
	var key string
	if len(args) == 4 {
		key = string(args[3])
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	st, err := ka.GossipKeys(ctx, op, key)
	if err != nil {
		msg := "ERR keys " + op + " failed: " + err.Error()
		if len(st.Messages) > 0 {
			msg += " (" + strings.Join(st.Messages, "; ") + ")"
		}
		x.Err(command.Sanitize([]byte(msg)))
		return
	}
	x.MapHeader(6)
	x.BulkString("nodes")
	x.Int(int64(st.Nodes))
	x.BulkString("responses")
	x.Int(int64(st.Responses))
	x.BulkString("errors")
	x.Int(int64(st.Errors))
	x.BulkString("keys")
	keyCounts(x, st.Keys)
	x.BulkString("primary-keys")
	keyCounts(x, st.PrimaryKeys)
	x.BulkString("messages")
	bulkStrings(x, st.Messages)
}

// keyCounts replies m as a map of key to count, keys sorted.
func keyCounts(x *command.Ctx, m map[string]int) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	x.MapHeader(len(keys))
	for _, k := range keys {
		x.BulkString(k)
		x.Int(int64(m[k]))
	}
}
