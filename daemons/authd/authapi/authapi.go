// Package authapi is what other daemons and the CLI may ask authd: the
// one-use tokens a SAML login hands FortiClient, which iked checks when
// the client dials (EAP identity = its UID, password = the token).
package authapi

import "time"

// SAMLLogin is what a SAML login through authd stands for.
type SAMLLogin struct {
	UID    string // the FortiClient UID that asked (32 hex digits)
	User   string // the IdP's user-name attribute, else the UID (as FortiOS)
	Server string // the `config user saml` entry it went through
	// Groups are the FortiGate user groups the login is in: those with
	// Server as member whose `config match` (if any) names one of
	// IdPGroups.
	Groups    []string
	IdPGroups []string
	Issued    time.Time
	Expires   time.Time // the token's end, on the appliance clock
}

// Tokens are the tokens authd issued and no one used yet.
type Tokens interface {
	// Tokens are the tokens issued to the FortiClient with this UID that
	// are unused and unexpired, oldest first, with the logins they stand
	// for (another login with the same UID does not void a token).
	Tokens(uid string) []Issued
	// Redeem spends a token: it succeeds once, for a token Tokens
	// returned for that UID.
	Redeem(uid, token string) (SAMLLogin, bool)
	// Deny tells authd that a dial with uid's token was refused, and why
	// (authd logs the refusal as FortiOS's fnbam result).
	Deny(uid, why string)
}

// Issued is one token and the login it stands for.
type Issued struct {
	Token string
	Login SAMLLogin
}
