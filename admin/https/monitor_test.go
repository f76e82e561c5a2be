package https

import (
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/cli"

	"github.com/fosim/fosim/daemons/iked/ike"
	"github.com/fosim/fosim/daemons/iked/ikeapi"
)

// snapshotVPN answers with a fixed iked snapshot, as iked's query
// interface would.
type snapshotVPN []ikeapi.Gateway

func (s snapshotVPN) Gateways() []ikeapi.Gateway { return s }

// monitor/vpn/ipsec formats iked's snapshot; without iked it says so; a
// profile without VPN access gets -14.
func TestMonitorVPNIPsec(t *testing.T) {
	api := newTestAPI(t)
	if code, m := api.do(t, "GET", "/api/v2/monitor/vpn/ipsec", nil); code != 503 || m["status"] != "error" {
		t.Fatalf("without iked: %d %v", code, m)
	}
	api.srv.VPN = snapshotVPN{{
		Name: "dialup_0", Parent: "dialup", Peer: netip.MustParseAddrPort("172.16.200.242:500"),
		AssignedIP: netip.MustParseAddr("10.212.134.200"), EAPUser: "userc", Created: 34 * time.Second,
		Children: []ikeapi.Child{{
			Name: "dialup", RxBytes: 3338588, Expires: 42386 * time.Second,
			Local:  []ike.Selector{{Start: netip.MustParseAddr("0.0.0.0"), End: netip.MustParseAddr("255.255.255.255")}},
			Remote: []ike.Selector{{Start: netip.MustParseAddr("10.139.1.2"), End: netip.MustParseAddr("10.139.1.2")}},
		}},
	}}
	code, m := api.do(t, "GET", "/api/v2/monitor/vpn/ipsec", nil)
	res, _ := m["results"].([]any)
	if code != 200 || len(res) != 1 {
		t.Fatalf("vpn/ipsec: %d %v", code, m)
	}
	tun := res[0].(map[string]any)
	if tun["name"] != "dialup_0" || tun["parent"] != "dialup" || tun["rgwy"] != "172.16.200.242" || tun["tun_id"] != "10.212.134.200" ||
		tun["username"] != "userc" || tun["incoming_bytes"] != float64(3338588) || tun["creation_time"] != float64(34) {
		t.Fatalf("tunnel: %v", tun)
	}
	p := tun["proxyid"].([]any)[0].(map[string]any)
	if p["p2name"] != "dialup" || p["status"] != "up" || p["proxy_dst"].([]any)[0].(map[string]any)["subnet"] != "10.139.1.2-10.139.1.2" {
		t.Fatalf("proxyid: %v", p)
	}
	// ?tunnel= keeps one phase1's tunnels (its dial-up instances too).
	for tunnel, want := range map[string]int{"dialup": 1, "dialup_0": 1, "other": 0} {
		_, m := api.do(t, "GET", "/api/v2/monitor/vpn/ipsec?tunnel="+tunnel, nil)
		if res, _ := m["results"].([]any); len(res) != want {
			t.Errorf("tunnel=%s: %d tunnels, want %d", tunnel, len(res), want)
		}
	}
	api.cli(t, "admin", "config system accprofile\nedit fwonly\nset fwgrp read-write\nnext\nend\nconfig system api-user\nedit fw\nset accprofile fwonly\nnext\nend")
	api.token = api.generateKey(t, "admin", "fw")
	if code, m := api.do(t, "GET", "/api/v2/monitor/vpn/ipsec", nil); code != 403 || m["error"] != float64(-14) {
		t.Fatalf("without vpngrp: %d %v", code, m)
	}
	if code, m := api.do(t, "GET", "/api/v2/monitor/system/status", nil); code != 200 || m["results"].(map[string]any)["hostname"] == nil {
		t.Fatalf("system/status: %d %v", code, m)
	}
	if code, _ := api.do(t, "GET", "/api/v2/monitor/router/ipv4", nil); code != 404 {
		t.Fatalf("unmodelled monitor: %d", code)
	}
}

// cookieLogin logs user in through /logincheck and returns a request
// preparer that sends the session's cookies (and its X-CSRFTOKEN).
func cookieLogin(t *testing.T, api *testAPI, user string) func(*http.Request) {
	t.Helper()
	resp, err := api.http.Client().PostForm(api.http.URL+"/logincheck", map[string][]string{"username": {user}, "secretkey": {testPassword}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "1" {
		t.Fatalf("login of %s: %q", user, body)
	}
	cookies := resp.Cookies()
	return func(r *http.Request) {
		for _, c := range cookies {
			r.AddCookie(c)
			if c.Name == "ccsrftoken" {
				r.Header.Set("X-CSRFTOKEN", strings.Trim(c.Value, `"`))
			}
		}
	}
}

// currentAdmins reads monitor/system/current-admins as prep's caller.
func currentAdmins(t *testing.T, api *testAPI, query string, prep func(*http.Request)) []map[string]any {
	t.Helper()
	code, m := api.doWith(t, "GET", "/api/v2/monitor/system/current-admins"+query, nil, prep)
	if code != 200 || m["path"] != "system" || m["name"] != "current-admins" {
		t.Fatalf("current-admins: %d %v", code, m)
	}
	var out []map[string]any
	for _, e := range m["results"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

// monitor/system/current-admins lists the GUI/REST cookie sessions and
// the CLI logins (an SSH front end's, through cli.LoginSessions) of the
// one list the CLI prints; API token calls are no session; logouts
// remove them; reading it needs sysgrp.
func TestMonitorCurrentAdmins(t *testing.T) {
	api := newTestAPI(t)
	token := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+api.token) }
	for i := 0; i < 2; i++ {
		if got := currentAdmins(t, api, "", token); len(got) != 0 {
			t.Fatalf("token calls listed as sessions: %v", got)
		}
	}
	api.app.Clock.Advance(time.Minute) // the two logins below start apart
	before := api.app.Clock.Now().Unix()
	gui := cookieLogin(t, api, "admin")
	after := api.app.Clock.Now().Unix()
	got := currentAdmins(t, api, "", gui)
	if len(got) != 1 {
		t.Fatalf("one GUI session: %v", got)
	}
	e := got[0]
	if e["admin"] != "admin" || e["method"] != "https" || e["srcaddr"] != "127.0.0.1" || e["profile"] != "super_admin" ||
		e["is_current"] != true || e["disconnect_enabled"] != false || e["time"].(float64) < float64(before) || e["time"].(float64) > float64(after) {
		t.Fatalf("own GUI session: %v", e)
	}
	if e := currentAdmins(t, api, "", token)[0]; e["is_current"] != false || e["disconnect_enabled"] != true {
		t.Fatalf("the GUI session seen with a token: %v", e)
	}

	// an SSH login, as a CLI front end reports it
	var ssh cli.LoginSessions
	api.app.AddAdminSessions(&ssh)
	api.app.Clock.Advance(time.Minute)
	disconnected := false
	logout := ssh.Add(cli.AdminSession{User: "admin", Type: "ssh", From: netip.MustParseAddr("127.0.0.2"), Profile: "super_admin",
		Started: api.app.Clock.Now()}, func() { disconnected = true })
	got = currentAdmins(t, api, "", token)
	if len(got) != 2 || got[0]["method"] != "https" || got[1]["method"] != "ssh" || got[1]["srcaddr"] != "127.0.0.2" || got[1]["id"] != float64(1) {
		t.Fatalf("GUI and SSH sessions, oldest first: %v", got)
	}
	// the CLI prints the same list
	if out := api.cli(t, "admin", "get system info admin status"); !strings.Contains(out, "Logged in users: 2") || !strings.Contains(out, "ssh(127.0.0.2)") {
		t.Fatalf("CLI list: %q", out)
	}
	// filter and sort as on any list
	if got := currentAdmins(t, api, "?filter=method==ssh", token); len(got) != 1 || got[0]["method"] != "ssh" {
		t.Fatalf("filter: %v", got)
	}
	if got := currentAdmins(t, api, "?sort=time,dsc", token); got[0]["method"] != "ssh" {
		t.Fatalf("sort: %v", got)
	}
	if code, _ := api.do(t, "GET", "/api/v2/monitor/system/current-admins?sort=nosuch", nil); code != 400 {
		t.Fatalf("sort on an unknown field: %d", code)
	}

	// /api/v2/authentication's session_key is one session, however it is
	// presented
	resp, err := api.http.Client().Post(api.http.URL+"/api/v2/authentication", "application/json",
		strings.NewReader(`{"username":"admin","secretkey":"`+testPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var auth map[string]any
	json.NewDecoder(resp.Body).Decode(&auth)
	resp.Body.Close()
	key, _ := auth["session_key"].(string)
	if key == "" {
		t.Fatalf("authentication: %v", auth)
	}
	got = currentAdmins(t, api, "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key) })
	if len(got) != 3 || got[2]["is_current"] != true || got[0]["is_current"] != false {
		t.Fatalf("with the session key: %v", got)
	}
	if got := currentAdmins(t, api, "?access_token="+key, nil); len(got) != 3 {
		t.Fatalf("the session key as access_token: %v", got)
	}

	// a profile without system access may not read it
	api.cli(t, "admin", "config system accprofile\nedit fwonly\nset fwgrp read-write\nnext\nend\nconfig system api-user\nedit fw\nset accprofile fwonly\nnext\nend")
	fw := api.generateKey(t, "admin", "fw")
	if code, m := api.doWith(t, "GET", "/api/v2/monitor/system/current-admins", nil, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+fw) }); code != 403 || m["error"] != float64(-14) {
		t.Fatalf("without sysgrp: %d %v", code, m)
	}

	// logouts: the SSH front end's, the GUI's /logout, a disconnect
	logout()
	req, _ := http.NewRequest("POST", api.http.URL+"/logout", nil)
	gui(req)
	if resp, err := api.http.Client().Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	if got := currentAdmins(t, api, "", token); len(got) != 1 || got[0]["is_current"] != false {
		t.Fatalf("after two logouts: %v", got)
	}
	api.cli(t, "admin", "execute disconnect-admin-session 0")
	if got := currentAdmins(t, api, "", token); len(got) != 0 {
		t.Fatalf("after the disconnect: %v", got)
	}
	// a login disconnected from the CLI is told so and is gone
	ssh.Add(cli.AdminSession{User: "admin", Type: "ssh", From: netip.MustParseAddr("127.0.0.2"), Started: api.app.Clock.Now()}, func() { disconnected = true })
	api.cli(t, "admin", "execute disconnect-admin-session 0")
	if !disconnected || len(currentAdmins(t, api, "", token)) != 0 {
		t.Fatalf("disconnected SSH login: %v", disconnected)
	}
}

// monitor/system/disconnect-admins/select ends sessions by the id and
// method current-admins gives them; it needs sysgrp read-write, refuses
// the caller's own session and a session that is gone.
func TestMonitorDisconnectAdmins(t *testing.T) {
	api := newTestAPI(t)
	const url = "/api/v2/monitor/system/disconnect-admins/select"
	token := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+api.token) }
	a := cookieLogin(t, api, "admin")
	var ssh cli.LoginSessions
	api.app.AddAdminSessions(&ssh)
	disconnected := false
	ssh.Add(cli.AdminSession{User: "admin", Type: "ssh", From: netip.MustParseAddr("127.0.0.2"), Started: api.app.Clock.Now()}, func() { disconnected = true })
	byMethod := func(method string) map[string]any {
		for _, e := range currentAdmins(t, api, "", token) {
			if e["method"] == method {
				return e
			}
		}
		return nil
	}
	sshID, guiID := byMethod("ssh")["id"], byMethod("https")["id"]

	// who may not
	api.cli(t, "admin", "config system accprofile\nedit sysro\nset sysgrp read\nnext\nend\nconfig system api-user\nedit ro\nset accprofile sysro\nnext\nend")
	ro := api.generateKey(t, "admin", "ro")
	if code, m := api.doWith(t, "POST", url, map[string]any{"id": sshID, "method": "ssh"}, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+ro) }); code != 403 || m["error"] != float64(-14) {
		t.Fatalf("sysgrp read only: %d %v", code, m)
	}
	// what may not be
	for _, c := range []struct {
		body   any
		status int
	}{
		{map[string]any{"id": 99, "method": "ssh"}, 404},
		{map[string]any{"admins": []any{map[string]any{"id": sshID, "method": "ssh"}, map[string]any{"id": 99, "method": "https"}}}, 404},
		{map[string]any{"id": "one", "method": "ssh"}, 400},
		{map[string]any{"id": sshID}, 400},
		{`{"id": 1,`, 400},
	} {
		if code, m := api.doWith(t, "POST", url, c.body, token); code != c.status || m["status"] != "error" {
			t.Fatalf("%v: %d %v", c.body, code, m)
		}
	}
	if disconnected || byMethod("ssh") == nil {
		t.Fatal("a refused request disconnected the SSH login")
	}
	if code, m := api.doWith(t, "POST", url, map[string]any{"id": guiID, "method": "https"}, a); code != 400 || byMethod("https") == nil {
		t.Fatalf("its own session: %d %v", code, m)
	}

	// one, then the rest as a list, from another session
	if code, m := api.doWith(t, "POST", url, map[string]any{"id": sshID, "method": "ssh"}, token); code != 200 || m["status"] != "success" || m["name"] != "disconnect-admins" {
		t.Fatalf("disconnect SSH: %d %v", code, m)
	}
	if !disconnected || byMethod("ssh") != nil {
		t.Fatalf("SSH login left: %v", disconnected)
	}
	b := cookieLogin(t, api, "admin")
	if code, m := api.doWith(t, "POST", url, map[string]any{"admins": []any{map[string]any{"id": guiID, "method": "https"}}}, b); code != 200 {
		t.Fatalf("disconnect a GUI session from another: %d %v", code, m)
	}
	if code, _ := api.doWith(t, "GET", "/api/v2/cmdb/system/global", nil, a); code != 401 {
		t.Fatalf("the disconnected session's cookie: %d", code)
	}
	if got := currentAdmins(t, api, "", b); len(got) != 1 || got[0]["is_current"] != true {
		t.Fatalf("left: %v", got)
	}
}
