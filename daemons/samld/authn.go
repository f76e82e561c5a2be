package samld

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
)

// Redirect is where samld sends the browser: RequestID is the ID of the
// request the URL carries.
type Redirect struct{ RequestID, URL string }

// Signature algorithms of the HTTP-Redirect binding (digest-method).
const (
	sigAlgRSASHA1   = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	sigAlgRSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
)

// maxRelayState is SAML's limit on RelayState (saml-bindings §3.4.3),
// which limit-relaystate enforces.
const maxRelayState = 80

// Namespaces of lasso's dump format (FortiOS's samld is built on lasso).
const lassoNS = "http://www.entrouvert.org/namespaces/lasso/0.0"

// Login begins an SP-initiated login through the `config user saml`
// entry server: the result is the IdP's single sign-on URL carrying a new
// AuthnRequest in the HTTP-Redirect binding, signed when the entry has a
// cert. relayState is opaque to samld.
func (d *Daemon) Login(server, relayState string) (Redirect, error) {
	s, err := d.server(server)
	if err != nil {
		return Redirect{}, err
	}
	return d.login(s, relayState)
}

func (d *Daemon) login(s *Server, relayState string) (Redirect, error) {
	server := s.Name
	if s.IdPLoginURL == "" {
		return Redirect{}, fmt.Errorf("SAML server %q has no idp-single-sign-on-url", server)
	}
	if s.LimitRelayState && len(relayState) > maxRelayState {
		return Redirect{}, fmt.Errorf("SAML server %q: relay state of %d bytes exceeds the %d-byte limit (limit-relaystate enable)", server, len(relayState), maxRelayState)
	}
	now := d.clock().Now()
	id := newID()
	req := authnRequest{id: id, issued: now, server: s}
	u, err := redirectURL(s, s.IdPLoginURL, "SAMLRequest", req.element(false), relayState)
	if err != nil {
		return Redirect{}, err
	}
	d.remember(id, outstanding{server: s.Name, expires: now.Add(requestLifetime)}, now)
	if d.log.Enabled(1) {
		// [467] and [472] are the source lines FortiOS prints (seed 001),
		// copied constants.
		d.log.Printf(1, "__samld_sp_create_auth_req [467]:")
		d.log.Printf(1, "**** AuthnRequest ****")
		d.log.Printf(1, "%s", xmlString(req.element(true)))
		d.log.Printf(1, "***********************")
		d.log.Printf(1, "__samld_sp_create_auth_req [472]:")
		d.log.Printf(1, "**** SP Login Dump ****")
		d.log.Printf(1, "%s", loginDump(s, req, u, relayState))
	}
	return Redirect{RequestID: id, URL: u}, nil
}

// newID is a request ID as FortiOS makes them: "_" and 32 upper-case hex
// digits (seed 001).
func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "_" + strings.ToUpper(hex.EncodeToString(b))
}

func samlTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

type authnRequest struct {
	id     string
	issued time.Time
	server *Server
}

// element is the AuthnRequest in seed 001's shape. dump adds lasso's dump
// attributes SignType and SignMethod, which FortiOS prints in its debug
// output but lasso does not send.
func (r authnRequest) element(dump bool) *etree.Element {
	return r.elementNS(dump, true)
}

func (r authnRequest) elementNS(dump, namespaces bool) *etree.Element {
	s := r.server
	el := etree.NewElement("samlp:AuthnRequest")
	if namespaces {
		el.CreateAttr("xmlns:samlp", "urn:oasis:names:tc:SAML:2.0:protocol")
		el.CreateAttr("xmlns:saml", "urn:oasis:names:tc:SAML:2.0:assertion")
	}
	el.CreateAttr("ID", r.id)
	el.CreateAttr("Version", "2.0")
	el.CreateAttr("IssueInstant", samlTime(r.issued))
	el.CreateAttr("Destination", s.IdPLoginURL)
	if dump {
		el.CreateAttr("SignType", "0")
		el.CreateAttr("SignMethod", "0")
	}
	if s.ForceAuthn {
		el.CreateAttr("ForceAuthn", "true")
	}
	el.CreateAttr("IsPassive", "false")
	el.CreateAttr("ProtocolBinding", saml.HTTPPostBinding)
	el.CreateAttr("AssertionConsumerServiceURL", s.ACSURL)
	el.CreateElement("saml:Issuer").SetText(s.EntityID)
	p := el.CreateElement("samlp:NameIDPolicy")
	p.CreateAttr("Format", string(saml.UnspecifiedNameIDFormat))
	p.CreateAttr("AllowCreate", "true")
	return el
}

// loginDump is lasso's dump of the login profile (LoginDumpVersion 2) as
// FortiOS prints it in "**** SP Login Dump ****".
func loginDump(s *Server, r authnRequest, msgURL, relayState string) string {
	el := etree.NewElement("lasso:Login")
	el.CreateAttr("xmlns:lasso", lassoNS)
	el.CreateAttr("xmlns:samlp", "urn:oasis:names:tc:SAML:2.0:protocol")
	el.CreateAttr("xmlns:saml", "urn:oasis:names:tc:SAML:2.0:assertion")
	el.CreateAttr("LoginDumpVersion", "2")
	el.CreateElement("lasso:Request").AddChild(r.elementNS(true, false))
	el.CreateElement("lasso:RemoteProviderID").SetText(s.IdPEntityID)
	el.CreateElement("lasso:MsgUrl").SetText(msgURL)
	if relayState != "" {
		el.CreateElement("lasso:MsgRelayState").SetText(relayState)
	}
	// 4 is LASSO_HTTP_METHOD_REDIRECT.
	el.CreateElement("lasso:HttpRequestMethod").SetText("4")
	el.CreateElement("lasso:RequestID").SetText(r.id)
	return xmlString(el)
}

func xmlString(el *etree.Element) string {
	doc := etree.NewDocument()
	doc.SetRoot(el)
	s, _ := doc.WriteToString()
	return s
}

// redirectURL encodes a protocol message in the HTTP-Redirect binding
// (saml-bindings §3.4.4): raw DEFLATE, base64, the param (SAMLRequest or
// SAMLResponse) and RelayState, then SigAlg and Signature over exactly
// those query bytes when the server has a signing key.
func redirectURL(s *Server, endpoint, param string, el *etree.Element, relayState string) (string, error) {
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	fw.Write([]byte(xmlString(el)))
	fw.Close()
	q := param + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relayState != "" {
		q += "&RelayState=" + url.QueryEscape(relayState)
	}
	if s.SigningCert != nil {
		if s.SigningKey == nil {
			return "", fmt.Errorf("SAML server %q: the private key of its cert is not loaded", s.Name)
		}
		alg, hash := sigAlgRSASHA256, crypto.SHA256
		if s.SHA1 {
			alg, hash = sigAlgRSASHA1, crypto.SHA1
		}
		if _, ok := s.SigningKey.Public().(*rsa.PublicKey); !ok {
			return "", errors.New("not simulated yet: signing SAML requests with a non-RSA key")
		}
		q += "&SigAlg=" + url.QueryEscape(alg)
		h := hash.New()
		h.Write([]byte(q))
		sig, err := s.SigningKey.Sign(rand.Reader, h.Sum(nil), hash)
		if err != nil {
			return "", fmt.Errorf("SAML server %q: signing: %w", s.Name, err)
		}
		q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	sep := "?"
	if strings.Contains(endpoint, "?") {
		sep = "&"
	}
	return endpoint + sep + q, nil
}
