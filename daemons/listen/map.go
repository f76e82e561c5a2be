package listen

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
)

// Map says where the appliance's interfaces (port1 … port10) are on the
// host fosim runs on. An interface listens on its configured address when
// that address exists on the host; a lab that cannot give the host those
// addresses maps interfaces to addresses it has (loopback aliases such as
// 127.0.0.2, an address inside a network namespace the lab made) with
// "--map port1=127.0.0.1". An unprivileged user adds PortOffset to every
// port below 1024 (SSH 22 → 10022 with 10000); a port is never moved
// silently: without an offset a port that cannot be bound is an error.
type Map struct {
	Iface      map[string]netip.Addr
	PortOffset int
}

// ParseMapping reads "port1=127.0.0.1".
func (m *Map) ParseMapping(s string) error {
	name, addr, ok := strings.Cut(s, "=")
	a, err := netip.ParseAddr(addr)
	if !ok || name == "" || err != nil || !a.Is4() {
		return fmt.Errorf("bad interface mapping %q (want port1=IPv4)", s)
	}
	if m.Iface == nil {
		m.Iface = map[string]netip.Addr{}
	}
	m.Iface[name] = a
	return nil
}

// String lists the mappings ("port1=127.0.0.1 port2=127.0.0.2").
func (m *Map) String() string {
	if m == nil {
		return ""
	}
	var out []string
	for n, a := range m.Iface {
		out = append(out, n+"="+a.String())
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// Addr is where interface name listens: its mapping, else its configured
// address when the host has it.
func (m *Map) Addr(name string, configured netip.Addr) (netip.Addr, bool) {
	if m != nil {
		if a, ok := m.Iface[name]; ok {
			return a, true
		}
	}
	if configured.IsValid() && !configured.IsUnspecified() && onHost(configured) {
		return configured, true
	}
	return netip.Addr{}, false
}

// Port is where a configured port listens.
func (m *Map) Port(p int) int {
	if m != nil && p < 1024 {
		return p + m.PortOffset
	}
	return p
}

func onHost(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if p, err := netip.ParsePrefix(x.String()); err == nil && p.Addr() == a {
			return true
		}
	}
	return false
}

// Listen is where a service on port listens for ifaces (interface →
// configured address): the host addresses the map gives them, port
// offset, each labelled by its interface (the first name, where several
// share a host address).
func (m *Map) Listen(ifaces map[string]netip.Addr, port int) map[netip.AddrPort]string {
	out := map[netip.AddrPort]string{}
	p := uint16(m.Port(port))
	for name, configured := range ifaces {
		a, ok := m.Addr(name, configured)
		if !ok {
			continue
		}
		ap := netip.AddrPortFrom(a, p)
		if old, taken := out[ap]; !taken || name < old {
			out[ap] = name
		}
	}
	return out
}
