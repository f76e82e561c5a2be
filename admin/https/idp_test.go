package https

import (
	"crypto/tls"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/grammar"
)

// fabricUnit is one appliance of a Security Fabric SSO pair, served over
// TLS on its own loopback address (two units on one address would share
// the browser's ccsrftoken cookie, as they never do on a real network).
type fabricUnit struct {
	ts   *httptest.Server
	app  *cli.Appliance
	host string // address:port, its server-address
}

func newFabricUnit(t testing.TB, addr string) *fabricUnit {
	t.Helper()
	st := cmdbtest.Store(t)
	cmdbtest.Apply(t, st, "config system admin\nedit admin\nset password "+testPassword+"\nnext\nend\n")
	app := cli.NewAppliance(st)
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	ts := httptest.NewUnstartedServer(&Server{App: app})
	ts.Listener.Close()
	ts.Listener = ln
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return &fabricUnit{ts: ts, app: app, host: ln.Addr().String()}
}

// factoryCertPEM is the unit's Fortinet_Factory certificate, as the SP
// imports it to trust the IdP.
func (u *fabricUnit) factoryCertPEM(t testing.TB) string {
	t.Helper()
	st := u.app.Store
	e := st.Lookup("vpn certificate local", "Fortinet_Factory")
	if e == nil {
		t.Fatal("no Fortinet_Factory")
	}
	return strings.Join(e.Get(st.Schema().Table("vpn certificate local").Attr("certificate")), " ")
}

// newFabricPair is seed 004's pair of units on FortiGate's terms: idp is
// the identity provider with the sp unit as its service provider
// "csf_unit2" (prefix csf_fosim2), as Security Fabric SSO configures them.
func newFabricPair(t testing.TB, spExtra string) (idp, sp *fabricUnit) {
	t.Helper()
	idp = newFabricUnit(t, "127.0.0.1")
	sp = newFabricUnit(t, "127.0.0.2")
	cmdbtest.Apply(t, idp.app.Store, idpConfig(idp.host, []string{"alice", "bob"}, "csf_unit2", `set prefix "csf_fosim2"
set sp-entity-id "http://`+sp.host+`/metadata/"
set sp-single-sign-on-url "https://`+sp.host+`/saml/?acs"
set sp-single-logout-url "https://`+sp.host+`/saml/?sls"
set sp-portal-url "https://`+sp.host+`/saml/login/"
`))
	entity, login, logout := idpURLs(idp.host, "csf_fosim2")
	cmdbtest.Apply(t, sp.app.Store, `config vpn certificate remote
edit "REMOTE_Cert_1"
set remote `+grammar.Quote(strings.TrimSpace(idp.factoryCertPEM(t)))+`
next
end
config system accprofile
edit "ops"
set sysgrp read
next
end
config system sso-admin
edit "alice"
set accprofile "ops"
next
end
config system saml
set status enable
set idp-entity-id "`+entity+`"
set idp-single-sign-on-url "`+login+`"
set idp-single-logout-url "`+logout+`"
set idp-cert "REMOTE_Cert_1"
set server-address "`+sp.host+`"
`+spExtra+`end
`)
	return idp, sp
}

// idpConfig is the config of a unit at host as identity provider:
// access profile ops for admins (password testPassword), and one service
// provider, spName, set by spSettings and given the username and
// profilename assertion attributes.
func idpConfig(host string, admins []string, spName, spSettings string) string {
	var users strings.Builder
	for _, name := range admins {
		users.WriteString("edit " + grammar.Quote(name) + "\nset accprofile \"ops\"\nset password " + testPassword + "\nnext\n")
	}
	return `config system accprofile
edit "ops"
set sysgrp read
set fwgrp read-write
next
end
config system admin
` + users.String() + `end
config system saml
set status enable
set role identity-provider
set cert "Fortinet_Factory"
set server-address "` + host + `"
config service-providers
edit ` + grammar.Quote(spName) + `
` + spSettings + `config assertion-attributes
edit "username"
next
edit "profilename"
set type profile-name
next
end
next
end
end
`
}

// browser is a cookie-keeping client that follows redirects, trusting
// both units' factory certificates as an admin who accepted them would.
func browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}

func get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func postForm(t testing.TB, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

var (
	formAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
	formInput  = regexp.MustCompile(`<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)
)

// submitForm posts the page's (first) form as the browser would.
func submitForm(t testing.TB, c *http.Client, page, pageURL string, set url.Values) (*http.Response, string) {
	t.Helper()
	m := formAction.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form on the page: %.600s", page)
	}
	action, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse(pageURL)
	form := url.Values{}
	for _, in := range formInput.FindAllStringSubmatch(page, -1) {
		form.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	for k, v := range set {
		form[k] = v
	}
	return postForm(t, c, base.ResolveReference(action).String(), form)
}

// loginGUI logs in on a unit's login page, as an admin types it.
func loginGUI(t testing.TB, c *http.Client, u *fabricUnit, user string) {
	t.Helper()
	resp, page := get(t, c, u.ts.URL+loginPath)
	resp, page = submitForm(t, c, page, resp.Request.URL.String(), url.Values{"username": {user}, "secretkey": {testPassword}})
	if resp.Request.URL.Path != dashboardPath {
		t.Fatalf("login as %s ended on %s: %.400s", user, resp.Request.URL, page)
	}
}

// ssoVia starts an SSO login on the SP unit and follows it through the
// IdP unit; it returns the page it ends on and its URL.
func ssoVia(t testing.TB, c *http.Client, sp *fabricUnit) (*http.Response, string) {
	t.Helper()
	resp, page := get(t, c, sp.ts.URL+ssoLoginPath)
	if !strings.Contains(page, "SAMLResponse") {
		return resp, page
	}
	// The IdP's answer posts itself to the SP's ACS.
	return submitForm(t, c, page, resp.Request.URL.String(), nil)
}

// An admin logged in on the IdP unit reaches the SP unit without logging
// in again (seed 004's Quick Access, FortiGate's Security Fabric SSO);
// the SP unit shows an SSO session with the sso-admin's profile.
func TestFabricSSOBetweenUnits(t *testing.T) {
	idp, sp := newFabricPair(t, "")
	c := browser(t)
	loginGUI(t, c, idp, "alice")
	// The IdP's dashboard lists its service providers (Quick Access),
	// each a link to its SSO login.
	if _, dash := get(t, c, idp.ts.URL+dashboardPath); !strings.Contains(dash, `<a href="https://`+sp.host+`/saml/login/">csf_unit2</a>`) {
		t.Fatalf("no Quick Access link on the IdP's dashboard:\n%s", dash)
	}
	resp, page := ssoVia(t, c, sp)
	if resp.Request.URL.Host != sp.host || resp.Request.URL.Path != dashboardPath || !strings.Contains(page, "alice") {
		t.Fatalf("SSO ended on %s: %.600s", resp.Request.URL, page)
	}
	out := runCLI(sp.app, "admin", "diagnose system admin-session list")
	if !strings.Contains(out, "username: alice") || !strings.Contains(out, "from: SSO(127.0.0.1) (type 7)") || !strings.Contains(out, "profile: ops") {
		t.Fatalf("SP session list:\n%s", out)
	}
	// The SP unit's REST API takes the browser's session, with the
	// sso-admin's read-only system access.
	resp, body := get(t, c, sp.ts.URL+"/api/v2/cmdb/system/global")
	if resp.StatusCode != 200 || !strings.Contains(body, `"hostname"`) {
		t.Fatalf("REST as the SSO admin: %d %.300s", resp.StatusCode, body)
	}

	// The Response posted a second time is refused: one login per
	// assertion.
	c2 := browser(t)
	loginGUI(t, c2, idp, "alice")
	resp, page = get(t, c2, sp.ts.URL+ssoLoginPath)
	if !strings.Contains(page, "SAMLResponse") {
		t.Fatalf("no IdP answer: %.400s", page)
	}
	saved, savedURL := page, resp.Request.URL.String()
	if resp, _ := submitForm(t, c2, saved, savedURL, nil); resp.Request.URL.Path != dashboardPath {
		t.Fatalf("first post ended on %s", resp.Request.URL)
	}
	if resp, page := submitForm(t, c2, saved, savedURL, nil); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "Single Sign-On failed") {
		t.Fatalf("replayed Response: %d %.300s", resp.StatusCode, page)
	}
}

// A browser not logged in on the IdP unit is sent to its login page and,
// once logged in there, on to the SP unit.
func TestFabricSSOLoginOnIdP(t *testing.T) {
	idp, sp := newFabricPair(t, "")
	c := browser(t)
	resp, page := get(t, c, sp.ts.URL+ssoLoginPath)
	if resp.Request.URL.Host != idp.host || resp.Request.URL.Path != loginPath || !strings.Contains(page, `name="redirect"`) {
		t.Fatalf("not sent to the IdP's login page: %s %.400s", resp.Request.URL, page)
	}
	resp, page = submitForm(t, c, page, resp.Request.URL.String(), url.Values{"username": {"alice"}, "secretkey": {testPassword}})
	if !strings.Contains(page, "SAMLResponse") {
		t.Fatalf("no IdP answer after login: %s %.400s", resp.Request.URL, page)
	}
	resp, page = submitForm(t, c, page, resp.Request.URL.String(), nil)
	if resp.Request.URL.Host != sp.host || resp.Request.URL.Path != dashboardPath {
		t.Fatalf("SSO ended on %s: %.400s", resp.Request.URL, page)
	}
	// A wrong password stays on the IdP's login page, still bound for
	// the SP.
	c2 := browser(t)
	resp, page = get(t, c2, sp.ts.URL+ssoLoginPath)
	resp, page = submitForm(t, c2, page, resp.Request.URL.String(), url.Values{"username": {"alice"}, "secretkey": {"wrong"}})
	if !strings.Contains(page, "Authentication failure.") || !strings.Contains(page, `name="redirect"`) {
		t.Fatalf("wrong password: %s %.400s", resp.Request.URL, page)
	}
	// The login page's redirect goes nowhere but this unit's IdP.
	for _, evil := range []string{"https://evil.example/", "//evil.example/saml-idp/", "/ng/../../evil"} {
		if got := afterLogin(evil); got != dashboardPath {
			t.Errorf("afterLogin(%q) = %q", evil, got)
		}
	}
}

// The IdP's admin without an sso-admin entry on the SP unit is refused
// there, unless default-profile lets the SP add it (with the IdP's
// profile name when the SP has that profile).
func TestFabricSSOUnknownAdmin(t *testing.T) {
	idp, sp := newFabricPair(t, "")
	c := browser(t)
	loginGUI(t, c, idp, "bob")
	resp, page := ssoVia(t, c, sp)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "doesn&#39;t exist") {
		t.Fatalf("unknown admin: %d %.400s", resp.StatusCode, page)
	}
	cmdbtest.Apply(t, sp.app.Store, "config system saml\nset default-profile prof_admin\nend\n")
	resp, page = ssoVia(t, c, sp)
	if resp.Request.URL.Path != dashboardPath {
		t.Fatalf("default-profile: %s %.400s", resp.Request.URL, page)
	}
	st := sp.app.Store
	e := st.Lookup("system sso-admin", "bob")
	if e == nil {
		t.Fatal("no sso-admin bob on the SP")
	}
	if got := e.Value(st.Schema().Table("system sso-admin").Attr("accprofile")); got != "ops" {
		t.Fatalf("bob's profile on the SP: %q, want the IdP's ops", got)
	}
}

// Single logout: the admin logs out on the SP unit, which sends a
// LogoutRequest to the IdP unit; the IdP ends its session and answers, and
// the browser lands on the SP's login page logged out of both.
func TestFabricSSOSingleLogout(t *testing.T) {
	idp, sp := newFabricPair(t, "")
	c := browser(t)
	loginGUI(t, c, idp, "alice")
	resp, page := ssoVia(t, c, sp)
	if resp.Request.URL.Path != dashboardPath {
		t.Fatalf("SSO: %s", resp.Request.URL)
	}
	resp, page = submitForm(t, c, page, resp.Request.URL.String(), nil) // the dashboard's logout form
	// The page refreshes to the IdP's logout (a redirect after the form
	// would leave form-action 'self').
	m := regexp.MustCompile(`http-equiv="refresh" content="0;url=([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("logout page without a refresh to the IdP: %.400s", page)
	}
	resp, page = get(t, c, html.UnescapeString(m[1]))
	if resp.Request.URL.Host != sp.host || resp.Request.URL.Path != loginPath {
		t.Fatalf("logout ended on %s: %.400s", resp.Request.URL, page)
	}
	for _, u := range []*fabricUnit{idp, sp} {
		if resp, _ := get(t, c, u.ts.URL+dashboardPath); resp.Request.URL.Path != loginPath {
			t.Fatalf("%s: still logged in after single logout (%s)", u.host, resp.Request.URL)
		}
	}
	if out := runCLI(idp.app, "admin", "diagnose system admin-session list"); strings.Contains(out, "alice") {
		t.Fatalf("IdP session kept:\n%s", out)
	}
}

// What the IdP refuses: an unknown prefix, an AuthnRequest of another
// issuer, an unsigned one when sp-cert is set.
func TestFabricIdPRefuses(t *testing.T) {
	idp, sp := newFabricPair(t, "")
	c := browser(t)
	loginGUI(t, c, idp, "alice")
	if resp, _ := get(t, c, idp.ts.URL+"/saml-idp/csf_nope/login/"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown prefix: %d", resp.StatusCode)
	}
	// The SP names itself otherwise than sp-entity-id says.
	cmdbtest.Apply(t, sp.app.Store, "config system saml\nset entity-id http://elsewhere.example/metadata/\nend\n")
	if resp, page := get(t, c, sp.ts.URL+ssoLoginPath); resp.StatusCode == 200 || strings.Contains(page, "SAMLResponse") {
		t.Fatalf("foreign issuer answered: %d %.300s", resp.StatusCode, page)
	}
	cmdbtest.Apply(t, sp.app.Store, "config system saml\nunset entity-id\nend\n")
	// sp-cert: the SP must sign its requests.
	cmdbtest.Apply(t, idp.app.Store, `config vpn certificate remote
edit "SP_Cert"
set remote `+grammar.Quote(strings.TrimSpace(sp.factoryCertPEM(t)))+`
next
end
config system saml
config service-providers
edit "csf_unit2"
set sp-cert "SP_Cert"
next
end
end
`)
	if resp, page := get(t, c, sp.ts.URL+ssoLoginPath); resp.StatusCode == 200 || strings.Contains(page, "SAMLResponse") {
		t.Fatalf("unsigned request answered with sp-cert set: %d %.300s", resp.StatusCode, page)
	}
	cmdbtest.Apply(t, sp.app.Store, "config system saml\nset cert Fortinet_Factory\nend\n")
	if resp, page := ssoVia(t, c, sp); resp.Request.URL.Path != dashboardPath {
		t.Fatalf("signed request: %d %s %.300s", resp.StatusCode, resp.Request.URL, page)
	}
}

// BenchmarkFabricSSO is one Security Fabric SSO hop: an admin logged in on
// the IdP unit opens the SP unit's SSO login and lands on its dashboard
// (AuthnRequest, signed Response, every check at the ACS). The floor is
// a password login on the SP unit's login page in the same run.
func BenchmarkFabricSSO(b *testing.B) {
	idp, sp := newFabricPair(b, "")
	c := browser(b)
	loginGUI(b, c, idp, "alice")
	b.Run("sso-hop", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if resp, page := ssoVia(b, c, sp); resp.Request.URL.Path != dashboardPath {
				b.Fatalf("SSO ended on %s: %.300s", resp.Request.URL, page)
			}
		}
	})
	b.Run("password-login-floor", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			loginGUI(b, browser(b), sp, "admin")
		}
	})
}
