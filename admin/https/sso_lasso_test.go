package https

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/grammar"
)

// otherSP is the entity ID of an SP that is not this appliance: the
// audience of a Response made for someone else.
const otherSP = "https://fgt-other.example/metadata/"

// The HTTP-Redirect SigAlg and XML SignatureMethod URIs of the two
// algorithms seed 004 names.
const (
	rsaSHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	rsaSHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
)

// requireLasso skips loudly (or fails under FOSIM_REQUIRE_PEERS=1)
// without python3-lasso, which only /usr/bin/python3 sees.
func requireLasso(t *testing.T) {
	t.Helper()
	requirePython(t, "lasso", "python3-lasso")
}

// lassoEvent is one JSON line the lasso IdP prints: an AuthnRequest it
// verified (Request) or a Response it signed (Response).
type lassoEvent struct {
	Request          string   `json:"request"`
	Issuer           string   `json:"issuer"`
	SigAlg           string   `json:"sig_alg"`
	Response         string   `json:"response"`
	InResponseTo     string   `json:"in_response_to"`
	User             string   `json:"user"`
	Audience         []string `json:"audience"`
	SignatureMethods []string `json:"signature_methods"`
	DigestMethods    []string `json:"digest_methods"`
}

// lassoLab is an appliance with admin SSO to the lasso IdP of
// testdata/lasso_admin_idp.py.
type lassoLab struct {
	*ssoLab
	spEntityID string
	events     chan lassoEvent
}

// startLassoIdP runs the lasso IdP trusting the appliance's SP metadata;
// it returns the IdP's URL and certificate.
func (l *lassoLab) startLassoIdP(t *testing.T, spMetadata []byte, users map[string]map[string]string) (base, certPEM string) {
	t.Helper()
	idp, certPEM := startAdminIdP(t, "lasso", spMetadata, map[string]any{"users": users})
	l.events = make(chan lassoEvent, 64)
	go func() {
		for idp.out.Scan() {
			var e lassoEvent
			if json.Unmarshal(idp.out.Bytes(), &e) == nil {
				select {
				case l.events <- e:
				default: // nobody is reading this many: keep the IdP running
				}
			}
		}
	}()
	return "http://127.0.0.1:" + idp.ready, certPEM
}

// next is the next message the IdP reports: an AuthnRequest it verified
// (wantRequest) or a Response it signed.
func (l *lassoLab) next(t *testing.T, wantRequest bool) lassoEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-l.events:
			if (e.Request != "") == wantRequest {
				return e
			}
		case <-timeout:
			t.Fatalf("the lasso IdP reported no %s in 10s", map[bool]string{true: "AuthnRequest", false: "Response"}[wantRequest])
		}
	}
}

// newLassoLab is an appliance with admin SSO to a lasso IdP. The
// appliance signs its AuthnRequests (system saml cert) and requires the
// Response and its assertion both signed; lasso refuses a request whose
// signature does not verify against the appliance's metadata.
func newLassoLab(t *testing.T, users map[string]map[string]string, extra string) *lassoLab {
	t.Helper()
	requireLasso(t)
	spCert, spKey := selfSigned(t, "fosim SP")
	sso, md := newSSOAppliance(t, "config vpn certificate local\nedit SP_Signing\nset certificate "+grammar.Quote(strings.TrimSpace(spCert))+
		"\nset private-key "+grammar.Quote(strings.TrimSpace(spKey))+"\nnext\nend\n"+
		"config system saml\nset cert SP_Signing\nset require-signed-resp-and-asrt enable\nend\n"+extra)
	var ed struct {
		EntityID string `xml:"entityID,attr"`
		SP       struct {
			AuthnRequestsSigned string `xml:"AuthnRequestsSigned,attr"`
		} `xml:"SPSSODescriptor"`
	}
	if err := xml.Unmarshal(md, &ed); err != nil || ed.EntityID == "" || ed.SP.AuthnRequestsSigned != "true" {
		t.Fatalf("SP metadata (%v):\n%s", err, md)
	}
	l := &lassoLab{ssoLab: sso, spEntityID: ed.EntityID}
	base, certPEM := l.startLassoIdP(t, md, users)
	// The appliance is set up from what the IdP's metadata says.
	resp, err := http.Get(base + "/metadata")
	if err != nil {
		t.Fatal(err)
	}
	idpMD, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(idpMD), `entityID="`+base+`/metadata"`) ||
		!strings.Contains(string(idpMD), `Location="`+base+`/sso"`) {
		t.Fatalf("lasso IdP metadata: %d\n%s", resp.StatusCode, idpMD)
	}
	l.trustIdP(t, base+"/metadata", base+"/sso", certPEM)
	l.idpForm.user, l.idpForm.password, l.idpForm.submit = "#idp_user", "#idp_password", "#idp_submit"
	return l
}

// An sso-admin logs in through lasso from the login page's Single Sign-On
// button: lasso verifies the appliance's signed request and signs its
// Response and the assertion, the dashboard is reached, the REST API read
// with the browser's cookie, and the session is in seed 004's session
// list as SSO(127.0.0.1). After a logout, a second admin's Responses are
// signed RSA-SHA512 while the appliance signs its requests RSA-SHA256
// (seed 004's asymmetric algorithms).
func TestSSOLoginLasso(t *testing.T) {
	lab := newLassoLab(t, map[string]map[string]string{
		"erin":  {"password": "erin-pw"},
		"frank": {"password": "frank-pw", "sign": "sha512"},
	}, "config system sso-admin\nedit erin\nset accprofile readonly\nset vdom root\nnext\n"+
		"edit frank\nset accprofile prof_admin\nset vdom root\nnext\nend\n")
	ctx := chromium(t)
	page := lab.ssoLogin(t, ctx, "erin", "erin-pw", "sso-lasso-dashboard")
	if !strings.Contains(page, "erin (readonly)") || !strings.Contains(page, "System Information") {
		t.Fatalf("after SSO through lasso:\n%s", page)
	}
	req, resp := lab.next(t, true), lab.next(t, false)
	if req.Issuer != lab.spEntityID || req.SigAlg != rsaSHA256 || resp.InResponseTo != req.Request ||
		!slices.Equal(resp.Audience, []string{lab.spEntityID}) ||
		!slices.Equal(resp.SignatureMethods, []string{rsaSHA256, rsaSHA256}) {
		t.Errorf("lasso verified %+v and answered %+v", req, resp)
	}
	read, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/api/v2/cmdb/firewall/address").then(r => r.json()).then(j => j.http_status + " " + j.status + " " + j.results.length)`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(read, "200 success ") {
		t.Fatalf("REST read in the lasso SSO session: %q %v", read, err)
	}
	diag := runCLI(lab.app, "admin", "diagnose system admin-session list")
	if !strings.Contains(diag, "*** entry 0 ***\nsession_id: 1 (seq: 0)\nusername: erin\nadmin template: SSO\nfrom: SSO(127.0.0.1) (type 7)\nprofile: readonly\nadom: root\nsession length: ") {
		t.Errorf("diagnose system admin-session list:\n%s", diag)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#logout_button")), chromedp.WaitVisible(chromedp.CSS("#sso_button"))); err != nil {
		t.Fatalf("logout of the SSO session: %v", err)
	}
	if diag := runCLI(lab.app, "admin", "diagnose system admin-session list"); strings.Contains(diag, "username: erin") {
		t.Errorf("erin is still listed after logging out:\n%s", diag)
	}

	page = lab.ssoLogin(t, ctx, "frank", "frank-pw", "sso-lasso-sha512")
	if !strings.Contains(page, "frank (prof_admin)") {
		t.Fatalf("RSA-SHA512 Response from lasso:\n%s", page)
	}
	req, resp = lab.next(t, true), lab.next(t, false)
	if req.SigAlg != rsaSHA256 || !slices.Equal(resp.SignatureMethods, []string{rsaSHA512, rsaSHA512}) {
		t.Errorf("asymmetric algorithms: the appliance signed with %s, lasso with %v", req.SigAlg, resp.SignatureMethods)
	}
	// lasso 2.8 pairs RSA-SHA512 with SHA-384 digests; logged, not
	// required, as another lasso may pair it with SHA-512.
	t.Logf("lasso's RSA-SHA512 Response: digests %v", resp.DigestMethods)
	diag = runCLI(lab.app, "admin", "diagnose system admin-session list")
	if !strings.Contains(diag, "username: frank\nadmin template: SSO\nfrom: SSO(127.0.0.1) (type 7)\nprofile: prof_admin\n") {
		t.Errorf("frank is not in diagnose system admin-session list:\n%s", diag)
	}
}

// lasso verifies the appliance's AuthnRequest signature (RSA-SHA256)
// against its metadata, and refuses the same request unsigned or with
// its signature altered.
func TestSSOLassoVerifiesRequest(t *testing.T) {
	lab := newLassoLab(t, map[string]map[string]string{"erin": {"password": "erin-pw"}}, "")
	resp, err := noRedirect(lab.ts).Get(lab.ts.URL + ssoLoginPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	redirect, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != 303 {
		t.Fatalf("SSO login: %d %q %v", resp.StatusCode, resp.Header.Get("Location"), err)
	}
	idpGet := func(query string) (int, string) {
		t.Helper()
		u := *redirect
		u.RawQuery = query
		resp, err := http.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	q := redirect.Query()
	sig, err := base64.StdEncoding.DecodeString(q.Get("Signature"))
	if err != nil || len(sig) < 64 {
		t.Fatalf("Signature %q: %v", q.Get("Signature"), err)
	}
	sig[10] ^= 1
	altered := strings.Replace(redirect.RawQuery, "Signature="+url.QueryEscape(q.Get("Signature")),
		"Signature="+url.QueryEscape(base64.StdEncoding.EncodeToString(sig)), 1)
	unsigned, _, _ := strings.Cut(redirect.RawQuery, "&SigAlg=")
	for name, query := range map[string]string{"altered": altered, "unsigned": unsigned} {
		if code, body := idpGet(query); code != 400 || !strings.Contains(body, "AuthnRequest refused by lasso") {
			t.Errorf("lasso on the %s AuthnRequest: %d %s", name, code, body)
		} else {
			t.Logf("lasso on the %s AuthnRequest: %s", name, body)
		}
	}
	code, body := idpGet(redirect.RawQuery)
	if code != 200 || !strings.Contains(body, "from "+lab.spEntityID+", signature "+rsaSHA256+" verified by lasso") {
		t.Fatalf("lasso on the appliance's AuthnRequest: %d %s", code, body)
	}
}

// An IdP user with no sso-admin entry, and no default-profile, is refused
// with FortiOS's text on the login page; a Response lasso made for another
// SP (its audience) is refused; neither makes a session or an sso-admin.
func TestSSOLassoRefused(t *testing.T) {
	lab := newLassoLab(t, map[string]map[string]string{
		"grace":   {"password": "grace-pw", "profilename": "readonly"},
		"mallory": {"password": "mallory-pw", "audience": otherSP},
	}, "config system sso-admin\nedit mallory\nset accprofile prof_admin\nset vdom root\nnext\nend\n")
	ctx := chromium(t)
	page := lab.ssoLogin(t, ctx, "grace", "grace-pw", "sso-lasso-unknown")
	if !strings.Contains(page, `The admin "grace" doesn't exist`) {
		t.Fatalf("unknown SSO admin through lasso:\n%s", page)
	}
	if lab.app.Store.Lookup("system sso-admin", "grace") != nil {
		t.Error("a refused SSO admin was added to system sso-admin")
	}

	page = lab.ssoLogin(t, ctx, "mallory", "mallory-pw", "sso-lasso-audience")
	// The request answered and the signatures are good: only the
	// audience is wrong.
	lab.next(t, false) // grace's
	req, resp := lab.next(t, true), lab.next(t, false)
	if resp.User != "mallory" || resp.InResponseTo != req.Request || !slices.Equal(resp.Audience, []string{otherSP}) {
		t.Errorf("lasso verified %+v and answered %+v", req, resp)
	}
	if !strings.Contains(page, "Single Sign-On failed") || !strings.Contains(page, `Audience "`+otherSP+`" is not entity-id "`+lab.spEntityID+`"`) {
		t.Fatalf("a Response for another SP:\n%s", page)
	}
	if diag := runCLI(lab.app, "admin", "diagnose system admin-session list"); strings.Contains(diag, "username:") {
		t.Errorf("a refused SSO login left a session:\n%s", diag)
	}
	// The refusals are the appliance's: with default-profile, grace gets
	// in with her assertion's profilename, through the same IdP.
	cmdbtest.Apply(t, lab.app.Store, "config system saml\nset default-profile prof_admin\nend\n")
	page = lab.ssoLogin(t, ctx, "grace", "grace-pw", "")
	if !strings.Contains(page, "grace (readonly)") {
		t.Fatalf("grace with default-profile and profilename readonly:\n%s", page)
	}
}
