package samld

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/daemons/debuglog"
)

// IdP is the appliance as a SAML identity provider for admin SSO
// (`config system saml`, `role identity-provider`): FortiOS's Security
// Fabric SSO, where other units (and any SAML SP) are its
// `service-providers`. The admin front end authenticates the browser;
// IdP checks each AuthnRequest (issuer, ACS, destination, signature by
// sp-cert, age on the appliance clock, replay), makes the signed Response
// and answers LogoutRequests. crewjam/saml's IdentityProvider does the
// protocol, on a validation clock set to the appliance clock per request.
type IdP struct {
	clk *clock.Clock
	log *debuglog.Logger

	mu sync.Mutex
	// answered holds the AuthnRequest IDs answered, until they could no
	// longer be accepted: each is answered once.
	answered map[string]time.Time
}

// maxAnswered bounds the AuthnRequest IDs an IdP remembers; only
// requests of a configured SP that the front end authenticated enter.
const maxAnswered = 16384

// NewIdP returns an IdP on clk whose debug lines go to log.
func NewIdP(clk *clock.Clock, log *debuglog.Logger) *IdP {
	return &IdP{clk: clk, log: log, answered: map[string]time.Time{}}
}

// IdPService is one `service-providers` entry as this IdP serves it.
type IdPService struct {
	Name string
	// This IdP's URLs for that SP: http://<server-address>/saml-idp/<prefix>/metadata/ …
	EntityID, LoginURL, LogoutURL string
	// Cert and Key sign the Responses (system saml cert).
	Cert *x509.Certificate
	Key  crypto.Signer
	// The SP: sp-entity-id, sp-single-sign-on-url (its ACS),
	// sp-single-logout-url.
	SPEntityID, SPACSURL, SPLogoutURL string
	// SPCert is sp-cert: AuthnRequests must then be signed by it.
	SPCert *x509.Certificate
	// Life is how long an assertion is valid (life, minutes).
	Life time.Duration
}

// Attribute is one assertion attribute (assertion-attributes).
type Attribute struct {
	Name   string
	Values []string
}

// Assertee is the admin an assertion is made for.
type Assertee struct {
	NameID string
	// SessionIndex names the front end's session, for single logout.
	SessionIndex string
	Attributes   []Attribute
}

// Authenticate is the front end's side of a login: the admin the browser
// is logged in as, or nil after it wrote its own answer (a login page).
// The request is a configured SP's valid AuthnRequest; since is zero, or
// for ForceAuthn the instant the admin must have logged in after.
type Authenticate func(w http.ResponseWriter, r *http.Request, since time.Time) *Assertee

// EndSession is the front end's side of single logout: end the sessions
// a LogoutRequest of the SP names. signed says the SP's signature was
// checked; an unsigned one proves nothing of its sender, so only the
// browser's own session (r's) may end, when it is nameID's.
type EndSession func(r *http.Request, nameID string, sessionIndexes []string, signed bool) error

// Metadata is the IdP metadata of s (the SP's idp-entity-id and URLs).
func (p *IdP) Metadata(s *IdPService) ([]byte, error) {
	idp, err := p.provider(s, nil, nil)
	if err != nil {
		return nil, err
	}
	b, err := xml.MarshalIndent(idp.Metadata(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}

// ServeSSO answers an AuthnRequest of s's SP, in the HTTP-Redirect or
// HTTP-POST binding, with a signed Response posted to sp-single-sign-on-url.
func (p *IdP) ServeSSO(s *IdPService, w http.ResponseWriter, r *http.Request, auth Authenticate) {
	idp, err := p.provider(s, auth, nil)
	if err != nil {
		p.refused(s, w, http.StatusInternalServerError, err)
		return
	}
	idp.ServeSSO(w, r)
}

// ServeSLO takes the SP's LogoutRequest (its signature checked by sp-cert
// when the SP has one), ends the sessions through end and answers with a
// LogoutResponse to sp-single-logout-url.
func (p *IdP) ServeSLO(s *IdPService, w http.ResponseWriter, r *http.Request, end EndSession) {
	if s.SPCert == nil && r.Method == http.MethodGet && r.URL.Query().Has("SAMLRequest") && !r.URL.Query().Has("Signature") {
		p.unsignedLogout(s, w, r, end)
		return
	}
	idp, err := p.provider(s, nil, end)
	if err != nil {
		p.refused(s, w, http.StatusInternalServerError, err)
		return
	}
	// crewjam answers a LogoutRequest it refuses with a bare 400: check
	// it first to say why (it keeps no replay cache of its own here, so
	// checking twice consumes nothing).
	if !isLogoutResponse(r) {
		req, err := saml.NewIdpLogoutRequest(idp, r)
		if err == nil {
			err = req.Validate()
		}
		if err != nil {
			p.refused(s, w, http.StatusBadRequest, err)
			return
		}
	}
	idp.ServeSLO(w, r)
}

// unsignedLogout takes an unsigned LogoutRequest of an SP without
// sp-cert, as FortiOS's Fabric SSO sets its SPs up (crewjam's IdP wants
// every LogoutRequest signed). Nothing then proves who sent it: it ends
// only the session of the browser that brought it, when that session is
// the NameID's (a replay ends the replayer's own session), and a request
// that ends nothing is refused before anything is signed or recorded.
func (p *IdP) unsignedLogout(s *IdPService, w http.ResponseWriter, r *http.Request, end EndSession) {
	root, err := inflate(r.URL.Query().Get("SAMLRequest"))
	if err != nil {
		p.refused(s, w, http.StatusBadRequest, err)
		return
	}
	doc := etree.NewDocument()
	doc.SetRoot(root.Copy())
	raw, _ := doc.WriteToBytes()
	var req saml.LogoutRequest
	if root.Tag != "LogoutRequest" || root.NamespaceURI() != nsProtocol || xml.Unmarshal(raw, &req) != nil {
		p.refused(s, w, http.StatusBadRequest, errors.New("SAMLRequest holds no LogoutRequest"))
		return
	}
	now := p.clk.Now()
	switch {
	case req.Issuer == nil || req.Issuer.Value != s.SPEntityID:
		err = fmt.Errorf("the LogoutRequest's Issuer is not sp-entity-id %q", s.SPEntityID)
	case req.Destination != "" && req.Destination != s.LogoutURL:
		err = fmt.Errorf("Destination %q is not this IdP's logout URL %q", req.Destination, s.LogoutURL)
	case req.NotOnOrAfter != nil && !now.Before(*req.NotOnOrAfter):
		err = fmt.Errorf("the LogoutRequest expired at %s", samlTime(*req.NotOnOrAfter))
	case now.Sub(req.IssueInstant) > saml.MaxIssueDelay || req.IssueInstant.Sub(now) > saml.MaxClockSkew:
		err = fmt.Errorf("the LogoutRequest was issued at %s", samlTime(req.IssueInstant))
	case req.NameID == nil || req.NameID.Value == "":
		err = errors.New("the LogoutRequest names no NameID")
	case s.SPLogoutURL == "":
		err = fmt.Errorf("service provider %q has no sp-single-logout-url to answer on", s.Name)
	case end == nil:
		err = errors.New("no session to end")
	}
	if err != nil {
		p.refused(s, w, http.StatusBadRequest, err)
		return
	}
	var indexes []string
	for _, si := range req.AllSessionIndexes() {
		indexes = append(indexes, si.Value)
	}
	if err := end(r, req.NameID.Value, indexes, false); err != nil {
		p.refused(s, w, http.StatusForbidden, err)
		return
	}
	status := saml.StatusSuccess
	p.log.Printf(1, "samld: IdP for %q: unsigned LogoutRequest %s for %q: %s", s.Name, req.ID, req.NameID.Value, status)
	resp := saml.LogoutResponse{
		ID: newID(), InResponseTo: req.ID, Version: "2.0", IssueInstant: now.UTC().Truncate(time.Second), Destination: s.SPLogoutURL,
		Issuer: &saml.Issuer{Value: s.EntityID},
		Status: saml.Status{StatusCode: saml.StatusCode{Value: status}},
	}
	u, err := redirectURL(&Server{Name: s.Name, SigningCert: s.Cert, SigningKey: s.Key}, s.SPLogoutURL, "SAMLResponse", resp.Element(), r.URL.Query().Get("RelayState"))
	if err != nil {
		p.refused(s, w, http.StatusInternalServerError, err)
		return
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// isLogoutResponse tells a LogoutResponse (to a LogoutRequest of this
// IdP) from a LogoutRequest.
func isLogoutResponse(r *http.Request) bool {
	if r.Method == http.MethodGet {
		return r.URL.Query().Has("SAMLResponse")
	}
	return r.PostFormValue("SAMLResponse") != ""
}

func (p *IdP) refused(s *IdPService, w http.ResponseWriter, status int, err error) {
	// fosim's wording: FortiOS's IdP debug lines are not public.
	p.log.Printf(1, "samld: IdP for %q: refused: %v", s.Name, err)
	http.Error(w, "SAML request refused: "+err.Error(), status)
}

// provider is crewjam's IdentityProvider for s at this instant.
func (p *IdP) provider(s *IdPService, auth Authenticate, end EndSession) (*saml.IdentityProvider, error) {
	if s.Cert == nil || s.Key == nil {
		return nil, errors.New("system saml has no cert to sign with")
	}
	parse := func(what, raw string) (url.URL, error) {
		u, err := url.Parse(raw)
		if err != nil || !u.IsAbs() {
			return url.URL{}, fmt.Errorf("%s %q is not an absolute URL", what, raw)
		}
		return *u, nil
	}
	md, err := parse("entity ID", s.EntityID)
	if err != nil {
		return nil, err
	}
	sso, err := parse("login URL", s.LoginURL)
	if err != nil {
		return nil, err
	}
	slo, err := parse("logout URL", s.LogoutURL)
	if err != nil {
		return nil, err
	}
	life := s.Life
	provider := &saml.IdentityProvider{
		Key: s.Key, Signer: s.Key, Certificate: s.Cert,
		Logger:      idpLogger{p: p, s: s},
		MetadataURL: md, SSOURL: sso, LogoutURL: slo,
		LogoutBindings:          []string{saml.HTTPRedirectBinding},
		ServiceProviderProvider: spDescriptor{s},
		SignatureMethod:         dsig.RSASHA256SignatureMethod,
		// The NameID is the admin's name, in no particular format.
		NameIDFormats:           []saml.NameIDFormat{saml.UnspecifiedNameIDFormat},
		WantAuthnRequestsSigned: s.SPCert != nil,
		ValidDuration:           &life,
		Clock:                   dsig.NewFakeClockAt(p.clk.Now()),
		AssertionMaker:          assertionMaker{life: life},
		OnError: func(w http.ResponseWriter, _ *http.Request, status int, err error) {
			p.refused(s, w, status, err)
		},
	}
	provider.SessionProvider = &idpSessions{p: p, s: s, auth: auth, end: end}
	return provider, nil
}

// spDescriptor is the one SP an IdPService serves, as SAML metadata.
type spDescriptor struct{ s *IdPService }

func (d spDescriptor) GetServiceProvider(_ *http.Request, id string) (*saml.EntityDescriptor, error) {
	if id != d.s.SPEntityID {
		return nil, os.ErrNotExist
	}
	sp := saml.SPSSODescriptor{}
	sp.ProtocolSupportEnumeration = "urn:oasis:names:tc:SAML:2.0:protocol"
	sp.AssertionConsumerServices = []saml.IndexedEndpoint{{Binding: saml.HTTPPostBinding, Location: d.s.SPACSURL, Index: 0}}
	if d.s.SPLogoutURL != "" {
		sp.SingleLogoutServices = []saml.Endpoint{{Binding: saml.HTTPRedirectBinding, Location: d.s.SPLogoutURL}}
	}
	if d.s.SPCert != nil {
		sp.KeyDescriptors = []saml.KeyDescriptor{{Use: "signing", KeyInfo: saml.KeyInfo{
			X509Data: saml.X509Data{X509Certificates: []saml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(d.s.SPCert.Raw)}}}}}}
	}
	return &saml.EntityDescriptor{EntityID: d.s.SPEntityID, SPSSODescriptors: []saml.SPSSODescriptor{sp}}, nil
}

// idpSessions asks the front end who the browser is, and records each
// AuthnRequest answered.
type idpSessions struct {
	p    *IdP
	s    *IdPService
	auth Authenticate
	end  EndSession
}

func (is *idpSessions) GetSession(w http.ResponseWriter, r *http.Request, req *saml.IdpAuthnRequest) *saml.Session {
	p := is.p
	now := p.clk.Now()
	key := is.s.SPEntityID + " " + req.Request.ID
	if p.wasAnswered(key, now) {
		p.refused(is.s, w, http.StatusBadRequest, fmt.Errorf("AuthnRequest %s was already answered", req.Request.ID))
		return nil
	}
	if is.auth == nil {
		p.refused(is.s, w, http.StatusInternalServerError, errors.New("no authentication"))
		return nil
	}
	var since time.Time
	if req.Request.ForceAuthn != nil && *req.Request.ForceAuthn {
		since = req.Request.IssueInstant.Add(-saml.MaxClockSkew)
	}
	who := is.auth(w, r, since)
	if who == nil {
		return nil
	}
	if !p.answer(key, req.Request.IssueInstant.Add(saml.MaxIssueDelay+saml.MaxClockSkew), now) {
		err := fmt.Errorf("AuthnRequest %s was already answered", req.Request.ID)
		if !p.wasAnswered(key, now) {
			err = fmt.Errorf("too many SAML logins in the last minutes (%d): try again later", maxAnswered)
		}
		p.refused(is.s, w, http.StatusServiceUnavailable, err)
		return nil
	}
	sess := &saml.Session{
		ID: who.SessionIndex, Index: who.SessionIndex, CreateTime: now, ExpireTime: now.Add(is.s.Life),
		NameID: who.NameID, NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
	}
	for _, a := range who.Attributes {
		attr := saml.Attribute{Name: a.Name, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}
		for _, v := range a.Values {
			attr.Values = append(attr.Values, saml.AttributeValue{Type: "xs:string", Value: v})
		}
		sess.CustomAttributes = append(sess.CustomAttributes, attr)
	}
	p.log.Printf(1, "samld: IdP for %q: assertion for %q to %s", is.s.Name, who.NameID, is.s.SPACSURL)
	return sess
}

// InvalidateSession is single logout: crewjam checked the LogoutRequest.
func (is *idpSessions) InvalidateSession(_ http.ResponseWriter, _ *http.Request, req *saml.IdpLogoutRequest) error {
	if is.end == nil {
		return errors.New("no session to end")
	}
	var indexes []string
	for _, si := range req.Request.AllSessionIndexes() {
		indexes = append(indexes, si.Value)
	}
	name := ""
	if req.Request.NameID != nil {
		name = req.Request.NameID.Value
	}
	is.p.log.Printf(1, "samld: IdP for %q: LogoutRequest %s for %q", is.s.Name, req.Request.ID, name)
	return is.end(req.HTTPRequest, name, indexes, true)
}

// Remembered is how many request IDs the IdP holds as answered (at most
// 16384; they go as they expire).
func (p *IdP) Remembered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.answered)
}

// wasAnswered tells whether an AuthnRequest was answered already.
func (p *IdP) wasAnswered(key string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	exp, ok := p.answered[key]
	return ok && exp.After(now)
}

// answer records an AuthnRequest answered until expires; false when it
// already was (two tabs racing with one request see one succeed).
func (p *IdP) answer(key string, expires, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if exp, ok := p.answered[key]; ok && exp.After(now) {
		return false
	}
	if len(p.answered) >= maxAnswered {
		for k, v := range p.answered {
			if !v.After(now) {
				delete(p.answered, k)
			}
		}
		if len(p.answered) >= maxAnswered {
			// Full of live requests (each one an admin's login): refuse
			// rather than forget one.
			return false
		}
	}
	p.answered[key] = expires
	return true
}

// assertionMaker is crewjam's, with the Conditions lasting `life`.
type assertionMaker struct{ life time.Duration }

func (m assertionMaker) MakeAssertion(req *saml.IdpAuthnRequest, session *saml.Session) error {
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, session); err != nil {
		return err
	}
	if a := req.Assertion; a != nil && a.Conditions != nil && m.life > 0 {
		a.Conditions.NotOnOrAfter = a.Conditions.NotBefore.Add(m.life)
	}
	return nil
}

// idpLogger sends crewjam's messages to samld's debug stream.
type idpLogger struct {
	p *IdP
	s *IdPService
}

func (l idpLogger) Printf(format string, v ...any) {
	l.p.log.Printf(1, "samld: IdP for %q: %s", l.s.Name, fmt.Sprintf(format, v...))
}
func (l idpLogger) Print(v ...any) {
	l.p.log.Printf(1, "samld: IdP for %q: %s", l.s.Name, fmt.Sprint(v...))
}
func (l idpLogger) Println(v ...any) { l.Print(v...) }
func (l idpLogger) Fatal(v ...any)   { l.Print(v...) }
func (l idpLogger) Fatalf(format string, v ...any) {
	l.Printf(format, v...)
}
func (l idpLogger) Fatalln(v ...any)               { l.Print(v...) }
func (l idpLogger) Panic(v ...any)                 { l.Print(v...) }
func (l idpLogger) Panicf(format string, v ...any) { l.Printf(format, v...) }
func (l idpLogger) Panicln(v ...any)               { l.Print(v...) }
