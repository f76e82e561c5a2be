package authd

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fosim/fosim/daemons/authd/authapi"
)

// Lifetimes fosim chose where FortiOS's are not public.
const (
	// pendingLifetime bounds the time from FortiClient's /saml_login to
	// the IdP's answer at the ACS.
	pendingLifetime = 10 * time.Minute
	// TokenLifetime bounds the time from the ACS to FortiClient's dial.
	TokenLifetime = 5 * time.Minute
	// maxPending bounds the logins in progress (a flood of /saml_login
	// evicts the oldest, never grows memory).
	maxPending = 10000
	maxForm    = 256 << 10 // a SAMLResponse is a few KB
	// maxConns bounds the HTTPS connections of one address at once.
	maxConns = 256
)

// maxPendingPerSource bounds the logins in progress from one address
// (many FortiClients may share a NAT's address: generous). A variable for
// tests.
var maxPendingPerSource = 256

type pendingLogin struct {
	id           string
	uid          string
	redirectPort int
	server       string
	created      time.Time
	source       netip.Addr
	// requestIDs are the AuthnRequests sent for it (a browser may reload
	// /saml?<id>, up to maxRequestsPerLogin times): the Response must
	// answer one of them
	requestIDs []string
}

// maxRequestsPerLogin bounds the AuthnRequests of one login in progress,
// so that its /saml?<id> cannot flood samld's table of requests sent.
const maxRequestsPerLogin = 3

type issued struct {
	token string
	login authapi.SAMLLogin
}

// maxTokensPerUID bounds the unused tokens of one FortiClient UID (the
// oldest goes first).
const maxTokensPerUID = 4

var uidPattern = regexp.MustCompile(`^[0-9A-Fa-f]{32}$`)

// ifaceKey holds, in a request's context, the interface whose listener
// took its connection.
type ifaceKey struct{}

// newServer is the HTTPS server of every listener.
func (d *Daemon) newServer() *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/saml_login", d.samlLogin)
	mux.HandleFunc("/saml", d.toIdP)
	mux.HandleFunc("/remote/saml/login", d.acs)
	mux.HandleFunc("/remote/saml/metadata/", d.metadata)
	mux.HandleFunc("/remote/saml/logout", d.logout)
	return &http.Server{
		Handler: mux,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok {
				c = tc.NetConn()
			}
			if lc, ok := c.(labelledConn); ok {
				ctx = context.WithValue(ctx, ifaceKey{}, lc.iface)
			}
			return ctx
		},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          nil,
		// seed 000's state lines; what FortiOS's states 0, 1 and 2 are
		// is not public: fosim logs 0→1 at the connection and 1→2 at its
		// first request.
		ConnState: func(c net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				d.log.Printf(7, "authd_http: change state from 0 to 1")
			case http.StateActive:
				d.log.Printf(7, "authd_http: change state from 1 to 2")
			}
		},
	}
}

// serverOf is the SAML server of the interface whose listener took r.
func (d *Daemon) serverOf(r *http.Request) string {
	iface, _ := r.Context().Value(ifaceKey{}).(string)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, i := range d.cfg.ifaces {
		if i.name == iface {
			return i.server
		}
	}
	return ""
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func fail(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, "<html><body><h3>%s</h3></body></html>\n", html.EscapeString(msg))
}

// samlLogin is FortiClient's entry: UID and REDIRECT_PORT in, the page
// that sends the browser on to /saml?<id> out.
func (d *Daemon) samlLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		fail(w, http.StatusBadRequest, "Bad request")
		return
	}
	if !validHost(r.Host) {
		fail(w, http.StatusBadRequest, "Bad request")
		return
	}
	uid, portText := r.Form.Get("UID"), r.Form.Get("REDIRECT_PORT")
	port, err := strconv.Atoi(portText)
	if !uidPattern.MatchString(uid) || err != nil || port < 1 || port > 65535 {
		d.log.Printf(1, "[authd_local_saml_auth]: bad SAML login request (UID %q, REDIRECT_PORT %q)", excerpt(uid), excerpt(portText))
		fail(w, http.StatusBadRequest, "Bad request")
		return
	}
	server := d.serverOf(r)
	if server == "" {
		fail(w, http.StatusNotFound, "SAML is not enabled on this interface")
		return
	}
	uid = strings.ToUpper(uid)
	// FortiOS's source line numbers, as public debug output shows them
	d.log.Printf(1, "[authd_local_saml_auth:5602]: SAML login with UID '%s'.", uid)
	p := &pendingLogin{id: randomHex(8), uid: uid, redirectPort: port, server: server, created: d.now(), source: remoteAddr(r)}
	d.mu.Lock()
	d.makeRoomLocked(p.source, p.created)
	d.pending[p.id] = p
	d.mu.Unlock()
	next := (&url.URL{Scheme: "https", Host: r.Host, Path: "/saml", RawQuery: p.id}).String()
	d.log.Printf(1, "[authd_http_prepare_javascript_redir:3852]: %s", next)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// the page FortiClient's embedded browser runs (a script and a
	// link for a browser without scripts); json escapes <, > and & too
	js, _ := json.Marshal(next)
	fmt.Fprintf(w, "<html><head><script>window.location=%s;</script></head><body><a href=\"%s\">Continue to the identity provider</a></body></html>\n", js, html.EscapeString(next))
}

// makeRoomLocked drops the expired logins in progress and, past a bound,
// the oldest: of address source first, so that one address's flood
// evicts its own. It is the one pass over all the logins, made when one
// is added; lookups check only their own (pendingLocked).
func (d *Daemon) makeRoomLocked(source netip.Addr, now time.Time) {
	fromSource := 0
	var oldest, oldestOfSource *pendingLogin
	for id, q := range d.pending {
		if now.Sub(q.created) > pendingLifetime {
			delete(d.pending, id)
			continue
		}
		if oldest == nil || q.created.Before(oldest.created) {
			oldest = q
		}
		if q.source == source {
			fromSource++
			if oldestOfSource == nil || q.created.Before(oldestOfSource.created) {
				oldestOfSource = q
			}
		}
	}
	switch {
	case fromSource >= maxPendingPerSource:
		delete(d.pending, oldestOfSource.id)
	case len(d.pending) >= maxPending:
		delete(d.pending, oldest.id)
	}
}

// pendingLocked is the login in progress id, nil when there is none or
// it has expired.
func (d *Daemon) pendingLocked(id string) *pendingLogin {
	p := d.pending[id]
	if p != nil && d.now().Sub(p.created) > pendingLifetime {
		delete(d.pending, id)
		return nil
	}
	return p
}

// tokensLocked are the unexpired tokens of uid, oldest first; the
// expired ones of uid go.
func (d *Daemon) tokensLocked(uid string, now time.Time) []*issued {
	ts := slices.DeleteFunc(d.tokens[uid], func(t *issued) bool { return !now.Before(t.login.Expires) })
	if len(ts) == 0 {
		delete(d.tokens, uid)
	} else {
		d.tokens[uid] = ts
	}
	return ts
}

// toIdP sends the browser to the IdP with samld's AuthnRequest; the
// RelayState carries the login's id as FortiOS's does ("magic=…", seed
// 001).
func (d *Daemon) toIdP(w http.ResponseWriter, r *http.Request) {
	id := r.URL.RawQuery
	d.mu.Lock()
	p := d.pendingLocked(id)
	again := p != nil && len(p.requestIDs) >= maxRequestsPerLogin
	d.mu.Unlock()
	if p == nil {
		fail(w, http.StatusNotFound, "The SAML login has expired; connect again from FortiClient")
		return
	}
	if again {
		fail(w, http.StatusTooManyRequests, "Too many attempts for this SAML login; connect again from FortiClient")
		return
	}
	reqID, to, err := d.saml.Login(p.server, "magic="+p.id)
	if err != nil {
		d.log.Printf(1, "authd: SAML login through %q: %v", p.server, err)
		fail(w, http.StatusInternalServerError, "SAML login failed: "+err.Error())
		return
	}
	d.mu.Lock()
	p.requestIDs = append(p.requestIDs, reqID)
	d.mu.Unlock()
	http.Redirect(w, r, to, http.StatusFound)
}

// acs takes the IdP's Response: samld verifies it, authd issues the token
// and sends the browser back to FortiClient.
func (d *Daemon) acs(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		fail(w, http.StatusMethodNotAllowed, "The assertion consumer takes HTTP-POST")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		fail(w, http.StatusBadRequest, "Bad request")
		return
	}
	id, _ := strings.CutPrefix(r.PostForm.Get("RelayState"), "magic=")
	d.mu.Lock()
	p := d.pendingLocked(id)
	d.mu.Unlock()
	if p == nil {
		d.log.Printf(1, "authd: SAML response with no FortiClient login pending (RelayState %q)", excerpt(r.PostForm.Get("RelayState")))
		fail(w, http.StatusForbidden, "No SAML login is pending; connect again from FortiClient")
		return
	}
	acsURL := "https://" + r.Host + r.URL.Path
	a, err := d.saml.Consume(p.server, acsURL, r.PostForm.Get("SAMLResponse"))
	if err != nil {
		d.log.Printf(1, "authd: SAML login of UID '%s' refused: %v", p.uid, err)
		fail(w, http.StatusForbidden, "SAML authentication failed")
		return
	}
	d.mu.Lock()
	answered := slices.Contains(p.requestIDs, a.RequestID)
	d.mu.Unlock()
	if !answered {
		// samld sent that request, but for another login in progress
		d.log.Printf(1, "authd: SAML response for UID '%s' answers request %q, not this login's", p.uid, excerpt(a.RequestID))
		fail(w, http.StatusForbidden, "SAML authentication failed")
		return
	}
	user := a.User
	if user == "" {
		user = p.uid // FortiOS's fallback when user-name is missing
	}
	now := d.now()
	d.mu.Lock()
	delete(d.pending, p.id)
	groups := d.cfg.groupsOf(p.server, a.Groups)
	t := &issued{token: randomHex(16), login: authapi.SAMLLogin{UID: p.uid, User: user, Server: p.server, Groups: groups, IdPGroups: a.Groups, Issued: now, Expires: now.Add(TokenLifetime)}}
	// the one pass over every UID's tokens, made when one is issued
	for uid := range d.tokens {
		d.tokensLocked(uid, now)
	}
	ts := append(d.tokens[p.uid], t)
	if len(ts) > maxTokensPerUID {
		ts = ts[len(ts)-maxTokensPerUID:]
	}
	d.tokens[p.uid] = ts
	d.mu.Unlock()
	d.log.Printf(1, "authd: SAML user '%s' (UID '%s') authenticated by %q, groups %s", user, p.uid, p.server, strings.Join(groups, ","))
	back := fmt.Sprintf("http://localhost:%d/?tokenid=%s&username=%s", p.redirectPort, t.token, url.QueryEscape(user))
	http.Redirect(w, r, back, http.StatusFound)
}

func (d *Daemon) metadata(w http.ResponseWriter, r *http.Request) {
	md, err := d.saml.Metadata(d.serverOf(r))
	if err != nil {
		fail(w, http.StatusNotFound, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Write(md)
}

func (d *Daemon) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		fail(w, http.StatusBadRequest, "Bad request")
		return
	}
	next, err := d.saml.Logout(d.serverOf(r), r.Form)
	if err != nil {
		d.log.Printf(1, "authd: SAML logout refused: %v", err)
		fail(w, http.StatusBadRequest, "SAML logout failed")
		return
	}
	if next != "" {
		http.Redirect(w, r, next, http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, "<html><body><h3>You are logged out.</h3></body></html>\n")
}

// Tokens is authapi.Tokens.Tokens.
func (d *Daemon) Tokens(uid string) []authapi.Issued {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []authapi.Issued
	for _, t := range d.tokensLocked(strings.ToUpper(uid), d.now()) {
		out = append(out, authapi.Issued{Token: t.token, Login: t.login})
	}
	return out
}

// Redeem is authapi.Tokens.Redeem.
func (d *Daemon) Redeem(uid, token string) (authapi.SAMLLogin, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	uid = strings.ToUpper(uid)
	ts := d.tokensLocked(uid, d.now())
	for i, t := range ts {
		if subtle.ConstantTimeCompare([]byte(t.token), []byte(token)) == 1 {
			if ts = slices.Delete(ts, i, i+1); len(ts) == 0 {
				delete(d.tokens, uid)
			} else {
				d.tokens[uid] = ts
			}
			return t.login, true
		}
	}
	return authapi.SAMLLogin{}, false
}

// Deny is authapi.Tokens.Deny. FNBAM_DENIED is the result public
// FortiClient SAML troubleshooting shows; the rest of the line is fosim's.
func (d *Daemon) Deny(uid, why string) {
	d.log.Printf(1, "authd: EAP failed for user \"%s\" (%s): result FNBAM_DENIED", strings.ToUpper(uid), why)
}

var _ authapi.Tokens = (*Daemon)(nil)

// remoteAddr is the address a request came from.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// validHost tells whether a request's Host is a host name or address with
// an optional port: it goes back into the page's script and the IdP
// round trip.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		host, port = h, ""
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return a.Zone() == ""
	}
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return host != ""
}

// excerpt quotes at most 40 bytes of what a client sent.
func excerpt(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
