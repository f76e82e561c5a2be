package idp

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/fosim/fosim/clock"
)

// benchIdP is an IdP with one SP, a Lasso SP ("lasso-sp", prefix ipsec,
// signed requests required), its keys and both metadata files.
type benchIdP struct {
	dir, spMD, spKey, spCert, idpMD string
	server                          *Server
	clock                           *clock.Clock
}

func newBenchIdP(b *testing.B) *benchIdP {
	b.Helper()
	e := &benchIdP{dir: b.TempDir()}
	copyTestCertificate(b, e.dir)
	spDir := b.TempDir()
	if err := generateCertificate(filepath.Join(spDir, "sp-cert.pem"), filepath.Join(spDir, "sp-key.pem"), "lasso SP"); err != nil {
		b.Fatal(err)
	}
	e.spKey, e.spCert = filepath.Join(spDir, "sp-key.pem"), filepath.Join(spDir, "sp-cert.pem")
	e.spMD = filepath.Join(spDir, "sp-metadata.xml")
	if _, err := lassoPeer.ask("metadata", "--entity-id", "http://sp.lab/metadata/", "--acs", "https://sp.lab/acs",
		"--sls", "https://sp.lab/sls", "--cert-file", e.spCert, "--out", e.spMD); err != nil {
		b.Fatal(err)
	}
	md, _ := os.ReadFile(e.spMD)
	c, err := Open(e.dir)
	if err != nil {
		b.Fatal(err)
	}
	c.ServerAddress = "idp.lab"
	sp, err := ServiceProviderFromMetadata(md)
	if err != nil {
		b.Fatal(err)
	}
	sp.Name, sp.Prefix = "lasso-sp", "ipsec"
	sp.Attributes = []Attribute{{Name: "username", Field: FieldUsername}, {Name: "group", Field: FieldGroup}}
	if err := c.SetServiceProvider(sp); err != nil {
		b.Fatal(err)
	}
	if err := c.SetUser(User{Name: "alice", Email: "alice@example.com", Groups: []string{"vpn-users"}}, "s3cret"); err != nil {
		b.Fatal(err)
	}
	if err := c.Save(e.dir); err != nil {
		b.Fatal(err)
	}
	e.clock = clock.New(time.UTC)
	if e.server, err = NewServer(e.dir, e.clock, nil); err != nil {
		b.Fatal(err)
	}
	w := httptest.NewRecorder()
	e.server.Handler().ServeHTTP(w, httptest.NewRequest("GET", "http://idp.lab/saml-idp/ipsec/metadata/", nil))
	e.idpMD = filepath.Join(e.dir, "idp-metadata.xml")
	if err := os.WriteFile(e.idpMD, w.Body.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkLogin is a login inside an IdP session: a signed AuthnRequest
// (HTTP-Redirect, made by Lasso) in, its signature checked, a signed
// assertion in the Response form out. The same run measures Lasso as the
// IdP doing that work (lasso-logins/s).
func BenchmarkLogin(b *testing.B) {
	if !haveLasso() {
		b.Skip("!!!!!!!! SKIPPED: " + needLasso + " is missing")
	}
	e := newBenchIdP(b)
	args := []string{"--sp-metadata", e.spMD, "--key-file", e.spKey, "--cert-file", e.spCert, "--idp-metadata", e.idpMD}
	v, err := lassoPeer.ask(append(append([]string{"requests"}, args...), "--n", strconv.Itoa(b.N))...)
	if err != nil {
		b.Fatal(err)
	}
	urls := v["urls"].([]any)
	sess := e.server.newSession("alice", "lasso-sp", 8*time.Hour)
	cookie := &http.Cookie{Name: sessionCookie, Value: sess.cookie()}
	h := e.server.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r := httptest.NewRequest("GET", urls[i].(string), nil)
		r.AddCookie(cookie)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(`name="SAMLResponse"`)) {
			body, _ := io.ReadAll(w.Body)
			b.Fatalf("login %d: %d %s", i, w.Code, body)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	lasso, err := lassoPeer.ask("idp-bench", "--idp-metadata", e.idpMD, "--idp-key", filepath.Join(e.dir, keyFile),
		"--idp-cert", filepath.Join(e.dir, certFile), "--sp-metadata", e.spMD, "--sp-key", e.spKey, "--sp-cert", e.spCert,
		"--n", strconv.Itoa(min(max(b.N, 100), 2000)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(lasso["per_second"].(float64), "lasso-logins/s")
}

// BenchmarkSessions100k holds 100,000 IdP sessions and expires them all
// in one lab clock advance; it reports the memory a session takes and how
// long the advance took (the timed part).
func BenchmarkSessions100k(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	copyTestCertificate(b, dir)
	var perSession, expiry float64
	for range b.N {
		b.StopTimer()
		clk := clock.New(time.UTC)
		s, err := NewServer(dir, clk, nil)
		if err != nil {
			b.Fatal(err)
		}
		users := make([]string, 1000)
		for i := range users {
			users[i] = "user" + strconv.Itoa(i)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			s.newSession(users[i%len(users)], "fgt-ipsec", 480*time.Minute)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if got := len(s.Sessions()); got != n {
			b.Fatalf("%d sessions held, want %d", got, n)
		}
		perSession += float64(after.HeapAlloc-before.HeapAlloc) / n
		b.StartTimer()
		start := time.Now()
		clk.Advance(481 * time.Minute)
		took := time.Since(start)
		b.StopTimer()
		expiry += float64(took.Microseconds()) / 1000
		if got := len(s.Sessions()); got != 0 {
			b.Fatalf("%d sessions left after the advance", got)
		}
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perSession/float64(b.N), "B/session")
	b.ReportMetric(expiry/float64(b.N), "ms-expiry")
}
