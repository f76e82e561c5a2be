package samld

import (
	"crypto"
	"crypto/rsa"
	_ "crypto/sha1" // crypto.SHA1 and SHA256 for checkRequestSignature
	_ "crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/crewjam/saml"
)

// The AuthnRequest and the debug output are seed 001's.
func TestAuthnRequestSeed001(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	r, err := l.d.Login("SAML-IPSEC", "magic=040c048995bc76ba")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^_[0-9A-F]{32}$`).MatchString(r.RequestID) {
		t.Fatalf("request ID %q", r.RequestID)
	}
	if !strings.HasPrefix(r.URL, idpLoginURL+"?SAMLRequest=") {
		t.Fatalf("URL %s", r.URL)
	}
	xml, q := decodeRedirect(t, r.URL, "SAMLRequest")
	want := `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="` + r.RequestID + `" Version="2.0" IssueInstant="2025-09-22T17:43:44Z" Destination="` + idpLoginURL + `" ForceAuthn="true" IsPassive="false" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" AssertionConsumerServiceURL="` + acsURL + `"><saml:Issuer>` + spEntityID + `</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified" AllowCreate="true"/></samlp:AuthnRequest>`
	if xml != want {
		t.Fatalf("AuthnRequest\n got %s\nwant %s", xml, want)
	}
	if q.Get("RelayState") != "magic=040c048995bc76ba" || q.Get("SigAlg") != sigAlgRSASHA1 {
		t.Fatalf("query %v", q)
	}
	// The signature (digest-method sha1) verifies with the cert's key over
	// the query as sent.
	if err := checkRequestSignature(l, r.URL, crypto.SHA1); err != nil {
		t.Fatalf("request signature: %v", err)
	}
	dump := `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="` + r.RequestID + `" Version="2.0" IssueInstant="2025-09-22T17:43:44Z" Destination="` + idpLoginURL + `" SignType="0" SignMethod="0" ForceAuthn="true" IsPassive="false" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" AssertionConsumerServiceURL="` + acsURL + `"><saml:Issuer>` + spEntityID + `</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified" AllowCreate="true"/></samlp:AuthnRequest>`
	loginDump := `<lasso:Login xmlns:lasso="http://www.entrouvert.org/namespaces/lasso/0.0" xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" LoginDumpVersion="2"><lasso:Request><samlp:AuthnRequest ID="` + r.RequestID + `" Version="2.0" IssueInstant="2025-09-22T17:43:44Z" Destination="` + idpLoginURL + `" SignType="0" SignMethod="0" ForceAuthn="true" IsPassive="false" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" AssertionConsumerServiceURL="` + acsURL + `"><saml:Issuer>` + spEntityID + `</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified" AllowCreate="true"/></samlp:AuthnRequest></lasso:Request><lasso:RemoteProviderID>` + idpEntityID + `</lasso:RemoteProviderID><lasso:MsgUrl>` + strings.ReplaceAll(r.URL, "&", "&amp;") + `</lasso:MsgUrl><lasso:MsgRelayState>magic=040c048995bc76ba</lasso:MsgRelayState><lasso:HttpRequestMethod>4</lasso:HttpRequestMethod><lasso:RequestID>` + r.RequestID + `</lasso:RequestID></lasso:Login>`
	wantLog := "__samld_sp_create_auth_req [467]:\n**** AuthnRequest ****\n" + dump + "\n***********************\n__samld_sp_create_auth_req [472]:\n**** SP Login Dump ****\n" + loginDump + "\n"
	if got := l.log(); got != wantLog {
		t.Fatalf("debug output\n got %s\nwant %s", got, wantLog)
	}
}

// Without reauth there is no ForceAuthn; digest-method sha256 signs with
// rsa-sha256; without a cert the request goes unsigned.
func TestAuthnRequestOptions(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), "        set reauth disable\n        set digest-method sha256\n"))
	r, err := l.d.Login("SAML-IPSEC", "")
	if err != nil {
		t.Fatal(err)
	}
	xml, q := decodeRedirect(t, r.URL, "SAMLRequest")
	if strings.Contains(xml, "ForceAuthn") || q.Has("RelayState") || q.Get("SigAlg") != sigAlgRSASHA256 {
		t.Fatalf("request %s query %v", xml, q)
	}
	if err := checkRequestSignature(l, r.URL, crypto.SHA256); err != nil {
		t.Fatalf("request signature: %v", err)
	}
	l.apply("config user saml\nedit SAML-IPSEC\nunset cert\nnext\nend\n")
	r, err = l.d.Login("SAML-IPSEC", "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, q := decodeRedirect(t, r.URL, "SAMLRequest"); q.Has("Signature") || q.Has("SigAlg") {
		t.Fatalf("unsigned request carries %v", q)
	}
	if _, err := l.d.Login("nope", ""); err == nil || !strings.Contains(err.Error(), `SAML server "nope" not found`) {
		t.Fatalf("unknown server: %v", err)
	}
}

func TestLimitRelayState(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), "        set limit-relaystate enable\n"))
	if _, err := l.d.Login("SAML-IPSEC", strings.Repeat("x", 80)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.d.Login("SAML-IPSEC", strings.Repeat("x", 81)); err == nil || !strings.Contains(err.Error(), "80-byte limit") {
		t.Fatalf("81 bytes: %v", err)
	}
}

// The metadata names the SP as configured, with its signing certificate,
// and crewjam reads it back.
func TestMetadata(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	md, err := l.d.Metadata("SAML-IPSEC")
	if err != nil {
		t.Fatal(err)
	}
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(md, &ed); err != nil {
		t.Fatalf("%v\n%s", err, md)
	}
	sp := ed.SPSSODescriptors[0]
	if ed.EntityID != spEntityID || sp.AssertionConsumerServices[0].Location != acsURL || sp.AssertionConsumerServices[0].Binding != saml.HTTPPostBinding ||
		sp.SingleLogoutServices[0].Location != spLogoutURL || !*sp.AuthnRequestsSigned || len(sp.KeyDescriptors) != 1 {
		t.Fatalf("metadata %s", md)
	}
	cert := l.d.cfg.Servers["SAML-IPSEC"].SigningCert
	if sp.KeyDescriptors[0].KeyInfo.X509Data.X509Certificates[0].Data != base64.StdEncoding.EncodeToString(cert.Raw) {
		t.Fatal("metadata certificate is not cert's")
	}
}

// The factory certificates sign as Fortinet_CA_SSL does: admins name
// Fortinet_Factory in user saml cert (RSA, as on a FortiGate).
func TestFactoryCertificateSigns(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), "        set cert \"Fortinet_Factory\"\n"))
	r, err := l.d.Login("SAML-IPSEC", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkRequestSignature(l, r.URL, crypto.SHA1); err != nil {
		t.Fatalf("request signature with Fortinet_Factory: %v", err)
	}
}

// checkRequestSignature checks an HTTP-Redirect URL's Signature, by the
// server's cert with hash, over the query as sent.
func checkRequestSignature(l *lab, redirect string, hash crypto.Hash) error {
	u, err := url.Parse(redirect)
	if err != nil {
		return err
	}
	signed, _, _ := strings.Cut(u.RawQuery, "&Signature=")
	sig, err := base64.StdEncoding.DecodeString(u.Query().Get("Signature"))
	if err != nil {
		return err
	}
	h := hash.New()
	h.Write([]byte(signed))
	return rsa.VerifyPKCS1v15(l.d.cfg.Servers["SAML-IPSEC"].SigningCert.PublicKey.(*rsa.PublicKey), hash, h.Sum(nil), sig)
}
