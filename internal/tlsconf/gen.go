package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Throw-away certificates, for tests and `shoal dev --tls`: a CA and leaf
// certificates valid for 127.0.0.1, ::1 and localhost, as server and as
// client, P-256 ECDSA keys, written as PEM files. Not for production: the
// CA's key stays in memory only and the certificates last Validity.

// Validity is how long generated certificates last.
const Validity = 7 * 24 * time.Hour

// DevCA is a generated certificate authority.
type DevCA struct {
	// Cert is the CA's certificate; CertFile the PEM file holding it.
	Cert     *x509.Certificate
	CertFile string
	key      *ecdsa.PrivateKey
	dir      string
}

// DevFiles are a generated leaf certificate's files and its CA's.
type DevFiles struct {
	Cert, Key, CA string
	// Serial is the certificate's serial number.
	Serial *big.Int
}

// randomSerial returns a random 64-bit positive serial number.
func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
}

// GenerateCA creates a CA named name and writes its certificate to
// dir/name-ca.crt.
func GenerateCA(dir, name string) (*DevCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(Validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &DevCA{Cert: cert, key: key, dir: dir, CertFile: filepath.Join(dir, name+"-ca.crt")}
	return ca, writePEM(ca.CertFile, "CERTIFICATE", der)
}

// Issue signs a certificate for name and writes it and its key to
// name.crt and name.key in the CA's directory, replacing earlier files of
// that name (each by rename, the key first: a reader sees the old pair,
// or a new key with the old certificate, which it rejects as a mismatch).
func (ca *DevCA) Issue(name string) (DevFiles, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return DevFiles{}, err
	}
	serial, err := randomSerial()
	if err != nil {
		return DevFiles{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return DevFiles{}, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return DevFiles{}, err
	}
	f := DevFiles{Cert: filepath.Join(ca.dir, name+".crt"), Key: filepath.Join(ca.dir, name+".key"), CA: ca.CertFile, Serial: serial}
	if err := writePEM(f.Key, "PRIVATE KEY", kder); err != nil {
		return DevFiles{}, err
	}
	return f, writePEM(f.Cert, "CERTIFICATE", der)
}

func writePEM(path, typ string, der []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
