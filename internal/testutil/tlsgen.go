package testutil

import (
	"testing"

	"github.com/shoalcache/shoal/internal/tlsconf"
)

// TLSCA is a throw-away certificate authority for tests (tlsconf's
// generator): its certificate is in CertFile (PEM), and Issue signs leaf
// certificates with it.
type TLSCA struct {
	*tlsconf.DevCA
}

// TLSFiles are a leaf certificate's files (Cert, Key), its CA's (CA) and
// its serial number.
type TLSFiles = tlsconf.DevFiles

// NewTLSCA creates a CA named name in a temporary directory of t.
func NewTLSCA(t testing.TB, name string) *TLSCA {
	t.Helper()
	ca, err := tlsconf.GenerateCA(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	return &TLSCA{ca}
}

// Issue signs a certificate for name (its common name; valid for
// 127.0.0.1, ::1 and localhost, as server and as client) and writes it
// and its key to name.crt and name.key in the CA's directory, replacing
// earlier files of that name: a test reloads certificates by issuing the
// same name again.
func (ca *TLSCA) Issue(t testing.TB, name string) TLSFiles {
	t.Helper()
	f, err := ca.DevCA.Issue(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TLSLoader returns a tlsconf.Loader over f's certificate, key and CA.
func TLSLoader(t testing.TB, f TLSFiles) *tlsconf.Loader {
	t.Helper()
	c := tlsconf.DefaultConfig()
	c.CertFile, c.KeyFile, c.CAFile = f.Cert, f.Key, f.CA
	l, err := tlsconf.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
