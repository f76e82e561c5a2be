package authd

import (
	"net/url"

	"github.com/fosim/fosim/daemons/samld"
)

// SAMLD is samld as authd asks it: the appliance's authd hands SAML to
// samld, as FortiOS's authd does.
func SAMLD(d *samld.Daemon) SAML { return samldSP{d} }

type samldSP struct{ d *samld.Daemon }

func (s samldSP) Login(server, relayState string) (string, string, error) {
	r, err := s.d.Login(server, relayState)
	return r.RequestID, r.URL, err
}

func (s samldSP) Consume(server, acsURL, samlResponse string) (*Assertion, error) {
	l, err := s.d.Consume(server, acsURL, samlResponse)
	if err != nil {
		return nil, err
	}
	return &Assertion{User: l.User, Groups: l.Groups, RequestID: l.RequestID}, nil
}

func (s samldSP) Metadata(server string) ([]byte, error) { return s.d.Metadata(server) }

func (s samldSP) Logout(server string, query url.Values) (string, error) {
	return s.d.HandleLogout(server, query)
}
