package iked

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/debuglog"
	"github.com/fosim/fosim/daemons/iked/client"
	"github.com/fosim/fosim/daemons/iked/suite"
	"github.com/fosim/fosim/daemons/listen"
)

const twoInterfaces = `config system interface
    edit "port1"
        set mode static
        set ip 127.0.0.1 255.0.0.0
    next
    edit "port2"
        set ip 192.0.2.1 255.255.255.0
    next
end
config vpn ipsec phase1-interface
    edit "on-port1"
        set type dynamic
        set interface "port1"
        set ike-version 2
        set peertype any
        set proposal aes128-sha256
        set dhgrp 19
        set psksecret "psk-of-port1"
    next
    edit "on-port2"
        set type dynamic
        set interface "port2"
        set ike-version 2
        set peertype any
        set proposal aes128-sha256
        set dhgrp 19
        set psksecret "psk-of-port2"
    next
end
config vpn ipsec phase2-interface
    edit "p2-1"
        set phase1name "on-port1"
        set proposal aes128-sha256
    next
    edit "p2-2"
        set phase1name "on-port2"
        set proposal aes128-sha256
    next
end
`

func dialAt(server netip.AddrPort, psk string) (*client.Tunnel, error) {
	ikeS, _ := suite.ParseIKE("aes128-sha256")
	ikeS.DHGroup = 19
	espS, _ := suite.ParseESP("aes128-sha256")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return client.Dial(ctx, client.Config{Server: server, PSK: []byte(psk), IKE: ikeS, ESP: espS,
		Local: netip.MustParseAddrPort("127.0.0.1:0")})
}

// iked listens on the address of each interface a phase1 names (port2
// mapped to 127.0.0.2 as a lab maps it), a peer reaching an interface
// matches only that interface's phase1s, iked's identity and addresses
// are its interface's IPv4 address, and moving a phase1 moves the socket.
func TestListensOnPhase1Interfaces(t *testing.T) {
	st := cmdbtest.Store(t)
	cmdbtest.Apply(t, st, twoInterfaces)
	clk := clock.New(time.UTC)
	m := &listen.Map{}
	m.ParseMapping("port2=127.0.0.2")
	m.ParseMapping("port3=127.0.0.3")
	port, natt := freeUDPPort(t), freeUDPPort(t)
	d := New(Options{Port: port, NATTPort: natt})
	sup := daemons.NewSupervisor(&daemons.Runtime{Store: st, Clock: clk, Debug: debuglog.New(clk.Now), Listen: &listen.Registry{}, Map: m}, d)
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer sup.Stop(5 * time.Second)
	at := func(ip string) netip.AddrPort { return netip.MustParseAddrPort(fmt.Sprintf("%s:%d", ip, port)) }
	addrs := d.Addrs()
	for _, want := range []netip.AddrPort{at("127.0.0.1"), at("127.0.0.2")} {
		if !slices.Contains(addrs, want) {
			t.Fatalf("not listening on %s: %v", want, addrs)
		}
	}
	tun, err := dialAt(at("127.0.0.2"), "psk-of-port2")
	if err != nil {
		t.Fatalf("port2's phase1 on port2's address: %v", err)
	}
	if tun.Responder != "127.0.0.2" {
		t.Errorf("IDr %q, want the interface's IPv4 address", tun.Responder)
	}
	gws := d.Gateways()
	if len(gws) != 1 || gws[0].Parent != "on-port2" || gws[0].Local != at("127.0.0.2") || !gws[0].Peer.Addr().Is4() || gws[0].NATMe || gws[0].NATPeer {
		t.Fatalf("gateway %+v", gws)
	}
	tun.Delete(context.Background())
	// port1's phase1 is not offered on port2's address.
	if _, err := dialAt(at("127.0.0.2"), "psk-of-port1"); err == nil || !strings.Contains(err.Error(), "AUTHENTICATION_FAILED") {
		t.Fatalf("port1's PSK on port2's address: %v", err)
	}
	if tun, err := dialAt(at("127.0.0.1"), "psk-of-port1"); err != nil {
		t.Fatalf("port1: %v", err)
	} else {
		tun.Delete(context.Background())
	}
	// A phase1 on an interface whose IKE port another program holds is
	// refused at commit.
	busy, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(at("127.0.0.3")))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	refused := firstRefusal(st, "config vpn ipsec phase1-interface\nedit on-port3\nset type dynamic\nset interface port3\nset ike-version 2\nset psksecret psk-of-port3\nnext\nend\n")
	if refused == nil || !strings.Contains(refused.Error(), "cannot listen for IKE on UDP 127.0.0.3:") {
		t.Fatalf("a phase1 on a busy port: %v", refused)
	}
	if st.Lookup("vpn ipsec phase1-interface", "on-port3") != nil {
		t.Fatal("the refused phase1 was committed")
	}
	// Moving on-port2 to port1 closes port2's socket.
	cmdbtest.Apply(t, st, "config vpn ipsec phase1-interface\nedit on-port2\nset interface port1\nnext\nend\n")
	if slices.Contains(d.Addrs(), at("127.0.0.2")) {
		t.Fatalf("still listening on port2's address: %v", d.Addrs())
	}
}

// newInterfaceLab is newLab with iked in interface mode: the listener
// registry and map m in its Runtime; charon dials addr.
func newInterfaceLab(t *testing.T, config string, m *listen.Map, addr string) *lab {
	t.Helper()
	st := cmdbtest.Store(t)
	l := &lab{t: t, st: st, clock: clock.New(time.UTC)}
	l.apply(config)
	hub := debuglog.New(l.clock.Now)
	ds := hub.Attach(l)
	ds.Enable(true)
	ds.SetLevel("ike", -1)
	opt := Options{Port: freeUDPPort(t), NATTPort: freeUDPPort(t)}
	l.addr, l.port = addr, opt.Port
	l.d = New(opt)
	l.sup = daemons.NewSupervisor(&daemons.Runtime{Store: st, Clock: l.clock, Debug: hub, Listen: &listen.Registry{}, Map: m}, l.d)
	if err := l.sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.sup.Stop(5 * time.Second) })
	return l
}

// strongSwan dials port2's (mapped) address: it sees iked authenticate as
// that IPv4 address, no NAT, and only port2's phase1 answers there.
func TestStrongSwanOnAnInterfaceAddress(t *testing.T) {
	requireCharon(t)
	m := &listen.Map{}
	m.ParseMapping("port2=127.0.0.2")
	l := newInterfaceLab(t, twoInterfaces, m, "127.0.0.2")
	out := l.run(swan{ikeProposals: "aes128-sha256-ecp256", espProposals: "aes128-sha256", psk: "psk-of-port2",
		steps: [][]string{{"--initiate", "--child", "c1", "--timeout", "10"}, {"--list-sas"}}})
	if !strings.Contains(out, "ESTABLISHED") || !strings.Contains(out, "authentication of '127.0.0.2' with pre-shared key successful") {
		t.Fatalf("strongSwan:\n%s\niked:\n%s", out, l.log())
	}
	if strings.Contains(out, "NAT") && strings.Contains(out, "remote host is behind NAT") {
		t.Fatalf("strongSwan was told of a NAT that is not there:\n%s", out)
	}
	if !strings.Contains(l.log(), "udp comes 127.0.0.1:") || !strings.Contains(l.log(), "->127.0.0.2:") {
		t.Fatalf("iked's addresses:\n%s", l.log())
	}
	gws := l.d.Gateways()
	if len(gws) != 1 || gws[0].Parent != "on-port2" {
		t.Fatalf("gateway %+v", gws)
	}
	// port1's PSK on port2's address is refused.
	out = l.run(swan{ikeProposals: "aes128-sha256-ecp256", espProposals: "aes128-sha256", psk: "psk-of-port1",
		steps: [][]string{{"--initiate", "--child", "c1", "--timeout", "10"}}})
	if strings.Contains(out, "ESTABLISHED") {
		t.Fatalf("port1's phase1 answered on port2's address:\n%s", out)
	}
}

// Two interfaces mapped to one host address share one socket, read once:
// every dial is answered (no packet goes to a second reader), by the first
// dial-up phase1 of those interfaces that matches, as on a FortiGate with
// two dial-up phase1s on one address; moving a phase1 keeps the socket.
func TestTwoInterfacesOnOneAddress(t *testing.T) {
	st := cmdbtest.Store(t)
	cmdbtest.Apply(t, st, twoInterfaces)
	clk := clock.New(time.UTC)
	m := &listen.Map{}
	m.ParseMapping("port2=127.0.0.1")
	port, natt := freeUDPPort(t), freeUDPPort(t)
	d := New(Options{Port: port, NATTPort: natt})
	sup := daemons.NewSupervisor(&daemons.Runtime{Store: st, Clock: clk, Debug: debuglog.New(clk.Now), Listen: &listen.Registry{}, Map: m}, d)
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer sup.Stop(5 * time.Second)
	if n := len(d.Addrs()); n != 2 {
		t.Fatalf("%d sockets, want one IKE and one NAT-T: %v", n, d.Addrs())
	}
	at := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", port))
	for i := range 6 {
		tun, err := dialAt(at, "psk-of-port1")
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		tun.Delete(context.Background())
	}
	cmdbtest.Apply(t, st, "config vpn ipsec phase1-interface\nedit on-port2\nset interface port1\nnext\nend\n")
	if tun, err := dialAt(at, "psk-of-port1"); err != nil {
		t.Fatalf("after the move: %v", err)
	} else {
		tun.Delete(context.Background())
	}
}
