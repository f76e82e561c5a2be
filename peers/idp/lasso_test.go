package idp

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fosim/fosim/internal/peertest"
)

// scriptPeer is a Python peer script in its serve mode: one JSON list of
// arguments a line in, one JSON answer a line out, one process for the
// whole test binary.
type scriptPeer struct {
	script string
	args   []string // before the script's own, e.g. its serve mode
	once   sync.Once
	mu     sync.Mutex
	in     io.WriteCloser
	out    *bufio.Reader
	stderr bytes.Buffer
	err    error
}

var lassoPeer = &scriptPeer{script: "testdata/lasso_sp.py"}

func (p *scriptPeer) start() error {
	p.once.Do(func() {
		cmd := exec.Command("/usr/bin/python3", append([]string{p.script}, p.args...)...)
		cmd.Stderr = &p.stderr
		if p.in, p.err = cmd.StdinPipe(); p.err != nil {
			return
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			p.err = err
			return
		}
		p.out = bufio.NewReader(out)
		if p.err = cmd.Start(); p.err != nil {
			return
		}
		if ready, err := p.out.ReadBytes('\n'); err != nil || !bytes.Contains(ready, []byte(`"ready"`)) {
			p.err = fmt.Errorf("%s did not start: %v %s", p.script, err, p.stderr.String())
		}
	})
	return p.err
}

func (p *scriptPeer) stop() {
	if p.in != nil {
		p.in.Close() // the script ends at the end of its input
	}
}

func (p *scriptPeer) ask(args ...string) (map[string]any, error) {
	if err := p.start(); err != nil {
		return nil, err
	}
	line, _ := json.Marshal(args)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.in.Write(append(line, '\n')); err != nil {
		return nil, fmt.Errorf("%v: %s", err, p.stderr.String())
	}
	answer, err := p.out.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, p.stderr.String())
	}
	var v struct {
		Result map[string]any
		Error  string
	}
	if err := json.Unmarshal(answer, &v); err != nil {
		return nil, fmt.Errorf("printed %q: %v", answer, err)
	}
	if v.Error != "" {
		return nil, errors.New(v.Error)
	}
	return v.Result, nil
}

func haveLasso() bool {
	if exec.Command("/usr/bin/python3", "-c", "import lasso").Run() != nil {
		return false
	}
	return lassoPeer.start() == nil
}

const needLasso = "python3-lasso (apt-get install python3-lasso)"

// lassoSP is a Lasso SP: its key pair and metadata, and the IdP's.
type lassoSP struct {
	t    *testing.T
	args []string
}

func (s lassoSP) ask(command string, more ...string) map[string]any {
	s.t.Helper()
	v, err := lassoPeer.ask(append(append([]string{command}, s.args...), more...)...)
	if err != nil {
		s.t.Fatalf("lasso %s: %v", command, err)
	}
	return v
}

// newLassoLab is an IdP whose SP ("lasso-sp", prefix ipsec) comes from
// the metadata of a Lasso SP, and that SP.
func newLassoLab(t *testing.T, edit func(*Config)) (*lab, lassoSP, string, string) {
	t.Helper()
	_, spKey, spCertFile := spKeyPair(t)
	spMD := filepath.Join(t.TempDir(), "lasso-sp-metadata.xml")
	entity, acs, sls := "http://127.0.0.1:1001/remote/saml/metadata/", "https://127.0.0.1:1001/remote/saml/login", "https://127.0.0.1:1001/remote/saml/logout"
	if _, err := lassoPeer.ask("metadata", "--entity-id", entity, "--acs", acs, "--sls", sls, "--cert-file", spCertFile, "--out", spMD); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(spMD)
	if err != nil {
		t.Fatal(err)
	}
	// Metadata one way: the IdP takes the SP's from the file Lasso loads
	// as its own.
	l := newLab(t, func(c *Config) {
		sp, err := ServiceProviderFromMetadata(md)
		if err != nil {
			t.Fatal(err)
		}
		if sp.EntityID != entity || sp.ACSURL != acs || sp.SLSURL != sls || !sp.RequireSignedRequests || sp.CertificatePEM == "" {
			t.Fatalf("SP from its metadata: %+v", sp)
		}
		sp.Name, sp.Prefix, sp.NameIDField, sp.NameIDFormat = "lasso-sp", "ipsec", FieldEmail, FormatUnspecified
		sp.Attributes = []Attribute{{Name: "username", Field: FieldUsername}, {Name: "group", Field: FieldGroup}, {Name: "givenName", Field: FieldFirstName}}
		c.ServiceProviders[0] = sp
		if edit != nil {
			edit(c)
		}
	})
	// ... and the other: Lasso takes the IdP's metadata.
	return l, lassoSP{t, []string{"--sp-metadata", spMD, "--key-file", spKey, "--cert-file", spCertFile, "--idp-metadata", l.metadata}}, acs, sls
}

func TestLassoSP(t *testing.T) {
	peertest.Need(t, haveLasso(), needLasso)
	l, lasso, acs, sls := newLassoLab(t, nil)
	req := lasso.ask("request")
	u, _ := url.Parse(req["url"].(string))
	if q := u.Query(); q.Get("SigAlg") != "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" || q.Get("Signature") == "" {
		t.Fatalf("lasso's request is not signed: %s", u)
	}
	b := newBrowser(t)
	p := read(t, func() (*http.Response, error) { return b.Get(u.String()) })
	p = l.submit(b, p, "username", "alice", "password", "s3cret")
	resp := p.fields.Get("SAMLResponse")
	if resp == "" || p.action != acs {
		t.Fatalf("no SAMLResponse to the ACS: %d %s", p.status, p.body)
	}
	v := lasso.ask("response", "--request-id", req["id"].(string), "--saml-response", resp)
	t.Logf("lasso accepted: name_id %v attributes %v", v["name_id"], v["attributes"])
	attrs, _ := json.Marshal(v["attributes"])
	if v["name_id"] != "alice@example.com" || v["name_id_format"] != nameIDFormatURN[FormatUnspecified] ||
		v["issuer"] != IdPURLs(strings.TrimPrefix(l.base, "http://"), "ipsec").EntityID ||
		string(attrs) != `{"givenName":["Alice"],"group":["vpn-users","staff"],"username":["alice"]}` {
		t.Fatalf("lasso's verdict: %v (attributes %s)", v, attrs)
	}

	// Lasso verifies the signature: a changed NameID is refused.
	xmlResp, _ := base64.StdEncoding.DecodeString(resp)
	forged := base64.StdEncoding.EncodeToString(bytes.ReplaceAll(xmlResp, []byte("alice@example.com"), []byte("mallory@example.com")))
	_, err := lassoPeer.ask(append(append([]string{"response"}, lasso.args...), "--request-id", req["id"].(string), "--saml-response", forged)...)
	if err == nil || !strings.Contains(err.Error(), "refused by lasso") {
		t.Fatalf("a forged assertion: %v", err)
	}
	t.Logf("the forged assertion: %v", err)
	// The SP requires signed requests (AuthnRequestsSigned="true"): the
	// same request without its signature is refused.
	q := u.Query()
	q.Del("Signature")
	q.Del("SigAlg")
	u.RawQuery = q.Encode()
	if p := read(t, func() (*http.Response, error) { return newBrowser(t).Get(u.String()) }); p.status != http.StatusBadRequest ||
		!strings.Contains(p.body, "must be signed") {
		t.Fatalf("lasso's request without its signature: %d %s", p.status, p.body)
	}

	// SP-initiated single logout, both messages signed and checked.
	lo := lasso.ask("logout", "--session", v["session"].(string))
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	r, err := b.Get(lo["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), sls+"?") {
		t.Fatalf("logout: %d %s %s", r.StatusCode, r.Header.Get("Location"), body)
	}
	st := lasso.ask("logout-response", "--session", v["session"].(string), "--query", loc.RawQuery)
	if st["status"] != "urn:oasis:names:tc:SAML:2.0:status:Success" {
		t.Fatalf("logout status %v", st)
	}
	if rows := l.server.Sessions(); len(rows) != 0 {
		t.Fatalf("sessions after the logout: %+v", rows)
	}
}

// TestSeed001ReconnectWithLasso plays seed 001 with the Lasso SP: a
// login session timeout of 5 minutes; the FortiGate's SP asks again at
// keylife. At 2 minutes the IdP session answers with no prompt; at 6
// minutes it has expired and the user is prompted.
func TestSeed001ReconnectWithLasso(t *testing.T) {
	peertest.Need(t, haveLasso(), needLasso)
	l, lasso, _, _ := newLassoLab(t, func(c *Config) { c.SessionTimeoutMinutes = 5 })
	b := newBrowser(t)
	login := func() (prompted bool) {
		t.Helper()
		req := lasso.ask("request")
		p := read(t, func() (*http.Response, error) { return b.Get(req["url"].(string)) })
		if prompted = asksPassword(p); prompted {
			p = l.submit(b, p, "username", "alice", "password", "s3cret")
		}
		if v := lasso.ask("response", "--request-id", req["id"].(string), "--saml-response", p.fields.Get("SAMLResponse")); v["name_id"] != "alice@example.com" {
			t.Fatalf("lasso's verdict %v", v)
		}
		return prompted
	}
	if !login() {
		t.Fatal("no prompt at the first login")
	}
	l.clock.Advance(2 * time.Minute) // keylife 2 min
	if login() {
		t.Fatal("prompted 2 minutes into a 5-minute session")
	}
	l.clock.Advance(4 * time.Minute) // keylife 6 min: 6 minutes after the login
	if !login() {
		t.Fatal("no prompt 6 minutes into a 5-minute session")
	}
}
