package https

import (
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A REST POST and the CLI's set of the same values store the same entry,
// and GET writes it as FortiOS does: mask as a dotted quad, lists of
// names as {"name", "q_origin_key"} objects, integers as numbers.
func TestRESTWriteStoresWhatTheCLIStores(t *testing.T) {
	api := newTestAPI(t)
	code, m := api.do(t, "POST", "/api/v2/cmdb/firewall/address", map[string]any{
		"name": "web", "subnet": "10.0.0.0/24", "comment": "web servers", "color": 3,
	})
	if code != 200 || m["mkey"] != "web" || m["status"] != "success" || m["revision_changed"] != true {
		t.Fatalf("POST: %d %v", code, m)
	}
	api.cli(t, "admin", "config firewall address\nedit web2\nset subnet 10.0.0.0/24\nset comment \"web servers\"\nset color 3\nnext\nend")
	a, b := api.st.Lookup("firewall address", "web"), api.st.Lookup("firewall address", "web2")
	if a == nil || b == nil {
		t.Fatal("entries missing")
	}
	va, vb := maps.Clone(a.Values), maps.Clone(b.Values)
	delete(va, "uuid")
	delete(vb, "uuid")
	if !maps.EqualFunc(va, vb, func(x, y []string) bool { return strings.Join(x, "\x00") == strings.Join(y, "\x00") }) {
		t.Fatalf("REST stored %v, CLI %v", va, vb)
	}
	code, m = api.do(t, "GET", "/api/v2/cmdb/firewall/address/web", nil)
	res := m["results"].([]any)
	e := res[0].(map[string]any)
	if code != 200 || len(res) != 1 || e["subnet"] != "10.0.0.0 255.255.255.0" || e["color"] != float64(3) || e["q_origin_key"] != "web" {
		t.Fatalf("GET: %d %v", code, m)
	}
	for _, k := range []string{"http_method", "revision", "vdom", "path", "name", "status", "http_status", "serial", "version", "build"} {
		if _, ok := m[k]; !ok {
			t.Errorf("reply without %q: %v", k, m)
		}
	}
	if m["path"] != "firewall" || m["name"] != "address" || m["mkey"] != "web" || m["vdom"] != "root" || m["version"] != "v7.6.1" {
		t.Errorf("reply: %v", m)
	}

	// a group and a policy name their members as objects
	code, m = api.do(t, "POST", "/api/v2/cmdb/firewall/addrgrp", map[string]any{
		"name": "servers", "member": []any{map[string]any{"name": "web"}, map[string]any{"name": "web2"}},
	})
	if code != 200 {
		t.Fatalf("addrgrp: %d %v", code, m)
	}
	code, m = api.do(t, "GET", "/api/v2/cmdb/firewall/addrgrp/servers?datasource=1", nil)
	members := m["results"].([]any)[0].(map[string]any)["member"].([]any)
	if code != 200 || len(members) != 2 || members[0].(map[string]any)["name"] != "web" || members[0].(map[string]any)["datasource"] != "firewall.address" {
		t.Fatalf("members: %v", members)
	}
	if out := api.cli(t, "admin", "show firewall addrgrp servers"); !strings.Contains(out, `set member "web" "web2"`) {
		t.Fatalf("show: %q", out)
	}

	// a policy without a policyid takes the next free one
	code, m = api.do(t, "POST", "/api/v2/cmdb/firewall/policy", map[string]any{
		"name": "out", "srcintf": []any{map[string]any{"name": "port1"}}, "dstintf": []any{map[string]any{"name": "port2"}},
		"srcaddr": []any{map[string]any{"name": "servers"}}, "dstaddr": []any{map[string]any{"name": "all"}},
		"service": []any{map[string]any{"name": "ALL"}}, "schedule": "always", "action": "accept",
	})
	if code != 200 || m["mkey"] != float64(1) {
		t.Fatalf("policy: %d %v", code, m)
	}
	// PUT changes only what it names; the same PUT again changes nothing
	for i, want := range []bool{true, false} {
		code, m = api.do(t, "PUT", "/api/v2/cmdb/firewall/policy/1", map[string]any{"action": "deny", "logtraffic": "all"})
		if code != 200 || m["revision_changed"] != want {
			t.Fatalf("PUT %d: %d %v", i, code, m)
		}
	}
	if out := api.cli(t, "admin", "show firewall policy 1"); !strings.Contains(out, `set srcaddr "servers"`) || strings.Contains(out, "set action accept") {
		t.Fatalf("after PUT: %q", out)
	}
	// deleting what a policy names is FortiOS's -23; the policy, then it, goes
	code, m = api.do(t, "DELETE", "/api/v2/cmdb/firewall/addrgrp/servers", nil)
	if code != 500 || m["error"] != float64(-23) {
		t.Fatalf("DELETE in use: %d %v", code, m)
	}
	for _, p := range []string{"/api/v2/cmdb/firewall/policy/1", "/api/v2/cmdb/firewall/addrgrp/servers"} {
		if code, m = api.do(t, "DELETE", p, nil); code != 200 {
			t.Fatalf("DELETE %s: %d %v", p, code, m)
		}
	}
	if code, m = api.do(t, "GET", "/api/v2/cmdb/firewall/addrgrp/servers", nil); code != 404 {
		t.Fatalf("GET deleted: %d %v", code, m)
	}
}

// A phase1-interface: its path has a dot ("vpn.ipsec"), its secret is
// stored encrypted and read back as ENC, and a singleton answers with an
// object.
func TestPhase1AndSingletons(t *testing.T) {
	api := newTestAPI(t)
	code, m := api.do(t, "POST", "/api/v2/cmdb/vpn.ipsec/phase1-interface", map[string]any{
		"name": "hq", "interface": "port1", "ike-version": "2", "remote-gw": "192.0.2.1",
		"psksecret": "sup3r-secret-psk", "proposal": "aes256-sha256", "peertype": "any",
	})
	if code != 200 {
		t.Fatalf("POST phase1: %d %v", code, m)
	}
	code, m = api.do(t, "GET", "/api/v2/cmdb/vpn.ipsec/phase1-interface/hq", nil)
	e := m["results"].([]any)[0].(map[string]any)
	if psk, _ := e["psksecret"].(string); code != 200 || !strings.HasPrefix(psk, "ENC ") || strings.Contains(psk, "sup3r") {
		t.Fatalf("psksecret: %v", e["psksecret"])
	}
	if e["remote-gw"] != "192.0.2.1" || e["interface"] != "port1" {
		t.Fatalf("phase1: %v", e)
	}
	// reading back the ENC value and writing it again changes nothing
	if code, m = api.do(t, "PUT", "/api/v2/cmdb/vpn.ipsec/phase1-interface/hq", map[string]any{"psksecret": e["psksecret"]}); code != 200 || m["revision_changed"] != false {
		t.Fatalf("PUT ENC: %d %v", code, m)
	}
	code, m = api.do(t, "GET", "/api/v2/cmdb/system/global?vdom=root", nil)
	g, ok := m["results"].(map[string]any)
	if code != 200 || !ok || g["admin-sport"] != float64(443) {
		t.Fatalf("system global: %d %v", code, m)
	}
	if code, m = api.do(t, "PUT", "/api/v2/cmdb/system/global?global=1", map[string]any{"hostname": "FGT-REST"}); code != 200 {
		t.Fatalf("PUT global: %d %v", code, m)
	}
	if out := api.cli(t, "admin", "get system status"); !strings.Contains(out, "Hostname: FGT-REST") {
		t.Fatalf("hostname: %q", out)
	}
}

// GET parameters: format, filter, with_meta, start/count, action=schema
// and action=default.
func TestGetParameters(t *testing.T) {
	api := newTestAPI(t)
	api.cli(t, "admin", "config firewall address\nedit a1\nset subnet 10.1.0.0/16\nnext\nedit a2\nset subnet 10.2.0.0/16\nset comment two\nnext\nedit b3\nset type iprange\nset start-ip 10.3.0.1\nset end-ip 10.3.0.9\nnext\nend\n"+
		"config firewall addrgrp\nedit g\nset member a1 a2\nnext\nend")
	_, m := api.do(t, "GET", "/api/v2/cmdb/firewall/address?format=name|subnet&filter=subnet=@10.&filter=name!=a1", nil)
	res := m["results"].([]any)
	if len(res) != 1 || res[0].(map[string]any)["name"] != "a2" {
		t.Fatalf("filter: %v", res)
	}
	if e := res[0].(map[string]any); e["comment"] != nil || e["subnet"] != "10.2.0.0 255.255.0.0" {
		t.Fatalf("format: %v", e)
	}
	_, m = api.do(t, "GET", "/api/v2/cmdb/firewall/address?filter=start-ip==10.3.0.1,name==a1", nil)
	if res := m["results"].([]any); len(res) != 2 {
		t.Fatalf("or-filter: %v", res)
	}
	_, m = api.do(t, "GET", "/api/v2/cmdb/firewall/address/a1?with_meta=1", nil)
	if e := m["results"].([]any)[0].(map[string]any); e["q_ref"] != float64(1) {
		t.Fatalf("q_ref: %v", e)
	}
	if _, m = api.do(t, "GET", "/api/v2/cmdb/firewall/address/?filter=name==a1", nil); len(m["results"].([]any)) != 1 {
		t.Fatalf("trailing slash: %v", m)
	}
	// a name with a slash, escaped in the URL
	api.cli(t, "admin", "config firewall address\nedit \"net/a\"\nset subnet 10.9.0.0/16\nnext\nend")
	if code, m := api.do(t, "GET", "/api/v2/cmdb/firewall/address/net%2Fa", nil); code != 200 || m["mkey"] != nil && m["mkey"] != "net/a" {
		t.Fatalf("escaped name: %d %v", code, m)
	}
	_, m = api.do(t, "GET", "/api/v2/cmdb/firewall/address?start=1&count=1", nil)
	if res := m["results"].([]any); len(res) != 1 || m["matched_count"] == nil {
		t.Fatalf("start/count: %v", m)
	}
	_, m = api.do(t, "GET", "/api/v2/cmdb/firewall/address?action=schema", nil)
	sch := m["results"].(map[string]any)
	if sch["mkey"] != "name" || sch["children"].(map[string]any)["subnet"] == nil {
		t.Fatalf("schema: %v", sch)
	}
	_, m = api.do(t, "GET", "/api/v2/cmdb/firewall/address?action=default", nil)
	if d := m["results"].(map[string]any); d["type"] != "ipmask" || d["name"] != nil {
		t.Fatalf("default: %v", d)
	}
}

// Bad input gets FortiOS-shaped errors and stores nothing.
func TestBadInput(t *testing.T) {
	api := newTestAPI(t)
	rev := api.st.Revision()
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               float64 // FortiOS's return code; 0: none
	}{
		{"malformed JSON", "POST", "/api/v2/cmdb/firewall/address", `{"name": "x", `, 400, 0},
		{"not an object", "POST", "/api/v2/cmdb/firewall/address", `["x"]`, 400, 0},
		{"unknown field", "POST", "/api/v2/cmdb/firewall/address", map[string]any{"name": "x", "subnett": "10.0.0.0/8"}, 500, -61},
		{"bad value", "POST", "/api/v2/cmdb/firewall/address", map[string]any{"name": "x", "subnet": "10.0.0.0/33"}, 500, -651},
		{"reference to nothing", "POST", "/api/v2/cmdb/firewall/addrgrp", map[string]any{"name": "g", "member": []any{map[string]any{"name": "nope"}}}, 500, -651},
		{"duplicate", "POST", "/api/v2/cmdb/firewall/address", map[string]any{"name": "all"}, 500, -5},
		{"PUT of nothing", "PUT", "/api/v2/cmdb/firewall/address/nope", map[string]any{"comment": "x"}, 404, -3},
		{"path outside the schema", "GET", "/api/v2/cmdb/firewall/nosuchtable", nil, 404, -61},
		{"area outside the schema", "POST", "/api/v2/cmdb/router/static", map[string]any{"seq-num": 1}, 404, -61},
		{"other vdom", "GET", "/api/v2/cmdb/firewall/address?vdom=other", nil, 404, -3},
		{"half a body refused", "POST", "/api/v2/cmdb/firewall/address", map[string]any{"name": "y", "comment": "fine", "color": 99}, 500, -651},
		{"a secret of the wrong type", "POST", "/api/v2/cmdb/vpn.ipsec/phase1-interface", map[string]any{"name": "p", "interface": "port1", "psksecret": []any{"s3cret-value"}}, 500, -651},
		{"a secret too short", "POST", "/api/v2/cmdb/vpn.ipsec/phase1-interface", map[string]any{"name": "p", "interface": "port1", "psksecret": "s3cr"}, 500, -651},
		{"10 MB body", "POST", "/api/v2/cmdb/firewall/address", `{"name": "z", "comment": "` + strings.Repeat("x", 10<<20) + `"}`, 413, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, m := api.do(t, c.method, c.path, c.body)
			if code != c.status || m["status"] != "error" {
				t.Fatalf("%d %v", code, m)
			}
			if c.code != 0 && m["error"] != c.code {
				t.Fatalf("error %v, want %v: %v", m["error"], c.code, m)
			}
			if c.code != 0 && !strings.Contains(m["cli_error"].(string), "Return code") {
				t.Fatalf("cli_error: %v", m["cli_error"])
			}
			if msg, _ := m["cli_error"].(string); strings.Contains(msg, "s3cr") {
				t.Fatalf("a secret echoed: %q", msg)
			}
		})
	}
	if got := api.st.Revision(); got != rev {
		t.Fatalf("bad input committed: revision %d -> %d", rev, got)
	}
	for _, k := range []string{"x", "y", "z"} {
		if api.st.Lookup("firewall address", k) != nil {
			t.Fatalf("address %s stored", k)
		}
	}
}

// Tokens: Bearer or access_token; a wrong or replaced token is 401, a
// token from outside the API user's trusthost 401, a read-only profile's
// write 403 with FortiOS's -14.
func TestTokens(t *testing.T) {
	api := newTestAPI(t)
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	if code, m := api.doWith(t, "GET", "/api/v2/monitor/system/status?access_token="+api.token, nil, nil); code != 200 || m["version"] != "v7.6.1" {
		t.Fatalf("access_token: %d %v", code, m)
	}
	wrong := "x" + api.token[1:]
	if wrong == api.token { // the token began with x
		wrong = "y" + api.token[1:]
	}
	if code, _ := api.doWith(t, "GET", "/api/v2/cmdb/firewall/address", nil, bearer(wrong)); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code, _ := api.doWith(t, "GET", "/api/v2/cmdb/firewall/address", nil, nil); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	// a read-only API user reads but cannot write
	api.cli(t, "admin", "config system accprofile\nedit ro\nset fwgrp read\nset sysgrp read\nnext\nend\nconfig system api-user\nedit viewer\nset accprofile ro\nnext\nend")
	ro := api.generateKey(t, "admin", "viewer")
	if code, _ := api.doWith(t, "GET", "/api/v2/cmdb/firewall/address", nil, bearer(ro)); code != 200 {
		t.Fatalf("read-only GET: %d", code)
	}
	code, m := api.doWith(t, "POST", "/api/v2/cmdb/firewall/address", map[string]any{"name": "x"}, bearer(ro))
	if code != 403 || m["error"] != float64(-14) || api.st.Lookup("firewall address", "x") != nil {
		t.Fatalf("read-only POST: %d %v", code, m)
	}
	if code, m := api.doWith(t, "GET", "/api/v2/cmdb/vpn.ipsec/phase1-interface", nil, bearer(ro)); code != 403 || m["error"] != float64(-14) {
		t.Fatalf("read-only GET outside the profile: %d %v", code, m)
	}
	// a read-only admin cannot make keys either
	api.cli(t, "admin", "config system admin\nedit ops\nset accprofile ro\nset password "+testPassword+"\nnext\nend")
	if out := api.cli(t, "ops", "execute api-user generate-key automation"); !strings.Contains(out, "Return code -14") {
		t.Fatalf("read-only generate-key: %q", out)
	}
	// trusthost: 127.0.0.1 is outside 192.0.2.0/24
	api.cli(t, "admin", "config system api-user\nedit viewer\nconfig trusthost\nedit 1\nset ipv4-trusthost 192.0.2.0 255.255.255.0\nnext\nend\nnext\nend")
	if code, _ := api.doWith(t, "GET", "/api/v2/cmdb/firewall/address", nil, bearer(ro)); code != 401 {
		t.Fatalf("untrusted host: %d", code)
	}
	api.cli(t, "admin", "config system api-user\nedit viewer\nconfig trusthost\nedit 2\nset ipv4-trusthost 127.0.0.0 255.0.0.0\nnext\nend\nnext\nend")
	if code, _ := api.doWith(t, "GET", "/api/v2/cmdb/firewall/address", nil, bearer(ro)); code != 200 {
		t.Fatalf("trusted host: %d", code)
	}
	// a new key replaces the old one
	old := api.token
	api.token = api.generateKey(t, "admin", "automation")
	if code, _ := api.doWith(t, "GET", "/api/v2/cmdb/firewall/address", nil, bearer(old)); code != 401 {
		t.Fatalf("replaced token: %d", code)
	}
	if out := api.cli(t, "admin", "show system api-user automation"); strings.Contains(out, api.token) || !strings.Contains(out, "set api-key ENC ") {
		t.Fatalf("key shown in clear: %q", out)
	}
}

// Password sessions: /logincheck answers "1" with the session cookie and
// ccsrftoken; a write needs X-CSRFTOKEN; the session ends at logout or
// after admintimeout of the appliance clock; wrong passwords lock the
// address out.
func TestLoginSessions(t *testing.T) {
	api := newTestAPI(t)
	login := func(user, pw string) (*http.Response, string) {
		resp, err := api.http.Client().PostForm(api.http.URL+"/logincheck", map[string][]string{"username": {user}, "secretkey": {pw}, "ajax": {"1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 64)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return resp, b.String()
	}
	resp, body := login("admin", testPassword)
	if body != "1" {
		t.Fatalf("login: %q", body)
	}
	var cookies []*http.Cookie
	csrf := ""
	for _, c := range resp.Cookies() {
		cookies = append(cookies, c)
		if c.Name == "ccsrftoken" {
			csrf = strings.Trim(c.Value, `"`)
		}
	}
	if csrf == "" || len(cookies) != 2 {
		t.Fatalf("cookies: %v", resp.Header["Set-Cookie"])
	}
	withCookies := func(csrfHeader string) func(*http.Request) {
		return func(r *http.Request) {
			for _, c := range cookies {
				r.AddCookie(c)
			}
			if csrfHeader != "" {
				r.Header.Set("X-CSRFTOKEN", csrfHeader)
			}
		}
	}
	if code, _ := api.doWith(t, "GET", "/api/v2/cmdb/firewall/address", nil, withCookies("")); code != 200 {
		t.Fatalf("GET with the cookie: %d", code)
	}
	if code, _ := api.doWith(t, "POST", "/api/v2/cmdb/firewall/address", map[string]any{"name": "c1"}, withCookies("")); code != 403 || api.st.Lookup("firewall address", "c1") != nil {
		t.Fatalf("POST without X-CSRFTOKEN: %d", code)
	}
	if code, _ := api.doWith(t, "POST", "/api/v2/cmdb/firewall/address", map[string]any{"name": "c1"}, withCookies("nope")); code != 403 {
		t.Fatalf("POST with a wrong X-CSRFTOKEN: %d", code)
	}
	if code, m := api.doWith(t, "POST", "/api/v2/cmdb/firewall/address", map[string]any{"name": "c1"}, withCookies(csrf)); code != 200 {
		t.Fatalf("POST with X-CSRFTOKEN: %d %v", code, m)
	}
	// admintimeout (default 5 minutes) of the appliance clock ends it
	api.app.Clock.Advance(6 * 60e9)
	if code, _ := api.doWith(t, "GET", "/api/v2/cmdb/firewall/address", nil, withCookies("")); code != 401 {
		t.Fatalf("expired cookie: %d", code)
	}
	// logout ends a fresh session
	resp, _ = login("admin", testPassword)
	cookies = resp.Cookies()
	req, _ := http.NewRequest("POST", api.http.URL+"/logout", nil)
	withCookies("")(req)
	if r, err := api.http.Client().Do(req); err != nil {
		t.Fatal(err)
	} else {
		r.Body.Close()
	}
	if code, _ := api.doWith(t, "GET", "/api/v2/cmdb/firewall/address", nil, withCookies("")); code != 401 {
		t.Fatalf("after logout: %d", code)
	}
	// three wrong passwords (admin-lockout-threshold) lock the address out,
	// the right one included
	for i := 0; i < 2; i++ {
		if _, body := login("admin", "wrong"); body != "0" {
			t.Fatalf("wrong password %d: %q", i, body)
		}
	}
	if _, body := login("admin", "wrong"); body != "2" {
		t.Fatalf("third wrong password: %q", body)
	}
	if _, body := login("admin", testPassword); body != "2" {
		t.Fatalf("locked out, right password: %q", body)
	}
	api.app.Clock.Advance(61e9)
	if _, body := login("admin", testPassword); body != "1" {
		t.Fatalf("after the lockout: %q", body)
	}
}

// /api/v2/authentication: a password login whose session_key works as a
// token until DELETE.
func TestAPIAuthentication(t *testing.T) {
	api := newTestAPI(t)
	post := func(body string) (int, map[string]any) {
		resp, err := api.http.Client().Post(api.http.URL+"/api/v2/authentication", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, m := post(`{"username":"admin","secretkey":"wrong"}`); code != 401 || m["status_message"] != "LOGIN_FAILED" {
		t.Fatalf("wrong password: %d %v", code, m)
	}
	code, m := post(`{"username":"admin","secretkey":"` + testPassword + `","request_key":true}`)
	key, _ := m["session_key"].(string)
	if code != 200 || m["status_message"] != "LOGIN_SUCCESS" || key == "" {
		t.Fatalf("login: %d %v", code, m)
	}
	api.token = key
	if code, m := api.do(t, "POST", "/api/v2/cmdb/firewall/address", map[string]any{"name": "k1"}); code != 200 {
		t.Fatalf("write with the session key: %d %v", code, m)
	}
	req, _ := http.NewRequest("DELETE", api.http.URL+"/api/v2/authentication?access_token="+key, nil)
	if resp, err := api.http.Client().Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("logout: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if code, _ := api.do(t, "GET", "/api/v2/cmdb/firewall/address", nil); code != 401 {
		t.Fatalf("after logout: %d", code)
	}
}

// Sub-table URLs: a group's members and an API user's trusthosts, one
// item at a time.
func TestSubTables(t *testing.T) {
	api := newTestAPI(t)
	api.cli(t, "admin", "config firewall address\nedit a1\nset subnet 10.1.0.0/16\nnext\nedit a2\nset subnet 10.2.0.0/16\nnext\nend\n"+
		"config firewall addrgrp\nedit g\nset member a1\nnext\nend")
	code, m := api.do(t, "GET", "/api/v2/cmdb/firewall/addrgrp/g/member", nil)
	if res := m["results"].([]any); code != 200 || len(res) != 1 || res[0].(map[string]any)["name"] != "a1" {
		t.Fatalf("GET members: %d %v", code, m)
	}
	if code, m = api.do(t, "GET", "/api/v2/cmdb/firewall/addrgrp/g/member/a2", nil); code != 404 {
		t.Fatalf("GET a member it lacks: %d %v", code, m)
	}
	if code, m = api.do(t, "POST", "/api/v2/cmdb/firewall/addrgrp/g/member", map[string]any{"name": "a2"}); code != 200 || m["revision_changed"] != true {
		t.Fatalf("POST member: %d %v", code, m)
	}
	if code, m = api.do(t, "POST", "/api/v2/cmdb/firewall/addrgrp/g/member", map[string]any{"name": "a2"}); code != 500 || m["error"] != float64(-5) {
		t.Fatalf("POST member twice: %d %v", code, m)
	}
	if code, m = api.do(t, "POST", "/api/v2/cmdb/firewall/addrgrp/g/member", map[string]any{"name": "nope"}); code != 500 || m["error"] != float64(-651) {
		t.Fatalf("POST a member that does not exist: %d %v", code, m)
	}
	if code, m = api.do(t, "PUT", "/api/v2/cmdb/firewall/addrgrp/g/member/a2", map[string]any{"name": "a2"}); code != 200 || m["revision_changed"] != false {
		t.Fatalf("PUT member: %d %v", code, m)
	}
	if out := api.cli(t, "admin", "show firewall addrgrp g"); !strings.Contains(out, `set member "a1" "a2"`) {
		t.Fatalf("after POST: %q", out)
	}
	if code, m = api.do(t, "DELETE", "/api/v2/cmdb/firewall/addrgrp/g/member/a1", nil); code != 200 {
		t.Fatalf("DELETE member: %d %v", code, m)
	}
	if out := api.cli(t, "admin", "show firewall addrgrp g"); !strings.Contains(out, `set member "a2"`) {
		t.Fatalf("after DELETE: %q", out)
	}
	// a nested table: the API user's trusthosts
	if code, m = api.do(t, "POST", "/api/v2/cmdb/system/api-user/automation/trusthost", map[string]any{"ipv4-trusthost": "127.0.0.0 255.0.0.0"}); code != 200 {
		t.Fatalf("POST trusthost: %d %v", code, m)
	}
	if code, m = api.do(t, "PUT", "/api/v2/cmdb/system/api-user/automation/trusthost/1", map[string]any{"ipv4-trusthost": "127.0.0.0/16"}); code != 200 {
		t.Fatalf("PUT trusthost: %d %v", code, m)
	}
	code, m = api.do(t, "GET", "/api/v2/cmdb/system/api-user/automation/trusthost/1", nil)
	if res := m["results"].([]any); code != 200 || len(res) != 1 || res[0].(map[string]any)["ipv4-trusthost"] != "127.0.0.0 255.255.0.0" || res[0].(map[string]any)["id"] != float64(1) {
		t.Fatalf("GET trusthost: %d %v", code, m)
	}
	if code, m = api.do(t, "DELETE", "/api/v2/cmdb/system/api-user/automation/trusthost/1", nil); code != 200 {
		t.Fatalf("DELETE trusthost: %d %v", code, m)
	}
	if out := api.cli(t, "admin", "show system api-user automation"); strings.Contains(out, "trusthost") {
		t.Fatalf("trusthost left: %q", out)
	}
	if code, m = api.do(t, "GET", "/api/v2/cmdb/firewall/addrgrp/g/color", nil); code != 404 || m["error"] != float64(-61) {
		t.Fatalf("a plain attribute as a sub-table: %d %v", code, m)
	}
	if code, _ = api.do(t, "GET", "/api/v2/cmdb/firewall/addrgrp/g/member/a2/x", nil); code != 404 {
		t.Fatalf("deeper: %d", code)
	}
}

// sort=attr[,asc|dsc], repeated for ties, after filter and before start
// and count; a sort on an attribute the table lacks is refused.
func TestSort(t *testing.T) {
	api := newTestAPI(t)
	api.cli(t, "admin", "config firewall address\nedit c\nset subnet 10.1.0.0/16\nset color 2\nnext\nedit a\nset subnet 10.2.0.0/16\nset color 5\nnext\n"+
		"edit d\nset subnet 10.3.0.0/16\nset color 2\nnext\nedit b\nset subnet 10.4.0.0/16\nset color 10\nnext\nend")
	names := func(path string) []string {
		t.Helper()
		code, m := api.do(t, "GET", path, nil)
		if code != 200 {
			t.Fatalf("%s: %d %v", path, code, m)
		}
		var out []string
		for _, e := range m["results"].([]any) {
			out = append(out, e.(map[string]any)["name"].(string))
		}
		return out
	}
	same := func(got []string, want ...string) bool { return strings.Join(got, " ") == strings.Join(want, " ") }
	// the factory address "all" (and others) sort with the rest: filter them out
	f := "&filter=subnet=@10."
	if got := names("/api/v2/cmdb/firewall/address?sort=name" + f); !same(got, "a", "b", "c", "d") {
		t.Fatalf("sort=name: %v", got)
	}
	if got := names("/api/v2/cmdb/firewall/address?sort=name,dsc" + f); !same(got, "d", "c", "b", "a") {
		t.Fatalf("sort=name,dsc: %v", got)
	}
	// numbers by value (10 after 5), ties by the second key, format does
	// not hide what sort reads
	if got := names("/api/v2/cmdb/firewall/address?format=name&sort=color&sort=name,dsc" + f); !same(got, "d", "c", "a", "b") {
		t.Fatalf("sort=color&sort=name,dsc: %v", got)
	}
	// start and count page the sorted list; matched_count is the filtered size
	code, m := api.do(t, "GET", "/api/v2/cmdb/firewall/address?sort=name,dsc&start=1&count=2"+f, nil)
	if res := m["results"].([]any); code != 200 || len(res) != 2 || res[0].(map[string]any)["name"] != "c" || res[1].(map[string]any)["name"] != "b" ||
		m["matched_count"] != float64(4) || m["size"] != float64(2) {
		t.Fatalf("sorted page: %d %v", code, m)
	}
	for _, bad := range []string{"sort=colour", "sort=name,desc", "sort=tagging"} {
		code, m := api.do(t, "GET", "/api/v2/cmdb/firewall/address?"+bad, nil)
		if msg, _ := m["cli_error"].(string); code != 400 || m["status"] != "error" || !strings.Contains(msg, "Return code") {
			t.Fatalf("%s: %d %v", bad, code, m)
		}
	}
	// a sub-table's items sort the same way
	api.cli(t, "admin", "config firewall addrgrp\nedit g\nset member c a d\nnext\nend")
	if got := names("/api/v2/cmdb/firewall/addrgrp/g/member?sort=name"); !same(got, "a", "c", "d") {
		t.Fatalf("members sorted: %v", got)
	}
}

// Sub-tables two levels deep: the assertion attributes of a SAML service
// provider (child tables of a singleton), each request one commit; an
// interface list of a policy (one level) by name.
func TestDeepSubTables(t *testing.T) {
	api := newTestAPI(t)
	sp := "/api/v2/cmdb/system/saml/service-providers"
	if code, m := api.do(t, "POST", sp, map[string]any{"name": "fgt2", "sp-entity-id": "https://fgt2/metadata/"}); code != 200 || m["mkey"] != "fgt2" {
		t.Fatalf("POST service provider: %d %v", code, m)
	}
	attrs := sp + "/fgt2/assertion-attributes"
	rev := api.st.Revision()
	if code, m := api.do(t, "POST", attrs, map[string]any{"name": "username", "type": "username"}); code != 200 || m["mkey"] != "username" || m["revision_changed"] != true {
		t.Fatalf("POST two levels down: %d %v", code, m)
	}
	if got := api.st.Revision(); got != rev+1 {
		t.Fatalf("one POST, revisions %d -> %d", rev, got)
	}
	if code, m := api.do(t, "POST", attrs+"/mail", map[string]any{"type": "email"}); code != 200 || m["mkey"] != "mail" {
		t.Fatalf("POST with the key in the URL: %d %v", code, m)
	}
	if code, m := api.do(t, "POST", attrs, map[string]any{"name": "mail"}); code != 500 || m["error"] != float64(-5) {
		t.Fatalf("POST twice: %d %v", code, m)
	}
	if code, m := api.do(t, "PUT", attrs+"/mail", map[string]any{"type": "profile-name"}); code != 200 || m["revision_changed"] != true {
		t.Fatalf("PUT two levels down: %d %v", code, m)
	}
	if out := api.cli(t, "admin", "show system saml"); !strings.Contains(out, "edit \"mail\"\n                    set type profile-name") || !strings.Contains(out, `edit "username"`) {
		t.Fatalf("CLI after PUT: %q", out)
	}
	code, m := api.do(t, "GET", attrs+"/mail", nil)
	if res := m["results"].([]any); code != 200 || len(res) != 1 || res[0].(map[string]any)["type"] != "profile-name" {
		t.Fatalf("GET one item: %d %v", code, m)
	}
	code, m = api.do(t, "GET", attrs+"?sort=name,dsc", nil)
	if res := m["results"].([]any); code != 200 || len(res) != 2 || res[0].(map[string]any)["name"] != "username" {
		t.Fatalf("GET the table: %d %v", code, m)
	}
	// bad values, unknown items and attributes: FortiOS's codes, nothing stored
	rev = api.st.Revision()
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code         float64
	}{
		{"PUT", attrs + "/mail", map[string]any{"type": "phone"}, 500, -651},
		{"PUT", attrs + "/nope", map[string]any{"type": "email"}, 404, -3},
		{"POST", sp + "/nope/assertion-attributes", map[string]any{"name": "x"}, 404, -3},
		{"DELETE", attrs + "/nope", nil, 404, -3},
		{"POST", attrs, map[string]any{"name": "x", "colour": 1}, 500, -61},
		{"GET", sp + "/fgt2/nosuch", nil, 404, -61},
		{"GET", attrs + "/mail/type", nil, 404, -61},
	} {
		code, m := api.do(t, c.method, c.path, c.body)
		if code != c.status || m["error"] != c.code {
			t.Fatalf("%s %s: %d %v", c.method, c.path, code, m)
		}
	}
	if code, _ := api.do(t, "GET", sp+"/nope/assertion-attributes", nil); code != 404 {
		t.Fatalf("GET under a missing provider: %d", code)
	}
	if code, _ := api.do(t, "GET", attrs+"/nope", nil); code != 404 {
		t.Fatalf("GET a missing item: %d", code)
	}
	if got := api.st.Revision(); got != rev {
		t.Fatalf("refused requests committed: %d -> %d", rev, got)
	}
	// a read-only user reads two levels down but cannot write there
	api.cli(t, "admin", "config system accprofile\nedit ro\nset sysgrp read\nnext\nend\nconfig system api-user\nedit viewer\nset accprofile ro\nnext\nend")
	ro := api.generateKey(t, "admin", "viewer")
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+ro) }
	if code, _ := api.doWith(t, "GET", attrs+"/mail", nil, bearer); code != 200 {
		t.Fatalf("read-only GET: %d", code)
	}
	if code, m := api.doWith(t, "DELETE", attrs+"/mail", nil, bearer); code != 403 || m["error"] != float64(-14) {
		t.Fatalf("read-only DELETE: %d %v", code, m)
	}
	if code, m := api.do(t, "DELETE", attrs+"/mail", nil); code != 200 || m["revision_changed"] != true {
		t.Fatalf("DELETE two levels down: %d %v", code, m)
	}
	if code, m := api.do(t, "DELETE", attrs, nil); code != 200 {
		t.Fatalf("DELETE the whole table: %d %v", code, m)
	}
	if out := api.cli(t, "admin", "show system saml"); strings.Contains(out, "assertion-attributes") || !strings.Contains(out, `edit "fgt2"`) {
		t.Fatalf("CLI after DELETE: %q", out)
	}

	// one level, by name: the source interfaces of a policy
	api.cli(t, "admin", "config firewall policy\nedit 1\nset srcintf port1\nset dstintf port2\nset srcaddr all\nset dstaddr all\nset service ALL\nset schedule always\nnext\nend")
	pol := "/api/v2/cmdb/firewall/policy/1/srcintf"
	if code, m := api.do(t, "POST", pol, map[string]any{"name": "port3"}); code != 200 || m["mkey"] != "port3" {
		t.Fatalf("POST srcintf: %d %v", code, m)
	}
	if code, _ := api.do(t, "GET", pol+"/port3", nil); code != 200 {
		t.Fatalf("GET srcintf/port3: %d", code)
	}
	if code, m := api.do(t, "DELETE", pol+"/port1", nil); code != 200 {
		t.Fatalf("DELETE srcintf/port1: %d %v", code, m)
	}
	if out := api.cli(t, "admin", "show firewall policy 1"); !strings.Contains(out, `set srcintf "port3"`) {
		t.Fatalf("CLI policy: %q", out)
	}
}

// Another API user's token acts with that user's profile and VDOMs, never
// the first user's: a firewall-only profile writes addresses but cannot
// read or change API users (its own key's owner's neither), a user of
// another VDOM reaches nothing; nothing it is refused is stored.
func TestAnotherUsersToken(t *testing.T) {
	api := newTestAPI(t)
	api.cli(t, "admin", "config system accprofile\nedit fwonly\nset fwgrp read-write\nnext\nend\n"+
		"config system api-user\nedit fw\nset accprofile fwonly\nnext\nedit elsewhere\nset accprofile super_admin\nset vdom vdom1\nnext\nend")
	fw, elsewhere := api.generateKey(t, "admin", "fw"), api.generateKey(t, "admin", "elsewhere")
	as := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	if code, m := api.doWith(t, "POST", "/api/v2/cmdb/firewall/address", map[string]any{"name": "fw1"}, as(fw)); code != 200 {
		t.Fatalf("fw writes an address: %d %v", code, m)
	}
	rev := api.st.Revision()
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v2/cmdb/system/api-user", nil},
		{"GET", "/api/v2/cmdb/system/api-user/automation", nil},
		{"PUT", "/api/v2/cmdb/system/api-user/automation", map[string]any{"accprofile": "fwonly"}},
		{"POST", "/api/v2/cmdb/system/api-user/fw/trusthost", map[string]any{"ipv4-trusthost": "0.0.0.0 0.0.0.0"}},
		{"PUT", "/api/v2/cmdb/system/api-user/fw", map[string]any{"accprofile": "super_admin"}},
		{"DELETE", "/api/v2/cmdb/system/api-user/automation", nil},
		{"GET", "/api/v2/monitor/system/current-admins", nil},
	} {
		if code, m := api.doWith(t, c.method, c.path, c.body, as(fw)); code != 403 || m["error"] != float64(-14) {
			t.Fatalf("fw %s %s: %d %v", c.method, c.path, code, m)
		}
	}
	for _, path := range []string{"/api/v2/cmdb/firewall/address", "/api/v2/cmdb/firewall/address?vdom=root", "/api/v2/cmdb/system/global", "/api/v2/monitor/system/status"} {
		if code, m := api.doWith(t, "GET", path, nil, as(elsewhere)); code != 403 || m["error"] != float64(-14) {
			t.Fatalf("a vdom1 user GET %s: %d %v", path, code, m)
		}
	}
	if code, _ := api.doWith(t, "POST", "/api/v2/cmdb/firewall/address", map[string]any{"name": "far"}, as(elsewhere)); code != 403 {
		t.Fatalf("a vdom1 user POST: %d", code)
	}
	if got := api.st.Revision(); got != rev || api.st.Lookup("firewall address", "far") != nil {
		t.Fatalf("refused requests committed: %d -> %d", rev, got)
	}
	if out := api.cli(t, "admin", "show system api-user fw"); !strings.Contains(out, "set accprofile \"fwonly\"") || strings.Contains(out, "trusthost") {
		t.Fatalf("fw changed itself: %q", out)
	}
	// the first user's token still works and is still its own
	if code, _ := api.do(t, "GET", "/api/v2/cmdb/system/api-user", nil); code != 200 {
		t.Fatalf("automation after the others' keys: %d", code)
	}
	// root among its VDOMs lets it in
	api.cli(t, "admin", "config system api-user\nedit elsewhere\nset vdom vdom1 root\nnext\nend")
	if code, _ := api.doWith(t, "GET", "/api/v2/cmdb/firewall/address", nil, as(elsewhere)); code != 200 {
		t.Fatalf("a vdom1 and root user: %d", code)
	}
}

// A cookie session's writes: an expired session is 401 even with its
// ccsrftoken; another session's ccsrftoken, or one sent only as the
// cookie, is 403; nothing refused is stored.
func TestSessionWritesRefused(t *testing.T) {
	api := newTestAPI(t)
	a, b := cookieLogin(t, api, "admin"), cookieLogin(t, api, "admin")
	rev := api.st.Revision()
	csrfOf := func(prep func(*http.Request)) string {
		r, _ := http.NewRequest("GET", "/", nil)
		prep(r)
		return r.Header.Get("X-CSRFTOKEN")
	}
	// a's cookies with b's token
	crossed := func(r *http.Request) { a(r); r.Header.Set("X-CSRFTOKEN", csrfOf(b)) }
	if code, m := api.doWith(t, "POST", "/api/v2/cmdb/firewall/address", map[string]any{"name": "x1"}, crossed); code != 403 || m["status"] != "error" {
		t.Fatalf("another session's CSRF token: %d %v", code, m)
	}
	// the cookie alone, as a browser sends it to another site's form
	cookieOnly := func(r *http.Request) { a(r); r.Header.Del("X-CSRFTOKEN") }
	for _, method := range []string{"POST", "PUT", "DELETE"} {
		path := "/api/v2/cmdb/firewall/address"
		if method != "POST" {
			path += "/all"
		}
		if code, _ := api.doWith(t, method, path, map[string]any{"name": "x2", "comment": "x"}, cookieOnly); code != 403 {
			t.Fatalf("%s without X-CSRFTOKEN: %d", method, code)
		}
	}
	// a's session expires (admintimeout 5 minutes of the appliance clock);
	// b, used meanwhile, lives on
	for i := 0; i < 2; i++ {
		api.app.Clock.Advance(3 * time.Minute)
		if code, _ := api.doWith(t, "GET", "/api/v2/cmdb/system/global", nil, b); code != 200 {
			t.Fatalf("b in use: %d", code)
		}
	}
	if code, m := api.doWith(t, "POST", "/api/v2/cmdb/firewall/address", map[string]any{"name": "x3"}, a); code != 401 || m["status"] != "error" {
		t.Fatalf("expired session with its CSRF token: %d %v", code, m)
	}
	if got := api.st.Revision(); got != rev {
		t.Fatalf("refused writes committed: %d -> %d", rev, got)
	}
	if code, m := api.doWith(t, "POST", "/api/v2/cmdb/firewall/address", map[string]any{"name": "x4"}, b); code != 200 || api.st.Lookup("firewall address", "x4") == nil {
		t.Fatalf("the live session writes: %d %v", code, m)
	}
}

// A list below an entry exists only when its condition holds, as in the
// CLI: a phase1-interface's backup-gateway needs mode-cfg enable.
func TestSubTableConditions(t *testing.T) {
	api := newTestAPI(t)
	if code, m := api.do(t, "POST", "/api/v2/cmdb/vpn.ipsec/phase1-interface", map[string]any{
		"name": "hq", "interface": "port1", "ike-version": "2", "remote-gw": "192.0.2.1",
		"psksecret": "sup3r-secret-psk", "proposal": "aes256-sha256", "peertype": "any",
	}); code != 200 {
		t.Fatalf("POST phase1: %d %v", code, m)
	}
	bg := "/api/v2/cmdb/vpn.ipsec/phase1-interface/hq/backup-gateway"
	if code, m := api.do(t, "GET", bg, nil); code != 500 || m["error"] != float64(-61) {
		t.Fatalf("GET without mode-cfg: %d %v", code, m)
	}
	if code, m := api.do(t, "POST", bg, map[string]any{"name": "gw2.example.com"}); code != 500 || m["error"] != float64(-61) {
		t.Fatalf("POST without mode-cfg: %d %v", code, m)
	}
	api.cli(t, "admin", "config vpn ipsec phase1-interface\nedit hq\nset type dynamic\nset mode-cfg enable\nnext\nend")
	if code, m := api.do(t, "POST", bg, map[string]any{"name": "gw2.example.com"}); code != 200 || m["mkey"] != "gw2.example.com" {
		t.Fatalf("POST with mode-cfg: %d %v", code, m)
	}
	code, m := api.do(t, "GET", bg, nil)
	if res := m["results"].([]any); code != 200 || len(res) != 1 || res[0].(map[string]any)["name"] != "gw2.example.com" {
		t.Fatalf("GET with mode-cfg: %d %v", code, m)
	}
}

// FortiOS's actions on an entry: PUT ?action=move&before=|after= orders
// policies as the CLI's move does; POST ?action=clone&nkey= copies an
// entry as the CLI's clone does.
func TestMoveAndClone(t *testing.T) {
	api := newTestAPI(t)
	if out := api.cli(t, "admin", "config firewall policy\nedit 1\nset name one\nset srcintf port1\nset dstintf port2\nset srcaddr all\nset dstaddr all\nset service ALL\nset schedule always\nnext\nedit 2\nset name two\nset srcintf port1\nset dstintf port2\nset srcaddr all\nset dstaddr all\nset service ALL\nset schedule always\nnext\nedit 3\nset name three\nset srcintf port1\nset dstintf port2\nset srcaddr all\nset dstaddr all\nset service ALL\nset schedule always\nnext\nend"); strings.Contains(out, "error") || strings.Contains(out, "fail") {
		t.Fatalf("policies: %s", out)
	}
	order := func() string {
		out := api.cli(t, "admin", "show firewall policy")
		var ids []string
		for _, l := range strings.Split(out, "\n") {
			if id, ok := strings.CutPrefix(strings.TrimSpace(l), "edit "); ok {
				ids = append(ids, id)
			}
		}
		return strings.Join(ids, " ")
	}
	if code, m := api.do(t, "PUT", "/api/v2/cmdb/firewall/policy/3?action=move&before=1", map[string]any{"policyid": 3}); code != 200 || m["mkey"] != float64(3) {
		t.Fatalf("move before: %d %v", code, m)
	}
	if got := order(); got != "3 1 2" {
		t.Fatalf("order after move before 1: %s", got)
	}
	if code, m := api.do(t, "PUT", "/api/v2/cmdb/firewall/policy/3?action=move&after=2", nil); code != 200 {
		t.Fatalf("move after: %d %v", code, m)
	}
	if got := order(); got != "1 2 3" {
		t.Fatalf("order after move after 2: %s", got)
	}
	rev := api.st.Revision()
	for _, bad := range []struct {
		path   string
		status int
	}{
		{"/api/v2/cmdb/firewall/policy/3?action=move&before=9", 404},
		{"/api/v2/cmdb/firewall/policy/3?action=move", 500},
		{"/api/v2/cmdb/firewall/policy/3?action=move&before=1&after=2", 500},
		{"/api/v2/cmdb/system/global?action=move&before=1", 500},
	} {
		if code, m := api.do(t, "PUT", bad.path, nil); code != bad.status || m["status"] != "error" {
			t.Errorf("%s: %d %v", bad.path, code, m)
		}
	}
	if api.st.Revision() != rev || order() != "1 2 3" {
		t.Fatal("a refused move changed something")
	}
	api.cli(t, "admin", "config firewall address\nedit web\nset subnet 10.1.1.0 255.255.255.0\nnext\nend")
	if code, m := api.do(t, "POST", "/api/v2/cmdb/firewall/address/web?action=clone&nkey=web2", nil); code != 200 || m["mkey"] != "web2" {
		t.Fatalf("clone: %d %v", code, m)
	}
	code, m := api.do(t, "GET", "/api/v2/cmdb/firewall/address/web2", nil)
	if code != 200 || !strings.Contains(mustJSON(t, m["results"]), "10.1.1.0 255.255.255.0") {
		t.Fatalf("the clone: %d %v", code, m)
	}
	if code, m := api.do(t, "POST", "/api/v2/cmdb/firewall/address/web?action=clone&nkey=web2", nil); code != 500 || m["status"] != "error" {
		t.Fatalf("clone onto an existing entry: %d %v", code, m)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
