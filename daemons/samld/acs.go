package samld

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// maxResponse bounds the SAMLResponse text (base64) samld decodes, and
// maxDepth the nesting of its elements (a Response needs about ten; the
// signature code after the shape check recurses).
const (
	maxResponse = 512 << 10
	maxDepth    = 48
)

// Namespaces of what the IdP posts.
const (
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"
	// bearer is the only subject confirmation of the Web Browser SSO
	// profile (saml-profiles §4.1.4.2).
	bearer = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
)

// Login is an accepted SAML login.
type Login struct {
	Server, NameID, SessionIndex string
	// User is the value of the user-name attribute; "" when the assertion
	// has none (authd falls back to the FortiClient UID, as FortiOS does).
	User string
	// Groups are the values of the group-name attribute.
	Groups     []string
	Attributes map[string][]string
	// NotOnOrAfter is the AuthnStatement's SessionNotOnOrAfter, zero when
	// absent.
	NotOnOrAfter time.Time
	// NameIDFormat and RequestID (the AuthnRequest answered) are kept for
	// the LogoutRequest.
	NameIDFormat, RequestID string
}

// refusal is why a Response is refused; signature says it is one of the
// signature checks (lasso's ret=440 on FortiOS).
type refusal struct {
	reason    string
	signature bool
}

func (r *refusal) Error() string { return "SAML response refused: " + r.reason }

func refuse(format string, args ...any) *refusal {
	return &refusal{reason: fmt.Sprintf(format, args...)}
}

func refuseSignature(format string, args ...any) *refusal {
	return &refusal{reason: fmt.Sprintf(format, args...), signature: true}
}

// Consume verifies a SAMLResponse (base64, as posted to the ACS in the
// HTTP-POST binding) for server; acsURL is the URL the appliance served
// the POST on. Every refusal returns an error and logs a samld debug line
// saying why; only a Response passing every check gives a Login.
func (d *Daemon) Consume(server, acsURL, samlResponse string) (*Login, error) {
	s, err := d.server(server)
	if err != nil {
		if log := d.logger(); log != nil {
			log.Printf(1, "__samld_sp_login_resp: response refused: %v", err)
		}
		return nil, err
	}
	return d.consumeLogged(s, acsURL, samlResponse)
}

// consumeLogged is Consume once the server is known.
func (d *Daemon) consumeLogged(s *Server, acsURL, samlResponse string) (*Login, error) {
	login, err := d.consume(s, acsURL, samlResponse)
	if err != nil {
		r := &refusal{reason: err.Error()}
		errors.As(err, &r)
		if r.signature {
			// lasso's error as FortiOS reports it (FIDELITY.md); the
			// detail after it is fosim's.
			d.log.Printf(1, "__samld_sp_login_resp: SAML server %q: Failed to process response message. ret=440(The profile cannot verify a signature on the message): %s", s.Name, r.reason)
		} else {
			// FortiOS's wording of these refusals is not public: fosim's.
			d.log.Printf(1, "__samld_sp_login_resp: SAML server %q: response refused: %s", s.Name, r.reason)
		}
		return nil, err
	}
	// samld_send_common_reply [95] is FortiOS's source line (FIDELITY.md),
	// a copied constant. "Attr: 10, 26" for 'username' 'testuser' is the
	// public line; fosim's reading of it (a guess) is type 10 and length
	// 10 + len(name) + len(value), which gives 26 there. The group line
	// has the same shape: also a guess.
	userAttr := s.UserAttr
	if userAttr == "" {
		userAttr = "username"
	}
	if login.User != "" {
		d.log.Printf(1, "samld_send_common_reply [95]: Attr: 10, %d, '%s' '%s'", 10+len(userAttr)+len(login.User), userAttr, login.User)
	}
	for _, g := range login.Groups {
		d.log.Printf(1, "samld_send_common_reply [95]: Attr: 10, %d, '%s' '%s'", 10+len(s.GroupAttr)+len(g), s.GroupAttr, g)
	}
	return login, nil
}

func (d *Daemon) consume(s *Server, acsURL, samlResponse string) (*Login, error) {
	if s.IdPCert == nil {
		return nil, refuseSignature("SAML server has no idp-cert to verify the IdP's signature with")
	}
	now := d.clock().Now()
	doc, err := parseResponse(samlResponse)
	if err != nil {
		return nil, err
	}
	root := doc.Root()
	shape, err := checkShape(root)
	if err != nil {
		return nil, err
	}
	// A failure status carries no assertion: say what the IdP said.
	if code := statusCode(root); code != saml.StatusSuccess {
		return nil, refuse("Status %q is not Success", code)
	}
	if shape.assertion == nil {
		return nil, refuse("no Assertion in the Response")
	}
	if shape.responseSig == nil && shape.assertionSig == nil {
		return nil, refuseSignature("neither the Response nor the Assertion is signed")
	}
	if s.RequireBothSigned && (shape.responseSig == nil || shape.assertionSig == nil) {
		which := "Response"
		if shape.assertionSig == nil {
			which = "Assertion"
		}
		return nil, refuseSignature("the %s is not signed (require-signed-resp-and-asrt enable)", which)
	}
	vc := &dsig.ValidationContext{
		CertificateStore: &dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{s.IdPCert}},
		IdAttribute:      dsig.DefaultIdAttr,
		Clock:            dsig.NewFakeClockAt(now),
	}
	// Only what a signature covers is read: the verified copies that
	// goxmldsig returns, never the posted tree.
	response := root
	var assertion *etree.Element
	if shape.assertionSig != nil {
		if err := checkReference(shape.assertionSig, shape.assertion); err != nil {
			return nil, refuseSignature("Assertion signature: %v", err)
		}
		if assertion, err = vc.Validate(detached(shape.assertion)); err != nil {
			return nil, refuseSignature("Assertion signature by idp-cert %q: %v", s.IdPCertName, err)
		}
	}
	if shape.responseSig != nil {
		if err := checkReference(shape.responseSig, root); err != nil {
			return nil, refuseSignature("Response signature: %v", err)
		}
		if response, err = vc.Validate(root); err != nil {
			return nil, refuseSignature("Response signature by idp-cert %q: %v", s.IdPCertName, err)
		}
		inner := childrenNS(response, nsAssertion, "Assertion")
		if len(inner) != 1 {
			return nil, refuseSignature("the signed Response holds %d Assertions", len(inner))
		}
		if assertion == nil {
			assertion = inner[0]
		}
	}
	if err := checkResponse(s, response, acsURL); err != nil {
		return nil, err
	}
	a, err := decodeAssertion(assertion)
	if err != nil {
		return nil, err
	}
	requestID := attr(response, "InResponseTo")
	login, expires, err := checkAssertion(s, a, acsURL, requestID, now)
	if err != nil {
		return nil, err
	}
	login.RequestID = requestID
	if d.seen(a.ID, now) {
		return nil, refuse("Assertion %s was already used (replay)", a.ID)
	}
	if !d.checkOutstanding(requestID, s.Name, false, now, false) {
		return nil, refuse("InResponseTo %q is not an AuthnRequest samld sent and has not seen answered", requestID)
	}
	if !d.accept(a.ID, expires, requestID, s.Name, now) {
		return nil, refuse("Assertion %s or its request was used at the same time (replay)", a.ID)
	}
	return login, nil
}

// parseResponse decodes and parses the posted Response: no DTD, one root.
func parseResponse(samlResponse string) (*etree.Document, error) {
	if len(samlResponse) > maxResponse {
		return nil, refuse("SAMLResponse of %d bytes is over the %d-byte limit", len(samlResponse), maxResponse)
	}
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, samlResponse)
	raw, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, refuse("SAMLResponse is not base64: %v", err)
	}
	doc := etree.NewDocument()
	doc.ReadSettings.Permissive = false
	if err := doc.ReadFromBytes(raw); err != nil {
		return nil, refuse("SAMLResponse is not XML: %v", err)
	}
	for _, tok := range doc.Child {
		if dir, ok := tok.(*etree.Directive); ok {
			return nil, refuse("a DTD or directive (<!%.20s…>) in the Response", dir.Data)
		}
	}
	root := doc.Root()
	if root == nil || root.NamespaceURI() != nsProtocol || root.Tag != "Response" {
		return nil, refuse("the document is not a samlp:Response")
	}
	return doc, nil
}

// shape is where the parts of a Response are, after checkShape.
type shape struct {
	assertion                 *etree.Element
	responseSig, assertionSig *etree.Element
}

// checkShape refuses the documents signature wrapping (XSW) and the
// canonicalisation attacks build: samld reads only a Response with at
// most one Assertion, as its direct child, signatures only as direct
// children of the Response or the Assertion, unique IDs, and no comments
// at all (a comment in a NameID splits the text without breaking the
// signature, which exclusive c14n computes without comments).
func checkShape(root *etree.Element) (*shape, error) {
	sh := &shape{}
	ids := map[string]bool{}
	var assertions, encrypted, misplacedSigs int
	var walk func(el *etree.Element, parent *etree.Element, depth int) error
	walk = func(el *etree.Element, parent *etree.Element, depth int) error {
		if depth > maxDepth {
			return refuse("elements nested over %d deep", maxDepth)
		}
		for _, tok := range el.Child {
			switch t := tok.(type) {
			case *etree.Comment:
				return refuse("a comment inside <%s> (XML canonicalisation attack)", el.FullTag())
			case *etree.ProcInst:
				return refuse("a processing instruction inside <%s>", el.FullTag())
			case *etree.Directive:
				return refuse("a directive inside <%s>", el.FullTag())
			case *etree.Element:
				if err := walk(t, el, depth+1); err != nil {
					return err
				}
			}
		}
		for _, a := range el.Attr {
			// A prefixed ID ("x:ID") counts too: etree and goxmldsig
			// match attributes without regard to their prefix.
			if a.Key == "ID" {
				if a.Space != "" {
					return refuse("a prefixed ID attribute %s:ID (signature wrapping)", a.Space)
				}
				if ids[a.Value] {
					return refuse("ID %q appears twice in the Response (signature wrapping)", a.Value)
				}
				ids[a.Value] = true
			}
		}
		ns := el.NamespaceURI()
		switch {
		case ns == nsAssertion && el.Tag == "Assertion":
			assertions++
			if parent == root {
				sh.assertion = el
			}
		case ns == nsAssertion && el.Tag == "EncryptedAssertion":
			encrypted++
		case ns == nsDSig && el.Tag == "Signature":
			switch {
			case parent == root && sh.responseSig == nil:
				sh.responseSig = el
			case parent != nil && parent.Parent() == root && parent.NamespaceURI() == nsAssertion && parent.Tag == "Assertion":
				if sh.assertionSig != nil {
					misplacedSigs++
				}
				sh.assertionSig = el
			default:
				misplacedSigs++
			}
		}
		return nil
	}
	if err := walk(root, nil, 0); err != nil {
		return nil, err
	}
	switch {
	case encrypted > 0:
		return nil, refuse("not simulated yet: EncryptedAssertion (configure the IdP to send the assertion unencrypted)")
	case assertions > 1:
		return nil, refuseSignature("%d Assertions in the Response (signature wrapping)", assertions)
	case assertions == 1 && sh.assertion == nil:
		return nil, refuseSignature("the Assertion is not a direct child of the Response (signature wrapping)")
	case misplacedSigs > 0:
		return nil, refuseSignature("a Signature outside the Response and Assertion it must sign (signature wrapping)")
	}
	if sh.assertionSig != nil && sh.assertionSig.Parent() != sh.assertion {
		return nil, refuseSignature("the Assertion signature is not in the Assertion")
	}
	return sh, nil
}

// checkReference requires a signature to have exactly one Reference, to
// the element it is enveloped in, by that element's ID: goxmldsig also
// takes an empty URI (the whole document), which samld never needs.
func checkReference(sig, signed *etree.Element) error {
	si := childrenNS(sig, nsDSig, "SignedInfo")
	if len(si) != 1 {
		return errors.New("no single SignedInfo")
	}
	refs := childrenNS(si[0], nsDSig, "Reference")
	if len(refs) != 1 {
		return fmt.Errorf("%d References, want 1", len(refs))
	}
	id := attr(signed, "ID")
	if id == "" || attr(refs[0], "URI") != "#"+id {
		return fmt.Errorf("Reference URI %q does not name the signed element (ID %q)", attr(refs[0], "URI"), id)
	}
	return nil
}

func statusCode(resp *etree.Element) string {
	st := childrenNS(resp, nsProtocol, "Status")
	if len(st) != 1 {
		return ""
	}
	codes := childrenNS(st[0], nsProtocol, "StatusCode")
	if len(codes) != 1 {
		return ""
	}
	code := attr(codes[0], "Value")
	if code != saml.StatusSuccess {
		// The second-level code says why (saml-core §3.2.2.2).
		if sub := childrenNS(codes[0], nsProtocol, "StatusCode"); len(sub) == 1 {
			code += " / " + attr(sub[0], "Value")
		}
	}
	return code
}

// checkResponse checks the Response's own fields: its Issuer and its
// Destination (the ACS URL actually served).
func checkResponse(s *Server, resp *etree.Element, acsURL string) error {
	if v := attr(resp, "Version"); v != "2.0" {
		return refuse("Response Version %q is not 2.0", v)
	}
	if dest := attr(resp, "Destination"); !sameURL(dest, acsURL) {
		return refuse("Destination %q is not the ACS URL served, %q", dest, acsURL)
	}
	issuers := childrenNS(resp, nsAssertion, "Issuer")
	if len(issuers) > 1 {
		return refuse("%d Issuers in the Response", len(issuers))
	}
	if len(issuers) == 1 && strings.TrimSpace(issuers[0].Text()) != s.IdPEntityID {
		return refuse("Response Issuer %q is not idp-entity-id %q", strings.TrimSpace(issuers[0].Text()), s.IdPEntityID)
	}
	if attr(resp, "InResponseTo") == "" {
		return refuse("no InResponseTo: samld takes no IdP-initiated (unsolicited) Response")
	}
	return nil
}

// decodeAssertion reads the verified Assertion into crewjam's types after
// checking that the elements read once appear once (encoding/xml would
// let a second one overwrite the first).
func decodeAssertion(el *etree.Element) (*saml.Assertion, error) {
	for _, once := range []string{"Issuer", "Subject", "Conditions"} {
		if n := len(childrenNS(el, nsAssertion, once)); n > 1 {
			return nil, refuse("%d %s elements in the Assertion", n, once)
		}
	}
	if subj := childrenNS(el, nsAssertion, "Subject"); len(subj) == 1 {
		if n := len(childrenNS(subj[0], nsAssertion, "NameID")); n != 1 {
			return nil, refuse("%d NameIDs in the Subject", n)
		}
		for _, sc := range childrenNS(subj[0], nsAssertion, "SubjectConfirmation") {
			if n := len(childrenNS(sc, nsAssertion, "SubjectConfirmationData")); n > 1 {
				return nil, refuse("%d SubjectConfirmationData in a SubjectConfirmation", n)
			}
		}
	}
	doc := etree.NewDocument()
	doc.SetRoot(detached(el))
	raw, err := doc.WriteToBytes()
	if err != nil {
		return nil, refuse("Assertion: %v", err)
	}
	var a saml.Assertion
	if err := xml.Unmarshal(raw, &a); err != nil {
		return nil, refuse("Assertion: %v", err)
	}
	return &a, nil
}

// checkAssertion checks the verified Assertion against the server and the
// appliance clock (with clock-tolerance) and reads the login from it.
// expires is how long its ID must be remembered against a replay.
func checkAssertion(s *Server, a *saml.Assertion, acsURL, requestID string, now time.Time) (*Login, time.Time, error) {
	tol := s.ClockTolerance
	var expires time.Time
	if a.ID == "" {
		return nil, expires, refuse("the Assertion has no ID")
	}
	if a.Version != "2.0" {
		return nil, expires, refuse("Assertion Version %q is not 2.0", a.Version)
	}
	if iss := strings.TrimSpace(a.Issuer.Value); iss != s.IdPEntityID {
		return nil, expires, refuse("Assertion Issuer %q is not idp-entity-id %q", iss, s.IdPEntityID)
	}
	if a.IssueInstant.IsZero() {
		return nil, expires, refuse("the Assertion has no IssueInstant")
	}
	if a.IssueInstant.After(now.Add(tol)) {
		return nil, expires, refuse("Assertion IssueInstant %s is in the future (appliance clock %s, clock-tolerance %v)", samlTime(a.IssueInstant), samlTime(now), tol)
	}
	if a.Subject == nil || a.Subject.NameID == nil || strings.TrimSpace(a.Subject.NameID.Value) == "" {
		return nil, expires, refuse("the Assertion has no Subject NameID")
	}
	// One bearer confirmation must hold (saml-profiles §4.1.4.3).
	confirmed, why := false, "no bearer SubjectConfirmation"
	for _, sc := range a.Subject.SubjectConfirmations {
		if sc.Method != bearer {
			continue
		}
		scd := sc.SubjectConfirmationData
		switch {
		case scd == nil:
			why = "a bearer SubjectConfirmation without SubjectConfirmationData"
		case !sameURL(scd.Recipient, acsURL):
			why = fmt.Sprintf("SubjectConfirmationData Recipient %q is not the ACS URL served, %q", scd.Recipient, acsURL)
		case scd.InResponseTo != requestID:
			why = fmt.Sprintf("SubjectConfirmationData InResponseTo %q is not the Response's %q", scd.InResponseTo, requestID)
		case scd.NotOnOrAfter.IsZero():
			why = "SubjectConfirmationData has no NotOnOrAfter"
		case !now.Before(scd.NotOnOrAfter.Add(tol)):
			why = fmt.Sprintf("SubjectConfirmationData expired at %s (appliance clock %s, clock-tolerance %v)", samlTime(scd.NotOnOrAfter), samlTime(now), tol)
		case !scd.NotBefore.IsZero() && now.Add(tol).Before(scd.NotBefore):
			why = fmt.Sprintf("SubjectConfirmationData is not valid before %s (appliance clock %s, clock-tolerance %v)", samlTime(scd.NotBefore), samlTime(now), tol)
		default:
			confirmed = true
			expires = scd.NotOnOrAfter.Add(tol)
		}
		if confirmed {
			break
		}
	}
	if !confirmed {
		return nil, expires, refuse("%s", why)
	}
	c := a.Conditions
	if c == nil {
		return nil, expires, refuse("the Assertion has no Conditions (an AudienceRestriction is required)")
	}
	if !c.NotBefore.IsZero() && now.Add(tol).Before(c.NotBefore) {
		return nil, expires, refuse("Conditions NotBefore %s is in the future (appliance clock %s, clock-tolerance %v)", samlTime(c.NotBefore), samlTime(now), tol)
	}
	if !c.NotOnOrAfter.IsZero() {
		if !now.Before(c.NotOnOrAfter.Add(tol)) {
			return nil, expires, refuse("Conditions NotOnOrAfter %s has passed (appliance clock %s, clock-tolerance %v)", samlTime(c.NotOnOrAfter), samlTime(now), tol)
		}
		if e := c.NotOnOrAfter.Add(tol); e.After(expires) {
			expires = e
		}
	}
	if len(c.UnknownConditions) > 0 {
		return nil, expires, refuse("unknown condition %s in the Assertion", c.UnknownConditions[0].Local)
	}
	if len(c.AudienceRestrictions) == 0 {
		return nil, expires, refuse("the Assertion has no AudienceRestriction")
	}
	// Every AudienceRestriction must name this SP (saml-core §2.5.1.4).
	for _, ar := range c.AudienceRestrictions {
		ok := false
		var seen []string
		for _, au := range ar.AllAudiences() {
			seen = append(seen, au.Value)
			if strings.TrimSpace(au.Value) == s.EntityID {
				ok = true
			}
		}
		if !ok {
			return nil, expires, refuse("Audience %q is not entity-id %q", strings.Join(seen, " "), s.EntityID)
		}
	}
	if len(a.AuthnStatements) == 0 {
		return nil, expires, refuse("the Assertion has no AuthnStatement")
	}
	login := &Login{Server: s.Name, NameID: strings.TrimSpace(a.Subject.NameID.Value), NameIDFormat: a.Subject.NameID.Format, Attributes: map[string][]string{}}
	st := a.AuthnStatements[0]
	login.SessionIndex = st.SessionIndex
	if st.SessionNotOnOrAfter != nil && !st.SessionNotOnOrAfter.IsZero() {
		if !now.Before(st.SessionNotOnOrAfter.Add(tol)) {
			return nil, expires, refuse("SessionNotOnOrAfter %s has passed (appliance clock %s, clock-tolerance %v)", samlTime(*st.SessionNotOnOrAfter), samlTime(now), tol)
		}
		login.NotOnOrAfter = *st.SessionNotOnOrAfter
	}
	for _, as := range a.AttributeStatements {
		for _, at := range as.Attributes {
			for _, v := range at.Values {
				login.Attributes[at.Name] = append(login.Attributes[at.Name], v.Value)
			}
		}
	}
	if s.UserAttr != "" {
		if v := login.Attributes[s.UserAttr]; len(v) > 0 {
			login.User = v[0]
		}
	}
	if s.GroupAttr != "" {
		login.Groups = login.Attributes[s.GroupAttr]
	}
	if max := now.Add(maxReplayLifetime); expires.After(max) {
		expires = max
	}
	return login, expires, nil
}

// sameURL compares an URL the IdP names with the one served: scheme and
// host without regard to case, a default port (443, 80) written or not,
// the rest exactly.
func sameURL(named, served string) bool {
	if named == served {
		return true
	}
	a, errA := url.Parse(named)
	b, errB := url.Parse(served)
	if errA != nil || errB != nil || a.Opaque != "" || b.Opaque != "" || a.User != nil || b.User != nil {
		return false
	}
	norm := func(u *url.URL) string {
		scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
		if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
			port = ""
		}
		if port != "" {
			host = net.JoinHostPort(host, port)
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		return scheme + "://" + host + u.EscapedPath() + "?" + u.RawQuery
	}
	return norm(a) == norm(b)
}

// detached copies el out of its document with the namespace
// declarations in scope at el (IdPs such as pysaml2 declare them on the
// Response only), so that the copy reads and canonicalises as el does.
func detached(el *etree.Element) *etree.Element {
	c := el.Copy()
	declared := map[string]bool{}
	for _, a := range c.Attr {
		switch {
		case a.Space == "xmlns":
			declared[a.Key] = true
		case a.Space == "" && a.Key == "xmlns":
			declared[""] = true
		}
	}
	for p := el.Parent(); p != nil; p = p.Parent() {
		for _, a := range p.Attr {
			switch {
			case a.Space == "xmlns" && !declared[a.Key]:
				declared[a.Key] = true
				c.CreateAttr("xmlns:"+a.Key, a.Value)
			case a.Space == "" && a.Key == "xmlns" && !declared[""]:
				declared[""] = true
				c.CreateAttr("xmlns", a.Value)
			}
		}
	}
	return c
}

// attr is an unprefixed attribute of el (etree's SelectAttr matches any
// prefix).
func attr(el *etree.Element, key string) string {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == key {
			return a.Value
		}
	}
	return ""
}

// childrenNS are el's child elements of a namespace and local name.
func childrenNS(el *etree.Element, ns, tag string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}
