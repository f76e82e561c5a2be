// Package idp is a FortiAuthenticator-style SAML identity provider, a peer
// of the appliance run beside it in its own process ("fosim idp"). It keeps
// its own small store (a JSON file and the IdP certificate in a data
// directory), its own users and service providers, and login sessions on a
// clock a lab can advance.
package idp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/bcrypt"

	"github.com/fosim/fosim/internal/atomicfile"
)

// Session timeout bounds and default, as FortiAuthenticator's "Login
// session timeout" (seed 003: 5–1440 minutes, default 480).
const (
	MinSessionTimeout     = 5
	MaxSessionTimeout     = 1440
	DefaultSessionTimeout = 480
)

// NameID formats an SP's Subject NameID may have.
const (
	FormatUnspecified = "unspecified"
	FormatTransient   = "transient"
	FormatPersistent  = "persistent"
)

var nameIDFormatURN = map[string]string{
	FormatUnspecified: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
	FormatTransient:   "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
	FormatPersistent:  "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
}

// User fields an assertion attribute or the NameID can come from.
const (
	FieldUsername  = "username"
	FieldEmail     = "email"
	FieldFirstName = "first-name"
	FieldLastName  = "last-name"
	FieldGroup     = "group"
)

var userFields = []string{FieldUsername, FieldEmail, FieldFirstName, FieldLastName, FieldGroup}

// Config is everything the IdP stores.
type Config struct {
	// ServerAddress is the address (host or host:port) the IdP URLs are
	// built from, as "Server address" in FortiAuthenticator's general
	// settings.
	ServerAddress string `json:"server_address"`
	// SessionTimeoutMinutes is the login session timeout.
	SessionTimeoutMinutes int `json:"session_timeout_minutes"`
	// HonourForceAuthn makes a ForceAuthn="true" request prompt even inside
	// a valid session. Off by default: seed 001 observes FortiAuthenticator
	// reusing its session whatever ForceAuthn says.
	HonourForceAuthn bool `json:"honour_force_authn"`
	// UsernameFormat is how users type a realm with their name:
	// username@realm (the default), realm\username or realm/username.
	UsernameFormat string `json:"username_format,omitempty"`
	// Realms are the realms users may log in to; the first is the default
	// one, used when a user types no realm. All are local-user realms (fosim
	// has no remote LDAP or RADIUS); a realm with groups admits only their
	// members. None: one implicit realm "local" for every user.
	Realms []Realm `json:"realms,omitempty"`
	// TrustedSubnets are FortiAuthenticator's "User Account Policies >
	// Trusted Subnets": an SP with the bypass set asks no token code of a
	// user whose browser connects from one of them.
	TrustedSubnets []string `json:"trusted_subnets,omitempty"`
	// DefaultCertificate names the default IdP certificate (see
	// certificates.go); empty is the one generated on first use.
	DefaultCertificate string            `json:"default_certificate,omitempty"`
	Admins             []Admin           `json:"admins,omitempty"`
	Users              []User            `json:"users"`
	Groups             []string          `json:"groups"`
	ServiceProviders   []ServiceProvider `json:"service_providers"`
	Secret             []byte            `json:"secret"` // keys persistent NameIDs
}

// Realm is a realm users log in to.
type Realm struct {
	Name   string   `json:"name"`
	Groups []string `json:"groups,omitempty"` // "Groups and Filter": only their members
}

// Admin is an account of the administration pages.
type Admin struct {
	Name         string `json:"name"`
	PasswordHash string `json:"password_hash"` // bcrypt
}

// Username input formats (General settings).
const (
	FormatAtRealm        = "username@realm"
	FormatBackslashRealm = `realm\username`
	FormatSlashRealm     = "realm/username"
)

// UsernameFormats are the username input formats, the default first.
var UsernameFormats = []string{FormatAtRealm, FormatBackslashRealm, FormatSlashRealm}

// LocalRealm is the realm of all local users when none is configured.
const LocalRealm = "local"

// Authentication methods of an SP (seed 003).
const (
	// AuthEnforce2FA: a password and a token code; users without a
	// FortiToken are refused.
	AuthEnforce2FA = "enforce-2fa"
	// Auth2FAIfAvailable: a password, and a token code from users who have
	// a FortiToken (the default).
	Auth2FAIfAvailable = "2fa-if-available"
	// AuthPasswordOnly: a password only; users without one are refused.
	AuthPasswordOnly = "password-only"
	// AuthTokenOnly: a token code only; users without a FortiToken are
	// refused.
	AuthTokenOnly = "token-only"
)

// AuthMethods are the authentication methods, in the GUI's order.
var AuthMethods = []string{AuthEnforce2FA, Auth2FAIfAvailable, AuthPasswordOnly, AuthTokenOnly}

// User is a local user.
type User struct {
	Name         string   `json:"name"`
	PasswordHash string   `json:"password_hash,omitempty"` // bcrypt; empty: token-only user
	Email        string   `json:"email,omitempty"`
	FirstName    string   `json:"first_name,omitempty"`
	LastName     string   `json:"last_name,omitempty"`
	Groups       []string `json:"groups,omitempty"`
	// TOTPSecret is the user's FortiToken-style RFC 6238 secret (base32;
	// SHA-1, 6 digits, 30 s, as FortiToken Mobile): with one, a login
	// asks for a token code after the password.
	TOTPSecret string `json:"totp_secret,omitempty"`
}

// ServiceProvider is an SP the IdP issues assertions to.
type ServiceProvider struct {
	Name     string `json:"name"`
	Prefix   string `json:"prefix"` // the <prefix> of /saml-idp/<prefix>/…
	EntityID string `json:"entity_id"`
	ACSURL   string `json:"acs_url"`
	// AlternativeACSURLs are up to three more ACS URLs.
	AlternativeACSURLs []string    `json:"alternative_acs_urls,omitempty"`
	SLSURL             string      `json:"sls_url,omitempty"`
	NameIDField        string      `json:"nameid_field"`  // a user field; username when the user lacks it
	NameIDFormat       string      `json:"nameid_format"` // unspecified, transient, persistent
	Attributes         []Attribute `json:"attributes,omitempty"`
	// CertificatePEM is the SP's signing certificate: SP-initiated
	// LogoutRequests must be signed with its key.
	CertificatePEM string `json:"certificate_pem,omitempty"`
	// Disabled is "Disable this service provider": its URLs answer 403.
	Disabled bool `json:"disabled,omitempty"`
	// AuthMethod is one of AuthMethods; empty is Auth2FAIfAvailable.
	AuthMethod string `json:"auth_method,omitempty"`
	// TrustedSubnetBypass is "Bypass FortiToken authentication when user
	// is from a trusted subnet" (not for token-only SPs: that would be no
	// authentication at all).
	TrustedSubnetBypass bool `json:"trusted_subnet_bypass,omitempty"`
	// RequireSignedRequests is "SAML request must be signed by SP": an
	// AuthnRequest not signed with the key of CertificatePEM is refused.
	RequireSignedRequests bool `json:"require_signed_requests,omitempty"`
	// IdPCertificate names the certificate this SP's assertions are signed
	// with; empty is the default IdP certificate.
	IdPCertificate string `json:"idp_certificate,omitempty"`
	// NoAutoReturn is "Do not return to service provider automatically
	// after successful authentication, wait for user input".
	NoAutoReturn bool `json:"no_auto_return,omitempty"`
}

// Method is the SP's authentication method, its default filled in.
func (sp *ServiceProvider) Method() string {
	if sp.AuthMethod == "" {
		return Auth2FAIfAvailable
	}
	return sp.AuthMethod
}

// Attribute is a SAML attribute an SP's assertions carry.
type Attribute struct {
	Name  string `json:"name"`
	Field string `json:"field"`
}

// MaxAlternativeACSURLs is how many alternative ACS URLs an SP may have.
const MaxAlternativeACSURLs = 3

// Files in the data directory.
const (
	configFile = "idp.json"
	certFile   = "idp-cert.pem"
	keyFile    = "idp-key.pem"
)

// Open reads the store in dir, creating the directory, an empty
// configuration and the IdP certificate and key on first use.
func Open(dir string) (*Config, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := ensureCertificate(dir); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, configFile))
	if errors.Is(err, os.ErrNotExist) {
		secret := make([]byte, 32)
		rand.Read(secret)
		c := &Config{SessionTimeoutMinutes: DefaultSessionTimeout, Secret: secret}
		return c, c.Save(dir)
	}
	if err != nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, configFile), err)
	}
	return &c, nil
}

// Save writes the configuration atomically (a temporary file, then a
// rename), so a running IdP never reads half of it.
func (c *Config) Save(dir string) error {
	if err := c.Validate(); err != nil {
		return err
	}
	for _, name := range append([]string{c.DefaultCertificate}, c.certificateNames()...) {
		if name != "" && !certificateExists(dir, name) {
			return fmt.Errorf("no IdP certificate %q (fosim idp cert add %s)", name, name)
		}
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, configFile), append(b, '\n'), 0o600)
}

// Validate checks the whole configuration.
func (c *Config) Validate() error {
	if c.SessionTimeoutMinutes < MinSessionTimeout || c.SessionTimeoutMinutes > MaxSessionTimeout {
		return fmt.Errorf("login session timeout %d minutes: must be %d to %d", c.SessionTimeoutMinutes, MinSessionTimeout, MaxSessionTimeout)
	}
	if c.UsernameFormat != "" && !slices.Contains(UsernameFormats, c.UsernameFormat) {
		return fmt.Errorf("username input format %q: one of %s", c.UsernameFormat, strings.Join(UsernameFormats, ", "))
	}
	realms := map[string]bool{}
	for _, r := range c.Realms {
		if r.Name == "" || strings.ContainsAny(r.Name, " \t@\\/") {
			return fmt.Errorf("bad realm name %q", r.Name)
		}
		if realms[strings.ToLower(r.Name)] {
			return fmt.Errorf("realm %q twice", r.Name)
		}
		realms[strings.ToLower(r.Name)] = true
		for _, g := range r.Groups {
			if !slices.Contains(c.Groups, g) {
				return fmt.Errorf("realm %q: no group %q", r.Name, g)
			}
		}
	}
	for _, n := range c.TrustedSubnets {
		if _, err := netip.ParsePrefix(n); err != nil {
			return fmt.Errorf("trusted subnet %q: an address/prefix-length such as 10.1.0.0/16", n)
		}
	}
	admins := map[string]bool{}
	for _, a := range c.Admins {
		if a.Name == "" || admins[a.Name] || a.PasswordHash == "" {
			return fmt.Errorf("bad administrator %q", a.Name)
		}
		admins[a.Name] = true
	}
	users := map[string]bool{}
	for _, u := range c.Users {
		if u.PasswordHash == "" && u.TOTPSecret == "" {
			return fmt.Errorf("user %q has neither a password nor a FortiToken", u.Name)
		}
		if u.Name == "" || strings.ContainsAny(u.Name, " \t\r\n") {
			return fmt.Errorf("bad user name %q", u.Name)
		}
		if users[u.Name] {
			return fmt.Errorf("user %q twice", u.Name)
		}
		users[u.Name] = true
		if u.TOTPSecret != "" && !validBase32(u.TOTPSecret) {
			return fmt.Errorf("user %q: the TOTP secret is not base32", u.Name)
		}
		for _, g := range u.Groups {
			if !slices.Contains(c.Groups, g) {
				return fmt.Errorf("user %q: no group %q", u.Name, g)
			}
		}
	}
	prefixes := map[string]bool{}
	for _, sp := range c.ServiceProviders {
		if err := sp.validate(); err != nil {
			return err
		}
		if prefixes[sp.Prefix] {
			return fmt.Errorf("service provider %q: IdP prefix %q is taken", sp.Name, sp.Prefix)
		}
		prefixes[sp.Prefix] = true
	}
	return nil
}

func (sp *ServiceProvider) validate() error {
	switch {
	case sp.Name == "":
		return errors.New("a service provider needs a name")
	case !validPrefix(sp.Prefix):
		return fmt.Errorf("service provider %q: bad IdP prefix %q (letters, digits, - and _)", sp.Name, sp.Prefix)
	case sp.EntityID == "":
		return fmt.Errorf("service provider %q needs an SP entity id", sp.Name)
	case sp.ACSURL == "":
		return fmt.Errorf("service provider %q needs an ACS URL", sp.Name)
	case len(sp.AlternativeACSURLs) > MaxAlternativeACSURLs:
		return fmt.Errorf("service provider %q: at most %d alternative ACS URLs", sp.Name, MaxAlternativeACSURLs)
	case !slices.Contains(userFields, sp.NameIDField):
		return fmt.Errorf("service provider %q: Subject NameID %q is none of %s", sp.Name, sp.NameIDField, strings.Join(userFields, ", "))
	case nameIDFormatURN[sp.NameIDFormat] == "":
		return fmt.Errorf("service provider %q: NameID format %q is none of unspecified, transient, persistent", sp.Name, sp.NameIDFormat)
	case !slices.Contains(AuthMethods, sp.Method()):
		return fmt.Errorf("service provider %q: authentication method %q is none of %s", sp.Name, sp.AuthMethod, strings.Join(AuthMethods, ", "))
	case sp.RequireSignedRequests && sp.CertificatePEM == "":
		return fmt.Errorf("service provider %q: \"SAML request must be signed by SP\" needs the SP certificate", sp.Name)
	case sp.IdPCertificate != "" && !validPrefix(sp.IdPCertificate):
		return fmt.Errorf("service provider %q: bad IdP certificate name %q", sp.Name, sp.IdPCertificate)
	}
	if sp.CertificatePEM != "" {
		if _, err := sp.certificate(); err != nil {
			return fmt.Errorf("service provider %q: %v", sp.Name, err)
		}
	}
	for _, a := range sp.Attributes {
		if a.Name == "" || !slices.Contains(userFields, a.Field) {
			return fmt.Errorf("service provider %q: attribute %q from %q (fields: %s)", sp.Name, a.Name, a.Field, strings.Join(userFields, ", "))
		}
	}
	return nil
}

func (sp *ServiceProvider) certificate() (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(sp.CertificatePEM))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("the SP certificate is no PEM CERTIFICATE")
	}
	return x509.ParseCertificate(b.Bytes)
}

func validBase32(secret string) bool {
	secret = strings.ToUpper(strings.TrimRight(secret, "="))
	_, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	return err == nil && secret != ""
}

func validPrefix(p string) bool {
	if p == "" || len(p) > 64 {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// GeneratePrefix is "Generate unique prefix": 16 random alphanumerics.
func GeneratePrefix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 16)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

// passwordCost is bcrypt's work factor (tests lower it).
var passwordCost = bcrypt.DefaultCost

// SetUser stores u with a bcrypt hash of password, adding the user when
// new and its groups when unknown.
func (c *Config) SetUser(u User, password string) error {
	u.PasswordHash = ""
	switch {
	case password != "":
		h, err := bcrypt.GenerateFromPassword([]byte(password), passwordCost)
		if err != nil {
			return err
		}
		u.PasswordHash = string(h)
	case u.TOTPSecret == "":
		return fmt.Errorf("user %q needs a password (or a FortiToken, for FortiToken-only SPs)", u.Name)
	}
	return c.putUser(u)
}

// putUser adds or replaces u as it is, and its groups when unknown.
func (c *Config) putUser(u User) error {
	if u.PasswordHash == "" && u.TOTPSecret == "" {
		return fmt.Errorf("user %q needs a password (or a FortiToken, for FortiToken-only SPs)", u.Name)
	}
	for _, g := range u.Groups {
		if !slices.Contains(c.Groups, g) {
			c.Groups = append(c.Groups, g)
		}
	}
	if i := slices.IndexFunc(c.Users, func(x User) bool { return x.Name == u.Name }); i >= 0 {
		c.Users[i] = u
	} else {
		c.Users = append(c.Users, u)
	}
	return nil
}

// MinAdminPassword is the shortest administrator password accepted.
const MinAdminPassword = 8

// SetAdmin adds or replaces the administrator name with a bcrypt hash of
// password. There is no default administrator: the admin pages refuse
// every login until one is set.
func (c *Config) SetAdmin(name, password string) error {
	if name == "" || strings.ContainsAny(name, " \t\r\n") {
		return fmt.Errorf("bad administrator name %q", name)
	}
	if len(password) < MinAdminPassword {
		return fmt.Errorf("administrator %q: the password needs at least %d characters", name, MinAdminPassword)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), passwordCost)
	if err != nil {
		return err
	}
	if i := slices.IndexFunc(c.Admins, func(a Admin) bool { return a.Name == name }); i >= 0 {
		c.Admins[i].PasswordHash = string(h)
	} else {
		c.Admins = append(c.Admins, Admin{Name: name, PasswordHash: string(h)})
	}
	return nil
}

// checkAdmin checks an administrator's password (an unknown name costs a
// comparison too).
func (c *Config) checkAdmin(name, password string) bool {
	hash := dummyHash()
	i := slices.IndexFunc(c.Admins, func(a Admin) bool { return a.Name == name })
	if i >= 0 {
		hash = c.Admins[i].PasswordHash
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil && i >= 0
}

// SetToken gives user name a new TOTP secret and returns its otpauth://
// URL (what a FortiToken Mobile QR code carries).
func (c *Config) SetToken(name string) (string, error) {
	i := slices.IndexFunc(c.Users, func(x User) bool { return x.Name == name })
	if i < 0 {
		return "", fmt.Errorf("no user %q", name)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "fosim IdP", AccountName: name})
	if err != nil {
		return "", err
	}
	c.Users[i].TOTPSecret = key.Secret()
	return key.URL(), nil
}

// DeleteUser removes user name.
func (c *Config) DeleteUser(name string) error {
	var err error
	c.Users, err = deleteOne(c.Users, func(x User) bool { return x.Name == name }, "no user %q", name)
	return err
}

// SetServiceProvider adds sp, or replaces the SP of the same name.
func (c *Config) SetServiceProvider(sp ServiceProvider) error {
	if sp.NameIDField == "" {
		sp.NameIDField = FieldUsername
	}
	if sp.NameIDFormat == "" {
		sp.NameIDFormat = FormatUnspecified
	}
	if err := sp.validate(); err != nil {
		return err
	}
	sps := slices.Clone(c.ServiceProviders)
	if i := slices.IndexFunc(sps, func(x ServiceProvider) bool { return x.Name == sp.Name }); i >= 0 {
		sps[i] = sp
	} else {
		sps = append(sps, sp)
	}
	// Checked on a copy: a refused SP leaves the configuration as it was.
	next := *c
	next.ServiceProviders = sps
	if err := next.Validate(); err != nil {
		return err
	}
	c.ServiceProviders = sps
	return nil
}

// EnableServiceProvider enables or disables the SP called name.
func (c *Config) EnableServiceProvider(name string, enabled bool) error {
	i := slices.IndexFunc(c.ServiceProviders, func(x ServiceProvider) bool { return x.Name == name })
	if i < 0 {
		return fmt.Errorf("no service provider %q", name)
	}
	c.ServiceProviders[i].Disabled = !enabled
	return nil
}

// DeleteServiceProvider removes the SP called name.
func (c *Config) DeleteServiceProvider(name string) error {
	var err error
	c.ServiceProviders, err = deleteOne(c.ServiceProviders, func(x ServiceProvider) bool { return x.Name == name }, "no service provider %q", name)
	return err
}

func (c *Config) user(name string) (User, bool) {
	i := slices.IndexFunc(c.Users, func(x User) bool { return x.Name == name })
	if i < 0 {
		return User{}, false
	}
	return c.Users[i], true
}

func (c *Config) serviceProviderByPrefix(prefix string) (ServiceProvider, bool) {
	i := slices.IndexFunc(c.ServiceProviders, func(x ServiceProvider) bool { return x.Prefix == prefix })
	if i < 0 {
		return ServiceProvider{}, false
	}
	return c.ServiceProviders[i], true
}

// checkPassword compares in constant time through bcrypt; an unknown user
// costs a comparison too, so timing does not tell which names exist.
func (c *Config) checkPassword(name, password string) (User, bool) {
	u, ok := c.user(name)
	hash := u.PasswordHash
	if !ok || hash == "" {
		hash = dummyHash()
		ok = false
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil || !ok {
		return User{}, false
	}
	return u, true
}

var dummyHash = sync.OnceValue(func() string {
	h, _ := bcrypt.GenerateFromPassword([]byte("no such user"), passwordCost)
	return string(h)
})

// ensureCertificate makes the default IdP certificate (self-signed RSA
// 2048, ten years) and its key on first use.
func ensureCertificate(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, certFile)); err == nil {
		return nil
	}
	return generateCertificate(filepath.Join(dir, certFile), filepath.Join(dir, keyFile), "fosim IdP")
}

// generateCertificate writes a new self-signed RSA 2048 certificate (ten
// years) and its key.
func generateCertificate(certPath, keyPath, commonName string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"fosim"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return atomicfile.Write(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// loadCertificate reads the default IdP certificate and key.
func loadCertificate(dir string) (*x509.Certificate, *rsa.PrivateKey, []byte, error) {
	return readKeyPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
}

// readKeyPair reads a PEM certificate and its PKCS#8 (or PKCS#1) RSA key.
func readKeyPair(certPath, keyPath string) (*x509.Certificate, *rsa.PrivateKey, []byte, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, key, err := parseKeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %v", certPath, err)
	}
	return cert, key, certPEM, nil
}

func parseKeyPair(certPEM, keyPEM []byte) (*x509.Certificate, *rsa.PrivateKey, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || cb.Type != "CERTIFICATE" || kb == nil {
		return nil, nil, errors.New("no PEM certificate or key")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	var key any
	if kb.Type == "RSA PRIVATE KEY" {
		key, err = x509.ParsePKCS1PrivateKey(kb.Bytes)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	}
	if err != nil {
		return nil, nil, err
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("the key is not RSA")
	}
	if !rk.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, errors.New("the key is not the certificate's")
	}
	return cert, rk, nil
}

// DeleteAdmin removes the administrator name.
func (c *Config) DeleteAdmin(name string) error {
	var err error
	c.Admins, err = deleteOne(c.Admins, func(a Admin) bool { return a.Name == name }, "no administrator %q", name)
	return err
}

// SetRealm adds the realm r, or replaces the realm of its name.
func (c *Config) SetRealm(r Realm) error {
	realms := slices.Clone(c.Realms)
	if i := slices.IndexFunc(realms, func(x Realm) bool { return strings.EqualFold(x.Name, r.Name) }); i >= 0 {
		realms[i] = r
	} else {
		realms = append(realms, r)
	}
	next := *c
	next.Realms = realms
	if err := next.Validate(); err != nil {
		return err
	}
	c.Realms = realms
	return nil
}

// DeleteRealm removes the realm name.
func (c *Config) DeleteRealm(name string) error {
	var err error
	c.Realms, err = deleteOne(c.Realms, func(x Realm) bool { return strings.EqualFold(x.Name, name) }, "no realm %q", name)
	return err
}

// SetTrustedSubnet adds or removes a trusted subnet.
func (c *Config) SetTrustedSubnet(prefix string, add bool) error {
	p, err := netip.ParsePrefix(prefix)
	if err != nil {
		return fmt.Errorf("trusted subnet %q: an address/prefix-length such as 10.1.0.0/16", prefix)
	}
	prefix = p.Masked().String()
	i := slices.Index(c.TrustedSubnets, prefix)
	switch {
	case add && i < 0:
		c.TrustedSubnets = append(c.TrustedSubnets, prefix)
	case !add && i < 0:
		return fmt.Errorf("no trusted subnet %s", prefix)
	case !add:
		c.TrustedSubnets = slices.Delete(c.TrustedSubnets, i, i+1)
	}
	return nil
}

func (c *Config) serviceProviderByEntityID(id string) (ServiceProvider, bool) {
	i := slices.IndexFunc(c.ServiceProviders, func(x ServiceProvider) bool { return x.EntityID == id })
	if i < 0 {
		return ServiceProvider{}, false
	}
	return c.ServiceProviders[i], true
}

// deleteOne removes the element of list that match picks, or says, in
// words like "no user %q", that there is none called name.
func deleteOne[T any](list []T, match func(T) bool, none, name string) ([]T, error) {
	i := slices.IndexFunc(list, match)
	if i < 0 {
		return list, fmt.Errorf(none, name)
	}
	return slices.Delete(list, i, i+1), nil
}
