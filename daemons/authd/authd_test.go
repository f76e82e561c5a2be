package authd

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/debuglog"
	"github.com/fosim/fosim/daemons/listen"
)

// scriptedSAML stands in for samld in these tests of authd's own rules
// (cmd/fosim's SAML test runs both with a third-party IdP): every
// Response it is given is accepted as user alice of group vpn-users,
// unless it is "bad".
type scriptedSAML struct {
	mu     sync.Mutex
	relays []string
}

// Login's request IDs are _ID1, _ID2 …
func (s *scriptedSAML) Login(server, relayState string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.relays = append(s.relays, relayState)
	return fmt.Sprintf("_ID%d", len(s.relays)), "https://idp.example/sso?RelayState=" + url.QueryEscape(relayState), nil
}

// Consume takes "USER" as an answer to the last request, "USER@ID" to
// request ID.
func (s *scriptedSAML) Consume(server, acsURL, resp string) (*Assertion, error) {
	if resp == "bad" {
		return nil, fmt.Errorf("signature refused")
	}
	s.mu.Lock()
	id := fmt.Sprintf("_ID%d", len(s.relays))
	s.mu.Unlock()
	if user, req, ok := strings.Cut(resp, "@"); ok {
		resp, id = user, req
	}
	return &Assertion{User: resp, Groups: []string{"vpn-users"}, RequestID: id}, nil
}

func (s *scriptedSAML) Metadata(server string) ([]byte, error) {
	return []byte("<EntityDescriptor/>"), nil
}

func (s *scriptedSAML) Logout(server string, q url.Values) (string, error) { return "", nil }

type testLab struct {
	t        *testing.T
	st       *cmdb.Store
	clock    *clock.Clock
	d        *Daemon
	reg      *listen.Registry
	tcpPort  int
	samlPort int
	mu       sync.Mutex
	out      strings.Builder
}

func (l *testLab) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.Write(b)
}

func (l *testLab) log() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.String()
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func newTestLab(t *testing.T) *testLab {
	l := &testLab{t: t, st: cmdbtest.Store(t), clock: clock.New(time.UTC), reg: &listen.Registry{}, tcpPort: freePort(t), samlPort: freePort(t)}
	cmdbtest.Apply(t, l.st, fmt.Sprintf(`config system settings
    set ike-tcp-port %d
end
config system global
    set auth-ike-saml-port %d
end
config user saml
    edit "IKE_SAML"
        set entity-id "http://fgt.example/remote/saml/metadata/"
    next
end
config user group
    edit "IKE SAML user group"
        set member "IKE_SAML"
        config match
            edit 1
                set server-name "IKE_SAML"
                set group-name "vpn-users"
            next
        end
    next
    edit "others"
        set member "IKE_SAML"
        config match
            edit 1
                set server-name "IKE_SAML"
                set group-name "sales"
            next
        end
    next
end
config system interface
    edit "port1"
        set ike-saml-server "IKE_SAML"
    next
end
`, l.tcpPort, l.samlPort))
	hub := debuglog.New(l.clock.Now)
	ds := hub.Attach(l)
	ds.Enable(true)
	ds.SetLevel("authd", -1)
	m := &listen.Map{}
	if err := m.ParseMapping("port1=127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	l.d = New(&scriptedSAML{})
	sup := daemons.NewSupervisor(&daemons.Runtime{Store: l.st, Clock: l.clock, Debug: hub, Listen: l.reg, Map: m}, l.d)
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.Stop(5 * time.Second) })
	return l
}

func (l *testLab) client() *http.Client {
	return &http.Client{
		Timeout:       5 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (l *testLab) post(port int, path string, form url.Values) (*http.Response, string) {
	l.t.Helper()
	return l.postFrom(l.client(), port, path, form)
}

// postFrom is post from browser c.
func (l *testLab) postFrom(c *http.Client, port int, path string, form url.Values) (*http.Response, string) {
	l.t.Helper()
	resp, err := c.PostForm(fmt.Sprintf("https://127.0.0.1:%d%s", port, path), form)
	if err != nil {
		l.t.Fatalf("POST %s: %v", path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// loginID runs /saml_login and returns the id of /saml?<id>.
func (l *testLab) loginID(port int, uid string) string {
	l.t.Helper()
	return l.loginIDFrom(l.client(), port, uid)
}

// loginIDFrom is loginID from browser c.
func (l *testLab) loginIDFrom(c *http.Client, port int, uid string) string {
	l.t.Helper()
	resp, body := l.postFrom(c, port, "/saml_login", url.Values{"UID": {uid}, "REDIRECT_PORT": {"8020"}})
	if resp.StatusCode != 200 {
		l.t.Fatalf("/saml_login: %s %s", resp.Status, body)
	}
	_, id, ok := strings.Cut(body, "/saml?")
	if !ok || len(id) < 16 {
		l.t.Fatalf("no /saml?<id> in %q", body)
	}
	id = id[:16]
	// the browser goes on to the IdP: the AuthnRequest is sent
	resp, err := c.Get(fmt.Sprintf("https://127.0.0.1:%d/saml?%s", port, id))
	if err != nil {
		l.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		l.t.Fatalf("/saml?%s: %s", id, resp.Status)
	}
	return id
}

// Both ports serve, with the auth-cert (Fortinet_Factory by default), and
// the flow ends in a one-use token bound to the UID, in the groups whose
// match names the IdP's group.
func TestTokenFlow(t *testing.T) {
	l := newTestLab(t)
	if got := l.d.Addrs(); len(got) != 2 {
		t.Fatalf("serves %v, want ike-tcp-port and auth-ike-saml-port", got)
	}
	const uid = "440f2683c7854fbfb73a528151e1fb25"
	id := l.loginID(l.samlPort, uid)
	resp, err := l.client().Get(fmt.Sprintf("https://127.0.0.1:%d/saml?%s", l.samlPort, id))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.Contains(loc, "RelayState=magic%3D"+id) {
		t.Fatalf("/saml?id: %s → %q", resp.Status, loc)
	}
	// a Response to another login's request is refused
	if resp, _ := l.post(l.samlPort, "/remote/saml/login", url.Values{"SAMLResponse": {"alice@_ID99"}, "RelayState": {"magic=" + id}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a Response to another login's request: %s", resp.Status)
	}
	// one login sends at most maxRequestsPerLogin AuthnRequests
	for range maxRequestsPerLogin - 2 {
		r, _ := l.client().Get(fmt.Sprintf("https://127.0.0.1:%d/saml?%s", l.samlPort, id))
		r.Body.Close()
	}
	if r, _ := l.client().Get(fmt.Sprintf("https://127.0.0.1:%d/saml?%s", l.samlPort, id)); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("AuthnRequest %d of one login: %s", maxRequestsPerLogin+1, r.Status)
	}
	if cs := resp.TLS.PeerCertificates; len(cs) == 0 || !strings.Contains(cs[0].Subject.CommonName+strings.Join(cs[0].Subject.Organization, ""), "Forti") {
		t.Errorf("served certificate %+v", resp.TLS.PeerCertificates[0].Subject)
	}
	// a refused Response issues nothing
	if resp, _ := l.post(l.samlPort, "/remote/saml/login", url.Values{"SAMLResponse": {"bad"}, "RelayState": {"magic=" + id}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("refused Response: %s", resp.Status)
	}
	if len(l.d.Tokens(uid)) != 0 {
		t.Fatal("a token after a refused Response")
	}
	resp, _ = l.post(l.samlPort, "/remote/saml/login", url.Values{"SAMLResponse": {"alice"}, "RelayState": {"magic=" + id}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "http://localhost:8020/?tokenid=") || !strings.HasSuffix(loc, "&username=alice") {
		t.Fatalf("ACS: %s → %q", resp.Status, loc)
	}
	u, _ := url.Parse(loc)
	token := u.Query().Get("tokenid")
	ts := l.d.Tokens(strings.ToUpper(uid))
	if len(ts) != 1 || ts[0].Token != token || ts[0].Login.User != "alice" || strings.Join(ts[0].Login.Groups, ",") != "IKE SAML user group" {
		t.Fatalf("tokens %+v", ts)
	}
	// another login with the same UID (anyone may claim a UID) adds a
	// token and voids none
	id2 := l.loginID(l.samlPort, uid)
	l.post(l.samlPort, "/remote/saml/login", url.Values{"SAMLResponse": {"mallory"}, "RelayState": {"magic=" + id2}})
	if ts := l.d.Tokens(uid); len(ts) != 2 || ts[0].Token != token {
		t.Fatalf("after a second login with the UID: %+v", ts)
	}
	// the login was used: its RelayState does not work twice
	if resp, _ := l.post(l.samlPort, "/remote/saml/login", url.Values{"SAMLResponse": {"alice"}, "RelayState": {"magic=" + id}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a second Response for one login: %s", resp.Status)
	}
	if _, ok := l.d.Redeem(uid, "0000"); ok {
		t.Fatal("a wrong token redeemed")
	}
	if _, ok := l.d.Redeem(uid, token); !ok {
		t.Fatal("the token did not redeem")
	}
	if _, ok := l.d.Redeem(uid, token); ok {
		t.Fatal("the token redeemed twice")
	}
	// an assertion without the user-name attribute: the user is the UID
	id = l.loginID(l.tcpPort, uid)
	resp, _ = l.post(l.tcpPort, "/remote/saml/login", url.Values{"SAMLResponse": {""}, "RelayState": {"magic=" + id}})
	if loc := resp.Header.Get("Location"); !strings.HasSuffix(loc, "&username="+strings.ToUpper(uid)) {
		t.Fatalf("without user-name: %q", loc)
	}
	for _, want := range []string{"authd_http: change state from 0 to 1", "[authd_local_saml_auth:5602]: SAML login with UID '440F2683C7854FBFB73A528151E1FB25'.", "[authd_http_prepare_javascript_redir:3852]: https://127.0.0.1:"} {
		if !strings.Contains(l.log(), want) {
			t.Errorf("no %q in:\n%s", want, l.log())
		}
	}
}

// Logins and tokens expire on the appliance clock; bad requests are
// refused plainly.
func TestExpiryAndBadInput(t *testing.T) {
	l := newTestLab(t)
	for _, form := range []url.Values{
		{"UID": {"not-hex"}, "REDIRECT_PORT": {"8020"}},
		{"UID": {strings.Repeat("A", 32)}, "REDIRECT_PORT": {"0"}},
		{"UID": {strings.Repeat("A", 33)}, "REDIRECT_PORT": {"8020"}},
		{"REDIRECT_PORT": {"8020"}},
	} {
		if resp, _ := l.post(l.tcpPort, "/saml_login", form); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%v: %s", form, resp.Status)
		}
	}
	// a Host that is no host name goes nowhere near the page's script
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("https://127.0.0.1:%d/saml_login", l.tcpPort), strings.NewReader(url.Values{"UID": {strings.Repeat("A", 32)}, "REDIRECT_PORT": {"8020"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = `x"</script><script>alert(1)//`
	if resp, err := l.client().Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a script in Host: %v %v", resp, err)
	}
	uid := strings.Repeat("B", 32)
	id := l.loginID(l.tcpPort, uid)
	l.clock.Advance(pendingLifetime + time.Second)
	if resp, _ := l.post(l.tcpPort, "/remote/saml/login", url.Values{"SAMLResponse": {"alice"}, "RelayState": {"magic=" + id}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an expired login: %s", resp.Status)
	}
	id = l.loginID(l.tcpPort, uid)
	l.post(l.tcpPort, "/remote/saml/login", url.Values{"SAMLResponse": {"alice"}, "RelayState": {"magic=" + id}})
	if len(l.d.Tokens(uid)) == 0 {
		t.Fatal("no token")
	}
	l.clock.Advance(TokenLifetime)
	if len(l.d.Tokens(uid)) != 0 {
		t.Fatal("a token outlived TokenLifetime")
	}
	// a huge form is cut off
	big := url.Values{"UID": {strings.Repeat("C", maxForm)}, "REDIRECT_PORT": {"1"}}
	if resp, _ := l.post(l.tcpPort, "/saml_login", big); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a %d-byte form: %s", maxForm, resp.Status)
	}
}

// auth-ike-saml-port may not be ike-tcp-port, and a port another service
// takes wholly on the same address is refused at commit.
func TestPortsRefused(t *testing.T) {
	l := newTestLab(t)
	sess := l.st.NewSession("admin", "test")
	res := cmdb.RunScript(sess, fmt.Sprintf("config system global\nset auth-ike-saml-port %d\nend\n", l.tcpPort), cmdb.ScriptOptions{Atomic: true})
	if len(res.Errors) == 0 || !strings.Contains(res.Errors[0].Err.Error(), "node_check_object fail! for auth-ike-saml-port") {
		t.Fatalf("auth-ike-saml-port = ike-tcp-port: %v", res.Errors)
	}
	// admin HTTPS on the same port yields to authd, as the GUI to IKE on
	// FortiOS 7.6.3; a second service of authd's precedence is refused
	other := freePort(t)
	at := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", other))
	admin, err := l.reg.TCP(at, listen.Route{Owner: "httpsd"})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	cmdbtest.Apply(t, l.st, fmt.Sprintf("config system global\nset auth-ike-saml-port %d\nend\n", other))
	if resp, _ := l.post(other, "/saml_login", url.Values{"UID": {strings.Repeat("D", 32)}, "REDIRECT_PORT": {"8020"}}); resp.StatusCode != 200 {
		t.Fatalf("authd over admin HTTPS: %s", resp.Status)
	}
	third := freePort(t)
	ln, err := l.reg.TCP(netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", third)), listen.Route{Owner: "sslvpnd", Precedence: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	res = cmdb.RunScript(sess, fmt.Sprintf("config system global\nset auth-ike-saml-port %d\nend\n", third), cmdb.ScriptOptions{Atomic: true})
	if len(res.Errors) == 0 || !strings.Contains(res.Errors[0].Err.Error(), "already used by sslvpnd") {
		t.Fatalf("a port sslvpnd holds: %v", res.Errors)
	}
	// without ike-saml-server, authd leaves both ports
	cmdbtest.Apply(t, l.st, "config system interface\nedit port1\nunset ike-saml-server\nnext\nend\n")
	if got := l.d.Addrs(); len(got) != 0 {
		t.Fatalf("still serving %v", got)
	}
}

// A flood of /saml_login from one address evicts that address's own
// logins in progress, not another client's.
func TestPendingPerSource(t *testing.T) {
	old := maxPendingPerSource
	maxPendingPerSource = 5
	t.Cleanup(func() { maxPendingPerSource = old })
	l := newTestLab(t)
	from := func(src string) *http.Client {
		c := l.client()
		c.Transport.(*http.Transport).DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext
		return c
	}
	victim := from("127.0.0.2")
	id := l.loginIDFrom(victim, l.tcpPort, strings.Repeat("E", 32))
	for i := range 20 {
		l.loginID(l.tcpPort, fmt.Sprintf("%032X", i))
	}
	resp, _ := l.postFrom(victim, l.tcpPort, "/remote/saml/login", url.Values{"SAMLResponse": {"victim@_ID1"}, "RelayState": {"magic=" + id}})
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("the other address's login after the flood: %s", resp.Status)
	}
	l.d.mu.Lock()
	n := len(l.d.pending)
	l.d.mu.Unlock()
	if n > maxPendingPerSource {
		t.Fatalf("%d logins in progress from one address, bound %d", n, maxPendingPerSource)
	}
}

// Expired logins and tokens nobody asks for again still go: at the next
// login and the next token issued.
func TestExpiredSwept(t *testing.T) {
	l := newTestLab(t)
	first, second := strings.Repeat("D", 32), strings.Repeat("F", 32)
	id := l.loginID(l.tcpPort, first)
	l.post(l.tcpPort, "/remote/saml/login", url.Values{"SAMLResponse": {"alice"}, "RelayState": {"magic=" + id}})
	abandoned := l.loginID(l.tcpPort, first)
	l.clock.Advance(pendingLifetime + time.Second)
	id = l.loginID(l.tcpPort, second)
	l.post(l.tcpPort, "/remote/saml/login", url.Values{"SAMLResponse": {"bob"}, "RelayState": {"magic=" + id}})
	l.d.mu.Lock()
	_, loginKept := l.d.pending[abandoned]
	_, tokenKept := l.d.tokens[first]
	l.d.mu.Unlock()
	if loginKept || tokenKept {
		t.Fatalf("expired, still held: login %v, token %v", loginKept, tokenKept)
	}
	if len(l.d.Tokens(second)) != 1 {
		t.Fatal("no token for the second UID")
	}
}
