package iked

import (
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/fosim/fosim/daemons/iked/ike"
	"github.com/fosim/fosim/daemons/iked/suite"
)

// Lifetimes: phase1 keylife (iked rekeys the IKE SA, or with reauth tears
// the tunnel down), phase2 keylifeseconds (iked rekeys each child SA at its
// soft lifetime) and dead peer detection, all on the appliance clock.

// childSoftLifetime is when iked starts rekeying a child SA: a little before
// the hard lifetime, as FortiOS does (seed 002 shows a soft expiry about
// 1/80 of the 43200 s keylife before the hard one).
func childSoftLifetime(keylife time.Duration) time.Duration {
	return keylife - keylife/80
}

// successor is the IKE SA that replaces sa after a rekey: same tunnel, new
// SPIs and keys, message IDs from zero.
func (d *Daemon) successor(sa *ikeSA, s suite.Suite, spiI, spiR uint64, initiator bool) *ikeSA {
	return &ikeSA{gw: sa.gw, name: sa.name, index: sa.index, serial: sa.serial, tunnelSerial: sa.tunnelSerial, state: stateEstablished,
		spiI: spiI, spiR: spiR, initiator: initiator, suite: s,
		path: sa.path, local: sa.local, peer: sa.peer, ifIndex: sa.ifIndex, natMe: sa.natMe, natPeer: sa.natPeer,
		peerID: sa.peerID, created: sa.created, estab: d.now(), setupDur: sa.setupDur,
		eapUser: sa.eapUser, fctUID: sa.fctUID, fct: sa.fct, dpdSent: sa.dpdSent, dpdRecv: sa.dpdRecv, lastRecv: d.now(),
		ikeTotal: max(sa.ikeTotal, 1) + 1, childTotal: sa.childTotal}
}

// replaceIKE hands sa's tunnel (child SAs, address, instance) to n and
// retires sa: it stays in the table only until its delete is exchanged.
func (d *Daemon) replaceIKE(sa, n *ikeSA) {
	n.children, n.assigned = sa.children, sa.assigned
	for _, c := range n.children {
		c.owner = n
	}
	sa.children, sa.assigned, sa.rekeyed, sa.rekeying = nil, netip.Addr{}, true, false
	sa.stopTimers()
	d.sas[n.ourSPI()] = n
	if tc := n.path.tcp; tc != nil {
		d.attach(tc, n)
	}
	d.armKeylife(n)
	d.armDPD(n)
	// child rekeys that waited behind the IKE exchange go on the new SA
	for _, c := range n.children {
		if c.rekeying {
			c.rekeying = false
			d.rekeyChild(c)
		}
	}
}

// addChild attaches a new child SA and arms its rekey.
func (d *Daemon) addChild(sa *ikeSA, c *childSA) {
	c.owner = sa
	if c.serial == 0 {
		d.childSerial++
		c.serial = d.childSerial
	}
	sa.children = append(sa.children, c)
	sa.childTotal++
	d.esp[c.spiIn] = c
	if c.phase2 == nil || c.phase2.Keylife <= 0 {
		return
	}
	c.rekeyTimer = d.rt.Clock.AfterFunc(childSoftLifetime(c.phase2.Keylife), func() {
		d.mu.Lock()
		defer d.unlock()
		d.rekeyChild(c)
	})
}

// armKeylife schedules the IKE SA's expiry: with reauth the tunnel is torn
// down (seed 001), else iked rekeys the IKE SA and the tunnel stays up.
func (d *Daemon) armKeylife(sa *ikeSA) {
	if sa.gw.Keylife <= 0 {
		return
	}
	sa.timers = append(sa.timers, d.rt.Clock.AfterFunc(sa.gw.Keylife, func() {
		d.mu.Lock()
		defer d.unlock()
		if d.sas[sa.ourSPI()] != sa || sa.state != stateEstablished || sa.rekeyed {
			return
		}
		pre := prefix(sa.name, sa.serial)
		if sa.gw.Reauth {
			d.log.Printf(1, "%s expiring IKE SA %016x/%016x", pre, sa.spiI, sa.spiR)
			d.deleteSALocked(sa, true)
			delete(d.sas, sa.ourSPI())
			return
		}
		d.rekeyIKEOurs(sa)
	}))
}

// rekeyIKEOurs replaces the IKE SA by CREATE_CHILD_SA (RFC 7296 §1.3.2)
// with the same proposal and a fresh Diffie-Hellman, then deletes the old
// SA. iked is the initiator of the new SA. A peer that never answers loses
// the tunnel.
func (d *Daemon) rekeyIKEOurs(sa *ikeSA) {
	pre := prefix(sa.name, sa.serial)
	s := sa.suite
	dh, err := suite.NewDH(s.DHGroup)
	if err != nil {
		d.log.Printf(1, "%s IKE SA rekey: %v", pre, err)
		return
	}
	ni := make([]byte, 32)
	rand.Read(ni)
	newSPI := ike.NewIKESPI()
	sa.rekeying = true
	d.log.Printf(1, "%s IKE SA %016x/%016x keylife expired, initiator rekeying", pre, sa.spiI, sa.spiR)
	payloads := func() []ike.Payload {
		return []ike.Payload{
			{Type: ike.PayloadSA, Body: &ike.SA{Proposals: []ike.Proposal{{Number: 1, Protocol: ike.ProtoIKE, SPI: binary.BigEndian.AppendUint64(nil, newSPI), Transforms: s.Transforms(ike.ProtoIKE)}}}},
			{Type: ike.PayloadNonce, Body: &ike.Nonce{Data: ni}},
			{Type: ike.PayloadKE, Body: &ike.KE{Group: s.DHGroup, Data: dh.Public()}},
		}
	}
	d.startRequest(sa, ike.CREATE_CHILD_SA, payloads, outstanding{
		onReply: func(in []ike.Payload) {
			sa.rekeying = false
			if n := ike.FirstError(in); n != nil {
				d.log.Printf(1, "%s IKE SA rekey refused by the peer: %s", pre, ike.NotifyName(n.Type))
				if n.Type != ike.NotifyTemporaryFailure {
					d.expireIKE(sa)
				}
				return
			}
			saP := ike.Get[*ike.SA](in, ike.PayloadSA)
			nonce := ike.Get[*ike.Nonce](in, ike.PayloadNonce)
			ke := ike.Get[*ike.KE](in, ike.PayloadKE)
			if saP == nil || nonce == nil || ke == nil || len(saP.Proposals) != 1 || len(saP.Proposals[0].SPI) != 8 || ke.Group != s.DHGroup {
				d.log.Printf(1, "%s IKE SA rekey: malformed response", pre)
				d.expireIKE(sa)
				return
			}
			if _, _, ok := suite.Match(saP.Proposals, ike.ProtoIKE, []suite.Suite{s}, []uint16{s.DHGroup}, true); !ok {
				d.log.Printf(1, "%s IKE SA rekey: the peer chose a proposal iked did not offer", pre)
				d.expireIKE(sa)
				return
			}
			shared, err := dh.Shared(ke.Data)
			if err != nil {
				d.expireIKE(sa)
				return
			}
			n := d.successor(sa, s, newSPI, binary.BigEndian.Uint64(saP.Proposals[0].SPI), true)
			n.keys = suite.DeriveRekeyedIKE(sa.keys, s, shared, ni, nonce.Data, n.spiI, n.spiR)
			d.replaceIKE(sa, n)
			d.log.Printf(1, "%s rekeyed IKE SA %016x/%016x -> %016x/%016x", pre, sa.spiI, sa.spiR, n.spiI, n.spiR)
			// the rekey's initiator deletes the old SA (RFC 7296 §2.18)
			d.startRequest(sa, ike.INFORMATIONAL, deleteIKEPayload, outstanding{
				onReply:  func([]ike.Payload) { d.retire(sa) },
				onGiveUp: func() { d.retire(sa) },
			})
		},
		onGiveUp: func() {
			sa.rekeying = false
			d.log.Printf(1, "%s IKE SA rekey: no answer from the peer", pre)
			d.expireIKE(sa)
		},
	})
}

func deleteIKEPayload() []ike.Payload {
	return []ike.Payload{{Type: ike.PayloadDelete, Body: &ike.Delete{Protocol: ike.ProtoIKE}}}
}

// expireIKE takes a tunnel down whose IKE SA could not be renewed.
func (d *Daemon) expireIKE(sa *ikeSA) {
	if d.sas[sa.ourSPI()] != sa || sa.state != stateEstablished {
		return
	}
	d.log.Printf(1, "%s expiring IKE SA %016x/%016x", prefix(sa.name, sa.serial), sa.spiI, sa.spiR)
	d.deleteSALocked(sa, true)
	delete(d.sas, sa.ourSPI())
}

// retire removes an IKE SA replaced by a rekey.
func (d *Daemon) retire(sa *ikeSA) {
	if d.sas[sa.ourSPI()] == sa {
		delete(d.sas, sa.ourSPI())
	}
	sa.state = stateDeleted
}

// rekeyChild replaces a child SA at its soft lifetime (RFC 7296 §1.3.3):
// CREATE_CHILD_SA with REKEY_SA, the phase2's PFS group when pfs is
// enabled, then a delete of the old child.
func (d *Daemon) rekeyChild(c *childSA) {
	sa := c.owner
	if sa == nil || d.sas[sa.ourSPI()] != sa || sa.state != stateEstablished || sa.rekeyed || !sa.hasChild(c) || c.rekeying {
		return
	}
	// A child made in IKE_AUTH had no key exchange of its own: with pfs
	// enabled its rekey carries the phase2's first group.
	group := c.suite.DHGroup
	if group == 0 && c.phase2.PFS && len(c.phase2.DHGroups) > 0 {
		group = c.phase2.DHGroups[0]
	}
	d.sendChildRekey(sa, c, group, false)
}

func (d *Daemon) sendChildRekey(sa *ikeSA, c *childSA, group uint16, retried bool) {
	pre := prefix(sa.name, sa.serial)
	s := c.suite
	s.DHGroup = group
	var dh suite.DH
	if s.DHGroup != 0 {
		var err error
		if dh, err = suite.NewDH(s.DHGroup); err != nil {
			d.log.Printf(1, "%s IPsec SA rekey: %v", pre, err)
			return
		}
	}
	ni := make([]byte, 32)
	rand.Read(ni)
	newIn := d.newESPSPI()
	c.rekeying = true
	d.log.Printf(1, "ike V=root:0:%s:%s: IPsec SA %08x/%08x soft expired, initiator rekeying", sa.name, c.phase2.Name, c.spiIn, c.spiOut)
	payloads := func() []ike.Payload {
		ps := []ike.Payload{
			{Type: ike.PayloadNotify, Body: &ike.Notify{Protocol: ike.ProtoESP, SPI: ike.ESPSPIBytes(c.spiIn), Type: ike.NotifyRekeySA}},
			{Type: ike.PayloadSA, Body: &ike.SA{Proposals: []ike.Proposal{{Number: 1, Protocol: ike.ProtoESP, SPI: ike.ESPSPIBytes(newIn), Transforms: s.Transforms(ike.ProtoESP)}}}},
			{Type: ike.PayloadNonce, Body: &ike.Nonce{Data: ni}},
		}
		if dh != nil {
			ps = append(ps, ike.Payload{Type: ike.PayloadKE, Body: &ike.KE{Group: s.DHGroup, Data: dh.Public()}})
		}
		// as the exchange's initiator, TSi is our side
		return append(ps,
			ike.Payload{Type: ike.PayloadTSi, Body: &ike.TS{Selectors: c.tsr}},
			ike.Payload{Type: ike.PayloadTSr, Body: &ike.TS{Selectors: c.tsi}})
	}
	fail := func(why string) {
		c.rekeying = false
		d.log.Printf(1, "ike V=root:0:%s:%s: IPsec SA rekey failed: %s", sa.name, c.phase2.Name, why)
		// the child lives until its hard lifetime, then goes
		c.stopTimer()
		c.rekeyTimer = d.rt.Clock.AfterFunc(c.phase2.Keylife-childSoftLifetime(c.phase2.Keylife), func() {
			d.mu.Lock()
			defer d.unlock()
			if d.sas[sa.ourSPI()] == sa && sa.hasChild(c) {
				d.deleteChild(sa, c)
			}
		})
	}
	d.startRequest(sa, ike.CREATE_CHILD_SA, payloads, outstanding{
		onReply: func(in []ike.Payload) {
			if n := ike.FirstError(in); n != nil {
				// the peer wants another of the phase2's groups: once more
				if n.Type == ike.NotifyInvalidKEPayload && len(n.Data) == 2 && !retried {
					want := binary.BigEndian.Uint16(n.Data)
					for _, g := range c.phase2.DHGroups {
						if g == want && c.phase2.PFS {
							c.rekeying = false
							d.sendChildRekey(sa, c, want, true)
							return
						}
					}
				}
				fail(ike.NotifyName(n.Type))
				return
			}
			saP := ike.Get[*ike.SA](in, ike.PayloadSA)
			nonce := ike.Get[*ike.Nonce](in, ike.PayloadNonce)
			if saP == nil || nonce == nil || len(saP.Proposals) != 1 || len(saP.Proposals[0].SPI) != 4 {
				fail("malformed response")
				return
			}
			if _, _, ok := suite.Match(saP.Proposals, ike.ProtoESP, []suite.Suite{s}, groupsOf(s), s.DHGroup != 0); !ok {
				fail("the peer chose a proposal iked did not offer")
				return
			}
			var shared []byte
			if dh != nil {
				ke := ike.Get[*ike.KE](in, ike.PayloadKE)
				if ke == nil || ke.Group != s.DHGroup {
					fail("no key exchange in the response")
					return
				}
				var err error
				if shared, err = dh.Shared(ke.Data); err != nil {
					fail(err.Error())
					return
				}
			}
			if d.sas[sa.ourSPI()] != sa || !sa.hasChild(c) {
				return // the tunnel went while the rekey was out
			}
			n := &childSA{phase2: c.phase2, suite: s, spiIn: newIn, spiOut: binary.BigEndian.Uint32(saP.Proposals[0].SPI),
				tsi: c.tsi, tsr: c.tsr, created: d.now()}
			if tsi := ike.Get[*ike.TS](in, ike.PayloadTSi); tsi != nil && len(tsi.Selectors) > 0 {
				n.tsr = tsi.Selectors
			}
			if tsr := ike.Get[*ike.TS](in, ike.PayloadTSr); tsr != nil && len(tsr.Selectors) > 0 {
				n.tsi = tsr.Selectors
			}
			// iked initiated this exchange: the first keys carry our traffic
			n.encOut, n.integOut, n.encIn, n.integIn = sa.keys.ChildKeys(s, shared, ni, nonce.Data)
			d.addChild(sa, n)
			d.log.Printf(1, "%s added IPsec SA: SPIs=%08x/%08x", childPrefix(sa, n), n.spiIn, n.spiOut)
			d.deleteChild(sa, c)
		},
		onGiveUp: func() { fail("no answer from the peer") },
	})
}

func groupsOf(s suite.Suite) []uint16 {
	if s.DHGroup == 0 {
		return nil
	}
	return []uint16{s.DHGroup}
}

func (sa *ikeSA) hasChild(c *childSA) bool {
	for _, x := range sa.children {
		if x == c {
			return true
		}
	}
	return false
}

// deleteChild tells the peer a child SA is gone (INFORMATIONAL delete of
// our inbound SPI) and drops it once answered.
func (d *Daemon) deleteChild(sa *ikeSA, c *childSA) {
	c.stopTimer()
	d.startRequest(sa, ike.INFORMATIONAL, func() []ike.Payload {
		return []ike.Payload{{Type: ike.PayloadDelete, Body: &ike.Delete{Protocol: ike.ProtoESP, SPISize: 4, SPIs: [][]byte{ike.ESPSPIBytes(c.spiIn)}}}}
	}, outstanding{
		onReply:  func([]ike.Payload) { d.removeChild(sa, c) },
		onGiveUp: func() { d.removeChild(sa, c) },
	})
}

// removeChild drops a child SA that was rekeyed and deleted.
func (d *Daemon) removeChild(sa *ikeSA, c *childSA) {
	for i, x := range sa.children {
		if x == c {
			d.forgetChild(c)
			c.stopTimer()
			sa.children = append(sa.children[:i], sa.children[i+1:]...)
			d.log.Printf(1, "ike V=root:0:%s:%s: deleted IPsec SA with SPI %08x, SA count: %d", sa.name, sa.gw.Name, c.spiOut, len(sa.children))
			return
		}
	}
}

// armDPD starts dead peer detection. "dpd on-idle": once nothing came from
// the peer for dpd-retryinterval, iked sends an empty INFORMATIONAL and
// resends it every dpd-retryinterval; dpd-retrycount probes without an
// answer take the tunnel down. "dpd on-demand" probes only when traffic
// goes out and nothing comes back; iked sends no ESP of its own, so, like a
// FortiGate with an idle tunnel, it never probes then (it still answers the
// peer's probes).
func (d *Daemon) armDPD(sa *ikeSA) {
	if sa.gw.DPD != "on-idle" || sa.gw.DPDRetry <= 0 {
		return
	}
	sa.dpdTimer = d.rt.Clock.AfterFunc(sa.gw.DPDRetry, func() { d.dpdTick(sa) })
}

func (d *Daemon) dpdTick(sa *ikeSA) {
	d.mu.Lock()
	defer d.unlock()
	if d.sas[sa.ourSPI()] != sa || sa.state != stateEstablished || sa.rekeyed {
		return
	}
	every := sa.gw.DPDRetry
	rearm := func(after time.Duration) {
		sa.dpdTimer = d.rt.Clock.AfterFunc(after, func() { d.dpdTick(sa) })
	}
	idle := d.now().Sub(sa.lastRecv)
	if idle < every {
		rearm(every - idle)
		return
	}
	if sa.pending != nil {
		// a request of ours is out: its retransmits are the liveness check
		rearm(every)
		return
	}
	tries := max(sa.gw.DPDCount, 1)
	schedule := make([]time.Duration, tries)
	for i := range schedule {
		schedule[i] = every
	}
	d.startRequest(sa, ike.INFORMATIONAL, func() []ike.Payload { return nil }, outstanding{
		schedule: schedule,
		onSend:   func() { sa.dpdSent++ },
		onReply: func([]ike.Payload) {
			sa.dpdRecv++
			rearm(every)
		},
		onGiveUp: func() {
			d.log.Printf(1, "%s DPD: no answer to %d probes, peer is dead", prefix(sa.name, sa.serial), tries)
			d.deleteSALocked(sa, false)
			delete(d.sas, sa.ourSPI())
		},
	})
}
