package idp

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/bcrypt"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/internal/peertest"
)

// testCertificate is one IdP certificate for all tests but the one that
// checks its generation: an RSA key takes seconds under -race.
var testCertificate struct {
	once sync.Once
	dir  string
	err  error
}

func copyTestCertificate(t testing.TB, dir string) {
	t.Helper()
	c := &testCertificate
	c.once.Do(func() {
		c.dir, c.err = os.MkdirTemp("", "fosim-idp-cert-")
		if c.err == nil {
			c.err = ensureCertificate(c.dir)
		}
	})
	if c.err != nil {
		t.Fatal(c.err)
	}
	for _, name := range []string{certFile, keyFile} {
		b, err := os.ReadFile(filepath.Join(c.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStoreValidatesAndPersists(t *testing.T) {
	dir := t.TempDir()
	copyTestCertificate(t, dir)
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.SessionTimeoutMinutes != DefaultSessionTimeout {
		t.Fatalf("default timeout %d, want 480", c.SessionTimeoutMinutes)
	}
	for _, bad := range []int{4, 1441} {
		c.SessionTimeoutMinutes = bad
		if err := c.Save(dir); err == nil {
			t.Fatalf("timeout %d accepted", bad)
		}
	}
	c.SessionTimeoutMinutes = 5
	if err := c.SetUser(User{Name: "alice", Email: "alice@example.com", Groups: []string{"vpn"}}, "s3cret"); err != nil {
		t.Fatal(err)
	}
	sp := ServiceProvider{Name: "fgt", Prefix: GeneratePrefix(), EntityID: "http://sp/metadata/", ACSURL: "https://sp/acs",
		AlternativeACSURLs: []string{"a", "b", "c", "d"}}
	if err := c.SetServiceProvider(sp); err == nil {
		t.Fatal("four alternative ACS URLs accepted")
	}
	sp.AlternativeACSURLs = sp.AlternativeACSURLs[:3]
	if err := c.SetServiceProvider(sp); err != nil {
		t.Fatal(err)
	}
	if err := c.SetServiceProvider(ServiceProvider{Name: "other", Prefix: sp.Prefix, EntityID: "x", ACSURL: "y"}); err == nil {
		t.Fatal("a taken prefix accepted")
	}
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	again, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.Prefix) != 16 || !regexp.MustCompile(`^[A-Za-z0-9]{16}$`).MatchString(sp.Prefix) {
		t.Fatalf("generated prefix %q", sp.Prefix)
	}
	if got := again.ServiceProviders[0]; got.NameIDField != FieldUsername || got.NameIDFormat != FormatUnspecified {
		t.Fatalf("SP defaults: %+v", got)
	}
	if strings.Contains(again.Users[0].PasswordHash, "s3cret") {
		t.Fatal("password stored in clear")
	}
	if _, ok := again.checkPassword("alice", "s3cret"); !ok {
		t.Fatal("right password refused")
	}
	if _, ok := again.checkPassword("alice", "wrong"); ok {
		t.Fatal("wrong password accepted")
	}
	if u := IdPURLs("10.9.10.186", "ipsec"); u.EntityID != "http://10.9.10.186/saml-idp/ipsec/metadata/" ||
		u.Login != "http://10.9.10.186/saml-idp/ipsec/login/" || u.Logout != "http://10.9.10.186/saml-idp/ipsec/logout/" {
		t.Fatalf("IdP URLs %+v (seed 001)", u)
	}
}

// havePysaml2 starts the shared pysaml2 SP: importing saml2 takes a
// second, paid once.
func havePysaml2() bool {
	if _, err := exec.LookPath("xmlsec1"); err != nil {
		return false
	}
	return pythonSP.start() == nil
}

// lab is an IdP on a loopback port with one SP ("ipsec", as in seed 001)
// and a pysaml2 SP for it.
type lab struct {
	t        *testing.T
	dir      string
	server   *Server
	clock    *clock.Clock
	base     string
	metadata string // the IdP metadata, saved for pysaml2
	sp       ServiceProvider
}

func newLab(t *testing.T, edit func(*Config)) *lab {
	t.Helper()
	dir := t.TempDir()
	copyTestCertificate(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.ServerAddress = ln.Addr().String()
	if err := c.SetUser(User{Name: "alice", Email: "alice@example.com", FirstName: "Alice", Groups: []string{"vpn-users", "staff"}}, "s3cret"); err != nil {
		t.Fatal(err)
	}
	sp := ServiceProvider{Name: "fgt-ipsec", Prefix: "ipsec", EntityID: "http://127.0.0.1:1001/remote/saml/metadata/",
		ACSURL: "https://127.0.0.1:1001/remote/saml/login", AlternativeACSURLs: []string{"https://127.0.0.2:1001/remote/saml/login"},
		SLSURL:     "https://127.0.0.1:1001/remote/saml/logout",
		Attributes: []Attribute{{Name: "username", Field: FieldUsername}, {Name: "email", Field: FieldEmail}, {Name: "group", Field: FieldGroup}}}
	if err := c.SetServiceProvider(sp); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(c)
	}
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	clk := clock.New(time.UTC)
	s, err := NewServer(dir, clk, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	// the SPs here (pysaml2, lasso, Chromium's pages) keep real time
	// while the tests move the sessions' clock
	s.SetMessageClock(clock.New(time.UTC))
	srv := &http.Server{Handler: s.Handler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	l := &lab{t: t, dir: dir, server: s, clock: clk, base: "http://" + ln.Addr().String(), sp: c.ServiceProviders[0]}
	resp, err := http.Get(l.base + "/saml-idp/ipsec/metadata/")
	if err != nil {
		t.Fatal(err)
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(md, []byte("X509Certificate")) {
		t.Fatalf("metadata: %d %s", resp.StatusCode, md)
	}
	l.metadata = filepath.Join(dir, "idp-metadata.xml")
	if err := os.WriteFile(l.metadata, md, 0o600); err != nil {
		t.Fatal(err)
	}
	return l
}

// pythonSP is the pysaml2 SP script in its serve mode, one process for
// the whole test binary (importing saml2 takes a second).
var pythonSP = &scriptPeer{script: "testdata/pysaml2_sp.py", args: []string{"serve"}}

func TestMain(m *testing.M) {
	passwordCost = bcrypt.MinCost // bcrypt's default cost is a second under -race
	code := m.Run()
	if testCertificate.dir != "" {
		os.RemoveAll(testCertificate.dir)
	}
	pythonSP.stop()
	lassoPeer.stop()
	os.Exit(code)
}

// testLog shows the IdP's log lines in the test's output.
type testLog struct{ t *testing.T }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// pysaml2 asks the Python SP and decodes its answer.
func (l *lab) pysaml2(args ...string) map[string]any {
	l.t.Helper()
	v, err := l.askPysaml2(args...)
	if err != nil {
		l.t.Fatalf("pysaml2 SP %s: %v", args[0], err)
	}
	return v
}

func (l *lab) askPysaml2(args ...string) (map[string]any, error) {
	return pythonSP.ask(append([]string{args[0], "--metadata", l.metadata, "--entity-id", l.sp.EntityID,
		"--acs", l.sp.ACSURL, "--sls", l.sp.SLSURL}, args[1:]...)...)
}

// browser is a user agent with a cookie jar.
func newBrowser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 5 * time.Second}
}

var formField = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)"`)
var formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)

// page is what the IdP answered: a login prompt, or the form that posts
// a SAMLResponse to the ACS.
type page struct {
	status int
	body   string
	fields url.Values
	action string
}

func (p page) prompts() bool { return strings.Contains(p.body, `name="password"`) }

func read(t *testing.T, do func() (*http.Response, error)) page {
	t.Helper()
	resp, err := do()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	p := page{status: resp.StatusCode, body: string(b), fields: url.Values{}}
	for _, m := range formField.FindAllStringSubmatch(p.body, -1) {
		p.fields.Set(m[1], html.UnescapeString(m[2]))
	}
	if m := formAction.FindStringSubmatch(p.body); m != nil {
		p.action = html.UnescapeString(m[1])
	}
	return p
}

// authenticate sends an AuthnRequest made by pysaml2 and logs in when
// prompted; it returns whether the IdP prompted and the SP's verdict.
func (l *lab) authenticate(b *http.Client, password string, spArgs ...string) (prompted bool, verdict map[string]any) {
	l.t.Helper()
	req := l.pysaml2(append([]string{"request"}, spArgs...)...)
	var p page
	if saml, ok := req["SAMLRequest"].(string); ok {
		p = read(l.t, func() (*http.Response, error) {
			return b.PostForm(req["url"].(string), url.Values{"SAMLRequest": {saml}})
		})
	} else {
		p = read(l.t, func() (*http.Response, error) { return b.Get(req["url"].(string)) })
	}
	if p.prompts() {
		prompted = true
		form := p.fields
		form.Set("username", "alice")
		form.Set("password", password)
		p = read(l.t, func() (*http.Response, error) { return b.PostForm(p.action, form) })
		if password != "s3cret" {
			if p.status != http.StatusUnauthorized || !p.prompts() || !strings.Contains(p.body, "Invalid username or password") {
				l.t.Fatalf("wrong password: %d %s", p.status, p.body)
			}
			return true, nil
		}
	}
	resp := p.fields.Get("SAMLResponse")
	if resp == "" {
		l.t.Fatalf("no SAMLResponse: %d %s", p.status, p.body)
	}
	if p.action != l.sp.ACSURL {
		l.t.Fatalf("response posted to %q, want the ACS %q", p.action, l.sp.ACSURL)
	}
	return prompted, l.pysaml2("response", "--request-id", req["id"].(string), "--saml-response", resp)
}

func TestPysaml2SPLogsInThroughSessionAndTimeout(t *testing.T) {
	peertest.Need(t, havePysaml2(), "pysaml2 with xmlsec1 (apt-get install python3-pysaml2 xmlsec1)")
	l := newLab(t, func(c *Config) { c.SessionTimeoutMinutes = 5 })
	b := newBrowser(t)

	if prompted, _ := l.authenticate(b, "wrong"); !prompted {
		t.Fatal("no prompt for a new browser")
	}
	prompted, v := l.authenticate(b, "s3cret")
	if !prompted {
		t.Fatal("no prompt for a new browser")
	}
	t.Logf("pysaml2 SP verdict: %v", v)
	if v["name_id"] != "alice" || v["name_id_format"] != "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified" ||
		v["issuer"] != IdPURLs(strings.TrimPrefix(l.base, "http://"), "ipsec").EntityID || v["signed"] != true {
		t.Fatalf("verdict %v", v)
	}
	attrs, _ := json.Marshal(v["attributes"])
	if string(attrs) != `{"email":["alice@example.com"],"group":["vpn-users","staff"],"username":["alice"]}` {
		t.Fatalf("attributes %s", attrs)
	}
	if aud, _ := json.Marshal(v["audience"]); string(aud) != `["`+l.sp.EntityID+`"]` {
		t.Fatalf("audience %s", aud)
	}
	if rows := l.server.Sessions(); len(rows) != 1 || rows[0].User != "alice" || rows[0].SP != "fgt-ipsec" ||
		rows[0].Expires.Sub(rows[0].Created) != 5*time.Minute {
		t.Fatalf("sessions %+v", rows)
	}

	// Inside the 5 minutes: an assertion with no prompt, by the POST binding too.
	l.clock.Advance(4 * time.Minute)
	if prompted, v := l.authenticate(b, "s3cret", "--binding", "post"); prompted || v["name_id"] != "alice" {
		t.Fatalf("inside the session: prompted=%v %v", prompted, v)
	}
	// Past them: the session is flushed and the user logs in again.
	l.clock.Advance(2 * time.Minute)
	if rows := l.server.Sessions(); len(rows) != 0 {
		t.Fatalf("sessions after the timeout %+v", rows)
	}
	if prompted, _ := l.authenticate(b, "s3cret"); !prompted {
		t.Fatal("no prompt after the session timeout")
	}
}

func TestForceAuthnReusesSessionUnlessHonoured(t *testing.T) {
	peertest.Need(t, havePysaml2(), "pysaml2 with xmlsec1 (apt-get install python3-pysaml2 xmlsec1)")
	for _, honour := range []bool{false, true} {
		l := newLab(t, func(c *Config) { c.HonourForceAuthn = honour })
		b := newBrowser(t)
		if prompted, _ := l.authenticate(b, "s3cret"); !prompted {
			t.Fatal("no prompt for a new browser")
		}
		prompted, v := l.authenticate(b, "s3cret", "--force-authn")
		if prompted != honour || v["name_id"] != "alice" {
			t.Fatalf("ForceAuthn=true, honour %v: prompted %v (seed 001: FortiAuthenticator reuses its session)", honour, prompted)
		}
	}
}

func TestPysaml2SPLogsOut(t *testing.T) {
	peertest.Need(t, havePysaml2(), "pysaml2 with xmlsec1 (apt-get install python3-pysaml2 xmlsec1)")
	spKey := t.TempDir()
	if err := ensureCertificate(spKey); err != nil { // an SP key pair made as the IdP's is
		t.Fatal(err)
	}
	spCert, err := os.ReadFile(filepath.Join(spKey, certFile))
	if err != nil {
		t.Fatal(err)
	}
	l := newLab(t, func(c *Config) { c.ServiceProviders[0].CertificatePEM = string(spCert) })
	b := newBrowser(t)
	_, v := l.authenticate(b, "s3cret")
	if len(l.server.Sessions()) != 1 {
		t.Fatal("no session after the login")
	}
	req := l.pysaml2("logout", "--name-id", v["name_id"].(string), "--name-id-format", v["name_id_format"].(string),
		"--session-index", v["session_index"].(string),
		"--key-file", filepath.Join(spKey, keyFile), "--cert-file", filepath.Join(spKey, certFile))
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := b.Get(req["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if !(resp.StatusCode == http.StatusFound && strings.HasPrefix(loc, l.sp.SLSURL+"?SAMLResponse=")) &&
		!(resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte("SAMLResponse"))) {
		t.Fatalf("logout: %d %s %s", resp.StatusCode, loc, body)
	}
	if rows := l.server.Sessions(); len(rows) != 0 {
		t.Fatalf("sessions after the logout: %+v", rows)
	}
	b.CheckRedirect = nil
	if prompted, _ := l.authenticate(b, "s3cret"); !prompted {
		t.Fatal("no prompt after the logout")
	}
}

func TestNameIDFieldAndFormats(t *testing.T) {
	peertest.Need(t, havePysaml2(), "pysaml2 with xmlsec1 (apt-get install python3-pysaml2 xmlsec1)")
	for _, tc := range []struct{ field, format, want string }{
		{FieldEmail, FormatUnspecified, "alice@example.com"},
		{FieldLastName, FormatUnspecified, "alice"}, // alice has no last name: the username
		{FieldUsername, FormatPersistent, ""},
		{FieldUsername, FormatTransient, ""},
	} {
		l := newLab(t, func(c *Config) {
			c.ServiceProviders[0].NameIDField, c.ServiceProviders[0].NameIDFormat = tc.field, tc.format
		})
		_, first := l.authenticate(newBrowser(t), "s3cret")
		_, second := l.authenticate(newBrowser(t), "s3cret")
		if got := first["name_id_format"]; got != nameIDFormatURN[tc.format] {
			t.Fatalf("%s/%s: format %v", tc.field, tc.format, got)
		}
		switch tc.format {
		case FormatUnspecified:
			if first["name_id"] != tc.want {
				t.Fatalf("%s: NameID %v, want %s", tc.field, first["name_id"], tc.want)
			}
		case FormatPersistent:
			if first["name_id"] != second["name_id"] || first["name_id"] == "alice" {
				t.Fatalf("persistent NameIDs %v, %v", first["name_id"], second["name_id"])
			}
		case FormatTransient:
			if first["name_id"] == second["name_id"] || first["name_id"] == "alice" {
				t.Fatalf("transient NameIDs %v, %v", first["name_id"], second["name_id"])
			}
		}
	}
}

func TestRefusesUnknownPrefixAndForeignACS(t *testing.T) {
	peertest.Need(t, havePysaml2(), "pysaml2 with xmlsec1 (apt-get install python3-pysaml2 xmlsec1)")
	l := newLab(t, nil)
	req := l.pysaml2("request")
	u := strings.Replace(req["url"].(string), "/saml-idp/ipsec/", "/saml-idp/nosuch/", 1)
	if p := read(t, func() (*http.Response, error) { return http.Get(u) }); p.status != http.StatusNotFound {
		t.Fatalf("unknown prefix: %d %s", p.status, p.body)
	}
	// The same SP asking for an assertion at an ACS that is not its own.
	l.sp.ACSURL = "https://attacker.example/acs"
	req = l.pysaml2("request")
	if p := read(t, func() (*http.Response, error) { return http.Get(req["url"].(string)) }); p.status != http.StatusBadRequest || p.prompts() {
		t.Fatalf("foreign ACS: %d %s", p.status, p.body)
	}
}

func TestTOTPLoginWithOathtoolCodes(t *testing.T) {
	peertest.Need(t, havePysaml2(), "pysaml2 with xmlsec1 (apt-get install python3-pysaml2 xmlsec1)")
	_, err := exec.LookPath("oathtool")
	peertest.Need(t, err == nil, "oathtool (apt-get install oathtool)")
	var secret string
	l := newLab(t, func(c *Config) {
		u, err := c.SetToken("alice")
		if err != nil || !strings.HasPrefix(u, "otpauth://totp/") {
			t.Fatalf("token: %q %v", u, err)
		}
		secret = c.Users[0].TOTPSecret
	})
	oathtool := func() string {
		out, err := exec.Command("oathtool", "--totp", "-b", secret).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	code := oathtool()
	if now, prev := time.Now(), time.Now().Add(-30*time.Second); !slices.ContainsFunc([]time.Time{now, prev}, func(at time.Time) bool {
		c, _ := totp.GenerateCodeCustom(secret, at, totpOptions)
		return c == code
	}) {
		t.Fatalf("oathtool's code %s is not pquerna/otp's", code)
	}

	// login posts the password, then each code in turn; it returns the last page.
	login := func(codes ...string) (map[string]any, page) {
		b := newBrowser(t)
		req := l.pysaml2("request")
		p := read(t, func() (*http.Response, error) { return b.Get(req["url"].(string)) })
		form := p.fields
		form.Set("username", "alice")
		form.Set("password", "s3cret")
		p = read(t, func() (*http.Response, error) { return b.PostForm(p.action, form) })
		for _, c := range codes {
			if !strings.Contains(p.body, `name="token"`) || p.fields.Get("login") == "" {
				t.Fatalf("no token form: %d %s", p.status, p.body)
			}
			form := p.fields
			form.Set("token", c)
			p = read(t, func() (*http.Response, error) { return b.PostForm(p.action, form) })
		}
		if resp := p.fields.Get("SAMLResponse"); resp != "" {
			return l.pysaml2("response", "--request-id", req["id"].(string), "--saml-response", resp), p
		}
		return nil, p
	}
	wrong := "000000"
	if wrong == code {
		wrong = "111111"
	}
	v, p := login(wrong, code)
	if v["name_id"] != "alice" {
		t.Fatalf("a wrong then the right code: %d %s", p.status, p.body)
	}
	// A code is good once, as a FortiToken's is.
	if v, p := login(code); v != nil || p.status != http.StatusUnauthorized || !strings.Contains(p.body, "Invalid token code") {
		t.Fatalf("a used code: %v %d %s", v, p.status, p.body)
	}
}

func TestPassiveRequestAndDisabledSP(t *testing.T) {
	peertest.Need(t, havePysaml2(), "pysaml2 with xmlsec1 (apt-get install python3-pysaml2 xmlsec1)")
	l := newLab(t, nil)
	b := newBrowser(t)
	// IsPassive without a session: a NoPassive status, no prompt.
	req := l.pysaml2("request", "--is-passive")
	p := read(t, func() (*http.Response, error) { return b.Get(req["url"].(string)) })
	if p.prompts() || p.fields.Get("SAMLResponse") == "" {
		t.Fatalf("passive request: %d %s", p.status, p.body)
	}
	if _, err := l.askPysaml2("response", "--request-id", req["id"].(string), "--saml-response", p.fields.Get("SAMLResponse")); err == nil ||
		!strings.Contains(err.Error(), "NoPassive") {
		t.Fatalf("pysaml2 on the passive answer: %v", err)
	}
	// With a session it answers with an assertion.
	l.authenticate(b, "s3cret")
	if prompted, v := l.authenticate(b, "s3cret", "--is-passive"); prompted || v["name_id"] != "alice" {
		t.Fatalf("passive request in a session: %v %v", prompted, v)
	}

	c, err := Open(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnableServiceProvider("fgt-ipsec", false); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(l.dir); err != nil {
		t.Fatal(err)
	}
	req = l.pysaml2("request")
	if p := read(t, func() (*http.Response, error) { return b.Get(req["url"].(string)) }); p.status != http.StatusForbidden {
		t.Fatalf("disabled SP: %d %s", p.status, p.body)
	}
}

func TestLockoutAfterFailedLogins(t *testing.T) {
	peertest.Need(t, havePysaml2(), "pysaml2 with xmlsec1 (apt-get install python3-pysaml2 xmlsec1)")
	l := newLab(t, nil)
	b := newBrowser(t)
	try := func(password string) page {
		req := l.pysaml2("request")
		p := read(t, func() (*http.Response, error) { return b.Get(req["url"].(string)) })
		form := p.fields
		form.Set("username", "alice")
		form.Set("password", password)
		return read(t, func() (*http.Response, error) { return b.PostForm(p.action, form) })
	}
	for i := 1; i <= lockoutAttempts; i++ {
		p := try("wrong")
		if locked := strings.Contains(p.body, "account is locked"); locked != (i == lockoutAttempts) {
			t.Fatalf("attempt %d: locked %v: %s", i, locked, p.body)
		}
	}
	if p := try("s3cret"); !strings.Contains(p.body, "account is locked") || p.fields.Get("SAMLResponse") != "" {
		t.Fatalf("the right password while locked out: %s", p.body)
	}
	l.clock.Advance(lockoutPeriod)
	if p := try("s3cret"); p.fields.Get("SAMLResponse") == "" {
		t.Fatalf("the right password after the lockout: %d %s", p.status, p.body)
	}
}

func TestRefusesDeflateBomb(t *testing.T) {
	l := newLab(t, nil)
	// 2 MiB of zeros deflate to 2 KiB: the IdP must stop inflating at its
	// limit (crewjam's, 1 MiB) rather than read it all.
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestCompression)
	fw.Write(make([]byte, 2<<20))
	fw.Close()
	u := l.base + "/saml-idp/ipsec/login/?SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(z.Bytes()))
	p := read(t, func() (*http.Response, error) { return http.Get(u) })
	if p.status != http.StatusBadRequest {
		t.Fatalf("deflate bomb: %d %s", p.status, p.body)
	}
}
