package idp

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fosim/fosim/internal/chromiumtest"
	"github.com/fosim/fosim/internal/peertest"
)

// chromium is Debian's headless Chromium driven by chromedp, with a fresh
// profile.
func chromium(t *testing.T) context.Context {
	t.Helper()
	peertest.Need(t, chromiumtest.Installed(), "chromium (apt-get install chromium)")
	return chromiumtest.Start(t, 1200, 900)
}

// screenshots go to $FOSIM_IDP_SCREENSHOTS when set (to look at them),
// else to the test's temporary directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	chromiumtest.Screenshot(t, ctx, "FOSIM_IDP_SCREENSHOTS", name)
}

// browserSP is an SP a browser can reach: /start sends the browser to the
// IdP with an AuthnRequest pysaml2 makes; /acs has pysaml2 check the
// Response and greets the user by the NameID.
type browserSP struct {
	l       *lab
	mu      sync.Mutex
	request string // the ID of the last AuthnRequest
}

func (sp *browserSP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/start":
		req, err := sp.l.askPysaml2("request")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		sp.mu.Lock()
		sp.request = req["id"].(string)
		sp.mu.Unlock()
		http.Redirect(w, r, req["url"].(string), http.StatusFound)
	case "/acs":
		sp.mu.Lock()
		id := sp.request
		sp.mu.Unlock()
		v, err := sp.l.askPysaml2("response", "--request-id", id, "--saml-response", r.PostFormValue("SAMLResponse"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, `<!DOCTYPE html><html><body><h1 id="welcome">Welcome %s</h1></body></html>`, html.EscapeString(v["name_id"].(string)))
	default:
		http.NotFound(w, r)
	}
}

func TestWebPagesInChromium(t *testing.T) {
	peertest.Need(t, havePysaml2(), needPysaml2)
	ctx := chromium(t)
	spLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	spBase := "http://" + spLn.Addr().String()
	l := newLab(t, func(c *Config) {
		c.ServiceProviders[0].ACSURL = spBase + "/acs"
		if err := c.SetAdmin("admin", "correct horse"); err != nil {
			t.Fatal(err)
		}
		if err := c.SetUser(User{Name: "bob", Email: "bob@example.com", TOTPSecret: aliceSecret}, "b0bpass"); err != nil {
			t.Fatal(err)
		}
	})
	sp := &browserSP{l: l}
	spServer := &http.Server{Handler: sp}
	go spServer.Serve(spLn)
	t.Cleanup(func() { spServer.Close() })

	// A user logs in to the SP through the IdP's page.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(spBase+"/start"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "1-login")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), "wrong"),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#error")),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "2-login-wrong-password")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), "s3cret"),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#welcome")),
	); err != nil {
		t.Fatal(err)
	}
	welcome, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#welcome")))
	if err != nil {
		t.Fatal(err)
	}
	if welcome != "Welcome alice" {
		t.Fatalf("the SP says %q", welcome)
	}
	// The session cookie works in the browser: a second login, no prompt.
	if err := chromedp.Do(ctx, chromedp.Navigate(spBase+"/start"), chromedp.WaitVisible(chromedp.CSS("#welcome"))); err != nil {
		t.Fatal(err)
	}

	// A second browser profile logs bob in with his token code.
	ctx2 := chromium(t)
	if err := chromedp.Do(ctx2,
		chromedp.Navigate(spBase+"/start"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "bob"),
		chromedp.SendKeys(chromedp.CSS("#password"), "b0bpass"),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#token")),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx2, "3-token")
	if err := chromedp.Do(ctx2,
		chromedp.SendKeys(chromedp.CSS("#token"), code(t, aliceSecret)),
		chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#welcome")),
	); err != nil {
		t.Fatal(err)
	}
	welcomeBob, err := chromedp.Run(ctx2, chromedp.Text(chromedp.CSS("#welcome")))
	if err != nil {
		t.Fatal(err)
	}
	if welcomeBob != "Welcome bob" {
		t.Fatalf("the SP says %q", welcomeBob)
	}

	// An administrator logs in, adds an SP and ends alice's session.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(l.base+"/admin/"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "4-admin-login")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#username"), "admin"),
		chromedp.SendKeys(chromedp.CSS("#password"), "correct horse"),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#save-general")),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "5-admin-general")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(l.base+"/admin/sps/edit"),
		chromedp.WaitVisible(chromedp.CSS("#save-sp")),
		chromedp.SendKeys(chromedp.CSS("#name"), "wiki"),
		chromedp.Click(chromedp.CSS("#generate_prefix")),
		chromedp.SendKeys(chromedp.CSS("#entity_id"), "https://wiki.example/saml/metadata"),
		chromedp.SendKeys(chromedp.CSS("#acs_url"), "https://wiki.example/saml/acs"),
		chromedp.SetValue(chromedp.CSS("#auth_method"), AuthEnforce2FA),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "6-admin-new-sp")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#save-sp")),
		chromedp.WaitVisible(chromedp.CSS("#ok")),
	); err != nil {
		t.Fatal(err)
	}
	okText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#ok")))
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "7-admin-sps")
	cfg, err := Open(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	wiki, ok := cfg.serviceProviderByEntityID("https://wiki.example/saml/metadata")
	if !ok || wiki.Name != "wiki" || len(wiki.Prefix) != 16 || wiki.Method() != AuthEnforce2FA || !strings.Contains(okText, "wiki saved") {
		t.Fatalf("the SP the page added: %+v (%q)", wiki, okText)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(l.base+"/admin/sessions"),
		chromedp.WaitVisible(chromedp.CSS("#sessions")),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "8-admin-sessions")
	if rows := l.server.Sessions(); len(rows) != 2 {
		t.Fatalf("sessions before: %+v", rows)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(`//tr[td[1][text()="alice"]]//button`)),
		chromedp.WaitVisible(chromedp.CSS("#ok")),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "9-admin-session-ended")
	if err := chromedp.Do(ctx, chromedp.Navigate(l.base+"/admin/users"), chromedp.WaitVisible(chromedp.CSS("#user_name"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "10-admin-users")
	if rows := l.server.Sessions(); len(rows) != 1 || rows[0].User != "bob" {
		t.Fatalf("sessions after ending alice's: %+v", rows)
	}
	// alice's browser is asked to log in again.
	if err := chromedp.Do(ctx, chromedp.Navigate(spBase+"/start"), chromedp.WaitVisible(chromedp.CSS("#username"))); err != nil {
		t.Fatal(err)
	}
}

func TestAdminPagesRefuse(t *testing.T) {
	l := newLab(t, nil)
	b := newBrowser(t)
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// Without an administrator session: to the login page, or refused.
	resp, err := b.Get(l.base + "/admin/sessions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/login") {
		t.Fatalf("admin page without a login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if p := read(t, func() (*http.Response, error) { return b.PostForm(l.base+"/admin/sessions/end", nil) }); p.status != http.StatusUnauthorized {
		t.Fatalf("POST without a login: %d", p.status)
	}
	// No administrator account: no login works, and the page says how to set one.
	p := read(t, func() (*http.Response, error) { return b.Get(l.base + "/admin/login") })
	if !strings.Contains(p.body, "No administrator account is set") {
		t.Fatalf("login page: %s", p.body)
	}
	p = l.submit(b, page{action: l.base + "/admin/login", fields: p.fields}, "username", "admin", "password", "admin")
	if p.status != http.StatusUnauthorized {
		t.Fatalf("login with no administrator: %d %s", p.status, p.body)
	}
	// With one: the login form needs its cookie, and the pages their CSRF token.
	c, _ := Open(l.dir)
	if err := c.SetAdmin("admin", "correct horse"); err != nil {
		t.Fatal(err)
	}
	c.Save(l.dir)
	p = read(t, func() (*http.Response, error) { return b.Get(l.base + "/admin/login") })
	if q := l.submit(newBrowser(t), page{action: l.base + "/admin/login", fields: p.fields}, "username", "admin", "password", "correct horse"); q.status != http.StatusForbidden {
		t.Fatalf("admin login without its cookie: %d", q.status)
	}
	resp, err = b.PostForm(l.base+"/admin/login", withFields(p.fields, "username", "admin", "password", "correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin login: %d", resp.StatusCode)
	}
	if p := read(t, func() (*http.Response, error) {
		return b.PostForm(l.base+"/admin/general", withFields(nil, "timeout", "5", "csrf", "forged"))
	}); p.status != http.StatusForbidden || !strings.Contains(p.body, "CSRF") {
		t.Fatalf("a POST with a wrong CSRF token: %d %s", p.status, p.body)
	}
	// Bad input through the pages is refused with the store's words.
	p = read(t, func() (*http.Response, error) { return b.Get(l.base + "/admin/general") })
	resp, err = b.PostForm(l.base+"/admin/general", withFields(p.fields, "timeout", "1441"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	p = read(t, func() (*http.Response, error) { return b.Get(l.base + "/admin/general") })
	if !strings.Contains(p.body, "Login session timeout &#34;1441&#34;: minutes, 5 to 1440") {
		t.Fatalf("timeout 1441: %s", p.body)
	}
	if c, _ := Open(l.dir); c.SessionTimeoutMinutes != DefaultSessionTimeout {
		t.Fatalf("timeout %d saved", c.SessionTimeoutMinutes)
	}
	// An SP from its pasted metadata.
	spCert, _, _ := spKeyPair(t)
	md := `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="urn:pasted">
<md:SPSSODescriptor AuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + pemBody([]byte(spCert)) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://pasted/sls"/>
<md:AssertionConsumerService index="0" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://pasted/acs"/>
</md:SPSSODescriptor></md:EntityDescriptor>`
	resp, err = b.PostForm(l.base+"/admin/sps/save", withFields(p.fields, "name", "pasted", "prefix", "pasted", "sp_metadata", md,
		"nameid_field", "username", "nameid_format", "unspecified", "auth_method", AuthPasswordOnly))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c, _ := Open(l.dir); true {
		sp, ok := c.serviceProviderByEntityID("urn:pasted")
		if !ok || sp.ACSURL != "https://pasted/acs" || sp.SLSURL != "https://pasted/sls" || !sp.RequireSignedRequests || sp.CertificatePEM == "" {
			t.Fatalf("the SP from pasted metadata: %+v", sp)
		}
	}
	// Saving a user with the password left empty keeps the password.
	resp, err = b.PostForm(l.base+"/admin/users/save", withFields(p.fields, "name", "alice", "email", "alice@new.example", "groups", "staff"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c, _ := Open(l.dir); true {
		u, ok := c.checkPassword("alice", "s3cret")
		if !ok || u.Email != "alice@new.example" || strings.Join(u.Groups, ",") != "staff" {
			t.Fatalf("alice after an edit without a password: %+v %v", u, ok)
		}
	}
}

func withFields(base map[string][]string, kv ...string) map[string][]string {
	form := map[string][]string{}
	for k, v := range base {
		form[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		form[kv[i]] = []string{kv[i+1]}
	}
	return form
}

// After the login form, an administrator goes on to the page asked for
// only when it is one of the administration pages.
func TestAdminNext(t *testing.T) {
	for next, want := range map[string]string{
		"/admin/users": "/admin/users", "": "/admin/", "https://evil.example/admin/": "/admin/",
		"//evil.example/admin/": "/admin/", "/admin//evil.example": "/admin/", "/saml-idp/": "/admin/",
	} {
		if got := adminNext(next); got != want {
			t.Errorf("adminNext(%q) = %q, want %q", next, got, want)
		}
	}
}
