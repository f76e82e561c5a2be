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
	// Token returns the token issued to the FortiClient with this UID
	// while it is unused and unexpired, and the login it stands for.
	Token(uid string) (token string, login SAMLLogin, ok bool)
	// Redeem spends the token: it succeeds once, for the token Token
	// returned.
	Redeem(uid, token string) (SAMLLogin, bool)
	// Deny tells authd that a dial with uid's token was refused, and why
	// (authd logs the refusal as FortiOS's fnbam result).
	Deny(uid, why string)
}
