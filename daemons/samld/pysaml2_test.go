package samld

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fosim/fosim/internal/peertest"
)

// pysaml2IdP is a pysaml2 (Debian python3-pysaml2) IdP driven over its
// stdin and stdout: a third party reading samld's metadata and
// AuthnRequests and signing the Responses samld must verify.
type pysaml2IdP struct {
	t   testing.TB
	in  *json.Encoder
	out *bufio.Scanner
	mu  sync.Mutex
}

type pysamlAnswer struct {
	RequestID         string `json:"request_id"`
	ACS               string `json:"acs"`
	ForceAuthn        string `json:"force_authn"`
	SignatureVerified bool   `json:"signature_verified"`
	Response          string `json:"response"`
	RelayState        string `json:"relay_state"`
	Error             string `json:"error"`
}

func havePython(module string) bool {
	return exec.Command("/usr/bin/python3", "-c", "import "+module).Run() == nil
}

// writeIdPFiles writes the IdP's key and certificate and samld's metadata.
func writeIdPFiles(t testing.TB, l *lab) (dir string) {
	dir = t.TempDir()
	md, err := l.d.Metadata("SAML-IPSEC")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"idp-key.pem": idpKey().keyPEM, "idp-cert.pem": idpKey().certPEM, "sp-metadata.xml": string(md)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func startPysaml2(t testing.TB, l *lab) *pysaml2IdP {
	t.Helper()
	_, err := exec.LookPath("xmlsec1")
	peertest.Need(t, err == nil && havePython("saml2"), "python3-pysaml2 with xmlsec1 (/usr/bin/python3 -c 'import saml2')")
	dir := writeIdPFiles(t, l)
	cfg, _ := json.Marshal(map[string]string{
		"entity_id": idpEntityID, "sso_url": idpLoginURL, "slo_url": idpLogout,
		"key_file": filepath.Join(dir, "idp-key.pem"), "cert_file": filepath.Join(dir, "idp-cert.pem"),
		"sp_metadata": filepath.Join(dir, "sp-metadata.xml"),
		"sp_cert":     base64.StdEncoding.EncodeToString(l.d.cfg.Servers["SAML-IPSEC"].SigningCert.Raw),
	})
	cfgFile := filepath.Join(dir, "idp.json")
	os.WriteFile(cfgFile, cfg, 0o600)
	in, out := startPythonPeer(t, "pysaml2", "testdata/pysaml2_idp.py", cfgFile)
	return &pysaml2IdP{t: t, in: json.NewEncoder(in), out: out}
}

// startPythonPeer runs a testdata script under /usr/bin/python3 for the
// test's length, its stderr in the test log: its stdin and its stdout,
// line by line.
func startPythonPeer(t testing.TB, name string, args ...string) (io.WriteCloser, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", args...)
	cmd.Stderr = &testLogWriter{t: t, name: name}
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	return in, sc
}

type testLogWriter struct {
	t    testing.TB
	name string
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s: %s", w.name, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// login has the IdP answer samld's redirect URL for user.
func (p *pysaml2IdP) login(redirect, user string, attrs map[string][]string, signResponse, signAssertion bool) pysamlAnswer {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.in.Encode(map[string]any{"op": "login", "url": redirect, "user": user, "attributes": attrs,
		"sign_response": signResponse, "sign_assertion": signAssertion}); err != nil {
		p.t.Fatal(err)
	}
	if !p.out.Scan() {
		p.t.Fatalf("pysaml2 IdP ended: %v", p.out.Err())
	}
	var a pysamlAnswer
	if err := json.Unmarshal(p.out.Bytes(), &a); err != nil {
		p.t.Fatal(err)
	}
	if a.Error != "" {
		p.t.Fatalf("pysaml2 IdP: %s", a.Error)
	}
	return a
}

// A third-party IdP reads samld's metadata, verifies its signed
// AuthnRequest, and samld takes the Response it signs, and refuses what
// an attacker builds from it.
func TestPysaml2IdP(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	// pysaml2 stamps its Responses with real time.
	l.clock.Set(time.Now())
	idp := startPysaml2(t, l)
	attrs := map[string][]string{"username": {"alice"}, "group": {"vpn-users", "staff"}}
	// pysaml2 checks the request signature for real: an altered one fails.
	r, err := l.d.Login("SAML-IPSEC", "x")
	if err != nil {
		t.Fatal(err)
	}
	// a bit of the signature itself, so that it stays valid base64
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	sig, err := base64.StdEncoding.DecodeString(q.Get("Signature"))
	if err != nil {
		t.Fatal(err)
	}
	sig[0] ^= 1
	sigAt := strings.Index(r.URL, "&Signature=")
	flipped := r.URL[:sigAt] + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	if rest := r.URL[sigAt+1:]; strings.Contains(rest, "&") {
		flipped += rest[strings.Index(rest, "&"):]
	}
	if a := idp.login(flipped, "alice", attrs, true, true); a.SignatureVerified {
		t.Fatal("pysaml2 verified an altered AuthnRequest signature")
	}
	for _, c := range []struct {
		name             string
		signResp, signAs bool
	}{{"both signed", true, true}, {"assertion signed", false, true}, {"response signed", true, false}} {
		t.Run(c.name, func(t *testing.T) {
			r, err := l.d.Login("SAML-IPSEC", "magic=040c048995bc76ba")
			if err != nil {
				t.Fatal(err)
			}
			l.log()
			a := idp.login(r.URL, "alice", attrs, c.signResp, c.signAs)
			if !a.SignatureVerified || a.RequestID != r.RequestID || a.ACS != acsURL || a.ForceAuthn != "true" || a.RelayState != "magic=040c048995bc76ba" {
				t.Fatalf("pysaml2 read the AuthnRequest as %+v", a)
			}
			// Forgeries first: none may use up the request.
			fs := wrapped(t, a.Response)
			if len(fs) < 2 {
				t.Fatalf("%d forgeries built from pysaml2's Response", len(fs))
			}
			for _, f := range fs {
				if got, err := l.d.Consume("SAML-IPSEC", acsURL, f.resp); err == nil {
					t.Errorf("%s of pysaml2's Response accepted: %+v", f.name, got)
				}
				if log := l.log(); !strings.Contains(log, f.why) {
					t.Errorf("%s: debug %q, want %q", f.name, log, f.why)
				}
			}
			raw, _ := base64.StdEncoding.DecodeString(a.Response)
			tampered := strings.Replace(string(raw), ">alice<", ">admin<", 1)
			if tampered == string(raw) {
				t.Fatal("no NameID to tamper with")
			}
			refused(t, l, acsURL, b64(tampered), "Signature could not be verified")
			login, err := l.d.Consume("SAML-IPSEC", acsURL, a.Response)
			if err != nil {
				t.Fatalf("pysaml2's Response: %v\n%s", err, l.log())
			}
			if login.NameID != "alice" || login.User != "alice" || !slices.Equal(login.Groups, []string{"vpn-users", "staff"}) {
				t.Fatalf("login %+v", login)
			}
			if log := l.log(); !strings.Contains(log, "samld_send_common_reply [95]: Attr: 10, 23, 'username' 'alice'") {
				t.Fatalf("debug %q", log)
			}
			refused(t, l, acsURL, a.Response, "was already used (replay)")
		})
	}
}
