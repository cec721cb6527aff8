package main

// TLS settings of `shoal server` (Redis's names), and the SIGHUP reload.

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/internal/node"
	"github.com/shoalcache/shoal/internal/tlsconf"
)

// tlsServerFlags are the TLS flags of `shoal server`.
func tlsServerFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "tls-port", Usage: "RESP port for TLS clients (0: none); with --port 0 the only one"},
		&cli.StringFlag{Name: "tls-cert-file", TakesFile: true, Usage: "PEM certificate the node presents to clients and, with --tls-cluster, to other nodes"},
		&cli.StringFlag{Name: "tls-key-file", TakesFile: true, Usage: "PEM private key of --tls-cert-file"},
		&cli.StringFlag{Name: "tls-ca-cert-file", TakesFile: true, Usage: "PEM CA bundle client and node certificates must be signed by"},
		&cli.StringFlag{Name: "tls-auth-clients", Value: "yes", Usage: "yes: TLS clients must present a certificate signed by the CA; optional: checked when one is sent; no"},
		&cli.StringFlag{Name: "tls-protocols", Usage: "TLS versions accepted, e.g. \"TLSv1.2 TLSv1.3\" (the default)"},
		&cli.StringFlag{Name: "tls-ciphers", Usage: "TLSv1.2 cipher suites, colon-separated (OpenSSL or IANA names); default: Go's"},
		&cli.StringFlag{Name: "tls-ciphersuites", Usage: "TLSv1.3 suites, colon-separated; checked, but Go always offers its three (all secure)"},
		&cli.StringFlag{Name: "tls-cluster", Value: "no", Usage: "yes: mutual TLS between nodes on the cluster port, and CLUSTER SLOTS, NODES and MOVED give the TLS ports"},
	}
}

// tlsNodeConfig reads the TLS flags into cfg.
func tlsNodeConfig(cc *cli.Context, cf *configFile, cfg *node.Config) error {
	t := &cfg.TLS
	t.Port = cc.Int("tls-port")
	switch strings.ToLower(cc.String("tls-cluster")) {
	case "yes", "true":
		t.Cluster = true
	case "no", "false", "":
	default:
		return cf.errorf("tls-cluster", "%q is not yes or no", cc.String("tls-cluster"))
	}
	f := tlsconf.DefaultConfig()
	f.CertFile, f.KeyFile, f.CAFile = cc.String("tls-cert-file"), cc.String("tls-key-file"), cc.String("tls-ca-cert-file")
	var err error
	if f.AuthClients, err = tlsconf.ParseAuthClients(cc.String("tls-auth-clients")); err != nil {
		return cf.errorf("tls-auth-clients", "%q is not yes, no or optional", cc.String("tls-auth-clients"))
	}
	f.Protocols, f.Ciphers, f.Ciphersuites = cc.String("tls-protocols"), cc.String("tls-ciphers"), cc.String("tls-ciphersuites")
	t.Files = f
	switch {
	case cfg.Port == 0 && t.Port == 0:
		return cf.errorf("port", "0 turns the plain port off: set --tls-port")
	case t.Cluster && t.Port == 0:
		return cf.errorf("tls-cluster", "needs --tls-port")
	}
	if t.Port > 0 || t.Cluster {
		if err := f.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// reloadTLSOnSIGHUP reloads n's certificates on every SIGHUP until the
// returned function is called.
func reloadTLSOnSIGHUP(n *node.Node, logger *slog.Logger) func() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				if err := n.ReloadTLS(); err != nil {
					logger.Error("TLS reload on SIGHUP failed; the previous certificates stay", "err", err)
				}
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}

// adminTLSFlags are the TLS flags of `shoal cluster ...`, redis-cli's.
func adminTLSFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "tls", Usage: "connect to the nodes over TLS (for nodes with --tls-port and --tls-cluster yes)"},
		&cli.StringFlag{Name: "cacert", TakesFile: true, Usage: "PEM CA bundle the nodes' certificates must be signed by (with --tls)"},
		&cli.StringFlag{Name: "cert", TakesFile: true, Usage: "PEM client certificate (with --tls, for nodes with tls-auth-clients yes)"},
		&cli.StringFlag{Name: "key", TakesFile: true, Usage: "PEM private key of --cert"},
		&cli.BoolFlag{Name: "insecure", Usage: "with --tls, do not check the nodes' certificates"},
	}
}

// withTLS sets o's TLS configuration from --tls, --cacert, --cert, --key.
func (o adminOpts) withTLS(cc *cli.Context) adminOpts {
	if !cc.Bool("tls") {
		return o
	}
	o.tls, o.tlsErr = tlsconf.ClientFiles{CACert: cc.String("cacert"), Cert: cc.String("cert"), Key: cc.String("key"),
		Insecure: cc.Bool("insecure")}.Config()
	return o
}

// devTLS is `shoal dev --tls`: a throw-away CA and one certificate that
// every node and the printed client commands use.
type devTLS struct {
	files tlsconf.DevFiles
	cfg   *tls.Config
	// tmp is the temporary directory to remove at the end ("" with a
	// data directory, where the files stay).
	tmp string
}

// cleanup removes the temporary certificates, if any.
func (d *devTLS) cleanup() {
	if d != nil && d.tmp != "" {
		os.RemoveAll(d.tmp)
	}
}

// newDevTLS generates the CA and the certificate in dataDir/tls, or in a
// new temporary directory without a data directory.
func newDevTLS(dataDir string) (*devTLS, error) {
	var dir, tmp string
	var err error
	if dataDir != "" {
		dir = filepath.Join(dataDir, "tls")
		err = os.MkdirAll(dir, 0o700)
	} else {
		dir, err = os.MkdirTemp("", "shoal-dev-tls-")
		tmp = dir
	}
	if err != nil {
		return nil, err
	}
	ca, err := tlsconf.GenerateCA(dir, "shoal-dev")
	var f tlsconf.DevFiles
	if err == nil {
		f, err = ca.Issue("node")
	}
	var cfg *tls.Config
	if err == nil {
		cfg, err = tlsconf.ClientFiles{CACert: f.CA, Cert: f.Cert, Key: f.Key}.Config()
	}
	if err != nil {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
		return nil, err
	}
	return &devTLS{files: f, cfg: cfg, tmp: tmp}, nil
}

// client is the dev tooling's client configuration (nil without --tls).
func (d *devTLS) client() *tls.Config {
	if d == nil {
		return nil
	}
	return d.cfg
}

// childArgs appends to a node's arguments what makes port its TLS port
// and turns its plain port off (a later --port wins).
func (d *devTLS) childArgs(args []string, port int) []string {
	if d == nil {
		return args
	}
	return append(args, "--port", "0", "--tls-port", strconv.Itoa(port), "--tls-cluster", "yes",
		"--tls-cert-file", d.files.Cert, "--tls-key-file", d.files.Key, "--tls-ca-cert-file", d.files.CA)
}

// connectHelp is the "Connect" lines with the certificate files.
func (d *devTLS) connectHelp(port int, addrs []string) string {
	f := d.files
	files := fmt.Sprintf("--cacert %s --cert %s --key %s", f.CA, f.Cert, f.Key)
	return fmt.Sprintf("  redis-cli --tls %s -c -p %d\n  shoal cluster check --addr %s --tls %s\n"+
		"  (certificates in %s, valid for 127.0.0.1 and localhost)\n", files, port, addrs[0], files, filepath.Dir(f.CA))
}
