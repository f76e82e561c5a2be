package sshd

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fosim/fosim/internal/peertest"
)

// The system interpreter: a python3 earlier on PATH (pyenv) may lack
// Debian's python3-netmiko.
const systemPython = "/usr/bin/python3"

func requireNetmiko(t *testing.T) {
	t.Helper()
	out, err := exec.Command(systemPython, "-c", "import netmiko; print(netmiko.__version__)").CombinedOutput()
	if err != nil {
		peertest.Missing(t, "%s cannot import netmiko (apt-get install python3-netmiko): %v: %s", systemPython, err, strings.TrimSpace(string(out)))
	}
	t.Logf("netmiko %s", strings.TrimSpace(string(out)))
}

// selfSignedPEM makes a real X.509 certificate, as an IdP would publish.
func selfSignedPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(3),
		Subject:               pkix.Name{CommonName: "10.9.10.186", Organization: []string{"fosim test IdP"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

type netmikoResult struct {
	Prompt          string `json:"prompt"`
	SavedOutputMode string `json:"saved_output_mode"`
	ConsoleDuring   string `json:"console_during"`
	Status          string `json:"status"`
	CertOutput      string `json:"cert_output"`
	ConfigOutput    string `json:"config_output"`
	ShowPhase1      string `json:"show_phase1"`
	ShowPhase2      string `json:"show_phase2"`
	ShowSAML        string `json:"show_saml"`
}

func TestNetmikoFortinet(t *testing.T) {
	requireNetmiko(t)
	ts := startServer(t, serverOpts{})
	// netmiko logs in with a password, as against a real unit.
	const password = "Netm1ko-pass"
	c := ts.mustDial(t)
	setAdminPassword(t, c, password)
	c.Close()

	dir := t.TempDir()
	certPEM := selfSignedPEM(t)
	pemPath := filepath.Join(dir, "REMOTE_Cert_3.pem")
	if err := os.WriteFile(pemPath, []byte(certPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ts.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, systemPython, "testdata/netmiko_fortinet.py", host, port, password, pemPath,
		"testdata/seed001_phase1.conf", "testdata/phase2.conf", "testdata/seed001_saml.conf")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("netmiko session: %v", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("netmiko: %v\nstderr:\n%s\nstdout:\n%s\nserver log:\n%s", err, stderr.String(), stdout.String(), ts.log)
	}
	var r netmikoResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("netmiko output: %v\n%s", err, stdout.String())
	}
	if r.Prompt != "FortiGate-VM64 #" {
		t.Errorf("find_prompt %q", r.Prompt)
	}
	if r.SavedOutputMode != "more" {
		t.Errorf("netmiko read the output mode as %q, want more", r.SavedOutputMode)
	}
	if !strings.Contains(r.ConsoleDuring, "output              : standard") {
		t.Errorf("netmiko did not switch to output standard:\n%s", r.ConsoleDuring)
	}
	for _, want := range []string{
		"Version: FortiGate-VM64 v7.6.1,build3462,241022 (GA.F)",
		"Virtual domain configuration: disable",
	} {
		if !strings.Contains(r.Status, want) {
			t.Errorf("send_command(get system status) lacks %q:\n%s", want, r.Status)
		}
	}
	if strings.Contains(r.Status, "--More--") {
		t.Errorf("status paged under netmiko:\n%s", r.Status)
	}
	for name, out := range map[string]string{"certificate": r.CertOutput, "config": r.ConfigOutput} {
		if strings.Contains(out, "Command fail") || strings.Contains(out, "error") {
			t.Errorf("send_config_set (%s) reported an error:\n%s", name, out)
		}
	}
	// Seed 001's phase1, with the interface and PSK FortiOS requires.
	wantPhase1 := "config vpn ipsec phase1-interface\n" +
		"    edit \"Dialup-TimeOut\"\n" +
		"        set interface \"port1\"\n" +
		"        set ike-version 2\n" +
		"        set keylife 360\n" +
		"        set reauth enable\n" +
		"        set psksecret ENC "
	if !strings.Contains(r.ShowPhase1, wantPhase1) || strings.Contains(r.ShowPhase1, "Netm1ko-psk-secret") {
		t.Errorf("show vpn ipsec phase1-interface:\n%s\nwant:\n%s", r.ShowPhase1, wantPhase1)
	}
	if !strings.Contains(r.ShowPhase2, "edit \"Dialup-TimeOut\"\n        set phase1name \"Dialup-TimeOut\"\n") ||
		!strings.Contains(r.ShowPhase2, "set keylifeseconds 3600") {
		t.Errorf("show vpn ipsec phase2-interface:\n%s", r.ShowPhase2)
	}
	seed, err := os.ReadFile("testdata/seed001_saml.conf")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(r.ShowSAML); got != strings.TrimSpace(string(seed)) {
		t.Errorf("show user saml SAML-IPSEC:\n%s\nwant (seed 001):\n%s", got, seed)
	}

	// After disconnect: netmiko restored "output more", and everything is
	// in the store.
	c2, err := ts.dial(t, "admin", ssh.Password(password))
	if err != nil {
		t.Fatal(err)
	}
	if out := run(t, c2, "get system console"); !strings.Contains(out, "output              : more\n") {
		t.Errorf("netmiko did not restore the output mode:\n%s", out)
	}
	st := ts.st
	if v := st.SingletonValue("system console", "output"); v != "more" {
		t.Errorf("store: console output %q", v)
	}
	p1 := st.Lookup("vpn ipsec phase1-interface", "Dialup-TimeOut")
	if p1 == nil {
		t.Fatal("phase1 Dialup-TimeOut not in the store")
	}
	p1t := st.Schema().Table("vpn ipsec phase1-interface")
	for attr, want := range map[string]string{"ike-version": "2", "keylife": "360", "reauth": "enable"} {
		if got := strings.Join(p1.Get(p1t.Attr(attr)), " "); got != want {
			t.Errorf("store: phase1 %s = %q, want %q", attr, got, want)
		}
	}
	p2 := st.Lookup("vpn ipsec phase2-interface", "Dialup-TimeOut")
	if p2 == nil {
		t.Fatal("phase2 Dialup-TimeOut not in the store")
	}
	if got := p2.Get(st.Schema().Table("vpn ipsec phase2-interface").Attr("phase1name")); strings.Join(got, " ") != "Dialup-TimeOut" {
		t.Errorf("store: phase2 phase1name %q", got)
	}
	saml := st.Lookup("user saml", "SAML-IPSEC")
	if saml == nil {
		t.Fatal("user saml SAML-IPSEC not in the store")
	}
	if got := saml.Get(st.Schema().Table("user saml").Attr("idp-cert")); strings.Join(got, " ") != "REMOTE_Cert_3" {
		t.Errorf("store: idp-cert %q", got)
	}
	cert := st.Lookup("vpn certificate remote", "REMOTE_Cert_3")
	if cert == nil {
		t.Fatal("REMOTE_Cert_3 not in the store")
	}
	stored := strings.Join(cert.Get(st.Schema().Table("vpn certificate remote").Attr("remote")), "")
	if strings.TrimSpace(strings.ReplaceAll(stored, "\r\n", "\n")) != strings.TrimSpace(certPEM) {
		t.Errorf("stored certificate differs from the PEM sent:\n%q\nwant:\n%q", stored, certPEM)
	}
	if blk, _ := pem.Decode([]byte(stored)); blk == nil {
		t.Errorf("stored certificate is not PEM: %q", stored)
	} else if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		t.Errorf("stored certificate does not parse: %v", err)
	}
}
