package idp

import (
	"cmp"
	"crypto/subtle"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The administration pages live under /admin/ on the IdP's own listener,
// as FortiAuthenticator's GUI does, behind an administrator login. There
// is no default administrator: until "fosim idp admin set NAME" makes
// one, every login is refused. Each form carries its session's CSRF
// token; the login form a cookie-bound one.

const (
	adminCookie      = "fosim_idp_admin"
	adminLoginCookie = "fosim_idp_admin_login"
	// adminIdle ends an administrator session left alone this long (lab
	// clock).
	adminIdle = 30 * time.Minute
)

// adminState is the administration pages' sessions.
type adminState struct {
	mu       sync.Mutex
	sessions map[string]*adminSession
	// editMu serialises the pages' edits of the store.
	editMu sync.Mutex
}

type adminSession struct {
	name    string
	csrf    string
	expires time.Time
	flash   flash
}

// flash is the outcome of the last form, shown once on the next page.
type flash struct {
	OK, Error string
}

func (a *adminState) init() { a.sessions = map[string]*adminSession{} }

// adminRoutes adds the administration pages.
func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/login", s.adminLoginPage)
	mux.HandleFunc("POST /admin/login", s.adminLogin)
	mux.HandleFunc("GET /admin/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/general", http.StatusSeeOther)
	})
	page := func(pattern string, h func(http.ResponseWriter, *http.Request, *adminSession)) {
		mux.HandleFunc(pattern, s.requireAdmin(h))
	}
	page("POST /admin/logout", s.adminLogout)
	page("GET /admin/general", s.generalPage)
	page("POST /admin/general", s.saveGeneral)
	page("POST /admin/realms", s.saveRealm)
	page("POST /admin/realms/delete", s.deleteRealm)
	page("POST /admin/subnets", s.saveSubnet)
	page("POST /admin/certificates", s.newCertificate)
	page("GET /admin/certificates/{name}", s.downloadCertificate)
	page("GET /admin/sps", s.spsPage)
	page("GET /admin/sps/edit", s.spPage)
	page("POST /admin/sps/save", s.saveSP)
	page("POST /admin/sps/delete", s.deleteSP)
	page("GET /admin/users", s.usersPage)
	page("POST /admin/users/save", s.saveUser)
	page("POST /admin/users/delete", s.deleteUser)
	page("POST /admin/users/token", s.newToken)
	page("POST /admin/groups", s.saveGroup)
	page("GET /admin/sessions", s.sessionsPage)
	page("POST /admin/sessions/end", s.endSession)
}

func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
}

// requireAdmin lets an administrator's session through, with a valid
// CSRF token on every POST; others go to the login page.
func (s *Server) requireAdmin(h func(http.ResponseWriter, *http.Request, *adminSession)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		now := s.clock.Now()
		var as *adminSession
		if c, err := r.Cookie(adminCookie); err == nil {
			s.admin.mu.Lock()
			as = s.admin.sessions[c.Value]
			if as != nil && !now.Before(as.expires) {
				delete(s.admin.sessions, c.Value)
				as = nil
			}
			if as != nil {
				as.expires = now.Add(adminIdle)
			}
			s.admin.mu.Unlock()
		}
		if as == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/admin/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.refuse(w, http.StatusUnauthorized, "Log in as an administrator first.", "admin: %s %s without an administrator session", r.Method, r.URL.Path)
			return
		}
		if r.Method == http.MethodPost {
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(as.csrf)) != 1 {
				s.refuse(w, http.StatusForbidden, "The form came without its CSRF token: reload the page and try again.",
					"admin: %s %s by %q without the CSRF token", r.Method, r.URL.Path, as.name)
				return
			}
		}
		h(w, r, as)
	}
}

func (s *Server) adminLoginPage(w http.ResponseWriter, r *http.Request) {
	s.renderAdminLogin(w, r, http.StatusOK, "")
}

func (s *Server) renderAdminLogin(w http.ResponseWriter, r *http.Request, status int, message string) {
	cfg, err := s.config()
	if err != nil {
		http.Error(w, "the IdP configuration cannot be read", http.StatusInternalServerError)
		return
	}
	token := randomID()
	http.SetCookie(w, &http.Cookie{Name: adminLoginCookie, Value: token, Path: "/admin/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	securityHeaders(w)
	w.WriteHeader(status)
	adminLoginTmpl.Execute(w, map[string]any{"Error": message, "CSRF": token, "Next": adminNext(r.FormValue("next")),
		"NoAdmin": len(cfg.Admins) == 0})
}

func (s *Server) adminLogin(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(adminLoginCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		s.logger.Printf("admin: login form posted without its CSRF cookie")
		s.renderAdminLogin(w, r, http.StatusForbidden, "The login form came without its cookie: try again.")
		return
	}
	cfg, err := s.config()
	if err != nil {
		http.Error(w, "the IdP configuration cannot be read", http.StatusInternalServerError)
		return
	}
	name := r.PostFormValue("username")
	lockKey := "admin:" + name
	if s.locked(lockKey) {
		s.logger.Printf("admin: login of %q: locked out", name)
		s.renderAdminLogin(w, r, http.StatusUnauthorized, lockedMessage)
		return
	}
	if !cfg.checkAdmin(name, r.PostFormValue("password")) {
		s.logger.Printf("admin: wrong administrator name or password for %q from %s", name, r.RemoteAddr)
		message := "Invalid administrator name or password."
		if len(cfg.Admins) == 0 {
			message = "No administrator account is set."
		} else if s.failed(lockKey) {
			message = lockedMessage
		}
		s.renderAdminLogin(w, r, http.StatusUnauthorized, message)
		return
	}
	s.succeeded(lockKey)
	id := randomID()
	s.admin.mu.Lock()
	now := s.clock.Now()
	for k, old := range s.admin.sessions {
		if !now.Before(old.expires) {
			delete(s.admin.sessions, k)
		}
	}
	s.admin.sessions[id] = &adminSession{name: name, csrf: randomID(), expires: now.Add(adminIdle)}
	s.admin.mu.Unlock()
	s.logger.Printf("admin: %q logged in from %s", name, r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{Name: adminCookie, Value: id, Path: "/admin/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, adminNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// adminNext is where a login goes on to: the page asked for when it is
// one of the administration pages, else their first page.
func adminNext(next string) string {
	if !strings.HasPrefix(next, "/admin/") || strings.HasPrefix(next, "/admin//") {
		return "/admin/"
	}
	return next
}

func (s *Server) adminLogout(w http.ResponseWriter, r *http.Request, as *adminSession) {
	s.admin.mu.Lock()
	for k, v := range s.admin.sessions {
		if v == as {
			delete(s.admin.sessions, k)
		}
	}
	s.admin.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: adminCookie, Value: "", Path: "/admin/", MaxAge: -1})
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

// edit changes the store with fn and reports done on the next page; the
// running IdP reads the change at its next request.
func (s *Server) edit(w http.ResponseWriter, r *http.Request, as *adminSession, next, done string, fn func(*Config) error) {
	s.editReporting(w, r, as, next, func(c *Config) (string, error) { return done, fn(c) })
}

// editReporting is edit with the report made by fn.
func (s *Server) editReporting(w http.ResponseWriter, r *http.Request, as *adminSession, next string, fn func(*Config) (string, error)) {
	s.admin.editMu.Lock()
	var done string
	cfg, err := Open(s.dir)
	if err == nil {
		done, err = fn(cfg)
	}
	if err == nil {
		err = cfg.Save(s.dir)
	}
	s.admin.editMu.Unlock()
	s.admin.mu.Lock()
	if err != nil {
		as.flash = flash{Error: capitalize(err.Error()) + "."}
		s.logger.Printf("admin: %q: %s refused: %v", as.name, r.URL.Path, err)
	} else {
		as.flash = flash{OK: done}
		s.logger.Printf("admin: %q: %s", as.name, strings.SplitN(done, ":", 2)[0])
	}
	s.admin.mu.Unlock()
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// render shows an administration page with the layout.
func (s *Server) render(w http.ResponseWriter, as *adminSession, tmpl *template.Template, title string, data map[string]any) {
	s.admin.mu.Lock()
	f := as.flash
	as.flash = flash{}
	s.admin.mu.Unlock()
	data["Title"], data["CSRF"], data["Admin"], data["Flash"] = title, as.csrf, as.name, f
	securityHeaders(w)
	if err := tmpl.Execute(w, data); err != nil {
		s.logger.Printf("admin: page %s: %v", title, err)
	}
}

func (s *Server) generalPage(w http.ResponseWriter, r *http.Request, as *adminSession) {
	cfg, err := s.config()
	if err != nil {
		http.Error(w, "the IdP configuration cannot be read", http.StatusInternalServerError)
		return
	}
	certs, err := Certificates(s.dir)
	if err != nil {
		http.Error(w, "the IdP certificates cannot be listed", http.StatusInternalServerError)
		return
	}
	s.render(w, as, generalTmpl, "General", map[string]any{"Config": cfg, "Formats": UsernameFormats,
		"Format": cfg.usernameFormat(), "Certificates": certs, "DefaultCert": cmp.Or(cfg.DefaultCertificate, DefaultCertificateName),
		"Min": MinSessionTimeout, "Max": MaxSessionTimeout})
}

func (s *Server) saveGeneral(w http.ResponseWriter, r *http.Request, as *adminSession) {
	s.edit(w, r, as, "/admin/general", "General settings saved", func(c *Config) error {
		n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("timeout")))
		if err != nil || n < MinSessionTimeout || n > MaxSessionTimeout {
			return fmt.Errorf("login session timeout %q: minutes, %d to %d", r.PostFormValue("timeout"), MinSessionTimeout, MaxSessionTimeout)
		}
		c.SessionTimeoutMinutes = n
		c.ServerAddress = strings.TrimSpace(r.PostFormValue("server_address"))
		c.UsernameFormat = r.PostFormValue("username_format")
		c.HonourForceAuthn = r.PostFormValue("force_authn") == "honour"
		c.DefaultCertificate = r.PostFormValue("default_certificate")
		if c.DefaultCertificate == DefaultCertificateName {
			c.DefaultCertificate = ""
		}
		return nil
	})
}

func (s *Server) saveRealm(w http.ResponseWriter, r *http.Request, as *adminSession) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	s.edit(w, r, as, "/admin/general", "Realm "+name+" saved", func(c *Config) error {
		return c.SetRealm(Realm{Name: name, Groups: r.PostForm["groups"]})
	})
}

func (s *Server) deleteRealm(w http.ResponseWriter, r *http.Request, as *adminSession) {
	name := r.PostFormValue("name")
	s.edit(w, r, as, "/admin/general", "Realm "+name+" deleted", func(c *Config) error { return c.DeleteRealm(name) })
}

func (s *Server) saveSubnet(w http.ResponseWriter, r *http.Request, as *adminSession) {
	prefix, add := strings.TrimSpace(r.PostFormValue("prefix")), r.PostFormValue("action") != "delete"
	s.edit(w, r, as, "/admin/general", "Trusted subnets saved", func(c *Config) error { return c.SetTrustedSubnet(prefix, add) })
}

func (s *Server) newCertificate(w http.ResponseWriter, r *http.Request, as *adminSession) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	s.edit(w, r, as, "/admin/general", "Certificate "+name+" generated", func(*Config) error {
		return AddCertificate(s.dir, name, nil, nil)
	})
}

func (s *Server) downloadCertificate(w http.ResponseWriter, r *http.Request, as *adminSession) {
	name := strings.TrimSuffix(r.PathValue("name"), ".pem")
	if name != DefaultCertificateName && !validCertificateName(name) || !certificateExists(s.dir, name) {
		http.Error(w, "no such certificate", http.StatusNotFound)
		return
	}
	kp, err := s.keyPair(name)
	if err != nil {
		http.Error(w, "the certificate cannot be read", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name+".pem"))
	w.Write(kp.certPEM)
}

// spRow is an SP as the list shows it.
type spRow struct {
	ServiceProvider
	URLs URLs
}

func (s *Server) spsPage(w http.ResponseWriter, r *http.Request, as *adminSession) {
	cfg, err := s.config()
	if err != nil {
		http.Error(w, "the IdP configuration cannot be read", http.StatusInternalServerError)
		return
	}
	var rows []spRow
	for _, sp := range cfg.ServiceProviders {
		rows = append(rows, spRow{sp, IdPURLs(s.serverAddress(cfg, r), sp.Prefix)})
	}
	s.render(w, as, spsTmpl, "Service providers", map[string]any{"SPs": rows})
}

func (s *Server) serverAddress(cfg *Config, r *http.Request) string {
	if cfg.ServerAddress != "" {
		return cfg.ServerAddress
	}
	return r.Host
}

// attributeRows is how many attribute rows the SP form has.
const attributeRows = 6

func (s *Server) spPage(w http.ResponseWriter, r *http.Request, as *adminSession) {
	cfg, err := s.config()
	if err != nil {
		http.Error(w, "the IdP configuration cannot be read", http.StatusInternalServerError)
		return
	}
	sp := ServiceProvider{NameIDField: FieldUsername, NameIDFormat: FormatUnspecified, AuthMethod: Auth2FAIfAvailable}
	editing := false
	if name := r.FormValue("name"); name != "" {
		i := slices.IndexFunc(cfg.ServiceProviders, func(x ServiceProvider) bool { return x.Name == name })
		if i < 0 {
			http.Error(w, "no such service provider", http.StatusNotFound)
			return
		}
		sp, editing = cfg.ServiceProviders[i], true
	}
	alt := append(slices.Clone(sp.AlternativeACSURLs), make([]string, MaxAlternativeACSURLs)...)[:MaxAlternativeACSURLs]
	attrs := append(slices.Clone(sp.Attributes), make([]Attribute, attributeRows)...)[:max(attributeRows, len(sp.Attributes))]
	certs, _ := Certificates(s.dir)
	s.render(w, as, spTmpl, "Service provider", map[string]any{"SP": sp, "Editing": editing, "Alt": alt, "Attrs": attrs,
		"Fields": userFields, "Methods": authMethodLabels, "Certificates": certs,
		"URLs": IdPURLs(s.serverAddress(cfg, r), cmp.Or(sp.Prefix, "<prefix>")), "Method": sp.Method()})
}

// authMethodLabels are the authentication methods in the GUI's words.
var authMethodLabels = []struct{ Value, Label string }{
	{AuthEnforce2FA, "Enforce two-factor authentication"},
	{Auth2FAIfAvailable, "Apply two-factor authentication if available (authenticate any user)"},
	{AuthPasswordOnly, "Password-only authentication (exclude users without a password)"},
	{AuthTokenOnly, "FortiToken-only authentication (exclude users without a FortiToken)"},
}

func (s *Server) saveSP(w http.ResponseWriter, r *http.Request, as *adminSession) {
	f := r.PostForm
	sp := ServiceProvider{
		Name: strings.TrimSpace(f.Get("name")), Prefix: strings.TrimSpace(f.Get("prefix")),
		EntityID: strings.TrimSpace(f.Get("entity_id")), ACSURL: strings.TrimSpace(f.Get("acs_url")),
		SLSURL: strings.TrimSpace(f.Get("sls_url")), NameIDField: f.Get("nameid_field"), NameIDFormat: f.Get("nameid_format"),
		CertificatePEM: strings.TrimSpace(f.Get("sp_certificate")), RequireSignedRequests: f.Get("require_signed") == "on",
		AuthMethod: f.Get("auth_method"), TrustedSubnetBypass: f.Get("bypass") == "on", IdPCertificate: f.Get("idp_certificate"),
		NoAutoReturn: f.Get("no_auto_return") == "on", Disabled: f.Get("disabled") == "on",
	}
	if sp.IdPCertificate == DefaultCertificateName {
		sp.IdPCertificate = ""
	}
	if sp.CertificatePEM != "" {
		sp.CertificatePEM += "\n"
	}
	if f.Get("generate_prefix") == "on" {
		sp.Prefix = GeneratePrefix()
	}
	for _, u := range f["alt_acs"] {
		if u = strings.TrimSpace(u); u != "" {
			sp.AlternativeACSURLs = append(sp.AlternativeACSURLs, u)
		}
	}
	names, fields := f["attr_name"], f["attr_field"]
	for i := range min(len(names), len(fields)) {
		if n := strings.TrimSpace(names[i]); n != "" {
			sp.Attributes = append(sp.Attributes, Attribute{Name: n, Field: fields[i]})
		}
	}
	s.edit(w, r, as, "/admin/sps", "Service provider "+sp.Name+" saved", func(c *Config) error {
		if md := strings.TrimSpace(f.Get("sp_metadata")); md != "" {
			m, err := ServiceProviderFromMetadata([]byte(md))
			if err != nil {
				return err
			}
			sp.EntityID, sp.ACSURL, sp.AlternativeACSURLs, sp.SLSURL = m.EntityID, m.ACSURL, m.AlternativeACSURLs, m.SLSURL
			sp.CertificatePEM, sp.RequireSignedRequests = m.CertificatePEM, m.RequireSignedRequests
		}
		return c.SetServiceProvider(sp)
	})
}

func (s *Server) deleteSP(w http.ResponseWriter, r *http.Request, as *adminSession) {
	name := r.PostFormValue("name")
	s.edit(w, r, as, "/admin/sps", "Service provider "+name+" deleted", func(c *Config) error { return c.DeleteServiceProvider(name) })
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, as *adminSession) {
	cfg, err := s.config()
	if err != nil {
		http.Error(w, "the IdP configuration cannot be read", http.StatusInternalServerError)
		return
	}
	s.render(w, as, usersTmpl, "Users", map[string]any{"Users": cfg.Users, "Groups": cfg.Groups})
}

func (s *Server) saveUser(w http.ResponseWriter, r *http.Request, as *adminSession) {
	f := r.PostForm
	u := User{Name: strings.TrimSpace(f.Get("name")), Email: strings.TrimSpace(f.Get("email")),
		FirstName: strings.TrimSpace(f.Get("first_name")), LastName: strings.TrimSpace(f.Get("last_name")), Groups: f["groups"]}
	s.edit(w, r, as, "/admin/users", "User "+u.Name+" saved", func(c *Config) error {
		if old, ok := c.user(u.Name); ok {
			u.TOTPSecret = old.TOTPSecret // a token is given by its own button
			if f.Get("password") == "" {  // an empty field keeps the password
				u.PasswordHash = old.PasswordHash
				return c.putUser(u)
			}
		}
		return c.SetUser(u, f.Get("password"))
	})
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, as *adminSession) {
	name := r.PostFormValue("name")
	s.edit(w, r, as, "/admin/users", "User "+name+" deleted", func(c *Config) error { return c.DeleteUser(name) })
}

func (s *Server) newToken(w http.ResponseWriter, r *http.Request, as *adminSession) {
	name := r.PostFormValue("name")
	s.editReporting(w, r, as, "/admin/users", func(c *Config) (string, error) {
		otpURL, err := c.SetToken(name)
		return "New FortiToken for " + name + " (shown once; for an authenticator app or oathtool): " + otpURL, err
	})
}

func (s *Server) saveGroup(w http.ResponseWriter, r *http.Request, as *adminSession) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	s.edit(w, r, as, "/admin/users", "Group "+name+" added", func(c *Config) error {
		if name == "" || strings.ContainsAny(name, " \t,") {
			return fmt.Errorf("bad group name %q", name)
		}
		if slices.Contains(c.Groups, name) {
			return fmt.Errorf("group %q exists", name)
		}
		c.Groups = append(c.Groups, name)
		return nil
	})
}

func (s *Server) sessionsPage(w http.ResponseWriter, r *http.Request, as *adminSession) {
	s.render(w, as, sessionsTmpl, "SAML IdP sessions", map[string]any{"Sessions": s.Sessions(), "Now": s.clock.Now()})
}

func (s *Server) endSession(w http.ResponseWriter, r *http.Request, as *adminSession) {
	id := r.PostFormValue("id")
	f := flash{Error: "No such session (it may have expired)."}
	if s.EndSession(id) {
		f = flash{OK: "Session ended."}
		s.logger.Printf("admin: %q ended session %s", as.name, id)
	}
	s.admin.mu.Lock()
	as.flash = f
	s.admin.mu.Unlock()
	http.Redirect(w, r, "/admin/sessions", http.StatusSeeOther)
}
