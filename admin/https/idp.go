package https

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons/samld"
)

// Admin SAML SSO with this unit as the identity provider (config system
// saml, role identity-provider): FortiOS's Security Fabric SSO. Each
// `service-providers` entry is a unit (or any SP) whose admins log in
// here: its AuthnRequests come to /saml-idp/<prefix>/login/, and an admin
// with a GUI session on this unit is answered at once (that is what
// spares the second login); one without is sent to the login page first.
// The assertion carries the `assertion-attributes` of the entry.

// idpPathPrefix is where FortiOS serves its IdP: /saml-idp/<prefix>/
// metadata/, login/ and logout/.
const idpPathPrefix = "/saml-idp/"

// idpURLs are this IdP's URLs for the service provider with prefix, under
// server-address, as FortiOS writes them into the SP's idp-entity-id,
// idp-single-sign-on-url and idp-single-logout-url.
func idpURLs(host, prefix string) (entityID, login, logout string) {
	path := idpPathPrefix + prefix + "/"
	return "http://" + host + path + "metadata/", "https://" + host + path + "login/", "https://" + host + path + "logout/"
}

// spEntry is one service-providers entry and its assertion attributes.
type spEntry struct {
	name, prefix, entityID, acs, logout string
	portal, certName                    string
	idpEntityID, idpLogin, idpLogout    string
	attrs                               []assertionAttr
}

type assertionAttr struct{ name, kind string }

// adminIdP is the service provider with that prefix as samld's
// IdPService; a nil service without error when this unit is no IdP.
func (s *Server) adminIdP(prefix, base string) (*samld.IdPService, []assertionAttr, error) {
	var (
		svc   *samld.IdPService
		attrs []assertionAttr
		err   error
	)
	st := s.App.Store
	st.ReadCommitted(func(v cmdb.View, _ uint64, sec *cmdb.Secrets) {
		r := cmdb.Reader{Schema: st.Schema(), View: v}
		if samlRole(r) != "identity-provider" {
			return
		}
		val := func(a string) string { return r.Single("system saml", a) }
		sp, ok := findServiceProvider(r, prefix)
		if !ok {
			err = fmt.Errorf("no service-providers entry of system saml has prefix %q", prefix)
			return
		}
		host := cmp.Or(val("server-address"), hostOf(base))
		life, _ := strconv.Atoi(val("life"))
		entity, login, logout := idpURLs(host, prefix)
		svc = &samld.IdPService{
			Name:     sp.name,
			EntityID: cmp.Or(sp.idpEntityID, entity), LoginURL: cmp.Or(sp.idpLogin, login), LogoutURL: cmp.Or(sp.idpLogout, logout),
			SPEntityID: sp.entityID, SPACSURL: sp.acs, SPLogoutURL: sp.logout,
			Life: time.Duration(life) * time.Minute,
		}
		attrs = sp.attrs
		if svc.SPEntityID == "" || svc.SPACSURL == "" {
			err = fmt.Errorf("service provider %q needs sp-entity-id and sp-single-sign-on-url", sp.name)
			return
		}
		name := val("cert")
		if name == "" {
			err = errors.New("system saml needs a cert to sign assertions")
			return
		}
		if svc.Cert, svc.Key, err = signingPair(st.Schema(), v, sec, "system saml cert", name); err != nil {
			return
		}
		if sp.certName != "" {
			svc.SPCert, err = remoteCertificate(st.Schema(), v, "sp-cert", sp.certName)
		}
	})
	return svc, attrs, err
}

// findServiceProvider is the service-providers entry with that prefix.
func findServiceProvider(r cmdb.Reader, prefix string) (spEntry, bool) {
	if prefix == "" {
		return spEntry{}, false
	}
	for _, sp := range serviceProviders(r) {
		if sp.prefix == prefix {
			return sp, true
		}
	}
	return spEntry{}, false
}

// serviceProviders are system saml's service-providers entries.
func serviceProviders(r cmdb.Reader) []spEntry {
	t := r.Schema.Table("system saml")
	saml := r.View.Entry("system saml", "")
	spAttr := t.Attr("service-providers")
	if saml == nil || spAttr == nil || spAttr.Child == nil || saml.Children[spAttr.Name] == nil {
		return nil
	}
	spt := spAttr.Child
	var out []spEntry
	for _, e := range saml.Children[spAttr.Name].Ordered() {
		get := func(a string) string { return strings.Join(e.Get(spt.Attr(a)), " ") }
		sp := spEntry{name: e.Key, prefix: get("prefix"), entityID: get("sp-entity-id"), acs: get("sp-single-sign-on-url"),
			logout: get("sp-single-logout-url"), portal: get("sp-portal-url"), certName: get("sp-cert"),
			idpEntityID: get("idp-entity-id"), idpLogin: get("idp-single-sign-on-url"), idpLogout: get("idp-single-logout-url")}
		if aa := spt.Attr("assertion-attributes"); aa != nil && aa.Child != nil && e.Children[aa.Name] != nil {
			for _, a := range e.Children[aa.Name].Ordered() {
				sp.attrs = append(sp.attrs, assertionAttr{name: a.Key, kind: a.Value(aa.Child.Attr("type"))})
			}
		}
		out = append(out, sp)
	}
	return out
}

// quickAccess are the service providers of this IdP, each with its
// sp-portal-url (else its /saml/login/ under sp-entity-id's host): where
// the dashboard's Quick Access sends an admin, who arrives logged in.
func (s *Server) quickAccess() []quickLink {
	st := s.App.Store
	var links []quickLink
	st.ReadCommitted(func(v cmdb.View, _ uint64, _ *cmdb.Secrets) {
		r := cmdb.Reader{Schema: st.Schema(), View: v}
		if samlRole(r) != "identity-provider" {
			return
		}
		for _, sp := range serviceProviders(r) {
			u := sp.portal
			if u == "" {
				if e, err := url.Parse(sp.entityID); err == nil && e.Host != "" {
					u = "https://" + e.Host + ssoLoginPath
				}
			}
			if pu, err := url.Parse(u); err == nil && (pu.Scheme == "https" || pu.Scheme == "http") {
				links = append(links, quickLink{Name: sp.name, URL: u})
			}
		}
	})
	return links
}

// serveIdP answers /saml-idp/<prefix>/metadata/, login/ and logout/.
func (s *Server) serveIdP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, idpPathPrefix)
	prefix, endpoint, _ := strings.Cut(rest, "/")
	svc, attrs, err := s.adminIdP(prefix, requestBase(r))
	if err == nil && svc == nil {
		err = errors.New("this unit is not a SAML identity provider (config system saml: status enable, role identity-provider)")
	}
	if err != nil {
		http.Error(w, "SAML IdP: "+err.Error(), http.StatusNotFound)
		return
	}
	switch endpoint {
	case "metadata/":
		md, err := s.idp.Metadata(svc)
		if err != nil {
			http.Error(w, "SAML IdP: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		w.Write(md)
	case "login/":
		s.idp.ServeSSO(svc, w, r, func(w http.ResponseWriter, r *http.Request, since time.Time) *samld.Assertee {
			return s.idpAssertee(w, r, since, attrs)
		})
	case "logout/":
		s.idp.ServeSLO(svc, w, r, s.endIdPSessions)
	default:
		http.Error(w, "not simulated yet: "+r.URL.Path+" (the IdP serves metadata/, login/ and logout/)", http.StatusNotFound)
	}
}

// idpAssertee is the admin the browser is logged in as here; without a
// session (or one older than a ForceAuthn request), the login page, which
// comes back to this request once the admin has logged in.
func (s *Server) idpAssertee(w http.ResponseWriter, r *http.Request, since time.Time, attrs []assertionAttr) *samld.Assertee {
	sess := s.cookieSession(r)
	if sess == nil || (!since.IsZero() && sess.started.Before(since)) {
		if r.Method != http.MethodGet {
			http.Error(w, "not simulated yet: an HTTP-POST AuthnRequest from a browser not logged in here (log in first, or send it in the HTTP-Redirect binding)", http.StatusForbidden)
			return nil
		}
		to := loginPath + "?redirect=" + url.QueryEscape(r.URL.RequestURI())
		if sess != nil {
			// ForceAuthn: the login page must ask again, not send a
			// browser with a session straight back here.
			to += "&force=1"
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return nil
	}
	who := &samld.Assertee{NameID: sess.user, SessionIndex: sessionIndex(sess)}
	st := s.App.Store
	for _, a := range attrs {
		var v string
		switch a.kind {
		case "username":
			v = sess.user
		case "profile-name":
			v = st.Profile(sess.user)
		case "email":
			if e := st.Lookup("system admin", sess.user); e != nil {
				v = e.Value(st.Schema().Table("system admin").Attr("email-to"))
			}
		}
		if v != "" {
			who.Attributes = append(who.Attributes, samld.Attribute{Name: a.name, Values: []string{v}})
		}
	}
	return who
}

// sessionIndex names a session in assertions without giving away its
// cookie.
func sessionIndex(sess *adminSession) string {
	sum := sha256.Sum256([]byte("fosim session index " + sess.id))
	return "_" + hex.EncodeToString(sum[:12])
}

// endIdPSessions is single logout from an SP. A signed LogoutRequest
// ends the sessions of nameID it names (all of them when it names none);
// an unsigned one only the session of the browser that brought it, when
// that is nameID's (and one it names, if it names any).
func (s *Server) endIdPSessions(r *http.Request, nameID string, indexes []string, signed bool) error {
	named := func(sess *adminSession) bool {
		return sess.user == nameID && (len(indexes) == 0 || slices.Contains(indexes, sessionIndex(sess)))
	}
	if signed {
		s.endSessions(named)
		return nil
	}
	own := s.cookieSession(r)
	if own == nil || !named(own) {
		return fmt.Errorf("this browser has no session of %q to end (the LogoutRequest is not signed)", nameID)
	}
	s.endSessions(func(sess *adminSession) bool { return sess == own })
	return nil
}
