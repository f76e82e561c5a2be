package idp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/crewjam/saml"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// A login in progress keeps the AuthnRequest as it came (binding, query
// string or form, signature and all) on the IdP side; the login form
// carries only its id. Once the user is authenticated the request is
// served again, so its signature and ACS URL are checked on the way out
// exactly as on the way in.
type pendingLogin struct {
	id       string
	csrf     string // the browser's login cookie the form must come with
	sp       string // the SP's name
	method   string // GET: HTTP-Redirect binding; POST: HTTP-POST (or SimpleSign)
	rawQuery string
	form     url.Values
	user     string // set once the password is right and a token code is due
	expires  time.Time
}

const (
	// loginCookie holds the browser's CSRF token for login forms.
	loginCookie = "fosim_idp_login"
	// loginWait is how long a login form stays good (lab clock). The SP's
	// AuthnRequest itself expires sooner: crewjam accepts one for
	// saml.MaxIssueDelay (90 s) after its IssueInstant.
	loginWait = 3 * time.Minute
	// maxLogins bounds the logins in progress.
	maxLogins = 10000
)

// startLogin records the AuthnRequest r carries and shows the login form.
func (s *Server) startLogin(w http.ResponseWriter, r *http.Request, cfg *Config, sp ServiceProvider) {
	now := s.clock.Now()
	csrf := randomID()
	if c, err := r.Cookie(loginCookie); err == nil && len(c.Value) == len(csrf) {
		csrf = c.Value // one token per browser, so two tabs can log in at once
	}
	pl := &pendingLogin{id: randomID(), csrf: csrf, sp: sp.Name, method: r.Method, expires: now.Add(loginWait)}
	if r.Method == http.MethodGet {
		pl.rawQuery = r.URL.RawQuery
	} else {
		pl.form = r.PostForm
	}
	s.mu.Lock()
	// expired logins hold memory only up to the bound: sweep them there,
	// not on every login (continueLogin checks a login's own expiry)
	if len(s.logins) >= maxLogins {
		for id, old := range s.logins {
			if now.After(old.expires) {
				delete(s.logins, id)
			}
		}
	}
	full := len(s.logins) >= maxLogins
	if !full {
		s.logins[pl.id] = pl
	}
	s.mu.Unlock()
	if full {
		s.refuse(w, http.StatusServiceUnavailable, "Too many logins in progress; try again in a few minutes.",
			"login for %s: %d logins in progress, refused another", sp.Name, maxLogins)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: csrf, Path: "/saml-idp/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	s.loginForm(w, r, cfg, sp, pl, http.StatusOK, "")
}

// continueLogin checks what the login form posted.
func (s *Server) continueLogin(w http.ResponseWriter, r *http.Request) {
	spc := r.Context().Value(spKey{}).(spContext)
	cfg, sp := spc.cfg, spc.sp
	now := s.clock.Now()
	// A copy: the login in the map may change under a second post of the
	// same form.
	var pl *pendingLogin
	s.mu.Lock()
	if in := s.logins[r.PostForm.Get("login")]; in != nil {
		copied := *in
		pl = &copied
	}
	s.mu.Unlock()
	if pl == nil || now.After(pl.expires) || pl.sp != sp.Name {
		s.refuse(w, http.StatusBadRequest, "This login has expired or is unknown: go back to the service provider and log in again.",
			"login for %s: unknown or expired login form", sp.Name)
		return
	}
	if c, err := r.Cookie(loginCookie); err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(pl.csrf)) != 1 {
		s.refuse(w, http.StatusForbidden, "The login form came without its cookie: go back to the service provider and log in again.",
			"login for %s: login form posted without its CSRF cookie (from another site?)", sp.Name)
		return
	}
	fail := func(name, message, logf string, args ...any) {
		s.logger.Printf("login for %s: "+logf, append([]any{sp.Name}, args...)...)
		if _, known := cfg.user(name); known && s.failed(name) {
			s.logger.Printf("login for %s: %q locked out after %d failed logins", sp.Name, name, lockoutAttempts)
			message = lockedMessage
			s.endLogin(pl.id)
			s.refuse(w, http.StatusUnauthorized, message, "login for %s: login of %q ended", sp.Name, name)
			return
		}
		s.loginForm(w, r, cfg, sp, pl, http.StatusUnauthorized, message)
	}
	if pl.user != "" { // the token code after the password
		u, ok := cfg.user(pl.user)
		if !ok || u.TOTPSecret == "" {
			s.endLogin(pl.id)
			s.refuse(w, http.StatusBadRequest, "This login has expired: go back to the service provider and log in again.",
				"login for %s: user %q changed during the login", sp.Name, pl.user)
			return
		}
		if !s.checkCode(u, r.PostForm.Get("token")) {
			fail(u.Name, "Invalid token code.", "wrong or already used token code for %q", u.Name)
			return
		}
		s.succeeded(u.Name)
		s.finishLogin(w, r, cfg, sp, pl, u)
		return
	}

	name, realm, err := cfg.resolveUsername(strings.TrimSpace(r.PostForm.Get("username")))
	if err != nil {
		s.logger.Printf("login for %s: username %q: %v", sp.Name, r.PostForm.Get("username"), err)
		s.loginForm(w, r, cfg, sp, pl, http.StatusUnauthorized, capitalize(err.Error())+".")
		return
	}
	if s.locked(name) {
		s.logger.Printf("login for %s: %q is locked out", sp.Name, name)
		s.loginForm(w, r, cfg, sp, pl, http.StatusUnauthorized, lockedMessage)
		return
	}
	method := sp.Method()
	var u User
	if method == AuthTokenOnly {
		known, ok := cfg.user(name)
		if !ok || known.TOTPSecret == "" || !s.checkCode(known, r.PostForm.Get("token")) {
			fail(name, "Invalid username or token code.", "FortiToken-only: unknown user, no FortiToken or wrong code for %q", name)
			return
		}
		u = known
	} else {
		var ok bool
		if u, ok = cfg.checkPassword(name, r.PostForm.Get("password")); !ok {
			fail(name, "Invalid username or password.", "wrong user name or password for %q", name)
			return
		}
	}
	s.succeeded(name)
	if !cfg.realmAdmits(realm, u) {
		s.endLogin(pl.id)
		s.refuse(w, http.StatusForbidden, fmt.Sprintf("User %s may not log in to realm %s.", name, realm),
			"login for %s: %q is in none of the groups of realm %q", sp.Name, name, realm)
		return
	}
	needToken := false
	switch method {
	case AuthEnforce2FA:
		if u.TOTPSecret == "" {
			s.endLogin(pl.id)
			s.refuse(w, http.StatusForbidden, "This service requires two-factor authentication, and you have no FortiToken.",
				"login for %s: two-factor authentication enforced and %q has no FortiToken", sp.Name, name)
			return
		}
		needToken = true
	case Auth2FAIfAvailable:
		needToken = u.TOTPSecret != ""
	}
	if needToken && sp.TrustedSubnetBypass && cfg.trustedSource(r.RemoteAddr) {
		s.logger.Printf("login for %s: %q from trusted subnet (%s): FortiToken bypassed", sp.Name, name, r.RemoteAddr)
		needToken = false
	}
	if needToken {
		pl.user, pl.expires = u.Name, now.Add(loginWait)
		s.mu.Lock()
		if in := s.logins[pl.id]; in != nil {
			in.user, in.expires = pl.user, pl.expires
		}
		s.mu.Unlock()
		s.loginForm(w, r, cfg, sp, pl, http.StatusOK, "")
		return
	}
	s.finishLogin(w, r, cfg, sp, pl, u)
}

func (s *Server) endLogin(id string) {
	s.mu.Lock()
	delete(s.logins, id)
	s.mu.Unlock()
}

// finishLogin opens the session and answers the recorded AuthnRequest
// from it.
func (s *Server) finishLogin(w http.ResponseWriter, r *http.Request, cfg *Config, sp ServiceProvider, pl *pendingLogin, u User) {
	s.endLogin(pl.id)
	sess := s.newSession(u.Name, sp.Name, time.Duration(cfg.SessionTimeoutMinutes)*time.Minute)
	// SameSite=None lets the cookie come with an SP's cross-site POST of
	// an AuthnRequest; browsers take it only on a secure connection.
	sameSite := http.SameSiteLaxMode
	if r.TLS != nil {
		sameSite = http.SameSiteNoneMode
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sess.cookie(), Path: "/saml-idp/", HttpOnly: true, SameSite: sameSite, Secure: r.TLS != nil})
	again := r.Clone(context.WithValue(r.Context(), authenticatedKey{}, sess.cookie()))
	again.Method = pl.method
	again.Form, again.PostForm = nil, nil
	if pl.method == http.MethodGet {
		again.URL.RawQuery = pl.rawQuery
		again.Body, again.ContentLength = http.NoBody, 0
		again.Header.Del("Content-Type")
	} else {
		body := pl.form.Encode()
		again.URL.RawQuery = ""
		again.Body, again.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
		again.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	idp, err := s.identityProvider(cfg, sp, again)
	if err != nil {
		s.logger.Printf("%s: %v", sp.Name, err)
		http.Error(w, "the IdP certificate cannot be read", http.StatusInternalServerError)
		return
	}
	idp.ServeSSO(w, again)
}

// checkCode checks a token code. The codes follow the token's own clock,
// the host's real time, not the lab clock; one step of drift either way
// is accepted, and each code only once.
func (s *Server) checkCode(u User, code string) bool {
	step := matchedStep(u.TOTPSecret, code, time.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	if step == 0 || step <= s.lastTOTP[u.Name] {
		return false
	}
	s.lastTOTP[u.Name] = step
	return true
}

// totpOptions are FortiToken Mobile's: SHA-1, 6 digits, 30 seconds.
var totpOptions = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// matchedStep is the time step whose code code is, within one step of
// drift either way, plus one (0: none matches).
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

// resolveUsername splits what a user typed into user name and realm by
// the username input format; without a realm part it is the default
// realm (the first).
func (c *Config) resolveUsername(input string) (name, realm string, err error) {
	var found bool
	switch c.UsernameFormat {
	case FormatBackslashRealm:
		realm, name, found = strings.Cut(input, `\`)
	case FormatSlashRealm:
		realm, name, found = strings.Cut(input, "/")
	default:
		if i := strings.LastIndex(input, "@"); i >= 0 {
			name, realm, found = input[:i], input[i+1:], true
		}
	}
	if !found {
		name = input
	}
	if name == "" {
		return "", "", errors.New("no username")
	}
	realms := c.realms()
	if !found {
		return name, realms[0].Name, nil
	}
	i := slices.IndexFunc(realms, func(r Realm) bool { return strings.EqualFold(r.Name, realm) })
	if i < 0 {
		return "", "", fmt.Errorf("unknown realm %q (username format %s)", realm, c.usernameFormat())
	}
	return name, realms[i].Name, nil
}

func (c *Config) usernameFormat() string {
	if c.UsernameFormat == "" {
		return FormatAtRealm
	}
	return c.UsernameFormat
}

func (c *Config) realms() []Realm {
	if len(c.Realms) == 0 {
		return []Realm{{Name: LocalRealm}}
	}
	return c.Realms
}

// realmAdmits applies the realm's group filter.
func (c *Config) realmAdmits(realm string, u User) bool {
	i := slices.IndexFunc(c.realms(), func(r Realm) bool { return r.Name == realm })
	if i < 0 {
		return false
	}
	groups := c.realms()[i].Groups
	return len(groups) == 0 || slices.ContainsFunc(u.Groups, func(g string) bool { return slices.Contains(groups, g) })
}

// trustedSource says whether a client address is in a trusted subnet.
func (c *Config) trustedSource(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	for _, n := range c.TrustedSubnets {
		if p, err := netip.ParsePrefix(n); err == nil && p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// loginForm shows the first step of a login, or its token step.
func (s *Server) loginForm(w http.ResponseWriter, r *http.Request, cfg *Config, sp ServiceProvider, pl *pendingLogin, status int, message string) {
	addr := cfg.ServerAddress
	if addr == "" {
		addr = r.Host
	}
	step := "password"
	switch {
	case pl.user != "":
		step = "token"
	case sp.Method() == AuthTokenOnly:
		step = "username-token"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	loginPage.Execute(w, map[string]any{
		"SP": sp.Name, "Error": message, "Action": IdPURLs(addr, sp.Prefix).Login, "Login": pl.id,
		"Step": step, "User": pl.user, "Format": cfg.usernameFormat(),
	})
}

// refuse logs why a request is refused and tells the browser in words.
func (s *Server) refuse(w http.ResponseWriter, status int, message, logf string, args ...any) {
	s.logger.Printf(logf, args...)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	errorPage.Execute(w, map[string]any{"Status": status, "Text": http.StatusText(status), "Message": message})
}

// samlError is crewjam's OnError: a SAML request the IdP refuses, with
// the reason in words.
func (s *Server) samlError(w http.ResponseWriter, r *http.Request, sp ServiceProvider, status int, err error) {
	message := "The SAML request was refused."
	switch {
	case errors.Is(err, saml.ErrInvalidSignature) && sp.RequireSignedRequests:
		message = "The SAML request must be signed by the service provider: it is unsigned, or its signature does not verify with the SP certificate."
	case errors.Is(err, saml.ErrInvalidSignature):
		message = "The signature of the SAML request does not verify with the SP certificate."
	case errors.Is(err, saml.ErrUnknownServiceProvider):
		message = "The SAML request comes from an unknown service provider (its issuer is not this SP's entity id)."
	case errors.Is(err, saml.ErrUnknownAssertionConsumerService):
		message = "The SAML request asks for an ACS URL that is not one of this service provider's."
	case errors.Is(err, saml.ErrAssertionReplayed):
		message = "This SAML request was already answered: its ID is replayed."
	case errors.Is(err, saml.ErrExpired):
		message = "The SAML request has expired: go back to the service provider and try again."
	case errors.Is(err, saml.ErrDestinationMismatch):
		message = "The SAML request was meant for another IdP URL."
	case errors.Is(err, saml.ErrMalformedMessage):
		message = "The SAML request is malformed (or too large once inflated)."
	}
	s.refuse(w, status, message, "%s %s for %s: %v", r.Method, r.URL.Path, sp.Name, err)
}

// style is the pages' look: plain, one column, readable.
const style = `body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f3f4f6;color:#1f2937}
header{background:#1f2937;color:#fff;padding:.7em 1.5em;font-weight:600}
main{max-width:26em;margin:3em auto;background:#fff;padding:1.5em 2em;border:1px solid #d1d5db;border-radius:6px}
h1{font-size:1.3em;margin-top:0}label{display:block;margin:.8em 0 .2em;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.45em;border:1px solid #9ca3af;border-radius:4px;font-size:1em}
.hint{color:#6b7280;font-size:.85em;margin:.2em 0 0}
button,input[type=submit]{margin-top:1.2em;padding:.5em 1.4em;background:#2563eb;color:#fff;border:0;border-radius:4px;font-size:1em;cursor:pointer}
.error{background:#fee2e2;color:#991b1b;padding:.6em .8em;border-radius:4px}.ok{background:#dcfce7;color:#166534;padding:.6em .8em;border-radius:4px}`

var loginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Login – {{.SP}}</title><style>` + style + `</style></head><body>
<header>FortiAuthenticator (fosim)</header>
<main>
<h1>{{if eq .Step "token"}}Token code{{else}}Login{{end}}</h1>
<p>Service provider: <b>{{.SP}}</b></p>
{{if .Error}}<p class="error" id="error">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="login" value="{{.Login}}">
{{if eq .Step "token"}}<p>User <b>{{.User}}</b>: enter the code your FortiToken shows.</p>
<label for="token">Token code</label><input type="text" id="token" name="token" inputmode="numeric" autocomplete="one-time-code" autofocus>
<input type="submit" value="Verify">
{{else}}<label for="username">Username</label><input type="text" id="username" name="username" autocomplete="username" autofocus>
<p class="hint">A realm, if any: {{.Format}}</p>
{{if eq .Step "username-token"}}<label for="token">Token code</label><input type="text" id="token" name="token" inputmode="numeric" autocomplete="one-time-code">
{{else}}<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password">
{{end}}<input type="submit" value="Login">
{{end}}</form>
</main></body></html>
`))

var errorPage = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Status}} {{.Text}}</title><style>` + style + `</style></head><body>
<header>FortiAuthenticator (fosim)</header>
<main><h1>{{.Text}}</h1><p class="error" id="error">{{.Message}}</p></main>
</body></html>
`))

// continuePage is the ACS form of an SP with "Do not return to service
// provider automatically": no script posts it; the user does.
var continuePage = template.Must(template.New("continue").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Authenticated</title><style>` + style + `</style></head><body>
<header>FortiAuthenticator (fosim)</header>
<main><h1>Authenticated</h1><p class="ok">You are logged in.</p>
<form method="post" action="{{.URL}}">
<input type="hidden" name="SAMLResponse" value="{{.SAMLResponse}}">
<input type="hidden" name="RelayState" value="{{.RelayState}}">
<p>Continue to <code>{{.URL}}</code></p>
<input type="submit" id="continue" value="Continue to the service provider">
</form></main>
</body></html>
`))
