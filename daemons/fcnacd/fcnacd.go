// Package fcnacd is the FortiGate's FortiClient EMS connector (FortiOS's
// fcnacd): for every enabled "config endpoint-control fctems" entry it
// connects to the EMS over HTTPS, syncs its tags and endpoint records,
// keeps them current from the EMS's push WebSocket, and makes each tag a
// CMDB object (firewall address EMS<n>_ZTNA_<tag> and MAC_EMS<n>_ZTNA_<tag>)
// that policies and phase1 remote-gw-ztna-tags can name. The CLI and iked
// see it only through fcnacdapi.
package fcnacd

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/debuglog"
	"github.com/fosim/fosim/daemons/fcnacd/fcnacdapi"
	"github.com/fosim/fosim/daemons/fcnacd/ztnatoken"
)

const (
	tableEMS        = "endpoint-control fctems"
	tableIface      = "system interface"
	tableRemoteCert = "vpn certificate remote"
	tableAddress    = "firewall address"
	tableAddrgrp    = "firewall addrgrp"
	tablePolicy     = "firewall policy"
	tablePhase1     = "vpn ipsec phase1-interface"
)

// Options tune the daemon; the zero value is FortiOS's behaviour.
type Options struct {
	// RetryMin and RetryMax bound the wait between connection attempts
	// (appliance clock): 5 s doubling to 60 s by default.
	RetryMin, RetryMax time.Duration
	// PingInterval is how often the push stream is pinged (real time):
	// 30 s by default.
	PingInterval time.Duration
}

// Daemon is fcnacd.
type Daemon struct {
	opt    Options
	rt     *daemons.Runtime
	log    *debuglog.Logger
	serial string // the FortiGate's, sent to the EMS

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	reload chan struct{} // the configuration changed
	write  chan struct{} // the tag objects need writing

	mu    sync.Mutex
	cfg   config
	conns map[int]*conn
	// ids numbers the tag objects ("ID(6)") in the order fcnacd first
	// saw them; stale lists those kept only because they are referenced.
	ids    map[string]int
	nextID int
	stale  map[string]bool
	// tunnelSlots bounds the tunnel-down messages in flight
	tunnelSlots chan struct{}
}

var _ fcnacdapi.Connector = (*Daemon)(nil)

// New returns fcnacd, to be started by the supervisor.
func New(opt Options) *Daemon {
	if opt.RetryMin <= 0 {
		opt.RetryMin = 5 * time.Second
	}
	if opt.PingInterval <= 0 {
		opt.PingInterval = 30 * time.Second
	}
	if opt.RetryMax < opt.RetryMin {
		opt.RetryMax = max(60*time.Second, opt.RetryMin)
	}
	return &Daemon{opt: opt, conns: map[int]*conn{}, ids: map[string]int{}, stale: map[string]bool{},
		reload: make(chan struct{}, 1), write: make(chan struct{}, 1), tunnelSlots: make(chan struct{}, maxTunnelDowns)}
}

// Name is the daemon's name and debug application.
func (d *Daemon) Name() string { return "fcnacd" }

// Tables are the EMS entries and what they depend on; the address, group,
// policy and phase1 tables because a tag object kept while referenced is
// removed once nothing names it.
func (d *Daemon) Tables() []string {
	return []string{tableEMS, tableIface, tableRemoteCert, tableAddress, tableAddrgrp, tablePolicy, tablePhase1}
}

// emsConfig is one fctems entry in fcnacd's types.
type emsConfig struct {
	ID           int
	Name         string
	Enabled      bool
	Server       string
	Port         int
	SerialNumber string
	TenantID     string
	SourceIP     netip.Addr
	PullTags     bool
	CallTimeout  time.Duration
	OutOfSync    time.Duration
}

// target is where the connection goes: a change of it is a new connection.
func (c emsConfig) target() string {
	return fmt.Sprint(c.Name, c.Server, c.Port, c.SourceIP, c.CallTimeout, c.OutOfSync, c.SerialNumber, c.PullTags)
}

type ifaceNet struct {
	name   string
	prefix netip.Prefix
}

type config struct {
	ems     map[int]emsConfig
	trusted []*x509.Certificate // vpn certificate remote
	ifaces  []ifaceNet
}

// readConfig reads what fcnacd needs from a view of the configuration.
func readConfig(s *cmdb.Schema, v cmdb.View) config {
	cfg := config{ems: map[int]emsConfig{}}
	r := cmdb.Reader{Schema: s, View: v}
	get := r.Value
	if rows := v.Table(tableEMS); rows != nil {
		for _, e := range rows.Ordered() {
			id, err := strconv.Atoi(e.Key)
			if err != nil {
				continue
			}
			c := emsConfig{ID: id, Name: get(tableEMS, e, "name"), Enabled: get(tableEMS, e, "status") == "enable",
				Server: get(tableEMS, e, "server"), SerialNumber: get(tableEMS, e, "serial-number"),
				TenantID: get(tableEMS, e, "tenant-id"), PullTags: get(tableEMS, e, "pull-tags") != "disable"}
			c.Port, _ = strconv.Atoi(get(tableEMS, e, "https-port"))
			n, _ := strconv.Atoi(get(tableEMS, e, "call-timeout"))
			c.CallTimeout = time.Duration(max(n, 1)) * time.Second
			n, _ = strconv.Atoi(get(tableEMS, e, "out-of-sync-threshold"))
			c.OutOfSync = time.Duration(max(n, 10)) * time.Second
			if a, err := netip.ParseAddr(get(tableEMS, e, "source-ip")); err == nil && !a.IsUnspecified() {
				c.SourceIP = a
			}
			if c.Name == "" {
				c.Name = e.Key
			}
			cfg.ems[id] = c
		}
	}
	if rows := v.Table(tableRemoteCert); rows != nil {
		for _, e := range rows.Ordered() {
			text := strings.Join(r.Values(tableRemoteCert, e, "remote"), " ")
			if b, _ := pem.Decode([]byte(text)); b != nil {
				if cert, err := x509.ParseCertificate(b.Bytes); err == nil {
					cfg.trusted = append(cfg.trusted, cert)
				}
			}
		}
	}
	if rows := v.Table(tableIface); rows != nil {
		for _, e := range rows.Ordered() {
			if p, ok := cmdb.IPv4MaskPrefix(r.Values(tableIface, e, "ip")); ok && p.Bits() > 0 {
				cfg.ifaces = append(cfg.ifaces, ifaceNet{name: e.Key, prefix: p.Masked()})
			}
		}
	}
	return cfg
}

// Start reads the configuration and connects to every enabled EMS.
func (d *Daemon) Start(ctx context.Context, rt *daemons.Runtime) error {
	d.rt = rt
	d.log = rt.Debug.Logger("fcnacd")
	d.serial = rt.Store.Serial()
	d.ctx, d.cancel = context.WithCancel(ctx)
	d.applyConfig()
	d.wg.Add(2)
	go d.reloadLoop()
	go d.writeLoop()
	return nil
}

// Validate refuses nothing: an EMS that cannot be reached is reported,
// not refused, as on FortiOS.
func (d *Daemon) Validate(*cmdb.ChangeSet, cmdb.View) error { return nil }

// Apply notes the change; the reload runs on fcnacd's own goroutine (it
// may commit tag objects, which a subscriber must not do in its callback).
func (d *Daemon) Apply(*cmdb.ChangeSet) error {
	select {
	case d.reload <- struct{}{}:
	default:
	}
	return nil
}

// Stop ends every connection.
func (d *Daemon) Stop(ctx context.Context) error {
	if d.cancel == nil {
		return nil
	}
	d.cancel()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("fcnacd: connections did not end in time")
	}
}

func (d *Daemon) reloadLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			d.mu.Lock()
			conns := d.conns
			d.conns = map[int]*conn{}
			d.mu.Unlock()
			for _, c := range conns {
				c.stop()
			}
			return
		case <-d.reload:
			d.applyConfig()
		}
	}
}

// applyConfig reconciles the connections with the committed configuration.
func (d *Daemon) applyConfig() {
	var cfg config
	d.rt.Store.ReadCommitted(func(v cmdb.View, _ uint64, _ *cmdb.Secrets) {
		cfg = readConfig(d.rt.Store.Schema(), v)
	})
	d.mu.Lock()
	trustChanged := !slices.EqualFunc(d.cfg.trusted, cfg.trusted, (*x509.Certificate).Equal)
	d.cfg = cfg
	var stop []*conn
	var start []*conn
	for id, c := range d.conns {
		ec, ok := cfg.ems[id]
		if !ok || !ec.Enabled || ec.Server == "" || ec.target() != c.cfg.target() {
			stop = append(stop, c)
			delete(d.conns, id)
			continue
		}
		if trustChanged {
			c.kick() // an EMS waiting to be trusted may be now
		}
	}
	for id, ec := range cfg.ems {
		if _, ok := d.conns[id]; ok || !ec.Enabled || ec.Server == "" {
			continue
		}
		c := newConn(d, ec)
		d.conns[id] = c
		start = append(start, c)
	}
	d.mu.Unlock()
	for _, c := range stop {
		c.stop()
		d.log.Printf(1, "fcnacd: EMS %d (%s): connection closed (configuration changed)", c.cfg.ID, c.cfg.Name)
	}
	for _, c := range start {
		c.run()
	}
	d.kickWrite()
}

func (d *Daemon) kickWrite() {
	select {
	case d.write <- struct{}{}:
	default:
	}
}

// trusted tells whether cert is one of the trusted remote certificates.
func (d *Daemon) trusted(cert *x509.Certificate) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.ContainsFunc(d.cfg.trusted, func(c *x509.Certificate) bool { return c.Equal(cert) })
}

// gatewayInterfaceLocked is the interface whose subnet holds ip.
func (d *Daemon) gatewayInterfaceLocked(ip netip.Addr) string {
	best, bits := "", -1
	for _, i := range d.cfg.ifaces {
		if i.prefix.Contains(ip) && i.prefix.Bits() > bits {
			best, bits = i.name, i.prefix.Bits()
		}
	}
	return best
}

// tagObjectName is the CMDB name of an EMS tag's address.
func tagObjectName(emsID int, tag string, mac bool) string {
	n := fmt.Sprintf("EMS%d_ZTNA_%s", emsID, tag)
	if mac {
		return "MAC_" + n
	}
	return n
}

// parseTagObjectName reads EMS<n>_ZTNA_<tag> and MAC_EMS<n>_ZTNA_<tag>.
func parseTagObjectName(name string) (emsID int, tag string, mac, ok bool) {
	rest, mac := strings.CutPrefix(name, "MAC_")
	rest, ok = strings.CutPrefix(rest, "EMS")
	if !ok || len(rest) < 7 || rest[0] < '1' || rest[0] > '7' || !strings.HasPrefix(rest[1:], "_ZTNA_") {
		return 0, "", false, false
	}
	tag = rest[7:]
	return int(rest[0] - '0'), tag, mac, tag != ""
}

// EMSs implements fcnacdapi.Connector.
func (d *Daemon) EMSs() []fcnacdapi.EMS {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []fcnacdapi.EMS
	for id, ec := range d.cfg.ems {
		e := fcnacdapi.EMS{ID: id, Name: ec.Name, Server: ec.Server, Port: ec.Port, State: fcnacdapi.StateDisabled}
		if c := d.conns[id]; c != nil {
			c.fillLocked(&e)
		} else if ec.Enabled {
			e.LastError = "no server configured"
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b fcnacdapi.EMS) int { return a.ID - b.ID })
	return out
}

// Endpoints implements fcnacdapi.Connector.
func (d *Daemon) Endpoints() []fcnacdapi.Endpoint {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []fcnacdapi.Endpoint
	for _, c := range d.conns {
		for _, r := range c.records {
			out = append(out, fcnacdapi.Endpoint{EMSID: c.cfg.ID, EMSSerial: c.serial, TenantID: c.tenant, UID: r.UID,
				IP: r.IP, PublicIP: r.PublicIP, MACs: slices.Clone(r.MACs), Host: r.Host, User: r.User, OS: r.OS,
				FCTVersion: r.FCTVersion, Registered: r.Registered, Online: r.Online, OnNet: r.OnNet,
				Quarantined: r.Quarantined, CertSN: r.CertSN, Tags: slices.Clone(r.Tags),
				GatewayInterface: d.gatewayInterfaceLocked(r.IP), OutOfSync: c.outOfSync})
		}
	}
	slices.SortFunc(out, func(a, b fcnacdapi.Endpoint) int {
		if a.EMSID != b.EMSID {
			return a.EMSID - b.EMSID
		}
		if c := a.IP.Compare(b.IP); c != 0 {
			return c
		}
		return strings.Compare(a.UID, b.UID)
	})
	return out
}

// Dynamic implements fcnacdapi.Connector: every EMS tag address of the
// CMDB, with what it resolves now.
func (d *Daemon) Dynamic() []fcnacdapi.DynamicAddress {
	var names []string
	d.rt.Store.ReadCommitted(func(v cmdb.View, _ uint64, _ *cmdb.Secrets) {
		names = emsTagObjects(d.rt.Store.Schema(), v)
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]fcnacdapi.DynamicAddress, 0, len(names))
	for _, name := range names {
		id, tag, mac, _ := parseTagObjectName(name)
		a := fcnacdapi.DynamicAddress{Name: name, Tag: tag, EMSID: id, MAC: mac, ID: d.objectIDLocked(name), Stale: d.stale[name]}
		if c := d.conns[id]; c != nil && !c.outOfSync && !a.Stale {
			for _, r := range c.byTag[tag] {
				if mac {
					a.MACs = append(a.MACs, r.MACs...)
				} else {
					a.Addrs = append(a.Addrs, r.IP)
				}
			}
		}
		slices.SortFunc(a.Addrs, netip.Addr.Compare)
		a.Addrs = slices.Compact(a.Addrs)
		slices.Sort(a.MACs)
		a.MACs = slices.Compact(a.MACs)
		out = append(out, a)
	}
	return out
}

func (d *Daemon) objectIDLocked(name string) int {
	id, ok := d.ids[name]
	if !ok {
		id = d.nextID
		d.ids[name] = id
		d.nextID++
	}
	return id
}

// TagsOf implements fcnacdapi.Connector.
func (d *Daemon) TagsOf(ip netip.Addr) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, c := range d.conns {
		if c.outOfSync {
			continue
		}
		for _, r := range c.byIP[ip] {
			for _, t := range r.Tags {
				out = append(out, tagObjectName(c.cfg.ID, t, false))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// KnownSerial implements fcnacdapi.Connector: the EMSs whose serial
// number is configured or was learnt from the EMS.
func (d *Daemon) KnownSerial(serial string) (int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.emsBySerialLocked(serial)
}

func (d *Daemon) emsBySerialLocked(serial string) (int, bool) {
	if serial == "" {
		return 0, false
	}
	for id, ec := range d.cfg.ems {
		if !ec.Enabled {
			continue
		}
		if strings.EqualFold(ec.SerialNumber, serial) {
			return id, true
		}
		if c := d.conns[id]; c != nil && strings.EqualFold(c.serial, serial) {
			return id, true
		}
	}
	return 0, false
}

// TagName implements fcnacdapi.Connector.
func (d *Daemon) TagName(serial, tag string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id, ok := d.emsBySerialLocked(serial)
	if !ok {
		return "", false
	}
	return tagObjectName(id, tag, false), true
}

// VerifyToken implements fcnacdapi.Connector: the key is that of the EMS
// certificate fcnacd last connected with (it is trusted: execute fctems
// verify), found by the EMS serial number FortiClient reports.
func (d *Daemon) VerifyToken(token, serial, uid string) (*ztnatoken.Token, error) {
	d.mu.Lock()
	id, ok := d.emsBySerialLocked(serial)
	var cert *x509.Certificate
	if ok && d.conns[id] != nil {
		cert = d.conns[id].cert
	}
	if ok && cert == nil {
		// Not reached since the appliance started (the EMS is down): the
		// trusted certificate it was verified with, by its CN (fosim's
		// EMS certificates are issued to their serial number).
		for _, c := range d.cfg.trusted {
			if strings.EqualFold(c.Subject.CommonName, serial) {
				cert = c
			}
		}
	}
	d.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no enabled EMS has serial number %q", serial)
	}
	if cert == nil {
		return nil, fmt.Errorf("the certificate of EMS %d is not known yet (it has never been reached)", id)
	}
	key, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("the certificate of EMS %d has no RSA key: ZTNA tokens are RS256", id)
	}
	return ztnatoken.Verify(token, key, d.rt.Clock.Now(), uid)
}
