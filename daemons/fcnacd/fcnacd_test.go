package fcnacd

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/debuglog"
	"github.com/fosim/fosim/daemons/fcnacd/fcnacdapi"
	"github.com/fosim/fosim/peers/ems"
)

const seedUID = "F8A6AFF3531843B4972CBDBEEEB30E3C"

// syncBuffer is a debug stream the test reads while fcnacd writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lab is an appliance store with fcnacd under a supervisor, and an EMS
// peer (peers/ems) serving on a loopback port.
type lab struct {
	t       testing.TB
	st      *cmdb.Store
	clk     *clock.Clock
	d       *Daemon
	debug   *syncBuffer
	emsDir  string
	ems     *ems.Config
	server  *ems.Server
	emsAddr netip.AddrPort
	port    int // where configure points the EMS entry: the EMS's port, else a proxy's

	sup       *daemons.Supervisor
	closeFn   func()
	closeOnce sync.Once
}

func newLab(t *testing.T) *lab {
	t.Helper()
	return startLab(t, func(cfg *ems.Config) {
		must(t, cfg.SetEndpoint(ems.Endpoint{UID: seedUID, IP: netip.MustParseAddr("10.160.1.197"), PublicIP: netip.MustParseAddr("203.0.113.7"),
			MACs: []string{"00-0c-29-2c-4d-d7", "00-0c-29-2c-4d-e1"}, Host: "DESKTOP-EMS-TAG-PH2", User: "tester",
			OS: "Microsoft Windows 8.0 , 64-bit (build 9200)", FCTVersion: "7.4.5.1949", Registered: true, Online: true,
			CertSN: "B09D97178121B588ED3055137577522C7B689B79"}))
		must(t, cfg.SetRule(ems.TagRule{Tag: "a", Type: 1, Conditions: []ems.Condition{{Field: "user", Value: "tester"}}}))
		must(t, cfg.SetRule(ems.TagRule{Tag: "all_registered_clients", Type: 1, Conditions: []ems.Condition{{Field: "registered", Value: "yes"}}}))
		must(t, cfg.SetRule(ems.TagRule{Tag: "Low", Type: 3, Conditions: []ems.Condition{{Field: "os", Value: "windows"}}}))
	})
}

// startLab starts the EMS with what seed puts in its store, fcnacd
// under a supervisor, and the FortiGate's port1 on 10.160.1.1/24; the EMS
// entry itself is configure's, the trust of its certificate trust's.
func startLab(t testing.TB, seed func(*ems.Config)) *lab {
	t.Helper()
	l := &lab{t: t, st: cmdbtest.Store(t), clk: clock.New(time.UTC), debug: &syncBuffer{}, emsDir: t.TempDir()}
	cfg, err := ems.Open(l.emsDir)
	must(t, err)
	l.ems = cfg
	seed(cfg)
	l.saveEMS()
	l.server, err = ems.NewServer(l.emsDir, clock.New(time.UTC))
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	l.emsAddr = netip.MustParseAddrPort(ln.Addr().String())
	hs := &http.Server{Handler: l.server.Handler()}
	ctx, cancel := context.WithCancel(context.Background())
	go l.server.Run(ctx)
	go hs.Serve(tls.NewListener(l.server.Listener(ln), l.server.TLSConfig()))

	hub := debuglog.New(l.clk.Now)
	s := hub.Attach(l.debug)
	s.Enable(true)
	s.SetLevel("fcnacd", -1)
	l.d = New(Options{RetryMin: 100 * time.Millisecond, RetryMax: 400 * time.Millisecond, PingInterval: 200 * time.Millisecond})
	sup := daemons.NewSupervisor(&daemons.Runtime{Store: l.st, Clock: l.clk, Debug: hub}, l.d)
	must(t, sup.Start(context.Background()))
	l.sup = sup
	l.closeFn = func() {
		if err := sup.Stop(5 * time.Second); err != nil {
			t.Error(err)
		}
		cancel()
		hs.Close()
	}
	t.Cleanup(l.close)
	cmdbtest.Apply(t, l.st, `config system interface
edit port1
set mode static
set ip 10.160.1.1 255.255.255.0
next
end
`)
	return l
}

func (l *lab) close() {
	l.closeOnce.Do(l.closeFn)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (l *lab) saveEMS() { must(l.t, l.ems.Save(l.emsDir)) }

// configure adds EMS 1 pointing at the peer.
func (l *lab) configure(extra string) {
	cmdbtest.Apply(l.t, l.st, fmt.Sprintf(`config endpoint-control fctems
edit 1
set status enable
set name "ems1"
set server "127.0.0.1"
set https-port %d
set call-timeout 1
%s
next
end
`, cmp.Or(l.port, int(l.emsAddr.Port())), extra))
}

// trust adds the EMS certificate to the trusted remote certificates, as
// execute fctems verify does.
func (l *lab) trust() {
	sess := l.st.NewSystemSession("admin", "test")
	tbl, err := sess.OpenTable("vpn certificate remote")
	must(l.t, err)
	e, err := tbl.Edit("REMOTE_Cert_1")
	must(l.t, err)
	must(l.t, e.Set("remote", cmdb.Words(string(l.server.Keys().CertPEM))))
	must(l.t, e.Save())
}

// eventually waits, boundedly, for cond.
func (l *lab) eventually(what string, cond func() bool) {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.t.Fatalf("timed out waiting for %s; EMS %+v\ndebug:\n%s", what, l.d.EMSs(), l.debug.String())
}

func (l *lab) state() fcnacdapi.EMS {
	for _, e := range l.d.EMSs() {
		if e.ID == 1 {
			return e
		}
	}
	return fcnacdapi.EMS{}
}

func (l *lab) dynamic(name string) (fcnacdapi.DynamicAddress, bool) {
	for _, a := range l.d.Dynamic() {
		if a.Name == name {
			return a, true
		}
	}
	return fcnacdapi.DynamicAddress{}, false
}

func (l *lab) resolves(name, ip string) bool {
	a, ok := l.dynamic(name)
	return ok && len(a.Addrs) == 1 && a.Addrs[0] == netip.MustParseAddr(ip)
}

func TestSyncTagsToCMDB(t *testing.T) {
	l := newLab(t)
	l.configure("")
	l.eventually("untrusted", func() bool { return l.state().State == fcnacdapi.StateUntrusted })
	if !strings.Contains(l.debug.String(), "is not trusted: run execute fctems verify ems1") {
		t.Fatalf("debug stream: %s", l.debug.String())
	}
	cert, err := l.d.FetchCertificate(context.Background(), 1)
	must(t, err)
	if cert.Trusted || cert.Serial != l.ems.Serial || !strings.Contains(cert.Subject, l.ems.Serial) || len(cert.Fingerprint) != 64 {
		t.Fatalf("fetched %+v", cert)
	}

	l.trust()
	l.eventually("connected", func() bool { return l.state().State == fcnacdapi.StateConnected })
	l.eventually("tag addresses", func() bool { return l.resolves("EMS1_ZTNA_all_registered_clients", "10.160.1.197") })
	st := l.state()
	if st.Serial != l.ems.Serial || st.TenantID != l.ems.TenantID || st.Endpoints != 1 || st.Tags != 3 || !st.Websocket {
		t.Fatalf("state %+v", st)
	}
	// The CMDB objects, as FortiOS makes them.
	var show strings.Builder
	l.st.ReadCommitted(func(v cmdb.View, _ uint64, _ *cmdb.Secrets) {
		cmdb.WriteConfig(&show, l.st.Schema(), v, false)
	})
	for _, want := range []string{
		"edit \"EMS1_ZTNA_a\"\n", "edit \"MAC_EMS1_ZTNA_Low\"\n",
		"set type dynamic\n        set sub-type ems-tag\n        set obj-tag \"all_registered_clients\"\n",
		"set obj-tag \"Low\"\n        set obj-type mac\n",
	} {
		if !strings.Contains(show.String(), want) {
			t.Fatalf("configuration lacks %q:\n%s", want, show.String())
		}
	}
	mac, _ := l.dynamic("MAC_EMS1_ZTNA_a")
	if len(mac.MACs) != 2 || mac.MACs[0] != "00:0c:29:2c:4d:d7" || !mac.MAC {
		t.Fatalf("MAC object %+v", mac)
	}
	if got := l.d.TagsOf(netip.MustParseAddr("10.160.1.197")); strings.Join(got, " ") != "EMS1_ZTNA_Low EMS1_ZTNA_a EMS1_ZTNA_all_registered_clients" {
		t.Fatalf("TagsOf %v", got)
	}
	if id, ok := l.d.KnownSerial(l.ems.Serial); !ok || id != 1 {
		t.Fatal("the EMS serial is not known")
	}
	if _, ok := l.d.KnownSerial("FCTEMS0000000000"); ok {
		t.Fatal("an unknown serial is known")
	}
	eps := l.d.Endpoints()
	if len(eps) != 1 || eps[0].GatewayInterface != "port1" || eps[0].PublicIP != netip.MustParseAddr("203.0.113.7") || !eps[0].OnNet || eps[0].CertSN == "" {
		t.Fatalf("endpoints %+v", eps)
	}

	// A token of this EMS passes; the tag names map to CMDB names.
	keys := l.server.Keys()
	tok, err := l.ems.IssueToken(keys, seedUID, l.clk.Now())
	must(t, err)
	got, err := l.d.VerifyToken(tok, l.ems.Serial, seedUID)
	if err != nil || !got.HasTag("a") {
		t.Fatalf("token: %v %+v", err, got)
	}
	if name, ok := l.d.TagName(l.ems.Serial, "a"); !ok || name != "EMS1_ZTNA_a" {
		t.Fatalf("TagName %q", name)
	}

	// Push: a new endpoint and a new tag reach the FortiGate.
	must(t, l.ems.SetEndpoint(ems.Endpoint{UID: ems.NewUID(), IP: netip.MustParseAddr("10.160.1.198"), OS: "Ubuntu Linux", Registered: true, Online: true}))
	must(t, l.ems.SetRule(ems.TagRule{Tag: "linux", Type: 1, Conditions: []ems.Condition{{Field: "os", Value: "linux"}}}))
	l.saveEMS()
	l.eventually("pushed tag", func() bool { return l.resolves("EMS1_ZTNA_linux", "10.160.1.198") })
	if a, _ := l.dynamic("EMS1_ZTNA_all_registered_clients"); len(a.Addrs) != 2 {
		t.Fatalf("after the push %+v", a)
	}

	// A deleted tag that a policy names stays, resolving nothing; it goes
	// once the policy no longer names it.
	cmdbtest.Apply(t, l.st, `config firewall policy
edit 7
set srcintf port1
set dstintf port2
set srcaddr EMS1_ZTNA_linux
set dstaddr all
set action accept
set schedule always
set service ALL
next
end
`)
	must(t, l.ems.DeleteRule("linux"))
	l.saveEMS()
	l.eventually("the unreferenced MAC object deleted", func() bool { _, ok := l.dynamic("MAC_EMS1_ZTNA_linux"); return !ok })
	if a, ok := l.dynamic("EMS1_ZTNA_linux"); !ok || !a.Stale || len(a.Addrs) != 0 {
		t.Fatalf("the referenced object: %v %+v", ok, a)
	}
	if !strings.Contains(l.debug.String(), "EMS Tag dynamic firewall address cannot be removed: EMS1_ZTNA_linux is still referenced") {
		t.Fatalf("debug stream: %s", l.debug.String())
	}
	cmdbtest.Apply(t, l.st, "config firewall policy\ndelete 7\nend\n")
	l.eventually("the stale object deleted", func() bool { _, ok := l.dynamic("EMS1_ZTNA_linux"); return !ok })
}

// An admin's address that has a tag object's name is not taken over.
func TestAdminAddressKept(t *testing.T) {
	l := newLab(t)
	cmdbtest.Apply(t, l.st, "config firewall address\nedit EMS1_ZTNA_a\nset subnet 192.0.2.0 255.255.255.0\nnext\nend\n")
	l.trust()
	l.configure("")
	l.eventually("the other tags", func() bool { return l.resolves("EMS1_ZTNA_Low", "10.160.1.197") })
	if e := l.st.Lookup("firewall address", "EMS1_ZTNA_a"); e == nil || e.Values["type"] != nil || e.Values["subnet"][0] != "192.0.2.0" {
		t.Fatalf("the admin's address: %+v", e)
	}
	if !strings.Contains(l.debug.String(), "cannot create EMS1_ZTNA_a: an address of that name exists") {
		t.Fatalf("debug stream: %s", l.debug.String())
	}
}

func TestEMSDownThenOutOfSync(t *testing.T) {
	l := newLab(t)
	l.trust()
	l.configure("set out-of-sync-threshold 60")
	l.eventually("tag addresses", func() bool { return l.resolves("EMS1_ZTNA_a", "10.160.1.197") })
	l.ems.Down = true
	l.saveEMS()
	l.eventually("disconnected", func() bool { return l.state().State == fcnacdapi.StateDisconnected })
	if !strings.Contains(l.debug.String(), "connection lost") {
		t.Fatalf("debug stream: %s", l.debug.String())
	}
	// The tag cache holds until out-of-sync-threshold.
	if len(l.d.TagsOf(netip.MustParseAddr("10.160.1.197"))) != 3 {
		t.Fatal("the tag cache was dropped at once")
	}
	l.clk.Advance(61 * time.Second)
	l.eventually("out of sync", func() bool { return l.state().OutOfSync })
	if got := l.d.TagsOf(netip.MustParseAddr("10.160.1.197")); len(got) != 0 {
		t.Fatalf("out of sync, still resolving %v", got)
	}
	// The JWT fallback still has the EMS key.
	tok, err := l.ems.IssueToken(l.server.Keys(), seedUID, l.clk.Now())
	must(t, err)
	if _, err := l.d.VerifyToken(tok, l.ems.Serial, seedUID); err != nil {
		t.Fatalf("token while the EMS is down: %v", err)
	}
	if _, err := l.d.VerifyToken(tok, l.ems.Serial, "6108A9179A5C40D7BD57504E15114C1F"); err == nil {
		t.Fatal("a token for another UID passed")
	}
	l.clk.Advance(2 * time.Hour)
	if _, err := l.d.VerifyToken(tok, l.ems.Serial, seedUID); err == nil {
		t.Fatal("a token past its exp on the appliance clock passed")
	}
	// Back up: a full sync, in sync again.
	l.ems.Down = false
	l.saveEMS()
	l.eventually("reconnected", func() bool { s := l.state(); return s.State == fcnacdapi.StateConnected && !s.OutOfSync })
	if len(l.d.TagsOf(netip.MustParseAddr("10.160.1.197"))) != 3 {
		t.Fatal("not resolving after the EMS came back")
	}
}

// source-ip is where the connector's calls come from.
func TestSourceIP(t *testing.T) {
	l := newLab(t)
	l.trust()
	l.configure("set source-ip 127.0.0.2")
	l.eventually("connected", func() bool { return l.state().State == fcnacdapi.StateConnected })
	fabric := l.server.Fabric()
	if len(fabric) != 1 || fabric[0].Serial != l.st.Serial() || fabric[0].From != "127.0.0.2" {
		t.Fatalf("the EMS saw %+v", fabric)
	}
}

// pull-tags disable: the records come, their tags do not.
func TestPullTagsDisable(t *testing.T) {
	l := newLab(t)
	l.trust()
	l.configure("set pull-tags disable")
	l.eventually("connected", func() bool { return l.state().State == fcnacdapi.StateConnected })
	if st := l.state(); st.Endpoints != 1 || st.Tags != 0 || len(l.d.Dynamic()) != 0 || len(l.d.TagsOf(netip.MustParseAddr("10.160.1.197"))) != 0 {
		t.Fatalf("state %+v, dynamic %v", st, l.d.Dynamic())
	}
}

func TestSlowEMSAndMismatchedSerial(t *testing.T) {
	l := newLab(t)
	l.trust()
	l.ems.Delay = ems.Duration(1500 * time.Millisecond)
	l.saveEMS()
	l.configure("")
	l.eventually("a timeout", func() bool { return strings.Contains(l.state().LastError, "did not answer within call-timeout 1s") })
	l.ems.Delay = 0
	l.saveEMS()
	l.eventually("connected", func() bool { return l.state().State == fcnacdapi.StateConnected })
	cmdbtest.Apply(t, l.st, "config endpoint-control fctems\nedit 1\nset serial-number FCTEMS0000000001\nnext\nend\n")
	l.eventually("mismatched", func() bool { return l.state().State == fcnacdapi.StateMismatched })
	dirty := func() string {
		e := l.st.Lookup("endpoint-control fctems", "1")
		if e == nil || len(e.Values["dirty-reason"]) == 0 {
			return "none"
		}
		return e.Values["dirty-reason"][0]
	}
	l.eventually("dirty-reason mismatched-ems-sn", func() bool { return dirty() == "mismatched-ems-sn" })
	cmdbtest.Apply(t, l.st, "config endpoint-control fctems\nedit 1\nset serial-number "+l.ems.Serial+"\nnext\nend\n")
	l.eventually("connected again", func() bool { return l.state().State == fcnacdapi.StateConnected })
	l.eventually("dirty-reason none", func() bool { return dirty() == "none" })
	// Disabled: no connection, and the tag objects of a gone EMS go.
	cmdbtest.Apply(t, l.st, "config endpoint-control fctems\nedit 1\nset status disable\nnext\nend\n")
	l.eventually("disabled", func() bool { return l.state().State == fcnacdapi.StateDisabled })
	l.eventually("objects removed", func() bool { return len(l.d.Dynamic()) == 0 })
}

// freezer is a TCP proxy to the EMS that can stop forwarding without
// closing anything: a path that drops every packet.
type freezer struct {
	ln     net.Listener
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	f := &freezer{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, up)
			f.mu.Unlock()
			go f.pipe(c, up)
			go f.pipe(up, c)
		}
	}()
	return f
}

// pipe copies src to dst while not frozen; frozen, it reads and drops.
func (f *freezer) pipe(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			dst.Close()
			return
		}
		if !f.frozen.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				src.Close()
				return
			}
		}
	}
}

// TestSilentEMS: an EMS whose path drops everything is noticed by the push
// stream's pings, and new attempts time out on call-timeout.
func TestSilentEMS(t *testing.T) {
	l := newLab(t)
	f := newFreezer(t, l.emsAddr.String())
	l.port = f.ln.Addr().(*net.TCPAddr).Port
	l.trust()
	l.configure("")
	l.eventually("connected through the proxy", func() bool { return l.resolves("EMS1_ZTNA_a", "10.160.1.197") })
	f.frozen.Store(true)
	l.eventually("the silence noticed", func() bool {
		return strings.Contains(l.debug.String(), "connection lost: push stream: no answer to a ping within call-timeout 1s")
	})
	l.eventually("the next attempt timing out", func() bool {
		return strings.Contains(l.state().LastError, "did not answer within call-timeout 1s")
	})
	if len(l.d.TagsOf(netip.MustParseAddr("10.160.1.197"))) != 3 {
		t.Fatal("the tag cache was dropped at once")
	}
	f.frozen.Store(false)
	l.eventually("reconnected", func() bool { return l.state().State == fcnacdapi.StateConnected })
}

// TestStopLeavesNoGoroutine: once the supervisor has stopped fcnacd (the
// EMS still up), no goroutine of it, nor a client connection of its HTTPS
// clients, remains.
func TestStopLeavesNoGoroutine(t *testing.T) {
	l := newLab(t)
	l.trust()
	l.configure("")
	l.eventually("connected", func() bool { return l.state().State == fcnacdapi.StateConnected })
	must(t, l.sup.Stop(5*time.Second))
	var left string
	for range 250 {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		left = ""
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "TestStopLeavesNoGoroutine") {
				continue
			}
			for _, frame := range strings.Split(g, "\n") {
				// a frame, not a "created by" line
				if strings.HasPrefix(frame, "github.com/fosim/fosim/daemons/fcnacd.") || strings.HasPrefix(frame, "net/http.(*persistConn)") {
					left += g + "\n\n"
					break
				}
			}
		}
		if left == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("goroutines left after Stop:\n%s", left)
}
