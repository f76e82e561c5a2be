package https

import (
	"cmp"
	"crypto"
	"crypto/subtle"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons/samld"
)

// Admin SAML SSO with this unit as the service provider (config system
// saml, role service-provider): the login page's "Single Sign-On" sends
// the browser to the IdP with an AuthnRequest (HTTP-Redirect); the IdP
// posts its Response to FortiOS's ACS, /saml/?acs. samld's SP makes every
// check of the Response; the admin is then a session as a password login
// makes, with the access profile of its system sso-admin entry.

// FortiOS's SP endpoints for admin SSO, as its GUI lists them under
// server-address: the entity ID /metadata/, the ACS /saml/?acs and the
// single logout /saml/?sls.
const (
	ssoMetadataPath = "/metadata/"
	ssoACSPath      = "/saml/?acs"
	ssoLogoutPath   = "/saml/?sls"
	// ssoRequestCookie holds the ID of the AuthnRequest this browser
	// was sent with, so that a Response posted into another browser
	// (login CSRF) is refused.
	ssoRequestCookie = "fosim_saml_request"
)

// adminSP is config system saml as samld's Server (its IdP half may be
// missing: idpReady says); nil without error
// when SSO is off or this unit is the IdP. base is the scheme and host
// the browser reached, used when server-address is empty.
func (s *Server) adminSP(base string) (*samld.Server, error) {
	var (
		srv *samld.Server
		err error
	)
	st := s.App.Store
	st.ReadCommitted(func(v cmdb.View, _ uint64, sec *cmdb.Secrets) {
		r := cmdb.Reader{Schema: st.Schema(), View: v}
		if samlRole(r) != "service-provider" {
			return
		}
		val := func(a string) string { return r.Single("system saml", a) }
		if val("binding-protocol") == "post" {
			err = errors.New("not simulated yet: binding-protocol post (AuthnRequests go in the HTTP-Redirect binding)")
			return
		}
		if addr := val("server-address"); addr != "" {
			base = "https://" + addr
		}
		tol, _ := strconv.Atoi(val("tolerance"))
		srv = &samld.Server{
			Name:              "system saml",
			EntityID:          cmp.Or(val("entity-id"), "http://"+hostOf(base)+ssoMetadataPath),
			ACSURL:            cmp.Or(val("single-sign-on-url"), base+ssoACSPath),
			LogoutURL:         cmp.Or(val("single-logout-url"), base+ssoLogoutPath),
			IdPEntityID:       val("idp-entity-id"),
			IdPLoginURL:       val("idp-single-sign-on-url"),
			IdPLogoutURL:      val("idp-single-logout-url"),
			IdPCertName:       val("idp-cert"),
			UserAttr:          "username",
			RequireBothSigned: val("require-signed-resp-and-asrt") == "enable",
			ClockTolerance:    time.Duration(tol) * time.Minute,
		}
		if name := val("cert"); name != "" {
			if srv.SigningCert, srv.SigningKey, err = signingPair(st.Schema(), v, sec, "system saml cert", name); err != nil {
				return
			}
		}
		if srv.IdPCertName != "" {
			srv.IdPCert, err = remoteCertificate(st.Schema(), v, "idp-cert", srv.IdPCertName)
		}
	})
	if err != nil {
		return nil, err
	}
	return srv, nil
}

// samlRole is config system saml's role while its status is enable, ""
// while SSO is off (or the schema has no system saml).
func samlRole(r cmdb.Reader) string {
	if r.Single("system saml", "status") != "enable" {
		return ""
	}
	return r.Single("system saml", "role")
}

// signingPair is a vpn certificate local that signs SAML messages.
func signingPair(schema *cmdb.Schema, v cmdb.View, sec *cmdb.Secrets, setting, name string) (*x509.Certificate, crypto.Signer, error) {
	c, err := loadCertificate(schema, v, sec, setting, name)
	if err != nil {
		return nil, nil, err
	}
	key, ok := c.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s %q: the private key cannot sign", setting, name)
	}
	leaf := c.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, nil, fmt.Errorf("%s %q: %w", setting, name, err)
		}
	}
	return leaf, key, nil
}

// remoteCertificate is a vpn certificate remote (a peer's certificate).
func remoteCertificate(schema *cmdb.Schema, v cmdb.View, setting, name string) (*x509.Certificate, error) {
	t := schema.Table("vpn certificate remote")
	e := v.Entry("vpn certificate remote", name)
	if t == nil || e == nil {
		return nil, fmt.Errorf("%s %q: no such vpn certificate remote", setting, name)
	}
	b, _ := pem.Decode([]byte(strings.TrimSpace(strings.Join(e.Get(t.Attr("remote")), " "))))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s %q: no PEM certificate", setting, name)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", setting, name, err)
	}
	return c, nil
}

// idpReady says what system saml lacks to send admins to the IdP.
func idpReady(srv *samld.Server) error {
	if srv.IdPEntityID == "" || srv.IdPLoginURL == "" || srv.IdPCert == nil {
		return errors.New("system saml needs idp-entity-id, idp-single-sign-on-url and idp-cert")
	}
	return nil
}

// hostOf is the host (and port) of a scheme://host base: FortiOS's
// entity IDs are http:// URLs of server-address whatever the scheme
// served.
func hostOf(base string) string {
	_, host, _ := strings.Cut(base, "://")
	return host
}

// requestBase is the scheme and host a request came to.
func requestBase(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

// serveSAML is the SP side of admin SSO: GET /saml/login/ starts a login,
// POST /saml/?acs takes the IdP's Response, /metadata/ is the SP
// metadata.
func (s *Server) serveSAML(w http.ResponseWriter, r *http.Request) {
	srv, err := s.adminSP(requestBase(r))
	if err == nil && srv == nil {
		err = errors.New("SAML single sign-on is not enabled (config system saml: status enable, role service-provider)")
	}
	switch {
	case r.URL.Path == ssoLoginPath && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		if err == nil {
			err = idpReady(srv)
		}
		if err != nil {
			s.ssoFailed(w, http.StatusServiceUnavailable, err)
			return
		}
		red, err := s.sp.Login(srv, "")
		if err != nil {
			s.ssoFailed(w, http.StatusServiceUnavailable, err)
			return
		}
		// The Response must come back to the browser that asked: the
		// IdP posts it cross-site, hence SameSite=None.
		http.SetCookie(w, &http.Cookie{Name: ssoRequestCookie, Value: red.RequestID, Path: "/saml/", HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode})
		http.Redirect(w, r, red.URL, http.StatusSeeOther)
	case r.URL.Path == "/saml/" && r.URL.RawQuery == "acs" && r.Method == http.MethodPost:
		if err == nil {
			err = idpReady(srv)
		}
		if err != nil {
			s.ssoFailed(w, http.StatusServiceUnavailable, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if err := r.ParseForm(); err != nil {
			s.ssoFailed(w, http.StatusBadRequest, errors.New("bad SAML POST"))
			return
		}
		login, err := s.sp.Consume(srv, requestBase(r)+r.URL.RequestURI(), r.PostForm.Get("SAMLResponse"))
		if err != nil {
			s.ssoFailed(w, http.StatusForbidden, err)
			return
		}
		if c, cerr := r.Cookie(ssoRequestCookie); cerr != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(login.RequestID)) != 1 {
			s.ssoFailed(w, http.StatusForbidden, errors.New("the SAML Response answers a login this browser did not start"))
			return
		}
		http.SetCookie(w, &http.Cookie{Name: ssoRequestCookie, Path: "/saml/", MaxAge: -1, Secure: true, SameSite: http.SameSiteNoneMode})
		user := login.User
		if user == "" {
			user = login.NameID
		}
		if err := s.ssoAdmin(user, login.Attributes); err != nil {
			s.ssoFailed(w, http.StatusForbidden, err)
			return
		}
		sess := s.newSession(user, r)
		s.mu.Lock()
		sess.sso, sess.saml = true, login
		s.mu.Unlock()
		s.setSessionCookies(w, sess)
		http.Redirect(w, r, dashboardPath, http.StatusSeeOther)
	case r.URL.Path == "/saml/" && (r.URL.RawQuery == "sls" || strings.HasPrefix(r.URL.RawQuery, "sls&")) && r.Method == http.MethodGet:
		// FortiOS's single logout URL is /saml/?sls; the binding's
		// parameters follow it (/saml/?sls&SAMLResponse=…).
		if err == nil {
			err = idpReady(srv)
		}
		if err != nil {
			s.ssoFailed(w, http.StatusServiceUnavailable, err)
			return
		}
		q := r.URL.Query()
		q.Del("sls")
		next, err := s.sp.HandleLogout(srv, q)
		if err != nil {
			s.ssoFailed(w, http.StatusForbidden, fmt.Errorf("single logout: %w", err))
			return
		}
		if next == "" { // the IdP's answer to our LogoutRequest
			next = loginPath
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	case r.URL.Path == ssoMetadataPath && r.Method == http.MethodGet:
		if err != nil {
			s.ssoFailed(w, http.StatusServiceUnavailable, err)
			return
		}
		md, err := s.sp.Metadata(srv)
		if err != nil {
			s.ssoFailed(w, http.StatusServiceUnavailable, err)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		w.Write(md)
	default:
		s.ssoFailed(w, http.StatusNotFound, errors.New("not simulated yet: "+r.Method+" "+r.URL.RequestURI()+" (admin SSO serves /saml/login/, POST /saml/?acs, GET /saml/?sls and /metadata/)"))
	}
}

// ssoAdmin admits an IdP user: its system sso-admin entry, or, when
// default-profile is set, a new one as FortiOS adds at an SSO admin's
// first login (with the assertion's profilename when that profile
// exists, and its adoms as the VDOMs). Without either it is refused as
// FortiOS does. An entry with ext-auth-group-match admits only users the
// IdP puts in that group (the groupmatch attribute, seed 004).
func (s *Server) ssoAdmin(user string, attrs map[string][]string) error {
	st := s.App.Store
	if user == "" {
		return errors.New("the SAML assertion names no user")
	}
	if st.Lookup("system admin", user) != nil {
		// A local admin of that name logs in with its password.
		return fmt.Errorf("admin %q is a local administrator, not an SSO admin", user)
	}
	if e := st.Lookup("system sso-admin", user); e != nil {
		group := e.Value(st.Schema().Table("system sso-admin").Attr("ext-auth-group-match"))
		if group != "" && !slices.Contains(attrs["groupmatch"], group) {
			return fmt.Errorf("The admin %q does not match group %q of the IdP (groupmatch %q)", user, group, strings.Join(attrs["groupmatch"], ","))
		}
		return nil
	}
	profile := st.SingletonValue("system saml", "default-profile")
	if profile == "" {
		return fmt.Errorf("The admin %q doesn't exist (no system sso-admin entry, and system saml has no default-profile)", user)
	}
	if names := attrs["profilename"]; len(names) == 1 && st.Lookup("system accprofile", names[0]) != nil {
		profile = names[0]
	}
	// fosim has one VDOM: adoms naming others give no access to them.
	vdoms := []string{"root"}
	if adoms := attrs["adoms"]; len(adoms) > 0 {
		vdoms = nil
		for _, a := range adoms {
			if a == "root" {
				vdoms = append(vdoms, a)
			}
		}
		if len(vdoms) == 0 {
			return fmt.Errorf("The admin %q has no VDOM here: the IdP's adoms %q name none of this unit's (root)", user, strings.Join(adoms, ","))
		}
	}
	sess := st.NewSystemSession(user, "sso")
	defer sess.Discard()
	t, err := sess.OpenTable("system sso-admin")
	if err != nil {
		return err
	}
	e, err := t.Edit(user)
	if err != nil {
		return err
	}
	if err := e.Set("accprofile", cmdb.Words(profile)); err != nil {
		return err
	}
	if err := e.Set("vdom", cmdb.Words(vdoms...)); err != nil {
		return err
	}
	return e.Save()
}

// ssoLogout is where an SSO session's logout goes on: the IdP's
// idp-single-logout-url with a LogoutRequest, or "" when there is none to
// send (a password session, no single logout URL, or SSO since turned
// off: the session here has ended either way).
func (s *Server) ssoLogout(r *http.Request, login *samld.Login) string {
	if login == nil {
		return ""
	}
	srv, err := s.adminSP(requestBase(r))
	if err != nil || srv == nil || srv.IdPLogoutURL == "" {
		return ""
	}
	red, err := s.sp.Logout(srv, login, "")
	if err != nil {
		return ""
	}
	return red.URL
}

// endSSOSessions ends the SSO sessions an IdP's LogoutRequest names.
func (s *Server) endSSOSessions(lo samld.IdPLogout) {
	s.endSessions(func(sess *adminSession) bool {
		return sess.saml != nil && sess.saml.NameID == lo.NameID &&
			(len(lo.SessionIndexes) == 0 || slices.Contains(lo.SessionIndexes, sess.saml.SessionIndex))
	})
}

// endSessions ends the sessions that match.
func (s *Server) endSessions(match func(*adminSession) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sess := range s.sessions {
		if match(sess) {
			delete(s.sessions, id)
		}
	}
}

// ssoFailed shows why an SSO login failed on the login page.
func (s *Server) ssoFailed(w http.ResponseWriter, status int, err error) {
	s.renderLogin(w, status, loginPage{Error: "Single Sign-On failed: " + err.Error()}, s.samlSettings())
}
