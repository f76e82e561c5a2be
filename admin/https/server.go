// Package https is the appliance's HTTPS admin service: FortiOS's REST
// API (/api/v2/cmdb/… and /api/v2/monitor/…) on admin-sport, with API
// users' tokens and admin password sessions (/logincheck, the ccsrftoken
// cookie, /logout), a small server-rendered web GUI (gui.go) and admin
// SAML SSO as service provider (sso.go). Every write goes through the
// CMDB's structured edit API in a session of the caller, so the caller's
// access profile and every check of the CLI apply.
package https

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons/iked/ikeapi"
	"github.com/fosim/fosim/daemons/samld"
)

// VPN is what the REST API asks iked: the same snapshot the CLI's
// "diagnose vpn ike gateway list" formats.
type VPN interface {
	Gateways() []ikeapi.Gateway
}

// Server answers the HTTPS admin requests of one appliance.
type Server struct {
	App *cli.Appliance
	// VPN is iked; nil when it does not run (the IPsec monitor says so).
	VPN VPN
	// Lockout counts failed logins per address, as admin SSH does; one is
	// made on first use when nil.
	Lockout *cli.LoginGuard

	once     sync.Once
	mux      *http.ServeMux
	mu       sync.Mutex
	sessions map[string]*adminSession // by cookie value
	// sp checks admin SSO's SAML Responses (config system saml).
	sp *samld.SP
	// idp answers other units' AuthnRequests when this one is the IdP.
	idp *samld.IdP
}

// identity is who a request acts for.
type identity struct {
	user    string
	session *adminSession // nil for an API token
}

// readAccess is user's access profile if it may read table (opening the
// table checks the profile's read right); via names the front end asking.
func (s *Server) readAccess(user, via, table string) (*cmdb.Access, error) {
	sess := s.App.Store.NewSession(user, via)
	defer sess.Discard()
	if _, err := sess.OpenTable(table); err != nil {
		return nil, err
	}
	return sess.Access(), nil
}

// adminSession is a password login's cookie session.
type adminSession struct {
	id, csrf string
	user     string
	from     netip.Addr
	sso      bool         // logged in through SAML SSO
	saml     *samld.Login // that login, for single logout
	seq      uint64       // login order, for the CLI's session list
	started  time.Time    // login
	last     time.Time    // last request, for admintimeout
}

// maxSessions bounds the password sessions kept; the oldest idle one goes
// first.
const maxSessions = 256

func (s *Server) init() {
	s.once.Do(func() {
		if s.Lockout == nil {
			s.Lockout = cli.NewLoginGuard(s.App)
		}
		s.sessions = map[string]*adminSession{}
		s.sp = samld.NewSP(s.App.Clock, s.App.Debug.Logger("samld"))
		s.idp = samld.NewIdP(s.App.Clock, s.App.Debug.Logger("samld"))
		s.sp.OnLogout(s.endSSOSessions)
		s.App.AddAdminSessions(s)
		mux := http.NewServeMux()
		mux.HandleFunc("/logincheck", s.serveLogin)
		mux.HandleFunc("/logout", s.serveLogout)
		mux.HandleFunc("/api/v2/authentication", s.serveAuthentication)
		mux.HandleFunc("/api/v2/cmdb/", s.authenticated(s.serveCmdb))
		mux.HandleFunc("/api/v2/monitor/", s.authenticated(s.serveMonitor))
		mux.HandleFunc(loginPath, s.serveLoginPage)
		mux.HandleFunc(dashboardPath, s.serveDashboard)
		mux.HandleFunc("/ng/logout", s.serveGUILogout)
		mux.HandleFunc("/saml/", s.serveSAML)
		mux.HandleFunc(ssoMetadataPath, s.serveSAML)
		mux.HandleFunc(idpPathPrefix, s.serveIdP)
		mux.HandleFunc("/", s.serveRoot)
		s.mux = mux
	})
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	s.mux.ServeHTTP(w, r)
}

func (s *Server) serveOther(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		rep := &reply{srv: s, method: r.Method}
		rep.fail(w, http.StatusNotFound, errNotSimulated("API "+r.URL.Path))
		return
	}
	http.Error(w, "not simulated yet: GUI page "+r.URL.Path+" (fosim's GUI has /login and "+dashboardPath+"; the REST API is under /api/v2/)", http.StatusNotFound)
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// authenticated admits a request with an API user's token (Authorization:
// Bearer, or ?access_token=) from one of its trusted hosts, or with a
// password session's cookie, whose writes must carry its X-CSRFTOKEN.
func (s *Server) authenticated(h func(http.ResponseWriter, *http.Request, *identity)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rep := &reply{srv: s, method: r.Method}
		src := remoteAddr(r)
		token := r.URL.Query().Get("access_token")
		if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			token = strings.TrimSpace(b)
		}
		if token != "" {
			if sess := s.liveSession(token); sess != nil {
				// a session_key of /api/v2/authentication
				h(w, r, &identity{user: sess.user, session: sess})
				return
			}
			if locked, _ := s.Lockout.Locked(src.String()); locked {
				rep.fail(w, http.StatusUnauthorized, errors.New("address locked out after failed logins"))
				return
			}
			user, err := s.tokenUser(token, src)
			if err != nil {
				s.Lockout.Failed(src.String())
				rep.fail(w, http.StatusUnauthorized, err)
				return
			}
			s.Lockout.Succeeded(src.String())
			s.cors(w, user)
			h(w, r, &identity{user: user})
			return
		}
		sess := s.cookieSession(r)
		if sess == nil {
			rep.fail(w, http.StatusUnauthorized, errors.New("not logged in: no API token and no valid session cookie"))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			got := r.Header.Get("X-CSRFTOKEN")
			if subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
				rep.fail(w, http.StatusForbidden, errors.New("CSRF token missing or wrong: send the ccsrftoken cookie's value as X-CSRFTOKEN"))
				return
			}
		}
		// Every answer carries the session's cookies again, as FortiOS
		// refreshes them: Ansible's httpapi keeps only the headers of the
		// last answer.
		s.setSessionCookies(w, sess)
		h(w, r, &identity{user: sess.user, session: sess})
	}
}

func (s *Server) setSessionCookies(w http.ResponseWriter, sess *adminSession) {
	w.Header().Add("Set-Cookie", s.cookieName()+`="`+sess.id+`"; path=/; HttpOnly; Secure`)
	w.Header().Add("Set-Cookie", `ccsrftoken="`+sess.csrf+`"; path=/; Secure`)
}

func (s *Server) clearSessionCookies(w http.ResponseWriter) {
	w.Header().Add("Set-Cookie", s.cookieName()+`=""; path=/; Max-Age=0`)
	w.Header().Add("Set-Cookie", `ccsrftoken=""; path=/; Max-Age=0`)
}

// tokenUser finds the API user whose api-key is token and checks that
// src is one of its trusted hosts.
func (s *Server) tokenUser(token string, src netip.Addr) (string, error) {
	st := s.App.Store
	t := st.Schema().Table("system api-user")
	if t == nil {
		return "", errors.New("invalid API token")
	}
	var user string
	var hosts []netip.Prefix
	st.ReadCommitted(func(v cmdb.View, _ uint64, sec *cmdb.Secrets) {
		for _, e := range v.Table(t.Path).Ordered() {
			key := e.Get(t.Attr("api-key"))
			if len(key) != 2 || key[0] != "ENC" {
				continue
			}
			clear, err := sec.Decrypt(key[1])
			if err != nil || subtle.ConstantTimeCompare([]byte(clear), []byte(token)) != 1 {
				continue
			}
			user = e.Key
			hosts = trustHosts(t.Attr("trusthost").Child, e)
			return // keys are unique: no need to decrypt the rest
		}
	})
	if user == "" {
		return "", errors.New("invalid API token")
	}
	if len(hosts) == 0 {
		return user, nil
	}
	for _, p := range hosts {
		if p.Contains(src) {
			return user, nil
		}
	}
	return "", errors.New("API user " + user + ": not a trusted host")
}

// trustHosts are an API user's trusthost entries; none means any address.
func trustHosts(t *cmdb.Table, e *cmdb.Entry) []netip.Prefix {
	var out []netip.Prefix
	for _, h := range e.Children["trusthost"].Ordered() {
		var words []string
		if h.Value(t.Attr("type")) == "ipv6-trusthost" {
			words = h.Get(t.Attr("ipv6-trusthost"))
			if len(words) == 1 {
				if p, err := netip.ParsePrefix(words[0]); err == nil {
					out = append(out, p)
				}
			}
			continue
		}
		if p, ok := cmdb.IPv4MaskPrefix(h.Get(t.Attr("ipv4-trusthost"))); ok {
			out = append(out, p)
		}
	}
	return out
}

// cors sends the API user's cors-allow-origin.
func (s *Server) cors(w http.ResponseWriter, user string) {
	if o := s.App.Store.Lookup("system api-user", user); o != nil {
		if v := o.Values["cors-allow-origin"]; len(v) == 1 {
			w.Header().Set("Access-Control-Allow-Origin", v[0])
		}
	}
}

// cookieName is FortiOS's session cookie, named after the unit's serial.
func (s *Server) cookieName() string { return "APSCOOKIE_" + s.App.Store.Serial() }

// cookieSession is the live session a request's cookie names; an expired
// one (admintimeout of the appliance clock) is forgotten.
func (s *Server) cookieSession(r *http.Request) *adminSession {
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return nil
	}
	return s.liveSession(strings.Trim(c.Value, `"`))
}

// liveSession is the password session id names, nil when there is none
// or it expired (admintimeout of the appliance clock); it counts as
// activity.
func (s *Server) liveSession(id string) *adminSession {
	now := s.App.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[id]
	if sess == nil {
		return nil
	}
	if now.Sub(sess.last) > cli.AdminTimeout(s.App.Store, sess.user) {
		delete(s.sessions, id)
		return nil
	}
	sess.last = now
	return sess
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// serveLogin is POST /logincheck (username, secretkey): FortiOS answers
// "1" and sets the session cookie and ccsrftoken on success, "0" on a
// wrong login, "2" to a locked-out address.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		// Ansible's token login GETs it and ignores the answer.
		w.WriteHeader(http.StatusOK)
		return
	}
	// The body is a form whatever Content-Type says: Terraform's
	// provider posts its form labelled application/json.
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		http.Error(w, "bad login form", http.StatusBadRequest)
		return
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		http.Error(w, "bad login form", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	sess, locked := s.passwordLogin(r, form.Get("username"), form.Get("secretkey"))
	switch {
	case locked:
		w.Write([]byte("2"))
	case sess == nil:
		w.Write([]byte("0"))
	default:
		s.setSessionCookies(w, sess)
		w.Write([]byte("1"))
	}
}

// passwordLogin checks an admin's password from r's address: the lockout
// (admin-lockout-threshold), the admin's trusthost1…10 and the password
// itself, as admin SSH does. An admin who must first choose a password
// is refused (no page here asks for one).
func (s *Server) passwordLogin(r *http.Request, user, pw string) (sess *adminSession, locked bool) {
	src := remoteAddr(r).String()
	if locked, _ := s.Lockout.Locked(src); locked {
		return nil, true
	}
	login, err := cli.CheckAdminPassword(s.App.Store, user, pw)
	if err == nil && !adminTrusted(s.App.Store, user, remoteAddr(r)) {
		err = errors.New("not a trusted host")
	}
	if err == nil && login.MustChangePassword {
		err = errors.New("the admin must choose a new password first")
	}
	if err != nil {
		return nil, s.Lockout.Failed(src)
	}
	s.Lockout.Succeeded(src)
	return s.newSession(user, r), false
}

// newSession is a new cookie session of user from r's address; at
// maxSessions the oldest idle one goes.
func (s *Server) newSession(user string, r *http.Request) *adminSession {
	now := s.App.Clock.Now()
	sess := &adminSession{id: randomHex(16), csrf: randomHex(16), user: user, from: remoteAddr(r), started: now, last: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) >= maxSessions {
		var oldest *adminSession
		for _, o := range s.sessions {
			if oldest == nil || o.last.Before(oldest.last) {
				oldest = o
			}
		}
		delete(s.sessions, oldest.id)
	}
	sess.seq = s.App.NextSessionNumber()
	s.sessions[sess.id] = sess
	return sess
}

// AdminSessions are the live GUI and REST sessions, for "get system info
// admin status".
func (s *Server) AdminSessions() []cli.AdminSession {
	s.init()
	now := s.App.Clock.Now()
	s.mu.Lock()
	live := make([]adminSession, 0, len(s.sessions))
	for _, sess := range s.sessions {
		if now.Sub(sess.last) <= cli.AdminTimeout(s.App.Store, sess.user) {
			live = append(live, *sess)
		}
	}
	s.mu.Unlock()
	out := make([]cli.AdminSession, 0, len(live))
	for _, sess := range live {
		out = append(out, cli.AdminSession{ID: sess.id, Seq: sess.seq, User: sess.user, Type: "https", From: sess.from,
			SSO: sess.sso, Profile: s.App.Store.Profile(sess.user), Started: sess.started})
	}
	return out
}

// DisconnectAdminSession ends a session ("execute
// disconnect-admin-session").
func (s *Server) DisconnectAdminSession(id string) bool {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[id] == nil {
		return false
	}
	delete(s.sessions, id)
	return true
}

// serveAuthentication is FortiOS 7.4's /api/v2/authentication: POST
// {"username", "secretkey"} logs in (the cookies as /logincheck, and a
// session_key that works as an API token until admintimeout); DELETE
// with that key or the cookie logs out. FortiOS also sends a numeric
// status_code, whose values are not published; fosim sends only
// status_message.
func (s *Server) serveAuthentication(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
	case http.MethodDelete:
		id := r.URL.Query().Get("access_token")
		if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			id = strings.TrimSpace(b)
		}
		if c, err := r.Cookie(s.cookieName()); err == nil && id == "" {
			id = strings.Trim(c.Value, `"`)
		}
		s.mu.Lock()
		delete(s.sessions, id)
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, object{{"status_message", "LOGOUT_SUCCESS"}})
		return
	default:
		writeJSON(w, http.StatusMethodNotAllowed, object{{"status_message", "method not allowed"}})
		return
	}
	var body struct {
		Username  string `json:"username"`
		Secretkey string `json:"secretkey"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	if err := dec.Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, object{{"status_message", "invalid JSON body"}})
		return
	}
	sess, locked := s.passwordLogin(r, body.Username, body.Secretkey)
	switch {
	case locked:
		writeJSON(w, http.StatusUnauthorized, object{{"status_message", "LOGIN_LOCKED_OUT"}})
	case sess == nil:
		writeJSON(w, http.StatusUnauthorized, object{{"status_message", "LOGIN_FAILED"}})
	default:
		s.setSessionCookies(w, sess)
		writeJSON(w, http.StatusOK, object{{"status_message", "LOGIN_SUCCESS"}, {"session_key", sess.id}})
	}
}

// serveLogout ends the cookie's session.
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(s.cookieName()); err == nil {
		s.mu.Lock()
		delete(s.sessions, strings.Trim(c.Value, `"`))
		s.mu.Unlock()
	}
	s.clearSessionCookies(w)
	w.WriteHeader(http.StatusOK)
}

// adminTrusted applies an admin's trusthost1…10: with none set every
// address may log in.
func adminTrusted(st *cmdb.Store, user string, src netip.Addr) bool {
	t := st.Schema().Table("system admin")
	e := st.Lookup("system admin", user)
	if t == nil || e == nil {
		return false
	}
	return cmdb.AdminTrusted(t, e, src)
}
