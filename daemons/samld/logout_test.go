package samld

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// idpRedirect is what the test IdP sends in the HTTP-Redirect binding,
// signed by key unless it is nil.
func idpRedirect(t *testing.T, key *testKey, param, xml, relayState string) url.Values {
	t.Helper()
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	fw.Write([]byte(xml))
	fw.Close()
	q := param + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relayState != "" {
		q += "&RelayState=" + url.QueryEscape(relayState)
	}
	if key != nil {
		q += "&SigAlg=" + url.QueryEscape(sigAlgRSASHA256)
		h := sha256.Sum256([]byte(q))
		sig, err := rsa.SignPKCS1v15(rand.Reader, key.key, crypto.SHA256, h[:])
		if err != nil {
			t.Fatal(err)
		}
		q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func logoutResponse(inResponseTo, status string) string {
	return fmt.Sprintf(`<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lr1" Version="2.0" IssueInstant="2025-09-22T17:43:44Z" Destination="%s" InResponseTo="%s"><saml:Issuer>%s</saml:Issuer><samlp:Status><samlp:StatusCode Value="%s"/></samlp:Status></samlp:LogoutResponse>`,
		spLogoutURL, inResponseTo, idpEntityID, status)
}

func TestSPLogout(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	login, err := l.d.Consume("SAML-IPSEC", acsURL, defaults(l.login(), l.clock.Now()).encode(t))
	if err != nil {
		t.Fatal(err)
	}
	r, err := l.d.Logout(login, "bye")
	if err != nil {
		t.Fatal(err)
	}
	xml, q := decodeRedirect(t, r.URL, "SAMLRequest")
	if !strings.HasPrefix(r.URL, idpLogout+"?") || q.Get("SigAlg") != sigAlgRSASHA1 || q.Get("RelayState") != "bye" ||
		!strings.Contains(xml, `ID="`+r.RequestID+`"`) || !strings.Contains(xml, ">alice</saml:NameID>") ||
		!strings.Contains(xml, ">_session1</samlp:SessionIndex>") || !strings.Contains(xml, "<saml:Issuer") {
		t.Fatalf("LogoutRequest %s %v", xml, q)
	}
	l.log()
	for _, c := range []struct {
		name string
		q    url.Values
		why  string
	}{
		{"unknown request", idpRedirect(t, idpKey(), "SAMLResponse", logoutResponse("_nope", "urn:oasis:names:tc:SAML:2.0:status:Success"), ""), `InResponseTo "_nope" is not a LogoutRequest samld sent`},
		{"signed by another key", idpRedirect(t, otherKey(), "SAMLResponse", logoutResponse(r.RequestID, "urn:oasis:names:tc:SAML:2.0:status:Success"), ""), "Signature by idp-cert \"REMOTE_Cert_3\": crypto/rsa: verification error"},
		{"other issuer", idpRedirect(t, idpKey(), "SAMLResponse", strings.Replace(logoutResponse(r.RequestID, "urn:oasis:names:tc:SAML:2.0:status:Success"), idpEntityID, "http://evil/", 1), ""), "Issuer is not idp-entity-id"},
	} {
		if _, err := l.d.HandleLogout("SAML-IPSEC", c.q); err == nil || !strings.Contains(err.Error(), c.why) || !strings.Contains(l.log(), c.why) {
			t.Errorf("%s: %v, want %q", c.name, err, c.why)
		}
	}
	ok := idpRedirect(t, idpKey(), "SAMLResponse", logoutResponse(r.RequestID, "urn:oasis:names:tc:SAML:2.0:status:Success"), "bye")
	if redirect, err := l.d.HandleLogout("SAML-IPSEC", ok); err != nil || redirect != "" {
		t.Fatalf("LogoutResponse: %q %v", redirect, err)
	}
	if _, err := l.d.HandleLogout("SAML-IPSEC", ok); err == nil {
		t.Fatal("a LogoutResponse taken twice")
	}
}

func TestIdPLogout(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	var got []IdPLogout
	l.d.OnLogout(func(lo IdPLogout) { got = append(got, lo) })
	req := fmt.Sprintf(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_idplr" Version="2.0" IssueInstant="2025-09-22T17:43:44Z" Destination="%s"><saml:Issuer>%s</saml:Issuer><saml:NameID>alice</saml:NameID><samlp:SessionIndex>_session1</samlp:SessionIndex></samlp:LogoutRequest>`, spLogoutURL, idpEntityID)
	if _, err := l.d.HandleLogout("SAML-IPSEC", idpRedirect(t, nil, "SAMLRequest", req, "")); err == nil || !strings.Contains(err.Error(), "not signed") || len(got) != 0 {
		t.Fatalf("unsigned IdP LogoutRequest: %v %v", err, got)
	}
	redirect, err := l.d.HandleLogout("SAML-IPSEC", idpRedirect(t, idpKey(), "SAMLRequest", req, "rs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].NameID != "alice" || len(got[0].SessionIndexes) != 1 || got[0].SessionIndexes[0] != "_session1" {
		t.Fatalf("logouts %+v", got)
	}
	xml, q := decodeRedirect(t, redirect, "SAMLResponse")
	if !strings.HasPrefix(redirect, idpLogout+"?") || q.Get("RelayState") != "rs" || q.Get("Signature") == "" ||
		!strings.Contains(xml, `InResponseTo="_idplr"`) || !strings.Contains(xml, "urn:oasis:names:tc:SAML:2.0:status:Success") {
		t.Fatalf("LogoutResponse %s %v", xml, q)
	}
	// The same signed request again is a replay; an old one is refused.
	if _, err := l.d.HandleLogout("SAML-IPSEC", idpRedirect(t, idpKey(), "SAMLRequest", req, "rs")); err == nil || !strings.Contains(err.Error(), "replay") || len(got) != 1 {
		t.Fatalf("replayed LogoutRequest: %v %v", err, got)
	}
	old := strings.Replace(strings.Replace(req, "_idplr", "_idplr2", 1), "2025-09-22T17:43:44Z", "2025-09-22T16:43:44Z", 1)
	if _, err := l.d.HandleLogout("SAML-IPSEC", idpRedirect(t, idpKey(), "SAMLRequest", old, "")); err == nil || !strings.Contains(err.Error(), "issued at") || len(got) != 1 {
		t.Fatalf("hour-old LogoutRequest: %v %v", err, got)
	}
}

// A deflate bomb in the Redirect binding is refused.
func TestLogoutInflateBound(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	big := `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">` + strings.Repeat(" ", maxInflated) + `</samlp:LogoutRequest>`
	if _, err := l.d.HandleLogout("SAML-IPSEC", idpRedirect(t, nil, "SAMLRequest", big, "")); err == nil || !strings.Contains(err.Error(), "inflates to over") {
		t.Fatalf("bomb: %v", err)
	}
}
