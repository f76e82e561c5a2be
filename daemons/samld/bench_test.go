package samld

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/debuglog"
	"github.com/fosim/fosim/internal/peertest"
)

// thirdParty is what the third-party verifiers do with one of the same
// signed Responses, measured once per run.
type thirdParty struct {
	xmlsec1PerSec, lassoPerSec float64
}

// BenchmarkACSLogins is verified ACS logins per second: Consume of a
// Response (Assertion signed, rsa-sha256, by the IdP) with every check,
// each for its own AuthnRequest. In the same run, xmlsec1 (one process
// per verification, as a shell loop would) and lasso (in one Python
// process, as FortiOS's samld uses it) verify one of the same Responses
// in a loop for two seconds each, right after samld's timed loop (this
// machine's load varies); the ratios are samld's rate over theirs.
//
//	go test -run '^$' -bench ACSLogins -benchtime 3s ./daemons/samld/
func BenchmarkACSLogins(b *testing.B) {
	st := cmdbtest.Store(b)
	clk := clock.New(time.UTC)
	clk.Set(labStart)
	cmdbtest.Apply(b, st, baseConfig(idpKey(), ""))
	d := New()
	sup := daemons.NewSupervisor(&daemons.Runtime{Store: st, Clock: clk, Debug: debuglog.New(clk.Now)}, d)
	if err := sup.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer sup.Stop(5 * time.Second)
	prepare := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			r, err := d.Login("SAML-IPSEC", "")
			if err != nil {
				b.Fatal(err)
			}
			resp := defaults(r.RequestID, labStart)
			resp.signResponse = false
			out[i] = resp.encode(b)
		}
		return out
	}
	sample := prepare(1)[0]
	if _, err := exec.LookPath("xmlsec1"); err != nil || !havePython("lasso") {
		peertest.Need(b, false, "xmlsec1 or python3-lasso")
	}
	const batch = 1000 // under maxOutstanding
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		n := min(batch, b.N-done)
		resps := prepare(n)
		clk.Set(labStart)
		b.StartTimer()
		for _, r := range resps {
			if _, err := d.Consume("SAML-IPSEC", acsURL, r); err != nil {
				b.Fatal(err)
			}
		}
		done += n
	}
	b.StopTimer()
	perSec := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(perSec, "logins/s")
	if b.N == 1 {
		return // the first, discarded round: no third-party figures
	}
	thirdPartyRate := measureThirdParty(b, d, sample)
	b.ReportMetric(thirdPartyRate.xmlsec1PerSec, "xmlsec1-verifies/s")
	b.ReportMetric(thirdPartyRate.lassoPerSec, "lasso-verifies/s")
	b.ReportMetric(perSec/thirdPartyRate.xmlsec1PerSec, "x-xmlsec1")
	b.ReportMetric(perSec/thirdPartyRate.lassoPerSec, "x-lasso")
}

func measureThirdParty(b *testing.B, d *Daemon, resp string) thirdParty {
	dir := b.TempDir()
	raw, _ := base64.StdEncoding.DecodeString(resp)
	// The verifiers must refuse this one, or their figures would not be
	// of a verification.
	tampered := []byte(strings.Replace(string(raw), ">alice<", ">admin<", 1))
	s := d.cfg.Servers["SAML-IPSEC"]
	spKey, _ := x509.MarshalPKCS8PrivateKey(s.SigningKey)
	md, _ := d.Metadata("SAML-IPSEC")
	files := map[string][]byte{
		"response.xml": raw, "response.b64": []byte(resp),
		"tampered.xml": tampered, "tampered.b64": []byte(base64.StdEncoding.EncodeToString(tampered)), "idp-cert.pem": []byte(idpKey().certPEM),
		"idp-metadata.xml": idpMetadata(b), "sp-metadata.xml": md,
		"sp-key.pem":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: spKey}),
		"sp-cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.SigningCert.Raw}),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	// one verification by xmlsec1; lasso's verifications of file for
	// seconds in one process
	xmlsec1 := func(file string) *exec.Cmd {
		return exec.Command("xmlsec1", "--verify", "--pubkey-cert-pem", filepath.Join(dir, "idp-cert.pem"),
			"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", filepath.Join(dir, file))
	}
	lasso := func(file string, seconds int) *exec.Cmd {
		return exec.Command("/usr/bin/python3", "testdata/lasso_peer.py", "verify", filepath.Join(dir, "sp-metadata.xml"),
			filepath.Join(dir, "sp-key.pem"), filepath.Join(dir, "sp-cert.pem"), filepath.Join(dir, "idp-metadata.xml"),
			filepath.Join(dir, file), strconv.Itoa(seconds))
	}
	var out thirdParty
	if xmlsec1("tampered.xml").Run() == nil {
		b.Fatal("xmlsec1 verified a tampered Response")
	}
	if lasso("tampered.b64", 0).Run() == nil {
		b.Fatal("lasso verified a tampered Response")
	}
	if msg, err := xmlsec1("response.xml").CombinedOutput(); err != nil {
		b.Fatalf("xmlsec1 does not verify the Response: %v\n%s", err, msg)
	}
	n, start := 0, time.Now()
	for time.Since(start) < 2*time.Second {
		if err := xmlsec1("response.xml").Run(); err != nil {
			b.Fatalf("xmlsec1: %v", err)
		}
		n++
	}
	out.xmlsec1PerSec = float64(n) / time.Since(start).Seconds()
	msg, err := lasso("response.b64", 2).Output()
	if err != nil {
		b.Fatalf("lasso does not verify the Response: %v\n%s", err, msg)
	}
	var res struct {
		Verified int     `json:"verified"`
		Seconds  float64 `json:"seconds"`
	}
	if err := json.Unmarshal(msg, &res); err != nil || res.Verified == 0 {
		b.Fatalf("lasso: %s %v", msg, err)
	}
	out.lassoPerSec = float64(res.Verified) / res.Seconds
	return out
}
