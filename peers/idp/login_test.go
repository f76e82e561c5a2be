package idp

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/fosim/fosim/internal/peertest"
)

const needPysaml2 = "pysaml2 with xmlsec1 (apt-get install python3-pysaml2 xmlsec1)"

// begin sends an AuthnRequest made by pysaml2 from browser b: it returns
// the request and the IdP's first page.
func (l *lab) begin(b *http.Client, spArgs ...string) (map[string]any, page) {
	l.t.Helper()
	req := l.pysaml2(append([]string{"request"}, spArgs...)...)
	if saml, ok := req["SAMLRequest"].(string); ok {
		return req, read(l.t, func() (*http.Response, error) {
			return b.PostForm(req["url"].(string), url.Values{"SAMLRequest": {saml}})
		})
	}
	return req, read(l.t, func() (*http.Response, error) { return b.Get(req["url"].(string)) })
}

// submit posts p's form with fields added.
func (l *lab) submit(b *http.Client, p page, fields ...string) page {
	l.t.Helper()
	form := url.Values{}
	for k, v := range p.fields {
		form[k] = v
	}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Set(fields[i], fields[i+1])
	}
	if p.action == "" {
		l.t.Fatalf("no form to post: %d %s", p.status, p.body)
	}
	return read(l.t, func() (*http.Response, error) { return b.PostForm(p.action, form) })
}

// verdict has pysaml2 check the SAMLResponse p carries.
func (l *lab) verdict(req map[string]any, p page) map[string]any {
	l.t.Helper()
	resp := p.fields.Get("SAMLResponse")
	if resp == "" {
		l.t.Fatalf("no SAMLResponse: %d %s", p.status, p.body)
	}
	return l.pysaml2("response", "--request-id", req["id"].(string), "--saml-response", resp)
}

func asksToken(p page) bool    { return strings.Contains(p.body, `name="token"`) }
func asksPassword(p page) bool { return strings.Contains(p.body, `name="password"`) }

func code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, time.Now(), totpOptions)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	aliceSecret = "JBSWY3DPEHPK3PXP"
	carolSecret = "KRSXG5CTMVRXEZLU"
)

// methodUsers: alice has a password and a token, bob a password only,
// carol a token only.
func methodUsers(t *testing.T, c *Config) {
	for _, u := range []struct {
		user     User
		password string
	}{
		{User{Name: "alice", TOTPSecret: aliceSecret, Groups: []string{"staff"}}, "s3cret"},
		{User{Name: "bob"}, "b0bpass"},
		{User{Name: "carol", TOTPSecret: carolSecret}, ""},
	} {
		if err := c.SetUser(u.user, u.password); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuthenticationMethods(t *testing.T) {
	peertest.Need(t, havePysaml2(), needPysaml2)
	for _, tc := range []struct {
		method string
		bypass bool
		user   string
		// steps is what the IdP asks for in turn: "password" (username
		// and password), "username-token" (username and token code),
		// "token" (the token code after the password); refused is the
		// message that ends the login instead.
		steps   []string
		refused string
	}{
		{method: AuthEnforce2FA, user: "alice", steps: []string{"password", "token"}},
		{method: AuthEnforce2FA, user: "bob", steps: []string{"password"}, refused: "requires two-factor authentication"},
		{method: AuthEnforce2FA, bypass: true, user: "alice", steps: []string{"password"}},
		{method: Auth2FAIfAvailable, user: "alice", steps: []string{"password", "token"}},
		{method: Auth2FAIfAvailable, user: "bob", steps: []string{"password"}},
		{method: Auth2FAIfAvailable, bypass: true, user: "alice", steps: []string{"password"}},
		{method: AuthPasswordOnly, user: "alice", steps: []string{"password"}},
		{method: AuthPasswordOnly, user: "carol", steps: []string{"password"}, refused: "Invalid username or password"},
		{method: AuthTokenOnly, user: "carol", steps: []string{"username-token"}},
		{method: AuthTokenOnly, user: "alice", steps: []string{"username-token"}},
		{method: AuthTokenOnly, user: "bob", steps: []string{"username-token"}, refused: "Invalid username or token code"},
		{method: AuthTokenOnly, bypass: true, user: "carol", steps: []string{"username-token"}}, // no bypass of the only factor
	} {
		name := tc.method + "/" + tc.user
		if tc.bypass {
			name += "/trusted-subnet"
		}
		t.Run(name, func(t *testing.T) {
			l := newLab(t, func(c *Config) {
				methodUsers(t, c)
				c.ServiceProviders[0].AuthMethod, c.ServiceProviders[0].TrustedSubnetBypass = tc.method, tc.bypass
				c.TrustedSubnets = []string{"10.0.0.0/8", "127.0.0.0/8"}
			})
			l.t = t
			b := newBrowser(t)
			req, p := l.begin(b)
			passwords := map[string]string{"alice": "s3cret", "bob": "b0bpass", "carol": ""}
			secrets := map[string]string{"alice": aliceSecret, "carol": carolSecret, "bob": aliceSecret}
			for i, step := range tc.steps {
				switch step {
				case "password":
					if !asksPassword(p) || asksToken(p) {
						t.Fatalf("step %d: want the password form: %s", i, p.body)
					}
					p = l.submit(b, p, "username", tc.user, "password", passwords[tc.user])
				case "username-token":
					if asksPassword(p) || !asksToken(p) || !strings.Contains(p.body, `name="username"`) {
						t.Fatalf("step %d: want the username and token form: %s", i, p.body)
					}
					p = l.submit(b, p, "username", tc.user, "token", code(t, secrets[tc.user]))
				case "token":
					if !asksToken(p) || strings.Contains(p.body, `name="username"`) {
						t.Fatalf("step %d: want the token form: %s", i, p.body)
					}
					p = l.submit(b, p, "token", code(t, secrets[tc.user]))
				}
			}
			if tc.refused != "" {
				if !strings.Contains(p.body, tc.refused) || p.fields.Get("SAMLResponse") != "" {
					t.Fatalf("want refused (%s): %d %s", tc.refused, p.status, p.body)
				}
				return
			}
			if v := l.verdict(req, p); v["name_id"] != tc.user {
				t.Fatalf("verdict %v", v)
			}
		})
	}
}

// spKeyPair makes an SP key pair as the IdP's is made.
func spKeyPair(t *testing.T) (certPEM, keyPath, certPath string) {
	t.Helper()
	dir := t.TempDir()
	if err := ensureCertificate(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, certFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b), filepath.Join(dir, keyFile), filepath.Join(dir, certFile)
}

func TestSignedRequestsRequired(t *testing.T) {
	peertest.Need(t, havePysaml2(), needPysaml2)
	spCert, spKey, spCertFile := spKeyPair(t)
	_, otherKey, otherCertFile := spKeyPair(t)
	l := newLab(t, func(c *Config) {
		c.ServiceProviders[0].CertificatePEM = spCert
		c.ServiceProviders[0].RequireSignedRequests = true
	})
	if md, _ := os.ReadFile(l.metadata); !strings.Contains(string(md), `WantAuthnRequestsSigned="true"`) {
		t.Fatalf("the IdP metadata does not ask for signed requests: %s", md)
	}
	for _, binding := range []string{"redirect", "post"} {
		// Signed with the SP key: the login goes through, and the request
		// is checked again when it is answered after the form.
		b := newBrowser(t)
		req, p := l.begin(b, "--binding", binding, "--sign", "--key-file", spKey, "--cert-file", spCertFile)
		if !asksPassword(p) {
			t.Fatalf("%s, signed: %d %s", binding, p.status, p.body)
		}
		p = l.submit(b, p, "username", "alice", "password", "s3cret")
		if v := l.verdict(req, p); v["name_id"] != "alice" {
			t.Fatalf("%s, signed: %v", binding, v)
		}
		// Unsigned, and signed with a key that is not the SP's.
		for _, args := range [][]string{{"--binding", binding}, {"--binding", binding, "--sign", "--key-file", otherKey, "--cert-file", otherCertFile}} {
			_, p := l.begin(newBrowser(t), args...)
			if p.status != http.StatusBadRequest || asksPassword(p) || !strings.Contains(p.body, "must be signed by the service provider") {
				t.Fatalf("%v: %d %s", args, p.status, p.body)
			}
		}
	}
}

func TestPerSPIdPCertificate(t *testing.T) {
	peertest.Need(t, havePysaml2(), needPysaml2)
	l := newLab(t, nil)
	dir := l.dir
	if err := AddCertificate(dir, "ipsec-cert", nil, nil); err != nil {
		t.Fatal(err)
	}
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.ServiceProviders[0].IdPCertificate = "ipsec-cert"
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	l.refreshMetadata()
	own, err := os.ReadFile(filepath.Join(dir, certDir, "ipsec-cert-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(l.metadata)
	def, _ := os.ReadFile(filepath.Join(dir, certFile))
	if !strings.Contains(string(md), pemBody(own)) || strings.Contains(string(md), pemBody(def)) {
		t.Fatal("the SP's metadata does not carry its own IdP certificate")
	}
	// pysaml2 verifies the assertion with the certificate of that metadata.
	if _, v := l.authenticate(newBrowser(t), "s3cret"); v["signed"] != true {
		t.Fatalf("verdict %v", v)
	}
	if names, err := Certificates(dir); err != nil || strings.Join(names, ",") != "default,ipsec-cert" {
		t.Fatalf("certificates %v %v", names, err)
	}
	c.ServiceProviders[0].IdPCertificate = "nosuch"
	if err := c.Save(dir); err == nil || !strings.Contains(err.Error(), `no IdP certificate "nosuch"`) {
		t.Fatalf("an SP naming a missing certificate: %v", err)
	}
}

// refreshMetadata saves the IdP metadata again, under a new name (the
// pysaml2 SP keeps a client per metadata file).
func (l *lab) refreshMetadata() {
	l.t.Helper()
	resp, err := http.Get(l.base + "/saml-idp/" + l.sp.Prefix + "/metadata/")
	if err != nil {
		l.t.Fatal(err)
	}
	defer resp.Body.Close()
	md, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		l.t.Fatalf("metadata: %d %s", resp.StatusCode, md)
	}
	l.metadata = filepath.Join(l.dir, fmt.Sprintf("idp-metadata-%d.xml", time.Now().UnixNano()))
	if err := os.WriteFile(l.metadata, md, 0o600); err != nil {
		l.t.Fatal(err)
	}
}

// pemBody is the base64 of a PEM block on one line, as metadata carries it.
func pemBody(b []byte) string {
	s := string(b)
	s = s[strings.Index(s, "\n")+1 : strings.Index(s, "-----END")]
	return strings.ReplaceAll(s, "\n", "")
}

func TestUsernameFormatsAndRealms(t *testing.T) {
	peertest.Need(t, havePysaml2(), needPysaml2)
	for _, tc := range []struct {
		format, typed, refused string
	}{
		{FormatAtRealm, "alice", ""}, // the default realm (the first)
		{FormatAtRealm, "alice@staff", ""},
		{FormatAtRealm, "alice@STAFF", ""},
		{FormatAtRealm, "bob@staff", "may not log in to realm staff"},
		{FormatAtRealm, "alice@nosuch", "Unknown realm &#34;nosuch&#34;"},
		{FormatBackslashRealm, `staff\alice`, ""},
		{FormatBackslashRealm, `nosuch\alice`, "Unknown realm &#34;nosuch&#34;"},
		{FormatSlashRealm, "staff/alice", ""},
		{FormatSlashRealm, "staff/bob", "may not log in to realm staff"},
	} {
		l := newLab(t, func(c *Config) {
			methodUsers(t, c)
			c.ServiceProviders[0].AuthMethod = AuthPasswordOnly
			c.UsernameFormat = tc.format
			c.Realms = []Realm{{Name: "local"}, {Name: "staff", Groups: []string{"staff"}}}
		})
		b := newBrowser(t)
		req, p := l.begin(b)
		if !strings.Contains(p.body, tc.format) {
			t.Fatalf("%s: the form does not say the format: %s", tc.format, p.body)
		}
		password := "s3cret"
		if strings.Contains(tc.typed, "bob") {
			password = "b0bpass"
		}
		p = l.submit(b, p, "username", tc.typed, "password", password)
		if tc.refused != "" {
			if !strings.Contains(p.body, tc.refused) || p.fields.Get("SAMLResponse") != "" {
				t.Fatalf("%s %q: want %q: %d %s", tc.format, tc.typed, tc.refused, p.status, p.body)
			}
			continue
		}
		if v := l.verdict(req, p); v["name_id"] != "alice" {
			t.Fatalf("%s %q: %v", tc.format, tc.typed, v)
		}
	}
}

func TestNoAutomaticReturn(t *testing.T) {
	peertest.Need(t, havePysaml2(), needPysaml2)
	l := newLab(t, func(c *Config) { c.ServiceProviders[0].NoAutoReturn = true })
	b := newBrowser(t)
	req, p := l.begin(b)
	p = l.submit(b, p, "username", "alice", "password", "s3cret")
	if strings.Contains(p.body, "<script") || !strings.Contains(p.body, "Continue to the service provider") || p.action != l.sp.ACSURL {
		t.Fatalf("want a page that waits for the user: %s", p.body)
	}
	if v := l.verdict(req, p); v["name_id"] != "alice" {
		t.Fatalf("verdict %v", v)
	}
}

func TestRefusesBadRequests(t *testing.T) {
	peertest.Need(t, havePysaml2(), needPysaml2)
	l := newLab(t, nil)
	b := newBrowser(t)

	// A replayed request ID: the same AuthnRequest again, inside the
	// session that answered it.
	req, p := l.begin(b)
	p = l.submit(b, p, "username", "alice", "password", "s3cret")
	l.verdict(req, p)
	again := read(t, func() (*http.Response, error) { return b.Get(req["url"].(string)) })
	if again.status != http.StatusBadRequest || again.fields.Get("SAMLResponse") != "" || !strings.Contains(again.body, "replayed") {
		t.Fatalf("replayed request: %d %s", again.status, again.body)
	}
	// ... and from a new browser, before any login form.
	if p := read(t, func() (*http.Response, error) { return newBrowser(t).Get(req["url"].(string)) }); p.status != http.StatusBadRequest || asksPassword(p) {
		t.Fatalf("replayed request, new browser: %d %s", p.status, p.body)
	}

	// An SP the IdP does not know, at a known prefix.
	entity := l.sp.EntityID
	l.sp.EntityID = "http://unknown.example/metadata/"
	_, p = l.begin(newBrowser(t))
	l.sp.EntityID = entity
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "unknown service provider") {
		t.Fatalf("unknown SP: %d %s", p.status, p.body)
	}

	// A login form posted without the browser's login cookie (CSRF).
	_, p = l.begin(newBrowser(t))
	if p = l.submit(newBrowser(t), p, "username", "alice", "password", "s3cret"); p.status != http.StatusForbidden ||
		!strings.Contains(p.body, "without its cookie") {
		t.Fatalf("login form from another browser: %d %s", p.status, p.body)
	}
	// A login id that does not exist.
	p.action, p.fields = l.base+"/saml-idp/ipsec/login/", url.Values{"login": {"nosuch"}}
	if p = l.submit(b, p, "username", "alice", "password", "s3cret"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "expired or is unknown") {
		t.Fatalf("unknown login: %d %s", p.status, p.body)
	}
}

func TestLockoutAfterWrongTokenCodes(t *testing.T) {
	peertest.Need(t, havePysaml2(), needPysaml2)
	l := newLab(t, func(c *Config) { methodUsers(t, c) })
	b := newBrowser(t)
	_, p := l.begin(b)
	p = l.submit(b, p, "username", "alice", "password", "s3cret")
	wrong := "000000"
	if wrong == code(t, aliceSecret) {
		wrong = "111111"
	}
	for i := 1; i <= lockoutAttempts; i++ {
		if !asksToken(p) {
			t.Fatalf("attempt %d: no token form: %s", i, p.body)
		}
		p = l.submit(b, p, "token", wrong)
		if locked := strings.Contains(p.body, "account is locked"); locked != (i == lockoutAttempts) {
			t.Fatalf("wrong code %d: locked %v: %s", i, locked, p.body)
		}
	}
	// Locked out: the right password and code do not help.
	_, p = l.begin(b)
	if p = l.submit(b, p, "username", "alice", "password", "s3cret"); !strings.Contains(p.body, "account is locked") || asksToken(p) {
		t.Fatalf("locked out, the right password: %s", p.body)
	}
	l.clock.Advance(lockoutPeriod)
	req, p := l.begin(b)
	p = l.submit(b, p, "username", "alice", "password", "s3cret")
	p = l.submit(b, p, "token", code(t, aliceSecret))
	if v := l.verdict(req, p); v["name_id"] != "alice" {
		t.Fatalf("after the lockout: %v", v)
	}
}

func TestDeletedUserSessionEnds(t *testing.T) {
	peertest.Need(t, havePysaml2(), needPysaml2)
	l := newLab(t, func(c *Config) { methodUsers(t, c) })
	b := newBrowser(t)
	req, p := l.begin(b)
	l.verdict(req, l.submit(b, p, "username", "bob", "password", "b0bpass"))
	c, _ := Open(l.dir)
	if err := c.DeleteUser("bob"); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(l.dir); err != nil {
		t.Fatal(err)
	}
	if _, p := l.begin(b); !asksPassword(p) {
		t.Fatalf("the session of a deleted user: %d %s", p.status, p.body)
	}
	if rows := l.server.Sessions(); len(rows) != 0 {
		t.Fatalf("sessions: %+v", rows)
	}
}

// The logins in progress stay within maxLogins: expired ones make room
// at the bound, live ones refuse another login.
func TestLoginsBound(t *testing.T) {
	peertest.Need(t, havePysaml2(), needPysaml2)
	l := newLab(t, nil)
	fill := func(expires time.Time) {
		l.server.mu.Lock()
		defer l.server.mu.Unlock()
		clear(l.server.logins)
		for i := range maxLogins {
			id := fmt.Sprint("filler-", i)
			l.server.logins[id] = &pendingLogin{id: id, sp: l.sp.Name, expires: expires}
		}
	}
	fill(l.clock.Now().Add(-time.Second))
	if _, p := l.begin(newBrowser(t)); p.status != http.StatusOK || !asksPassword(p) {
		t.Fatalf("full of expired logins: %d %s", p.status, p.body)
	}
	l.server.mu.Lock()
	n := len(l.server.logins)
	l.server.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d logins in progress after the sweep, want 1", n)
	}
	fill(l.clock.Now().Add(time.Minute))
	if _, p := l.begin(newBrowser(t)); p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, "Too many logins") {
		t.Fatalf("full of live logins: %d %s", p.status, p.body)
	}
}
