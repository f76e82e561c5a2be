package https

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// unsignedLogoutURL is an unsigned HTTP-Redirect LogoutRequest of the
// csf_unit2 SP for nameID, without SessionIndex: anything a stranger can
// write, as the SP's entity ID is public (its metadata).
func unsignedLogoutURL(t *testing.T, idp, sp *fabricUnit, id, nameID string) string {
	t.Helper()
	now := idp.app.Clock.Now().UTC().Format(time.RFC3339)
	xml := fmt.Sprintf(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" IssueInstant="%s"><saml:Issuer>http://%s/metadata/</saml:Issuer><saml:NameID>%s</saml:NameID></samlp:LogoutRequest>`,
		id, now, sp.host, nameID)
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	fw.Write([]byte(xml))
	fw.Close()
	return "/saml-idp/csf_fosim2/logout/?SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
}

// An unsigned LogoutRequest (the SP has no sp-cert, as Fabric SSO sets
// it up) proves nothing of its sender: a client without alice's session
// cannot end hers by naming her; it is refused, nothing signed.
func TestIdPUnsignedLogoutByStranger(t *testing.T) {
	idp, sp := newFabricPair(t, "")
	alice := browser(t)
	loginGUI(t, alice, idp, "alice")
	stranger := browser(t)
	stranger.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, page := get(t, stranger, idp.ts.URL+unsignedLogoutURL(t, idp, sp, "_stranger1", "alice"))
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" || !strings.Contains(page, "no session") {
		t.Fatalf("stranger's LogoutRequest: %d %s %.200s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	if resp, _ := get(t, alice, idp.ts.URL+dashboardPath); resp.Request.URL.Path != dashboardPath {
		t.Fatalf("alice's IdP session was ended by an unauthenticated, unsigned LogoutRequest (now on %s)", resp.Request.URL.Path)
	}
}

// Strangers' unsigned LogoutRequests enter no replay cache: the IdP's
// record of answered requests stays for admins' logins.
func TestIdPUnsignedLogoutsRecordNothing(t *testing.T) {
	idp, sp := newFabricPair(t, "")
	srv := idp.ts.Config.Handler.(*Server)
	for i := 0; i < 200; i++ {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", "https://"+idp.host+unsignedLogoutURL(t, idp, sp, fmt.Sprintf("_flood%d", i), "nobody"), nil))
		if rec.Code != http.StatusForbidden {
			t.Fatalf("flood request %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	if n := srv.idp.Remembered(); n != 0 {
		t.Fatalf("%d strangers' requests recorded", n)
	}
	c := browser(t)
	loginGUI(t, c, idp, "alice")
	if resp, page := ssoVia(t, c, sp); resp.Request.URL.Host != sp.host || resp.Request.URL.Path != dashboardPath {
		t.Fatalf("SSO after the flood: %d %s %.200s", resp.StatusCode, resp.Request.URL, strings.TrimSpace(page))
	}
}

// An AuthnRequest with ForceAuthn="true" from a browser logged in on the
// IdP before it asks for a new login on the login page (which would
// otherwise send a logged-in browser straight back, round and round).
func TestIdPForceAuthn(t *testing.T) {
	idp, sp := newFabricPair(t, "")
	c := browser(t)
	loginGUI(t, c, idp, "alice")
	// older than the request by more than the clock skew allowed
	idp.app.Clock.Advance(4 * time.Minute)
	_, login, _ := idpURLs(idp.host, "csf_fosim2")
	now := idp.app.Clock.Now().UTC().Format(time.RFC3339)
	xml := fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_force1" Version="2.0" IssueInstant="%s" Destination="%s" ForceAuthn="true" AssertionConsumerServiceURL="https://%s/saml/?acs" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>http://%s/metadata/</saml:Issuer></samlp:AuthnRequest>`,
		now, login, sp.host, sp.host)
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	fw.Write([]byte(xml))
	fw.Close()
	hops := 0
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		hops = len(via)
		if len(via) >= 10 {
			return fmt.Errorf("redirect loop: %s", req.URL.Path)
		}
		return nil
	}
	resp, err := c.Get(idp.ts.URL + "/saml-idp/csf_fosim2/login/?SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes())))
	if err != nil {
		t.Fatalf("ForceAuthn for a logged-in browser: %v after %d redirects", err, hops)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Path != loginPath {
		t.Fatalf("ForceAuthn ended after %d redirects on %s (%d %.300s), want the login page", hops, resp.Request.URL.Path, resp.StatusCode, body)
	}
}
