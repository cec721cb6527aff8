package placement

// Gossip encryption: memberlist encrypts and authenticates every gossip
// packet (AES-GCM) with the primary key of its keyring and accepts packets
// under any key of it. The keyring starts from Config.GossipKey and, with a
// DataDir, is kept in DataDir/serf.keyring (serf's KeyringFile, the format
// of serf's and Consul's agents: a JSON list of base64 keys, the primary
// first), which serf rewrites on every change; a keyring file found at
// start wins over GossipKey, so that a restarted node keeps the keys a
// rotation installed. Rotation goes through serf's KeyManager (GossipKeys),
// whose queries reach every member.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// KeyringFileName is the keyring file's name in Config.DataDir.
const KeyringFileName = "serf.keyring"

// ParseGossipKey decodes a gossip key: standard base64 of 16, 24 or 32
// bytes (AES-128, -192 or -256), as `serf keygen` and Consul's encrypt
// give.
func ParseGossipKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: gossip key is not base64: %v", ErrBadGossipKey, err)
	}
	if err := memberlist.ValidateKey(k); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadGossipKey, err)
	}
	return k, nil
}

// gossipKeyring returns the keyring to start with and the file serf keeps
// it in ("" without DataDir): the file's keys when it exists, else
// GossipKey's (written to the file); nil, "" without either (no
// encryption).
func (s *Service) gossipKeyring() (*memberlist.Keyring, string, error) {
	var file string
	if s.cfg.DataDir != "" {
		file = filepath.Join(s.cfg.DataDir, KeyringFileName)
		if b, err := os.ReadFile(file); err == nil {
			var keys []string
			if err := json.Unmarshal(b, &keys); err != nil || len(keys) == 0 {
				return nil, "", fmt.Errorf("%w: keyring file %s: not a JSON list of keys", ErrBadGossipKey, file)
			}
			raw := make([][]byte, len(keys))
			for i, k := range keys {
				if raw[i], err = ParseGossipKey(k); err != nil {
					return nil, "", fmt.Errorf("keyring file %s: %w", file, err)
				}
			}
			kr, err := memberlist.NewKeyring(raw, raw[0])
			if err != nil {
				return nil, "", fmt.Errorf("%w: keyring file %s: %v", ErrBadGossipKey, file, err)
			}
			if s.cfg.GossipKey != "" {
				s.log.Info("gossip keyring file found: it wins over the gossip key", "file", file, "keys", len(raw))
			}
			return kr, file, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("keyring file: %w", err)
		}
	}
	if s.cfg.GossipKey == "" {
		return nil, "", nil
	}
	k, err := ParseGossipKey(s.cfg.GossipKey)
	if err != nil {
		return nil, "", err
	}
	kr, err := memberlist.NewKeyring(nil, k)
	if err != nil {
		return nil, "", err
	}
	if file != "" {
		if err := os.MkdirAll(s.cfg.DataDir, 0o750); err != nil {
			return nil, "", err
		}
		b, _ := json.Marshal([]string{s.cfg.GossipKey})
		if err := os.WriteFile(file, b, 0o600); err != nil {
			return nil, "", fmt.Errorf("keyring file: %w", err)
		}
	}
	return kr, file, nil
}

// KeyOp is a gossip keyring operation.
type KeyOp string

// Keyring operations, as serf's KeyManager.
const (
	KeyInstall KeyOp = "install" // add a key to every member's keyring
	KeyUse     KeyOp = "use"     // make an installed key the primary one
	KeyRemove  KeyOp = "remove"  // remove a key that is not the primary
	KeyList    KeyOp = "list"    // list every member's keys
)

// KeyringStatus is the cluster's answer to a keyring operation.
type KeyringStatus struct {
	// Nodes is how many members gossip knows; Responses how many answered;
	// Errors how many of them failed.
	Nodes, Responses, Errors int
	// Keys maps each key (base64) to how many members have it; PrimaryKeys
	// each primary key to how many members use it.
	Keys, PrimaryKeys map[string]int
	// Messages are the members' error messages, "node-id: message",
	// sorted.
	Messages []string
}

// GossipKeys runs a keyring operation over the whole cluster through
// serf's KeyManager (a serf query every member answers; the local node
// included); key is the base64 key (ignored by KeyList). It blocks until
// the members answered or serf's query timeout passed; the error tells when
// a member failed or did not answer, and the status is filled in any case.
// Safe for concurrent use, but concurrent operations race on the keyring.
func (s *Service) GossipKeys(ctx context.Context, op KeyOp, key string) (KeyringStatus, error) {
	sf := s.serfAgent()
	if sf == nil {
		return KeyringStatus{}, ErrNotStarted
	}
	if err := ctx.Err(); err != nil {
		return KeyringStatus{}, err
	}
	if !sf.EncryptionEnabled() {
		return KeyringStatus{}, ErrNoGossipEncryption
	}
	if op != KeyList {
		if _, err := ParseGossipKey(key); err != nil {
			return KeyringStatus{}, err
		}
	}
	km := sf.KeyManager()
	var (
		r   *serf.KeyResponse
		err error
	)
	switch op {
	case KeyInstall:
		r, err = km.InstallKey(key)
	case KeyUse:
		r, err = km.UseKey(key)
	case KeyRemove:
		r, err = km.RemoveKey(key)
	case KeyList:
		r, err = km.ListKeys()
	default:
		return KeyringStatus{}, fmt.Errorf("placement: unknown keyring operation %q", op)
	}
	var st KeyringStatus
	if r != nil {
		st = KeyringStatus{Nodes: r.NumNodes, Responses: r.NumResp, Errors: r.NumErr,
			Keys: r.Keys, PrimaryKeys: r.PrimaryKeys}
		for n, m := range r.Messages {
			st.Messages = append(st.Messages, n+": "+m)
		}
		sort.Strings(st.Messages)
	}
	if err != nil {
		s.log.Warn("gossip keyring operation failed", "op", string(op), "err", err, "responses", st.Responses, "errors", st.Errors)
		return st, err
	}
	if op != KeyList {
		s.log.Info("gossip keyring changed", "op", string(op), "responses", st.Responses)
	}
	return st, nil
}
