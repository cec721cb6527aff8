package tlsconf

import (
	"crypto/tls"
	"fmt"
)

// ClientFiles are the TLS options of a client of a Shoal node, with
// redis-cli's names: --cacert, --cert, --key.
type ClientFiles struct {
	// CACert is the PEM bundle the server's certificate must be signed by;
	// empty: the system's roots.
	CACert string
	// Cert and Key are the client certificate and key to present (both or
	// neither), for servers with tls-auth-clients yes.
	Cert, Key string
	// Insecure skips the server's verification (redis-cli --insecure).
	Insecure bool
}

// Config returns the client configuration f describes. As redis-cli, it
// checks the server's chain but not its host name (nodes are reached by
// the addresses CLUSTER SLOTS gives).
func (f ClientFiles) Config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
	if (f.Cert == "") != (f.Key == "") {
		return nil, fmt.Errorf("%w: --cert and --key go together", ErrBadConfig)
	}
	if f.Cert != "" {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: --cert %s / --key %s: %v", ErrBadConfig, f.Cert, f.Key, err)
		}
		// Always sent, as redis-cli does: Go's own choice (Certificates)
		// would send none when the server names other CAs.
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	if f.Insecure {
		return c, nil
	}
	if f.CACert != "" {
		pool, err := LoadCA(f.CACert)
		if err != nil {
			return nil, err
		}
		c.VerifyPeerCertificate = verifyChain(pool)
		return c, nil
	}
	c.InsecureSkipVerify = false // system roots, with host names
	return c, nil
}
