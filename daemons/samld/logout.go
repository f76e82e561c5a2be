package samld

import (
	"bytes"
	"compress/flate"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
)

// maxInflated bounds what a Redirect-binding message inflates to (a
// deflate bomb is refused).
const maxInflated = 256 << 10

// Logout builds the SP-initiated LogoutRequest for a login, in the
// HTTP-Redirect binding to the IdP's idp-single-logout-url.
func (d *Daemon) Logout(l *Login, relayState string) (Redirect, error) {
	if l == nil {
		return Redirect{}, errors.New("no SAML login to log out")
	}
	s, err := d.server(l.Server)
	if err != nil {
		return Redirect{}, err
	}
	return d.logout(s, l, relayState)
}

func (d *Daemon) logout(s *Server, l *Login, relayState string) (Redirect, error) {
	if s.IdPLogoutURL == "" {
		return Redirect{}, fmt.Errorf("SAML server %q has no idp-single-logout-url", s.Name)
	}
	now := d.clock().Now()
	req := saml.LogoutRequest{
		ID: newID(), Version: "2.0", IssueInstant: now.UTC().Truncate(time.Second), Destination: s.IdPLogoutURL,
		Issuer: &saml.Issuer{Value: s.EntityID},
		NameID: &saml.NameID{Format: l.NameIDFormat, Value: l.NameID},
	}
	if l.SessionIndex != "" {
		req.SessionIndex = &saml.SessionIndex{Value: l.SessionIndex}
	}
	u, err := redirectURL(s, s.IdPLogoutURL, "SAMLRequest", req.Element(), relayState)
	if err != nil {
		return Redirect{}, err
	}
	d.remember(req.ID, outstanding{server: s.Name, logout: true, expires: now.Add(requestLifetime)}, now)
	d.log.Printf(1, "samld: SAML server %q: LogoutRequest %s for %q to %s", s.Name, req.ID, l.NameID, s.IdPLogoutURL)
	return Redirect{RequestID: req.ID, URL: u}, nil
}

// IdPLogout is a logout the IdP asked for: authd ends the sessions it names.
type IdPLogout struct {
	Server, NameID string
	SessionIndexes []string
}

// OnLogout sets what samld calls for each accepted LogoutRequest of the
// IdP, before it answers it.
func (d *Daemon) OnLogout(f func(IdPLogout)) {
	d.mu.Lock()
	d.onLogout = f
	d.mu.Unlock()
}

// HandleLogout takes what the IdP sends to /remote/saml/logout in the
// HTTP-Redirect binding: the LogoutResponse to a Logout (redirect is ""),
// or an IdP-initiated LogoutRequest, which must be signed by idp-cert and
// is answered by a LogoutResponse redirect to idp-single-logout-url.
func (d *Daemon) HandleLogout(server string, query url.Values) (redirect string, err error) {
	s, err := d.server(server)
	if err != nil {
		return "", err
	}
	return d.handleLogoutLogged(s, query)
}

func (d *Daemon) handleLogoutLogged(s *Server, query url.Values) (redirect string, err error) {
	redirect, err = d.handleLogout(s, query)
	if err != nil {
		// fosim's wording: FortiOS's is not public.
		d.log.Printf(1, "samld: SAML server %q: logout refused: %v", s.Name, err)
	}
	return redirect, err
}

func (d *Daemon) handleLogout(s *Server, query url.Values) (string, error) {
	param := "SAMLResponse"
	if query.Has("SAMLRequest") {
		param = "SAMLRequest"
	}
	msg := query.Get(param)
	if msg == "" {
		return "", errors.New("no SAMLRequest or SAMLResponse")
	}
	signed, err := verifyRedirect(s, param, query)
	if err != nil {
		return "", err
	}
	root, err := inflate(msg)
	if err != nil {
		return "", err
	}
	now := d.clock().Now()
	issuers := childrenNS(root, nsAssertion, "Issuer")
	if len(issuers) != 1 || strings.TrimSpace(issuers[0].Text()) != s.IdPEntityID {
		return "", fmt.Errorf("the logout message's Issuer is not idp-entity-id %q", s.IdPEntityID)
	}
	if dest := attr(root, "Destination"); dest != "" && s.LogoutURL != "" && dest != s.LogoutURL {
		return "", fmt.Errorf("Destination %q is not single-logout-url %q", dest, s.LogoutURL)
	}
	switch {
	case param == "SAMLResponse" && root.Tag == "LogoutResponse" && root.NamespaceURI() == nsProtocol:
		id := attr(root, "InResponseTo")
		if !d.checkOutstanding(id, s.Name, true, now, true) {
			return "", fmt.Errorf("InResponseTo %q is not a LogoutRequest samld sent and has not seen answered", id)
		}
		if code := statusCode(root); code != saml.StatusSuccess {
			return "", fmt.Errorf("the IdP answered the logout with Status %q", code)
		}
		d.log.Printf(1, "samld: SAML server %q: LogoutResponse to %s: Success", s.Name, id)
		return "", nil
	case param == "SAMLRequest" && root.Tag == "LogoutRequest" && root.NamespaceURI() == nsProtocol:
		if !signed {
			return "", errors.New("the IdP's LogoutRequest is not signed")
		}
		doc := etree.NewDocument()
		doc.SetRoot(root.Copy())
		raw, _ := doc.WriteToBytes()
		var req saml.LogoutRequest
		if err := xml.Unmarshal(raw, &req); err != nil {
			return "", fmt.Errorf("LogoutRequest: %v", err)
		}
		if req.NotOnOrAfter != nil && !now.Before(req.NotOnOrAfter.Add(s.ClockTolerance)) {
			return "", fmt.Errorf("the LogoutRequest expired at %s", samlTime(*req.NotOnOrAfter))
		}
		if req.NameID == nil || req.NameID.Value == "" {
			return "", errors.New("the LogoutRequest names no NameID")
		}
		// A signed request still proves only that the IdP once sent
		// it: it must be recent, and is taken once.
		if age := now.Sub(req.IssueInstant); age > saml.MaxIssueDelay+s.ClockTolerance || -age > saml.MaxClockSkew+s.ClockTolerance {
			return "", fmt.Errorf("the LogoutRequest was issued at %s", samlTime(req.IssueInstant))
		}
		if !d.once("logout "+s.Name+" "+req.ID, req.IssueInstant.Add(saml.MaxIssueDelay+saml.MaxClockSkew+s.ClockTolerance), now) {
			return "", fmt.Errorf("LogoutRequest %s was already taken (a replay)", req.ID)
		}
		lo := IdPLogout{Server: s.Name, NameID: req.NameID.Value}
		for _, si := range req.AllSessionIndexes() {
			lo.SessionIndexes = append(lo.SessionIndexes, si.Value)
		}
		d.mu.Lock()
		f := d.onLogout
		d.mu.Unlock()
		if f != nil {
			f(lo)
		}
		d.log.Printf(1, "samld: SAML server %q: IdP LogoutRequest %s for %q", s.Name, req.ID, lo.NameID)
		if s.IdPLogoutURL == "" {
			return "", fmt.Errorf("SAML server %q has no idp-single-logout-url to answer on", s.Name)
		}
		resp := saml.LogoutResponse{
			ID: newID(), InResponseTo: req.ID, Version: "2.0", IssueInstant: now.UTC().Truncate(time.Second), Destination: s.IdPLogoutURL,
			Issuer: &saml.Issuer{Value: s.EntityID},
			Status: saml.Status{StatusCode: saml.StatusCode{Value: saml.StatusSuccess}},
		}
		return redirectURL(s, s.IdPLogoutURL, "SAMLResponse", resp.Element(), query.Get("RelayState"))
	}
	return "", fmt.Errorf("%s holds a %s, not a logout message", param, root.Tag)
}

// verifyRedirect checks the HTTP-Redirect binding signature (SigAlg,
// Signature) by idp-cert when there is one; it reports whether there was.
// The signed octets are rebuilt from the decoded values with the
// standard encoding (url.Values has lost the sender's own).
func verifyRedirect(s *Server, param string, query url.Values) (bool, error) {
	sig, alg := query.Get("Signature"), query.Get("SigAlg")
	if sig == "" && alg == "" {
		return false, nil
	}
	if s.IdPCert == nil {
		return false, errors.New("signed logout message but no idp-cert")
	}
	q := param + "=" + url.QueryEscape(query.Get(param))
	if query.Has("RelayState") {
		q += "&RelayState=" + url.QueryEscape(query.Get("RelayState"))
	}
	q += "&SigAlg=" + url.QueryEscape(alg)
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return false, errors.New("Signature is not base64")
	}
	var x509alg x509.SignatureAlgorithm
	switch alg {
	case sigAlgRSASHA1:
		x509alg = x509.SHA1WithRSA
	case sigAlgRSASHA256:
		x509alg = x509.SHA256WithRSA
	case "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512":
		x509alg = x509.SHA512WithRSA
	default:
		return false, fmt.Errorf("SigAlg %q is not supported", alg)
	}
	if err := s.IdPCert.CheckSignature(x509alg, []byte(q), raw); err != nil {
		return false, fmt.Errorf("Signature by idp-cert %q: %v", s.IdPCertName, err)
	}
	return true, nil
}

// inflate decodes a Redirect-binding message: base64, raw DEFLATE
// (bounded), XML without directives.
func inflate(msg string) (*etree.Element, error) {
	comp, err := base64.StdEncoding.DecodeString(msg)
	if err != nil {
		return nil, errors.New("the message is not base64")
	}
	raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(comp)), maxInflated+1))
	if err != nil {
		return nil, fmt.Errorf("the message does not inflate: %v", err)
	}
	if len(raw) > maxInflated {
		return nil, fmt.Errorf("the message inflates to over %d bytes", maxInflated)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return nil, fmt.Errorf("the message is not XML: %v", err)
	}
	for _, tok := range doc.Child {
		if _, ok := tok.(*etree.Directive); ok {
			return nil, errors.New("a DTD in the message")
		}
	}
	if doc.Root() == nil {
		return nil, errors.New("the message is empty")
	}
	return doc.Root(), nil
}
