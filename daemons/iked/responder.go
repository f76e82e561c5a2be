package iked

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/fosim/fosim/daemons/fcnacd/fcnacdapi"
	"github.com/fosim/fosim/daemons/iked/eap"
	"github.com/fosim/fosim/daemons/iked/ike"
	"github.com/fosim/fosim/daemons/iked/suite"
)

// halfOpenTimeout drops an IKE SA whose IKE_AUTH never came.
const halfOpenTimeout = 30 * time.Second

// prefix is the FortiOS debug prefix of a gateway: "ike V=root:0:dialup_0:155:".
// childPrefix is the prefix of a child SA's lines: the tunnel and its
// serial, then the phase2 and the child's serial ("ike
// V=root:0:Dialup-TimeOut_0:264:Dialup-TimeOut:913:", seed 001).
func childPrefix(sa *ikeSA, c *childSA) string {
	return fmt.Sprintf("ike V=root:0:%s:%d:%s:%d:", sa.name, sa.serial, childName(sa, c), c.serial)
}

// childName is the phase2 a child SA was made for.
func childName(sa *ikeSA, c *childSA) string {
	if c.phase2 != nil {
		return c.phase2.Name
	}
	return sa.gw.Name
}

func prefix(name string, serial int) string {
	if serial == 0 {
		return fmt.Sprintf("ike V=root:0:%s:", name)
	}
	return fmt.Sprintf("ike V=root:0:%s:%d:", name, serial)
}

// handle takes a message that came on socket c, serving the interfaces
// ifaces (nil when iked listens on one address for every phase1).
func (d *Daemon) handle(p path, ifaces []string, local, peer netip.AddrPort, msg []byte) {
	hdr, err := ike.DecodeHeader(msg)
	d.mu.Lock()
	defer d.unlock()
	d.stats.Received++
	if d.closing {
		return
	}
	if d.log.Enabled(1) {
		idx := 0
		if len(ifaces) > 0 {
			idx = d.cfg.IfIndex[ifaces[0]]
		}
		d.log.Printf(1, "ike V=root:0: %s comes %s->%s,ifindex=%d,vrf=0,len=%d....", p.proto(), peer, local, idx, len(msg))
	}
	if err != nil {
		d.stats.Dropped++
		d.log.Printf(1, "ike V=root:0: invalid IKE packet from %s: %v", peer, err)
		return
	}
	if hdr.ExchangeType == ike.IKE_SA_INIT && hdr.SPIr == 0 && !hdr.IsResponse() {
		d.handleInit(p, ifaces, local, peer, hdr, msg)
		return
	}
	// The I flag says who sent it: the original initiator addresses us by
	// the responder SPI, and after iked rekeyed an SA (iked is then its
	// initiator) the peer addresses us by the initiator SPI.
	ours := hdr.SPIr
	if !hdr.IsInitiator() {
		ours = hdr.SPIi
	}
	sa := d.sas[ours]
	if sa == nil || sa.spiI != hdr.SPIi || sa.spiR != hdr.SPIr || sa.initiator == hdr.IsInitiator() {
		d.stats.Dropped++
		return
	}
	if hdr.IsResponse() {
		d.handleResponse(sa, hdr, msg)
		return
	}
	if hdr.MessageID == sa.lastID && sa.lastResp != nil && hdr.MessageID+1 == sa.nextMsgID {
		d.send(sa.path, sa.peer, sa.lastResp) // retransmission
		return
	}
	if hdr.MessageID != sa.nextMsgID {
		d.stats.Dropped++
		return
	}
	payloads, ok := d.open(sa, msg)
	if !ok {
		return
	}
	// the peer floats to 4500 (NAT-T) or moves: follow it, once the
	// message proved to be the peer's (RFC 7296 §2.23)
	d.bind(sa, p)
	sa.peer, sa.local = peer, local
	sa.lastRecv = d.now()
	var resp []ike.Payload
	switch hdr.ExchangeType {
	case ike.IKE_AUTH:
		if sa.state != stateInit {
			return
		}
		resp = d.handleAuth(sa, payloads)
	case ike.INFORMATIONAL:
		resp = d.handleInformational(sa, payloads)
	case ike.CREATE_CHILD_SA:
		if sa.state != stateEstablished {
			return
		}
		resp = d.handleCreateChild(sa, payloads)
	default:
		return
	}
	out := d.encrypted(sa, hdr.ExchangeType, hdr.MessageID, ike.FlagResponse, resp)
	sa.lastID, sa.lastResp = hdr.MessageID, out
	sa.nextMsgID = hdr.MessageID + 1
	d.send(sa.path, sa.peer, out)
	if sa.state == stateDeleted {
		delete(d.sas, sa.ourSPI())
	}
}

// open verifies and decrypts a protected message of the peer on sa;
// whatever fails is counted as dropped.
func (d *Daemon) open(sa *ikeSA, msg []byte) ([]ike.Payload, bool) {
	off, inner, err := ike.FindSK(msg)
	if err != nil {
		d.stats.Dropped++
		return nil, false
	}
	plain, err := sa.keys.Open(msg, off, !sa.initiator)
	if err != nil {
		d.stats.Dropped++
		d.log.Printf(1, "%s integrity check failed, message dropped", prefix(sa.name, sa.serial))
		return nil, false
	}
	payloads, err := ike.DecodePayloads(inner, plain)
	if err != nil {
		d.stats.Dropped++
		return nil, false
	}
	return payloads, true
}

// keyExchange answers the peer's KE for the chosen group with iked's KE
// and the shared secret, or with the notify that refuses it
// (INVALID_KE_PAYLOAD names the group iked wants, RFC 7296 §1.3).
func keyExchange(group uint16, ke *ike.KE) (*ike.KE, []byte, *ike.Payload) {
	refuse := func(p ike.Payload) (*ike.KE, []byte, *ike.Payload) { return nil, nil, &p }
	if ke == nil || ke.Group != group {
		return refuse(notify(ike.NotifyInvalidKEPayload, binary.BigEndian.AppendUint16(nil, group)))
	}
	dh, err := suite.NewDH(group)
	if err != nil {
		return refuse(notify(ike.NotifyNoProposalChosen, nil))
	}
	shared, err := dh.Shared(ke.Data)
	if err != nil {
		return refuse(notify(ike.NotifyInvalidSyntax, nil))
	}
	return &ike.KE{Group: group, Data: dh.Public()}, shared, nil
}

func notify(typ uint16, data []byte) ike.Payload {
	return ike.Payload{Type: ike.PayloadNotify, Body: &ike.Notify{Type: typ, Data: data}}
}

// encrypted builds a protected message (flags: ike.FlagResponse for a
// response, 0 for a request); the I flag and the keys follow iked's role.
func (d *Daemon) encrypted(sa *ikeSA, exchange uint8, msgID uint32, flags uint8, payloads []ike.Payload) []byte {
	if sa.initiator {
		flags |= ike.FlagInitiator
	}
	return sa.keys.Protect(ike.Header{SPIi: sa.spiI, SPIr: sa.spiR, ExchangeType: exchange, Flags: flags, MessageID: msgID}, payloads, sa.initiator)
}

func (d *Daemon) handleInit(p path, ifaces []string, local, peer netip.AddrPort, hdr ike.Header, msg []byte) {
	hk := halfKey{hdr.SPIi, peer}
	if sa := d.halfOpen[hk]; sa != nil {
		d.send(p, peer, sa.initResp) // retransmitted IKE_SA_INIT
		return
	}
	m, err := ike.Decode(msg)
	if err != nil {
		d.stats.Dropped++
		return
	}
	saP := ike.Get[*ike.SA](m.Payloads, ike.PayloadSA)
	ke := ike.Get[*ike.KE](m.Payloads, ike.PayloadKE)
	nonce := ike.Get[*ike.Nonce](m.Payloads, ike.PayloadNonce)
	reply := func(ps ...ike.Payload) {
		out := (&ike.Message{Header: ike.Header{SPIi: hdr.SPIi, ExchangeType: ike.IKE_SA_INIT, Flags: ike.FlagResponse}, Payloads: ps}).Encode()
		d.send(p, peer, out)
	}
	if saP == nil || ke == nil || nonce == nil || len(nonce.Data) < 16 {
		reply(notify(ike.NotifyInvalidSyntax, nil))
		return
	}
	// Under load (or when told to always), make the peer prove its address
	// before any Diffie-Hellman work: answer with a stateless cookie.
	if d.opt.CookieThreshold < 0 || len(d.halfOpen) >= d.opt.CookieThreshold {
		want := d.cookie(nonce.Data, peer, hdr.SPIi)
		if len(m.Payloads) == 0 || m.Payloads[0].Type != ike.PayloadNotify ||
			m.Payloads[0].Body.(*ike.Notify).Type != ike.NotifyCookie ||
			!equal(m.Payloads[0].Body.(*ike.Notify).Data, want) {
			d.log.Printf(1, "ike V=root:0: sending cookie to %s (%d half-open SAs)", peer, len(d.halfOpen))
			reply(notify(ike.NotifyCookie, want))
			return
		}
	}
	var gw *Phase1
	var chosen suite.Suite
	var prop *ike.Proposal
	for _, name := range d.cfg.Order {
		p1 := d.cfg.Phase1s[name]
		if p1.IKEVersion != 2 || (!p1.Dynamic && p1.RemoteGW != peer.Addr().Unmap()) {
			continue
		}
		if !p1.carriedBy(p) {
			continue // transport udp answers only over UDP, tcp only over TCP
		}
		if ifaces != nil && !slices.Contains(ifaces, p1.Interface) {
			continue // a phase1 answers only on its own interface's address
		}
		if s, p, ok := suite.Match(saP.Proposals, ike.ProtoIKE, p1.Proposals, p1.DHGroups, true); ok {
			gw, chosen, prop = p1, s, p
			break
		}
	}
	if gw == nil {
		d.stats.Failed++
		d.log.Printf(1, "ike V=root:0: responder received SA_INIT msg from %s", peer)
		d.log.Printf(1, "ike V=root:0: negotiation failure")
		d.log.Printf(1, "ike V=root:Negotiate SA Error: no SA proposal chosen")
		reply(notify(ike.NotifyNoProposalChosen, nil))
		return
	}
	ourKE, shared, refused := keyExchange(chosen.DHGroup, ke)
	if refused != nil {
		if ke.Group != chosen.DHGroup {
			d.log.Printf(1, "%s responder received SA_INIT msg: KE group %d, expected %d: sending INVALID_KE_PAYLOAD", prefix(gw.Name, 0), ke.Group, chosen.DHGroup)
		}
		reply(*refused)
		return
	}
	d.serial++
	sa := &ikeSA{gw: gw, name: gw.Name, serial: d.serial, spiI: hdr.SPIi, spiR: ike.NewIKESPI(), suite: chosen,
		ni: nonce.Data, nr: make([]byte, 32), initReq: msg, local: local, peer: peer, ifIndex: d.cfg.IfIndex[gw.Interface],
		created: d.now(), nextMsgID: 1}
	rand.Read(sa.nr)
	sa.keys = suite.DeriveIKE(chosen, shared, sa.ni, sa.nr, sa.spiI, sa.spiR)
	pre := prefix(gw.Name, sa.serial)
	d.log.Printf(1, "ike V=root:0:%s:%s: created connection: %p %d %s->%s.", gw.Name, gw.Name, sa, 0, local.Addr().Unmap(), peer)
	d.log.Printf(1, "%s responder received SA_INIT msg", pre)
	d.log.Printf(1, "%s incoming proposal:", pre)
	d.log.Printf(1, "%s proposal id = %d: protocol = IKEv2, encryption = %s, prf = %d, dh = %d", pre, prop.Number, chosen.Name(), chosen.PRF, chosen.DHGroup)
	d.log.Printf(1, "%s SA proposal chosen, matched gateway %s", pre, gw.Name)
	resp := []ike.Payload{
		{Type: ike.PayloadSA, Body: &ike.SA{Proposals: []ike.Proposal{{Number: prop.Number, Protocol: ike.ProtoIKE, Transforms: chosen.Transforms(ike.ProtoIKE)}}}},
		{Type: ike.PayloadKE, Body: ourKE},
		{Type: ike.PayloadNonce, Body: &ike.Nonce{Data: sa.nr}},
	}
	hasNATD := false
	for _, n := range ike.Notifies(m.Payloads) {
		switch n.Type {
		case ike.NotifyNATDetectionSourceIP:
			hasNATD = true
			if !bytes.Equal(n.Data, ike.NATHash(hdr.SPIi, 0, peer)) {
				sa.natPeer = true
			}
		case ike.NotifyNATDetectionDestIP:
			hasNATD = true
			if !local.Addr().IsUnspecified() && !bytes.Equal(n.Data, ike.NATHash(hdr.SPIi, 0, local)) {
				sa.natMe = true
			}
		}
	}
	if hasNATD && gw.NATT != "disable" {
		resp = append(resp,
			notify(ike.NotifyNATDetectionSourceIP, ike.NATHash(sa.spiI, sa.spiR, local)),
			notify(ike.NotifyNATDetectionDestIP, ike.NATHash(sa.spiI, sa.spiR, peer)))
	}
	out := (&ike.Message{Header: ike.Header{SPIi: sa.spiI, SPIr: sa.spiR, ExchangeType: ike.IKE_SA_INIT, Flags: ike.FlagResponse}, Payloads: resp}).Encode()
	sa.initResp = out
	sa.lastID, sa.lastResp = 0, out
	d.sas[sa.spiR] = sa
	d.halfOpen[hk] = sa
	sa.half = hk
	d.log.Printf(1, "%s responder preparing SA_INIT msg", pre)
	sa.timers = append(sa.timers, d.rt.Clock.AfterFunc(halfOpenTimeout, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if sa.state == stateInit && d.sas[sa.spiR] == sa {
			d.log.Printf(1, "%s negotiation timeout, deleting", pre)
			delete(d.sas, sa.spiR)
			delete(d.halfOpen, hk)
			d.stats.Failed++
		}
	}))
	d.bind(sa, p)
	d.send(p, peer, out)
}

func (d *Daemon) handleAuth(sa *ikeSA, in []ike.Payload) []ike.Payload {
	gw := sa.gw
	pre := prefix(gw.Name, sa.serial)
	if sa.eap != nil {
		return d.continueEAP(sa, in)
	}
	delete(d.halfOpen, sa.half)
	d.log.Printf(1, "%s responder received AUTH msg", pre)
	idi := ike.Get[*ike.ID](in, ike.PayloadIDi)
	auth := ike.Get[*ike.Auth](in, ike.PayloadAUTH)
	if idi == nil {
		return d.failAuth(sa, "no peer identifier", ike.NotifyInvalidSyntax)
	}
	sa.peerID = idi
	for _, n := range ike.Notifies(in) {
		if n.Type == ike.NotifyInitialContact {
			d.log.Printf(1, "%s processing notify type INITIAL_CONTACT", pre)
		}
	}
	d.readFortiClientNotifies(sa, in, pre)
	d.log.Printf(1, "%s peer identifier %s", pre, idi)
	if auth == nil && gw.EAP {
		d.log.Printf(1, "%s eap-peer=yes", pre)
	}
	// the gateway matched at SA_INIT is checked again against the peer's ID
	d.log.Printf(1, "%s re-validate gw ID", pre)
	d.log.Printf(1, "%s gw validation OK", pre)
	idr := d.localID(sa)
	ours := []ike.Payload{
		{Type: ike.PayloadIDr, Body: idr},
		{Type: ike.PayloadAUTH, Body: &ike.Auth{Method: ike.AuthPSK, Data: sa.keys.PSKAuth(gw.PSK, sa.initResp, sa.ni, suite.IDBody(idr), false)}},
	}
	if auth == nil {
		if !gw.EAP {
			return d.failAuth(sa, "peer sent no AUTH payload and EAP is disabled", ike.NotifyAuthenticationFailed)
		}
		sa.eap = &eapState{id: 1, first: in, idr: idr}
		if gw.EAPIdentity {
			d.log.Printf(1, "%s responder preparing EAP identity request", pre)
			return append(ours, eapPayload(eap.Packet{Code: eap.Request, ID: sa.eap.id, Type: eap.Identity}))
		}
		sa.eap.identity = idi.Value()
		return append(ours, d.eapChallenge(sa, eap.MSCHAPv2))
	}
	if auth.Method != ike.AuthPSK || len(gw.PSK) == 0 || !bytes.Equal(sa.keys.PSKAuth(gw.PSK, sa.initReq, sa.nr, suite.IDBody(idi), true), auth.Data) {
		return d.failAuth(sa, "probable pre-shared secret mismatch", ike.NotifyAuthenticationFailed)
	}
	d.log.Printf(1, "%s auth verify done", pre)
	d.log.Printf(1, "%s authentication succeeded", pre)
	if fail := d.checkPosture(sa); fail != nil {
		return fail
	}
	return d.establish(sa, in, ours)
}

func (d *Daemon) failAuth(sa *ikeSA, why string, n uint16) []ike.Payload {
	d.stats.Failed++
	d.log.Printf(1, "%s %s", prefix(sa.gw.Name, sa.serial), why)
	sa.state = stateDeleted
	sa.stopTimers()
	return []ike.Payload{notify(n, nil)}
}

// establish completes IKE_AUTH: the dial-up instance, mode-cfg, the child
// SA, and the timers.
func (d *Daemon) establish(sa *ikeSA, in, out []ike.Payload) []ike.Payload {
	gw := sa.gw
	pre := prefix(gw.Name, sa.serial)
	// dial-up: each client is an instance <phase1>_<n>
	if gw.Dynamic {
		sa.index = d.freeIndex(gw.Name)
		sa.name = fmt.Sprintf("%s_%d", gw.Name, sa.index)
	}
	if sa.tokenCheck {
		if fail := d.checkToken(sa); fail != nil {
			d.releaseIndex(sa)
			return fail
		}
		out = append(out, notify(ike.NotifyEMSZTNATagsCheckSuccess, nil))
	}
	// tunnels are numbered after the phase1s ("serial=" of the tunnel
	// list; seed 002's parent is 1, its instance 5)
	d.tunnels++
	sa.tunnelSerial = len(d.cfg.Order) + d.tunnels
	if cp := ike.Get[*ike.CP](in, ike.PayloadCP); cp != nil && cp.Type == ike.CFGRequest && gw.ModeCfg {
		ip, ok := d.allocate(gw)
		if !ok {
			d.log.Printf(1, "%s no address left in the mode-cfg pool", pre)
			out = append(out, notify(ike.NotifyInternalAddressFail, nil))
		} else {
			sa.assigned = ip
			out = append(out, ike.Payload{Type: ike.PayloadCP, Body: d.cpReply(gw, ip, cp)})
		}
	}
	saP := ike.Get[*ike.SA](in, ike.PayloadSA)
	tsi := ike.Get[*ike.TS](in, ike.PayloadTSi)
	tsr := ike.Get[*ike.TS](in, ike.PayloadTSr)
	sa.state = stateEstablished
	sa.estab = d.now()
	sa.setupDur = sa.estab.Sub(sa.created)
	d.stats.Established++
	if saP != nil && tsi != nil && tsr != nil {
		child, ps := d.negotiateChild(sa, saP, tsi, tsr)
		out = append(out, ps...)
		if child != nil {
			d.addChild(sa, child)
			d.log.Printf(1, "%s responder creating new child", pre)
			d.log.Printf(1, "%s added IPsec SA: SPIs=%08x/%08x", childPrefix(sa, child), child.spiIn, child.spiOut)
			d.log.Printf(1, "%s sending SNMP tunnel UP trap", childPrefix(sa, child))
		}
	}
	if sa.assigned.IsValid() {
		d.log.Printf(1, "ike V=root:0:%s: tunnel up event assigned address %s", sa.name, sa.assigned)
	}
	d.armKeylife(sa)
	d.armDPD(sa)
	// The first messages were only kept for AUTH.
	sa.initReq, sa.initResp, sa.ni, sa.nr = nil, nil, sa.ni[:0:0], sa.nr[:0:0]
	return out
}

// freeIndex takes the lowest dial-up instance index not in use, without
// walking the SA table (tens of thousands of tunnels).
func (d *Daemon) freeIndex(gw string) int {
	used := d.instances[gw]
	if used == nil {
		used = map[int]bool{}
		d.instances[gw] = used
	}
	for i := 0; ; i++ {
		if !used[i] {
			used[i] = true
			return i
		}
	}
}

// releaseIndex gives a dial-up instance index back.
func (d *Daemon) releaseIndex(sa *ikeSA) {
	if sa.gw.Dynamic && !sa.rekeyed {
		delete(d.instances[sa.gw.Name], sa.index)
	}
}

func (d *Daemon) localID(sa *ikeSA) *ike.ID {
	if sa.gw.LocalID != "" {
		return &ike.ID{Type: ike.IDFQDN, Data: []byte(sa.gw.LocalID)}
	}
	a := sa.local.Addr().Unmap()
	if a.Is4() {
		return &ike.ID{Type: ike.IDIPv4, Data: a.AsSlice()}
	}
	return &ike.ID{Type: ike.IDIPv6, Data: a.AsSlice()}
}

// allocate takes the first free address of a phase1's mode-cfg pool.
func (d *Daemon) allocate(gw *Phase1) (netip.Addr, bool) {
	if !gw.PoolStart.IsValid() || !gw.PoolEnd.IsValid() || gw.PoolStart.IsUnspecified() {
		return netip.Addr{}, false
	}
	used := map[netip.Addr]bool{}
	for _, o := range d.sas {
		if o.gw.Name == gw.Name && o.assigned.IsValid() {
			used[o.assigned] = true
		}
	}
	for ip := gw.PoolStart; ip.IsValid() && !gw.PoolEnd.Less(ip); ip = ip.Next() {
		if !used[ip] {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

func (d *Daemon) cpReply(gw *Phase1, ip netip.Addr, req *ike.CP) *ike.CP {
	cp := &ike.CP{Type: ike.CFGReply}
	cp.Attrs = append(cp.Attrs, ike.CPAttr{Type: ike.CPInternalIP4Address, Value: ip.AsSlice()})
	for _, a := range req.Attrs {
		if a.Type == ike.CPInternalIP4Netmask && gw.Netmask.IsValid() {
			cp.Attrs = append(cp.Attrs, ike.CPAttr{Type: ike.CPInternalIP4Netmask, Value: gw.Netmask.AsSlice()})
		}
	}
	for _, dns := range gw.DNS {
		cp.Attrs = append(cp.Attrs, ike.CPAttr{Type: ike.CPInternalIP4DNS, Value: dns.AsSlice()})
	}
	for _, p := range gw.Split {
		v := append(p.Addr().AsSlice(), netmaskBytes(p.Bits())...)
		cp.Attrs = append(cp.Attrs, ike.CPAttr{Type: ike.CPInternalIP4Subnet, Value: v})
	}
	return cp
}

func netmaskBytes(bits int) []byte {
	v := uint32(0)
	if bits > 0 {
		v = ^uint32(0) << (32 - bits)
	}
	return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// negotiateChild picks a phase2 for the child SA the peer proposed.
func (d *Daemon) negotiateChild(sa *ikeSA, saP *ike.SA, tsi, tsr *ike.TS) (*childSA, []ike.Payload) {
	pre := prefix(sa.name, sa.serial)
	p2s := sa.gw.Phase2s
	if len(p2s) == 0 {
		d.log.Printf(1, "%s no phase2 for this phase1: no child SA", pre)
		return nil, []ike.Payload{notify(ike.NotifyNoProposalChosen, nil)}
	}
	for _, p2 := range p2s {
		s, prop, ok := suite.Match(saP.Proposals, ike.ProtoESP, p2.Proposals, nil, false)
		if !ok || len(prop.SPI) != 4 {
			continue
		}
		remote, local, ok := childSelectors(sa, p2, tsi, tsr)
		if !ok {
			continue
		}
		c := &childSA{phase2: p2, suite: s, spiOut: binary.BigEndian.Uint32(prop.SPI), tsi: remote, tsr: local, created: d.now()}
		c.spiIn = d.newESPSPI()
		c.encIn, c.integIn, c.encOut, c.integOut = sa.keys.ChildKeys(s, nil, sa.ni, sa.nr)
		return c, []ike.Payload{
			{Type: ike.PayloadSA, Body: &ike.SA{Proposals: []ike.Proposal{{Number: prop.Number, Protocol: ike.ProtoESP, SPI: ike.ESPSPIBytes(c.spiIn), Transforms: s.Transforms(ike.ProtoESP)}}}},
			{Type: ike.PayloadTSi, Body: &ike.TS{Selectors: remote}},
			{Type: ike.PayloadTSr, Body: &ike.TS{Selectors: local}},
		}
	}
	d.log.Printf(1, "%s no matching phase2 proposal or selectors: specified selectors mismatch", pre)
	return nil, []ike.Payload{notify(ike.NotifyNoProposalChosen, nil)}
}

// childSelectors narrows the peer's selectors (TSi its side, TSr ours) to
// the phase2's; a peer with a mode-cfg address gets exactly that address.
func childSelectors(sa *ikeSA, p2 *Phase2, tsi, tsr *ike.TS) (remote, local []ike.Selector, ok bool) {
	remote = narrow(tsi.Selectors, p2.Remote)
	if sa.assigned.IsValid() {
		remote = []ike.Selector{{Type: ike.TSIPv4Range, EndPort: 65535, Start: sa.assigned, End: sa.assigned}}
	}
	local = narrow(tsr.Selectors, p2.Local)
	return remote, local, len(remote) > 0 && len(local) > 0
}

// narrow intersects offered IPv4 selectors with a configured subnet.
func narrow(offered []ike.Selector, p netip.Prefix) []ike.Selector {
	lo, hi := p.Masked().Addr(), lastAddr(p)
	var out []ike.Selector
	for _, s := range offered {
		if s.Type != ike.TSIPv4Range || !s.Start.Is4() {
			continue
		}
		start, end := s.Start, s.End
		if start.Less(lo) {
			start = lo
		}
		if hi.Less(end) {
			end = hi
		}
		if end.Less(start) {
			continue
		}
		out = append(out, ike.Selector{Type: ike.TSIPv4Range, IPProtocol: s.IPProtocol, StartPort: s.StartPort, EndPort: s.EndPort, Start: start, End: end})
	}
	return out
}

func (d *Daemon) handleInformational(sa *ikeSA, in []ike.Payload) []ike.Payload {
	pre := prefix(sa.name, sa.serial)
	var out []ike.Payload
	empty := true
	if n := d.tokenUpdate(sa, in); n != nil {
		out = append(out, *n)
		empty = false
	}
	for _, p := range in {
		del, ok := p.Body.(*ike.Delete)
		if !ok {
			continue
		}
		empty = false
		switch del.Protocol {
		case ike.ProtoIKE:
			d.log.Printf(1, "%s received delete for the IKE SA", pre)
			d.deleteSALocked(sa, false)
			sa.state = stateDeleted
			return nil
		case ike.ProtoESP:
			var ours [][]byte
			for _, spi := range del.SPIs {
				if len(spi) != 4 {
					continue
				}
				v := binary.BigEndian.Uint32(spi)
				for i, c := range sa.children {
					if c.spiOut == v {
						d.log.Printf(1, "%s deleting IPsec SA with SPI %08x", pre, c.spiOut)
						ours = append(ours, ike.ESPSPIBytes(c.spiIn))
						d.forgetChild(c)
						c.stopTimer()
						sa.children = append(sa.children[:i], sa.children[i+1:]...)
						break
					}
				}
			}
			if len(ours) > 0 {
				out = append(out, ike.Payload{Type: ike.PayloadDelete, Body: &ike.Delete{Protocol: ike.ProtoESP, SPISize: 4, SPIs: ours}})
			}
		}
	}
	if empty {
		sa.dpdRecv++ // a liveness check from the peer
	}
	return out
}

// deleteSALocked tears an IKE SA down with FortiOS's log lines; notify
// queues an INFORMATIONAL delete for the peer, built and sent after the
// lock is released so that flushing many tunnels stays quick.
func (d *Daemon) deleteSALocked(sa *ikeSA, notifyPeer bool) {
	d.stopTimers = sa.detachTimers(d.stopTimers)
	if sa.state == stateEstablished {
		d.releaseIndex(sa)
	}
	if sa.rekeyed { // replaced by a rekey: its tunnel lives on
		sa.state = stateDeleted
		return
	}
	// a FortiClient's EMS hears of its tunnel going (seed 001)
	toldEMS := sa.state == stateEstablished && sa.fctUID != "" && d.opt.EMS != nil &&
		d.opt.EMS.TunnelDown(fcnacdapi.TunnelEvent{UID: sa.fctUID, Interface: sa.name, Addr: sa.assigned, VDOM: "root"})
	if sa.state == stateEstablished && d.log.Enabled(1) {
		d.log.Printf(1, "ike V=root:0:%s: going to be deleted", sa.name)
		if toldEMS {
			addr := "0.0.0.0"
			if sa.assigned.IsValid() {
				addr = sa.assigned.String()
			}
			d.log.Printf(1, "ike V=root:0:%s: sent tunnel-down message to EMS: (fct-uid=%s, intf=%s, addr=%s, vdom=root)", sa.name, sa.fctUID, sa.name, addr)
		}
		d.log.Printf(1, "ike V=root:0:%s: flushing", sa.name)
		for _, c := range sa.children {
			d.log.Printf(1, "ike V=root:0:%s: deleting IPsec SA with SPI %08x", sa.name, c.spiOut)
			d.log.Printf(1, "ike V=root:0:%s:%s: deleted IPsec SA with SPI %08x, SA count: 0", sa.name, sa.gw.Name, c.spiOut)
		}
		if a := sa.assigned; a.IsValid() && len(sa.children) > 0 {
			// the route to the client's mode-cfg address goes (seed 001
			// prints the tunnel's name where the VDOM usually stands)
			c := sa.children[len(sa.children)-1]
			d.log.Printf(1, "ike V=%s:0:%s:%d: del route %s/255.255.255.255 tunnel %s oif %s(%d) metric 15 priority 1",
				sa.gw.Name, childName(sa, c), c.serial, a, a, sa.gw.Name, d.cfg.TunnelIfIndex[sa.gw.Name])
		}
		d.log.Printf(1, "ike V=root:0:%s: sending SNMP tunnel DOWN trap for %s", sa.name, sa.gw.Name)
	}
	if notifyPeer && sa.state == stateEstablished && sa.keys != nil {
		d.deletes = append(d.deletes, sa)
	}
	for _, c := range sa.children {
		d.forgetChild(c)
	}
	sa.children = nil
	sa.assigned = netip.Addr{}
	sa.state = stateDeleted
}

// request builds a protected request of ours (delete, DPD). The responder
// of the IKE SA uses its own message ID counter for its requests.
func (d *Daemon) request(sa *ikeSA, exchange uint8, payloads []ike.Payload) []byte {
	msg := d.encrypted(sa, exchange, sa.ourMsgID, 0, payloads)
	sa.ourMsgID++
	return msg
}

// handleCreateChild answers CREATE_CHILD_SA: a rekey of the IKE SA, a rekey
// of a child SA (REKEY_SA) or a new child SA.
func (d *Daemon) handleCreateChild(sa *ikeSA, in []ike.Payload) []ike.Payload {
	pre := prefix(sa.name, sa.serial)
	saP := ike.Get[*ike.SA](in, ike.PayloadSA)
	nonce := ike.Get[*ike.Nonce](in, ike.PayloadNonce)
	ke := ike.Get[*ike.KE](in, ike.PayloadKE)
	if saP == nil || nonce == nil || len(saP.Proposals) == 0 {
		return []ike.Payload{notify(ike.NotifyInvalidSyntax, nil)}
	}
	nr := make([]byte, 32)
	rand.Read(nr)
	if saP.Proposals[0].Protocol == ike.ProtoIKE {
		if sa.rekeying {
			// both sides rekey at once: ours goes on, the peer retries
			return []ike.Payload{notify(ike.NotifyTemporaryFailure, nil)}
		}
		return d.rekeyIKE(sa, saP, nonce.Data, ke, nr)
	}
	var old *childSA
	for _, n := range ike.Notifies(in) {
		if n.Type == ike.NotifyRekeySA && len(n.SPI) == 4 {
			v := binary.BigEndian.Uint32(n.SPI)
			for _, c := range sa.children {
				if c.spiOut == v {
					old = c
				}
			}
			if old == nil {
				return []ike.Payload{{Type: ike.PayloadNotify, Body: &ike.Notify{Protocol: ike.ProtoESP, SPI: n.SPI, Type: ike.NotifyChildSANotFound}}}
			}
			if old.rekeying {
				return []ike.Payload{notify(ike.NotifyTemporaryFailure, nil)}
			}
		}
	}
	p2s := sa.gw.Phase2s
	if old != nil && old.phase2 != nil {
		p2s = []*Phase2{old.phase2}
	}
	tsi := ike.Get[*ike.TS](in, ike.PayloadTSi)
	tsr := ike.Get[*ike.TS](in, ike.PayloadTSr)
	if tsi == nil || tsr == nil {
		return []ike.Payload{notify(ike.NotifyInvalidSyntax, nil)}
	}
	for _, p2 := range p2s {
		groups := []uint16(nil)
		if p2.PFS {
			groups = p2.DHGroups
		}
		s, prop, ok := suite.Match(saP.Proposals, ike.ProtoESP, p2.Proposals, groups, p2.PFS)
		if !ok || len(prop.SPI) != 4 {
			continue
		}
		var shared []byte
		var out []ike.Payload
		if s.DHGroup != 0 {
			ourKE, sh, refused := keyExchange(s.DHGroup, ke)
			if refused != nil {
				return []ike.Payload{*refused}
			}
			shared = sh
			out = append(out, ike.Payload{Type: ike.PayloadKE, Body: ourKE})
		}
		remote, local, ok := childSelectors(sa, p2, tsi, tsr)
		if !ok {
			continue
		}
		c := &childSA{phase2: p2, suite: s, spiOut: binary.BigEndian.Uint32(prop.SPI), spiIn: d.newESPSPI(), tsi: remote, tsr: local, created: d.now()}
		c.encIn, c.integIn, c.encOut, c.integOut = sa.keys.ChildKeys(s, shared, nonce.Data, nr)
		d.addChild(sa, c)
		if old != nil {
			d.log.Printf(1, "%s rekeying IPsec SA %08x/%08x", pre, old.spiIn, old.spiOut)
		}
		d.log.Printf(1, "%s added IPsec SA: SPIs=%08x/%08x", childPrefix(sa, c), c.spiIn, c.spiOut)
		resp := []ike.Payload{
			{Type: ike.PayloadSA, Body: &ike.SA{Proposals: []ike.Proposal{{Number: prop.Number, Protocol: ike.ProtoESP, SPI: ike.ESPSPIBytes(c.spiIn), Transforms: s.Transforms(ike.ProtoESP)}}}},
			{Type: ike.PayloadNonce, Body: &ike.Nonce{Data: nr}},
		}
		resp = append(resp, out...)
		return append(resp,
			ike.Payload{Type: ike.PayloadTSi, Body: &ike.TS{Selectors: remote}},
			ike.Payload{Type: ike.PayloadTSr, Body: &ike.TS{Selectors: local}})
	}
	d.log.Printf(1, "%s no matching phase2 proposal or selectors for the new child SA", pre)
	return []ike.Payload{notify(ike.NotifyNoProposalChosen, nil)}
}

// rekeyIKE replaces sa by a new IKE SA that takes over its child SAs; the
// peer then deletes the old one, quietly (no tunnel-down).
func (d *Daemon) rekeyIKE(sa *ikeSA, saP *ike.SA, ni []byte, ke *ike.KE, nr []byte) []ike.Payload {
	gw := sa.gw
	s, prop, ok := suite.Match(saP.Proposals, ike.ProtoIKE, gw.Proposals, gw.DHGroups, true)
	if !ok || len(prop.SPI) != 8 {
		return []ike.Payload{notify(ike.NotifyNoProposalChosen, nil)}
	}
	ourKE, shared, refused := keyExchange(s.DHGroup, ke)
	if refused != nil {
		return []ike.Payload{*refused}
	}
	n := d.successor(sa, s, binary.BigEndian.Uint64(prop.SPI), ike.NewIKESPI(), false)
	n.keys = suite.DeriveRekeyedIKE(sa.keys, s, shared, ni, nr, n.spiI, n.spiR)
	d.replaceIKE(sa, n)
	d.log.Printf(1, "%s rekeyed IKE SA %016x/%016x -> %016x/%016x", prefix(sa.name, sa.serial), sa.spiI, sa.spiR, n.spiI, n.spiR)
	return []ike.Payload{
		{Type: ike.PayloadSA, Body: &ike.SA{Proposals: []ike.Proposal{{Number: prop.Number, Protocol: ike.ProtoIKE, SPI: binary.BigEndian.AppendUint64(nil, n.spiR), Transforms: s.Transforms(ike.ProtoIKE)}}}},
		{Type: ike.PayloadNonce, Body: &ike.Nonce{Data: nr}},
		{Type: ike.PayloadKE, Body: ourKE},
	}
}

// cookie is the stateless cookie of RFC 7296 §2.6: a keyed hash of the
// peer's nonce, address and SPI.
func (d *Daemon) cookie(ni []byte, peer netip.AddrPort, spii uint64) []byte {
	m := hmac.New(sha256.New, d.cookieSecret)
	m.Write(ni)
	m.Write(peer.Addr().Unmap().AsSlice())
	binary.Write(m, binary.BigEndian, spii)
	return m.Sum(nil)[:16]
}
