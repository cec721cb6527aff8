package main

import (
	"strings"
	"testing"

	"github.com/shoalcache/shoal/internal/tlsconf"
)

// TestTLSFlags: the TLS settings from flags and from a config file (Redis's
// directive names), and their errors.
func TestTLSFlags(t *testing.T) {
	conf := writeConf(t, "port 0\ntls-port 7443\ntls-cluster yes\ntls-cert-file /c.pem\ntls-key-file /k.pem\n"+
		"tls-ca-cert-file /ca.pem\ntls-auth-clients optional\ntls-protocols \"TLSv1.2 TLSv1.3\"\n")
	cfg, _, err := parseServerFlags(t, "--config", conf)
	if err != nil {
		t.Fatal(err)
	}
	want := tlsconf.Config{CertFile: "/c.pem", KeyFile: "/k.pem", CAFile: "/ca.pem", AuthClients: tlsconf.AuthOptional,
		Protocols: "TLSv1.2 TLSv1.3"}
	if cfg.Port != 0 || cfg.TLS.Port != 7443 || !cfg.TLS.Cluster || cfg.TLS.Files != want {
		t.Fatalf("from the file: port %d, TLS %+v", cfg.Port, cfg.TLS)
	}
	// The advertised address (and the node id derived from it) is the TLS
	// port's.
	if got := cfg.AdvertiseAddr(); got != "127.0.0.1:7443" {
		t.Errorf("AdvertiseAddr = %s", got)
	}
	// Flags override the file.
	if cfg, _, err = parseServerFlags(t, "--config", conf, "--tls-auth-clients", "no"); err != nil || cfg.TLS.Files.AuthClients != tlsconf.AuthNo {
		t.Fatalf("--tls-auth-clients no over the file: %+v, %v", cfg.TLS, err)
	}
	files := []string{"--tls-cert-file", "/c", "--tls-key-file", "/k", "--tls-ca-cert-file", "/ca"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--port", "0"}, "set --tls-port"},
		{append([]string{"--tls-cluster", "yes"}, files...), "tls-cluster: needs --tls-port"},
		{append([]string{"--tls-port", "7443", "--tls-cluster", "maybe"}, files...), `"maybe" is not yes or no`},
		{append([]string{"--tls-port", "7443", "--tls-auth-clients", "sometimes"}, files...), `"sometimes" is not yes, no or optional`},
		{[]string{"--tls-port", "7443"}, "tls-cert-file is required"},
		{append([]string{"--tls-port", "7443", "--tls-protocols", "SSLv3"}, files...), `"SSLv3" is not`},
	} {
		if _, _, err := parseServerFlags(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestDevTLS: `shoal dev --tls` makes certificates (in --data-dir/tls),
// gives every node --port 0 and its port as --tls-port with them, and the
// connect help names them; --proxy-port is refused with it.
func TestDevTLS(t *testing.T) {
	dir := t.TempDir()
	cfg, err := parseDevFlags(t, "--tls", "--nodes", "2", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.TLS.cleanup()
	f := cfg.TLS.files
	if !strings.HasPrefix(f.Cert, dir) {
		t.Fatalf("certificate %s not under --data-dir %s", f.Cert, dir)
	}
	args := strings.Join(cfg.childArgs(1), " ")
	want := "--port 0 --tls-port 7001 --tls-cluster yes --tls-cert-file " + f.Cert + " --tls-key-file " + f.Key + " --tls-ca-cert-file " + f.CA
	if !strings.HasSuffix(args, want) {
		t.Fatalf("node 1: %q, want it to end with %q", args, want)
	}
	if _, err := tlsconf.New(tlsconf.Config{CertFile: f.Cert, KeyFile: f.Key, CAFile: f.CA}); err != nil {
		t.Fatalf("the generated files do not load: %v", err)
	}
	if help := devConnectHelp(cfg, []string{cfg.addr(0), cfg.addr(1)}); !strings.Contains(help, "redis-cli --tls --cacert "+f.CA) {
		t.Fatalf("connect help:\n%s", help)
	}
	bad, err := parseDevFlags(t, "--tls", "--proxy-port", "7400")
	bad.TLS.cleanup()
	if err == nil || !strings.Contains(err.Error(), "--proxy-port") {
		t.Fatalf("--tls --proxy-port: %v", err)
	}
	// Without --tls, nothing changes.
	if cfg, err = parseDevFlags(t); err != nil || cfg.TLS != nil || strings.Contains(strings.Join(cfg.childArgs(0), " "), "tls") {
		t.Fatalf("without --tls: %+v, %v", cfg.TLS, err)
	}
}
