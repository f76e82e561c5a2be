package main

import (
	"net/url"

	"github.com/fosim/fosim/daemons/authd"
	"github.com/fosim/fosim/daemons/samld"
)

// samlForAuthd is samld as authd asks it (wiring only: authd and samld
// do not import each other's internals).
type samlForAuthd struct{ d *samld.Daemon }

func (s samlForAuthd) Login(server, relayState string) (string, string, error) {
	r, err := s.d.Login(server, relayState)
	return r.RequestID, r.URL, err
}

func (s samlForAuthd) Consume(server, acsURL, samlResponse string) (*authd.Assertion, error) {
	l, err := s.d.Consume(server, acsURL, samlResponse)
	if err != nil {
		return nil, err
	}
	return &authd.Assertion{User: l.User, Groups: l.Groups}, nil
}

func (s samlForAuthd) Metadata(server string) ([]byte, error) { return s.d.Metadata(server) }

func (s samlForAuthd) Logout(server string, query url.Values) (string, error) {
	return s.d.HandleLogout(server, query)
}
