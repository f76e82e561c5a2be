package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/ssh"

	"github.com/fosim/fosim/internal/chromiumtest"
	"github.com/fosim/fosim/internal/peertest"
)

// Seed 004's Quick Access between devices on FortiGate's terms (Security
// Fabric SSO), built as an admin builds it: two `fosim run` processes,
// unit 1 (system saml role identity-provider) configured on its console,
// unit 2 (role service-provider) configured over SSH with unit 1's
// Fortinet_Factory certificate, fetched through unit 1's REST API, as
// REMOTE_Cert_1. Headless Chromium logs in on unit 1 with the password and
// reaches unit 2's dashboard through its "Single Sign-On" button without
// a second one; logging out on unit 2 logs out of both.
//
// Each unit has a loopback address of its own (127.0.0.1 and 127.0.0.2):
// cookies ignore ports, so two units on one address would share the
// browser's ccsrftoken, as two FortiGates never do.

// fabricPassword is the admin's password on both units, and alice's and
// bob's on unit 1.
const fabricPassword = "Fabric-Test-7k"

// fabricUnit is one `fosim run` process of the pair.
type fabricUnit struct {
	name    string
	https   string // port1's address and admin-sport (offset): its server-address
	ssh     string // port1's admin-ssh-port (offset)
	cmd     *exec.Cmd
	console io.WriteCloser // fosim run's console: its input is piped
	out     syncWriter     // what the console printed
	stderr  syncWriter     // fosim's own lines: where it listens, failures
	exited  chan struct{}
}

// fabricOffset is a --port-offset whose admin SSH (22) and HTTPS (443)
// ports are free on both units' addresses.
func fabricOffset(t *testing.T, addrs ...string) int {
	t.Helper()
	for range 50 {
		off := 20000 + rand.IntN(30000)
		free := true
		for _, a := range addrs {
			for _, p := range []int{22, 443} {
				ln, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(p+off)))
				if err != nil {
					free = false
					continue
				}
				ln.Close()
			}
		}
		if free {
			return off
		}
	}
	t.Fatal("no port offset with SSH and HTTPS free on " + strings.Join(addrs, " and "))
	return 0
}

// startFabricUnit starts `fosim run --map port1=ADDR --port-offset OFF` on
// a fresh data directory whose admin has fabricPassword (a startup config
// applied with `fosim apply`), and waits until it says it serves HTTPS.
func startFabricUnit(t *testing.T, name, addr string, off int) *fabricUnit {
	t.Helper()
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		peertest.Need(t, false, fmt.Sprintf("the loopback address %s, %s's own (%v)", addr, name, err))
	}
	ln.Close()
	data := filepath.Join(t.TempDir(), "data")
	setAdminPassword(t, data, fabricPassword)
	u := &fabricUnit{
		name:   name,
		https:  net.JoinHostPort(addr, strconv.Itoa(443+off)),
		ssh:    net.JoinHostPort(addr, strconv.Itoa(22+off)),
		exited: make(chan struct{}),
	}
	u.cmd = child(t, "--data", data, "run", "--map", "port1="+addr, "--port-offset", strconv.Itoa(off))
	console, err := u.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	u.console = console
	u.cmd.Stdout, u.cmd.Stderr = &u.out, &u.stderr
	if err := u.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { u.cmd.Wait(); close(u.exited) }()
	t.Cleanup(func() { u.stop(t) })
	u.waitFor(t, &u.stderr, 0, regexp.MustCompile(`HTTPS on \[`+regexp.QuoteMeta(u.https)+`\]`), "fosim run to serve HTTPS on "+u.https)
	return u
}

// stop ends the console's input, which stops fosim run as the end of
// piped input does; a unit that does not stop in 10 s is killed.
func (u *fabricUnit) stop(t *testing.T) {
	u.console.Close()
	select {
	case <-u.exited:
		if rc := u.cmd.ProcessState.ExitCode(); rc != 0 {
			t.Errorf("%s: fosim run exited with status %d at the end of its console's input:\n%s", u.name, rc, u.stderr.String())
		}
	case <-time.After(10 * time.Second):
		u.cmd.Process.Signal(syscall.SIGKILL)
		<-u.exited
		t.Errorf("%s: fosim run did not stop in 10 s at the end of its console's input", u.name)
	}
}

// waitFor waits (up to 15 s) until what w holds past its first from
// bytes matches re.
func (u *fabricUnit) waitFor(t *testing.T, w *syncWriter, from int, re *regexp.Regexp, what string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !re.MatchString(w.String()[from:]); time.Sleep(20 * time.Millisecond) {
		select {
		case <-u.exited:
			t.Fatalf("%s exited waiting for %s:\n%s\n%s", u.name, what, u.stderr.String(), u.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s in 15 s:\n%s\n%s", u.name, what, u.stderr.String(), u.out.String())
		}
	}
}

// consoleRun types lines at the unit's console and returns what they
// printed, once it matches done.
func (u *fabricUnit) consoleRun(t *testing.T, lines string, done *regexp.Regexp) string {
	t.Helper()
	before := len(u.out.String())
	if _, err := io.WriteString(u.console, lines); err != nil {
		t.Fatalf("%s console: %v", u.name, err)
	}
	u.waitFor(t, &u.out, before, done, "console output "+done.String())
	return u.out.String()[before:]
}

// sshClient is the admin's SSH login on a unit.
func (u *fabricUnit) sshClient(t *testing.T) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial("tcp", u.ssh, adminSSHConfig(fabricPassword))
	if err != nil {
		t.Fatalf("SSH to %s on %s: %v", u.name, u.ssh, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sshPaste pastes a configuration into an SSH terminal of the unit (a
// session with a pty, as PuTTY or OpenSSH give) and returns what the
// terminal showed once done matches it.
func (u *fabricUnit) sshPaste(t *testing.T, script string, done *regexp.Regexp) string {
	t.Helper()
	sess, err := u.sshClient(t).NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	// Tall enough that nothing pages.
	if err := sess.RequestPty("xterm", 1000, 200, ssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	in, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out syncWriter
	sess.Stdout = &out
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	// A terminal sends Enter as a carriage return.
	if _, err := io.WriteString(in, strings.ReplaceAll(script, "\n", "\r")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); !done.MatchString(out.String()); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the pasted configuration did not end with %s in 15 s:\n%s", u.name, done, out.String())
		}
	}
	io.WriteString(in, "exit\r")
	return out.String()
}

// sshExec runs one command over SSH (ssh admin@unit 'command').
func (u *fabricUnit) sshExec(t *testing.T, command string) string {
	t.Helper()
	sess, err := u.sshClient(t).NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(command)
	if err != nil {
		t.Fatalf("%s: ssh %q: %v\n%s", u.name, command, err, out)
	}
	return string(out)
}

// factoryCertificate is the unit's Fortinet_Factory certificate, read as
// an admin reads it with curl: a password login on /logincheck, then GET
// /api/v2/cmdb/vpn.certificate/local/Fortinet_Factory.
func (u *fabricUnit) factoryCertificate(t *testing.T) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	// The unit's HTTPS certificate is its own self-signed one, as an
	// admin's curl -k accepts it.
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	base := "https://" + u.https
	resp, err := c.PostForm(base+"/logincheck", url.Values{"username": {"admin"}, "secretkey": {fabricPassword}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(body)) != "1" {
		t.Fatalf("%s: /logincheck as admin answered %q", u.name, body)
	}
	resp, err = c.Get(base + "/api/v2/cmdb/vpn.certificate/local/Fortinet_Factory")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reply struct {
		Status  string `json:"status"`
		Results []struct {
			Certificate string `json:"certificate"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil || reply.Status != "success" || len(reply.Results) != 1 {
		t.Fatalf("%s: REST GET of Fortinet_Factory: %d %v %+v", u.name, resp.StatusCode, err, reply)
	}
	cert := strings.TrimSpace(reply.Results[0].Certificate)
	if b, _ := pem.Decode([]byte(cert)); b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("%s: Fortinet_Factory over REST is no PEM certificate: %.200q", u.name, cert)
	} else if _, err := x509.ParseCertificate(b.Bytes); err != nil {
		t.Fatalf("%s: Fortinet_Factory over REST: %v", u.name, err)
	}
	if resp, err := c.Get(base + "/logout"); err == nil {
		resp.Body.Close()
	}
	return cert
}

// fabricConfig is testdata/fabric_<name>.conf with its ${…} filled in.
func fabricConfig(t *testing.T, name string, vars map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fabric_"+name+".conf"))
	if err != nil {
		t.Fatal(err)
	}
	return os.Expand(string(b), func(k string) string {
		v, ok := vars[k]
		if !ok {
			t.Fatalf("fabric_%s.conf: no value for ${%s}", name, k)
		}
		return v
	})
}

// browserTrail records the URL of every page the browser's main frame
// loads, to tell which pages a login went through, and the browser's
// Content-Security-Policy refusals, which show only in its log.
type browserTrail struct {
	mu      sync.Mutex
	urls    []string
	refused []string
}

func (b *browserTrail) listen(t *testing.T, ctx context.Context) {
	t.Helper()
	err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *page.EventFrameNavigated:
			if e.Frame.ParentID == "" {
				b.urls = append(b.urls, e.Frame.URL)
			}
		case *cdplog.EventEntryAdded:
			if strings.Contains(e.Entry.Text, "Content Security Policy") {
				b.refused = append(b.refused, e.Entry.Text)
			}
		}
	})
	if err == nil {
		_, err = chromedp.Call(ctx, cdplog.Enable, cdp.Empty{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// since is every URL loaded after the n first.
func (b *browserTrail) since(n int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.urls[n:]...)
}

func (b *browserTrail) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.urls)
}

// cspRefusals are the browser's Content-Security-Policy refusals so far.
func (b *browserTrail) cspRefusals() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.refused...)
}

func fabricScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	chromiumtest.Screenshot(t, ctx, "FOSIM_GUI_SCREENSHOTS", "fabric-"+name)
}

func pageText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// browse runs the actions, each wait bounded by 10 s; when one fails it
// says where the browser is and what the page shows, and keeps a
// screenshot of it.
func browse(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := chromedp.Do(tctx, actions...)
	if err == nil {
		return
	}
	at, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"), chromedp.AtLeast(0)))
	fabricScreenshot(t, ctx, "failed")
	t.Fatalf("%s: %v\nthe browser is at %s, showing:\n%s", what, err, at, body)
}

func location(t *testing.T, ctx context.Context) *url.URL {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestFabricSSOTwoProcesses is seed 004's Quick Access between two
// FortiGates (issue 13): an admin logged in on unit 1, the IdP, reaches
// unit 2, its SP, without logging in again; unit 2 lists the session as
// SSO with the sso-admin's profile; logging out there logs out of both;
// an IdP admin unit 2 has no sso-admin entry for (and no default-profile)
// is refused with "doesn't exist".
func TestFabricSSOTwoProcesses(t *testing.T) {
	peertest.Need(t, chromiumtest.Installed(), "chromium (apt-get install chromium), the browser of the Security Fabric SSO test")
	began := time.Now()
	off := fabricOffset(t, "127.0.0.1", "127.0.0.2")
	idp := startFabricUnit(t, "unit 1 (IdP)", "127.0.0.1", off)
	sp := startFabricUnit(t, "unit 2 (SP)", "127.0.0.2", off)
	vars := map[string]string{"IDP": idp.https, "SP": sp.https, "PASSWORD": fabricPassword}

	// Unit 1 is configured on its console.
	out := idp.consoleRun(t, fabricConfig(t, "idp", vars)+"get system saml | grep role\n", regexp.MustCompile(`role\s+: identity-provider\n`))
	if strings.Contains(out, "Command fail") {
		t.Fatalf("unit 1's console refused its configuration:\n%s", out)
	}

	// Unit 2 trusts unit 1's Fortinet_Factory, fetched over REST, and is
	// configured over SSH.
	vars["IDP_CERT"] = idp.factoryCertificate(t)
	out = sp.sshPaste(t, fabricConfig(t, "sp", vars)+"get system saml | grep idp-cert\n", regexp.MustCompile(`idp-cert\s+: REMOTE_Cert_1\r?\n`))
	if strings.Contains(out, "Command fail") || strings.Contains(out, "parse error") {
		t.Fatalf("unit 2 refused the configuration pasted over SSH:\n%s", out)
	}
	if got := sp.sshExec(t, "show vpn certificate remote REMOTE_Cert_1"); !strings.Contains(got, strings.SplitN(vars["IDP_CERT"], "\n", 3)[1]) {
		t.Fatalf("unit 2's REMOTE_Cert_1 is not unit 1's Fortinet_Factory:\n%s", got)
	}
	t.Logf("two fosim run processes up and configured in %v", time.Since(began).Round(time.Millisecond))

	ctx := chromiumtest.Start(t, 1280, 800, chromedp.Flag("ignore-certificate-errors", true))
	var trail browserTrail
	trail.listen(t, ctx)
	idpURL, spURL := "https://"+idp.https, "https://"+sp.https
	loginIdP := func(t *testing.T, ctx context.Context, user string) {
		t.Helper()
		browse(t, ctx, user+"'s login on unit 1",
			chromedp.Navigate(idpURL+"/login"),
			chromedp.WaitVisible(chromedp.CSS("#login_button")),
			chromedp.SendKeys(chromedp.CSS("#username"), user),
			chromedp.SendKeys(chromedp.CSS("#secretkey"), fabricPassword),
			chromedp.Click(chromedp.CSS("#login_button")),
			chromedp.WaitVisible(chromedp.CSS("#system_status")),
		)
	}

	ok := t.Run("single sign-on", func(t *testing.T) {
		// alice logs in on unit 1 with her password.
		loginIdP(t, ctx, "alice")
		fabricScreenshot(t, ctx, "1-idp-dashboard")
		if got := pageText(t, ctx, "header"); !strings.Contains(got, "FGT-Fabric-1") || !strings.Contains(got, "alice (ops)") {
			t.Fatalf("unit 1's dashboard header: %q", got)
		}

		// Unit 2's login page, its Single Sign-On button, and unit 2's
		// dashboard as alice: no password asked on the way.
		browse(t, ctx, "unit 2's login page", chromedp.Navigate(spURL+"/login"), chromedp.WaitVisible(chromedp.CSS("#sso_button")))
		fabricScreenshot(t, ctx, "2-sp-login")
		mark, clicked := trail.len(), time.Now()
		browse(t, ctx, "Single Sign-On on unit 2", chromedp.Click(chromedp.CSS("#sso_button")), chromedp.WaitVisible(chromedp.CSS("#system_status, .error")))
		took := time.Since(clicked)
		fabricScreenshot(t, ctx, "3-sp-dashboard")
		pages := trail.since(mark)
		if at := location(t, ctx); at.Host != sp.https || at.Path != "/ng/dashboard" {
			t.Fatalf("Single Sign-On on unit 2 ended on %s:\n%s\npages: %q", at, pageText(t, ctx, "body"), pages)
		}
		if got := pageText(t, ctx, "header"); !strings.Contains(got, "FGT-Fabric-2") || !strings.Contains(got, "alice (ops)") {
			t.Fatalf("unit 2's dashboard header: %q", got)
		}
		for _, p := range pages {
			if u, _ := url.Parse(p); u != nil && u.Path == "/login" {
				t.Fatalf("the Single Sign-On went through a login page (%s): %q", p, pages)
			}
		}
		if len(pages) == 0 || !strings.HasPrefix(pages[0], idpURL+"/saml-idp/csf_fosim2/login/?SAMLRequest=") {
			t.Errorf("the Single Sign-On did not go through unit 1's IdP first: %q", pages)
		}
		t.Logf("Single Sign-On, from unit 2's button to its dashboard through unit 1: %v", took.Round(time.Millisecond))

		// The browser's session is a session of unit 2's REST API with
		// the sso-admin's profile: system read, no firewall write.
		read, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/api/v2/cmdb/system/global").then(r => r.status + "")`, chromedp.EvalAwaitPromise))
		if err != nil || read != "200" {
			t.Errorf("REST read on unit 2 as the SSO admin: %s %v", read, err)
		}
		write, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/api/v2/cmdb/firewall/address", {method: "POST",
			headers: {"X-CSRFTOKEN": document.cookie.match(/ccsrftoken="?([0-9a-f]+)/)[1], "Content-Type": "application/json"},
			body: JSON.stringify({name: "from-fabric", subnet: "10.9.9.0 255.255.255.0"})}).then(r => r.json()).then(j => j.http_status + " " + j.error)`, chromedp.EvalAwaitPromise))
		if err != nil || write != "403 -14" {
			t.Errorf("REST write on unit 2 with ops (no fwgrp there): %s %v", write, err)
		}

		// Unit 2's own list, the seed's FortiManager-style view.
		list := sp.sshExec(t, "diagnose system admin-session list")
		for _, want := range []string{"username: alice\n", "admin template: SSO\n", "from: SSO(127.0.0.1) (type 7)\n", "profile: ops\n"} {
			if !strings.Contains(list, want) {
				t.Errorf("unit 2's diagnose system admin-session list lacks %q:\n%s", want, list)
			}
		}
		if list := idp.consoleRun(t, "diagnose system admin-session list\n", regexp.MustCompile(`session length: `)); !strings.Contains(list, "username: alice\n") {
			t.Errorf("unit 1 does not list alice's password session:\n%s", list)
		}
	})
	if !ok {
		return
	}

	t.Run("single logout", func(t *testing.T) {
		// Logout on unit 2's dashboard: single logout through unit 1,
		// back on unit 2's login page, logged out of both.
		refusedBefore := len(trail.cspRefusals())
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#logout_button"))); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if at := location(t, ctx); at.Path == "/login" {
				break
			}
			if refused := trail.cspRefusals()[refusedBefore:]; len(refused) > 0 {
				fabricScreenshot(t, ctx, "4-sp-logout-refused")
				kept := map[bool]string{true: "keeps", false: "ended"}
				t.Fatalf("Chromium refused the way from unit 2's logout to unit 1's idp-single-logout-url "+
					"(the GUI's Content-Security-Policy): the admin stays on unit 2's dashboard, unit 2 %s alice's session, unit 1 %s it; %q",
					kept[strings.Contains(sp.sshExec(t, "diagnose system admin-session list"), "username: alice")],
					kept[strings.Contains(idp.consoleRun(t, "get system info admin status\n", regexp.MustCompile(`Logged in users: \d+\n`)), "alice")], refused)
			}
			if time.Now().After(deadline) {
				t.Fatalf("logout on unit 2 stays on %s:\n%s", location(t, ctx), pageText(t, ctx, "body"))
			}
		}
		browse(t, ctx, "unit 2's login page after the logout", chromedp.WaitVisible(chromedp.CSS("#login_button")))
		fabricScreenshot(t, ctx, "4-sp-logged-out")
		if at := location(t, ctx); at.Host != sp.https {
			t.Fatalf("logout on unit 2 ended on %s", at)
		}
		for _, u := range []string{spURL, idpURL} {
			browse(t, ctx, u+"/ng/dashboard", chromedp.Navigate(u+"/ng/dashboard"), chromedp.WaitVisible(chromedp.CSS("body")))
			if at := location(t, ctx); at.Path != "/login" {
				t.Errorf("%s/ng/dashboard after the logout on unit 2 is %s: still logged in", u, at)
			}
		}
		if list := idp.consoleRun(t, "get system info admin status\n", regexp.MustCompile(`Logged in users: \d+\n`)); strings.Contains(list, "alice") {
			t.Errorf("unit 1 keeps alice's session after the single logout:\n%s", list)
		}
		if list := sp.sshExec(t, "diagnose system admin-session list"); strings.Contains(list, "alice") {
			t.Errorf("unit 2 keeps alice's session after her logout:\n%s", list)
		}
	})

	t.Run("unknown admin", func(t *testing.T) {
		// bob is an admin of unit 1 with no sso-admin entry on unit 2,
		// which has no default-profile: FortiOS's "doesn't exist". His
		// browser is another one (a browser context of its own), not
		// logged in on unit 1: unit 2's Single Sign-On sends it to unit
		// 1's login page first, as the seed says.
		ctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
		defer cancel()
		// Its first run opens the tab, with no timeout (chromedp.Run).
		if err := chromedp.Do(ctx); err != nil {
			t.Fatal(err)
		}
		browse(t, ctx, "bob's Single Sign-On on unit 2",
			chromedp.Navigate(spURL+"/login"),
			chromedp.WaitVisible(chromedp.CSS("#sso_button")),
			chromedp.Click(chromedp.CSS("#sso_button")),
			chromedp.WaitVisible(chromedp.CSS("#login_button")),
		)
		fabricScreenshot(t, ctx, "5-idp-login-for-sp")
		if at := location(t, ctx); at.Host != idp.https || at.Path != "/login" {
			t.Fatalf("unit 2's Single Sign-On, not logged in on unit 1, is at %s, not unit 1's login page", at)
		}
		browse(t, ctx, "bob's login on unit 1 for unit 2",
			chromedp.SendKeys(chromedp.CSS("#username"), "bob"),
			chromedp.SendKeys(chromedp.CSS("#secretkey"), fabricPassword),
			chromedp.Click(chromedp.CSS("#login_button")),
			chromedp.WaitVisible(chromedp.CSS("#system_status, .error")),
		)
		fabricScreenshot(t, ctx, "6-sp-unknown-admin")
		if at := location(t, ctx); at.Host != sp.https {
			t.Fatalf("bob's Single Sign-On ended on %s", at)
		}
		body := pageText(t, ctx, "body")
		if !strings.Contains(body, `The admin "bob" doesn't exist`) || strings.Contains(body, "System Information") {
			t.Fatalf("bob on unit 2:\n%s", body)
		}
		if got := sp.sshExec(t, "show system sso-admin"); strings.Contains(got, "bob") {
			t.Errorf("unit 2 added bob without a default-profile:\n%s", got)
		}
	})
	t.Logf("whole test: %v", time.Since(began).Round(time.Millisecond))
}
