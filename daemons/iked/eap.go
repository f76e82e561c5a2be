package iked

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/fosim/fosim/daemons/authd/authapi"
	"github.com/fosim/fosim/daemons/iked/eap"
	"github.com/fosim/fosim/daemons/iked/ike"
	"github.com/fosim/fosim/daemons/iked/suite"
	"github.com/fosim/fosim/internal/forticlient"
)

// eapState is an EAP conversation in progress on an IKE SA.
type eapState struct {
	id        byte
	identity  string
	method    byte
	challenge []byte
	msk       []byte // nil for methods without keys (MD5)
	done      bool   // EAP Success sent: the AUTH payload comes next
	// what the first IKE_AUTH asked for, answered once EAP succeeds
	first []ike.Payload
	idr   *ike.ID // the ID we sent, which the final AUTH covers
	// saml is the SAML login whose token the peer proved (identity =
	// FortiClient UID, password = token), nil for a local user
	saml *authapi.SAMLLogin
}

// iked is the EAP authenticator of a PSK + EAP phase1 (FortiClient): the
// packets and methods are in package eap.

func eapPayload(p eap.Packet) ike.Payload {
	return ike.Payload{Type: ike.PayloadEAP, Body: &ike.EAP{Data: p.Encode()}}
}

// eapChallenge starts an EAP method for the identity known so far.
func (d *Daemon) eapChallenge(sa *ikeSA, method byte) ike.Payload {
	e := sa.eap
	e.id++
	e.method = method
	e.challenge = randBytes(16)
	if method == eap.MD5 {
		return eapPayload(eap.Packet{Code: eap.Request, ID: e.id, Type: eap.MD5, Data: append([]byte{16}, e.challenge...)})
	}
	name := []byte(Hostname)
	data := []byte{1, e.id, 0, 0, 16}
	data = append(append(data, e.challenge...), name...)
	binary.BigEndian.PutUint16(data[2:4], uint16(len(data)))
	return eapPayload(eap.Packet{Code: eap.Request, ID: e.id, Type: eap.MSCHAPv2, Data: data})
}

// Hostname names the authenticator in MS-CHAPv2 challenges.
var Hostname = "FortiGate"

// continueEAP runs the EAP conversation, then the final AUTH exchange.
func (d *Daemon) continueEAP(sa *ikeSA, in []ike.Payload) []ike.Payload {
	e := sa.eap
	pre := prefix(sa.gw.Name, sa.serial)
	if e.done {
		auth := ike.Get[*ike.Auth](in, ike.PayloadAUTH)
		if auth == nil {
			return d.failAuth(sa, "no AUTH after EAP", ike.NotifyAuthenticationFailed)
		}
		ki, kr := e.msk, e.msk
		if ki == nil { // a method without keys: SK_pi / SK_pr (RFC 7296 §2.16)
			ki, kr = sa.keys.SKpi, sa.keys.SKpr
		}
		if !bytes.Equal(sa.keys.PSKAuth(ki, sa.initReq, sa.nr, suite.IDBody(sa.peerID), true), auth.Data) {
			return d.failAuth(sa, "EAP AUTH verify failed", ike.NotifyAuthenticationFailed)
		}
		d.log.Printf(1, "%s responder received AUTH msg", pre)
		d.log.Printf(1, "%s peer identifier %s", pre, sa.peerID)
		d.log.Printf(1, "%s auth verify done", pre)
		d.log.Printf(1, "%s responder AUTH continuation", pre)
		d.log.Printf(1, "%s authentication succeeded", pre)
		sa.eapUser = e.identity
		if e.saml != nil {
			sa.eapUser, sa.fctUID = e.saml.User, e.saml.UID
			d.log.Printf(1, "%s SAML user %q (FortiClient UID %s) of group %s", pre, e.saml.User, e.saml.UID, strings.Join(e.saml.Groups, ","))
		}
		d.readFortiClientNotifies(sa, in, pre)
		if fail := d.checkPosture(sa); fail != nil {
			return fail
		}
		ours := []ike.Payload{{Type: ike.PayloadAUTH, Body: &ike.Auth{Method: ike.AuthPSK, Data: sa.keys.PSKAuth(kr, sa.initResp, sa.ni, suite.IDBody(e.idr), false)}}}
		first := e.first
		sa.eap = nil
		return d.establish(sa, first, ours)
	}
	ep := ike.Get[*ike.EAP](in, ike.PayloadEAP)
	if ep == nil {
		return d.failAuth(sa, "no EAP payload", ike.NotifyAuthenticationFailed)
	}
	p, err := eap.Parse(ep.Data)
	if err != nil || p.Code != eap.Response || p.ID != e.id {
		return d.failAuth(sa, "bad EAP response", ike.NotifyAuthenticationFailed)
	}
	failure := func(why string) []ike.Payload {
		d.stats.Failed++
		d.log.Printf(1, "%s EAP authentication failed for %q: %s", pre, e.identity, why)
		// the line public FortiClient SAML troubleshooting shows
		d.log.Printf(1, "%s EAP failed for user %q", pre, e.identity)
		sa.state = stateDeleted
		sa.stopTimers()
		return []ike.Payload{eapPayload(eap.Packet{Code: eap.Failure, ID: e.id})}
	}
	switch p.Type {
	case eap.Identity:
		if e.method != 0 {
			// the identity is fixed once a method has started: a new one
			// after MS-CHAPv2's success would keep the first user's keys
			// under another name
			return failure("EAP identity changed during the method")
		}
		e.identity = string(p.Data)
		d.log.Printf(1, "%s received EAP identity %q", pre, e.identity)
		return []ike.Payload{d.eapChallenge(sa, eap.MSCHAPv2)}
	case eap.Nak:
		for _, m := range p.Data {
			if m == eap.MD5 || m == eap.MSCHAPv2 {
				return []ike.Payload{d.eapChallenge(sa, m)}
			}
		}
		return failure("no common EAP method")
	case eap.MD5:
		pw, ok := d.userPassword(sa.gw, e.identity)
		if !ok || len(p.Data) < 17 || !equal(p.Data[1:17], eap.MD5Response(e.id, pw, e.challenge)) {
			return failure("wrong password or unknown user")
		}
	case eap.MSCHAPv2:
		if len(p.Data) == 1 && p.Data[0] == 3 && e.msk != nil { // the peer acknowledged our success
			break
		}
		if len(p.Data) < 54 || p.Data[0] != 2 || p.Data[4] != 49 {
			return failure("bad MS-CHAPv2 response")
		}
		peerCh, nt, name := p.Data[5:21], p.Data[29:53], string(p.Data[54:])
		secrets := d.eapSecrets(sa.gw, e.identity)
		if len(secrets) == 0 {
			if why := d.samlRefusal(sa.gw, e.identity); why != "" {
				d.opt.SAML.Deny(e.identity, why)
				return failure(why)
			}
			return failure("unknown user")
		}
		ch := eap.ChallengeHash(peerCh, e.challenge, name)
		var hash []byte
		var proved *eapSecret
		for i, sec := range secrets {
			if h := eap.NTPasswordHash(sec.secret); equal(nt, eap.NTResponse(ch, h)) {
				hash, proved = h, &secrets[i]
				break
			}
		}
		if proved == nil {
			if secrets[0].saml {
				d.opt.SAML.Deny(e.identity, "wrong token")
				return failure("wrong SAML token")
			}
			return failure("wrong password")
		}
		if proved.saml {
			login, ok := d.opt.SAML.Redeem(e.identity, string(proved.secret))
			if !ok { // spent by another dial meanwhile
				d.opt.SAML.Deny(e.identity, "token already used")
				return failure("SAML token already used")
			}
			e.saml = &login
		}
		e.msk = eap.MSCHAPv2MSK(hash, nt)
		msg := []byte(eap.AuthenticatorResponse(hash, nt, ch) + " M=Welcome")
		data := append([]byte{3, p.Data[1], 0, 0}, msg...)
		binary.BigEndian.PutUint16(data[2:4], uint16(len(data)))
		e.id++
		return []ike.Payload{eapPayload(eap.Packet{Code: eap.Request, ID: e.id, Type: eap.MSCHAPv2, Data: data})}
	default:
		return failure("unexpected EAP type")
	}
	e.done = true
	d.log.Printf(1, "%s EAP authentication of %q succeeded", pre, e.identity)
	return []ike.Payload{eapPayload(eap.Packet{Code: eap.Success, ID: e.id})}
}

// eapSecret is an MS-CHAPv2 secret an EAP identity may prove.
type eapSecret struct {
	secret []byte
	saml   bool // a token of authd's, not a password
}

// eapSecrets are the MS-CHAPv2 secrets of an EAP identity on a phase1: a
// local user's password, or the unused tokens authd issued to a
// FortiClient UID after SAML logins through a server the phase1's groups
// take (a UID may have several: another login with it must not void
// one's token).
func (d *Daemon) eapSecrets(gw *Phase1, identity string) []eapSecret {
	if pw, ok := d.userPassword(gw, identity); ok {
		return []eapSecret{{secret: pw}}
	}
	if d.opt.SAML == nil {
		return nil
	}
	groups := d.cfg.PolicyGroups[gw.Name]
	if gw.AuthGroup != "" {
		groups = []string{gw.AuthGroup}
	}
	var out []eapSecret
	for _, t := range d.opt.SAML.Tokens(identity) {
		for _, g := range groups {
			if slices.Contains(t.Login.Groups, g) {
				out = append(out, eapSecret{secret: []byte(t.Token), saml: true})
				break
			}
		}
	}
	return out
}

// samlRefusal says why a FortiClient UID has no SAML secret on gw: no
// token, or a login in no group the phase1 takes; "" when the identity is
// not a FortiClient UID or no SAML server is configured.
func (d *Daemon) samlRefusal(gw *Phase1, identity string) string {
	if d.opt.SAML == nil || len(d.cfg.SAMLServers) == 0 || !forticlient.ValidUID(identity) {
		return ""
	}
	if ts := d.opt.SAML.Tokens(identity); len(ts) > 0 {
		return fmt.Sprintf("SAML user %q is in no group of phase1 %s", ts[len(ts)-1].Login.User, gw.Name)
	}
	return "no SAML token (the token is used once, and expires)"
}

// users lists who may log in on a phase1: the members of authusrgrp that
// are local password users.
func (d *Daemon) userPassword(gw *Phase1, name string) ([]byte, bool) {
	if gw.AuthGroup == "" {
		return nil, false
	}
	for _, m := range d.cfg.Groups[gw.AuthGroup] {
		if m == name {
			pw, ok := d.cfg.Users[name]
			return pw, ok
		}
	}
	return nil, false
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
