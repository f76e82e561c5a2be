package https

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/internal/fixed"
)

// The web GUI: a login page, a dashboard and logout, rendered on the
// server (html/template) so that it works without the FortiOS GUI's
// JavaScript. Its session is the same cookie session /logincheck makes,
// so the REST API answers a GUI login as it answers Ansible's.

// loginCSRFCookie carries the login form's token: the form's hidden field
// must match it (double submit), so a page elsewhere cannot post a login
// into this browser.
const loginCSRFCookie = "fosim_login_csrf"

// guiPaths are the GUI's own pages.
const (
	loginPath     = "/login"
	dashboardPath = "/ng/dashboard"
	// ssoLoginPath is where the "Single Sign-On" button leads: FortiOS's
	// SP-initiated login.
	ssoLoginPath = "/saml/login/"
)

// serveRoot sends a browser to the dashboard when it has a session, else
// to the login page; other paths are not simulated.
func (s *Server) serveRoot(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		s.serveOther(w, r)
		return
	}
	if s.cookieSession(r) != nil {
		http.Redirect(w, r, dashboardPath, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, loginPath, http.StatusSeeOther)
}

// loginPage is what the login template shows.
type loginPage struct {
	Hostname string
	CSRF     string
	Error    string
	Username string
	SSO      bool // the "Single Sign-On" button
	SSOURL   string
	// Redirect is where a login goes on: the dashboard, or the IdP
	// request of another unit that sent the admin here.
	Redirect string
}

// afterLogin is where a login goes on: only this unit's own IdP
// endpoint (a SAML login another unit started) or the dashboard, never
// another site.
func afterLogin(redirect string) string {
	if strings.HasPrefix(redirect, idpPathPrefix) && !strings.ContainsAny(redirect, "\\\r\n") {
		if u, err := url.Parse(redirect); err == nil && u.Scheme == "" && u.Host == "" {
			return redirect
		}
	}
	return dashboardPath
}

// serveLoginPage is GET /login (the form) and POST /login (its answer:
// the dashboard, or the form again with FortiOS's "Authentication
// failure.").
func (s *Server) serveLoginPage(w http.ResponseWriter, r *http.Request) {
	saml := s.samlSettings()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		// A browser with a session goes on, unless an IdP request asked
		// for a new login (ForceAuthn).
		if s.cookieSession(r) != nil && r.URL.Query().Get("force") != "1" {
			http.Redirect(w, r, afterLogin(r.URL.Query().Get("redirect")), http.StatusSeeOther)
			return
		}
		// default-login-page sso: straight to the IdP; "?normal" keeps
		// the password form reachable, as FortiOS's /login?normal does.
		if saml.enabled && saml.ssoDefault && !r.URL.Query().Has("normal") {
			http.Redirect(w, r, ssoLoginPath, http.StatusSeeOther)
			return
		}
		s.renderLogin(w, http.StatusOK, loginPage{Redirect: afterLogin(r.URL.Query().Get("redirect"))}, saml)
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad login form", http.StatusBadRequest)
			return
		}
		c, err := r.Cookie(loginCSRFCookie)
		form := r.PostForm.Get("csrf")
		if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) != 1 {
			s.renderLogin(w, http.StatusForbidden, loginPage{Error: "The login form expired. Please try again."}, saml)
			return
		}
		user := r.PostForm.Get("username")
		next := afterLogin(r.PostForm.Get("redirect"))
		sess, locked := s.passwordLogin(r, user, r.PostForm.Get("secretkey"))
		switch {
		case locked:
			s.renderLogin(w, http.StatusOK, loginPage{Username: user, Redirect: next, Error: "Too many bad login attempts. Please try again later."}, saml)
		case sess == nil:
			s.renderLogin(w, http.StatusOK, loginPage{Username: user, Redirect: next, Error: "Authentication failure."}, saml)
		default:
			s.setSessionCookies(w, sess)
			http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Path: loginPath, MaxAge: -1})
			http.Redirect(w, r, next, http.StatusSeeOther)
		}
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (s *Server) renderLogin(w http.ResponseWriter, status int, p loginPage, saml samlSettings) {
	p.Hostname = cli.Hostname(s.App.Store)
	p.CSRF = randomHex(16)
	p.SSO = saml.enabled
	p.SSOURL = ssoLoginPath
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: p.CSRF, Path: loginPath, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	render(w, status, loginTemplate, p)
}

// samlSettings is what the login page needs of config system saml.
type samlSettings struct {
	enabled    bool // status enable, role service-provider
	ssoDefault bool // default-login-page sso
}

func (s *Server) samlSettings() samlSettings {
	var ss samlSettings
	st := s.App.Store
	st.ReadCommitted(func(v cmdb.View, _ uint64, _ *cmdb.Secrets) {
		r := cmdb.Reader{Schema: st.Schema(), View: v}
		ss.enabled = samlRole(r) == "service-provider"
		ss.ssoDefault = r.Single("system saml", "default-login-page") == "sso"
	})
	return ss
}

// dashboardPage is what the dashboard template shows.
type dashboardPage struct {
	Hostname, User, Profile, CSRF string
	Status                        []statusRow
	Tunnels                       []tunnelRow
	// TunnelsNote replaces the table when the IPsec monitor cannot be
	// shown (no iked, or the profile has no VPN read access).
	TunnelsNote string
	// QuickAccess are the units this one is the SAML IdP of (seed 004's
	// Quick Access menu; this unit is marked with an asterisk).
	QuickAccess []quickLink
}

type quickLink struct{ Name, URL string }

type statusRow struct{ Name, Value string }

type tunnelRow struct {
	Name, Type, Peer, User, TunnelIP, Phase2, Incoming, Status string
}

// serveDashboard is the dashboard: system status and the IPsec monitor,
// from the snapshots monitor/system/status and monitor/vpn/ipsec answer.
func (s *Server) serveDashboard(w http.ResponseWriter, r *http.Request) {
	sess := s.cookieSession(r)
	if sess == nil {
		http.Redirect(w, r, loginPath, http.StatusSeeOther)
		return
	}
	s.setSessionCookies(w, sess)
	st := s.App.Store
	now := s.App.Clock.Now()
	p := dashboardPage{
		Hostname: cli.Hostname(st),
		User:     sess.user,
		CSRF:     sess.csrf,
		Status: []statusRow{
			{"Hostname", cli.Hostname(st)},
			{"Serial number", st.Serial()},
			{"Firmware", fixed.Platform + " " + cmdb.VersionShort},
			{"Operation mode", cli.OperationMode(st)},
			{"System time", now.Format("2006/01/02 15:04:05")},
			{"Uptime", uptime(now.Sub(s.App.Started))},
		},
	}
	// The profile the CMDB enforces: a system admin's, an SSO admin's.
	p.Profile = st.Profile(sess.user)
	p.Tunnels, p.TunnelsNote = s.tunnelRows(sess.user)
	p.QuickAccess = s.quickAccess()
	render(w, http.StatusOK, dashboardTemplate, p)
}

// uptime is written as FortiOS's dashboard writes it.
func uptime(d time.Duration) string {
	d = d.Truncate(time.Second)
	days := int(d / (24 * time.Hour))
	d -= time.Duration(days) * 24 * time.Hour
	return strings.TrimSpace(pluralize(days, "day") + " " + clockHMS(d))
}

func pluralize(n int, word string) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func clockHMS(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d:%02d", int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60)
}

// tunnelRows is the IPsec monitor: the tunnels iked holds, when the
// admin's profile may read VPN configuration (as monitor/vpn/ipsec asks).
func (s *Server) tunnelRows(user string) ([]tunnelRow, string) {
	if _, err := s.readAccess(user, "gui", "vpn ipsec phase1-interface"); err != nil {
		return nil, "Your access profile does not give read access to VPN."
	}
	if s.VPN == nil {
		return nil, "not simulated yet: IPsec in this process (iked runs under fosim serve)."
	}
	var rows []tunnelRow
	for _, g := range s.VPN.Gateways() {
		var in uint64
		for _, c := range g.Children {
			in += c.RxBytes
		}
		row := tunnelRow{
			Name: g.Name, Type: "Static", Peer: g.Peer.Addr().String(), User: g.EAPUser,
			Phase2: strconv.Itoa(len(g.Children)), Incoming: bytesText(in), Status: "Up",
		}
		if g.Parent != "" {
			row.Type = "Dial-up (" + g.Parent + ")"
		}
		if g.Connecting {
			row.Status = "Connecting"
		}
		if g.AssignedIP.IsValid() {
			row.TunnelIP = g.AssignedIP.String()
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, "No IPsec tunnels are up."
	}
	return rows, ""
}

// bytesText writes a byte count as the GUI does: B, kB, MB, GB.
func bytesText(n uint64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	v, i := float64(n), 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return strconv.Itoa(int(n)) + " B"
	}
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + " " + units[i]
}

// serveGUILogout is the dashboard's logout form: it must carry the
// session's ccsrftoken, then ends it and shows the login page.
func (s *Server) serveGUILogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad logout form", http.StatusBadRequest)
		return
	}
	sess := s.cookieSession(r)
	if sess != nil && subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(sess.csrf)) != 1 {
		http.Error(w, "CSRF token missing or wrong", http.StatusForbidden)
		return
	}
	s.clearSessionCookies(w)
	if sess != nil {
		s.mu.Lock()
		delete(s.sessions, sess.id)
		login := sess.saml
		s.mu.Unlock()
		if next := s.ssoLogout(r, login); next != "" {
			render(w, http.StatusOK, ssoLogoutTemplate, struct{ Hostname, URL string }{cli.Hostname(s.App.Store), next})
			return
		}
	}
	http.Redirect(w, r, loginPath, http.StatusSeeOther)
}
