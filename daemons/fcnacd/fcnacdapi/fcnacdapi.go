// Package fcnacdapi holds the query types of fcnacd, the EMS connector:
// what the CLI, the REST API and iked see of its state. They are
// snapshots, copied under fcnacd's lock; nothing in them points back into
// the daemon.
package fcnacdapi

import (
	"context"
	"net/netip"
	"time"

	"github.com/fosim/fosim/daemons/fcnacd/ztnatoken"
)

// Connector is what fcnacd answers.
type Connector interface {
	// EMSs lists the configured EMS connections in ems-id order.
	EMSs() []EMS
	// Endpoints lists the endpoint records synced from every EMS
	// ("diagnose endpoint ec-shm list"), by EMS then IP.
	Endpoints() []Endpoint
	// Dynamic lists the EMS tag addresses and what they resolve to now
	// ("diagnose firewall dynamic list"), by name.
	Dynamic() []DynamicAddress

	// TagsOf lists the CMDB names of the EMS tag addresses (obj-type ip)
	// that resolve ip now: "EMS1_ZTNA_all_registered_clients" … This is
	// iked's remote-gw-match ztna check: the ip is the one FortiClient
	// reports, not the NAT'd one.
	TagsOf(ip netip.Addr) []string
	// KnownSerial tells whether an enabled EMS has this serial number
	// (ems-sn-check) and which ems-id it is.
	KnownSerial(serial string) (emsID int, ok bool)
	// VerifyToken checks a ZTNA token from FortiClient against the
	// certificate of the EMS with serial (the FCT data's EMSSN), on the
	// appliance clock, for the FortiClient uid. The tag names of the
	// result are EMS tag names ("all_registered_clients"); TagName maps
	// them to CMDB names.
	VerifyToken(token, serial, uid string) (*ztnatoken.Token, error)
	// TagName is the CMDB name of tag of the EMS with serial
	// ("EMS1_ZTNA_a"), false when no enabled EMS has that serial.
	TagName(serial, tag string) (string, bool)

	// TunnelDown tells the EMSs that a FortiClient's VPN tunnel went
	// down (seed 001's "sent tunnel-down message to EMS"), in the
	// background: false when no EMS is enabled, so nothing is sent.
	TunnelDown(TunnelEvent) bool

	// FetchCertificate connects to an EMS as configured now and returns
	// its certificate and identity, trusted or not ("execute fctems
	// verify").
	FetchCertificate(ctx context.Context, emsID int) (*Certificate, error)
}

// State is an EMS connection's state.
type State string

const (
	StateDisabled     State = "disabled"
	StateConnecting   State = "connecting"
	StateConnected    State = "connected"
	StateDisconnected State = "disconnected"
	// StateUntrusted: the EMS answered with a certificate that is not in
	// the trusted remote certificates (execute fctems verify adds it).
	StateUntrusted State = "untrusted"
	// StateMismatched: the EMS's serial number is not serial-number.
	StateMismatched State = "mismatched-ems-sn"
)

// EMS is one configured EMS connection.
type EMS struct {
	ID     int
	Name   string
	Server string
	Port   int
	State  State
	// Serial, TenantID and Version are what the EMS said.
	Serial, TenantID, Version string
	// LastError says why the connection is not up.
	LastError string
	// Connected is when the current connection came up; LastSync the last
	// full sync; LastPush the last push received.
	Connected, LastSync, LastPush time.Time
	// Disconnected is when the connection went down (zero while up).
	Disconnected time.Time
	// OutOfSync: down longer than out-of-sync-threshold, its records no
	// longer resolve tags.
	OutOfSync bool
	Websocket bool
	Endpoints int
	Tags      int
	// Pushes counts the updates received over the WebSocket.
	Pushes uint64
}

// Endpoint is one endpoint record from an EMS.
type Endpoint struct {
	EMSID            int
	EMSSerial        string
	TenantID         string
	UID              string
	IP               netip.Addr
	PublicIP         netip.Addr
	MACs             []string // the first is the endpoint's MAC address
	Host, User, OS   string
	FCTVersion       string
	Registered       bool
	Online           bool
	OnNet            bool
	Quarantined      bool
	CertSN           string
	Tags             []string // EMS tag names
	GatewayInterface string   // the interface whose subnet holds IP
	OutOfSync        bool
}

// DynamicAddress is one EMS tag address of the CMDB and what it resolves.
type DynamicAddress struct {
	Name  string // EMS1_ZTNA_<tag>, MAC_EMS1_ZTNA_<tag>
	Tag   string
	EMSID int
	// ID is fcnacd's number for the object ("ID(6)"), stable while the
	// appliance runs.
	ID    int
	MAC   bool
	Addrs []netip.Addr // obj-type ip
	MACs  []string     // obj-type mac
	// Stale: the EMS no longer has the tag, but a policy or phase1 still
	// names the address, so it stays (resolving nothing).
	Stale bool
}

// Certificate is what an EMS presented.
type Certificate struct {
	Subject, Issuer     string
	NotBefore, NotAfter time.Time
	// Fingerprint is the SHA-256 of the certificate, upper-case hex.
	Fingerprint string
	PEM         []byte
	Trusted     bool
	// What the EMS said about itself.
	Serial, TenantID, Version string
	Capabilities              []string
}

// TunnelEvent is a FortiClient's tunnel going down.
type TunnelEvent struct {
	UID       string     // the FortiClient UID
	Interface string     // the dial-up instance ("Dialup-TimeOut_0")
	Addr      netip.Addr // the mode-cfg address it had (invalid: none)
	VDOM      string
}
