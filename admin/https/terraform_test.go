package https

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Terraform cannot be installed here, so these tests replay the calls of
// its fortios provider (fortinetdev/terraform-provider-fortios: sdk/request,
// sdk/sdkcore's createUpdate/read/delete and fortiAPIErrorFormat, and the
// firewall address, addrgrp, vpn ipsec phase1-interface and system global
// resources) against the REST API over TLS: the same URLs, query, headers
// and body shapes, and the same reading of the answers, so a reply the
// provider would misread fails here.

// tfClient behaves as the provider's SDK client.
type tfClient struct {
	t        *testing.T
	http     *http.Client
	target   string // host:port, the provider's hostname
	token    string // empty: the provider logs in with username/password
	username string
	password string
	vdom     string // the provider's vdom; "global" sends scope=global
	// tokenInQuery: the provider before 1.21.0 sent the token as
	// ?access_token= after the vdom instead of an Authorization header
	tokenInQuery bool
}

func newTFClient(t *testing.T, api *testAPI) *tfClient {
	t.Helper()
	ts := httptest.NewTLSServer(api.srv)
	t.Cleanup(ts.Close)
	return &tfClient{t: t, http: ts.Client(), target: strings.TrimPrefix(ts.URL, "https://"), token: api.token, vdom: "root"}
}

// tfCookies are what the provider keeps of a password login.
type tfCookies struct{ csrf, cookie string }

// tfQuery is the provider's buildURL query: vdom=<v>, or scope=global for
// the vdom "global", then any special parameter.
func tfQuery(vdom, special string) string {
	var params []string
	switch vdom {
	case "":
	case "global":
		params = append(params, "scope=global")
	default:
		params = append(params, "vdom="+vdom)
	}
	if special != "" {
		params = append(params, special)
	}
	if len(params) == 0 {
		return ""
	}
	return "?" + strings.Join(params, "&")
}

// send is the provider's Send3 (and Send2 with accept when versionCheck):
// it logs in first when it has no token, sends the request with
// Content-Type application/json and a Bearer token, then logs out.
func (c *tfClient) send(method, path, vdom string, body []byte, versionCheck bool) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	special := ""
	if c.tokenInQuery && c.token != "" {
		special = "access_token=" + c.token
	}
	req, err := http.NewRequest(method, "https://"+c.target+path+tfQuery(vdom, special), rd)
	if err != nil {
		return nil, nil, err
	}
	token := c.token
	var cookies *tfCookies
	login := ""
	if c.token == "" {
		token, cookies, err = c.loginToken()
		login = "token"
		if err != nil {
			if cookies, err = c.loginSession(); err != nil {
				return nil, nil, fmt.Errorf("failed to login: %w", err)
			}
			login = "session"
		}
		if cookies != nil {
			req.Header.Set("X-CSRFTOKEN", cookies.csrf)
			req.Header.Set("Cookie", cookies.cookie)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	if versionCheck {
		req.Header.Set("accept", "application/json")
	}
	if token != "" && !c.tokenInQuery {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch login {
	case "session":
		c.logoutSession(cookies)
	case "token":
		c.logoutToken(token, cookies)
	}
	return resp, raw, err
}

// loginToken is the provider's LoginToken: POST /api/v2/authentication
// with JSON credentials; a numeric status or status_code of 5 or 6 with a
// session_key gives a token, else the ccsrftoken cookie gives a session.
func (c *tfClient) loginToken() (string, *tfCookies, error) {
	body, _ := json.Marshal(map[string]any{
		"username": c.username, "secretkey": c.password, "password": c.password,
		"request_key": true, "ack_pre_disclaimer": true, "ack_post_disclaimer": true,
	})
	req, _ := http.NewRequest("POST", "https://"+c.target+"/api/v2/authentication", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("Login failed with status code: %d", resp.StatusCode)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	token := ""
	for _, field := range []string{"status", "status_code"} {
		v, ok := m[field]
		if !ok {
			continue
		}
		// the provider asserts a float64 here: a string would panic it
		n, isNumber := v.(float64)
		if !isNumber {
			c.t.Fatalf("/api/v2/authentication: %s is %T %v, the provider panics on a non-number", field, v, v)
		}
		if n == 5 || n == 6 {
			token, _ = m["session_key"].(string)
			break
		}
	}
	if token != "" {
		return token, nil, nil
	}
	cookies, err := tfParseCookies(resp)
	if err != nil {
		return "", nil, fmt.Errorf("LoginToken failed: %v", m)
	}
	return "", cookies, nil
}

// loginSession is the provider's LoginSession: a form body posted to
// /logincheck, with Content-Type application/json all the same.
func (c *tfClient) loginSession() (*tfCookies, error) {
	req, _ := http.NewRequest("POST", "https://"+c.target+"/logincheck",
		strings.NewReader("username="+c.username+"&secretkey="+c.password+"&ajax=1"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return tfParseCookies(resp)
}

var tfCSRFCookie = regexp.MustCompile(`^(ccsrf_token|ccsrftoken)[^=]*=(?:"([^"]+)"|([^;]+))`)

// tfParseCookies is the provider's ParseCookies: every Set-Cookie's
// name=value joined into one Cookie header, the CSRF token from the
// ccsrftoken cookie (quotes removed), "0%260" meaning a failed login.
func tfParseCookies(resp *http.Response) (*tfCookies, error) {
	set := resp.Header.Values("Set-Cookie")
	if len(set) == 0 {
		return nil, errors.New("Logincheck response do not contains Set-Cookie")
	}
	var ck tfCookies
	var parts []string
	for _, item := range set {
		nv := strings.Split(item, ";")[0]
		if m := tfCSRFCookie.FindStringSubmatch(nv); m != nil {
			ck.csrf = m[2]
			if ck.csrf == "" {
				ck.csrf = m[3]
			}
		}
		parts = append(parts, nv)
	}
	switch ck.csrf {
	case "":
		return nil, errors.New("Could not get CSRF Token from HTTP request response.")
	case "0%260":
		return nil, errors.New("Username or password not valid.")
	}
	ck.cookie = strings.Join(parts, "; ")
	return &ck, nil
}

func (c *tfClient) logoutSession(ck *tfCookies) {
	if ck == nil || ck.csrf == "" {
		return
	}
	req, _ := http.NewRequest("POST", "https://"+c.target+"/logout", nil)
	req.Header.Set("X-CSRFTOKEN", ck.csrf)
	req.Header.Set("Cookie", ck.cookie)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := c.http.Do(req); err == nil {
		resp.Body.Close()
	}
}

func (c *tfClient) logoutToken(token string, ck *tfCookies) {
	req, _ := http.NewRequest("DELETE", "https://"+c.target+"/api/v2/authentication", strings.NewReader("session_key="+token))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ck != nil {
		req.Header.Set("X-CSRFTOKEN", ck.csrf)
		req.Header.Set("Cookie", ck.cookie)
	}
	if resp, err := c.http.Do(req); err == nil {
		resp.Body.Close()
	}
}

// tfErrorFormat is how the provider reads an answer: status "success" is
// success; otherwise http_status names the error, with cli_error after it.
func tfErrorFormat(m map[string]any, raw []byte) error {
	if m == nil || m["status"] == nil {
		return fmt.Errorf("\n%s", raw)
	}
	if m["status"] == "success" {
		return nil
	}
	hs, ok := m["http_status"].(float64)
	if !ok {
		return fmt.Errorf("\n%s", raw)
	}
	names := map[float64]string{
		400: "Bad Request", 401: "Not Authorized", 403: "Forbidden", 404: "Resource Not Found",
		405: "Method Not Allowed", 413: "Request Entity Too Large", 424: "Failed Dependency",
		429: "Access temporarily blocked", 500: "Internal Server Error",
	}
	name, known := names[hs]
	if !known {
		name = "Unknow Error"
	}
	err := fmt.Errorf("%s (%.0f)", name, hs)
	if ce := m["cli_error"]; ce != nil {
		err = fmt.Errorf("%v\nCli response: \n%v", err, ce)
	}
	return err
}

// tfEscape is the provider's escapeURLString for a mkey in a path.
func tfEscape(mkey string) string { return strings.ReplaceAll(url.QueryEscape(mkey), "+", "%20") }

// createUpdate is POST (create) or PUT (update): it returns the mkey,
// which the provider asserts is a string to make the resource's id.
func (c *tfClient) createUpdate(method, path string, obj map[string]any) (string, error) {
	body, err := json.Marshal(obj)
	if err != nil {
		c.t.Fatal(err)
	}
	_, raw, err := c.send(method, path, c.vdom, body, false)
	if err != nil {
		return "", fmt.Errorf("Cannot send request: %v", err)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	if err := tfErrorFormat(m, raw); err != nil {
		return "", err
	}
	if m["mkey"] == nil || m["mkey"] == "" {
		return "", nil
	}
	mkey, ok := m["mkey"].(string)
	if !ok {
		c.t.Fatalf("%s %s: mkey %T %v, the provider's d.SetId(o[\"mkey\"].(string)) panics", method, path, m["mkey"], m["mkey"])
	}
	return mkey, nil
}

// read is the provider's read: an http_status of 404 is "gone" (nil, no
// error); a table entry is results[0], a singleton (complex) results.
func (c *tfClient) read(path string, singleton bool) (map[string]any, error) {
	_, raw, err := c.send("GET", path, c.vdom, nil, false)
	if err != nil {
		return nil, fmt.Errorf("Cannot send request: %v", err)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	if m != nil && m["http_status"] == 404.0 {
		return nil, nil
	}
	if err := tfErrorFormat(m, raw); err != nil {
		return nil, err
	}
	if singleton {
		r, ok := m["results"].(map[string]any)
		if !ok {
			c.t.Fatalf("GET %s: results %T, the provider asserts an object", path, m["results"])
		}
		return r, nil
	}
	list, ok := m["results"].([]any)
	if !ok || len(list) == 0 {
		c.t.Fatalf("GET %s: results %v, the provider takes results[0] of a list", path, m["results"])
	}
	e, ok := list[0].(map[string]any)
	if !ok {
		c.t.Fatalf("GET %s: results[0] %T", path, list[0])
	}
	return e, nil
}

func (c *tfClient) delete(path string) error {
	_, raw, err := c.send("DELETE", path, c.vdom, nil, false)
	if err != nil {
		return fmt.Errorf("Cannot send request: %v", err)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	return tfErrorFormat(m, raw)
}

// deviceVersion is GetDeviceVersion, which every resource runs first:
// GET system global without a vdom (Send2 ignoring it), status
// "success" and a version string.
func (c *tfClient) deviceVersion() (string, error) {
	_, raw, err := c.send("GET", "/api/v2/cmdb/system/global", "", nil, true)
	if err != nil {
		return "", err
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	if err := tfErrorFormat(m, raw); err != nil {
		return "", err
	}
	if m["status"] != "success" {
		return "", fmt.Errorf("wrong status - %v", m["status"])
	}
	v, ok := m["version"].(string)
	if !ok {
		return "", errors.New("no version in response")
	}
	return v, nil
}

func TestTerraformFirewallAddressAndGroup(t *testing.T) {
	api := newTestAPI(t)
	tf := newTFClient(t, api)
	if v, err := tf.deviceVersion(); err != nil || !strings.HasPrefix(v, "v7.") {
		t.Fatalf("device version: %q %v", v, err)
	}

	// create: the provider posts the attributes set in the .tf file,
	// subnet as written there (CIDR), and makes the id from the mkey
	const base = "/api/v2/cmdb/firewall/address"
	id, err := tf.createUpdate("POST", base, map[string]any{
		"name": "tf web 1", "type": "ipmask", "subnet": "10.1.0.0/24", "comment": "by terraform",
	})
	if err != nil || id != "tf web 1" {
		t.Fatalf("create address: id %q, %v", id, err)
	}
	e, err := tf.readEntry(base + "/" + tfEscape(id))
	if err != nil || e == nil {
		t.Fatalf("read address: %v %v", e, err)
	}
	// the provider's flatten turns "ip mask" back into the CIDR it was given
	if e["name"] != "tf web 1" || e["subnet"] != "10.1.0.0 255.255.255.0" || e["comment"] != "by terraform" {
		t.Fatalf("read address: %v", e)
	}

	// update: PUT of the whole object; a removed attribute is sent as null
	if _, err := tf.createUpdate("PUT", base+"/"+tfEscape(id), map[string]any{
		"name": "tf web 1", "type": "ipmask", "subnet": "10.2.0.0 255.255.0.0", "comment": nil,
	}); err != nil {
		t.Fatalf("update address: %v", err)
	}
	if e, err = tf.readEntry(base + "/" + tfEscape(id)); err != nil || e["subnet"] != "10.2.0.0 255.255.0.0" || e["comment"] != "" {
		t.Fatalf("read updated address: %v %v", e, err)
	}
	if out := api.cli(t, "admin", "show firewall address \"tf web 1\""); !strings.Contains(out, "set subnet 10.2.0.0 255.255.0.0") || strings.Contains(out, "comment") {
		t.Fatalf("CLI after the update: %q", out)
	}

	// a second create of the same name: -5, which the provider reports
	if _, err := tf.createUpdate("POST", base, map[string]any{"name": "tf web 1", "subnet": "10.3.0.0/24"}); err == nil ||
		!strings.Contains(err.Error(), "Internal Server Error (500)") || !strings.Contains(err.Error(), "Return code -5") {
		t.Fatalf("duplicate create: %v", err)
	}

	// a group with members, as a list of {"name"}
	if _, err := tf.createUpdate("POST", base, map[string]any{"name": "tf-db", "subnet": "10.9.0.5 255.255.255.255"}); err != nil {
		t.Fatal(err)
	}
	const grp = "/api/v2/cmdb/firewall/addrgrp"
	gid, err := tf.createUpdate("POST", grp, map[string]any{
		"name": "tf-grp", "member": []map[string]any{{"name": "tf web 1"}}, "comment": "group",
	})
	if err != nil || gid != "tf-grp" {
		t.Fatalf("create group: %q %v", gid, err)
	}
	g, err := tf.readEntry(grp + "/" + tfEscape(gid))
	if err != nil || tfNames(g["member"]) != "tf web 1" {
		t.Fatalf("read group: %v %v", g, err)
	}
	if _, err := tf.createUpdate("PUT", grp+"/"+tfEscape(gid), map[string]any{
		"name": "tf-grp", "member": []map[string]any{{"name": "tf web 1"}, {"name": "tf-db"}}, "comment": "group",
	}); err != nil {
		t.Fatal(err)
	}
	if g, err = tf.readEntry(grp + "/" + tfEscape(gid)); err != nil || tfNames(g["member"]) != "tf web 1,tf-db" {
		t.Fatalf("read updated group: %v %v", g, err)
	}
	// a member the group uses cannot go before the group does
	if err := tf.delete(base + "/" + tfEscape("tf-db")); err == nil || !strings.Contains(err.Error(), "Return code -23") {
		t.Fatalf("delete a used address: %v", err)
	}
	if e, _ := tf.readEntry(base + "/tf-db"); e == nil {
		t.Fatal("the refused delete removed the address")
	}
	// a member that does not exist: refused, nothing stored
	if _, err := tf.createUpdate("PUT", grp+"/"+tfEscape(gid), map[string]any{"member": []map[string]any{{"name": "nope"}}}); err == nil || !strings.Contains(err.Error(), "Return code -651") {
		t.Fatalf("a missing member: %v", err)
	}
	if g, _ = tf.readEntry(grp + "/" + tfEscape(gid)); tfNames(g["member"]) != "tf web 1,tf-db" {
		t.Fatalf("a refused update changed the group: %v", g["member"])
	}

	// destroy in dependency order; then each read is "gone"
	for _, p := range []string{grp + "/" + tfEscape(gid), base + "/" + tfEscape("tf-db"), base + "/" + tfEscape(id)} {
		if err := tf.delete(p); err != nil {
			t.Fatalf("delete %s: %v", p, err)
		}
		if e, err := tf.readEntry(p); e != nil || err != nil {
			t.Fatalf("read after delete %s: %v %v", p, e, err)
		}
	}
	// deleting what is gone is the provider's 404 error
	if err := tf.delete(base + "/" + tfEscape(id)); err == nil || !strings.Contains(err.Error(), "Resource Not Found (404)") {
		t.Fatalf("delete twice: %v", err)
	}
}

// tfNames joins the names of a list of {"name": …} objects.
func tfNames(v any) string {
	list, _ := v.([]any)
	var names []string
	for _, it := range list {
		m, _ := it.(map[string]any)
		n, _ := m["name"].(string)
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

func TestTerraformPhase1Interface(t *testing.T) {
	api := newTestAPI(t)
	tf := newTFClient(t, api)
	const base = "/api/v2/cmdb/vpn.ipsec/phase1-interface"
	// integers as JSON numbers, option lists as one space-separated string
	id, err := tf.createUpdate("POST", base, map[string]any{
		"name": "tf-hq", "interface": "port1", "ike-version": "2", "peertype": "any", "net-device": "disable",
		"proposal": "aes256-sha256 aes128-sha1", "dhgrp": "14 5", "remote-gw": "192.0.2.10",
		"psksecret": "terraform-psk-1", "keylife": 28800,
	})
	if err != nil || id != "tf-hq" {
		t.Fatalf("create phase1: %q %v", id, err)
	}
	e, err := tf.readEntry(base + "/" + id)
	if err != nil || e == nil {
		t.Fatalf("read phase1: %v %v", e, err)
	}
	if e["remote-gw"] != "192.0.2.10" || e["keylife"] != 28800.0 || e["proposal"] != "aes256-sha256 aes128-sha1" ||
		e["ike-version"] != "2" || e["dhgrp"] != "14 5" {
		t.Fatalf("read phase1: %v", e)
	}
	if psk, _ := e["psksecret"].(string); !strings.HasPrefix(psk, "ENC ") {
		t.Fatalf("psksecret read back: %v", e["psksecret"])
	}
	// the provider sends the psk from its state on every update
	if _, err := tf.createUpdate("PUT", base+"/"+id, map[string]any{
		"name": "tf-hq", "interface": "port1", "remote-gw": "192.0.2.20", "keylife": 3600, "psksecret": "terraform-psk-1",
	}); err != nil {
		t.Fatalf("update phase1: %v", err)
	}
	if e, err = tf.readEntry(base + "/" + id); err != nil || e["remote-gw"] != "192.0.2.20" || e["keylife"] != 3600.0 {
		t.Fatalf("read updated phase1: %v %v", e, err)
	}
	if out := api.cli(t, "admin", "show vpn ipsec phase1-interface tf-hq"); !strings.Contains(out, "set remote-gw 192.0.2.20") || !strings.Contains(out, "set keylife 3600") {
		t.Fatalf("CLI: %q", out)
	}
	// a value the CLI refuses is refused here, with its CLI text
	if _, err := tf.createUpdate("PUT", base+"/"+id, map[string]any{"keylife": 5}); err == nil || !strings.Contains(err.Error(), "Command fail. Return code -") {
		t.Fatalf("keylife 5: %v", err)
	}
	if err := tf.delete(base + "/" + id); err != nil {
		t.Fatal(err)
	}
	if e, err := tf.readEntry(base + "/" + id); e != nil || err != nil {
		t.Fatalf("read after delete: %v %v", e, err)
	}
}

func TestTerraformSystemGlobal(t *testing.T) {
	api := newTestAPI(t)
	tf := newTFClient(t, api)
	const path = "/api/v2/cmdb/system/global"
	g, err := tf.read(path, true)
	if err != nil || g["admintimeout"] == nil {
		t.Fatalf("read global: %v %v", g, err)
	}
	// a singleton: PUT without a mkey, the id is the fixed "SystemGlobal"
	if id, err := tf.createUpdate("PUT", path, map[string]any{"hostname": "FGT-TF", "admintimeout": 30}); err != nil || id != "" {
		t.Fatalf("update global: %q %v", id, err)
	}
	if g, err = tf.read(path, true); err != nil || g["hostname"] != "FGT-TF" || g["admintimeout"] != 30.0 {
		t.Fatalf("read updated global: %v %v", g, err)
	}
	// the provider's vdom "global" is scope=global
	tf.vdom = "global"
	if _, err := tf.createUpdate("PUT", path, map[string]any{"hostname": "FGT-TF2"}); err != nil {
		t.Fatalf("update with scope=global: %v", err)
	}
	if out := api.cli(t, "admin", "get system status"); !strings.Contains(out, "Hostname: FGT-TF2") {
		t.Fatalf("hostname: %q", out)
	}
	if _, err := tf.createUpdate("PUT", path, map[string]any{"admintimeout": 0}); err == nil || !strings.Contains(err.Error(), "Return code -651") {
		t.Fatalf("admintimeout 0: %v", err)
	}
	// a vdom fosim does not have answers 404, which the provider's read
	// takes for "gone" and its write reports
	tf.vdom = "customer1"
	if g, err := tf.read(path, true); g != nil || err != nil {
		t.Fatalf("read in vdom customer1: %v %v", g, err)
	}
	if _, err := tf.createUpdate("PUT", path, map[string]any{"hostname": "FGT-X"}); err == nil || !strings.Contains(err.Error(), "Resource Not Found (404)") {
		t.Fatalf("write in vdom customer1: %v", err)
	}
}

func TestTerraformAuthentication(t *testing.T) {
	api := newTestAPI(t)
	tf := newTFClient(t, api)

	// a bad token: 401, which the provider reports as Not Authorized
	tf.token = "0123456789abcdef0123456789abcd"
	if _, err := tf.read("/api/v2/cmdb/firewall/address", false); err == nil || !strings.Contains(err.Error(), "Not Authorized") || !strings.Contains(err.Error(), "(401)") {
		t.Fatalf("bad token: %v", err)
	}
	if _, err := tf.createUpdate("POST", "/api/v2/cmdb/firewall/address", map[string]any{"name": "bad-token"}); err == nil {
		t.Fatal("a bad token wrote")
	}

	// no token: username/password, logging in and out around every call
	tf.token, tf.username, tf.password = "", "admin", testPassword
	if v, err := tf.deviceVersion(); err != nil || v == "" {
		t.Fatalf("version with a password login: %q %v", v, err)
	}
	if id, err := tf.createUpdate("POST", "/api/v2/cmdb/firewall/address", map[string]any{"name": "pw-login", "subnet": "10.7.0.0/16"}); err != nil || id != "pw-login" {
		t.Fatalf("create with a password login: %q %v", id, err)
	}
	if e, err := tf.read("/api/v2/cmdb/firewall/address/pw-login", false); err != nil || e["subnet"] != "10.7.0.0 255.255.0.0" {
		t.Fatalf("read with a password login: %v %v", e, err)
	}
	if n := len(api.srv.AdminSessions()); n != 0 {
		t.Fatalf("%d sessions left after the provider's logouts", n)
	}

	// the /logincheck fallback, whose form body the provider labels JSON
	ck, err := tf.loginSession()
	if err != nil {
		t.Fatalf("logincheck: %v", err)
	}
	req, _ := http.NewRequest("DELETE", "https://"+tf.target+"/api/v2/cmdb/firewall/address/pw-login?vdom=root", nil)
	req.Header.Set("X-CSRFTOKEN", ck.csrf)
	req.Header.Set("Cookie", ck.cookie)
	req.Header.Set("Content-Type", "application/json")
	resp, err := tf.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("delete with the logincheck session: %d", resp.StatusCode)
	}
	tf.logoutSession(ck)
	if n := len(api.srv.AdminSessions()); n != 0 {
		t.Fatalf("%d sessions left after /logout", n)
	}

	// a wrong password fails both logins
	tf.password = "wrong-password"
	if _, err := tf.read("/api/v2/cmdb/firewall/address", false); err == nil || !strings.Contains(err.Error(), "failed to login") {
		t.Fatalf("wrong password: %v", err)
	}
}

// readEntry reads one entry of a table.
func (c *tfClient) readEntry(path string) (map[string]any, error) { return c.read(path, false) }

// TestTerraformBefore1_21 replays the provider before 1.21.0: the token as
// ?access_token= after vdom=, and the deprecated fortios_vpn_ipsec_phase1interface
// resource, whose body always carries type, comments, remote-gw and
// psksecret, empty or not.
func TestTerraformBefore1_21(t *testing.T) {
	api := newTestAPI(t)
	tf := newTFClient(t, api)
	tf.tokenInQuery = true
	if v, err := tf.deviceVersion(); err != nil || v == "" {
		t.Fatalf("version: %q %v", v, err)
	}
	const base = "/api/v2/cmdb/vpn.ipsec/phase1-interface"
	id, err := tf.createUpdate("POST", base, map[string]any{
		"name": "tf-old", "type": "static", "interface": "port1", "peertype": "any",
		"proposal": "aes128-sha256 aes256-sha256", "comments": "", "remote-gw": "198.51.100.7",
		"psksecret": "old-provider-psk",
	})
	if err != nil || id != "tf-old" {
		t.Fatalf("create: %q %v", id, err)
	}
	e, err := tf.readEntry(base + "/" + id)
	if err != nil || e == nil || e["remote-gw"] != "198.51.100.7" || e["type"] != "static" || e["comments"] != "" {
		t.Fatalf("read: %v %v", e, err)
	}
	if _, err := tf.createUpdate("PUT", base+"/"+id, map[string]any{
		"name": "tf-old", "type": "static", "interface": "port1", "comments": "renamed peer",
		"remote-gw": "198.51.100.8", "psksecret": "old-provider-psk",
	}); err != nil {
		t.Fatalf("update: %v", err)
	}
	if e, err = tf.readEntry(base + "/" + id); err != nil || e["remote-gw"] != "198.51.100.8" || e["comments"] != "renamed peer" {
		t.Fatalf("read updated: %v %v", e, err)
	}
	if err := tf.delete(base + "/" + id); err != nil {
		t.Fatal(err)
	}
	if e, err := tf.readEntry(base + "/" + id); e != nil || err != nil {
		t.Fatalf("read after delete: %v %v", e, err)
	}
	tf.token = "0123456789abcdef0123456789abcd"
	if _, err := tf.readEntry(base); err == nil || !strings.Contains(err.Error(), "(401)") {
		t.Fatalf("bad token in the query: %v", err)
	}
}
