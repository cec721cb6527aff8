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
