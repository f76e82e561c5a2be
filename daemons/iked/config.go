package iked

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons/iked/suite"
)

// Tables iked reads.
const (
	tablePhase1   = "vpn ipsec phase1-interface"
	tablePhase2   = "vpn ipsec phase2-interface"
	tableSettings = "system settings"
	tableIface    = "system interface"
	tableAddress  = "firewall address"
	tableDNS      = "system dns"
)

// Phase1 is a phase1-interface in iked's own types.
type Phase1 struct {
	Name      string
	Dynamic   bool
	Interface string
	// NetworkID is network-id (0 without network-overlay enable);
	// NATTKeepalive the NAT-T keepalive interval ("natt: … interval=").
	NetworkID     int
	NATTKeepalive time.Duration
	IKEVersion    int
	RemoteGW      netip.Addr
	Proposals     []suite.Suite
	DHGroups      []uint16
	PSK           []byte
	Keylife       time.Duration
	Reauth        bool
	DPD           string // disable | on-idle | on-demand
	DPDRetry      time.Duration
	DPDCount      int
	LocalID       string
	NATT          string // enable | disable | forced
	ModeCfg       bool
	PoolStart     netip.Addr
	PoolEnd       netip.Addr
	Netmask       netip.Addr
	DNS           []netip.Addr // dns-mode manual: ipv4-dns-server1-3; auto: system dns
	DNSAuto       bool
	Split         []netip.Prefix
	EAP           bool
	// EAPIdentity asks the peer for its EAP identity (eap-identity
	// send-request) instead of taking the IKE ID.
	EAPIdentity bool
	AuthGroup   string // authusrgrp
	// Transport is udp, tcp (RFC 9329 on ike-tcp-port) or auto (both:
	// the peer chooses, FortiClient's "Auto (UDP fallback TCP)")
	Transport string
	// EMSSNCheck (ems-sn-check): the FortiClient's EMS serial must be an
	// EMS of this FortiGate. ZTNATags (remote-gw-match ztna) are the
	// remote-gw-ztna-tags in order, tag groups replaced by their members:
	// the IP FortiClient reports must resolve one of them.
	EMSSNCheck bool
	ZTNAMatch  bool
	ZTNATags   []string
	Phase2s    []*Phase2
	// Revision is the configuration revision this was read at.
	Revision uint64
}

// Phase2 is a phase2-interface.
type Phase2 struct {
	Name      string
	Proposals []suite.Suite
	PFS       bool
	DHGroups  []uint16
	Keylife   time.Duration
	Local     netip.Prefix // src-subnet: this side
	Remote    netip.Prefix // dst-subnet: the peer's side
}

// Config is everything iked runs on.
type Config struct {
	Phase1s   map[string]*Phase1
	Order     []string // phase1 names in configuration order
	IKETCPort int
	Revision  uint64
	// Users are the enabled password users (user local) and Groups the
	// user groups' members, for EAP.
	Users  map[string][]byte
	Groups map[string][]string
	// SAMLServers are the `user saml` entries: a group with one as member
	// takes the SAML logins authd made through it.
	SAMLServers map[string]bool
	// PolicyGroups are the user groups of the firewall policies whose
	// srcintf is a phase1, by phase1: who may dial a phase1 without
	// authusrgrp (seed 000 puts the SAML group in the policy).
	PolicyGroups map[string][]string
	// Interfaces are the static addresses of "system interface" (invalid
	// when an interface has none), where IKE listens for its phase1s, and
	// IfIndex their indexes (FortiOS's "interface: port1 9": fosim numbers
	// them in table order from 3, after the unit's loopback and root
	// interfaces).
	Interfaces map[string]netip.Addr
	IfIndex    map[string]int
	// TunnelIfIndex numbers the phase1s' tunnel interfaces after the
	// system interfaces, in configuration order ("oif Dialup-TimeOut(28)").
	TunnelIfIndex map[string]int
}

// reader reads the configuration (cmdb.Reader).
type reader struct{ cmdb.Reader }

func (r reader) seconds(table string, e *cmdb.Entry, attr string) time.Duration {
	n, _ := strconv.Atoi(r.Value(table, e, attr))
	return time.Duration(n) * time.Second
}

func groups(vals []string) []uint16 {
	var out []uint16
	for _, v := range vals {
		if n, err := strconv.Atoi(v); err == nil {
			out = append(out, uint16(n))
		}
	}
	return out
}

// loadConfig reads iked's configuration from the running CMDB.
func loadConfig(st *cmdb.Store) (*Config, error) {
	cfg := &Config{Phase1s: map[string]*Phase1{}, IKETCPort: 443, Users: map[string][]byte{}, Groups: map[string][]string{}, SAMLServers: map[string]bool{}, PolicyGroups: map[string][]string{}, Interfaces: map[string]netip.Addr{}, IfIndex: map[string]int{}, TunnelIfIndex: map[string]int{}}
	var err error
	// One read lock for the view, its revision and its key: a second
	// store call under the lock could deadlock behind a waiting commit.
	st.ReadCommitted(func(v cmdb.View, revision uint64, secrets *cmdb.Secrets) {
		err = readConfig(cfg, reader{cmdb.Reader{Schema: st.Schema(), View: v}}, secrets)
		cfg.Revision = revision
	})
	for _, p := range cfg.Phase1s {
		p.Revision = cfg.Revision
	}
	return cfg, err
}

// interfaces reads each system interface's static address (invalid when
// it has none) and its index.
func (r reader) interfaces() (addrs map[string]netip.Addr, index map[string]int) {
	addrs, index = map[string]netip.Addr{}, map[string]int{}
	rows := r.View.Table(tableIface)
	if rows == nil {
		return addrs, index
	}
	for i, k := range rows.Keys {
		index[k] = i + 3
		e := rows.ByKey[k]
		var a netip.Addr
		if ip := r.Values(tableIface, e, "ip"); len(ip) == 2 && r.Value(tableIface, e, "mode") == "static" {
			a, _ = netip.ParseAddr(ip[0])
		}
		addrs[k] = a
	}
	return addrs, index
}

func readConfig(cfg *Config, r reader, sec *cmdb.Secrets) error {
	cfg.Interfaces, cfg.IfIndex = r.interfaces()
	if n, err := strconv.Atoi(r.Single(tableSettings, "ike-tcp-port")); err == nil {
		cfg.IKETCPort = n
	}
	// mode-cfg clients of a phase1 with dns-mode auto get the unit's DNS
	var systemDNS []netip.Addr
	for _, a := range []string{"primary", "secondary"} {
		if ip, err := netip.ParseAddr(r.Single(tableDNS, a)); err == nil && !ip.IsUnspecified() {
			systemDNS = append(systemDNS, ip)
		}
	}
	if users := r.View.Table("user local"); users != nil {
		for _, e := range users.Ordered() {
			if r.Value("user local", e, "status") == "disable" {
				continue
			}
			if enc := r.Values("user local", e, "passwd"); len(enc) == 2 && enc[0] == "ENC" {
				if plain, err := sec.Decrypt(enc[1]); err == nil {
					cfg.Users[e.Key] = []byte(plain)
				}
			}
		}
	}
	if groups := r.View.Table("user group"); groups != nil {
		for _, e := range groups.Ordered() {
			cfg.Groups[e.Key] = r.Values("user group", e, "member")
		}
	}
	if saml := r.View.Table("user saml"); saml != nil {
		for _, k := range saml.Keys {
			cfg.SAMLServers[k] = true
		}
	}
	if policies := r.View.Table("firewall policy"); policies != nil {
		for _, e := range policies.Ordered() {
			if r.Value("firewall policy", e, "status") == "disable" {
				continue
			}
			groups := r.Values("firewall policy", e, "groups")
			for _, in := range r.Values("firewall policy", e, "srcintf") {
				for _, g := range groups {
					if !slices.Contains(cfg.PolicyGroups[in], g) {
						cfg.PolicyGroups[in] = append(cfg.PolicyGroups[in], g)
					}
				}
			}
		}
	}
	rows := r.View.Table(tablePhase1)
	if rows == nil {
		return nil
	}
	for _, e := range rows.Ordered() {
		p1, err := readPhase1(r, e, sec)
		if err != nil {
			return fmt.Errorf("phase1-interface %q: %w", e.Key, err)
		}
		if p1.ModeCfg && p1.DNSAuto {
			p1.DNS = systemDNS
		}
		cfg.Phase1s[p1.Name] = p1
		cfg.Order = append(cfg.Order, p1.Name)
		cfg.TunnelIfIndex[p1.Name] = 3 + len(cfg.IfIndex) + len(cfg.Order) - 1
	}
	if p2rows := r.View.Table(tablePhase2); p2rows != nil {
		for _, e := range p2rows.Ordered() {
			p2, p1name, err := readPhase2(r, e)
			if err != nil {
				return fmt.Errorf("phase2-interface %q: %w", e.Key, err)
			}
			if p1 := cfg.Phase1s[p1name]; p1 != nil {
				p1.Phase2s = append(p1.Phase2s, p2)
			}
		}
	}
	return nil
}

func readPhase1(r reader, e *cmdb.Entry, sec *cmdb.Secrets) (*Phase1, error) {
	const t = tablePhase1
	p := &Phase1{Name: e.Key}
	p.Dynamic = r.Value(t, e, "type") == "dynamic"
	p.Interface = r.Value(t, e, "interface")
	p.NetworkID, _ = strconv.Atoi(r.Value(t, e, "network-id"))
	p.NATTKeepalive = r.seconds(t, e, "keepalive")
	p.IKEVersion, _ = strconv.Atoi(r.Value(t, e, "ike-version"))
	if gw, err := netip.ParseAddr(r.Value(t, e, "remote-gw")); err == nil {
		p.RemoteGW = gw
	}
	for _, name := range r.Values(t, e, "proposal") {
		s, err := suite.ParseIKE(name)
		if err != nil {
			continue // a proposal fosim cannot do is never chosen
		}
		p.Proposals = append(p.Proposals, s)
	}
	p.DHGroups = groups(r.Values(t, e, "dhgrp"))
	if enc := r.Values(t, e, "psksecret"); len(enc) == 2 && enc[0] == "ENC" {
		plain, err := sec.Decrypt(enc[1])
		if err != nil {
			return nil, err
		}
		p.PSK = []byte(plain)
	}
	p.Keylife = r.seconds(t, e, "keylife")
	p.Reauth = r.Value(t, e, "reauth") == "enable"
	p.DPD = r.Value(t, e, "dpd")
	p.DPDRetry = r.seconds(t, e, "dpd-retryinterval")
	p.DPDCount, _ = strconv.Atoi(r.Value(t, e, "dpd-retrycount"))
	p.LocalID = r.Value(t, e, "localid")
	p.NATT = r.Value(t, e, "nattraversal")
	p.EAP = r.Value(t, e, "eap") == "enable"
	p.EAPIdentity = r.Value(t, e, "eap-identity") == "send-request"
	p.AuthGroup = r.Value(t, e, "authusrgrp")
	if p.Transport = r.Value(t, e, "transport"); p.Transport == "" {
		p.Transport = "udp" // IKEv1: the attribute does not exist
	}
	p.EMSSNCheck = r.Value(t, e, "ems-sn-check") == "enable"
	if p.Dynamic && r.Value(t, e, "remote-gw-match") == "ztna" {
		p.ZTNAMatch = true
		p.ZTNATags = r.ztnaTags(r.Values(t, e, "remote-gw-ztna-tags"))
	}
	p.ModeCfg = r.Value(t, e, "mode-cfg") == "enable"
	if p.ModeCfg {
		switch r.Value(t, e, "assign-ip-from") {
		case "name":
			p.PoolStart, p.PoolEnd = r.addressRange(r.Value(t, e, "ipv4-name"))
		default:
			p.PoolStart, _ = netip.ParseAddr(r.Value(t, e, "ipv4-start-ip"))
			p.PoolEnd, _ = netip.ParseAddr(r.Value(t, e, "ipv4-end-ip"))
		}
		p.Netmask, _ = netip.ParseAddr(r.Value(t, e, "ipv4-netmask"))
		p.DNSAuto = r.Value(t, e, "dns-mode") == "auto"
		if !p.DNSAuto {
			for _, a := range []string{"ipv4-dns-server1", "ipv4-dns-server2", "ipv4-dns-server3"} {
				if ip, err := netip.ParseAddr(r.Value(t, e, a)); err == nil && !ip.IsUnspecified() {
					p.DNS = append(p.DNS, ip)
				}
			}
		}
		if inc := r.Value(t, e, "ipv4-split-include"); inc != "" {
			p.Split = r.addressPrefixes(inc)
		}
	}
	return p, nil
}

func readPhase2(r reader, e *cmdb.Entry) (*Phase2, string, error) {
	const t = tablePhase2
	p := &Phase2{Name: e.Key}
	for _, name := range r.Values(t, e, "proposal") {
		s, err := suite.ParseESP(name)
		if err != nil {
			continue
		}
		p.Proposals = append(p.Proposals, s)
	}
	p.PFS = r.Value(t, e, "pfs") == "enable"
	if p.PFS {
		p.DHGroups = groups(r.Values(t, e, "dhgrp"))
	}
	p.Keylife = r.seconds(t, e, "keylifeseconds")
	p.Local = subnet(r.Values(t, e, "src-subnet"))
	p.Remote = subnet(r.Values(t, e, "dst-subnet"))
	return p, r.Value(t, e, "phase1name"), nil
}

func subnet(v []string) netip.Prefix {
	if p, ok := cmdb.IPv4MaskPrefix(v); ok {
		return p
	}
	return netip.MustParsePrefix("0.0.0.0/0")
}

// addressRange reads an iprange (or subnet) firewall address as a pool.
func (r reader) addressRange(name string) (netip.Addr, netip.Addr) {
	e := r.View.Entry(tableAddress, name)
	if e == nil {
		return netip.Addr{}, netip.Addr{}
	}
	if r.Value(tableAddress, e, "type") == "iprange" {
		a, _ := netip.ParseAddr(r.Value(tableAddress, e, "start-ip"))
		b, _ := netip.ParseAddr(r.Value(tableAddress, e, "end-ip"))
		return a, b
	}
	p := subnet(r.Values(tableAddress, e, "subnet"))
	return p.Addr(), lastAddr(p)
}

// addressPrefixes reads a firewall address (or group) as prefixes for a
// split-include list.
func (r reader) addressPrefixes(name string) []netip.Prefix {
	if e := r.View.Entry(tableAddress, name); e != nil {
		if r.Value(tableAddress, e, "type") == "ipmask" {
			return []netip.Prefix{subnet(r.Values(tableAddress, e, "subnet"))}
		}
		return nil
	}
	if e := r.View.Entry("firewall addrgrp", name); e != nil {
		var out []netip.Prefix
		for _, m := range r.Values("firewall addrgrp", e, "member") {
			out = append(out, r.addressPrefixes(m)...)
		}
		return out
	}
	return nil
}

// ztnaTags lists tag addresses in order, a group (category ztna-ems-tag)
// standing for its members, nested groups too (depth-bounded, so a loop of
// groups ends).
func (r reader) ztnaTags(names []string) []string {
	var out []string
	var walk func(names []string, depth int)
	walk = func(names []string, depth int) {
		for _, n := range names {
			g := r.View.Entry("firewall addrgrp", n)
			switch {
			case g == nil:
				if !slices.Contains(out, n) {
					out = append(out, n)
				}
			case depth < maxGroupDepth:
				walk(r.Values("firewall addrgrp", g, "member"), depth+1)
			}
		}
	}
	walk(names, 0)
	return out
}

// maxGroupDepth bounds address group nesting as read by iked.
const maxGroupDepth = 8

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
