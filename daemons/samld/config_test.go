package samld

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/grammar"
)

// A change samld cannot use leaves it on the previous configuration and
// says why in its debug stream.
func TestKeepsPreviousConfig(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	l.apply(`config vpn certificate remote
    edit "BAD"
        set remote "not a certificate"
    next
end
config user saml
    edit "SAML-IPSEC"
        set idp-cert "BAD"
    next
end
`)
	if log := l.log(); !strings.Contains(log, `samld: configuration change (revision`) || !strings.Contains(log, `keeping the previous configuration: user saml "SAML-IPSEC": idp-cert "BAD": no PEM certificate`) {
		t.Fatalf("debug %q", log)
	}
	if _, err := l.d.Consume("SAML-IPSEC", acsURL, defaults(l.login(), l.clock.Now()).encode(t)); err != nil {
		t.Fatalf("on the previous configuration: %v", err)
	}
	// Another entry still takes its changes.
	l.apply(`config user saml
    edit "SECOND"
        set entity-id "http://127.0.0.1:1001/remote/saml/metadata/"
        set single-sign-on-url "https://127.0.0.1:1001/remote/saml/login"
        set idp-single-sign-on-url "https://127.0.0.3/login/"
    next
end
`)
	if r, err := l.d.Login("SECOND", ""); err != nil || !strings.HasPrefix(r.URL, "https://127.0.0.3/login/?SAMLRequest=") {
		t.Fatalf("a new entry beside the broken one: %v %v", r, err)
	}
	if log := l.log(); !strings.Contains(log, `idp-cert "BAD": no PEM certificate`) {
		t.Fatalf("the broken entry is not named again: %q", log)
	}
}

// A cert whose private key is not its certificate's is not used.
func TestSigningKeyMustMatch(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	l.apply(fmt.Sprintf(`config vpn certificate local
    edit "mismatch"
        set private-key %s
        set certificate %s
    next
end
config user saml
    edit "SAML-IPSEC"
        set cert "mismatch"
    next
end
`, grammar.Quote(strings.TrimSpace(otherKey().keyPEM)), grammar.Quote(strings.TrimSpace(idpKey().certPEM))))
	if log := l.log(); !strings.Contains(log, `cert "mismatch": the private key does not match the certificate`) {
		t.Fatalf("debug %q", log)
	}
	if l.d.cfg.Servers["SAML-IPSEC"].SigningCert.Subject.CommonName == "samld test idp" {
		t.Fatal("the mismatched cert is in use")
	}
}

// adfs-claim enable reads the user and group from AD FS claim types.
func TestADFSClaims(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), "        set adfs-claim enable\n        set user-claim-type email\n"))
	r := defaults(l.login(), l.clock.Now())
	r.attrs = [][2]string{
		{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", "alice@example.com"},
		{"http://schemas.xmlsoap.org/claims/Group", "vpn-users"},
		{"username", "not-this"},
	}
	login, err := l.d.Consume("SAML-IPSEC", acsURL, r.encode(t))
	if err != nil {
		t.Fatal(err)
	}
	if login.User != "alice@example.com" || len(login.Groups) != 1 || login.Groups[0] != "vpn-users" {
		t.Fatalf("login %+v", login)
	}
}

// A deleted server's requests are never answered.
func TestDeletedServer(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	resp := defaults(l.login(), l.clock.Now()).encode(t)
	l.apply("config user saml\ndelete SAML-IPSEC\nend\n")
	if _, err := l.d.Consume("SAML-IPSEC", acsURL, resp); err == nil || !strings.Contains(err.Error(), `SAML server "SAML-IPSEC" not found`) {
		t.Fatalf("deleted server: %v", err)
	}
	if len(l.d.outstanding) != 0 {
		t.Fatalf("%d requests kept", len(l.d.outstanding))
	}
}

// Two appliances in one process, each on its own clock.
func TestTwoAppliancesTwoClocks(t *testing.T) {
	a := newLab(t, baseConfig(idpKey(), ""))
	b := newLab(t, baseConfig(idpKey(), ""))
	b.clock.Set(labStart.Add(time.Hour))
	ra := defaults(a.login(), labStart)
	rb := defaults(b.login(), labStart) // issued on a's time
	a.clock.Set(labStart)
	if _, err := a.d.Consume("SAML-IPSEC", acsURL, ra.encode(t)); err != nil {
		t.Fatal(err)
	}
	refused(t, b, acsURL, rb.encode(t), "SubjectConfirmationData expired at 2025-09-22T17:48:44Z (appliance clock 2025-09-22T18:43:44Z")
}
