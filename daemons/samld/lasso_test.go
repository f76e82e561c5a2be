package samld

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"

	"github.com/fosim/fosim/internal/peertest"
)

// idpMetadata is the test IdP's metadata, for lasso.
func idpMetadata(t testing.TB) []byte {
	t.Helper()
	ed := saml.EntityDescriptor{EntityID: idpEntityID, IDPSSODescriptors: []saml.IDPSSODescriptor{{
		SSODescriptor: saml.SSODescriptor{
			RoleDescriptor: saml.RoleDescriptor{ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol",
				KeyDescriptors: []saml.KeyDescriptor{{Use: "signing", KeyInfo: saml.KeyInfo{X509Data: saml.X509Data{
					X509Certificates: []saml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(idpKey().cert.Raw)}}}}}}},
			SingleLogoutServices: []saml.Endpoint{{Binding: saml.HTTPRedirectBinding, Location: idpLogout}},
			NameIDFormats:        []saml.NameIDFormat{saml.UnspecifiedNameIDFormat},
		},
		SingleSignOnServices: []saml.Endpoint{{Binding: saml.HTTPRedirectBinding, Location: idpLoginURL}},
	}}}
	out, err := xml.MarshalIndent(ed, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lassoIdP is lasso as the IdP, over stdin and stdout.
type lassoIdP struct {
	t   testing.TB
	in  *bufio.Writer
	out *bufio.Scanner
}

type lassoAnswer struct {
	RequestID  string `json:"request_id"`
	ForceAuthn bool   `json:"force_authn"`
	Response   string `json:"response"`
	URL        string `json:"url"`
	Error      string `json:"error"`
}

func requireLasso(t testing.TB) {
	t.Helper()
	peertest.Need(t, havePython("lasso"), "python3-lasso (/usr/bin/python3 -c 'import lasso')")
}

func startLassoIdP(t testing.TB, l *lab) *lassoIdP {
	t.Helper()
	requireLasso(t)
	dir := writeIdPFiles(t, l)
	os.WriteFile(filepath.Join(dir, "idp-metadata.xml"), idpMetadata(t), 0o600)
	in, out := startPythonPeer(t, "lasso", "testdata/lasso_peer.py", "idp", filepath.Join(dir, "idp-metadata.xml"),
		filepath.Join(dir, "idp-key.pem"), filepath.Join(dir, "idp-cert.pem"), filepath.Join(dir, "sp-metadata.xml"))
	return &lassoIdP{t: t, in: bufio.NewWriter(in), out: out}
}

func (p *lassoIdP) answer(redirect string) lassoAnswer {
	p.t.Helper()
	u, err := url.Parse(redirect)
	if err != nil {
		p.t.Fatal(err)
	}
	p.in.WriteString(u.RawQuery + "\n")
	p.in.Flush()
	if !p.out.Scan() {
		p.t.Fatalf("lasso ended: %v", p.out.Err())
	}
	var a lassoAnswer
	if err := json.Unmarshal(p.out.Bytes(), &a); err != nil {
		p.t.Fatal(err)
	}
	return a
}

// Lasso, FortiOS's own SAML library, verifies samld's signed AuthnRequest
// (rsa-sha1 and rsa-sha256) against samld's metadata and refuses one
// whose signature was altered; the Response lasso builds for it is taken.
func TestLassoIdP(t *testing.T) {
	for _, digest := range []string{"sha1", "sha256"} {
		t.Run(digest, func(t *testing.T) {
			l := newLab(t, baseConfig(idpKey(), "        set digest-method "+digest+"\n"))
			l.clock.Set(time.Now()) // lasso stamps real time
			idp := startLassoIdP(t, l)
			r, err := l.d.Login("SAML-IPSEC", "magic=040c048995bc76ba")
			if err != nil {
				t.Fatal(err)
			}
			l.log()
			// An altered signature: lasso must refuse it.
			u, _ := url.Parse(r.URL)
			q := u.Query()
			sig, _ := base64.StdEncoding.DecodeString(q.Get("Signature"))
			sig[10] ^= 1
			forged := strings.Replace(r.URL, url.QueryEscape(q.Get("Signature")), url.QueryEscape(base64.StdEncoding.EncodeToString(sig)), 1)
			if a := idp.answer(forged); !strings.Contains(strings.ToLower(a.Error), "signature") {
				t.Fatalf("lasso took an AuthnRequest with an altered signature: %+v", a)
			} else {
				t.Logf("lasso on the altered signature: %s", a.Error)
			}
			a := idp.answer(r.URL)
			if a.Error != "" {
				t.Fatalf("lasso refused samld's AuthnRequest: %s", a.Error)
			}
			if a.RequestID != r.RequestID || !a.ForceAuthn || a.URL != acsURL {
				t.Fatalf("lasso read %+v", a)
			}
			login, err := l.d.Consume("SAML-IPSEC", acsURL, a.Response)
			if err != nil {
				t.Fatalf("lasso's Response: %v", err)
			}
			// lasso sends no attributes: no user-name, and authd falls
			// back to the FortiClient UID.
			if login.NameID == "" || login.User != "" || len(login.Groups) != 0 {
				t.Fatalf("login %+v", login)
			}
		})
	}
}
