package tlsconf

import (
	"crypto/tls"
	"fmt"
	"sort"
	"strings"
)

// protocolVersions are tls-protocols' names, in order.
var protocolVersions = []struct {
	name string
	v    uint16
}{{"tlsv1", tls.VersionTLS10}, {"tlsv1.1", tls.VersionTLS11}, {"tlsv1.2", tls.VersionTLS12}, {"tlsv1.3", tls.VersionTLS13}}

// ParseProtocols parses tls-protocols ("TLSv1.2 TLSv1.3", case-insensitive)
// into the lowest and highest version. Empty means TLSv1.2 and TLSv1.3.
// The versions must be a contiguous range: Go cannot leave one out in
// the middle.
func ParseProtocols(s string) (minV, maxV uint16, err error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return tls.VersionTLS12, tls.VersionTLS13, nil
	}
	var on [4]bool
	for _, p := range f {
		i := -1
		for j, pv := range protocolVersions {
			if strings.EqualFold(p, pv.name) {
				i = j
			}
		}
		if i < 0 {
			return 0, 0, fmt.Errorf("%w: tls-protocols: %q is not TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3", ErrBadConfig, p)
		}
		on[i] = true
	}
	lo, hi := -1, -1
	for i, b := range on {
		if b {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	for i := lo; i <= hi; i++ {
		if !on[i] {
			return 0, 0, fmt.Errorf("%w: tls-protocols %q: the versions must be a contiguous range", ErrBadConfig, s)
		}
	}
	return protocolVersions[lo].v, protocolVersions[hi].v, nil
}

// opensslNames maps OpenSSL's names of the TLS 1.2 suites Go implements to
// their IANA names.
var opensslNames = map[string]string{
	"ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
	"ECDHE-RSA-AES128-GCM-SHA256":   "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	"ECDHE-ECDSA-AES256-GCM-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
	"ECDHE-RSA-AES256-GCM-SHA384":   "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	"ECDHE-ECDSA-CHACHA20-POLY1305": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
	"ECDHE-RSA-CHACHA20-POLY1305":   "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
	"ECDHE-ECDSA-AES128-SHA":        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
	"ECDHE-RSA-AES128-SHA":          "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
	"ECDHE-ECDSA-AES256-SHA":        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
	"ECDHE-RSA-AES256-SHA":          "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
	"ECDHE-ECDSA-AES128-SHA256":     "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
	"ECDHE-RSA-AES128-SHA256":       "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
	"AES128-GCM-SHA256":             "TLS_RSA_WITH_AES_128_GCM_SHA256",
	"AES256-GCM-SHA384":             "TLS_RSA_WITH_AES_256_GCM_SHA384",
	"AES128-SHA":                    "TLS_RSA_WITH_AES_128_CBC_SHA",
	"AES256-SHA":                    "TLS_RSA_WITH_AES_256_CBC_SHA",
	"AES128-SHA256":                 "TLS_RSA_WITH_AES_128_CBC_SHA256",
}

// ParseCiphers parses tls-ciphers into suite ids for tls.Config's
// CipherSuites; nil means Go's defaults (empty, DEFAULT or HIGH).
func ParseCiphers(s string) ([]uint16, error) {
	byName := map[string]uint16{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if !tls13Suite(cs) {
			byName[cs.Name] = cs.ID
		}
	}
	var out []uint16
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		if strings.EqualFold(p, "DEFAULT") || strings.EqualFold(p, "HIGH") {
			return nil, nil
		}
		name := p
		if iana, ok := opensslNames[strings.ToUpper(p)]; ok {
			name = iana
		}
		id, ok := byName[strings.ToUpper(name)]
		if !ok {
			known := make([]string, 0, len(opensslNames))
			for k := range opensslNames {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("%w: tls-ciphers: %q is not a cipher suite Go implements (%s, or their IANA names)", ErrBadConfig, p, strings.Join(known, ":"))
		}
		out = append(out, id)
	}
	return out, nil
}

// tls13Suite reports whether cs is a TLS 1.3 suite (supported by 1.3 only).
func tls13Suite(cs *tls.CipherSuite) bool {
	return len(cs.SupportedVersions) == 1 && cs.SupportedVersions[0] == tls.VersionTLS13
}

// ParseCiphersuites checks tls-ciphersuites' names (TLS_AES_128_GCM_SHA256,
// TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256) and returns their
// ids; Go always enables all three, so the list is informative.
func ParseCiphersuites(s string) ([]uint16, error) {
	var out []uint16
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		found := false
		for _, cs := range tls.CipherSuites() {
			if tls13Suite(cs) && strings.EqualFold(cs.Name, p) {
				out, found = append(out, cs.ID), true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: tls-ciphersuites: %q is not a TLS 1.3 suite (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256)", ErrBadConfig, p)
		}
	}
	return out, nil
}
