package idp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/fosim/fosim/clock"
)

// sessionCookie names the browser's IdP session.
const sessionCookie = "fosim_idp_session"

// Server is the IdP's HTTP side: per SP prefix the metadata, login
// (HTTP-Redirect and HTTP-POST AuthnRequests) and logout URLs, and the
// administration pages under /admin/.
type Server struct {
	dir   string
	clock *clock.Clock
	// samlClock is clock as crewjam and goxmldsig read it
	samlClock *dsig.Clock
	logger    *log.Logger
	// replays records answered AuthnRequest and LogoutRequest IDs.
	replays *replayCache

	mu       sync.Mutex
	cfg      *Config
	cfgStamp string // modification time, size and inode the configuration was read at
	certs    map[string]keyPair
	// sessions are the IdP sessions by their handle.
	sessions map[string]*session
	// expiries are the sessions in order of creation, one queue per login
	// session timeout: each is in order of expiry too (while the clock
	// runs forward). expiryTimer, due at expiryAt, flushes the first ones.
	expiries    map[time.Duration]*sessionQueue
	expiryTimer *clock.Timer
	expiryAt    time.Time
	// logins are the logins in progress, by their id.
	logins map[string]*pendingLogin
	// lastTOTP is each user's last accepted time step: a code is good once.
	lastTOTP map[string]uint64
	// failures counts each user's wrong passwords and codes in a row;
	// lockedUntil is when a locked-out user may try again (lab clock).
	failures    map[string]int
	lockedUntil map[string]time.Time

	admin adminState
}

// keyPair is an IdP certificate and its key.
type keyPair struct {
	cert    *x509.Certificate
	key     *rsa.PrivateKey
	certPEM []byte
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
// whether that locked the user out.
func (s *Server) failed(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[user]++
	if s.failures[user] < lockoutAttempts {
		return false
	}
	delete(s.failures, user)
	s.lockedUntil[user] = s.clock.Now().Add(lockoutPeriod)
	return true
}

func (s *Server) succeeded(user string) {
	s.mu.Lock()
	delete(s.failures, user)
	s.mu.Unlock()
}

// session is one browser's login at the IdP.
type session struct {
	// handle names the session in the session list; the browser's cookie
	// is handle.secret (cookie), so the list shows no credential.
	handle  string
	secret  string
	user    string
	sps     []string // names of the SPs it was used for
	created time.Time
	expires time.Time
}

// SessionInfo is one row of the session list.
type SessionInfo struct {
	ID      string    `json:"id"` // the handle "fosim idp session end" and the GUI name it by
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
	s := &Server{dir: dir, clock: clk, logger: log.New(logOut, "idp: ", log.LstdFlags), replays: newReplayCache(),
		certs: map[string]keyPair{}, sessions: map[string]*session{}, expiries: map[time.Duration]*sessionQueue{},
		logins: map[string]*pendingLogin{}, lastTOTP: map[string]uint64{},
		failures: map[string]int{}, lockedUntil: map[string]time.Time{}}
	s.samlClock = samlClock(clk)
	s.admin.init()
	if _, err := s.config(); err != nil {
		return nil, err
	}
	if _, err := s.keyPair(""); err != nil {
		return nil, err
	}
	return s, nil
}

// keyPair is the IdP certificate called name ("": the default one of the
// configuration). Certificates never change once made, so each is read
// once.
func (s *Server) keyPair(name string) (keyPair, error) {
	if name == "" {
		cfg, err := s.config()
		if err != nil {
			return keyPair{}, err
		}
		name = cfg.DefaultCertificate
	}
	if name == "" {
		name = DefaultCertificateName
	}
	s.mu.Lock()
	kp, ok := s.certs[name]
	s.mu.Unlock()
	if ok {
		return kp, nil
	}
	cert, key, certPEM, err := readKeyPair(certificatePaths(s.dir, name))
	if err != nil {
		return keyPair{}, fmt.Errorf("IdP certificate %q: %w", name, err)
	}
	kp = keyPair{cert: cert, key: key, certPEM: certPEM}
	s.mu.Lock()
	s.certs[name] = kp
	s.mu.Unlock()
	return kp, nil
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

// Handler serves the SAML URLs, the certificates and the administration
// pages (/admin/).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /saml-idp/{prefix}/metadata/{$}", s.serve((*saml.IdentityProvider).ServeMetadata))
	mux.HandleFunc("/saml-idp/{prefix}/login/{$}", s.serve(func(idp *saml.IdentityProvider, w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.FormValue("login") != "" {
			s.continueLogin(w, r)
			return
		}
		idp.ServeSSO(w, r)
	}))
	mux.HandleFunc("/saml-idp/{prefix}/logout/{$}", s.serve((*saml.IdentityProvider).ServeSLO))
	mux.HandleFunc("GET /saml-idp/cert/{$}", func(w http.ResponseWriter, r *http.Request) {
		kp, err := s.keyPair("")
		if err != nil {
			s.logger.Printf("certificate: %v", err)
			http.Error(w, "the IdP certificate cannot be read", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Header().Set("Content-Disposition", `attachment; filename="idp-cert.pem"`)
		w.Write(kp.certPEM)
	})
	s.adminRoutes(mux)
	return mux
}

// spKey is where serve leaves the configuration and SP a request is for.
type spKey struct{}

type spContext struct {
	cfg *Config
	sp  ServiceProvider
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
			s.refuse(w, http.StatusNotFound, "No service provider has this IdP prefix.",
				"%s %s: no service provider has IdP prefix %q", r.Method, r.URL.Path, r.PathValue("prefix"))
			return
		}
		if sp.Disabled {
			s.refuse(w, http.StatusForbidden, "This service provider is disabled.",
				"%s %s: service provider %q is disabled", r.Method, r.URL.Path, sp.Name)
			return
		}
		idp, err := s.identityProvider(cfg, sp, r)
		if err != nil {
			s.logger.Printf("%s: %v", sp.Name, err)
			http.Error(w, "the IdP certificate cannot be read", http.StatusInternalServerError)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), spKey{}, spContext{cfg, sp}))
		h(idp, w, r)
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

func (s *Server) identityProvider(cfg *Config, sp ServiceProvider, r *http.Request) (*saml.IdentityProvider, error) {
	kp, err := s.keyPair(sp.IdPCertificate)
	if err != nil {
		return nil, err
	}
	addr := cfg.ServerAddress
	if addr == "" {
		addr = r.Host
	}
	u := IdPURLs(addr, sp.Prefix)
	parse := func(raw string) url.URL { p, _ := url.Parse(raw); return *p }
	idp := &saml.IdentityProvider{
		Key:                     kp.key,
		Certificate:             kp.cert,
		Logger:                  s.logger,
		MetadataURL:             parse(u.EntityID),
		SSOURL:                  parse(u.Login),
		LogoutURL:               parse(u.Logout),
		LogoutBindings:          []string{saml.HTTPRedirectBinding, saml.HTTPPostBinding},
		ServiceProviderProvider: spMetadata{sp},
		SessionProvider:         &sessionProvider{s: s, cfg: cfg, sp: sp},
		SignatureMethod:         "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
		WantAuthnRequestsSigned: sp.RequireSignedRequests,
		ReplayCache:             s.replays,
		Clock:                   s.samlClock,
		OnError: func(w http.ResponseWriter, r *http.Request, status int, err error) {
			s.samlError(w, r, sp, status, err)
		},
	}
	if sp.NoAutoReturn {
		idp.ResponseFormTemplate = continuePage
	}
	return idp, nil
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

// sessionProvider finds the browser's session, or starts a login.
type sessionProvider struct {
	s   *Server
	cfg *Config
	sp  ServiceProvider
}

// authenticatedKey marks, in a request's context, the session the login
// just opened: its AuthnRequest, sent again, is answered from it whatever
// ForceAuthn says.
type authenticatedKey struct{}

func (p *sessionProvider) GetSession(w http.ResponseWriter, r *http.Request, req *saml.IdpAuthnRequest) *saml.Session {
	s := p.s
	replayKey := "fosim AuthnRequest:" + p.sp.EntityID + " " + req.Request.ID
	if s.replays.seen(replayKey) {
		s.refuse(w, http.StatusBadRequest, "This SAML request was already answered: its ID is replayed.",
			"%s: AuthnRequest ID %q from %s replayed", p.sp.Name, req.Request.ID, p.sp.EntityID)
		return nil
	}
	// answer is the assertion's session from sess, once the request ID
	// is recorded; done says the browser has its answer either way.
	answer := func(sess session) (ss *saml.Session, done bool) {
		u, ok := p.cfg.user(sess.user)
		if !ok { // the user was deleted: the session goes, the user logs in
			s.removeSession(sess.handle)
			return nil, false
		}
		// Every AuthnRequest is answered once, signed or not (crewjam's
		// own cache records signed ones only).
		if err := s.replays.Consume(replayKey, req.Request.IssueInstant.Add(saml.MaxIssueDelay)); err != nil {
			s.refuse(w, http.StatusBadRequest, "This SAML request was already answered: its ID is replayed.",
				"%s: AuthnRequest ID %q from %s replayed", p.sp.Name, req.Request.ID, p.sp.EntityID)
			return nil, true
		}
		return p.samlSession(sess, u), true
	}
	if cookie, ok := r.Context().Value(authenticatedKey{}).(string); ok {
		if sess, ok := s.validSession(cookie, p.sp.Name); ok {
			if ss, done := answer(sess); done {
				return ss
			}
		}
	}
	forced := req.Request.ForceAuthn != nil && *req.Request.ForceAuthn && p.cfg.HonourForceAuthn
	if c, err := r.Cookie(sessionCookie); err == nil && !forced {
		if sess, ok := s.validSession(c.Value, p.sp.Name); ok {
			if ss, done := answer(sess); done {
				return ss
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
	s.startLogin(w, r, p.cfg, p.sp)
	return nil
}

// cookie is the value of the browser's session cookie.
func (sess *session) cookie() string { return sess.handle + "." + sess.secret }

// validSession is the session a cookie names when it has not expired on
// the IdP clock; it is then marked as used for sp.
func (s *Server) validSession(cookie, sp string) (session, bool) {
	handle, secret, _ := strings.Cut(cookie, ".")
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[handle]
	if !ok || subtle.ConstantTimeCompare([]byte(secret), []byte(sess.secret)) != 1 || !now.Before(sess.expires) {
		return session{}, false
	}
	if !slices.Contains(sess.sps, sp) {
		sess.sps = append(sess.sps, sp)
	}
	return *sess, true
}

func (s *Server) newSession(user, sp string, timeout time.Duration) session {
	now := s.clock.Now()
	sess := &session{handle: randomID()[:16], secret: randomID(), user: user, sps: []string{sp}, created: now, expires: now.Add(timeout)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[sess.handle] = sess
	q := s.expiries[timeout]
	if q == nil {
		q = &sessionQueue{}
		s.expiries[timeout] = q
	}
	q.push(sess)
	s.armExpiry(now)
	return *sess
}

// sessionQueue is a FIFO of sessions.
type sessionQueue struct {
	items []*session
	head  int
}

func (q *sessionQueue) push(sess *session) { q.items = append(q.items, sess) }

func (q *sessionQueue) first() *session {
	if q.head == len(q.items) {
		return nil
	}
	return q.items[q.head]
}

func (q *sessionQueue) pop() {
	q.items[q.head] = nil
	q.head++
	if q.head > 1024 && q.head*2 > len(q.items) { // reuse the front half
		q.items = append(q.items[:0], q.items[q.head:]...)
		q.head = 0
	}
}

// expiryGrain groups session expiries: one clock timer flushes every
// session due within the same second, so a lab clock advance past 100,000
// sessions fires a handful of timers rather than 100,000 (validSession
// checks the exact expiry either way).
const expiryGrain = time.Second

// armExpiry sets the one expiry timer for the first session due, when it
// is not set for it already; called with s.mu held.
func (s *Server) armExpiry(now time.Time) {
	var first time.Time
	for _, q := range s.expiries {
		if sess := q.first(); sess != nil && (first.IsZero() || sess.expires.Before(first)) {
			first = sess.expires
		}
	}
	if first.IsZero() {
		return
	}
	due := first.Truncate(expiryGrain).Add(expiryGrain)
	if s.expiryTimer != nil && !s.expiryAt.After(due) {
		return
	}
	if s.expiryTimer != nil {
		s.expiryTimer.Stop()
	}
	s.expiryAt = due
	s.expiryTimer = s.clock.AfterFunc(due.Sub(now), s.flushExpired)
}

// flushExpired removes the sessions that have expired from the list, as
// FortiAuthenticator does when their time is up, and arms the timer for
// the next ones. (Were the clock set back, a session could wait in its
// queue behind one that expires later: it leaves the list late, but
// validSession and Sessions check each expiry exactly.)
func (s *Server) flushExpired() {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for timeout, q := range s.expiries {
		for sess := q.first(); sess != nil && !sess.expires.After(now); sess = q.first() {
			q.pop()
			if s.sessions[sess.handle] == sess {
				delete(s.sessions, sess.handle)
			}
		}
		if q.first() == nil {
			delete(s.expiries, timeout)
		}
	}
	s.expiryTimer = nil
	s.armExpiry(now)
}

// removeSession ends a session before its time (logout, the session
// list's "end"); its entry in its expiry queue goes when it would have
// expired.
func (s *Server) removeSession(handle string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sessions[handle]
	delete(s.sessions, handle)
	return ok
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
			rows = append(rows, SessionInfo{ID: sess.handle, User: sess.user, SP: sp, Created: sess.created, Expires: sess.expires})
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
		value = p.opaque("transient", sess.handle)
	case FormatPersistent:
		value = p.opaque("persistent", value)
	}
	ss := &saml.Session{
		ID: sess.handle, CreateTime: sess.created, ExpireTime: sess.expires, Index: p.opaque("index", sess.handle),
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

// EndSession ends the session the session list shows as handle; it
// reports whether there was one.
func (s *Server) EndSession(handle string) bool { return s.removeSession(handle) }
