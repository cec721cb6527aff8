package placement

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func TestParseGossipKey(t *testing.T) {
	for _, n := range []int{16, 24, 32} {
		k := base64.StdEncoding.EncodeToString(make([]byte, n))
		if _, err := ParseGossipKey(k); err != nil {
			t.Errorf("%d-byte key: %v", n, err)
		}
	}
	for _, k := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(make([]byte, 20))} {
		if _, err := ParseGossipKey(k); !errors.Is(err, ErrBadGossipKey) {
			t.Errorf("ParseGossipKey(%q) = %v, want ErrBadGossipKey", k, err)
		}
	}
}

// TestGossipKeyringFile: the key is written to DataDir/serf.keyring, and a
// keyring file found at start (as serf rewrites it after a rotation) wins
// over the key.
func TestGossipKeyringFile(t *testing.T) {
	k1 := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	k2 := base64.StdEncoding.EncodeToString([]byte("fedcba9876543210"))
	dir := t.TempDir()
	s := &Service{cfg: Config{DataDir: dir, GossipKey: k1}, log: slog.New(slog.DiscardHandler)}
	kr, file, err := s.gossipKeyring()
	if err != nil || kr == nil || file != filepath.Join(dir, KeyringFileName) {
		t.Fatalf("gossipKeyring = %v, %q, %v", kr, file, err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != `["`+k1+`"]` {
		t.Fatalf("keyring file %q, %v", b, err)
	}
	// After a rotation serf wrote [k2, k1]: k2 is primary on restart.
	if err := os.WriteFile(file, []byte(`["`+k2+`","`+k1+`"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	kr, _, err = s.gossipKeyring()
	if err != nil || string(kr.GetPrimaryKey()) != "fedcba9876543210" || len(kr.GetKeys()) != 2 {
		t.Fatalf("restored keyring: %v, %v", kr, err)
	}
	// A broken file is an error, not gossip in clear.
	if err := os.WriteFile(file, []byte(`[]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.gossipKeyring(); !errors.Is(err, ErrBadGossipKey) {
		t.Fatalf("empty keyring file: %v", err)
	}
	// Neither key nor file: no encryption.
	s = &Service{cfg: Config{DataDir: t.TempDir()}, log: slog.New(slog.DiscardHandler)}
	if kr, file, err := s.gossipKeyring(); kr != nil || file != "" || err != nil {
		t.Fatalf("no key: %v, %q, %v", kr, file, err)
	}
}
