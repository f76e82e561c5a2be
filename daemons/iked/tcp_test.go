package iked

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/debuglog"
	"github.com/fosim/fosim/daemons/iked/client"
	"github.com/fosim/fosim/daemons/iked/ike"
	"github.com/fosim/fosim/daemons/iked/suite"
	"github.com/fosim/fosim/daemons/listen"
)

func freeTCPPort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// tcpPhase1 is a dial-up phase1 over TCP with mode-cfg and DPD, on
// ike-tcp-port %d.
const tcpPhase1 = `config system settings
    set ike-tcp-port %d
end
config vpn ipsec phase1-interface
    edit "fct-tcp"
        set type dynamic
        set interface "port1"
        set ike-version 2
        set peertype any
        set transport %s
        set mode-cfg enable
        set ipv4-start-ip 10.253.0.100
        set ipv4-end-ip 10.253.0.110
        set ipv4-netmask 255.255.255.0
        set proposal aes128-sha256
        set dhgrp 19
        set dpd on-idle
        set dpd-retryinterval 60
        set psksecret "s3cret-psk"
    next
end
config vpn ipsec phase2-interface
    edit "fct-tcp-p2"
        set phase1name "fct-tcp"
        set proposal aes128-sha256
    next
end
`

func dialTCP(t testing.TB, server netip.AddrPort, transport string) (*client.Tunnel, error) {
	t.Helper()
	ikeS, _ := suite.ParseIKE("aes128-sha256")
	ikeS.DHGroup = 19
	espS, _ := suite.ParseESP("aes128-sha256")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return client.Dial(ctx, client.Config{Server: server, PSK: []byte("s3cret-psk"), IKE: ikeS, ESP: espS, ModeCfg: true,
		Local: netip.MustParseAddrPort("127.0.0.1:0"), Transport: transport})
}

func tcpLab(t *testing.T, transport string) (*lab, netip.AddrPort) {
	port := freeTCPPort(t)
	l := newLab(t, fmt.Sprintf(tcpPhase1, port, transport))
	at := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", port))
	if got := l.d.TCPAddrs(); len(got) != 1 || got[0] != at {
		t.Fatalf("TCP listeners %v, want %s", got, at)
	}
	return l, at
}

// fosim's client over TCP: PSK and mode-cfg, its DPD, ESP verified and
// counted, iked's own DPD answered on the same connection, the client's
// delete; then a peer that closes its connection is dead.
func TestIKEOverTCP(t *testing.T) {
	l, at := tcpLab(t, "tcp")
	tun, err := dialTCP(t, at, client.TransportTCP)
	if err != nil {
		t.Fatalf("%v\n%s", err, l.log())
	}
	if tun.VirtualIP.String() != "10.253.0.100" {
		t.Fatalf("mode-cfg address %v", tun.VirtualIP)
	}
	gws := l.d.Gateways()
	if len(gws) != 1 || gws[0].Transport != "TCP" || gws[0].Local != at || gws[0].Peer.Addr().String() != "127.0.0.1" || gws[0].Peer.Port() == at.Port() {
		t.Fatalf("gateway %+v", gws)
	}
	accept := fmt.Sprintf("ike V=root:accepts ike tcp-transport(vd=0, vrf=0, intf=0:0, %s->%s sock=1 refcnt=2 ph1=(nil)) (2).", at, gws[0].Peer)
	if !strings.Contains(l.log(), accept) {
		t.Fatalf("no %q in\n%s", accept, l.log())
	}
	if err := tun.DPD(context.Background()); err != nil {
		t.Fatalf("client DPD: %v", err)
	}
	for range 3 {
		if err := tun.SendESP(make([]byte, 84)); err != nil {
			t.Fatal(err)
		}
	}
	if !waitFor(2*time.Second, func() bool {
		g := l.d.Gateways()
		return len(g) == 1 && len(g[0].Children) == 1 && g[0].Children[0].RxPackets == 3
	}) {
		t.Fatalf("ESP over TCP not counted: %+v", l.d.Gateways())
	}
	// iked's DPD probe comes on the connection; the client answers it
	l.clock.Advance(61 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := tun.AnswerRequest(ctx)
	if err != nil || req.Exchange != ike.INFORMATIONAL || len(req.Payloads) != 0 {
		t.Fatalf("iked's DPD: %+v %v\n%s", req, err, l.log())
	}
	if !waitFor(2*time.Second, func() bool { g := l.d.Gateways(); return len(g) == 1 && g[0].DPDSent == 1 && g[0].DPDRecv >= 1 }) {
		t.Fatalf("DPD over TCP: %+v", l.d.Gateways())
	}
	if err := tun.Delete(context.Background()); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if !waitFor(2*time.Second, func() bool { return len(l.d.Gateways()) == 0 }) {
		t.Fatal("tunnel left after the client's delete")
	}

	// a peer that closes the connection is a dead peer
	tun, err = dialTCP(t, at, client.TransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	tun.Close()
	if !waitFor(2*time.Second, func() bool { return len(l.d.Gateways()) == 0 }) {
		t.Fatal("tunnel left after its TCP connection closed")
	}
	for _, want := range []string{"tcp-transport connection", "closed by the peer, peer is dead", "ike V=root:0:fct-tcp_0: going to be deleted", "sending SNMP tunnel DOWN trap for fct-tcp"} {
		if !strings.Contains(l.log(), want) {
			t.Fatalf("no %q in\n%s", want, l.log())
		}
	}
	// transport tcp does not answer over UDP
	if _, err := dialTCP(t, l.d.Addrs()[0], client.TransportUDP); err == nil || !strings.Contains(err.Error(), "NO_PROPOSAL_CHOSEN") {
		t.Fatalf("transport tcp over UDP: %v", err)
	}
}

// transport auto answers over both; changing ike-tcp-port flushes the
// tunnels (the delete goes over TCP, then the connection closes) and
// moves the listener.
func TestIKETCPPortChange(t *testing.T) {
	l, at := tcpLab(t, "auto")
	udp, err := dialTCP(t, l.d.Addrs()[0], client.TransportUDP)
	if err != nil {
		t.Fatalf("auto over UDP: %v", err)
	}
	defer udp.Close()
	tun, err := dialTCP(t, at, client.TransportTCP)
	if err != nil {
		t.Fatalf("auto over TCP: %v", err)
	}
	defer tun.Close()
	if n := len(l.d.Gateways()); n != 2 {
		t.Fatalf("%d gateways", n)
	}
	moved := freeTCPPort(t)
	l.apply(fmt.Sprintf("config system settings\n    set ike-tcp-port %d\nend\n", moved))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := tun.AnswerRequest(ctx)
	if err != nil || len(req.Payloads) != 1 || req.Payloads[0].Type != ike.PayloadDelete {
		t.Fatalf("delete over TCP: %+v %v\n%s", req, err, l.log())
	}
	// closed: an end of file, or a reset when our answer to the delete
	// reached a socket iked had already closed
	if _, err := tun.AnswerRequest(ctx); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after the flush the connection is closed, got %v", err)
	}
	if len(l.d.Gateways()) != 0 {
		t.Fatalf("gateways left: %+v", l.d.Gateways())
	}
	next := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", moved))
	if got := l.d.TCPAddrs(); len(got) != 1 || got[0] != next {
		t.Fatalf("listeners %v after the move", got)
	}
	if c, err := net.Dial("tcp", at.String()); err == nil {
		c.Close()
		t.Fatal("the old ike-tcp-port still listens")
	}
	if tun, err := dialTCP(t, next, client.TransportTCP); err != nil {
		t.Fatalf("new port: %v", err)
	} else {
		tun.Delete(context.Background())
	}
}

// Only IKETCP connections reach iked; one that sends nothing, or a frame
// that breaks the framing, is closed.
func TestIKETCPConnections(t *testing.T) {
	l, at := tcpLab(t, "tcp")
	accepts := func() int { return strings.Count(l.log(), "accepts ike tcp-transport") }
	c, err := net.Dial("tcp", at.String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET / HTTP/1.1\r\nHost: fgt\r\n\r\n"))
	if err := closedByServer(c); err != nil {
		t.Fatalf("a non-IKETCP connection: %v (no route takes it yet)", err)
	}
	c.Close()
	// iked accepts it and hands it on, as seed 000 logs it
	if n := accepts(); n != 1 || strings.Count(l.log(), "NOT IKETCP(), assign to AUTH") != 1 {
		t.Fatalf("a non-IKETCP connection, not logged once as handed to authd:\n%s", l.log())
	}

	idle, err := net.Dial("tcp", at.String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idle.Write(ike.TCPPrefix)
	if !waitFor(2*time.Second, func() bool { return accepts() == 2 }) {
		t.Fatalf("IKETCP connection not accepted:\n%s", l.log())
	}
	l.clock.Advance(tcpIdleTimeout + time.Second)
	if err := closedByServer(idle); err != nil {
		t.Fatalf("an idle connection: %v", err)
	}

	bad, err := net.Dial("tcp", at.String())
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	bad.Write(append(append([]byte{}, ike.TCPPrefix...), 0, 1, 0xde, 0xad))
	if err := closedByServer(bad); err != nil {
		t.Fatalf("a frame length below 2: %v", err)
	}
	if !strings.Contains(l.log(), "TCP frame length below 2, closing") {
		t.Fatalf("no framing error line:\n%s", l.log())
	}
}

// closedByServer reads c until the server closes it (an end of file or a
// reset, when it left bytes unread), or says why not.
func closedByServer(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); n > 0 || err == nil || (ok && ne.Timeout()) {
		return fmt.Errorf("still open (read %d bytes, %v)", n, err)
	}
	return nil
}

// In interface mode iked takes ike-tcp-port (443, offset by the lab's
// port map) on the address of each interface whose phase1 wants TCP, from
// the shared registry.
func TestIKETCPInterfaceMode(t *testing.T) {
	st := cmdbtest.Store(t)
	cmdbtest.Apply(t, st, `config system interface
    edit "port1"
        set mode static
        set ip 127.0.0.1 255.0.0.0
    next
end
`+fmt.Sprintf(tcpPhase1, 443, "tcp"))
	clk := clock.New(time.UTC)
	free := freeTCPPort(t)
	m := &listen.Map{PortOffset: free - 443}
	reg := &listen.Registry{}
	hub := debuglog.New(clk.Now)
	var out strings.Builder
	var mu sync.Mutex
	ds := hub.Attach(writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(b) }))
	ds.Enable(true)
	ds.SetLevel("ike", -1)
	d := New(Options{Port: freeUDPPort(t), NATTPort: freeUDPPort(t)})
	sup := daemons.NewSupervisor(&daemons.Runtime{Store: st, Clock: clk, Debug: hub, Listen: reg, Map: m}, d)
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer sup.Stop(5 * time.Second)
	at := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", free))
	if got := reg.Bound()[at]; len(got) != 1 || got[0] != "iked" {
		t.Fatalf("registry holds %v on %s: %v", got, at, reg.Bound())
	}
	tun, err := dialTCP(t, at, client.TransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Delete(context.Background())
	mu.Lock()
	log := out.String()
	mu.Unlock()
	if !strings.Contains(log, fmt.Sprintf("accepts ike tcp-transport(vd=0, vrf=0, intf=0:3, %s->", at)) {
		t.Fatalf("accept line without port1's index:\n%s", log)
	}
	// A stream without the IKETCP prefix is not iked's: it says so, and
	// the registry hands it to authd (here none listens: it is closed).
	if c, err := net.Dial("tcp", at.String()); err == nil {
		io.WriteString(c, "GET /saml_login HTTP/1.1\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.ReadAll(c)
		c.Close()
	}
	mu.Lock()
	log = out.String()
	mu.Unlock()
	if !strings.Contains(log, fmt.Sprintf("accepts ike tcp-transport(vd=0, vrf=0, intf=0:3, %s->", at)) || !strings.Contains(log, "ike V=root:NOT IKETCP(), assign to AUTH") {
		t.Fatalf("no NOT IKETCP line for a plain stream:\n%s", log)
	}
	if g := d.Gateways(); len(g) != 1 || g[0].Transport != "TCP" || g[0].Local != at {
		t.Fatalf("gateway %+v", g)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// Rekeys over TCP: the client's (child SA, then IKE SA, after which its
// ESP still verifies under the new keys) and iked's own, which comes on
// the same connection.
func TestIKEOverTCPRekeys(t *testing.T) {
	l, at := tcpLab(t, "tcp")
	// no DPD: the clock jumps past the soft lifetime at once, and probes
	// nobody answers meanwhile would take the tunnel down first
	l.apply("config vpn ipsec phase1-interface\n    edit \"fct-tcp\"\n        set dpd disable\n    next\nend\n")
	l.apply("config vpn ipsec phase2-interface\n    edit \"fct-tcp-p2\"\n        set pfs disable\n        set keylifeseconds 600\n    next\nend\n")
	tun, err := dialTCP(t, at, client.TransportTCP)
	if err != nil {
		t.Fatalf("%v\n%s", err, l.log())
	}
	defer tun.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tun.RekeyChild(ctx); err != nil {
		t.Fatalf("child rekey over TCP: %v\n%s", err, l.log())
	}
	if err := tun.RekeyIKE(ctx); err != nil {
		t.Fatalf("IKE rekey over TCP: %v\n%s", err, l.log())
	}
	if err := tun.SendESP(make([]byte, 60)); err != nil {
		t.Fatal(err)
	}
	if !waitFor(2*time.Second, func() bool {
		g := l.d.Gateways()
		return len(g) == 1 && g[0].Transport == "TCP" && len(g[0].Children) == 1 && g[0].Children[0].SPIIn == tun.SPIOut && g[0].Children[0].RxPackets == 1
	}) {
		t.Fatalf("after the rekeys: %+v", l.d.Gateways())
	}
	// iked rekeys the child at its soft lifetime, over the connection
	l.clock.Advance(600 * time.Second)
	if req, _ := tun.AnswerRequest(ctx); req.Exchange != ike.CREATE_CHILD_SA {
		t.Fatalf("iked's child rekey over TCP: %+v\n%s", req, l.log())
	}
}

// A phase1 that would take IKE over TCP on a port another program holds
// is refused at commit, as for UDP.
func TestIKETCPPortHeld(t *testing.T) {
	st := cmdbtest.Store(t)
	cmdbtest.Apply(t, st, "config system interface\n    edit \"port1\"\n        set mode static\n        set ip 127.0.0.1 255.0.0.0\n    next\nend\n")
	clk := clock.New(time.UTC)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := held.Addr().(*net.TCPAddr).Port
	d := New(Options{Port: freeUDPPort(t), NATTPort: freeUDPPort(t)})
	sup := daemons.NewSupervisor(&daemons.Runtime{Store: st, Clock: clk, Debug: debuglog.New(clk.Now), Listen: &listen.Registry{}, Map: &listen.Map{}}, d)
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer sup.Stop(5 * time.Second)
	err = firstRefusal(st, fmt.Sprintf(tcpPhase1, port, "tcp"))
	if err == nil || !strings.Contains(err.Error(), "cannot listen for IKE over TCP on 127.0.0.1:") {
		t.Fatalf("commit with a held ike-tcp-port: %v", err)
	}
	if st.Lookup("vpn ipsec phase1-interface", "fct-tcp") != nil {
		t.Fatal("the refused phase1 was committed")
	}
}

// A peer address may hold maxTCPPerPeer connections at once; the next is
// closed and said, and a slot freed is taken again.
func TestIKETCPConnectionBound(t *testing.T) {
	old := maxTCPPerPeer
	maxTCPPerPeer = 3
	// restored after the lab's daemon stopped (cleanups run last first)
	t.Cleanup(func() { maxTCPPerPeer = old })
	l, at := tcpLab(t, "tcp")
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", at.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(ike.TCPPrefix)
		conns = append(conns, c)
	}
	if !waitFor(2*time.Second, func() bool { return strings.Count(l.log(), "accepts ike tcp-transport") == 3 }) {
		t.Fatalf("3 connections not accepted:\n%s", l.log())
	}
	extra, err := net.Dial("tcp", at.String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.Write(ike.TCPPrefix)
	if err := closedByServer(extra); err != nil {
		t.Fatalf("a 4th connection from one address: %v", err)
	}
	if !strings.Contains(l.log(), "refused: 3 connections open, 3 from 127.0.0.1") {
		t.Fatalf("no refusal line:\n%s", l.log())
	}
	conns[0].Close()
	if !waitFor(2*time.Second, func() bool {
		c, err := net.Dial("tcp", at.String())
		if err != nil {
			return false
		}
		defer c.Close()
		c.Write(ike.TCPPrefix)
		return closedByServer(c) != nil // still open: accepted
	}) {
		t.Fatalf("no connection accepted after one closed:\n%s", l.log())
	}
}
