package sshd

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fosim/fosim/cli"
)

// Tests of admin login: a fresh unit's forced password change, the
// per-address lockout, the password policy and the idle logout.

const newPassword = "N3w-admin-pass"

// configure runs a script as admin through the store's own session (the
// one commit path), for settings a test needs before it logs in.
func configure(t *testing.T, ts *testServer, script string) {
	t.Helper()
	var out bytes.Buffer
	sh := cli.New(ts.srv.App, ts.st.NewSession("admin", "test"), &out)
	defer sh.Close()
	for _, l := range strings.Split(script, "\n") {
		sh.Line(l)
	}
	if strings.Contains(out.String(), "Command fail") {
		t.Fatalf("configure: %s", out.String())
	}
}

// A fresh unit asks for the (empty) password, then forces a new one
// before the prompt; it is never reachable without a password method.
func TestFreshUnitForcesNewPassword(t *testing.T) {
	ts := startServer(t, serverOpts{fresh: true})
	if err := ts.dialNone(t, "admin"); err == nil {
		t.Fatal("regression: a fresh unit lets anyone in with the \"none\" method (NoClientAuth): expected a password to be asked")
	}
	if _, err := ts.dial(t, "admin", ssh.Password("not-empty")); err == nil {
		t.Fatal("a wrong password is accepted on a fresh unit")
	}
	c, err := ts.dial(t, "admin", ssh.Password(""))
	if err != nil {
		t.Fatalf("the empty password of a fresh unit is refused: %v", err)
	}
	tm := openTermNoPrompt(t, c, 40)
	tm.Expect(t, "You are forced to change your password, please input a new password.\r\nNew Password:", 5*time.Second)
	// Mismatch: asked again.
	tm.send(t, "Abcdefgh-1\r")
	tm.Expect(t, "Confirm Password:", 5*time.Second)
	tm.send(t, "Abcdefgh-2\r")
	tm.Expect(t, "The passwords do not match.\r\nNew Password:", 5*time.Second)
	tm.send(t, newPassword+"\r")
	tm.Expect(t, "Confirm Password:", 5*time.Second)
	tm.send(t, newPassword+"\r")
	out := tm.Expect(t, prompt, 5*time.Second)
	if !strings.Contains(out, "Welcome !") {
		t.Errorf("no welcome after the change: %q", out)
	}
	if strings.Contains(out, newPassword) || strings.Contains(out, "Abcdefgh") {
		t.Errorf("a password was echoed: %q", out)
	}
	tm.line(t, "get system status | grep Hostname")
	tm.Expect(t, "Hostname: FortiGate-VM64", 5*time.Second)
	// The new password is the admin's now; the empty one no longer works.
	if _, err := ts.dial(t, "admin", ssh.Password(newPassword)); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	if _, err := ts.dial(t, "admin", ssh.Password("")); err == nil {
		t.Errorf("the empty password still works after the change")
	}
	if out := run(t, mustDialPw(t, ts, newPassword), "show system admin admin"); !strings.Contains(out, "set password ENC SH2") {
		t.Errorf("stored password: %s", out)
	}
}

func mustDialPw(t *testing.T, ts *testServer, pw string) *ssh.Client {
	t.Helper()
	c, err := ts.dial(t, "admin", ssh.Password(pw))
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

// Without a pty (an exec or ssh -T) the new password comes as lines of
// input; without it nothing runs.
func TestFreshUnitExec(t *testing.T) {
	ts := startServer(t, serverOpts{fresh: true})
	c, err := ts.dial(t, "admin", ssh.Password(""))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := s.CombinedOutput("config system global\nset hostname NEVER\nend")
	if h := ts.st.SingletonValue("system global", "hostname"); h == "NEVER" {
		t.Fatalf("a first login ran commands before a new password was set: %q", out)
	}
	if !strings.Contains(string(out), "You are forced to change your password") || !strings.Contains(string(out), "The password was not changed") {
		t.Errorf("exec output: %q", out)
	}
	c, err = ts.dial(t, "admin", ssh.Password(""))
	if err != nil {
		t.Fatal(err)
	}
	s, err = c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	s.Stdin = strings.NewReader(newPassword + "\n" + newPassword + "\n")
	out, err = s.CombinedOutput("get system status | grep Hostname")
	if err != nil || !strings.Contains(string(out), "Hostname: FortiGate-VM64") {
		t.Fatalf("exec after the change on stdin: %v %q", err, out)
	}
	if _, err := ts.dial(t, "admin", ssh.Password(newPassword)); err != nil {
		t.Errorf("new password: %v", err)
	}
}

// force-password-change enable asks for a new password at the next login.
func TestForcePasswordChangeAttribute(t *testing.T) {
	ts := startServer(t, serverOpts{})
	configure(t, ts, "config system admin\nedit admin\nset force-password-change enable\nend")
	c := ts.mustDial(t)
	tm := openTermNoPrompt(t, c, 40)
	tm.Expect(t, "You are forced to change your password", 5*time.Second)
	// The old password again is refused.
	tm.send(t, testPassword+"\r"+testPassword+"\r")
	tm.Expect(t, "must differ from the old one", 5*time.Second)
	tm.send(t, newPassword+"\r"+newPassword+"\r")
	tm.Expect(t, prompt, 5*time.Second)
	if v := ts.st.Lookup("system admin", "admin").Get(ts.st.Schema().Table("system admin").Attr("force-password-change")); strings.Join(v, "") == "enable" {
		t.Errorf("force-password-change still enabled after the change")
	}
	mustDialPw(t, ts, newPassword)
}

// The policy applies to the forced change.
func TestPasswordPolicyOnForcedChange(t *testing.T) {
	ts := startServer(t, serverOpts{fresh: true})
	configure(t, ts, "config system password-policy\nset status enable\nset min-upper-case-letter 1\nset min-number 2\nend")
	c, err := ts.dial(t, "admin", ssh.Password(""))
	if err != nil {
		t.Fatal(err)
	}
	tm := openTermNoPrompt(t, c, 40)
	tm.Expect(t, "New Password:", 5*time.Second)
	tm.send(t, "Short1\rShort1\r")
	tm.Expect(t, "it must have at least 12 characters (minimum-length).\r\nNew Password:", 5*time.Second)
	tm.send(t, "longbutnoupper12\rlongbutnoupper12\r")
	tm.Expect(t, "it must have at least 1 upper case letters (min-upper-case-letter)", 5*time.Second)
	tm.send(t, "LongButOneDigit1\rLongButOneDigit1\r")
	tm.Expect(t, "(min-number)", 5*time.Second)
	// Three tries: the connection ends.
	if err := tm.sess.Wait(); err == nil {
		// exit status is not sent on a closed connection: any end is fine
	}
	if _, err := ts.dial(t, "admin", ssh.Password("")); err != nil {
		t.Fatalf("the unit must still take its empty password after a refused change: %v", err)
	}
	c, _ = ts.dial(t, "admin", ssh.Password(""))
	tm = openTermNoPrompt(t, c, 40)
	tm.Expect(t, "New Password:", 5*time.Second)
	tm.send(t, "Policy-OK-12pw\rPolicy-OK-12pw\r")
	tm.Expect(t, prompt, 5*time.Second)
	mustDialPw(t, ts, "Policy-OK-12pw")
}

// Three failed logins lock the address out for admin-lockout-duration on
// the appliance clock; other addresses are not affected.
func TestLockoutPerAddress(t *testing.T) {
	ts := startServer(t, serverOpts{})
	const attacker = "127.0.0.2"
	for i := 0; i < 3; i++ {
		if _, err := ts.dialFrom(t, attacker, "admin", ssh.Password("wrong-"+string(rune('a'+i)))); err == nil {
			t.Fatal("wrong password accepted")
		}
	}
	if _, err := ts.dialFrom(t, attacker, "admin"); err == nil {
		t.Fatal("regression: no lockout: after admin-lockout-threshold (3) failed logins from 127.0.0.2, the right password still logs in at once; expected the address locked out for admin-lockout-duration (60 s)")
	}
	ts.log.waitFor(t, "127.0.0.2 is locked out", 2*time.Second)
	// Another address logs in.
	if _, err := ts.dialFrom(t, "127.0.0.1", "admin"); err != nil {
		t.Fatalf("login from another address during the lockout: %v", err)
	}
	// 59 s of appliance time later: still locked.
	ts.srv.App.Clock.Advance(59 * time.Second)
	if _, err := ts.dialFrom(t, attacker, "admin"); err == nil {
		t.Fatal("lockout ended before admin-lockout-duration")
	}
	ts.srv.App.Clock.Advance(2 * time.Second)
	if _, err := ts.dialFrom(t, attacker, "admin"); err != nil {
		t.Fatalf("lockout did not end after admin-lockout-duration: %v", err)
	}
}

// admin-lockout-threshold and admin-lockout-duration are read from
// system global.
func TestLockoutSettings(t *testing.T) {
	ts := startServer(t, serverOpts{})
	configure(t, ts, "config system global\nset admin-lockout-threshold 5\nset admin-lockout-duration 300\nend")
	const src = "127.0.0.3"
	for i := 0; i < 4; i++ {
		ts.dialFrom(t, src, "admin", ssh.Password("bad"))
	}
	if _, err := ts.dialFrom(t, src, "admin"); err != nil {
		t.Fatalf("locked after 4 failures with admin-lockout-threshold 5: %v", err)
	}
	for i := 0; i < 5; i++ {
		ts.dialFrom(t, src, "admin", ssh.Password("bad"))
	}
	ts.srv.App.Clock.Advance(200 * time.Second)
	if _, err := ts.dialFrom(t, src, "admin"); err == nil {
		t.Fatal("lockout of 300 s ended after 200 s")
	}
	ts.srv.App.Clock.Advance(101 * time.Second)
	if _, err := ts.dialFrom(t, src, "admin"); err != nil {
		t.Fatalf("lockout of 300 s still on after 301 s: %v", err)
	}
}

// admintimeout logs an idle session out, on the appliance clock; input
// moves the deadline on.
func TestIdleTimeoutOnApplianceClock(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := ts.mustDial(t)
	tm := openTerm(t, c, 40)
	clk := ts.srv.App.Clock
	clk.Advance(4 * time.Minute)
	tm.line(t, "get system console | grep output")
	tm.Expect(t, prompt, 5*time.Second)
	clk.Advance(4 * time.Minute) // 8 min since login, 4 since the last key
	if out := tm.Quiet(300 * time.Millisecond); strings.Contains(out, "Timeout") {
		t.Fatalf("logged out although a key came 4 minutes ago: %q", out)
	}
	clk.Advance(61 * time.Second)
	if _, ok := tm.TryExpect("Timeout: no input, logging out.", 3*time.Second); !ok {
		t.Fatal("regression: admintimeout (5 min) runs on the wall clock: 5 min 1 s of idle appliance time " +
			"(diagnose sys clock advance) did not log the session out")
	}
	done := make(chan error, 1)
	go func() { done <- tm.sess.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("session still open after the idle logout")
	}
}

// An access profile's admintimeout-override wins over system global's.
func TestIdleTimeoutProfileOverride(t *testing.T) {
	ts := startServer(t, serverOpts{})
	configure(t, ts, "config system global\nset admintimeout 30\nend")
	if d := cli.AdminTimeout(ts.st, "admin"); d != 30*time.Minute {
		t.Errorf("admin timeout: %v, want 30m", d)
	}
	configure(t, ts, "config system accprofile\nedit prof_idle\nset admintimeout-override enable\nset admintimeout 2\nnext\nend\n"+
		"config system admin\nedit idle\nset accprofile prof_idle\nset vdom root\nend")
	if d := cli.AdminTimeout(ts.st, "idle"); d != 2*time.Minute {
		t.Errorf("admin timeout with an override profile: %v, want 2m", d)
	}
}

// admin-ssh-password disable leaves keys only.
func TestAdminSSHPasswordDisable(t *testing.T) {
	ts := startServer(t, serverOpts{})
	configure(t, ts, "config system global\nset admin-ssh-password disable\nend")
	if _, err := ts.dial(t, "admin"); err == nil {
		t.Fatal("password login accepted with admin-ssh-password disable")
	}
	ts.log.waitFor(t, "password authentication disabled (admin-ssh-password)", 2*time.Second)
	configure(t, ts, "config system global\nset admin-ssh-password enable\nend")
	ts.mustDial(t)
}

// An address locked out mid-connection (three wrong passwords) is refused
// a key login on that connection too.
func TestLockoutStopsKeyLogin(t *testing.T) {
	ts := startServer(t, serverOpts{})
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(priv)
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	configure(t, ts, "config system admin\nedit admin\nset ssh-public-key1 \""+pub+"\"\nend")
	if _, err := ts.dialFrom(t, "127.0.0.6", "admin", ssh.PublicKeys(signer)); err != nil {
		t.Fatalf("key login: %v", err)
	}
	tries := 0
	wrong := ssh.RetryableAuthMethod(ssh.PasswordCallback(func() (string, error) {
		tries++
		return "wrong", nil
	}), 3)
	if _, err := ts.dialFrom(t, "127.0.0.6", "admin", wrong, ssh.PublicKeys(signer)); err == nil {
		t.Fatalf("key login accepted after %d wrong passwords locked the address out", tries)
	}
	ts.log.waitFor(t, "address locked out after failed logins", 2*time.Second)
}

// A password the policy refuses (the policy came later) must be changed
// at the next login.
func TestPolicyForcesChangeOfWeakPassword(t *testing.T) {
	ts := startServer(t, serverOpts{})
	configure(t, ts, "config system password-policy\nset status enable\nset minimum-length 16\nend")
	tm := openTermNoPrompt(t, ts.mustDial(t), 40)
	tm.Expect(t, "You are forced to change your password", 5*time.Second)
	tm.send(t, "Long-enough-pass-16\rLong-enough-pass-16\r")
	tm.Expect(t, prompt, 5*time.Second)
	tm = openTerm(t, mustDialPw(t, ts, "Long-enough-pass-16"), 40)
	tm.line(t, "get system status | grep Hostname")
	tm.Expect(t, "Hostname: FortiGate-VM64", 5*time.Second)
}
