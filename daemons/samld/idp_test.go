package samld

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/daemons/debuglog"
)

const (
	fuzzSPEntity = "http://sp.example/metadata/"
	fuzzSPACS    = "https://sp.example/saml/?acs"
	fuzzSPSLS    = "https://sp.example/saml/?sls"
	fuzzIdPLogin = "https://idp.example/saml-idp/csf_x/login/"
	fuzzIdPOut   = "https://idp.example/saml-idp/csf_x/logout/"
)

func fuzzIdP() (*IdP, *IdPService, *clock.Clock) {
	clk := clock.New(time.UTC)
	clk.Set(labStart)
	k := idpKey()
	return NewIdP(clk, debuglog.New(clk.Now).Logger("samld")), &IdPService{
		Name: "csf_x", EntityID: "http://idp.example/saml-idp/csf_x/metadata/", LoginURL: fuzzIdPLogin, LogoutURL: fuzzIdPOut,
		Cert: k.cert, Key: k.key, SPEntityID: fuzzSPEntity, SPACSURL: fuzzSPACS, SPLogoutURL: fuzzSPSLS, Life: 30 * time.Minute,
	}, clk
}

func redirectQuery(xml string) string {
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	fw.Write([]byte(xml))
	fw.Close()
	return "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
}

func authnRequestXML(id, issuer, acs string, at time.Time) string {
	return fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" IssueInstant="%s" Destination="%s" AssertionConsumerServiceURL="%s" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>%s</saml:Issuer></samlp:AuthnRequest>`,
		id, ts(at), fuzzIdPLogin, acs, issuer)
}

// The IdP answers its SP's AuthnRequest once, with the admin the front end
// names; another issuer, another ACS, an old request and a replay get no
// assertion, and the front end is not even asked.
func TestIdPAnswersItsSPOnce(t *testing.T) {
	p, svc, clk := fuzzIdP()
	asked := 0
	auth := func(w http.ResponseWriter, r *http.Request, since time.Time) *Assertee {
		asked++
		return &Assertee{NameID: "alice", SessionIndex: "_s1", Attributes: []Attribute{{Name: "username", Values: []string{"alice"}}}}
	}
	serve := func(q string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		p.ServeSSO(svc, rec, httptest.NewRequest("GET", fuzzIdPLogin+"?"+q, nil), auth)
		return rec
	}
	good := redirectQuery(authnRequestXML("_r1", fuzzSPEntity, fuzzSPACS, clk.Now()))
	if rec := serve(good); rec.Code != 200 || !strings.Contains(rec.Body.String(), "SAMLResponse") || !strings.Contains(rec.Body.String(), fuzzSPACS) {
		t.Fatalf("the SP's request: %d %.300s", rec.Code, rec.Body)
	}
	if asked != 1 {
		t.Fatalf("front end asked %d times", asked)
	}
	for name, q := range map[string]string{
		"replay":         good,
		"other issuer":   redirectQuery(authnRequestXML("_r2", "http://evil.example/metadata/", fuzzSPACS, clk.Now())),
		"other ACS":      redirectQuery(authnRequestXML("_r3", fuzzSPEntity, "https://evil.example/acs", clk.Now())),
		"an hour old":    redirectQuery(authnRequestXML("_r4", fuzzSPEntity, fuzzSPACS, clk.Now().Add(-time.Hour))),
		"not a request":  redirectQuery(`<x/>`),
		"not base64":     "SAMLRequest=%%%",
		"nothing at all": "",
	} {
		if rec := serve(q); rec.Code == 200 || strings.Contains(rec.Body.String(), "SAMLResponse") {
			t.Errorf("%s: answered %d %.200s", name, rec.Code, rec.Body)
		}
	}
	if asked != 1 {
		t.Fatalf("front end asked %d times: a refused request reached it", asked)
	}
}

// FuzzIdPRequest feeds any message to the IdP's login and logout
// endpoints, as a browser may bring it: it never panics, and nothing but
// a well-formed AuthnRequest of its SP gets an assertion.
func FuzzIdPRequest(f *testing.F) {
	p, svc, clk := fuzzIdP()
	f.Add([]byte(authnRequestXML("_f1", fuzzSPEntity, fuzzSPACS, clk.Now())))
	f.Add([]byte(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_l1" Version="2.0" IssueInstant="` + ts(clk.Now()) + `"><saml:Issuer>` + fuzzSPEntity + `</saml:Issuer><saml:NameID>alice</saml:NameID></samlp:LogoutRequest>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`))
	f.Fuzz(func(t *testing.T, xml []byte) {
		q := redirectQuery(string(xml))
		auth := func(w http.ResponseWriter, r *http.Request, since time.Time) *Assertee {
			return &Assertee{NameID: "alice"}
		}
		rec := httptest.NewRecorder()
		p.ServeSSO(svc, rec, httptest.NewRequest("GET", fuzzIdPLogin+"?"+q, nil), auth)
		if rec.Code == 200 && strings.Contains(rec.Body.String(), "SAMLResponse") && !bytes.Contains(xml, []byte(fuzzSPEntity)) {
			t.Fatalf("an assertion for a request not naming the SP: %q", xml)
		}
		rec = httptest.NewRecorder()
		p.ServeSLO(svc, rec, httptest.NewRequest("GET", fuzzIdPOut+"?"+q, nil), func(*http.Request, string, []string, bool) error {
			return fmt.Errorf("no session")
		})
		if rec.Code == http.StatusSeeOther {
			t.Fatalf("a logout answered though no session ended: %q", xml)
		}
	})
}
