package iked

import (
	"net/netip"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/daemons/iked/fctdata"
	"github.com/fosim/fosim/daemons/iked/ike"
	"github.com/fosim/fosim/daemons/iked/ikeapi"
	"github.com/fosim/fosim/daemons/iked/suite"
)

type saState int

const (
	stateInit        saState = iota // IKE_SA_INIT answered, waiting for IKE_AUTH
	stateEstablished                // authenticated
	stateDeleted                    // torn down
)

// ikeSA is one IKE SA iked answers for.
type ikeSA struct {
	gw    *Phase1
	name  string // "dialup_0" for a dial-up instance, the phase1 name else
	index int    // dial-up instance index
	// tunnelSerial is the tunnel's number in the tunnel list
	tunnelSerial int
	serial       int
	state        saState

	spiI, spiR uint64
	// initiator: iked is the original initiator of this IKE SA, which
	// happens after iked rekeyed it (RFC 7296 §2.18: the rekey's initiator
	// initiates the new SA). It picks the keys and the header flag.
	initiator bool
	suite     suite.Suite
	keys      *suite.Keys
	ni, nr    []byte
	initReq   []byte // raw IKE_SA_INIT request and response, for AUTH
	initResp  []byte

	half        halfKey // its key in Daemon.halfOpen until IKE_AUTH
	path        path    // how messages go back to the peer
	local, peer netip.AddrPort
	ifIndex     int  // of the interface the SA came on
	natMe       bool // this side is behind NAT
	natPeer     bool // the peer is

	peerID   *ike.ID
	created  time.Time
	estab    time.Time
	setupDur time.Duration

	nextMsgID uint32 // next request id expected from the peer
	lastResp  []byte // response to the last request, for retransmits
	lastID    uint32
	ourMsgID  uint32 // message ID of our next request
	pending   *outstanding
	queue     []queuedRequest
	rekeying  bool // our CREATE_CHILD_SA rekey of this IKE SA is in flight
	// ikeTotal and childTotal count the IKE and child SAs this tunnel has
	// had (rekeys included), for "created 1/3" in the gateway list
	ikeTotal, childTotal int

	children []*childSA
	rekeyed  bool // replaced by a new IKE SA (CREATE_CHILD_SA rekey)
	eap      *eapState
	eapUser  string
	fctUID   string // the FortiClient UID of a SAML login or of the FCT data
	// fct is the FortiClient's FCT data (FORTICLIENT_CONNECT), ztnaToken
	// its ZTNA_TAG JWT, and tokenCheck says the tags must come from that
	// token (the EMS resolved none of the phase1's)
	fct        *fctdata.Data
	ztnaToken  string
	tokenCheck bool
	assigned   netip.Addr
	timers     []*clock.Timer
	lastRecv   time.Time
	dpdSent    int
	dpdRecv    int
	dpdMissed  int
	dpdTimer   *clock.Timer
}

// childSA is an IPsec SA pair negotiated under an IKE SA.
type childSA struct {
	owner                            *ikeSA // the IKE SA it lives under now
	serial                           int    // iked's count of child SAs, in its log lines
	phase2                           *Phase2
	suite                            suite.Suite
	spiIn                            uint32 // ours: the peer sends with it
	spiOut                           uint32 // the peer's
	tsi                              []ike.Selector
	tsr                              []ike.Selector
	created                          time.Time
	encIn, integIn, encOut, integOut []byte
	// rekeyTimer fires at the soft lifetime: iked rekeys the child
	rekeyTimer *clock.Timer
	rekeying   bool
	// ESP received from the peer: verified packets, their inner bytes,
	// packets that failed (integrity, format), the last one's time
	rxPackets, rxBytes, rxErrors uint64
	lastRx                       time.Time
	replay                       replayWindow
}

// ourSPI is the SPI iked chose for the IKE SA: its key in Daemon.sas.
func (sa *ikeSA) ourSPI() uint64 {
	if sa.initiator {
		return sa.spiI
	}
	return sa.spiR
}

// stopTimers stops every timer of the SA now (detachTimers hands them
// over to be stopped later instead).
func (sa *ikeSA) stopTimers() {
	for _, t := range sa.detachTimers(nil) {
		t.Stop()
	}
}

// detachTimers takes the SA's timers (its own, its children's, its pending
// request's) off it and appends them to into, to be stopped later, off the
// daemon's lock: a timer that fires first finds the SA gone and does
// nothing. A flush of many tunnels stays quick that way.
func (sa *ikeSA) detachTimers(into []*clock.Timer) []*clock.Timer {
	into = append(into, sa.timers...)
	sa.timers = nil
	if sa.dpdTimer != nil {
		into = append(into, sa.dpdTimer)
		sa.dpdTimer = nil
	}
	for _, c := range sa.children {
		if c.rekeyTimer != nil {
			into = append(into, c.rekeyTimer)
			c.rekeyTimer = nil
		}
	}
	if sa.pending != nil && sa.pending.timer != nil {
		into = append(into, sa.pending.timer)
	}
	sa.pending, sa.queue = nil, nil
	return into
}

func (c *childSA) stopTimer() {
	if c.rekeyTimer != nil {
		c.rekeyTimer.Stop()
		c.rekeyTimer = nil
	}
}

// Gateway and Child are iked's query types (package ikeapi), what the CLI
// and the REST API see of its state.
type (
	Gateway = ikeapi.Gateway
	Child   = ikeapi.Child
)

func (sa *ikeSA) snapshot(now time.Time) Gateway {
	g := Gateway{
		Name: sa.name, Parent: sa.gw.Name, Version: 2, Interface: sa.gw.Interface, IfIndex: sa.ifIndex,
		NetworkID: sa.gw.NetworkID, NATTKeepalive: sa.gw.NATTKeepalive,
		Local: sa.local, Peer: sa.peer, Transport: sa.path.transport(), Created: now.Sub(sa.created),
		AssignedIP: sa.assigned, Netmask: sa.gw.Netmask, NATMe: sa.natMe, NATPeer: sa.natPeer,
		Serial: sa.serial, SPIi: sa.spiI, SPIr: sa.spiR, Proposal: sa.suite.Name(),
		SetupTime: sa.setupDur, Lifetime: sa.gw.Keylife, DPDSent: sa.dpdSent, DPDRecv: sa.dpdRecv,
		TunnelSerial: sa.tunnelSerial,
		Connecting:   sa.state != stateEstablished, Index: sa.index, Dynamic: sa.gw.Dynamic, EAPUser: sa.eapUser, FortiClientUID: sa.fctUID,
		DPD: sa.gw.DPD, DPDRetry: sa.gw.DPDRetry, DPDCount: sa.gw.DPDCount,
		Initiator: sa.initiator, IKETotal: max(sa.ikeTotal, 1), IPsecTotal: sa.childTotal,
		MsgIDSent: sa.ourMsgID, MsgIDRecv: sa.nextMsgID,
	}
	if sa.keys != nil {
		g.SKei, g.SKer = clone(sa.keys.SKei), clone(sa.keys.SKer)
		g.SKai, g.SKar = clone(sa.keys.SKai), clone(sa.keys.SKar)
	}
	if sa.peerID != nil {
		g.PeerID = sa.peerID.Value()
	}
	if !sa.estab.IsZero() {
		g.Established = now.Sub(sa.estab)
		g.Rekey = sa.gw.Keylife - now.Sub(sa.estab)
	}
	g.TunID = sa.assigned
	if !g.TunID.IsValid() {
		g.TunID = sa.peer.Addr()
	}
	for _, c := range sa.children {
		lt := time.Duration(0)
		if c.phase2 != nil {
			lt = c.phase2.Keylife
		}
		name := sa.gw.Name
		if c.phase2 != nil {
			name = c.phase2.Name
		}
		g.Children = append(g.Children, Child{
			Name: name, Proposal: c.suite.Name(), SPIIn: c.spiIn, SPIOut: c.spiOut,
			Local: c.tsr, Remote: c.tsi, Lifetime: lt, Expires: lt - now.Sub(c.created),
			EncIn: clone(c.encIn), IntegIn: clone(c.integIn), EncOut: clone(c.encOut), IntegOut: clone(c.integOut),
			RxPackets: c.rxPackets, RxBytes: c.rxBytes, RxErrors: c.rxErrors, LastSeq: c.replay.top,
			SoftExpires: childSoftLifetime(lt) - now.Sub(c.created),
		})
		if !c.lastRx.IsZero() {
			g.Children[len(g.Children)-1].LastRx = now.Sub(c.lastRx)
		}
	}
	return g
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
