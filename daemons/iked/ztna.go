package iked

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"

	"github.com/fosim/fosim/daemons/fcnacd/ztnatoken"
	"github.com/fosim/fosim/daemons/iked/fctdata"
	"github.com/fosim/fosim/daemons/iked/ike"
)

// FortiClient's posture before the tunnel (seed 002): the FCT data of
// FORTICLIENT_CONNECT, ems-sn-check, remote-gw-match ztna against the
// EMS's tags and, when the EMS resolves none, the ZTNA_TAG token.

// readFortiClientNotifies takes the FortiClient notifies of an IKE_AUTH
// request: the FCT data (logged as FortiOS does) and the ZTNA token,
// kept for the posture check after authentication.
func (d *Daemon) readFortiClientNotifies(sa *ikeSA, in []ike.Payload, pre string) {
	for _, n := range ike.Notifies(in) {
		switch n.Type {
		case ike.NotifyFortiClientConnect:
			d.log.Printf(1, "%s processing notify type FORTICLIENT_CONNECT", pre)
			fct, err := fctdata.Parse(n.Data)
			if err != nil {
				d.log.Printf(1, "%s ignoring FCT data (len = %d): %v", pre, len(n.Data), err)
				continue
			}
			d.log.Printf(1, "%s received FCT data len = %d, data = '%s'", pre, len(n.Data), bytes.TrimRight(n.Data, "\x00"))
			d.log.Printf(1, "%s received FCT-UID : %s", pre, fct.UID)
			if fct.EMSSerial != "" {
				d.log.Printf(1, "%s received EMS SN : %s", pre, fct.EMSSerial)
			}
			if fct.EMSTenant != "" {
				d.log.Printf(1, "%s received EMS tenant ID : %s", pre, fct.EMSTenant)
			}
			sa.fct, sa.fctUID = fct, fct.UID
		case ike.NotifyZTNATag:
			if len(n.Data) > ztnatoken.MaxLen {
				d.log.Printf(1, "%s ignoring ZTNA tags update token of %d bytes (at most %d)", pre, len(n.Data), ztnatoken.MaxLen)
				continue
			}
			sa.ztnaToken = string(n.Data)
		}
	}
}

// checkPosture runs ems-sn-check and the EMS side of remote-gw-match
// ztna once the peer authenticated. It answers the failure to send, or
// nil; sa.tokenCheck is set when the tags must come from the token,
// which establish checks under the dial-up instance's name as FortiOS
// logs it.
func (d *Daemon) checkPosture(sa *ikeSA) []ike.Payload {
	gw := sa.gw
	pre := prefix(gw.Name, sa.serial)
	if gw.EMSSNCheck {
		switch {
		case sa.fct == nil || sa.fct.EMSSerial == "":
			return d.failPosture(sa, "EMS SN check failure (the client sent no EMS serial number), abort", "EMS SN check failed", ike.NotifyEMSSerialNumberCheckFail)
		case d.opt.EMS == nil:
			return d.failPosture(sa, "EMS SN check failure (no EMS configured), abort", "EMS SN check failed", ike.NotifyEMSSerialNumberCheckFail)
		}
		if _, ok := d.opt.EMS.KnownSerial(sa.fct.EMSSerial); !ok {
			return d.failPosture(sa, fmt.Sprintf("EMS SN check failure (%s is not an EMS of this FortiGate), abort", sa.fct.EMSSerial), "EMS SN check failed", ike.NotifyEMSSerialNumberCheckFail)
		}
		d.log.Printf(1, "%s EMS SN check passed", pre)
	}
	if !gw.ZTNAMatch {
		return nil
	}
	if sa.fct == nil || !sa.fct.IP.IsValid() || d.opt.EMS == nil {
		return d.failZTNA(sa)
	}
	// the IP FortiClient reports, not the address the packets came from
	// (a NAT's): the EMS knows the endpoint by it
	have := d.opt.EMS.TagsOf(sa.fct.IP)
	for _, tag := range gw.ZTNATags {
		if slices.Contains(have, tag) {
			d.log.Printf(1, "%s EMS ZTNA tags check success %s", pre, shortTag(tag))
			return nil
		}
	}
	if sa.fct.Tags && sa.ztnaToken != "" {
		sa.tokenCheck = true
		return nil
	}
	return d.failZTNA(sa)
}

// checkToken is the JWT fallback: the token's tags, signed by the
// FortiClient's EMS, for its UID, unexpired on the appliance clock.
func (d *Daemon) checkToken(sa *ikeSA) []ike.Payload {
	pre := prefix(sa.name, sa.serial)
	d.log.Printf(1, "%s processing notify type ZTNA_TAG", pre)
	d.log.Printf(1, "%s received ZTNA tags update token (len=%d) data=%s", pre, len(sa.ztnaToken), sa.ztnaToken)
	tok, err := d.opt.EMS.VerifyToken(sa.ztnaToken, sa.fct.EMSSerial, sa.fct.UID)
	if err != nil {
		d.log.Printf(1, "%s EMS ZTNA token refused: %v", pre, err)
		return d.failZTNA(sa)
	}
	if d.tokenMatches(sa, tok) {
		return nil
	}
	d.log.Printf(1, "%s EMS ZTNA token carries none of the phase1's tags", pre)
	return d.failZTNA(sa)
}

// tokenMatches tells whether a verified token carries one of the phase1's
// tags, and logs FortiOS's success lines when it does.
func (d *Daemon) tokenMatches(sa *ikeSA, tok *ztnatoken.Token) bool {
	for _, want := range sa.gw.ZTNATags {
		for _, t := range tok.Tags {
			if name, ok := d.opt.EMS.TagName(sa.fct.EMSSerial, t.Name); ok && name == want {
				d.log.Printf(1, "ike V=root:0:%s: EMS ZTNA token tags check success %s", sa.name, shortTag(want))
				d.log.Printf(1, "%s send EMS_ZTNA_TAGS_CHECK_SUCCESS", prefix(sa.name, sa.serial))
				return true
			}
		}
	}
	return false
}

func (d *Daemon) failZTNA(sa *ikeSA) []ike.Payload {
	return d.failPosture(sa, "EMS ZTNA tags check failure, abort", "EMS ZTNA tags check failed", ike.NotifyEMSZTNATagsCheckFailure)
}

// failPosture refuses the client after authentication with FortiOS's
// lines and its failure notification in the IKE_AUTH response.
func (d *Daemon) failPosture(sa *ikeSA, why, negotiateErr string, n uint16) []ike.Payload {
	pre := prefix(sa.name, sa.serial)
	d.stats.Failed++
	d.log.Printf(1, "%s %s", pre, why)
	d.log.Printf(1, "ike V=root:%s Negotiate SA Error: %s", sa.gw.Name, negotiateErr)
	if n == ike.NotifyEMSZTNATagsCheckFailure {
		d.log.Printf(1, "%s sending IKE_AUTH ZTNA TAGS check failure notification response", pre)
	}
	sa.state = stateDeleted
	sa.stopTimers()
	return []ike.Payload{notify(n, nil)}
}

var emsPrefix = regexp.MustCompile(`^EMS[0-9]+_`)

// shortTag is a tag address as FortiOS's check lines name it:
// EMS1_ZTNA_all_registered_clients → ZTNA_all_registered_clients.
func shortTag(name string) string { return emsPrefix.ReplaceAllString(name, "") }

// tokenUpdate takes a ZTNA_TAG notify in an INFORMATIONAL of an
// established tunnel: FortiClient sends its token again when its tags
// change or the token is renewed (FortiOS 7.4.5+). A token that verifies
// with one of the phase1's tags is answered EMS_ZTNA_TAGS_CHECK_SUCCESS.
// One that does not is logged and the tunnel stays: the tags are checked
// before the tunnel, and once connected the endpoint is trusted (what
// Fortinet documents for dial-up posture; policies on the EMS tag
// addresses enforce changes after that). nil when there is no such
// notify.
func (d *Daemon) tokenUpdate(sa *ikeSA, in []ike.Payload) *ike.Payload {
	var token []byte
	for _, n := range ike.Notifies(in) {
		if n.Type == ike.NotifyZTNATag {
			token = n.Data
		}
	}
	if token == nil || sa.state != stateEstablished {
		return nil
	}
	pre := prefix(sa.name, sa.serial)
	d.log.Printf(1, "%s processing notify type ZTNA_TAG", pre)
	if len(token) > ztnatoken.MaxLen || sa.fct == nil || d.opt.EMS == nil || !sa.gw.ZTNAMatch {
		d.log.Printf(1, "%s ZTNA tags update token ignored (len=%d): no FCT data, no EMS or no remote-gw-match ztna", pre, len(token))
		return nil
	}
	d.log.Printf(1, "%s received ZTNA tags update token (len=%d) data=%s", pre, len(token), token)
	tok, err := d.opt.EMS.VerifyToken(string(token), sa.fct.EMSSerial, sa.fct.UID)
	if err != nil {
		d.log.Printf(1, "%s EMS ZTNA token refused: %v (the tunnel stays)", pre, err)
		return nil
	}
	if d.tokenMatches(sa, tok) {
		sa.ztnaToken = string(token)
		n := notify(ike.NotifyEMSZTNATagsCheckSuccess, nil)
		return &n
	}
	d.log.Printf(1, "%s EMS ZTNA token carries none of the phase1's tags now (the tunnel stays)", pre)
	return nil
}
