package samld

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/debuglog"
	"github.com/fosim/fosim/grammar"
)

// Seed 001's SAML server, on loopback addresses.
const (
	spEntityID  = "http://127.0.0.1:1001/remote/saml/metadata/"
	acsURL      = "https://127.0.0.1:1001/remote/saml/login"
	spLogoutURL = "https://127.0.0.1:1001/remote/saml/logout"
	idpEntityID = "http://127.0.0.2/saml-idp/ipsec/metadata/"
	idpLoginURL = "https://127.0.0.2/saml-idp/ipsec/login/"
	idpLogout   = "https://127.0.0.2/saml-idp/ipsec/logout/"
)

// testKey is an RSA key and its self-signed certificate.
type testKey struct {
	key     *rsa.PrivateKey
	cert    *x509.Certificate
	certPEM string
	keyPEM  string
}

var (
	keysOnce sync.Once
	keys     [2]*testKey // the IdP's, and another
)

// loadTestKey reads testdata/NAME-key.pem and NAME-cert.pem: fixed test
// keys (valid 2020-2045), so that the fuzz corpus stays signed by the
// IdP the tests trust.
func loadTestKey(name string) *testKey {
	certPEM, err := os.ReadFile("testdata/" + name + "-cert.pem")
	if err != nil {
		panic(err)
	}
	keyPEM, err := os.ReadFile("testdata/" + name + "-key.pem")
	if err != nil {
		panic(err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	c, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		panic(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		panic(err)
	}
	return &testKey{key: k.(*rsa.PrivateKey), cert: c, certPEM: string(certPEM), keyPEM: string(keyPEM)}
}

// idpKey is the test IdP's signing key; otherKey one it must not trust.
func idpKey() *testKey   { keysOnce.Do(initKeys); return keys[0] }
func otherKey() *testKey { keysOnce.Do(initKeys); return keys[1] }
func initKeys()          { keys[0], keys[1] = loadTestKey("idp"), loadTestKey("other") }

// baseConfig is seed 001's user saml entry with the IdP's certificate.
func baseConfig(idp *testKey, extra string) string {
	return fmt.Sprintf(`config vpn certificate remote
    edit "REMOTE_Cert_3"
        set remote %s
    next
end
config user saml
    edit "SAML-IPSEC"
        set cert "Fortinet_CA_SSL"
        set entity-id %q
        set single-sign-on-url %q
        set single-logout-url %q
        set idp-entity-id %q
        set idp-single-sign-on-url %q
        set idp-single-logout-url %q
        set idp-cert "REMOTE_Cert_3"
        set user-name "username"
        set group-name "group"
        set digest-method sha1
        set reauth enable
%s    next
end
`, grammar.Quote(strings.TrimSpace(idp.certPEM)), spEntityID, acsURL, spLogoutURL, idpEntityID, idpLoginURL, idpLogout, extra)
}

// lab is samld on a test store with its own clock and debug stream.
type lab struct {
	t     testing.TB
	st    *cmdb.Store
	clock *clock.Clock
	d     *Daemon
	sup   *daemons.Supervisor

	mu  sync.Mutex
	out bytes.Buffer
}

func (l *lab) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.Write(p)
}

// log returns the samld debug stream so far and clears it.
func (l *lab) log() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.out.String()
	l.out.Reset()
	return s
}

// labStart is the appliance clock of a new lab (seed 001's date).
var labStart = time.Date(2025, 9, 22, 17, 43, 44, 0, time.UTC)

func newLab(t testing.TB, config string) *lab {
	t.Helper()
	l := &lab{t: t, st: cmdbtest.Store(t), clock: clock.New(time.UTC)}
	l.clock.Set(labStart)
	cmdbtest.Apply(t, l.st, config)
	hub := debuglog.New(l.clock.Now)
	ds := hub.Attach(l)
	ds.Enable(true)
	ds.SetLevel("samld", -1)
	l.d = New()
	l.sup = daemons.NewSupervisor(&daemons.Runtime{Store: l.st, Clock: l.clock, Debug: hub}, l.d)
	if err := l.sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.sup.Stop(5 * time.Second); err != nil {
			t.Error(err)
		}
	})
	return l
}

// login starts a login and returns its AuthnRequest ID.
func (l *lab) login() string {
	l.t.Helper()
	r, err := l.d.Login("SAML-IPSEC", "magic=040c048995bc76ba")
	if err != nil {
		l.t.Fatal(err)
	}
	l.log()
	return r.RequestID
}

// decodeRedirect inflates a Redirect-binding message parameter.
func decodeRedirect(t testing.TB, rawURL, param string) (string, url.Values) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	comp, err := base64.StdEncoding.DecodeString(q.Get(param))
	if err != nil {
		t.Fatal(err)
	}
	xml, err := io.ReadAll(flate.NewReader(bytes.NewReader(comp)))
	if err != nil {
		t.Fatal(err)
	}
	return string(xml), q
}

// response is what the test IdP answers; the zero time fields take
// defaults around the lab clock.
type response struct {
	requestID                string
	responseID, assertionID  string
	destination, recipient   string
	issuer, assertionIssuer  string
	audience                 string
	nameID                   string
	status                   string
	issueInstant             time.Time
	notBefore, notOnOrAfter  time.Time
	scdNotOnOrAfter          time.Time
	sessionNotOnOrAfter      time.Time
	noSession                bool
	attrs                    [][2]string
	signResponse, signAssert bool
	key                      *testKey
	sha1                     bool
}

// defaults fills a response for requestID on the lab clock at now.
func defaults(requestID string, now time.Time) response {
	return response{requestID: requestID, responseID: "_resp" + requestID, assertionID: "_asrt" + requestID,
		destination: acsURL, recipient: acsURL, issuer: idpEntityID, assertionIssuer: idpEntityID, audience: spEntityID,
		nameID: "alice", status: "urn:oasis:names:tc:SAML:2.0:status:Success",
		issueInstant: now, notBefore: now.Add(-time.Minute), notOnOrAfter: now.Add(5 * time.Minute),
		scdNotOnOrAfter: now.Add(5 * time.Minute), sessionNotOnOrAfter: now.Add(8 * time.Hour),
		attrs:        [][2]string{{"username", "alice"}, {"group", "vpn-users"}, {"group", "staff"}},
		signResponse: true, signAssert: true}
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// document is the Response tree, signed as asked.
func (r response) document(t testing.TB) *etree.Document {
	t.Helper()
	var attrs strings.Builder
	for _, a := range r.attrs {
		fmt.Fprintf(&attrs, `<saml:Attribute Name="%s"><saml:AttributeValue>%s</saml:AttributeValue></saml:Attribute>`, a[0], a[1])
	}
	session := ""
	if !r.noSession {
		session = fmt.Sprintf(` SessionNotOnOrAfter="%s"`, ts(r.sessionNotOnOrAfter))
	}
	text := fmt.Sprintf(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" IssueInstant="%s" Destination="%s" InResponseTo="%s">`+
		`<saml:Issuer>%s</saml:Issuer><samlp:Status><samlp:StatusCode Value="%s"/></samlp:Status>`+
		`<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" IssueInstant="%s"><saml:Issuer>%s</saml:Issuer>`+
		`<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">%s</saml:NameID>`+
		`<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="%s" Recipient="%s" NotOnOrAfter="%s"/></saml:SubjectConfirmation></saml:Subject>`+
		`<saml:Conditions NotBefore="%s" NotOnOrAfter="%s"><saml:AudienceRestriction><saml:Audience>%s</saml:Audience></saml:AudienceRestriction></saml:Conditions>`+
		`<saml:AuthnStatement AuthnInstant="%s" SessionIndex="_session1"%s><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`+
		`<saml:AttributeStatement>%s</saml:AttributeStatement></saml:Assertion></samlp:Response>`,
		r.responseID, ts(r.issueInstant), r.destination, r.requestID, r.issuer, r.status,
		r.assertionID, ts(r.issueInstant), r.assertionIssuer, r.nameID,
		r.requestID, r.recipient, ts(r.scdNotOnOrAfter),
		ts(r.notBefore), ts(r.notOnOrAfter), r.audience, ts(r.issueInstant), session, attrs.String())
	doc := etree.NewDocument()
	if err := doc.ReadFromString(text); err != nil {
		t.Fatal(err)
	}
	key := r.key
	if key == nil {
		key = idpKey()
	}
	if r.signAssert {
		a := doc.Root().SelectElement("Assertion")
		signed := sign(t, key, a, r.sha1)
		doc.Root().InsertChildAt(a.Index(), signed)
		doc.Root().RemoveChild(a)
	}
	if r.signResponse {
		doc.SetRoot(sign(t, key, doc.Root(), r.sha1))
	}
	return doc
}

// sign signs el enveloped with exclusive c14n, the Signature placed after
// the Issuer as the SAML schema wants.
func sign(t testing.TB, k *testKey, el *etree.Element, sha1 bool) *etree.Element {
	t.Helper()
	ctx, err := dsig.NewSigningContext(k.key, [][]byte{k.cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if sha1 {
		ctx.Hash = crypto.SHA1
		ctx.SetSignatureMethod(dsig.RSASHA1SignatureMethod)
	}
	sig, err := ctx.ConstructSignature(el, true)
	if err != nil {
		t.Fatal(err)
	}
	signed := el.Copy()
	signed.InsertChildAt(1, sig)
	return signed
}

func encode(t testing.TB, doc *etree.Document) string {
	t.Helper()
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (r response) encode(t testing.TB) string { return encode(t, r.document(t)) }

// apply commits a configuration script as an admin would.
func (l *lab) apply(script string) {
	l.t.Helper()
	cmdbtest.Apply(l.t, l.st, script)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
