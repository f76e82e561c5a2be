package iked

import (
	"strings"
	"sync"
	"testing"

	"github.com/fosim/fosim/daemons/authd/authapi"
)

// issuedTokens stands in for authd's token table (cmd/fosim's SAML test
// runs the real authd with a real IdP): what iked does with a token.
type issuedTokens struct {
	mu     sync.Mutex
	tokens map[string]string // uid → token
	logins map[string]authapi.SAMLLogin
	denied []string
}

func (s *issuedTokens) Tokens(uid string) []authapi.Issued {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[uid]; ok {
		return []authapi.Issued{{Token: t, Login: s.logins[uid]}}
	}
	return nil
}

func (s *issuedTokens) Deny(uid, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied = append(s.denied, why)
}

func (s *issuedTokens) Redeem(uid, token string) (authapi.SAMLLogin, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens[uid] != token {
		return authapi.SAMLLogin{}, false
	}
	delete(s.tokens, uid)
	return s.logins[uid], true
}

const samlEAPConfig = `config user saml
    edit "IKE_SAML"
        set entity-id "http://fgt.example:20443/remote/saml/metadata/"
        set single-sign-on-url "https://fgt.example:20443/remote/saml/login"
        set idp-entity-id "http://idp.example/saml-idp/ipsec/metadata/"
    next
end
config user group
    edit "IKE SAML user group"
        set member "IKE_SAML"
    next
end
config vpn ipsec phase1-interface
    edit "dialup"
        set type dynamic
        set interface "port1"
        set ike-version 2
        set peertype any
        set mode-cfg enable
        set proposal aes256-sha256
        set dhgrp 19
        set eap enable
        set eap-identity send-request
        set ipv4-start-ip 10.212.134.200
        set ipv4-end-ip 10.212.134.254
        set psksecret "s3cret-psk"
    next
end
config vpn ipsec phase2-interface
    edit "DY"
        set phase1name "dialup"
        set proposal aes256-sha256
        set pfs disable
    next
end
config firewall policy
    edit 1
        set srcintf "dialup"
        set dstintf "port2"
        set action accept
        set srcaddr "all"
        set dstaddr "all"
        set schedule "always"
        set service "ALL"
        set groups "IKE SAML user group"
    next
end
`

// strongSwan dials as FortiClient does after a SAML login: EAP-MS-CHAPv2
// with identity = the FortiClient UID and secret = authd's token, the
// group in the policy (seed 000). The token works once; a login whose
// groups the phase1's policy does not take is refused.
func TestStrongSwanSAMLToken(t *testing.T) {
	requireCharon(t)
	const uid = "440F2683C7854FBFB73A528151E1FB25"
	tokens := &issuedTokens{tokens: map[string]string{uid: "0123456789abcdef0123456789abcdef"},
		logins: map[string]authapi.SAMLLogin{uid: {UID: uid, User: "alice", Server: "IKE_SAML", Groups: []string{"IKE SAML user group"}}}}
	l := newLabIn(t, samlEAPConfig, true, labNetns(t, false), Options{Addr: natIked, Port: 500, NATTPort: 4500, SAML: tokens})
	dial := func(secret string) string {
		return l.run(swan{ikeProposals: "aes256-sha256-ecp256", espProposals: "aes256-sha256", psk: "s3cret-psk", vips: true, localAddr: natClient,
			eap: "eap-mschapv2", eapID: uid, eapSecret: secret,
			steps: [][]string{{"--initiate", "--child", "c1", "--timeout", "10"}}})
	}
	out := dial("0123456789abcdef0123456789abcdef")
	gws := l.d.Gateways()
	if !strings.Contains(out, "with EAP successful") || len(gws) != 1 {
		t.Fatalf("not established:\n%s\niked:\n%s", out, l.log())
	}
	if g := gws[0]; g.EAPUser != "alice" || g.FortiClientUID != uid {
		t.Fatalf("gateway %+v", g)
	}
	l.d.Flush("dialup")
	// spent
	if out := dial("0123456789abcdef0123456789abcdef"); strings.Contains(out, "with EAP successful") {
		t.Fatalf("a spent token was accepted:\n%s", out)
	}
	if !strings.Contains(l.log(), `EAP failed for user "`+uid+`"`) {
		t.Fatalf("no EAP failure line:\n%s", l.log())
	}
	// a login in no group of the policy
	tokens.mu.Lock()
	tokens.tokens[uid] = "fedcba9876543210fedcba9876543210"
	tokens.logins[uid] = authapi.SAMLLogin{UID: uid, User: "bob", Server: "IKE_SAML"}
	tokens.mu.Unlock()
	if out := dial("fedcba9876543210fedcba9876543210"); strings.Contains(out, "with EAP successful") {
		t.Fatalf("a login outside the policy's groups was accepted:\n%s", out)
	}
	tokens.mu.Lock()
	denied := strings.Join(tokens.denied, "; ")
	tokens.mu.Unlock()
	if denied != `no SAML token (the token is used once, and expires); SAML user "bob" is in no group of phase1 dialup` {
		t.Fatalf("authd was told %q", denied)
	}
}
