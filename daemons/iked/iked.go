// Package iked is the appliance's IKEv2 daemon: a responder on UDP 500 and
// 4500 (NAT-T, RFC 3948 non-ESP marker) that FortiOS dial-up and
// site-to-site peers connect to, configured from vpn ipsec phase1-interface
// and phase2-interface, with the FortiOS debug lines and the state that
// "diagnose vpn ike gateway list" shows.
package iked

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/authd/authapi"
	"github.com/fosim/fosim/daemons/debuglog"
	"github.com/fosim/fosim/daemons/fcnacd/fcnacdapi"
	"github.com/fosim/fosim/daemons/iked/ike"
	"github.com/fosim/fosim/daemons/iked/ikeapi"
	"github.com/fosim/fosim/daemons/listen"
)

// Options set where iked listens. With Addr empty and a listener registry
// in the Runtime, iked listens on the address of every interface a phase1
// names (mapped to the host by the Runtime's Map), and a peer reaching one
// interface matches only that interface's phase1s, as on a FortiGate.
// With Addr set (fosim serve --ike-addr, tests) it listens there alone and
// every phase1 matches. Ports may be unprivileged for a lab or a test.
type Options struct {
	Addr     string // one address for every phase1; "" = the interfaces'
	Port     int    // default 500
	NATTPort int    // default 4500
	// CookieThreshold is the number of half-open IKE SAs above which iked
	// answers IKE_SA_INIT with a COOKIE first (RFC 7296 §2.6): default
	// 1000; negative demands cookies always.
	CookieThreshold int
	// SAML are the tokens of authd's SAML logins, which FortiClient
	// dials EAP with; nil: no SAML users.
	SAML authapi.Tokens
	// EMS is fcnacd, the EMS connector: the tags, EMS serial numbers and
	// ZTNA tokens of ems-sn-check and remote-gw-match ztna; nil: no EMS,
	// so those checks refuse every client.
	EMS fcnacdapi.Connector
}

// Daemon is iked.
type Daemon struct {
	opt Options
	rt  *daemons.Runtime
	log *debuglog.Logger

	mu       sync.Mutex
	cfg      *Config
	sas      map[uint64]*ikeSA   // by iked's own SPI
	esp      map[uint32]*childSA // by inbound ESP SPI
	halfOpen map[halfKey]*ikeSA
	// instances are the dial-up instance indexes in use, by phase1
	instances    map[string]map[int]bool
	serial       int
	childSerial  int
	tunnels      int // tunnels established, for their tunnel serials
	socks        []*socket
	wg           sync.WaitGroup
	closing      bool
	stats        Stats
	cookieSecret []byte
	// deletes are SAs torn down under the lock whose peers must be told;
	// unlock sends them from a goroutine of its own, and stops stopTimers
	// (the timers of SAs gone) there too.
	deletes    []*ikeSA
	stopTimers []*clock.Timer
	// closeConns are TCP connections to close once the deletes queued
	// with them are written
	closeConns []*tcpConn
	// tcpListeners are the IKE-over-TCP listeners by address, tcpSerial
	// numbers their connections ("sock=" of the accept line) and ownListen
	// is the registry of the one-address mode, which has none of its own
	tcpListeners map[netip.AddrPort]*tcpListener
	tcpSerial    atomic.Int64
	// tcpOpen counts the open IKE-over-TCP connections, in all and by
	// peer address, against maxTCPConns and maxTCPPerPeer
	tcpOpen   int
	tcpByPeer map[netip.Addr]int
	ownListen *listen.Registry
	// known are the addresses Validate need not check (snapshotKnown)
	known atomic.Pointer[map[netip.AddrPort]bool]
	// knownTCP is the same for the TCP addresses (rebindTCPLocked)
	knownTCP atomic.Pointer[map[netip.AddrPort]bool]
}

// unlock releases d.mu and has the queued deletes sent. The SAs are out of
// the table, so nothing else touches them.
func (d *Daemon) unlock() {
	dels, timers, closeConns := d.deletes, d.stopTimers, d.closeConns
	d.deletes, d.stopTimers, d.closeConns = nil, nil, nil
	closing := d.closing
	d.mu.Unlock()
	if closing {
		for _, t := range timers {
			t.Stop()
		}
		for _, tc := range closeConns {
			tc.close()
		}
		return
	}
	if len(dels) == 0 && len(timers) == 0 && len(closeConns) == 0 {
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for _, t := range timers {
			t.Stop()
		}
		for _, sa := range dels {
			msg := d.request(sa, ike.INFORMATIONAL, []ike.Payload{{Type: ike.PayloadDelete, Body: &ike.Delete{Protocol: ike.ProtoIKE}}})
			d.write(sa.path, sa.peer, msg)
		}
		// connections that carried only SAs now gone close after the deletes
		for _, tc := range closeConns {
			tc.finish()
		}
	}()
}

type halfKey struct {
	spiI uint64
	peer netip.AddrPort
}

// Stats counts what iked did, for tests and benchmarks.
type Stats struct {
	Received, Sent, Dropped int
	Established, Failed     int
}

// New returns iked with options.
func New(opt Options) *Daemon {
	if opt.Port == 0 {
		opt.Port = 500
	}
	if opt.NATTPort == 0 {
		opt.NATTPort = 4500
	}
	if opt.CookieThreshold == 0 {
		opt.CookieThreshold = 1000
	}
	return &Daemon{opt: opt, sas: map[uint64]*ikeSA{}, esp: map[uint32]*childSA{}, halfOpen: map[halfKey]*ikeSA{}, instances: map[string]map[int]bool{}}
}

// Name is the daemon's debug application name.
func (d *Daemon) Name() string { return "ike" }

// Tables are the configuration tables iked follows.
func (d *Daemon) Tables() []string {
	return []string{tablePhase1, tablePhase2, tableSettings, tableDNS, tableAddress, tableIface, "firewall addrgrp", "firewall policy", "user local", "user group", "user saml"}
}

// Start reads the configuration and opens the IKE sockets.
func (d *Daemon) Start(ctx context.Context, rt *daemons.Runtime) error {
	d.rt = rt
	d.log = rt.Debug.Logger("ike")
	cfg, err := loadConfig(rt.Store)
	if err != nil {
		return err
	}
	d.cfg = cfg
	d.cookieSecret = randBytes(32)
	if !d.interfaceMode() {
		addr := d.opt.Addr
		if addr == "" {
			addr = "0.0.0.0"
		}
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return fmt.Errorf("iked: bad address %q", addr)
		}
		for _, port := range []int{d.opt.Port, d.opt.NATTPort} {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(port))))
			if err != nil {
				d.closeSockets()
				return fmt.Errorf("iked: cannot bind UDP %s:%d: %w (ports below 1024 need root or CAP_NET_BIND_SERVICE; fosim run|serve --ike-port N --ike-natt-port N, or --port-offset N, choose others)", addr, port, err)
			}
			d.startSocket(&socket{conn: c, natt: port == d.opt.NATTPort, local: c.LocalAddr().(*net.UDPAddr).AddrPort()})
		}
		d.mu.Lock()
		defer d.unlock()
		d.rebindTCPLocked()
		return nil
	}
	d.mu.Lock()
	defer d.unlock()
	d.rebindLocked()
	return nil
}

// interfaceMode tells whether iked listens on the interfaces' addresses
// (else on the one address of its options).
func (d *Daemon) interfaceMode() bool { return d.opt.Addr == "" && d.rt.Listen != nil }

// socket is one of iked's UDP sockets: IKE (500) or NAT-T (4500) of one
// host address, for the interfaces mapped there (nil ifaces: iked
// listens on one address for every phase1).
type socket struct {
	conn    *net.UDPConn
	natt    bool
	ifaces  []string // sorted
	local   netip.AddrPort
	release func() // gives a registry socket back (nil: iked's own)
}

// close ends the socket: a registry socket is given back, never closed
// here (the registry closes it with its last holder).
func (s *socket) close() {
	if s.release != nil {
		s.release()
		return
	}
	s.conn.Close()
}

func (d *Daemon) startSocket(s *socket) {
	d.socks = append(d.socks, s)
	d.wg.Add(1)
	go d.readLoop(s)
}

// listenAddrs is where the phase1s make iked listen: the host address of
// every interface a phase1 names, with the interfaces mapped there (two
// interfaces may share a host address: one socket serves both).
func (d *Daemon) listenAddrs(cfg *Config) map[netip.Addr][]string {
	out := map[netip.Addr][]string{}
	seen := map[string]bool{}
	for _, name := range cfg.Order {
		p := cfg.Phase1s[name]
		if seen[p.Interface] || p.Interface == "" {
			continue
		}
		seen[p.Interface] = true
		if a, ok := d.rt.Map.Addr(p.Interface, cfg.Interfaces[p.Interface]); ok {
			out[a] = append(out[a], p.Interface)
			slices.Sort(out[a])
		} else {
			d.log.Printf(1, "ike V=root:0: interface %s has no address on this host (give it a static ip this host has, or map it: --map %s=ADDR): not listening for its phase1s", p.Interface, p.Interface)
		}
	}
	return out
}

// rebindLocked moves the sockets to where the configuration says: the
// sockets of addresses no longer used (or serving other interfaces)
// close and their tunnels go, new addresses get theirs.
func (d *Daemon) rebindLocked() {
	want := d.listenAddrs(d.cfg)
	var kept []*socket
	for _, s := range d.socks {
		if ifaces, ok := want[s.local.Addr()]; ok && slices.Equal(ifaces, s.ifaces) {
			kept = append(kept, s)
			continue
		}
		for spi, sa := range d.sas {
			if sa.path.udp == s.conn {
				d.deleteSALocked(sa, false) // its socket is gone: no one to tell
				delete(d.sas, spi)
			}
		}
		for k, sa := range d.halfOpen {
			if sa.path.udp == s.conn {
				sa.stopTimers()
				delete(d.halfOpen, k)
			}
		}
		s.close()
	}
	d.socks = kept
	d.rebindTCPLocked()
	defer d.snapshotKnown(want)
	have := map[netip.AddrPort]bool{}
	for _, s := range d.socks {
		have[s.local] = true
	}
	for a, ifaces := range want {
		for _, port := range []int{d.opt.Port, d.opt.NATTPort} {
			ap := netip.AddrPortFrom(a, uint16(d.rt.Map.Port(port)))
			if have[ap] {
				continue
			}
			c, release, err := d.rt.Listen.UDP(ap, "iked")
			if err != nil {
				d.log.Printf(1, "ike V=root:0: %v", err)
				continue
			}
			d.startSocket(&socket{conn: c, natt: port == d.opt.NATTPort, ifaces: ifaces, local: ap, release: release})
		}
	}
}

// snapshotKnown records, for Validate, the addresses iked holds or has
// tried (called with d.mu held).
func (d *Daemon) snapshotKnown(want map[netip.Addr][]string) {
	known := map[netip.AddrPort]bool{}
	for _, s := range d.socks {
		known[s.local] = true
	}
	for a := range want {
		for _, port := range []int{d.opt.Port, d.opt.NATTPort} {
			known[netip.AddrPortFrom(a, uint16(d.rt.Map.Port(port)))] = true
		}
	}
	d.known.Store(&known)
}

// Addrs are the bound UDP addresses (IKE, NAT-T of each interface).
func (d *Daemon) Addrs() []netip.AddrPort {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []netip.AddrPort
	for _, s := range d.socks {
		out = append(out, s.local)
	}
	return out
}

func (d *Daemon) closeSockets() {
	d.mu.Lock()
	socks := d.socks
	d.socks = nil
	d.mu.Unlock()
	for _, s := range socks {
		s.close()
	}
}

// Stop closes the sockets, cancels every timer and waits for the readers.
func (d *Daemon) Stop(ctx context.Context) error {
	d.mu.Lock()
	d.closing = true
	for _, sa := range d.sas {
		sa.stopTimers()
	}
	for _, sa := range d.halfOpen {
		sa.stopTimers()
	}
	d.closeTCPLocked()
	d.mu.Unlock()
	d.closeSockets()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Validate accepts every change the schema accepted but, in interface
// mode, one that would make iked listen on an address it cannot bind (a
// port another program holds): the commit is refused, nothing changes.
func (d *Daemon) Validate(cs *cmdb.ChangeSet, after cmdb.View) error {
	if !d.interfaceMode() {
		return nil
	}
	schema := d.rt.Store.Schema()
	r := reader{cmdb.Reader{Schema: schema, View: after}}
	ifaces, _ := r.interfaces()
	// Only an address the change adds is checked: one iked could not
	// bind before (and said so) must not block every later commit. The
	// set is a snapshot: Validate runs under the store's commit lock and
	// must not wait for d.mu, which a slow debug reader can hold.
	known := map[netip.AddrPort]bool{}
	if k := d.known.Load(); k != nil {
		known = *k
	}
	rows := after.Table(tablePhase1)
	if rows == nil {
		return nil
	}
	tcpPort, _ := strconv.Atoi(r.Single(tableSettings, "ike-tcp-port"))
	for _, k := range rows.Keys {
		iface := r.Value(tablePhase1, rows.ByKey[k], "interface")
		if err := d.validateTCP(r, rows.ByKey[k], iface, ifaces[iface], tcpPort); err != nil {
			return err
		}
		a, ok := d.rt.Map.Addr(iface, ifaces[iface])
		if !ok {
			continue
		}
		for _, port := range []int{d.opt.Port, d.opt.NATTPort} {
			ap := netip.AddrPortFrom(a, uint16(d.rt.Map.Port(port)))
			if known[ap] {
				continue
			}
			if err := d.rt.Listen.CanBindUDP(ap); err != nil {
				return &cmdb.Error{Msg: fmt.Sprintf("cannot listen for IKE on UDP %s (interface %s of phase1 %s): %v", ap, iface, k, err), Code: cmdb.CodeCheck}
			}
		}
	}
	return nil
}

// Apply reloads the configuration. Changing ike-tcp-port flushes every
// tunnel of the VDOM (seed 000); a changed or deleted phase1 flushes its own.
func (d *Daemon) Apply(cs *cmdb.ChangeSet) error {
	cfg, err := loadConfig(d.rt.Store)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.unlock()
	old := d.cfg
	d.cfg = cfg
	if d.interfaceMode() {
		d.rebindLocked()
	} else {
		d.rebindTCPLocked()
	}
	if old.IKETCPort != cfg.IKETCPort {
		n := d.flushLocked("")
		d.log.Printf(1, "ike V=root:0: ike-tcp-port changed %d -> %d, flushed %d tunnel(s)", old.IKETCPort, cfg.IKETCPort, n)
		return nil
	}
	for _, c := range cs.Changes {
		if c.Table == tablePhase1 && c.Before != nil {
			d.flushLocked(c.Key)
		}
		if c.Table == tablePhase2 {
			// a changed phase2 flushes the tunnels of its phase1
			for _, e := range []*cmdb.Entry{c.Before, c.After} {
				if e == nil {
					continue
				}
				if p := phase2Parent(d.rt.Store, e); p != "" {
					d.flushLocked(p)
				}
			}
		}
	}
	return nil
}

func phase2Parent(st *cmdb.Store, e *cmdb.Entry) string {
	t := st.Schema().Table(tablePhase2)
	if t == nil || t.Attr("phase1name") == nil {
		return ""
	}
	return e.Value(t.Attr("phase1name"))
}

// Flush deletes the tunnels of a phase1 ("" for all), as "diagnose vpn ike
// gateway flush [name X]"; it returns how many IKE SAs went.
func (d *Daemon) Flush(name string) int {
	d.mu.Lock()
	defer d.unlock()
	return d.flushLocked(name)
}

func (d *Daemon) flushLocked(name string) int {
	n := 0
	for spi, sa := range d.sas {
		if name != "" && sa.gw.Name != name && sa.name != name {
			continue
		}
		d.deleteSALocked(sa, true)
		delete(d.sas, spi)
		n++
	}
	return n
}

// Stats returns the counters.
func (d *Daemon) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

func (d *Daemon) now() time.Time { return d.rt.Clock.Now() }

func (d *Daemon) readLoop(s *socket) {
	defer d.wg.Done()
	c, natt := s.conn, s.natt
	buf := make([]byte, 65536)
	for {
		n, peer, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		pkt := buf[:n]
		if n == 1 && pkt[0] == 0xff {
			continue // NAT-T keepalive
		}
		// RFC 3948: IKE on the NAT-T port follows a 4-byte zero non-ESP
		// marker; peers talking to a port other than 500 use it too. An IKE
		// SPI is never zero, so the marker cannot be mistaken for a header.
		marker := n >= 4 && pkt[0] == 0 && pkt[1] == 0 && pkt[2] == 0 && pkt[3] == 0
		if marker {
			pkt = pkt[4:]
		} else if natt {
			d.handleESP(pkt)
			continue
		}
		msg := append([]byte(nil), pkt...)
		d.handle(path{udp: c, natt: marker}, s.ifaces, s.local, unmapPort(peer), msg)
	}
}

// send writes an IKE message and counts it (under d.mu).
func (d *Daemon) send(p path, peer netip.AddrPort, msg []byte) {
	d.write(p, peer, msg)
	d.stats.Sent++
}

// Gateways returns a snapshot of the IKE SAs for "diagnose vpn ike gateway
// list", sorted by name.
func (d *Daemon) Gateways() []Gateway {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	var out []Gateway
	for _, sa := range d.sas {
		if sa.state != stateEstablished || sa.rekeyed {
			continue
		}
		out = append(out, sa.snapshot(now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Connecting returns the IKE SAs still negotiating.
func (d *Daemon) Connecting() []Gateway {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	var out []Gateway
	for _, sa := range d.halfOpen {
		if sa.state == stateInit {
			out = append(out, sa.snapshot(now))
		}
	}
	return out
}

// Phase1s lists the configured phase1s (for the tunnel list's dial-up
// parents).
func (d *Daemon) Phase1s() []ikeapi.Phase1 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []ikeapi.Phase1
	for i, n := range d.cfg.Order {
		p := d.cfg.Phase1s[n]
		out = append(out, ikeapi.Phase1{Name: p.Name, IKEVersion: p.IKEVersion, Dynamic: p.Dynamic, Interface: p.Interface, IfIndex: d.cfg.IfIndex[p.Interface],
			Serial: i + 1, Local: d.cfg.Interfaces[p.Interface],
			DPD: p.DPD, DPDRetry: p.DPDRetry, DPDCount: p.DPDCount})
	}
	return out
}

// unmapPort gives an IPv4 peer of a dual-stack socket as IPv4
// ("172.16.200.242:500", never "[::ffff:172.16.200.242]:500").
func unmapPort(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
