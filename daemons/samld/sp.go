package samld

import (
	"errors"
	"net/url"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/daemons/debuglog"
)

// SP is a SAML service provider configured outside `config user saml`:
// admin SSO to the GUI (`config system saml`), whose front end builds the
// Server itself. It sends the same AuthnRequests and makes the same
// Response checks as the daemon, with its own outstanding requests and
// replay cache, on clk.
type SP struct{ d *Daemon }

// errNoServer is what an SP returns when given no Server.
var errNoServer = errors.New("no SAML service provider configured")

// NewSP returns an SP whose debug lines go to log.
func NewSP(clk *clock.Clock, log *debuglog.Logger) *SP {
	d := New()
	d.clk, d.log = clk, log
	return &SP{d: d}
}

// Login is Daemon.Login for s: the IdP's single sign-on URL carrying a
// new AuthnRequest in the HTTP-Redirect binding.
func (sp *SP) Login(s *Server, relayState string) (Redirect, error) {
	if s == nil {
		return Redirect{}, errNoServer
	}
	return sp.d.login(s, relayState)
}

// Consume is Daemon.Consume for s: every check of a posted Response
// (signature by s.IdPCert, audience, destination, InResponseTo one of
// this SP's requests, times on the clock, replay).
func (sp *SP) Consume(s *Server, acsURL, samlResponse string) (*Login, error) {
	if s == nil {
		return nil, errNoServer
	}
	return sp.d.consumeLogged(s, acsURL, samlResponse)
}

// Metadata is s's SP metadata, as Daemon.Metadata writes it.
func (sp *SP) Metadata(s *Server) ([]byte, error) {
	if s == nil {
		return nil, errNoServer
	}
	return metadata(s)
}

// Logout is Daemon.Logout for s: the LogoutRequest for a login, in the
// HTTP-Redirect binding to s.IdPLogoutURL.
func (sp *SP) Logout(s *Server, l *Login, relayState string) (Redirect, error) {
	if s == nil {
		return Redirect{}, errNoServer
	}
	if l == nil {
		return Redirect{}, errors.New("no SAML login to log out")
	}
	return sp.d.logout(s, l, relayState)
}

// OnLogout sets what the SP calls for each accepted LogoutRequest of the
// IdP, before it answers it.
func (sp *SP) OnLogout(f func(IdPLogout)) { sp.d.OnLogout(f) }

// HandleLogout is Daemon.HandleLogout for s: the IdP's LogoutResponse to
// a Logout, or its own LogoutRequest (answered by the redirect returned).
func (sp *SP) HandleLogout(s *Server, query url.Values) (redirect string, err error) {
	if s == nil {
		return "", errNoServer
	}
	return sp.d.handleLogoutLogged(s, query)
}
