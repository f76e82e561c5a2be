// Package ikeapi holds the query types of iked: what the CLI and the
// REST API see of its state (gobgp's api package has the same job). They
// are snapshots, copied under iked's lock; nothing in them points back
// into the daemon.
package ikeapi

import (
	"net/netip"
	"time"

	"github.com/fosim/fosim/daemons/iked/ike"
)

// Gateway is the state "diagnose vpn ike gateway list" prints for one IKE
// SA: the CLI formats it.
type Gateway struct {
	Name      string
	Parent    string
	Version   int
	Interface string
	IfIndex   int // the interface's index ("interface: port1 9")
	NetworkID int
	// NATTKeepalive is the NAT-T keepalive interval of the phase1.
	NATTKeepalive time.Duration
	Local, Peer   netip.AddrPort
	TunID         netip.Addr
	Transport     string
	Created       time.Duration // ago
	PeerID        string
	AssignedIP    netip.Addr
	Netmask       netip.Addr
	NATMe         bool
	NATPeer       bool
	Serial        int // the IKE SA's, in the debug lines
	// TunnelSerial is the tunnel's in the tunnel list (after the phase1s)
	TunnelSerial int
	SPIi, SPIr   uint64
	Proposal     string
	Established  time.Duration // ago
	SetupTime    time.Duration
	Lifetime     time.Duration
	Rekey        time.Duration // time left before rekey
	DPDSent      int
	DPDRecv      int
	Connecting   bool
	EAPUser      string
	// FortiClientUID is the UID of the FortiClient that dialed after a
	// SAML login
	FortiClientUID string
	Children       []Child
	// the IKE SA keys, as FortiOS prints them
	SKei, SKer, SKai, SKar []byte
	Index                  int // dial-up instance index
	Dynamic                bool
	DPD                    string
	DPDRetry               time.Duration
	DPDCount               int
	// Initiator: iked initiated the current IKE SA (after its own rekey)
	Initiator bool
	// IKE and IPsec SAs created over the tunnel's life, rekeys included
	IKETotal, IPsecTotal int
	// message IDs: of iked's next request, of the peer's next request
	MsgIDSent, MsgIDRecv uint32
}

// Child is one IPsec SA of a gateway, for "diagnose vpn tunnel list".
type Child struct {
	Name          string
	Proposal      string
	SPIIn, SPIOut uint32
	Local, Remote []ike.Selector
	Lifetime      time.Duration
	Expires       time.Duration
	// keys: in = the peer to us, out = us to the peer
	EncIn, IntegIn, EncOut, IntegOut []byte
	// ESP from the peer that iked verified (it forwards nothing)
	RxPackets, RxBytes, RxErrors uint64
	LastRx                       time.Duration // ago; 0 when nothing came
	LastSeq                      uint32        // highest ESP sequence number verified
	SoftExpires                  time.Duration // until iked rekeys it
}

// Phase1 is what the CLI lists of a configured phase1 (tunnel list of
// dial-up parents).
type Phase1 struct {
	Name       string
	IKEVersion int
	Dynamic    bool
	Interface  string
	IfIndex    int
	// Serial numbers the phase1s in configuration order, from 1 (the
	// dial-up parent's "serial=" in the tunnel list).
	Serial int
	// Local is the interface's configured address (invalid when none).
	Local    netip.Addr
	DPD      string
	DPDRetry time.Duration
	DPDCount int
}
