package idp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/crewjam/saml"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/fosim/fosim/clock"
)

// sessionCookie names the browser's IdP session.
const sessionCookie = "fosim_idp_session"

// Server is the IdP's HTTP side: per SP prefix the metadata, login
// (HTTP-Redirect and HTTP-POST AuthnRequests) and logout URLs.
type Server struct {
	dir     string
	clock   *clock.Clock
	cert    *x509.Certificate
	key     *rsa.PrivateKey
	certPEM []byte
	logger  *log.Logger

	mu       sync.Mutex
	cfg      *Config
	cfgStamp string // modification time, size and inode the configuration was read at
	sessions map[string]*session
	// pending are the logins waiting for a token code, by their id.
	pending map[string]pendingLogin
	// lastTOTP is each user's last accepted time step: a code is good once.
	lastTOTP map[string]uint64
	// failures counts each user's wrong passwords and codes in a row;
	// lockedUntil is when a locked-out user may try again (lab clock).
	failures    map[string]int
	lockedUntil map[string]time.Time
}

// Lockout: after lockoutAttempts wrong passwords or token codes in a row a
// user is locked out for lockoutPeriod (fosim's choice of numbers; a lab
// clock advance ends it).
const (
	lockoutAttempts = 5
	lockoutPeriod   = 5 * time.Minute
)

const lockedMessage = "Too many failed logins: the account is locked for a few minutes."

// locked says whether user is locked out now.
func (s *Server) locked(user string) bool {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return now.Before(s.lockedUntil[user])
}

// failed counts a wrong password or code of an existing user; it reports
// whether that locked the user out. Called with s.mu held.
func (s *Server) failed(user string) bool {
	s.failures[user]++
	if s.failures[user] < lockoutAttempts {
		return false
	}
	delete(s.failures, user)
	s.lockedUntil[user] = s.clock.Now().Add(lockoutPeriod)
	return true
}

// pendingLogin is a login whose password was right, waiting for its token
// code.
type pendingLogin struct {
	user    string
	expires time.Time
}

// tokenWait is how long the token form stays good after the password.
const tokenWait = 3 * time.Minute

// session is one browser's login at the IdP.
type session struct {
	id      string
	user    string
	sps     []string // names of the SPs it was used for
	created time.Time
	expires time.Time
	timer   *clock.Timer
}

// SessionInfo is one row of the session list.
type SessionInfo struct {
	User    string    `json:"user"`
	SP      string    `json:"sp"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// NewServer serves the store in dir. Sessions expire on clk; log gets
// one line per refused request (nil: discarded).
func NewServer(dir string, clk *clock.Clock, logOut io.Writer) (*Server, error) {
	if logOut == nil {
		logOut = io.Discard
	}
	if _, err := Open(dir); err != nil {
		return nil, err
	}
	cert, key, certPEM, err := loadCertificate(dir)
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, clock: clk, cert: cert, key: key, certPEM: certPEM,
		logger: log.New(logOut, "idp: ", log.LstdFlags), sessions: map[string]*session{},
		pending: map[string]pendingLogin{}, lastTOTP: map[string]uint64{},
		failures: map[string]int{}, lockedUntil: map[string]time.Time{}}
	if _, err := s.config(); err != nil {
		return nil, err
	}
	return s, nil
}

// config is the stored configuration, read again when the file changed
// (the admin subcommands write it while the IdP runs).
func (s *Server) config() (*Config, error) {
	fi, err := os.Stat(filepath.Join(s.dir, configFile))
	if err != nil {
		return nil, err
	}
	// Each save renames a new file into place: a new inode, even when the
	// modification time cannot tell two saves apart.
	stamp := fmt.Sprint(fi.ModTime().UnixNano(), fi.Size())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		stamp += fmt.Sprint(" ", st.Ino)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg != nil && stamp == s.cfgStamp {
		return s.cfg, nil
	}
	cfg, err := Open(s.dir)
	if err != nil {
		return nil, err
	}
	s.cfg, s.cfgStamp = cfg, stamp
	return cfg, nil
}

// Handler serves the SAML URLs and the certificate.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /saml-idp/{prefix}/metadata/{$}", s.serve((*saml.IdentityProvider).ServeMetadata))
	mux.HandleFunc("/saml-idp/{prefix}/login/{$}", s.serve((*saml.IdentityProvider).ServeSSO))
	mux.HandleFunc("/saml-idp/{prefix}/logout/{$}", s.serve((*saml.IdentityProvider).ServeSLO))
	mux.HandleFunc("GET /saml-idp/cert/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Header().Set("Content-Disposition", `attachment; filename="idp-cert.pem"`)
		w.Write(s.certPEM)
	})
	return mux
}

func (s *Server) serve(h func(*saml.IdentityProvider, http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cfg, err := s.config()
		if err != nil {
			s.logger.Printf("configuration: %v", err)
			http.Error(w, "the IdP configuration cannot be read", http.StatusInternalServerError)
			return
		}
		sp, ok := cfg.serviceProviderByPrefix(r.PathValue("prefix"))
		if !ok {
			s.logger.Printf("%s %s: no service provider has IdP prefix %q", r.Method, r.URL.Path, r.PathValue("prefix"))
			http.Error(w, "no service provider has this IdP prefix", http.StatusNotFound)
			return
		}
		if sp.Disabled {
			s.logger.Printf("%s %s: service provider %q is disabled", r.Method, r.URL.Path, sp.Name)
			http.Error(w, "this service provider is disabled", http.StatusForbidden)
			return
		}
		h(s.identityProvider(cfg, sp, r), w, r)
	}
}

// URLs are an SP's IdP URLs.
type URLs struct{ EntityID, Login, Logout string }

// IdPURLs derives an SP's IdP URLs from the server address and its prefix,
// as FortiAuthenticator does: http://<addr>/saml-idp/<prefix>/metadata/ …
func IdPURLs(serverAddress, prefix string) URLs {
	base := "http://" + serverAddress + "/saml-idp/" + prefix + "/"
	return URLs{EntityID: base + "metadata/", Login: base + "login/", Logout: base + "logout/"}
}

func (s *Server) identityProvider(cfg *Config, sp ServiceProvider, r *http.Request) *saml.IdentityProvider {
	addr := cfg.ServerAddress
	if addr == "" {
		addr = r.Host
	}
	u := IdPURLs(addr, sp.Prefix)
	parse := func(raw string) url.URL { p, _ := url.Parse(raw); return *p }
	return &saml.IdentityProvider{
		Key:                     s.key,
		Certificate:             s.cert,
		Logger:                  s.logger,
		MetadataURL:             parse(u.EntityID),
		SSOURL:                  parse(u.Login),
		LogoutURL:               parse(u.Logout),
		LogoutBindings:          []string{saml.HTTPRedirectBinding, saml.HTTPPostBinding},
		ServiceProviderProvider: spMetadata{sp},
		SessionProvider:         &sessionProvider{s: s, cfg: cfg, sp: sp},
		SignatureMethod:         "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
	}
}

// spMetadata is the one SP a prefix serves, as SAML metadata.
type spMetadata struct{ sp ServiceProvider }

func (m spMetadata) GetServiceProvider(_ *http.Request, id string) (*saml.EntityDescriptor, error) {
	if id != m.sp.EntityID {
		return nil, os.ErrNotExist
	}
	d := saml.SPSSODescriptor{}
	d.ProtocolSupportEnumeration = "urn:oasis:names:tc:SAML:2.0:protocol"
	for i, acs := range append([]string{m.sp.ACSURL}, m.sp.AlternativeACSURLs...) {
		d.AssertionConsumerServices = append(d.AssertionConsumerServices,
			saml.IndexedEndpoint{Binding: saml.HTTPPostBinding, Location: acs, Index: i})
	}
	if cert, err := m.sp.certificate(); err == nil {
		d.KeyDescriptors = []saml.KeyDescriptor{{Use: "signing", KeyInfo: saml.KeyInfo{
			X509Data: saml.X509Data{X509Certificates: []saml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(cert.Raw)}}}}}}
	}
	if m.sp.SLSURL != "" {
		for _, b := range []string{saml.HTTPRedirectBinding, saml.HTTPPostBinding} {
			d.SingleLogoutServices = append(d.SingleLogoutServices, saml.Endpoint{Binding: b, Location: m.sp.SLSURL})
		}
	}
	return &saml.EntityDescriptor{EntityID: m.sp.EntityID, SPSSODescriptors: []saml.SPSSODescriptor{d}}, nil
}

// sessionProvider finds the browser's session or shows the login form.
type sessionProvider struct {
	s   *Server
	cfg *Config
	sp  ServiceProvider
}

func (p *sessionProvider) GetSession(w http.ResponseWriter, r *http.Request, req *saml.IdpAuthnRequest) *saml.Session {
	s := p.s
	if r.Method == http.MethodPost && r.PostForm.Has("pending") {
		u, ok, message := p.checkToken(r.PostForm.Get("pending"), r.PostForm.Get("token"))
		if !ok {
			if message == "" {
				p.loginForm(w, req, "Invalid token code.", r.PostForm.Get("pending"))
			} else {
				p.loginForm(w, req, message, "")
			}
			return nil
		}
		return p.login(w, r, u)
	}
	if r.Method == http.MethodPost && r.PostForm.Has("username") {
		name := r.PostForm.Get("username")
		if s.locked(name) {
			s.logger.Printf("login for %s: %q is locked out", p.sp.Name, name)
			p.loginForm(w, req, lockedMessage, "")
			return nil
		}
		u, ok := p.cfg.checkPassword(name, r.PostForm.Get("password"))
		if !ok {
			s.logger.Printf("login for %s: wrong user name or password for %q", p.sp.Name, name)
			message := "Invalid username or password."
			if _, known := p.cfg.user(name); known {
				s.mu.Lock()
				if s.failed(name) {
					s.logger.Printf("login for %s: %q locked out after %d failed logins", p.sp.Name, name, lockoutAttempts)
					message = lockedMessage
				}
				s.mu.Unlock()
			}
			p.loginForm(w, req, message, "")
			return nil
		}
		s.mu.Lock()
		delete(s.failures, name)
		s.mu.Unlock()
		if u.TOTPSecret != "" {
			id := randomID()
			now := time.Now()
			s.mu.Lock()
			for old, pl := range s.pending { // abandoned token forms
				if now.After(pl.expires) {
					delete(s.pending, old)
				}
			}
			s.pending[id] = pendingLogin{user: u.Name, expires: now.Add(tokenWait)}
			s.mu.Unlock()
			p.loginForm(w, req, "", id)
			return nil
		}
		return p.login(w, r, u)
	}
	forced := req.Request.ForceAuthn != nil && *req.Request.ForceAuthn && p.cfg.HonourForceAuthn
	if c, err := r.Cookie(sessionCookie); err == nil && !forced {
		if sess, ok := s.validSession(c.Value, p.sp.Name); ok {
			if u, ok := p.cfg.user(sess.user); ok {
				return p.samlSession(sess, u)
			}
		}
	}
	if req.Request.IsPassive != nil && *req.Request.IsPassive {
		// IsPassive: the IdP must not prompt (saml-core §3.4.1); the SP
		// gets a NoPassive status instead.
		if err := req.IDP.SendErrorResponse(w, req, &saml.StatusError{TopLevel: saml.StatusResponder,
			SecondLevel: saml.StatusNoPassive, Message: "no IdP session"}); err != nil {
			s.logger.Printf("login for %s: NoPassive response: %v", p.sp.Name, err)
			http.Error(w, "cannot answer the passive request", http.StatusInternalServerError)
		}
		return nil
	}
	p.loginForm(w, req, "", "")
	return nil
}

// checkToken checks the token code of a pending login. The codes follow
// the token's own clock, the host's real time, not the lab clock. A bad
// code leaves the login pending (ok false, no message); an unknown or
// expired one ends it (a message).
func (p *sessionProvider) checkToken(id, code string) (User, bool, string) {
	s := p.s
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	pl, ok := s.pending[id]
	if !ok || now.After(pl.expires) {
		delete(s.pending, id)
		s.logger.Printf("login for %s: token form expired", p.sp.Name)
		return User{}, false, "The login expired; log in again."
	}
	u, ok := p.cfg.user(pl.user)
	if !ok || u.TOTPSecret == "" {
		delete(s.pending, id)
		return User{}, false, "The login expired; log in again."
	}
	step := matchedStep(u.TOTPSecret, code, now)
	if step == 0 || step <= s.lastTOTP[u.Name] {
		s.logger.Printf("login for %s: wrong or already used token code for %q", p.sp.Name, u.Name)
		if s.failed(u.Name) {
			s.logger.Printf("login for %s: %q locked out after %d failed logins", p.sp.Name, u.Name, lockoutAttempts)
			delete(s.pending, id)
			return User{}, false, lockedMessage
		}
		return User{}, false, ""
	}
	delete(s.failures, u.Name)
	s.lastTOTP[u.Name] = step
	delete(s.pending, id)
	return u, true, ""
}

// totpOptions are FortiToken Mobile's: SHA-1, 6 digits, 30 seconds.
var totpOptions = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// matchedStep is the time step whose code code is, within one step of
// drift either way, plus one (0: none matches). A code is good once: the
// caller refuses a step at or before the last one it accepted.
func matchedStep(secret, code string, now time.Time) uint64 {
	for _, drift := range []int64{-1, 0, 1} {
		t := now.Add(time.Duration(drift*30) * time.Second)
		want, err := totp.GenerateCodeCustom(secret, t, totpOptions)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return uint64(t.Unix())/30 + 1
		}
	}
	return 0
}

// login opens a session for u after its credentials were checked.
func (p *sessionProvider) login(w http.ResponseWriter, r *http.Request, u User) *saml.Session {
	sess := p.s.newSession(u.Name, p.sp.Name, time.Duration(p.cfg.SessionTimeoutMinutes)*time.Minute)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sess.id, Path: "/saml-idp/", HttpOnly: true, SameSite: http.SameSiteNoneMode, Secure: r.TLS != nil})
	return p.samlSession(sess, u)
}

// validSession is the session id names when it has not expired on the
// IdP clock; it is then marked as used for sp.
func (s *Server) validSession(id, sp string) (session, bool) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok || !now.Before(sess.expires) {
		return session{}, false
	}
	if !slices.Contains(sess.sps, sp) {
		sess.sps = append(sess.sps, sp)
	}
	return *sess, true
}

func (s *Server) newSession(user, sp string, timeout time.Duration) session {
	now := s.clock.Now()
	sess := &session{id: randomID(), user: user, sps: []string{sp}, created: now, expires: now.Add(timeout)}
	// The expiry flushes the session from the list, as FortiAuthenticator
	// does, when the lab clock passes it. The timer is set before the
	// session is visible, so whoever removes it finds it.
	sess.timer = s.clock.AfterFunc(timeout, func() { s.removeSession(sess.id) })
	s.mu.Lock()
	s.sessions[sess.id] = sess
	s.mu.Unlock()
	return *sess
}

func (s *Server) removeSession(id string) {
	s.mu.Lock()
	sess, ok := s.sessions[id]
	delete(s.sessions, id)
	s.mu.Unlock()
	if ok && sess.timer != nil {
		sess.timer.Stop()
	}
}

// Sessions is the SAML IdP session list: one row per user and SP.
func (s *Server) Sessions() []SessionInfo {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []SessionInfo
	for _, sess := range s.sessions {
		if !now.Before(sess.expires) {
			continue
		}
		for _, sp := range sess.sps {
			rows = append(rows, SessionInfo{User: sess.user, SP: sp, Created: sess.created, Expires: sess.expires})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if !rows[i].Created.Equal(rows[j].Created) {
			return rows[i].Created.Before(rows[j].Created)
		}
		return rows[i].User+"\x00"+rows[i].SP < rows[j].User+"\x00"+rows[j].SP
	})
	return rows
}

// Clock is the clock sessions expire on.
func (s *Server) Clock() *clock.Clock { return s.clock }

// samlSession is sess as crewjam sees it, for this SP: its NameID and
// attributes.
func (p *sessionProvider) samlSession(sess session, u User) *saml.Session {
	nameID := fieldValues(u, p.sp.NameIDField)
	value := u.Name // "If the attribute selected is not available for a user, Username is used"
	if len(nameID) > 0 && nameID[0] != "" {
		value = nameID[0]
	}
	switch p.sp.NameIDFormat {
	case FormatTransient:
		value = p.opaque("transient", sess.id)
	case FormatPersistent:
		value = p.opaque("persistent", value)
	}
	ss := &saml.Session{
		ID: sess.id, CreateTime: sess.created, ExpireTime: sess.expires, Index: p.opaque("index", sess.id),
		NameID: value, NameIDFormat: nameIDFormatURN[p.sp.NameIDFormat],
	}
	for _, a := range p.sp.Attributes {
		attr := saml.Attribute{Name: a.Name, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}
		for _, v := range fieldValues(u, a.Field) {
			attr.Values = append(attr.Values, saml.AttributeValue{Type: "xs:string", Value: v})
		}
		if len(attr.Values) > 0 {
			ss.CustomAttributes = append(ss.CustomAttributes, attr)
		}
	}
	return ss
}

// opaque is an identifier an SP cannot turn back into the user name,
// stable for the same SP and input (a keyed hash, HMAC-SHA256).
func (p *sessionProvider) opaque(kind, input string) string {
	m := hmac.New(sha256.New, p.cfg.Secret)
	io.WriteString(m, kind+"\x00"+p.sp.EntityID+"\x00"+input)
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func fieldValues(u User, field string) []string {
	switch field {
	case FieldUsername:
		return []string{u.Name}
	case FieldEmail:
		return nonEmpty(u.Email)
	case FieldFirstName:
		return nonEmpty(u.FirstName)
	case FieldLastName:
		return nonEmpty(u.LastName)
	case FieldGroup:
		return u.Groups
	}
	return nil
}

func nonEmpty(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var loginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Login – {{.SP}}</title>
<style>body{font-family:sans-serif;max-width:24em;margin:4em auto}label{display:block;margin:.6em 0}input[type=text],input[type=password]{width:100%}.error{color:#b00}</style>
</head><body>
<h1>Login</h1>
<p>Service provider: {{.SP}}</p>
{{if .Error}}<p class="error">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="SAMLRequest" value="{{.SAMLRequest}}">
<input type="hidden" name="RelayState" value="{{.RelayState}}">
{{if .Pending}}<input type="hidden" name="pending" value="{{.Pending}}">
<label>Token code <input type="text" name="token" inputmode="numeric" autocomplete="one-time-code" autofocus></label>
<input type="submit" value="Verify">
{{else}}<label>Username <input type="text" name="username" autofocus></label>
<label>Password <input type="password" name="password"></label>
<input type="submit" value="Login">
{{end}}</form>
</body></html>
`))

// loginForm asks for credentials, or for the token code of the pending
// login; the form posts the AuthnRequest back with the HTTP-POST binding,
// whichever binding it came with.
func (p *sessionProvider) loginForm(w http.ResponseWriter, req *saml.IdpAuthnRequest, message, pending string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusOK
	if message != "" {
		status = http.StatusUnauthorized
	}
	w.WriteHeader(status)
	loginPage.Execute(w, map[string]string{
		"SP": p.sp.Name, "Error": message, "Action": req.IDP.SSOURL.String(), "Pending": pending,
		"SAMLRequest": base64.StdEncoding.EncodeToString(req.RequestBuffer), "RelayState": req.RelayState,
	})
}

// InvalidateSession ends the sessions an SP's LogoutRequest names.
func (p *sessionProvider) InvalidateSession(w http.ResponseWriter, r *http.Request, req *saml.IdpLogoutRequest) error {
	s := p.s
	s.mu.Lock()
	var ended []string
	for id, sess := range s.sessions {
		if !slices.Contains(sess.sps, p.sp.Name) {
			continue
		}
		u, ok := p.cfg.user(sess.user)
		if ok && req.MatchesSession(p.samlSession(*sess, u)) {
			ended = append(ended, id)
		}
	}
	s.mu.Unlock()
	for _, id := range ended {
		s.removeSession(id)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/saml-idp/", MaxAge: -1})
	return nil
}
