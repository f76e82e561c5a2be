package samld

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
)

func TestConsumeAccepts(t *testing.T) {
	for _, c := range []struct {
		name             string
		signResp, signAs bool
		sha1             bool
	}{
		{"both signed", true, true, false},
		{"assertion signed", false, true, false},
		{"response signed", true, false, false},
		{"rsa-sha1", true, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, baseConfig(idpKey(), ""))
			id := l.login()
			r := defaults(id, l.clock.Now())
			r.signResponse, r.signAssert, r.sha1 = c.signResp, c.signAs, c.sha1
			got, err := l.d.Consume("SAML-IPSEC", acsURL, r.encode(t))
			if err != nil {
				t.Fatalf("%v\n%s", err, l.log())
			}
			if got.Server != "SAML-IPSEC" || got.NameID != "alice" || got.User != "alice" || !slices.Equal(got.Groups, []string{"vpn-users", "staff"}) ||
				got.SessionIndex != "_session1" || !got.NotOnOrAfter.Equal(r.sessionNotOnOrAfter.Truncate(time.Second)) || got.RequestID != id {
				t.Fatalf("login %+v", got)
			}
			want := "samld_send_common_reply [95]: Attr: 10, 23, 'username' 'alice'\n" +
				"samld_send_common_reply [95]: Attr: 10, 24, 'group' 'vpn-users'\n" +
				"samld_send_common_reply [95]: Attr: 10, 20, 'group' 'staff'\n"
			if log := l.log(); log != want {
				t.Fatalf("debug\n got %s\nwant %s", log, want)
			}
		})
	}
}

// The public line's figures: 'username' 'testuser' is "Attr: 10, 26".
func TestCommonReplyLineOfTheSeed(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	r := defaults(l.login(), l.clock.Now())
	r.attrs = [][2]string{{"username", "testuser"}}
	if _, err := l.d.Consume("SAML-IPSEC", acsURL, r.encode(t)); err != nil {
		t.Fatal(err)
	}
	if log := l.log(); log != "samld_send_common_reply [95]: Attr: 10, 26, 'username' 'testuser'\n" {
		t.Fatalf("debug %q", log)
	}
}

// refused posts a Response and requires a refusal naming why, in the
// error and in the samld debug stream, and no login.
func refused(t *testing.T, l *lab, acs, resp, why string) {
	t.Helper()
	got, err := l.d.Consume("SAML-IPSEC", acs, resp)
	if err == nil || got != nil {
		t.Fatalf("accepted: %+v", got)
	}
	log := l.log()
	if !strings.Contains(err.Error(), why) || !strings.Contains(log, why) || !strings.HasPrefix(log, "__samld_sp_login_resp: SAML server \"SAML-IPSEC\": ") {
		t.Fatalf("refusal %q, debug %q; want %q", err, log, why)
	}
	if strings.Contains(log, "samld_send_common_reply") {
		t.Fatalf("a refused response logged a reply: %s", log)
	}
}

// Each strict check on its own: one field of a good Response changed.
func TestConsumeRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(r *response, now time.Time)
		acs  string // the URL served, acsURL unless set
		why  string
	}{
		{"unsigned", func(r *response, _ time.Time) { r.signResponse, r.signAssert = false, false }, "", "neither the Response nor the Assertion is signed"},
		{"signed by another key", func(r *response, _ time.Time) { r.key = otherKey() }, "", "Could not verify certificate against trusted certs"},
		{"issuer", func(r *response, _ time.Time) { r.issuer = "http://evil/metadata/" }, "", `Response Issuer "http://evil/metadata/" is not idp-entity-id`},
		{"assertion issuer", func(r *response, _ time.Time) { r.assertionIssuer = "http://evil/metadata/" }, "", `Assertion Issuer "http://evil/metadata/" is not idp-entity-id`},
		{"audience", func(r *response, _ time.Time) { r.audience = "http://other-sp/" }, "", `Audience "http://other-sp/" is not entity-id`},
		{"destination", func(r *response, _ time.Time) { r.destination = "https://127.0.0.1:20443/remote/saml/login" }, "", `Destination "https://127.0.0.1:20443/remote/saml/login" is not the ACS URL served`},
		{"served elsewhere", nil, "https://127.0.0.1:443/remote/saml/login", `Destination "` + acsURL + `" is not the ACS URL served, "https://127.0.0.1:443/remote/saml/login"`},
		{"recipient", func(r *response, _ time.Time) { r.recipient = "https://evil/acs" }, "", `Recipient "https://evil/acs" is not the ACS URL served`},
		{"unknown request", func(r *response, _ time.Time) { r.requestID = "_0123456789ABCDEF0123456789ABCDEF" }, "", `InResponseTo "_0123456789ABCDEF0123456789ABCDEF" is not an AuthnRequest samld sent`},
		{"unsolicited", func(r *response, _ time.Time) { r.requestID = "" }, "", "no InResponseTo: samld takes no IdP-initiated"},
		{"status", func(r *response, _ time.Time) { r.status = "urn:oasis:names:tc:SAML:2.0:status:Responder" }, "", `Status "urn:oasis:names:tc:SAML:2.0:status:Responder" is not Success`},
		{"not yet valid", func(r *response, now time.Time) { r.notBefore = now.Add(16 * time.Second) }, "", "Conditions NotBefore 2025-09-22T17:44:00Z is in the future (appliance clock 2025-09-22T17:43:44Z, clock-tolerance 15s)"},
		{"expired", func(r *response, now time.Time) { r.notOnOrAfter = now.Add(-15 * time.Second) }, "", "Conditions NotOnOrAfter 2025-09-22T17:43:29Z has passed"},
		{"confirmation expired", func(r *response, now time.Time) { r.scdNotOnOrAfter = now.Add(-16 * time.Second) }, "", "SubjectConfirmationData expired at 2025-09-22T17:43:28Z"},
		{"session over", func(r *response, now time.Time) { r.sessionNotOnOrAfter = now.Add(-15 * time.Second) }, "", "SessionNotOnOrAfter 2025-09-22T17:43:29Z has passed"},
		{"issued in the future", func(r *response, now time.Time) { r.issueInstant = now.Add(time.Minute) }, "", "Assertion IssueInstant 2025-09-22T17:44:44Z is in the future"},
		{"no name", func(r *response, _ time.Time) { r.nameID = "" }, "", "no Subject NameID"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, baseConfig(idpKey(), ""))
			r := defaults(l.login(), labStart)
			if c.edit != nil {
				c.edit(&r, labStart)
			}
			acs := c.acs
			if acs == "" {
				acs = acsURL
			}
			resp := r.encode(t)
			// The messages print the appliance clock to the second.
			l.clock.Set(labStart)
			refused(t, l, acs, resp, c.why)
		})
	}
}

// The URL the IdP names and the one served compare as URLs.
func TestSameURL(t *testing.T) {
	for _, c := range []struct {
		named, served string
		same          bool
	}{
		{acsURL, acsURL, true},
		{"https://FGT.example.com/remote/saml/login", "https://fgt.example.com:443/remote/saml/login", true},
		{"HTTPS://127.0.0.1:1001/remote/saml/login", acsURL, true},
		{"http://[::1]:80/remote/saml/login", "http://[::1]/remote/saml/login", true},
		{"https://127.0.0.1:1002/remote/saml/login", acsURL, false},
		{"http://127.0.0.1:1001/remote/saml/login", acsURL, false},
		{"https://127.0.0.1:1001/remote/saml/login/", acsURL, false},
		{"https://127.0.0.1:1001/remote/saml/LOGIN", acsURL, false},
		{"https://x@127.0.0.1:1001/remote/saml/login", acsURL, false},
		{"", acsURL, false},
	} {
		if got := sameURL(c.named, c.served); got != c.same {
			t.Errorf("sameURL(%q, %q) = %v", c.named, c.served, got)
		}
	}
}

// The IdP certificate must be valid on the appliance clock.
func TestIdPCertExpired(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	late := time.Date(2045, 6, 1, 0, 0, 0, 0, time.UTC)
	l.clock.Set(late)
	r := defaults(l.login(), late)
	refused(t, l, acsURL, r.encode(t), "Cert is not valid at this time")
}

// A NotBefore within clock-tolerance is taken; clock-tolerance 0 takes none.
func TestClockTolerance(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	r := defaults(l.login(), labStart)
	r.notBefore = labStart.Add(15 * time.Second)
	l.clock.Set(labStart)
	if _, err := l.d.Consume("SAML-IPSEC", acsURL, r.encode(t)); err != nil {
		t.Fatalf("within tolerance: %v", err)
	}
	l.apply("config user saml\nedit SAML-IPSEC\nset clock-tolerance 0\nnext\nend\n")
	r = defaults(l.login(), labStart)
	r.notBefore = labStart.Add(time.Second)
	resp := r.encode(t)
	l.clock.Set(labStart)
	refused(t, l, acsURL, resp, "is in the future (appliance clock 2025-09-22T17:43:44Z, clock-tolerance 0s)")
}

// The appliance clock governs validity: advancing it past NotOnOrAfter
// refuses a Response that was good when issued.
func TestApplianceClockGoverns(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	resp := defaults(l.login(), labStart).encode(t)
	l.clock.Set(labStart.Add(5*time.Minute + 15*time.Second))
	refused(t, l, acsURL, resp, "SubjectConfirmationData expired at 2025-09-22T17:48:44Z (appliance clock 2025-09-22T17:48:59Z, clock-tolerance 15s)")
}

// An AuthnRequest not answered within its lifetime is forgotten.
func TestRequestExpires(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	id := l.login()
	l.clock.Advance(requestLifetime)
	r := defaults(id, l.clock.Now())
	refused(t, l, acsURL, r.encode(t), fmt.Sprintf("InResponseTo %q is not an AuthnRequest samld sent and has not seen answered", id))
}

// The same Response twice: the replay cache refuses it.
func TestReplay(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	id := l.login()
	resp := defaults(id, labStart).encode(t)
	l.clock.Set(labStart)
	if _, err := l.d.Consume("SAML-IPSEC", acsURL, resp); err != nil {
		t.Fatal(err)
	}
	l.log()
	refused(t, l, acsURL, resp, "was already used (replay)")
	// Forgotten once it could no longer be taken anyway (NotOnOrAfter
	// and clock-tolerance passed).
	l.clock.Set(labStart.Add(5*time.Minute + 16*time.Second))
	if l.d.seen("_asrt"+id, l.clock.Now()) || len(l.d.replay) != 0 {
		t.Fatalf("replay cache %v", l.d.replay)
	}
}

// A second, different Response to a request already answered.
func TestRequestAnsweredOnce(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	id := l.login()
	if _, err := l.d.Consume("SAML-IPSEC", acsURL, defaults(id, l.clock.Now()).encode(t)); err != nil {
		t.Fatal(err)
	}
	l.log()
	r := defaults(id, l.clock.Now())
	r.assertionID = "_another"
	refused(t, l, acsURL, r.encode(t), "is not an AuthnRequest samld sent and has not seen answered")
}

// Racing posts of one Response: exactly one login.
func TestConcurrentReplay(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	resp := defaults(l.login(), l.clock.Now()).encode(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.d.Consume("SAML-IPSEC", acsURL, resp); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d logins from one Response", ok)
	}
}

func TestRequireBothSigned(t *testing.T) {
	for _, c := range []struct {
		signResp, signAs bool
		why              string
	}{
		{false, true, "the Response is not signed (require-signed-resp-and-asrt enable)"},
		{true, false, "the Assertion is not signed (require-signed-resp-and-asrt enable)"},
	} {
		l := newLab(t, baseConfig(idpKey(), "        set require-signed-resp-and-asrt enable\n"))
		r := defaults(l.login(), l.clock.Now())
		r.signResponse, r.signAssert = c.signResp, c.signAs
		refused(t, l, acsURL, r.encode(t), c.why)
	}
	l := newLab(t, baseConfig(idpKey(), "        set require-signed-resp-and-asrt enable\n"))
	if _, err := l.d.Consume("SAML-IPSEC", acsURL, defaults(l.login(), l.clock.Now()).encode(t)); err != nil {
		t.Fatal(err)
	}
}

// A signature refusal reads as lasso's ret=440 on FortiOS.
func TestSignatureRefusalLine(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	r := defaults(l.login(), l.clock.Now())
	r.signResponse, r.signAssert = false, false
	if _, err := l.d.Consume("SAML-IPSEC", acsURL, r.encode(t)); err == nil {
		t.Fatal("accepted")
	}
	if log := l.log(); !strings.Contains(log, "Failed to process response message. ret=440(The profile cannot verify a signature on the message): neither") {
		t.Fatalf("debug %q", log)
	}
}

// edited signs a good Response, then lets edit change the tree.
func edited(t *testing.T, l *lab, r response, edit func(root *etree.Element)) string {
	doc := r.document(t)
	edit(doc.Root())
	return encode(t, doc)
}

func assertionOf(root *etree.Element) *etree.Element { return root.SelectElement("Assertion") }

func nameIDOf(a *etree.Element) *etree.Element {
	return a.SelectElement("Subject").SelectElement("NameID")
}

// Changing what was signed breaks the digest.
func TestTamperedAfterSigning(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	r := defaults(l.login(), l.clock.Now())
	r.signResponse = false
	refused(t, l, acsURL, edited(t, l, r, func(root *etree.Element) { nameIDOf(assertionOf(root)).SetText("admin") }), "Assertion signature by idp-cert \"REMOTE_Cert_3\": Signature could not be verified")
}

// The canonicalisation attack: a comment splits the NameID without
// changing the signed canonical form.
func TestCommentInNameID(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	r := defaults(l.login(), l.clock.Now())
	r.nameID = "admin@example.com.evil.org"
	resp := edited(t, l, r, func(root *etree.Element) {
		n := nameIDOf(assertionOf(root))
		n.SetText("admin@example.com")
		n.CreateComment("")
		n.CreateText(".evil.org")
	})
	refused(t, l, acsURL, resp, "a comment inside <saml:NameID> (XML canonicalisation attack)")
}

func TestCommentInAttributeValue(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	r := defaults(l.login(), l.clock.Now())
	resp := edited(t, l, r, func(root *etree.Element) {
		v := assertionOf(root).SelectElement("AttributeStatement").SelectElement("Attribute").SelectElement("AttributeValue")
		v.CreateComment("x")
	})
	refused(t, l, acsURL, resp, "a comment inside <saml:AttributeValue>")
}

func TestEncryptedAssertion(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	r := defaults(l.login(), l.clock.Now())
	r.signAssert = false
	resp := edited(t, l, r, func(root *etree.Element) {
		a := assertionOf(root)
		root.RemoveChild(a)
		ea := root.CreateElement("saml:EncryptedAssertion")
		ea.CreateAttr("xmlns:saml", nsAssertion)
		ea.CreateElement("xenc:EncryptedData").CreateAttr("xmlns:xenc", "http://www.w3.org/2001/04/xmlenc#")
	})
	refused(t, l, acsURL, resp, "not simulated yet: EncryptedAssertion")
}

func TestDoctypeRefused(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	r := defaults(l.login(), l.clock.Now())
	doc := r.document(t)
	b, _ := doc.WriteToString()
	text := `<!DOCTYPE r [<!ENTITY e "x">]>` + b
	refused(t, l, acsURL, b64(text), "a DTD or directive")
}

func TestDeepNesting(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	deep := `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">` + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + `</samlp:Response>`
	refused(t, l, acsURL, b64(deep), "elements nested over 48 deep")
}
