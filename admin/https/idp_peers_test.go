package https

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/grammar"
)

// The appliance as admin SSO identity provider (system saml, role
// identity-provider) for service providers nobody here wrote: lasso
// (FortiOS's own SAML library) and pysaml2, each driven by a script in
// testdata that answers JSON lines. The browser is a Go client with a
// cookie jar; the SP never listens, the test carries its messages.

// spPeer is testdata/idp_<lib>_sp.py, for one test.
type spPeer struct {
	*pyPeer
	lib string
}

// startSPPeer runs testdata/idp_<lib>_sp.py once require has checked
// that its library is installed.
func startSPPeer(t *testing.T, lib string, require func(*testing.T)) *spPeer {
	t.Helper()
	require(t)
	return &spPeer{pyPeer: startPyPeer(t, lib+" SP", `{"ready": true}`, "testdata/idp_"+lib+"_sp.py"), lib: lib}
}

// ask sends one command and returns its result, or the script's refusal
// as an error.
func (p *spPeer) ask(command string, args map[string]any) (map[string]any, error) {
	msg := map[string]any{"command": command}
	for k, v := range args {
		msg[k] = v
	}
	line, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	if _, err := p.in.Write(append(line, '\n')); err != nil {
		return nil, fmt.Errorf("%s SP: %v: %s", p.lib, err, p.stderr.String())
	}
	if !p.out.Scan() {
		return nil, fmt.Errorf("%s SP ended: %v: %s", p.lib, p.out.Err(), p.stderr.String())
	}
	var answer struct {
		Result map[string]any
		Error  string
	}
	if err := json.Unmarshal(p.out.Bytes(), &answer); err != nil {
		return nil, fmt.Errorf("%s SP printed %q: %v", p.lib, p.out.Text(), err)
	}
	if answer.Error != "" {
		return nil, errors.New(answer.Error)
	}
	return answer.Result, nil
}

func (p *spPeer) must(t *testing.T, command string, args map[string]any) map[string]any {
	t.Helper()
	v, err := p.ask(command, args)
	if err != nil {
		t.Fatalf("%s SP %s: %v", p.lib, command, err)
	}
	return v
}

// idpPeerLab is the appliance as IdP and one third-party SP, registered
// on the appliance as service-providers entry "<lib>-sp", prefix <lib>.
type idpPeerLab struct {
	unit *fabricUnit
	sp   *spPeer
	// spConf names the SP to its script (entity ID, URLs, key pair, the
	// IdP metadata file).
	spConf                    map[string]any
	entityID, acs, sls        string // the SP's, from its own metadata
	idpEntity, idpSSO, idpSLO string // the appliance's, from its metadata
	certPEM                   string // the SP's signing certificate
}

// newIdPPeerLab sets the appliance up from the SP's metadata and the SP
// from the appliance's: GET /saml-idp/<lib>/metadata/.
func newIdPPeerLab(t *testing.T, lib string, require func(*testing.T)) *idpPeerLab {
	t.Helper()
	sp := startSPPeer(t, lib, require)
	unit := newFabricUnit(t, "127.0.0.1")
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t, lib+" SP")
	// The SP lives elsewhere: nothing connects to it, the test carries
	// what the browser would post to it.
	spBase := "https://" + lib + "-sp.example"
	l := &idpPeerLab{unit: unit, sp: sp, certPEM: certPEM, spConf: map[string]any{
		"entity_id": spBase + "/saml/metadata", "acs": spBase + "/saml/acs", "sls": spBase + "/saml/sls",
		"key": peerFile(t, dir, "sp-key.pem", keyPEM), "cert": peerFile(t, dir, "sp-cert.pem", certPEM),
	}}
	var md struct {
		EntityID string `xml:"entityID,attr"`
		SP       struct {
			ACS []endpoint `xml:"AssertionConsumerService"`
			SLS []endpoint `xml:"SingleLogoutService"`
		} `xml:"SPSSODescriptor"`
	}
	spMD := sp.must(t, "metadata", map[string]any{"sp": l.spConf})["xml"].(string)
	if err := xml.Unmarshal([]byte(spMD), &md); err != nil || md.EntityID == "" {
		t.Fatalf("%s SP metadata (%v):\n%s", lib, err, spMD)
	}
	l.entityID = md.EntityID
	l.acs, l.sls = location(md.SP.ACS, httpPost), location(md.SP.SLS, httpRedirect)
	if l.acs == "" || l.sls == "" {
		t.Fatalf("%s SP metadata has no HTTP-POST ACS or HTTP-Redirect SLS:\n%s", lib, spMD)
	}
	cmdbtest.Apply(t, unit.app.Store, idpConfig(unit.host, []string{"alice"}, lib+"-sp", `set prefix "`+lib+`"
set sp-entity-id "`+l.entityID+`"
set sp-single-sign-on-url "`+l.acs+`"
set sp-single-logout-url "`+l.sls+`"
`))
	resp, body := get(t, browser(t), unit.ts.URL+"/saml-idp/"+lib+"/metadata/")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/samlmetadata+xml" {
		t.Fatalf("IdP metadata: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var idpMD struct {
		EntityID string `xml:"entityID,attr"`
		IdP      struct {
			SSO []endpoint `xml:"SingleSignOnService"`
			SLO []endpoint `xml:"SingleLogoutService"`
		} `xml:"IDPSSODescriptor"`
	}
	if err := xml.Unmarshal([]byte(body), &idpMD); err != nil {
		t.Fatalf("IdP metadata: %v\n%s", err, body)
	}
	l.idpEntity = idpMD.EntityID
	l.idpSSO, l.idpSLO = location(idpMD.IdP.SSO, httpRedirect), location(idpMD.IdP.SLO, httpRedirect)
	// FortiOS's IdP URLs: the entity ID is http://, the services https://.
	prefix := unit.host + "/saml-idp/" + lib + "/"
	if l.idpEntity != "http://"+prefix+"metadata/" || l.idpSSO != "https://"+prefix+"login/" || l.idpSLO != "https://"+prefix+"logout/" {
		t.Fatalf("IdP metadata names %q, SSO %q, SLO %q:\n%s", l.idpEntity, l.idpSSO, l.idpSLO, body)
	}
	l.spConf["idp_metadata"] = peerFile(t, dir, "idp-metadata.xml", body)
	return l
}

// The SAML bindings the metadata name.
const (
	httpPost     = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
	httpRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
)

// endpoint is a service in SAML metadata.
type endpoint struct {
	Binding  string `xml:"Binding,attr"`
	Location string `xml:"Location,attr"`
}

// location is the URL of the last of endpoints in binding, "" for none.
func location(endpoints []endpoint, binding string) string {
	loc := ""
	for _, e := range endpoints {
		if e.Binding == binding {
			loc = e.Location
		}
	}
	return loc
}

// spRequest is an AuthnRequest or LogoutRequest the SP made, in the
// HTTP-Redirect binding, for a browser to carry.
type spRequest struct{ id, url string }

func (l *idpPeerLab) request(t *testing.T, signed bool) spRequest {
	t.Helper()
	v := l.sp.must(t, "request", map[string]any{"sp": l.spConf, "signed": signed})
	r := spRequest{id: v["id"].(string), url: v["url"].(string)}
	if !strings.HasPrefix(r.url, l.idpSSO+"?") {
		t.Fatalf("%s sends its AuthnRequest to %s, not the metadata's %s", l.sp.lib, r.url, l.idpSSO)
	}
	q, _ := url.Parse(r.url)
	if got := q.Query().Has("Signature"); got != signed {
		t.Fatalf("%s's AuthnRequest signed %v, want %v: %s", l.sp.lib, got, signed, r.url)
	}
	return r
}

// samlForm is the IdP page's self-posting form: where it goes and what
// it posts.
func samlForm(page string) (action string, fields url.Values) {
	m := formAction.FindStringSubmatch(page)
	if m == nil {
		return "", nil
	}
	fields = url.Values{}
	for _, in := range formInput.FindAllStringSubmatch(page, -1) {
		fields.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	return html.UnescapeString(m[1]), fields
}

// relayState is the RelayState an SP sent with a message, "" for none.
func relayState(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("RelayState")
}

// answer follows r in browser c, which must be logged in on the
// appliance already, and returns the Response posted to the SP's ACS.
func (l *idpPeerLab) answer(t *testing.T, c *http.Client, r spRequest) string {
	t.Helper()
	resp, page := get(t, c, r.url)
	return l.responseOn(t, r, resp, page)
}

// responseOn is the Response to r on the appliance's page: posted to the
// SP's ACS, with the request's RelayState.
func (l *idpPeerLab) responseOn(t *testing.T, r spRequest, resp *http.Response, page string) string {
	t.Helper()
	action, fields := samlForm(page)
	saml := fields.Get("SAMLResponse")
	if saml == "" {
		t.Fatalf("no SAMLResponse from the appliance: %d %s %.600s", resp.StatusCode, resp.Request.URL, page)
	}
	if action != l.acs {
		t.Fatalf("the Response is posted to %q, not the SP's ACS %q", action, l.acs)
	}
	if want := relayState(t, r.url); fields.Get("RelayState") != want {
		t.Errorf("the Response carries RelayState %q, the request %q", fields.Get("RelayState"), want)
	}
	return saml
}

// verified is what the SP library read from a Response it accepted.
type verified struct {
	NameID       string              `json:"name_id"`
	Attributes   map[string][]string `json:"attributes"`
	Issuer       string              `json:"issuer"`
	Audience     []string            `json:"audience"`
	Destination  string              `json:"destination"`
	InResponseTo string              `json:"in_response_to"`
	Signed       []string            `json:"signed"`
	Session      string              `json:"session"`       // lasso's session dump
	SessionIndex string              `json:"session_index"` // pysaml2's
}

func (l *idpPeerLab) verify(requestID, saml string) (verified, error) {
	var v verified
	m, err := l.sp.ask("response", map[string]any{"sp": l.spConf, "request_id": requestID, "saml_response": saml})
	if err != nil {
		return v, err
	}
	b, _ := json.Marshal(m)
	err = json.Unmarshal(b, &v)
	return v, err
}

// accepted checks what the SP library read from the Response to r: the
// admin's name and access profile, the IdP, audience, destination and
// request.
func (l *idpPeerLab) accepted(t *testing.T, r spRequest, saml, user, profile string) verified {
	t.Helper()
	v, err := l.verify(r.id, saml)
	if err != nil {
		t.Fatalf("%s refused the appliance's Response: %v", l.sp.lib, err)
	}
	if v.NameID != user || !slices.Equal(v.Attributes["username"], []string{user}) ||
		!slices.Equal(v.Attributes["profilename"], []string{profile}) {
		t.Errorf("%s read NameID %q and attributes %v; want %s with profilename %s", l.sp.lib, v.NameID, v.Attributes, user, profile)
	}
	if v.Issuer != l.idpEntity || !slices.Equal(v.Audience, []string{l.entityID}) || v.Destination != l.acs ||
		v.InResponseTo != r.id || !slices.Contains(v.Signed, "Assertion") {
		t.Errorf("%s accepted issuer %q audience %v destination %q InResponseTo %q (request %s), signed %v",
			l.sp.lib, v.Issuer, v.Audience, v.Destination, v.InResponseTo, r.id, v.Signed)
	}
	return v
}

// logout makes the SP's LogoutRequest for the session v, has browser c
// carry it to the appliance, and returns the appliance's answer.
func (l *idpPeerLab) logout(t *testing.T, c *http.Client, v verified, signed bool) (lo spRequest, resp *http.Response, body string) {
	t.Helper()
	v2 := l.sp.must(t, "logout", map[string]any{"sp": l.spConf, "signed": signed,
		"session": v.Session, "name_id": v.NameID, "session_index": v.SessionIndex})
	lo = spRequest{id: v2["id"].(string), url: v2["url"].(string)}
	u := lo.url
	if !strings.HasPrefix(u, l.idpSLO+"?") {
		t.Fatalf("%s sends its LogoutRequest to %s, not the metadata's %s", l.sp.lib, u, l.idpSLO)
	}
	if q, _ := url.Parse(u); q.Query().Has("Signature") != signed {
		t.Fatalf("%s's LogoutRequest signed %v, want %v: %s", l.sp.lib, !signed, signed, u)
	}
	stay := *c
	stay.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, body = get(t, &stay, u)
	return lo, resp, body
}

// loggedOut tells the LogoutResponse the appliance sent the browser to
// the SP's SLS with, as the SP library reads it.
func (l *idpPeerLab) loggedOut(t *testing.T, lo spRequest, resp *http.Response, body string) {
	t.Helper()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode/100 != 3 || err != nil || !strings.HasPrefix(loc.String(), l.sls+"?") {
		t.Fatalf("single logout: %d Location %q: %.400s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if got, want := loc.Query().Get("RelayState"), relayState(t, lo.url); got != want {
		t.Errorf("the LogoutResponse carries RelayState %q, the request %q", got, want)
	}
	st := l.sp.must(t, "logout_response", map[string]any{"sp": l.spConf, "request_id": lo.id, "query": loc.RawQuery})
	if st["status"] != "urn:oasis:names:tc:SAML:2.0:status:Success" {
		t.Fatalf("%s read the LogoutResponse as %v", l.sp.lib, st)
	}
}

// loggedIn tells whether browser c still has a GUI session here.
func (l *idpPeerLab) loggedIn(t *testing.T, c *http.Client) bool {
	t.Helper()
	resp, _ := get(t, c, l.unit.ts.URL+dashboardPath)
	return resp.Request.URL.Path == dashboardPath
}

// changed is the same SP script playing an SP with some of its settings
// changed.
func (l *idpPeerLab) changed(settings map[string]string) *idpPeerLab {
	conf := map[string]any{}
	for k, v := range l.spConf {
		conf[k] = v
	}
	for k, v := range settings {
		conf[k] = v
	}
	other := *l
	other.spConf = conf
	return &other
}

// testIdPPeer is the whole exchange with one SP library.
func testIdPPeer(t *testing.T, lib string, require func(*testing.T)) {
	l := newIdPPeerLab(t, lib, require)

	// An admin logged in on the GUI is answered at once.
	c := browser(t)
	loginGUI(t, c, l.unit, "alice")
	r := l.request(t, false)
	saml := l.answer(t, c, r)
	first := l.accepted(t, r, saml, "alice", "ops")
	t.Logf("%s accepted: NameID %s, attributes %v, signed %v", lib, first.NameID, first.Attributes, first.Signed)

	// The library refuses the same Response altered, as the answer to
	// another request, at another SP and at another ACS (lasso leaves
	// Destination to the SP: its script compares it, as mod_auth_mellon
	// does).
	raw, _ := base64.StdEncoding.DecodeString(saml)
	if !bytes.Contains(raw, []byte(">ops<")) {
		t.Fatalf("no profilename value ops in the Response:\n%s", raw)
	}
	forged := base64.StdEncoding.EncodeToString(bytes.ReplaceAll(raw, []byte(">ops<"), []byte(">super_admin<")))
	r2, r3 := l.request(t, false), l.request(t, false)
	saml2 := l.answer(t, c, r2)
	otherSP := l.changed(map[string]string{"entity_id": "https://" + lib + "-other.example/saml/metadata"})
	otherACS := l.changed(map[string]string{"acs": "https://" + lib + "-sp.example/saml/other-acs"})
	for name, refuse := range map[string]func() error{
		"profilename altered":          func() error { _, err := l.verify(r.id, forged); return err },
		"InResponseTo another request": func() error { _, err := l.verify(r3.id, saml2); return err },
		"audience another SP":          func() error { _, err := otherSP.verify(r2.id, saml2); return err },
		"destination another ACS":      func() error { _, err := otherACS.verify(r2.id, saml2); return err },
	} {
		if err := refuse(); err == nil || !strings.HasPrefix(err.Error(), "refused by ") || !strings.Contains(err.Error(), lib) {
			t.Errorf("%s on the Response %s: %v", lib, name, err)
		} else {
			t.Logf("%s on the Response %s: %v", lib, name, err)
		}
	}

	// A request naming another ACS than sp-single-sign-on-url (as
	// pysaml2's carry their AssertionConsumerServiceURL) gets no
	// assertion there.
	r = otherACS.request(t, false)
	if resp, page := get(t, c, r.url); strings.Contains(page, "SAMLResponse") {
		if action, _ := samlForm(page); action != l.acs {
			t.Errorf("the appliance posts an assertion to %s, not sp-single-sign-on-url %s", action, l.acs)
		}
	} else {
		t.Logf("the appliance on %s's request with another ACS: %d %s", lib, resp.StatusCode, strings.TrimSpace(page))
	}

	// A browser not logged in goes to the login page, then on to the SP.
	c2 := browser(t)
	r = l.request(t, false)
	resp, page := get(t, c2, r.url)
	if resp.Request.URL.Path != loginPath || !strings.HasPrefix(resp.Request.URL.Query().Get("redirect"), "/saml-idp/"+lib+"/login/?") {
		t.Fatalf("a browser not logged in ended on %s: %.400s", resp.Request.URL, page)
	}
	resp, page = submitForm(t, c2, page, resp.Request.URL.String(), url.Values{"username": {"alice"}, "secretkey": {testPassword}})
	second := l.accepted(t, r, l.responseOn(t, r, resp, page), "alice", "ops")

	// SP-initiated single logout, unsigned as the SP has no sp-cert here:
	// it ends the session the LogoutRequest names, not alice's other one.
	lo, resp, body := l.logout(t, c, first, false)
	l.loggedOut(t, lo, resp, body)
	if l.loggedIn(t, c) {
		t.Error("the GUI session is still there after single logout")
	}
	if !l.loggedIn(t, c2) {
		t.Error("single logout of one session ended alice's other session too")
	}
	lo, resp, body = l.logout(t, c2, second, false)
	l.loggedOut(t, lo, resp, body)
	if l.loggedIn(t, c2) {
		t.Error("the second GUI session is still there after its single logout")
	}
	if out := runCLI(l.unit.app, "admin", "diagnose system admin-session list"); strings.Contains(out, "username: alice") {
		t.Errorf("alice is still in the session list after single logout:\n%s", out)
	}

	// sp-cert: the SP's requests must be signed by it.
	cmdbtest.Apply(t, l.unit.app.Store, `config vpn certificate remote
edit "`+lib+`_sp"
set remote `+grammar.Quote(strings.TrimSpace(l.certPEM))+`
next
end
config system saml
config service-providers
edit "`+lib+`-sp"
set sp-cert "`+lib+`_sp"
next
end
end
`)
	c3 := browser(t)
	loginGUI(t, c3, l.unit, "alice")
	r = l.request(t, false)
	if resp, page := get(t, c3, r.url); resp.StatusCode/100 != 4 || strings.Contains(page, "SAMLResponse") {
		t.Fatalf("an unsigned AuthnRequest with sp-cert set: %d %.400s", resp.StatusCode, page)
	} else {
		t.Logf("the appliance on %s's unsigned AuthnRequest: %d %s", lib, resp.StatusCode, strings.TrimSpace(page))
	}
	// Signed by another key in the SP's name: refused too.
	dir := t.TempDir()
	impostorCert, impostorKey := selfSigned(t, lib+" impostor")
	impostor := map[string]string{"cert": peerFile(t, dir, "impostor-cert.pem", impostorCert), "key": peerFile(t, dir, "impostor-key.pem", impostorKey)}
	r = l.changed(impostor).request(t, true)
	if resp, page := get(t, c3, r.url); resp.StatusCode/100 != 4 || strings.Contains(page, "SAMLResponse") {
		t.Fatalf("an AuthnRequest signed by another key than sp-cert: %d %.400s", resp.StatusCode, page)
	} else {
		t.Logf("the appliance on an AuthnRequest signed by another key: %d %s", resp.StatusCode, strings.TrimSpace(page))
	}
	r = l.request(t, true)
	third := l.accepted(t, r, l.answer(t, c3, r), "alice", "ops")

	// Single logout with sp-cert: an unsigned LogoutRequest is refused
	// and ends nothing; the signed one ends the session.
	if _, resp, body := l.logout(t, c3, third, false); resp.StatusCode/100 != 4 || !l.loggedIn(t, c3) {
		t.Fatalf("an unsigned LogoutRequest with sp-cert set: %d %s (session kept: %v)", resp.StatusCode, body, l.loggedIn(t, c3))
	} else {
		t.Logf("the appliance on %s's unsigned LogoutRequest: %d %s", lib, resp.StatusCode, strings.TrimSpace(body))
	}
	lo, resp, body = l.logout(t, c3, third, true)
	l.loggedOut(t, lo, resp, body)
	if l.loggedIn(t, c3) {
		t.Error("the GUI session is still there after a signed single logout")
	}
}

func TestIdPPeerLasso(t *testing.T) { testIdPPeer(t, "lasso", requireLasso) }

func TestIdPPeerPysaml2(t *testing.T) { testIdPPeer(t, "pysaml2", requireSAMLPeers) }
