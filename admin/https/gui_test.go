package https

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/daemons/iked/ikeapi"
	"github.com/fosim/fosim/internal/chromiumtest"
	"github.com/fosim/fosim/internal/peertest"
)

// chromium is Debian's headless Chromium driven by chromedp, with a fresh
// profile; it accepts the test server's self-signed certificate.
func chromium(t *testing.T) context.Context {
	t.Helper()
	if !chromiumtest.Installed() {
		peertest.Missing(t, "chromium is not installed (apt-get install chromium)")
	}
	return chromiumtest.Start(t, 1280, 800, chromedp.Flag("ignore-certificate-errors", true))
}

// screenshot saves the page to $FOSIM_GUI_SCREENSHOTS when set (to look
// at), else to the test's temporary directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	chromiumtest.Screenshot(t, ctx, "FOSIM_GUI_SCREENSHOTS", name)
}

// newGUI is the HTTPS server of a fresh appliance whose admin has
// testPassword, and a read-only admin "viewer".
func newGUI(t *testing.T, extra string, vpn VPN) (*httptest.Server, *cli.Appliance) {
	t.Helper()
	st := cmdbtest.Store(t)
	cmdbtest.Apply(t, st, "config system admin\nedit admin\nset password "+testPassword+"\nnext\n"+
		"edit viewer\nset accprofile prof_admin\nset vdom root\nset password "+testPassword+"\nnext\nend\n"+extra)
	app := cli.NewAppliance(st)
	ts := httptest.NewTLSServer(&Server{App: app, VPN: vpn})
	t.Cleanup(ts.Close)
	return ts, app
}

func TestGUILoginDashboardLogout(t *testing.T) {
	ts, _ := newGUI(t, "", nil)
	ctx := chromium(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login_button")),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "login")
	body := text(t, ctx, "body")
	if strings.Contains(body, "Single Sign-On") {
		t.Errorf("login page shows the SSO button with system saml disabled:\n%s", body)
	}

	// A wrong password: the form again, with FortiOS's message.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#username"), "admin"),
		chromedp.SendKeys(chromedp.CSS("#secretkey"), "wrong"),
		chromedp.Click(chromedp.CSS("#login_button")),
		chromedp.WaitVisible(chromedp.CSS(".error")),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "login-failed")
	if got := text(t, ctx, ".error"); got != "Authentication failure." {
		t.Errorf("failed login says %q", got)
	}

	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#secretkey"), testPassword),
		chromedp.Click(chromedp.CSS("#login_button")),
		chromedp.WaitVisible(chromedp.CSS("#system_status")),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "dashboard")
	status := text(t, ctx, "#system_status")
	for _, want := range []string{"FortiGate-VM64 v7.6.1", "Serial number", "Operation mode\tNAT"} {
		if !strings.Contains(status, want) {
			t.Errorf("system status lacks %q:\n%s", want, status)
		}
	}
	if ipsec := text(t, ctx, "#ipsec_monitor"); !strings.Contains(ipsec, "not simulated yet: IPsec in this process") {
		t.Errorf("IPsec monitor without iked says:\n%s", ipsec)
	}
	// The GUI's session is the REST API's: the browser's cookie reads a
	// monitor.
	fetched, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/api/v2/monitor/system/status").then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fetched, `"status": "success"`) {
		t.Errorf("REST with the GUI's cookie: %s", fetched)
	}

	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#logout_button")),
		chromedp.WaitVisible(chromedp.CSS("#login_button")),
		chromedp.Navigate(ts.URL+dashboardPath),
		chromedp.WaitVisible(chromedp.CSS("#login_button")),
	); err != nil {
		t.Fatal(err)
	}
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(url, loginPath) {
		t.Errorf("the dashboard after logout is at %s, not the login page", url)
	}
}

// The IPsec monitor shows iked's tunnels; a profile without VPN access
// sees none of them.
func TestGUIIPsecMonitor(t *testing.T) {
	vpn := snapshotVPN{{
		Name: "dialup_0", Parent: "dialup", Peer: netip.MustParseAddrPort("172.16.200.242:500"),
		AssignedIP: netip.MustParseAddr("10.212.134.200"), EAPUser: "userc", Created: 34 * time.Second,
		Children: []ikeapi.Child{{Name: "dialup", RxBytes: 3338588}},
	}, {
		Name: "to-hq", Peer: netip.MustParseAddrPort("198.51.100.7:500"), Connecting: true,
	}}
	ts, _ := newGUI(t, "config system accprofile\nedit fwonly\nset fwgrp read-write\nnext\nend\n"+
		"config system admin\nedit fwadmin\nset accprofile fwonly\nset vdom root\nset password "+testPassword+"\nnext\nend\n", vpn)
	ctx := chromium(t)
	login := func(user string) {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(ts.URL+loginPath),
			chromedp.WaitVisible(chromedp.CSS("#login_button")),
			chromedp.SendKeys(chromedp.CSS("#username"), user),
			chromedp.SendKeys(chromedp.CSS("#secretkey"), testPassword),
			chromedp.Click(chromedp.CSS("#login_button")),
			chromedp.WaitVisible(chromedp.CSS("#ipsec_monitor")),
		); err != nil {
			t.Fatal(err)
		}
	}
	login("admin")
	screenshot(t, ctx, "dashboard-tunnels")
	got := text(t, ctx, "#ipsec_monitor")
	for _, want := range []string{"dialup_0\tDial-up (dialup)\t172.16.200.242\tuserc\t10.212.134.200\t1\t3.3 MB\tUp",
		"to-hq\tStatic\t198.51.100.7\t\t\t0\t0 B\tConnecting"} {
		if !strings.Contains(got, want) {
			t.Errorf("IPsec monitor lacks %q:\n%q", want, got)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#logout_button")), chromedp.WaitVisible(chromedp.CSS("#login_button"))); err != nil {
		t.Fatal(err)
	}
	login("fwadmin")
	if got := text(t, ctx, "#ipsec_monitor"); strings.Contains(got, "dialup_0") || !strings.Contains(got, "does not give read access to VPN") {
		t.Errorf("fwadmin's IPsec monitor:\n%s", got)
	}
}

// text is the visible text of the element sel names.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// noRedirect is a client that shows redirects instead of following them.
func noRedirect(ts *httptest.Server) *http.Client {
	c := ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func TestGUILoginCSRF(t *testing.T) {
	ts, _ := newGUI(t, "", nil)
	c := noRedirect(ts)
	// A login posted without the form's token (another site's form) is
	// refused even with the right password.
	resp, err := c.PostForm(ts.URL+loginPath, map[string][]string{"username": {"admin"}, "secretkey": {testPassword}, "csrf": {"forged"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without the form's token: %d", resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if strings.HasPrefix(ck.Name, "APSCOOKIE_") && ck.Value != "" {
			t.Errorf("a session cookie was set: %v", ck)
		}
	}

	// Logout without the session's token leaves the session alive.
	resp, err = c.PostForm(ts.URL+"/logincheck", map[string][]string{"username": {"admin"}, "secretkey": {testPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	send := func(method, path, body string) int {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send("POST", "/ng/logout", "csrf=forged"); code != http.StatusForbidden {
		t.Errorf("logout with a forged token: %d", code)
	}
	if code := send("GET", dashboardPath, ""); code != http.StatusOK {
		t.Errorf("the dashboard after a forged logout: %d", code)
	}
}

// The "Single Sign-On" button appears with system saml enabled as SP;
// default-login-page sso sends the browser straight to the SSO login,
// and /login?normal still shows the password form.
func TestGUILoginPageSSO(t *testing.T) {
	ts, app := newGUI(t, "", nil)
	c := noRedirect(ts)
	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := c.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		if _, err := io.Copy(&b, resp.Body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("Location"), b.String()
	}
	if _, _, body := get(loginPath); strings.Contains(body, "sso_button") {
		t.Fatal("SSO button with system saml disabled")
	}
	cmdbtest.Apply(t, app.Store, "config system saml\nset status enable\nend\n")
	if code, _, body := get(loginPath); code != 200 || !strings.Contains(body, `id="sso_button"`) || !strings.Contains(body, `href="`+ssoLoginPath+`"`) {
		t.Fatalf("login page with SSO: %d\n%s", code, body)
	}
	cmdbtest.Apply(t, app.Store, "config system saml\nset default-login-page sso\nend\n")
	if code, loc, _ := get(loginPath); code != http.StatusSeeOther || loc != ssoLoginPath {
		t.Fatalf("default-login-page sso: %d to %q", code, loc)
	}
	if code, _, body := get(loginPath + "?normal"); code != 200 || !strings.Contains(body, `id="login_button"`) {
		t.Fatalf("/login?normal: %d", code)
	}
	// As identity provider this unit has no IdP to send admins to.
	cmdbtest.Apply(t, app.Store, "config system saml\nset role identity-provider\nend\n")
	if code, _, body := get(loginPath); code != 200 || strings.Contains(body, "sso_button") {
		t.Fatalf("login page as IdP: %d", code)
	}
}
