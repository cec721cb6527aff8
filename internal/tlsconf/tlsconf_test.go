package tlsconf_test

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/internal/tlsconf"
)

func config(f testutil.TLSFiles) tlsconf.Config {
	c := tlsconf.DefaultConfig()
	c.CertFile, c.KeyFile, c.CAFile = f.Cert, f.Key, f.CA
	return c
}

// handshake serves one TLS handshake with srv and returns the serial of
// the certificate the client saw, or the client's handshake error.
func handshake(t *testing.T, srv, cli *tls.Config) (string, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		err = c.(*tls.Conn).Handshake()
		if err == nil {
			_, err = c.Write([]byte{1}) // the client reads it: TLS 1.3 client auth fails on the client's first read
		}
		done <- err
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), cli)
	if err != nil {
		<-done
		return "", err
	}
	defer c.Close()
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil {
		<-done
		return "", err
	}
	serr := <-done
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), serr
}

func TestReloadPicksUpNewCertificate(t *testing.T) {
	ca := testutil.NewTLSCA(t, "ca")
	f := ca.Issue(t, "node")
	l, err := tlsconf.New(config(f))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := tlsconf.ClientFiles{CACert: f.CA, Cert: f.Cert, Key: f.Key}.Config()
	if err != nil {
		t.Fatal(err)
	}
	got, err := handshake(t, l.ServerConfig(), cli)
	if err != nil || got != f.Serial.String() {
		t.Fatalf("first handshake: serial %s, err %v; want %s", got, err, f.Serial)
	}
	f2 := ca.Issue(t, "node") // same paths, new certificate
	if got, _ := handshake(t, l.ServerConfig(), cli); got != f.Serial.String() {
		t.Fatalf("before Reload: serial %s, want the old %s", got, f.Serial)
	}
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	srv := l.ServerConfig()
	if got, err := handshake(t, srv, cli); err != nil || got != f2.Serial.String() {
		t.Fatalf("after Reload: serial %s, err %v; want %s", got, err, f2.Serial)
	}
	if l.Certificate().SerialNumber.Cmp(f2.Serial) != 0 {
		t.Fatalf("Certificate(): serial %s", l.Certificate().SerialNumber)
	}
	// The cluster port's dialer too.
	if got, err := handshake(t, l.MutualServerConfig(), l.MutualClientConfig()); err != nil || got != f2.Serial.String() {
		t.Fatalf("mutual after Reload: serial %s, err %v", got, err)
	}
}

func TestBadFilesKeepMaterial(t *testing.T) {
	ca := testutil.NewTLSCA(t, "ca")
	f := ca.Issue(t, "node")
	other := ca.Issue(t, "other")
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		mod  func(*tlsconf.Config)
		want string
	}{
		{"missing cert", func(c *tlsconf.Config) { c.CertFile = filepath.Join(dir, "nope.crt") }, "nope.crt"},
		{"garbage cert", func(c *tlsconf.Config) { c.CertFile = garbage }, "garbage.pem"},
		{"key of another cert", func(c *tlsconf.Config) { c.KeyFile = other.Key }, "private key does not match"},
		{"missing CA", func(c *tlsconf.Config) { c.CAFile = filepath.Join(dir, "nope-ca.crt") }, "tls-ca-cert-file"},
		{"garbage CA", func(c *tlsconf.Config) { c.CAFile = garbage }, "no PEM certificate"},
		{"no key file", func(c *tlsconf.Config) { c.KeyFile = "" }, "tls-key-file is required"},
		{"bad protocols", func(c *tlsconf.Config) { c.Protocols = "SSLv3" }, `"SSLv3" is not`},
		{"bad cipher", func(c *tlsconf.Config) { c.Ciphers = "RC4-MD5" }, `"RC4-MD5" is not a cipher suite`},
		{"bad suite", func(c *tlsconf.Config) { c.Ciphersuites = "TLS_FOO" }, `"TLS_FOO" is not a TLS 1.3 suite`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := config(f)
			tc.mod(&c)
			if _, err := tlsconf.New(c); err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tlsconf.ErrBadConfig) {
				t.Fatalf("New: %v; want an ErrBadConfig containing %q", err, tc.want)
			}
			l, err := tlsconf.New(config(f))
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Update(tc.mod); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Update: %v; want %q", err, tc.want)
			}
			if got := l.Config(); got != config(f) || l.Certificate().SerialNumber.Cmp(f.Serial) != 0 {
				t.Fatalf("a failed Update changed the material: %+v", got)
			}
		})
	}
}

func TestParseProtocols(t *testing.T) {
	cases := []struct {
		in       string
		min, max uint16
		bad      bool
	}{
		{"", tls.VersionTLS12, tls.VersionTLS13, false},
		{"TLSv1.2 TLSv1.3", tls.VersionTLS12, tls.VersionTLS13, false},
		{"tlsv1.3", tls.VersionTLS13, tls.VersionTLS13, false},
		{"TLSv1.2", tls.VersionTLS12, tls.VersionTLS12, false},
		{"TLSv1 TLSv1.1 TLSv1.2", tls.VersionTLS10, tls.VersionTLS12, false},
		{"TLSv1.3   TLSv1.2", tls.VersionTLS12, tls.VersionTLS13, false},
		{"TLSv1 TLSv1.3", 0, 0, true},
		{"SSLv3", 0, 0, true},
		{"TLSv1.4", 0, 0, true},
	}
	for _, tc := range cases {
		lo, hi, err := tlsconf.ParseProtocols(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && (lo != tc.min || hi != tc.max)) {
			t.Errorf("ParseProtocols(%q) = %x, %x, %v", tc.in, lo, hi, err)
		}
	}
}

func TestProtocolsEnforced(t *testing.T) {
	ca := testutil.NewTLSCA(t, "ca")
	f := ca.Issue(t, "node")
	c := config(f)
	c.Protocols = "TLSv1.3"
	l, err := tlsconf.New(c)
	if err != nil {
		t.Fatal(err)
	}
	cli, _ := tlsconf.ClientFiles{CACert: f.CA, Cert: f.Cert, Key: f.Key}.Config()
	cli.MaxVersion = tls.VersionTLS12
	if _, err := handshake(t, l.ServerConfig(), cli); err == nil {
		t.Fatal("a TLSv1.2 client completed a handshake with a TLSv1.3-only server")
	}
	cli.MaxVersion = 0
	if _, err := handshake(t, l.ServerConfig(), cli); err != nil {
		t.Fatalf("TLSv1.3 client: %v", err)
	}
}

func TestParseCiphers(t *testing.T) {
	ids, err := tlsconf.ParseCiphers("ECDHE-RSA-AES128-GCM-SHA256:TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")
	if err != nil || len(ids) != 2 || ids[0] != tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 || ids[1] != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Fatalf("ParseCiphers: %v, %v", ids, err)
	}
	if ids, err := tlsconf.ParseCiphers("DEFAULT"); err != nil || ids != nil {
		t.Fatalf("DEFAULT: %v, %v", ids, err)
	}
	if _, err := tlsconf.ParseCiphersuites("TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"); err != nil {
		t.Fatal(err)
	}
}

func TestAuthClients(t *testing.T) {
	ca := testutil.NewTLSCA(t, "ca")
	f := ca.Issue(t, "node")
	rogue := testutil.NewTLSCA(t, "rogue").Issue(t, "rogue")
	noCert, _ := tlsconf.ClientFiles{CACert: f.CA}.Config()
	withCert, _ := tlsconf.ClientFiles{CACert: f.CA, Cert: f.Cert, Key: f.Key}.Config()
	rogueCert, _ := tlsconf.ClientFiles{CACert: f.CA, Cert: rogue.Cert, Key: rogue.Key}.Config()
	for _, tc := range []struct {
		mode                    string
		none, good, fromOtherCA bool // whether each client gets in
	}{
		{"yes", false, true, false},
		{"optional", true, true, false},
		{"no", true, true, true},
	} {
		mode, err := tlsconf.ParseAuthClients(tc.mode)
		if err != nil || mode.String() != tc.mode {
			t.Fatalf("ParseAuthClients(%q) = %v, %v", tc.mode, mode, err)
		}
		c := config(f)
		c.AuthClients = mode
		l, err := tlsconf.New(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range []struct {
			name string
			cfg  *tls.Config
			want bool
		}{{"no certificate", noCert, tc.none}, {"CA's certificate", withCert, tc.good}, {"other CA's certificate", rogueCert, tc.fromOtherCA}} {
			if _, err := handshake(t, l.ServerConfig(), cl.cfg); (err == nil) != cl.want {
				t.Errorf("tls-auth-clients %s, client with %s: err %v, want accepted=%v", tc.mode, cl.name, err, cl.want)
			}
		}
	}
	if _, err := tlsconf.ParseAuthClients("maybe"); err == nil {
		t.Fatal("ParseAuthClients(maybe) accepted")
	}
}

func TestMutualRefusesOtherCA(t *testing.T) {
	ca := testutil.NewTLSCA(t, "ca")
	good, err := tlsconf.New(config(ca.Issue(t, "a")))
	if err != nil {
		t.Fatal(err)
	}
	rogueCA := testutil.NewTLSCA(t, "rogue")
	rogue, err := tlsconf.New(config(rogueCA.Issue(t, "r")))
	if err != nil {
		t.Fatal(err)
	}
	// A rogue node trusting our CA still presents its own certificate.
	rf := rogueCA.Issue(t, "r2")
	rc := config(rf)
	rc.CAFile = ca.CertFile
	trusting, err := tlsconf.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(t, good.MutualServerConfig(), good.MutualClientConfig()); err != nil {
		t.Fatalf("same CA: %v", err)
	}
	if _, err := handshake(t, good.MutualServerConfig(), rogue.MutualClientConfig()); err == nil {
		t.Fatal("a node of another CA dialed in")
	}
	if _, err := handshake(t, good.MutualServerConfig(), trusting.MutualClientConfig()); err == nil {
		t.Fatal("a node with another CA's certificate dialed in")
	}
	if _, err := handshake(t, rogue.MutualServerConfig(), good.MutualClientConfig()); err == nil {
		t.Fatal("dialed a node of another CA")
	}
	// No certificate at all.
	if _, err := handshake(t, good.MutualServerConfig(), &tls.Config{InsecureSkipVerify: true}); err == nil {
		t.Fatal("a dialer without certificate got in")
	}
}

// TestResumptionDoesNotOutliveReload: a TLS session resumes while the
// material stays, but not after a reload: a client whose certificate the
// new CA does not sign must not get in on an old session ticket (resumed
// sessions skip the certificate checks).
func TestResumptionDoesNotOutliveReload(t *testing.T) {
	ca1 := testutil.NewTLSCA(t, "ca1")
	f1 := ca1.Issue(t, "node")
	l, err := tlsconf.New(config(f1))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(f1.Cert, f1.Key)
	if err != nil {
		t.Fatal(err)
	}
	cli := &tls.Config{InsecureSkipVerify: true, ClientSessionCache: tls.NewLRUClientSessionCache(8),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }}
	srv := l.ServerConfig()
	// resumed connects once and reports whether the session resumed.
	resumed := func() (bool, error) {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			if c.(*tls.Conn).Handshake() == nil {
				_, _ = c.Write([]byte{1})
				var b [1]byte
				_, _ = c.Read(b[:])
			}
		}()
		c, err := tls.Dial("tcp", ln.Addr().String(), cli)
		if err != nil {
			return false, err
		}
		defer c.Close()
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil { // also takes the session ticket
			return false, err
		}
		return c.ConnectionState().DidResume, nil
	}
	if r, err := resumed(); err != nil || r {
		t.Fatalf("first connection: resumed %v, %v", r, err)
	}
	if r, err := resumed(); err != nil || !r {
		t.Fatalf("second connection: resumed %v, %v; want a resumed session", r, err)
	}
	// The node moves to another CA: the client's certificate is no longer
	// acceptable, with or without its session ticket.
	ca2 := testutil.NewTLSCA(t, "ca2")
	f2 := ca2.Issue(t, "node2")
	if err := l.Update(func(c *tlsconf.Config) { c.CertFile, c.KeyFile, c.CAFile = f2.Cert, f2.Key, f2.CA }); err != nil {
		t.Fatal(err)
	}
	if r, err := resumed(); err == nil {
		t.Fatalf("after the reload to another CA, the old client got in (resumed %v)", r)
	}
}
