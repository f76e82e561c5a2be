package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestIdPCommandLine(t *testing.T) {
	dir := t.TempDir()
	idp := func(stdin string, args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"idp", "--data", dir}, args...), strings.NewReader(stdin), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	if code, _, errs := idp("", "set", "session-timeout", "4"); code != 1 || !strings.Contains(errs, "5 to 1440") {
		t.Fatalf("session-timeout 4: %d %s", code, errs)
	}
	if code, _, errs := idp("", "set", "session-timeout", "5"); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := idp("", "set", "server-address", "10.9.10.186"); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := idp("s3cret\n", "user", "add", "alice", "--email", "alice@example.com", "--group", "vpn"); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := idp("", "sp", "add", "fgt", "--prefix", "ipsec", "--entity-id", "http://10.9.10.111:1001/remote/saml/metadata/",
		"--acs", "https://10.9.10.111:1001/remote/saml/login", "--attribute", "username=username")
	if code != 0 || !strings.Contains(out, "IdP entity id: http://10.9.10.186/saml-idp/ipsec/metadata/") {
		t.Fatalf("sp add: %d %s %s", code, out, errs)
	}
	code, out, _ = idp("", "sp", "add", "other", "--generate-prefix", "--entity-id", "x", "--acs", "y")
	if code != 0 || !regexp.MustCompile(`/saml-idp/[A-Za-z0-9]{16}/login/`).MatchString(out) {
		t.Fatalf("generated prefix: %s", out)
	}
	if code, out, errs := idp("", "user", "token", "alice"); code != 0 || !strings.HasPrefix(out, "otpauth://totp/") {
		t.Fatalf("user token: %d %s %s", code, out, errs)
	}
	if code, out, _ := idp("", "user", "list"); code != 0 || !strings.Contains(out, "alice") || !strings.Contains(out, "vpn") || !strings.Contains(out, "totp") {
		t.Fatalf("user list: %s", out)
	}
	lab := `{"session_timeout_minutes": 30, "force_authn": "honour",
	  "users": [{"name": "bob", "password": "pw", "groups": ["vpn"], "totp_secret": "JBSWY3DPEHPK3PXP"}],
	  "service_providers": [{"name": "lab-sp", "prefix": "lab", "entity_id": "urn:lab", "acs_url": "https://sp/acs",
	    "attributes": [{"name": "group", "field": "group"}]}]}`
	if code, _, errs := idp(lab, "apply", "-"); code != 0 {
		t.Fatalf("apply: %s", errs)
	}
	if code, out, _ := idp("", "show"); code != 0 || !strings.Contains(out, "session-timeout: 30") || !strings.Contains(out, "force-authn: honour") ||
		!strings.Contains(out, "users: 2") || !strings.Contains(out, "service providers: 3") {
		t.Fatalf("show after apply: %s", out)
	}
	if code, _, errs := idp(`{"users": [{"name": "x", "pasword": "typo"}]}`, "apply", "-"); code != 1 || !strings.Contains(errs, "pasword") {
		t.Fatalf("apply with a typo: %d %s", code, errs)
	}
	if code, _, errs := idp("", "set", "session-timeout", "5"); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := idp("", "set", "force-authn", "reuse"); code != 0 {
		t.Fatal(errs)
	}
	for _, c := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"set", "username-format", `realm\username`}},
		{"", []string{"realm", "add", "local"}},
		{"", []string{"realm", "add", "staff", "--group", "vpn"}},
		{"", []string{"trusted-subnet", "add", "10.1.2.3/16"}},
		{"", []string{"cert", "add", "fgt-cert"}},
		{"", []string{"set", "default-certificate", "fgt-cert"}},
		{"", []string{"sp", "add", "signed", "--prefix", "signed", "--entity-id", "urn:s", "--acs", "https://s/acs",
			"--auth-method", "enforce-2fa", "--trusted-subnet-bypass", "--idp-cert", "fgt-cert", "--no-auto-return"}},
		{"longenough\n", []string{"admin", "set", "admin"}},
		{"", []string{"sp", "add", "from-metadata", "--prefix", "md", "--sp-metadata", spMetadata(t, dir), "--auth-method", "password-only"}},
	} {
		if code, _, errs := idp(c.stdin, c.args...); code != 0 {
			t.Fatalf("%v: %s", c.args, errs)
		}
	}
	if code, out, _ := idp("", "sp", "list"); code != 0 || !strings.Contains(out, "urn:fosim:test-sp") {
		t.Fatalf("sp list after sp add --sp-metadata: %s", out)
	}
	if code, out, _ := idp("", "show"); code != 0 || !strings.Contains(out, `username-format: realm\username`) ||
		!strings.Contains(out, "realms: local* staffvpn") || !strings.Contains(out, "trusted-subnets: 10.1.0.0/16") ||
		!strings.Contains(out, "default-certificate: fgt-cert") || !strings.Contains(out, "administrators: 1") {
		t.Fatalf("show: %s", out)
	}
	for _, bad := range []struct {
		stdin, want string
		args        []string
	}{
		{"short\n", "at least 8", []string{"admin", "set", "admin"}},
		{"", "no group", []string{"realm", "add", "x", "--group", "nosuch"}},
		{"", "prefix-length", []string{"trusted-subnet", "add", "10.1.2.3"}},
		{"", "exists", []string{"cert", "add", "fgt-cert"}},
		{"", "authentication method", []string{"sp", "add", "x", "--prefix", "x", "--entity-id", "x", "--acs", "x", "--auth-method", "sms"}},
		{"", "needs the SP certificate", []string{"sp", "add", "x", "--prefix", "x", "--entity-id", "x", "--acs", "x", "--require-signed"}},
		{"", "username input format", []string{"set", "username-format", "user%realm"}},
	} {
		if code, _, errs := idp(bad.stdin, bad.args...); code != 1 || !strings.Contains(errs, bad.want) {
			t.Fatalf("%v: %d %s (want %q)", bad.args, code, errs, bad.want)
		}
	}
	if code, _, errs := idp("", "sessions"); code != 1 || !strings.Contains(errs, "no IdP runs") {
		t.Fatalf("sessions without an IdP: %d %s", code, errs)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "idp.json")); bytes.Contains(b, []byte("s3cret")) {
		t.Fatal("the password is stored in clear")
	}

	if err := serveIdP(context.Background(), dir, idpServeOptions{Listen: "127.0.0.1:0", Admin: "0.0.0.0:0"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("admin on 0.0.0.0: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serveIdP(ctx, dir, idpServeOptions{Listen: "127.0.0.1:0", Admin: "127.0.0.1:0"}, pw, io.Discard)
		pw.Close()
	}()
	banner, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	addr := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/saml-idp`).FindStringSubmatch(banner)
	if addr == nil {
		t.Fatalf("banner %q", banner)
	}
	resp, err := http.Get("http://" + addr[1] + "/saml-idp/ipsec/metadata/")
	if err != nil {
		t.Fatal(err)
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(md, []byte(`entityID="http://10.9.10.186/saml-idp/ipsec/metadata/"`)) || !bytes.Contains(md, []byte("X509Certificate")) {
		t.Fatalf("metadata %s", md)
	}
	if code, out, errs := idp("", "sessions"); code != 0 || !strings.HasPrefix(out, "ID") {
		t.Fatalf("sessions: %d %q %s", code, out, errs)
	}
	_, before, _ := idp("", "clock")
	code, after, errs := idp("", "clock", "advance", "481m")
	t0, err0 := time.Parse(time.RFC3339, strings.TrimSpace(before))
	t1, err1 := time.Parse(time.RFC3339, strings.TrimSpace(after))
	if code != 0 || err0 != nil || err1 != nil || t1.Sub(t0) < 481*time.Minute {
		t.Fatalf("clock advance: %d %q → %q %s", code, before, after, errs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "admin.addr")); !os.IsNotExist(err) {
		t.Fatalf("admin.addr left behind: %v", err)
	}
}

// spMetadata writes an SP's SAML metadata, signing with the IdP's own
// certificate for want of another.
func spMetadata(t *testing.T, dir string) string {
	t.Helper()
	certPEM, err := os.ReadFile(filepath.Join(dir, "idp-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	md := `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="urn:fosim:test-sp">
<md:SPSSODescriptor AuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + base64.StdEncoding.EncodeToString(block.Bytes) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
<md:AssertionConsumerService index="1" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp/alt"/>
<md:AssertionConsumerService index="2" isDefault="true" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp/acs"/>
</md:SPSSODescriptor></md:EntityDescriptor>`
	name := filepath.Join(t.TempDir(), "sp-metadata.xml")
	if err := os.WriteFile(name, []byte(md), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}
