package https

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/grammar"
	"github.com/fosim/fosim/internal/peertest"
	"github.com/fosim/fosim/peers/idp"
)

// selfSigned is a new RSA key and certificate for the test IdP, as PEM.
func selfSigned(t *testing.T, cn string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	return certPEM, keyPEM
}

// startAdminIdP runs testdata/<lib>_admin_idp.py with a key pair of its
// own, trusting the appliance's SP metadata; conf is the rest of its
// configuration.
func startAdminIdP(t *testing.T, lib string, spMetadata []byte, conf map[string]any) (idp *pyPeer, certPEM string) {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t, lib+" test IdP")
	conf["cert"], conf["key"] = peerFile(t, dir, "cert.pem", certPEM), peerFile(t, dir, "key.pem", keyPEM)
	conf["sp_metadata"] = peerFile(t, dir, "sp.xml", string(spMetadata))
	cfg, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	return startPyPeer(t, lib+" IdP", "ready ", "testdata/"+lib+"_admin_idp.py", peerFile(t, dir, "idp.json", string(cfg))), certPEM
}

// pysaml2IdP is the pysaml2 IdP of testdata/pysaml2_admin_idp.py, trusting
// the appliance's SP metadata; it returns its base URL and certificate.
func pysaml2IdP(t *testing.T, spMetadata []byte, users map[string]map[string]string) (base, certPEM string) {
	t.Helper()
	port := freeTCPPort(t)
	base = "http://127.0.0.1:" + strconv.Itoa(port)
	_, certPEM = startAdminIdP(t, "pysaml2", spMetadata, map[string]any{
		"entity_id": base + "/metadata", "base": base, "port": port, "users": users})
	return base, certPEM
}

// requireSAMLPeers skips loudly (or fails under FOSIM_REQUIRE_PEERS=1)
// without pysaml2 and xmlsec1.
func requireSAMLPeers(t *testing.T) {
	t.Helper()
	requirePython(t, "saml2", "python3-pysaml2")
	if _, err := exec.LookPath("xmlsec1"); err != nil {
		peertest.Missing(t, "xmlsec1 is not installed (apt-get install xmlsec1)")
	}
}

// ssoLab is an appliance with admin SSO to a pysaml2 IdP.
type ssoLab struct {
	ts  *httptest.Server
	app *cli.Appliance
	// idpForm are the CSS selectors of the IdP's login form.
	idpForm struct{ user, password, submit string }
}

func newSSOLab(t *testing.T, users map[string]map[string]string, extra string) *ssoLab {
	t.Helper()
	requireSAMLPeers(t)
	lab, md := newSSOAppliance(t, extra)
	base, certPEM := pysaml2IdP(t, md, users)
	lab.trustIdP(t, base+"/metadata", base+"/sso", certPEM)
	lab.idpForm.user, lab.idpForm.password, lab.idpForm.submit = "#idp_user", "#idp_password", "#idp_submit"
	return lab
}

// newSSOAppliance is an appliance with system saml enabled as SP, no IdP
// yet, and the SP metadata it serves.
func newSSOAppliance(t *testing.T, extra string) (*ssoLab, []byte) {
	t.Helper()
	st := cmdbtest.Store(t)
	cmdbtest.Apply(t, st, "config system admin\nedit admin\nset password "+testPassword+"\nnext\nend\n"+
		"config system accprofile\nedit readonly\nset sysgrp read\nset fwgrp read\nset vpngrp read\nnext\nend\n"+extra)
	app := cli.NewAppliance(st)
	ts := httptest.NewTLSServer(&Server{App: app})
	t.Cleanup(ts.Close)
	// The SP metadata the IdP trusts is what the appliance serves.
	cmdbtest.Apply(t, st, "config system saml\nset status enable\nend\n")
	resp, err := ts.Client().Get(ts.URL + ssoMetadataPath)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(md), ts.URL+"/saml/?acs") {
		t.Fatalf("SP metadata: %d\n%s", resp.StatusCode, md)
	}
	return &ssoLab{ts: ts, app: app}, md
}

// trustIdP points system saml at an IdP.
func (l *ssoLab) trustIdP(t *testing.T, entityID, loginURL, certPEM string) {
	t.Helper()
	cmdbtest.Apply(t, l.app.Store, "config vpn certificate remote\nedit REMOTE_Cert_1\nset remote "+grammar.Quote(strings.TrimSpace(certPEM))+"\nnext\nend\n"+
		"config system saml\nset idp-entity-id "+grammar.Quote(entityID)+"\nset idp-single-sign-on-url "+grammar.Quote(loginURL)+
		"\nset idp-cert REMOTE_Cert_1\nend\n")
}

// ssoLogin goes from the login page's Single Sign-On button through the
// IdP's form and back; it returns the text of the page it ends on.
func (l *ssoLab) ssoLogin(t *testing.T, ctx context.Context, user, password, shot string) string {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(l.ts.URL+loginPath),
		chromedp.WaitVisible(chromedp.CSS("#sso_button")),
	); err != nil {
		t.Fatal(err)
	}
	if shot != "" {
		screenshot(t, ctx, shot+"-login")
	}
	began := time.Now()
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#sso_button")),
		chromedp.WaitVisible(chromedp.CSS(l.idpForm.user)),
		chromedp.SendKeys(chromedp.CSS(l.idpForm.user), user),
		chromedp.SendKeys(chromedp.CSS(l.idpForm.password), password),
		chromedp.Click(chromedp.CSS(l.idpForm.submit)),
		chromedp.WaitVisible(chromedp.CSS("#system_status, .error")),
	); err != nil {
		t.Fatal(err)
	}
	t.Logf("SSO login of %s, from the button to the page after the ACS: %v", user, time.Since(began).Round(time.Millisecond))
	if shot != "" {
		screenshot(t, ctx, shot)
	}
	return text(t, ctx, "body")
}

// An admin of system sso-admin logs in through pysaml2 from the login
// page, with that entry's read-only profile enforced on the REST API the
// session then reaches; an IdP user with no sso-admin entry is refused
// until default-profile is set, then added with the assertion's
// profilename.
func TestSSOLoginPysaml2(t *testing.T) {
	lab := newSSOLab(t, map[string]map[string]string{
		"alice": {"password": "alice-pw"},
		// Seed 004's asymmetric algorithms: the IdP signs bob's
		// Responses with RSA-SHA512 and SHA-512 digests.
		"bob": {"password": "bob-pw", "profilename": "readonly", "sign": "sha512"},
	}, "config system sso-admin\nedit alice\nset accprofile readonly\nset vdom root\nnext\nend\n")
	ctx := chromium(t)
	page := lab.ssoLogin(t, ctx, "alice", "alice-pw", "sso-dashboard")
	if !strings.Contains(page, "alice (readonly)") || !strings.Contains(page, "System Information") {
		t.Fatalf("after SSO:\n%s", page)
	}
	read, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/api/v2/cmdb/firewall/address").then(r => r.status + "")`, chromedp.EvalAwaitPromise))
	if err != nil || read != "200" {
		t.Fatalf("REST read in the SSO session: %s %v", read, err)
	}
	write, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/api/v2/cmdb/firewall/address", {method: "POST",
		headers: {"X-CSRFTOKEN": document.cookie.match(/ccsrftoken="?([0-9a-f]+)/)[1], "Content-Type": "application/json"},
		body: JSON.stringify({name: "from-sso", subnet: "10.9.9.0 255.255.255.0"})}).then(r => r.json()).then(j => j.http_status + " " + j.error)`, chromedp.EvalAwaitPromise))
	if err != nil || write != "403 -14" {
		t.Fatalf("REST write with a read-only SSO profile: %s %v", write, err)
	}
	if lab.app.Store.Lookup("firewall address", "from-sso") != nil {
		t.Fatal("a read-only SSO admin stored an address")
	}
	// A password login beside it; both appear in FortiOS's list, the
	// SSO one from SSO(<ip>), and the SSO one can be disconnected.
	resp, err := lab.ts.Client().PostForm(lab.ts.URL+"/logincheck", map[string][]string{"username": {"admin"}, "secretkey": {testPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	status := runCLI(lab.app, "admin", "get system info admin status")
	for _, want := range []string{
		"Index  User name   Login type  From\n0      alice       WEB         SSO(127.0.0.1)\n1      admin       WEB         127.0.0.1\n",
		"Logged in users: 2\nUSERNAME        TYPE    FROM             TIME\nalice           https   SSO(127.0.0.1)   ",
	} {
		if !strings.Contains(status, want) {
			t.Errorf("get system info admin status lacks %q:\n%s", want, status)
		}
	}
	diag := runCLI(lab.app, "admin", "diagnose system admin-session list")
	if !strings.Contains(diag, "*** entry 0 ***\nsession_id: 1 (seq: 0)\nusername: alice\nadmin template: SSO\nfrom: SSO(127.0.0.1) (type 7)\nprofile: readonly\nadom: root\nsession length: ") {
		t.Errorf("diagnose system admin-session list:\n%s", diag)
	}
	if out := runCLI(lab.app, "admin", "execute disconnect-admin-session 0"); strings.TrimSpace(out) != "" {
		t.Errorf("disconnect: %q", out)
	}
	if out := runCLI(lab.app, "admin", "execute disconnect-admin-session 7"); !strings.Contains(out, "invalid admin session index") {
		t.Errorf("disconnect of no session: %q", out)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(lab.ts.URL+dashboardPath), chromedp.WaitVisible(chromedp.CSS("#login_button"))); err != nil {
		t.Fatalf("the disconnected SSO session still reaches the dashboard: %v", err)
	}

	// bob has no sso-admin entry and there is no default-profile.
	page = lab.ssoLogin(t, ctx, "bob", "bob-pw", "sso-refused")
	if !strings.Contains(page, `The admin "bob" doesn't exist`) {
		t.Fatalf("unknown SSO admin:\n%s", page)
	}
	cmdbtest.Apply(t, lab.app.Store, "config system saml\nset default-profile prof_admin\nend\n")
	page = lab.ssoLogin(t, ctx, "bob", "bob-pw", "")
	if !strings.Contains(page, "bob (readonly)") {
		t.Fatalf("bob with default-profile and profilename readonly:\n%s", page)
	}
	if e := lab.app.Store.Lookup("system sso-admin", "bob"); e == nil || strings.Join(e.Values["accprofile"], "") != "readonly" {
		t.Fatalf("bob's sso-admin entry: %v", e)
	}
}

// A Response that is not the IdP's, or posted with SSO off, makes no
// session; the SSO endpoints say what is not simulated.
func TestSSOBadResponse(t *testing.T) {
	certPEM, _ := selfSigned(t, "idp")
	ts, app := newGUI(t, "config vpn certificate remote\nedit REMOTE_Cert_1\nset remote "+grammar.Quote(strings.TrimSpace(certPEM))+"\nnext\nend\n", nil)
	c := noRedirect(ts)
	post := func(body string) (int, string) {
		t.Helper()
		resp, err := c.PostForm(ts.URL+"/saml/?acs", map[string][]string{"SAMLResponse": {body}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		for _, ck := range resp.Cookies() {
			if strings.HasPrefix(ck.Name, "APSCOOKIE_") && ck.Value != "" {
				t.Errorf("a session cookie was set: %v", ck)
			}
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("PHNhbWxwOlJlc3BvbnNlLz4="); code != 503 || !strings.Contains(body, "not enabled") {
		t.Errorf("SSO off: %d %s", code, body)
	}
	cmdbtest.Apply(t, app.Store, "config system saml\nset status enable\nset idp-entity-id https://idp.example/\n"+
		"set idp-single-sign-on-url https://idp.example/sso\nset idp-cert REMOTE_Cert_1\nend\n")
	for _, bad := range []string{"", "not base64!", "PHNhbWxwOlJlc3BvbnNlLz4="} {
		if code, body := post(bad); code != 403 || !strings.Contains(body, "Single Sign-On failed") {
			t.Errorf("response %q: %d %s", bad, code, body)
		}
	}
	resp, err := c.Get(ts.URL + ssoLoginPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || !strings.HasPrefix(loc, "https://idp.example/sso?SAMLRequest=") {
		t.Errorf("SSO login: %d %s", resp.StatusCode, loc)
	}
	// With cert, the AuthnRequest is signed (HTTP-Redirect's SigAlg and
	// Signature) and the metadata carries the certificate.
	spCert, spKey := selfSigned(t, "fosim SP")
	cmdbtest.Apply(t, app.Store, "config vpn certificate local\nedit SP_Signing\nset certificate "+grammar.Quote(strings.TrimSpace(spCert))+
		"\nset private-key "+grammar.Quote(strings.TrimSpace(spKey))+"\nnext\nend\nconfig system saml\nset cert SP_Signing\nend\n")
	resp, err = c.Get(ts.URL + ssoLoginPath)
	if err != nil {
		t.Fatal(err)
	}
	why, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || !strings.Contains(loc, "&SigAlg=") || !strings.Contains(loc, "&Signature=") {
		t.Errorf("signed SSO login: %d %s %s", resp.StatusCode, loc, why)
	}
	resp, err = c.Get(ts.URL + ssoMetadataPath)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(md), `AuthnRequestsSigned="true"`) || !strings.Contains(string(md), "X509Certificate") {
		t.Errorf("metadata with cert:\n%s", md)
	}
	resp, err = c.Get(ts.URL + "/saml/?sls")
	if err != nil {
		t.Fatal(err)
	}
	why, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(why), "no SAMLRequest or SAMLResponse") {
		t.Errorf("single logout without a message: %d %s", resp.StatusCode, why)
	}
}

// runCLI runs CLI lines as user and returns what they print.
func runCLI(app *cli.Appliance, user, lines string) string {
	var out strings.Builder
	sh := cli.New(app, app.Store.NewSession(user, "test"), &out)
	for _, l := range strings.Split(lines, "\n") {
		sh.Line(l)
	}
	return out.String()
}

// fosim's own FortiAuthenticator-style IdP (peers/idp, in this process)
// is an IdP of the GUI too: an sso-admin logs in from the login page.
func TestSSOLoginFosimIdP(t *testing.T) {
	lab, md := newSSOAppliance(t, "config system sso-admin\nedit carol\nset accprofile readonly\nset vdom root\nnext\nend\n")
	dir := t.TempDir()
	cfg, err := idp.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.SetUser(idp.User{Name: "carol"}, "carol-password"); err != nil {
		t.Fatal(err)
	}
	sp, err := idp.ServiceProviderFromMetadata(md)
	if err != nil {
		t.Fatal(err)
	}
	sp.Name, sp.Prefix, sp.AuthMethod = "fortigate-gui", "fgtadmin", idp.AuthPasswordOnly
	sp.Attributes = []idp.Attribute{{Name: "username", Field: idp.FieldUsername}}
	if err := cfg.SetServiceProvider(sp); err != nil {
		t.Fatal(err)
	}
	srv, err := idp.NewServer(dir, lab.app.Clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	idpTS := httptest.NewServer(srv.Handler())
	t.Cleanup(idpTS.Close)
	cfg.ServerAddress = strings.TrimPrefix(idpTS.URL, "http://")
	if err := cfg.Save(dir); err != nil {
		t.Fatal(err)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "idp-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	urls := idp.IdPURLs(cfg.ServerAddress, sp.Prefix)
	lab.trustIdP(t, urls.EntityID, urls.Login, string(certPEM))
	lab.idpForm.user, lab.idpForm.password, lab.idpForm.submit = "#username", "#password", `input[type="submit"]`
	ctx := chromium(t)
	page := lab.ssoLogin(t, ctx, "carol", "carol-password", "sso-fosim-idp")
	if !strings.Contains(page, "carol (readonly)") {
		t.Fatalf("after SSO through fosim's IdP:\n%s", page)
	}
}

// Seed 004's groupmatch: an sso-admin with ext-auth-group-match logs in
// only when the IdP's groupmatch attribute names that group; adoms give
// an added SSO admin its VDOMs, and none of this unit's is no access.
func TestSSOGroupMatchAndAdoms(t *testing.T) {
	lab := newSSOLab(t, map[string]map[string]string{
		"carol": {"password": "carol-pw", "groupmatch": "lab-admins,auditors"},
		"dave":  {"password": "dave-pw", "groupmatch": "auditors"},
		"erin":  {"password": "erin-pw", "adoms": "root,adom2"},
		"frank": {"password": "frank-pw", "adoms": "adom1"},
	}, "config system sso-admin\nedit carol\nset accprofile readonly\nset ext-auth-group-match lab-admins\nnext\n"+
		"edit dave\nset accprofile readonly\nset ext-auth-group-match lab-admins\nnext\nend\n"+
		"config system saml\nset default-profile readonly\nend\n")
	if page := lab.ssoLogin(t, chromium(t), "carol", "carol-pw", ""); !strings.Contains(page, "carol (readonly)") {
		t.Fatalf("carol in lab-admins:\n%s", page)
	}
	if page := lab.ssoLogin(t, chromium(t), "dave", "dave-pw", "sso-groupmatch"); !strings.Contains(page, `The admin "dave" does not match group "lab-admins"`) {
		t.Fatalf("dave outside lab-admins:\n%s", page)
	}
	if page := lab.ssoLogin(t, chromium(t), "erin", "erin-pw", ""); !strings.Contains(page, "erin (readonly)") {
		t.Fatalf("erin with adoms root,adom2:\n%s", page)
	}
	if e := lab.app.Store.Lookup("system sso-admin", "erin"); e == nil || strings.Join(e.Values["vdom"], " ") != "root" {
		t.Fatalf("erin's VDOMs: %v", e)
	}
	if page := lab.ssoLogin(t, chromium(t), "frank", "frank-pw", ""); !strings.Contains(page, `The admin "frank" has no VDOM here`) {
		t.Fatalf("frank with adoms adom1:\n%s", page)
	}
	if lab.app.Store.Lookup("system sso-admin", "frank") != nil {
		t.Fatal("frank was added")
	}
}
