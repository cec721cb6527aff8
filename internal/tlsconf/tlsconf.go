// Package tlsconf loads and reloads a node's TLS material (certificate,
// key, CA bundle) and turns Redis's TLS settings (tls-auth-clients,
// tls-protocols, tls-ciphers, tls-ciphersuites) into crypto/tls
// configurations: one for the client port, one for each side of the
// cluster port's mutual TLS, and one for clients of a TLS server (the admin
// CLI).
//
// A Loader holds the current material behind an atomic pointer; the
// tls.Configs it hands out look the material up on every handshake
// (GetConfigForClient, GetClientCertificate), so that a reload (SIGHUP,
// CONFIG SET tls-cert-file) is seen by the next handshake without a
// restart, and connections already established keep theirs.
//
// Peer verification follows Redis's (OpenSSL's SSL_VERIFY_PEER): the
// peer's chain must lead to the CA bundle, and host names are not checked,
// since nodes dial each other by the addresses gossip reports.
package tlsconf

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors.
var (
	// ErrBadConfig heads every validation error.
	ErrBadConfig = errors.New("tls")
	// ErrNoCert is returned when a handshake needs a certificate and the
	// loader has none.
	ErrNoCert = errors.New("tls: no certificate loaded")
	// ErrPeerUnverified is returned when a peer's certificate chain does
	// not lead to the CA bundle.
	ErrPeerUnverified = errors.New("tls: peer certificate not signed by the CA")
)

// AuthClients is tls-auth-clients: whether TLS clients of the client port
// must present a certificate.
type AuthClients uint8

// tls-auth-clients values.
const (
	// AuthYes (Redis's default) requires a certificate signed by the CA.
	AuthYes AuthClients = iota
	// AuthOptional verifies a certificate when the client sends one.
	AuthOptional
	// AuthNo asks for none.
	AuthNo
)

// ParseAuthClients parses yes, no or optional (case-insensitive).
func ParseAuthClients(s string) (AuthClients, error) {
	switch strings.ToLower(s) {
	case "yes":
		return AuthYes, nil
	case "optional":
		return AuthOptional, nil
	case "no":
		return AuthNo, nil
	}
	return 0, fmt.Errorf("%w: tls-auth-clients %q is not yes, no or optional", ErrBadConfig, s)
}

// String returns yes, optional or no.
func (a AuthClients) String() string {
	switch a {
	case AuthOptional:
		return "optional"
	case AuthNo:
		return "no"
	}
	return "yes"
}

// Config is a node's TLS configuration, with Redis's setting names in the
// field comments.
type Config struct {
	// CertFile and KeyFile are the PEM certificate (chain) and private key
	// the node presents, to clients and to other nodes (tls-cert-file,
	// tls-key-file).
	CertFile string
	KeyFile  string
	// CAFile is the PEM bundle that client and peer certificates must be
	// signed by (tls-ca-cert-file).
	CAFile string
	// AuthClients is tls-auth-clients (the client port only: the cluster
	// port always requires a certificate).
	AuthClients AuthClients
	// Protocols is tls-protocols: space-separated versions among TLSv1,
	// TLSv1.1, TLSv1.2 and TLSv1.3, a contiguous range. Empty: TLSv1.2 and
	// TLSv1.3.
	Protocols string
	// Ciphers is tls-ciphers: colon-separated TLS 1.2 (and below) cipher
	// suites by OpenSSL name (ECDHE-RSA-AES128-GCM-SHA256) or IANA name
	// (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256); DEFAULT or HIGH stand for
	// Go's defaults. Empty: Go's defaults.
	Ciphers string
	// Ciphersuites is tls-ciphersuites: colon-separated TLS 1.3 suites.
	// They are checked, but Go always offers all three of its TLS 1.3
	// suites (each is secure): the list cannot narrow them.
	Ciphersuites string
}

// DefaultConfig returns Redis's defaults: client certificates required,
// protocols and ciphers empty (TLSv1.2 and TLSv1.3, the library's
// ciphers); no files.
func DefaultConfig() Config {
	return Config{AuthClients: AuthYes}
}

// Validate reports the first problem with c that does not need the files
// read: missing file names, protocols or ciphers that do not parse.
func (c *Config) Validate() error {
	switch {
	case c.CertFile == "":
		return fmt.Errorf("%w: tls-cert-file is required", ErrBadConfig)
	case c.KeyFile == "":
		return fmt.Errorf("%w: tls-key-file is required", ErrBadConfig)
	case c.CAFile == "":
		return fmt.Errorf("%w: tls-ca-cert-file is required (client and peer certificates are checked against it)", ErrBadConfig)
	case c.AuthClients > AuthNo:
		return fmt.Errorf("%w: bad tls-auth-clients %d", ErrBadConfig, c.AuthClients)
	}
	if _, _, err := ParseProtocols(c.Protocols); err != nil {
		return err
	}
	if _, err := ParseCiphers(c.Ciphers); err != nil {
		return err
	}
	_, err := ParseCiphersuites(c.Ciphersuites)
	return err
}

// material is one loaded state: the files' contents and the tls.Configs
// built from them. Immutable once published.
type material struct {
	cfg  Config
	cert *tls.Certificate
	pool *x509.CertPool
	// server is the client port's configuration; mutualServer and
	// mutualClient the cluster port's two sides.
	server, mutualServer, mutualClient *tls.Config
}

// Loader holds a node's current TLS material. Its methods are safe for
// concurrent use: Update and Reload serialize on a mutex and publish new
// material atomically; the configurations it returns read the current
// material on every handshake (on the handshaking goroutine, lock-free).
type Loader struct {
	mu  sync.Mutex // serializes Update and Reload
	cur atomic.Pointer[material]
}

// New validates cfg, loads its files and returns a Loader.
func New(cfg Config) (*Loader, error) {
	l := &Loader{}
	m, err := load(cfg)
	if err != nil {
		return nil, err
	}
	l.cur.Store(m)
	return l, nil
}

// Config returns the configuration in force.
func (l *Loader) Config() Config { return l.cur.Load().cfg }

// Certificate returns the leaf certificate in force.
func (l *Loader) Certificate() *x509.Certificate { return l.cur.Load().cert.Leaf }

// Reload reads the files again. On an error the material in force stays.
func (l *Loader) Reload() error { return l.Update(func(*Config) {}) }

// Update applies change to a copy of the configuration in force, loads it
// and puts it in force; on an error (bad value, unreadable or mismatched
// files) nothing changes. New handshakes use the new material; established
// connections keep theirs.
func (l *Loader) Update(change func(*Config)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	cfg := l.cur.Load().cfg
	change(&cfg)
	m, err := load(cfg)
	if err != nil {
		return err
	}
	l.cur.Store(m)
	return nil
}

// Check reports whether change would be accepted by Update, without
// putting anything in force (CONFIG SET validates every value first).
func (l *Loader) Check(change func(*Config)) error {
	cfg := l.cur.Load().cfg
	change(&cfg)
	_, err := load(cfg)
	return err
}

// load validates cfg, reads its files and builds the configurations.
func load(cfg Config) (*material, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: tls-cert-file %s / tls-key-file %s: %v", ErrBadConfig, cfg.CertFile, cfg.KeyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%w: tls-cert-file %s: %v", ErrBadConfig, cfg.CertFile, err)
		}
	}
	pool, err := LoadCA(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	minV, maxV, _ := ParseProtocols(cfg.Protocols)
	suites, _ := ParseCiphers(cfg.Ciphers)
	m := &material{cfg: cfg, cert: &cert, pool: pool}
	base := func() *tls.Config {
		return &tls.Config{MinVersion: minV, MaxVersion: maxV, CipherSuites: suites,
			Certificates: []tls.Certificate{cert}}
	}
	m.server = base()
	m.server.ClientCAs = pool
	switch cfg.AuthClients {
	case AuthYes:
		m.server.ClientAuth = tls.RequireAndVerifyClientCert
	case AuthOptional:
		m.server.ClientAuth = tls.VerifyClientCertIfGiven
	default:
		m.server.ClientAuth = tls.NoClientCert
	}
	// The cluster port: both sides present the node's certificate and
	// check the other's chain against the CA, whatever its key usages (a
	// node's certificate serves as client and server certificate).
	m.mutualServer = base()
	m.mutualServer.ClientAuth = tls.RequireAnyClientCert
	m.mutualServer.VerifyPeerCertificate = verifyChain(pool)
	m.mutualClient = base()
	m.mutualClient.InsecureSkipVerify = true // verifyChain checks the chain; no host names
	m.mutualClient.VerifyPeerCertificate = verifyChain(pool)
	// Resumed sessions skip VerifyPeerCertificate: they must not outlive
	// the material that verified them. Each load has its own session
	// ticket key (servers; Go also checks a resumed client certificate
	// against the current ClientCAs, so this is a second guard) and session
	// cache (the cluster port's dialer, whose calls then resume instead of
	// making a full handshake each).
	for _, c := range []*tls.Config{m.server, m.mutualServer} {
		var k [32]byte
		if _, err := rand.Read(k[:]); err != nil {
			return nil, err
		}
		c.SetSessionTicketKeys([][32]byte{k})
	}
	m.mutualClient.ClientSessionCache = tls.NewLRUClientSessionCache(256)
	return m, nil
}

// LoadCA reads a PEM CA bundle.
func LoadCA(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: tls-ca-cert-file: %v", ErrBadConfig, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%w: tls-ca-cert-file %s: no PEM certificate in it", ErrBadConfig, path)
	}
	return pool, nil
}

// verifyChain returns a VerifyPeerCertificate that checks the peer's chain
// against pool, for any key usage and without a host name.
func verifyChain(pool *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return fmt.Errorf("%w: none presented", ErrPeerUnverified)
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, b := range raw {
			c, err := x509.ParseCertificate(b)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrPeerUnverified, err)
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: time.Now()})
		if err != nil {
			return fmt.Errorf("%w: %v", ErrPeerUnverified, err)
		}
		return nil
	}
}

// ServerConfig returns the client port's configuration: every handshake
// uses the material in force (tls-auth-clients decides whether a client
// certificate is required).
func (l *Loader) ServerConfig() *tls.Config {
	return &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return l.cur.Load().server, nil
	}}
}

// MutualServerConfig returns the accepting side of the cluster port's
// mutual TLS: the peer must present a certificate signed by the CA.
func (l *Loader) MutualServerConfig() *tls.Config {
	return &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return l.cur.Load().mutualServer, nil
	}}
}

// MutualClientConfig returns the dialing side of the cluster port's mutual
// TLS, built from the material in force now: call it for every dial.
func (l *Loader) MutualClientConfig() *tls.Config { return l.cur.Load().mutualClient }
