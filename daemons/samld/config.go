package samld

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fosim/fosim/cmdb"
)

// Tables samld reads.
const (
	tableSAML   = "user saml"
	tableLocal  = "vpn certificate local"
	tableRemote = "vpn certificate remote"
)

// Server is one `config user saml` entry in samld's own types.
type Server struct {
	Name string
	// The SP side: this appliance.
	EntityID  string // entity-id
	ACSURL    string // single-sign-on-url
	LogoutURL string // single-logout-url
	// The IdP side.
	IdPEntityID  string // idp-entity-id
	IdPLoginURL  string // idp-single-sign-on-url
	IdPLogoutURL string // idp-single-logout-url
	IdPCert      *x509.Certificate
	IdPCertName  string
	// SigningCert and SigningKey are `cert` (a vpn certificate local);
	// nil when the entry has none: requests then go unsigned.
	SigningCert *x509.Certificate
	SigningKey  crypto.Signer
	// SHA1 is digest-method sha1 (rsa-sha1 request signatures), else sha256.
	SHA1 bool
	// UserAttr and GroupAttr name the assertion attributes holding the
	// user name and its groups: user-name / group-name, or the claim URIs
	// of user-claim-type / group-claim-type with adfs-claim enable.
	UserAttr, GroupAttr string
	ForceAuthn          bool // reauth enable
	// RequireBothSigned is require-signed-resp-and-asrt enable.
	RequireBothSigned bool
	LimitRelayState   bool          // limit-relaystate enable
	ClockTolerance    time.Duration // clock-tolerance
}

// Config is every SAML server samld runs on.
type Config struct {
	Servers  map[string]*Server
	Revision uint64
}

// reader reads the configuration (cmdb.Reader).
type reader struct{ cmdb.Reader }

// loadConfig reads samld's configuration from the running CMDB. broken
// are the entries that could not be read, with why; cfg holds the others.
func loadConfig(st *cmdb.Store) (cfg *Config, broken map[string]error) {
	// One read lock for the view, its revision and its key (see
	// cmdb.Store.ReadCommitted): no other store call inside.
	st.ReadCommitted(func(v cmdb.View, revision uint64, secrets *cmdb.Secrets) {
		cfg, broken = readConfig(reader{cmdb.Reader{Schema: st.Schema(), View: v}}, secrets)
		cfg.Revision = revision
	})
	return cfg, broken
}

// readConfig reads every user saml entry.
func readConfig(r reader, secrets *cmdb.Secrets) (*Config, map[string]error) {
	cfg := &Config{Servers: map[string]*Server{}}
	broken := map[string]error{}
	rows := r.View.Table(tableSAML)
	if rows == nil {
		return cfg, broken
	}
	for _, e := range rows.Ordered() {
		s, err := readServer(r, e, secrets)
		if err != nil {
			broken[e.Key] = fmt.Errorf("user saml %q: %w", e.Key, err)
			continue
		}
		cfg.Servers[s.Name] = s
	}
	return cfg, broken
}

// brokenError joins the reasons of the broken entries in name order.
func brokenError(broken map[string]error) error {
	names := make([]string, 0, len(broken))
	for n := range broken {
		names = append(names, n)
	}
	slices.Sort(names)
	errs := make([]error, 0, len(names))
	for _, n := range names {
		errs = append(errs, broken[n])
	}
	return errors.Join(errs...)
}

func readServer(r reader, e *cmdb.Entry, secrets *cmdb.Secrets) (*Server, error) {
	const t = tableSAML
	s := &Server{Name: e.Key}
	s.EntityID = r.Value(t, e, "entity-id")
	s.ACSURL = r.Value(t, e, "single-sign-on-url")
	s.LogoutURL = r.Value(t, e, "single-logout-url")
	s.IdPEntityID = r.Value(t, e, "idp-entity-id")
	s.IdPLoginURL = r.Value(t, e, "idp-single-sign-on-url")
	s.IdPLogoutURL = r.Value(t, e, "idp-single-logout-url")
	for _, u := range []struct{ attr, v string }{
		{"single-sign-on-url", s.ACSURL}, {"single-logout-url", s.LogoutURL},
		{"idp-single-sign-on-url", s.IdPLoginURL}, {"idp-single-logout-url", s.IdPLogoutURL},
	} {
		if u.v == "" {
			continue
		}
		if p, err := url.Parse(u.v); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return nil, fmt.Errorf("%s %q is not an http(s) URL", u.attr, u.v)
		}
	}
	s.SHA1 = r.Value(t, e, "digest-method") == "sha1"
	s.ForceAuthn = r.Value(t, e, "reauth") == "enable"
	s.RequireBothSigned = r.Value(t, e, "require-signed-resp-and-asrt") == "enable"
	s.LimitRelayState = r.Value(t, e, "limit-relaystate") == "enable"
	secs, _ := strconv.Atoi(r.Value(t, e, "clock-tolerance"))
	s.ClockTolerance = time.Duration(secs) * time.Second
	s.UserAttr = r.Value(t, e, "user-name")
	s.GroupAttr = r.Value(t, e, "group-name")
	if r.Value(t, e, "adfs-claim") == "enable" {
		s.UserAttr = claimURIs[r.Value(t, e, "user-claim-type")]
		s.GroupAttr = claimURIs[r.Value(t, e, "group-claim-type")]
	}
	if name := r.Value(t, e, "idp-cert"); name != "" {
		re := r.View.Entry(tableRemote, name)
		if re == nil {
			return nil, fmt.Errorf("idp-cert %q: no such vpn certificate remote", name)
		}
		c, err := parseCertificate(r.Value(tableRemote, re, "remote"))
		if err != nil {
			return nil, fmt.Errorf("idp-cert %q: %w", name, err)
		}
		s.IdPCert, s.IdPCertName = c, name
	}
	if name := r.Value(t, e, "cert"); name != "" {
		le := r.View.Entry(tableLocal, name)
		if le == nil {
			return nil, fmt.Errorf("cert %q: no such vpn certificate local", name)
		}
		c, err := parseCertificate(r.Value(tableLocal, le, "certificate"))
		if err != nil {
			return nil, fmt.Errorf("cert %q: %w", name, err)
		}
		s.SigningCert = c
		if secrets != nil {
			key, err := readPrivateKey(r, le, secrets)
			if err != nil {
				return nil, fmt.Errorf("cert %q: %w", name, err)
			}
			if !publicKeysEqual(key.Public(), c.PublicKey) {
				return nil, fmt.Errorf("cert %q: the private key does not match the certificate", name)
			}
			s.SigningKey = key
		}
	}
	return s, nil
}

func parseCertificate(text string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(strings.TrimSpace(text)))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// readPrivateKey decrypts a local certificate's private-key (stored as an
// ENC secret) and parses the PEM key in it.
func readPrivateKey(r reader, e *cmdb.Entry, secrets *cmdb.Secrets) (crypto.Signer, error) {
	enc := r.Values(tableLocal, e, "private-key")
	if len(enc) != 2 || enc[0] != "ENC" {
		return nil, errors.New("no private key")
	}
	plain, err := secrets.Decrypt(enc[1])
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	b, _ := pem.Decode([]byte(strings.TrimSpace(plain)))
	if b == nil {
		return nil, errors.New("private key: not PEM")
	}
	var key any
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		// An "ENCRYPTED PRIVATE KEY" with the certificate's password.
		return nil, fmt.Errorf("not simulated yet: private keys of PEM type %q (password-protected keys)", b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("private key cannot sign")
	}
	return signer, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// claimURIs are the claim types of user-claim-type / group-claim-type
// (adfs-claim enable): the AD FS claim type URIs of the same names.
var claimURIs = map[string]string{
	"email":                       "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
	"given-name":                  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
	"name":                        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
	"upn":                         "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
	"common-name":                 "http://schemas.xmlsoap.org/claims/CommonName",
	"email-adfs-1x":               "http://schemas.xmlsoap.org/claims/EmailAddress",
	"group":                       "http://schemas.xmlsoap.org/claims/Group",
	"upn-adfs-1x":                 "http://schemas.xmlsoap.org/claims/UPN",
	"role":                        "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
	"sur-name":                    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
	"ppid":                        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/privatepersonalidentifier",
	"name-identifier":             "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
	"authentication-method":       "http://schemas.microsoft.com/ws/2008/06/identity/claims/authenticationmethod",
	"deny-only-group-sid":         "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/denyonlysid",
	"deny-only-primary-sid":       "http://schemas.microsoft.com/ws/2008/06/identity/claims/denyonlyprimarysid",
	"deny-only-primary-group-sid": "http://schemas.microsoft.com/ws/2008/06/identity/claims/denyonlyprimarygroupsid",
	"group-sid":                   "http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid",
	"primary-group-sid":           "http://schemas.microsoft.com/ws/2008/06/identity/claims/primarygroupsid",
	"primary-sid":                 "http://schemas.microsoft.com/ws/2008/06/identity/claims/primarysid",
	"windows-account-name":        "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname",
}
