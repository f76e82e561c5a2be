package iked

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/debuglog"
	"github.com/fosim/fosim/internal/peertest"
)

// The interop tests run strongSwan's charon (Debian's strongswan-charon and
// strongswan-swanctl) as the initiator against iked on loopback. charon
// runs in a private mount namespace (unshare -m, a tmpfs on /run) with the
// kernel-libipsec plugin, so it needs root; without charon or root the
// tests skip loudly, and under FOSIM_REQUIRE_PEERS=1 (CI) they fail.
func requireCharon(t *testing.T) {
	t.Helper()
	missing := ""
	if _, err := os.Stat("/usr/lib/ipsec/charon"); err != nil {
		missing = "strongSwan charon (/usr/lib/ipsec/charon)"
	} else if _, err := exec.LookPath("swanctl"); err != nil {
		missing = "swanctl"
	} else if _, err := exec.LookPath("unshare"); err != nil {
		missing = "unshare"
	} else if os.Geteuid() != 0 {
		missing = "root (charon runs in a private mount namespace)"
	}
	if missing != "" {
		peertest.Missing(t, "%s", "strongSwan interop needs "+missing+"; install strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-extra-plugins")
	}
}

func freeUDPPort(t testing.TB) int {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// lab is iked with a configuration, listening on loopback.
type lab struct {
	t     testing.TB
	st    *cmdb.Store
	d     *Daemon
	sup   *daemons.Supervisor
	clock *clock.Clock
	mu    sync.Mutex
	debug strings.Builder
	addr  string
	port  int
	netns string // iked's and charon's network namespace, "" for the test's
}

func (l *lab) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.debug.Write(b)
}

func (l *lab) log() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.debug.String()
}

// waitFor polls cond until it holds or d has passed, and says which: iked
// acts on its own goroutines after a clock move or a peer's message.
func waitFor(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

func newLab(t *testing.T, config string) *lab { return newLabTB(t, config, true) }

// newLabTB starts iked with config; debug keeps the ike debug stream.
func newLabTB(t testing.TB, config string, debug bool) *lab {
	return newLabIn(t, config, debug, "", Options{})
}

// newLabIn starts iked with its sockets in the network namespace netns (a
// /proc/<pid>/ns/net path), or in the test's own when netns is "". Options
// without an address listen on free ports of 127.0.0.1.
func newLabIn(t testing.TB, config string, debug bool, netns string, opt Options) *lab {
	t.Helper()
	st := cmdbtest.Store(t)
	l := &lab{t: t, st: st, clock: clock.New(time.UTC), netns: netns}
	l.apply(config)
	hub := debuglog.New(l.clock.Now)
	if debug {
		ds := hub.Attach(l)
		ds.Enable(true)
		ds.SetLevel("ike", -1)
	}
	if opt.Addr == "" {
		opt.Addr, opt.Port, opt.NATTPort = "127.0.0.1", freeUDPPort(t), freeUDPPort(t)
	}
	l.addr, l.port = opt.Addr, opt.Port
	l.d = New(opt)
	l.sup = daemons.NewSupervisor(&daemons.Runtime{Store: st, Clock: l.clock, Debug: hub}, l.d)
	if err := inNetns(netns, func() error { return l.sup.Start(context.Background()) }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.sup.Stop(5 * time.Second); err != nil {
			t.Error(err)
		}
	})
	return l
}

func (l *lab) apply(script string) {
	l.t.Helper()
	cmdbtest.Apply(l.t, l.st, script)
}

// swan describes the strongSwan side of a test.
type swan struct {
	ikeProposals, espProposals string
	psk                        string
	vips                       bool
	localAddr                  string // charon's address, 127.0.0.1 unless set
	// remoteTS is charon's remote_ts (0.0.0.0/0 unless set). kernel-libipsec
	// routes the remote_ts into its TUN device, and a route that covers
	// iked's own address fails to install in a namespace of the test's.
	remoteTS string
	// eap, when set, is strongSwan's local EAP method ("eap-mschapv2",
	// "eap-md5") with eapID / eapSecret.
	eap, eapID, eapSecret string
	// steps run after the connection is loaded, as swanctl arguments; a
	// step {"@hook", "N"} stops charon's script until hooks[N] has run in
	// the test (to advance the appliance clock with charon still up).
	steps [][]string
	hooks []func()
}

// run starts charon against the lab and returns swanctl's output.
func (l *lab) run(s swan) string {
	l.t.Helper()
	dir := l.t.TempDir()
	charonPort, nattPort := freeUDPPort(l.t), freeUDPPort(l.t)
	// virtual IPs and their routes only go into a namespace of the test's
	installVIP := "no"
	if l.netns != "" {
		installVIP = "yes"
	}
	conf := fmt.Sprintf(`charon {
  port = %d
  port_nat_t = %d
  install_routes = no
  install_virtual_ip = %s
  retransmit_tries = 2
  retransmit_timeout = 1
  load = random nonce openssl pem pkcs1 x509 pubkey curve25519 aes sha1 sha2 hmac gcm chapoly kdf md5 eap-identity eap-md5 eap-mschapv2 kernel-libipsec kernel-netlink socket-default vici
  filelog {
    charon { path = %s/charon.log
             default = 1
             ike = 2 }
  }
}
swanctl { load = pem pkcs1 x509 pubkey openssl random }
`, charonPort, nattPort, installVIP, dir)
	vips := ""
	if s.vips {
		vips = "vips = 0.0.0.0"
	}
	local := "auth = psk"
	eapSecret := ""
	if s.eap != "" {
		local = fmt.Sprintf("auth = %s\n      eap_id = %s", s.eap, s.eapID)
		eapSecret = fmt.Sprintf("  eap-1 {\n    id = %s\n    secret = \"%s\"\n  }\n", s.eapID, s.eapSecret)
	}
	if s.localAddr == "" {
		s.localAddr = "127.0.0.1"
	}
	if s.remoteTS == "" {
		s.remoteTS = "0.0.0.0/0"
	}
	conn := fmt.Sprintf(`connections {
  fgt {
    version = 2
    local_addrs = %s
    remote_addrs = %s
    remote_port = %d
    proposals = %s
    %s
    local {
      %s
      id = 127.0.0.2
    }
    remote {
      auth = psk
      id = %%any
    }
    children {
      c1 {
        remote_ts = %s
        esp_proposals = %s
      }
    }
  }
}
secrets {
  ike-1 {
    secret = "%s"
  }
%s}
`, s.localAddr, l.addr, l.port, s.ikeProposals, vips, local, s.remoteTS, s.espProposals, s.psk, eapSecret)
	os.WriteFile(filepath.Join(dir, "strongswan.conf"), []byte(conf), 0o644)
	os.WriteFile(filepath.Join(dir, "swanctl.conf"), []byte(conn), 0o644)
	var script strings.Builder
	fmt.Fprintf(&script, "set -u\nmount -t tmpfs tmpfs /run\nexport STRONGSWAN_CONF=%s/strongswan.conf\n", dir)
	fmt.Fprintf(&script, "/usr/lib/ipsec/charon >/dev/null 2>&1 &\nCH=$!\n")
	fmt.Fprintf(&script, "for i in $(seq 100); do [ -S /run/charon.vici ] && break; sleep 0.05; done\n")
	fmt.Fprintf(&script, "swanctl --load-all --file %s/swanctl.conf >/dev/null 2>&1\n", dir)
	for _, step := range s.steps {
		if step[0] == "@sh" { // a command in charon's namespaces
			fmt.Fprintf(&script, "echo '>>> sh'\n%s 2>&1\n", step[1])
			continue
		}
		if step[0] == "@hook" {
			fmt.Fprintf(&script, "touch %s/hook%s\nwhile [ ! -e %s/ack%s ]; do sleep 0.01; done\n", dir, step[1], dir, step[1])
			continue
		}
		fmt.Fprintf(&script, "echo '>>> swanctl %s'\nswanctl %s 2>&1\n", strings.Join(step, " "), strings.Join(step, " "))
	}
	fmt.Fprintf(&script, "kill -9 $CH\n")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-m", "bash", "-c", script.String())
	if l.netns != "" {
		cmd = exec.CommandContext(ctx, "nsenter", "--net="+l.netns, "unshare", "-m", "bash", "-c", script.String())
	}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	for i, hook := range s.hooks {
		mark := filepath.Join(dir, fmt.Sprintf("hook%d", i))
		for {
			if _, err := os.Stat(mark); err == nil {
				break
			}
			select {
			case <-exited:
				l.t.Fatalf("charon's script ended before hook %d:\n%s", i, buf.String())
			case <-time.After(10 * time.Millisecond):
			}
		}
		hook()
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("ack%d", i)), nil, 0o644)
	}
	<-exited
	out := buf.Bytes()
	if l.t.Failed() || testing.Verbose() {
		log, _ := os.ReadFile(filepath.Join(dir, "charon.log"))
		l.t.Logf("charon log:\n%s", log)
	}
	return string(out)
}

const basePhase1 = `config vpn ipsec phase1-interface
    edit "dialup"
        set type dynamic
        set interface "port1"
        set ike-version 2
        set peertype any
        set proposal %s
        set dhgrp %s
        set psksecret "s3cret-psk"
    next
end
config vpn ipsec phase2-interface
    edit "dialup-p2"
        set phase1name "dialup"
        set proposal %s
        set pfs disable
    next
end
`

func TestStrongSwanPSK(t *testing.T) {
	requireCharon(t)
	for _, c := range []struct {
		name, p1, groups, p2 string
		ike, esp             string
		proposal             string
	}{
		{"modp2048", "aes128-sha256 aes256-sha256", "14", "aes128-sha256", "aes128-sha256-modp2048", "aes128-sha256", "aes128-sha256"},
		{"x25519-gcm", "aes256gcm-prfsha384 aes128-sha256", "31 14", "aes256gcm", "aes256gcm16-prfsha384-curve25519", "aes256gcm16", "aes256gcm-prfsha384"},
		{"ecp256", "aes256-sha256", "19", "aes256-sha256 chacha20poly1305", "aes256-sha256-ecp256", "chacha20poly1305", "aes256-sha256"},
		{"ecp384-chacha", "chacha20poly1305-prfsha256", "20", "aes128gcm", "chacha20poly1305-prfsha256-ecp384", "aes128gcm16", "chacha20poly1305-prfsha256"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, fmt.Sprintf(basePhase1, c.p1, c.groups, c.p2))
			out := l.run(swan{ikeProposals: c.ike, espProposals: c.esp, psk: "s3cret-psk",
				steps: [][]string{{"--initiate", "--child", "c1", "--timeout", "10"}, {"--list-sas"}}})
			if !strings.Contains(out, "ESTABLISHED") || !strings.Contains(out, "INSTALLED") {
				t.Fatalf("strongSwan did not establish:\n%s\niked:\n%s", out, l.log())
			}
			gws := l.d.Gateways()
			if len(gws) != 1 || gws[0].Name != "dialup_0" || gws[0].PeerID != "127.0.0.2" || gws[0].Proposal != c.proposal || len(gws[0].Children) != 1 {
				t.Fatalf("gateway list: %+v", gws)
			}
			// the SPIs strongSwan lists are the ones iked holds
			ch := gws[0].Children[0]
			if !strings.Contains(out, fmt.Sprintf("%08x_i %08x_o", ch.SPIOut, ch.SPIIn)) {
				t.Fatalf("SPIs %08x/%08x not in strongSwan's list:\n%s", ch.SPIOut, ch.SPIIn, out)
			}
			if !strings.Contains(l.log(), "ike V=root:0:dialup_0:1:dialup-p2:1: added IPsec SA: SPIs=") {
				t.Fatalf("debug lines:\n%s", l.log())
			}
		})
	}
}

func TestStrongSwanRejected(t *testing.T) {
	requireCharon(t)
	t.Run("wrong-psk", func(t *testing.T) {
		l := newLab(t, fmt.Sprintf(basePhase1, "aes128-sha256", "14", "aes128-sha256"))
		out := l.run(swan{ikeProposals: "aes128-sha256-modp2048", espProposals: "aes128-sha256", psk: "not-the-psk",
			steps: [][]string{{"--initiate", "--child", "c1", "--timeout", "10"}}})
		if strings.Contains(out, "initiate completed successfully") || len(l.d.Gateways()) != 0 {
			t.Fatalf("a wrong PSK was accepted:\n%s", out)
		}
		if !strings.Contains(l.log(), "probable pre-shared secret mismatch") {
			t.Fatalf("iked log:\n%s", l.log())
		}
	})
	t.Run("proposal-mismatch", func(t *testing.T) {
		l := newLab(t, fmt.Sprintf(basePhase1, "aes256-sha256", "19", "aes128-sha256"))
		out := l.run(swan{ikeProposals: "aes128-sha1-modp2048", espProposals: "aes128-sha256", psk: "s3cret-psk",
			steps: [][]string{{"--initiate", "--child", "c1", "--timeout", "10"}}})
		if strings.Contains(out, "initiate completed successfully") || len(l.d.Gateways()) != 0 {
			t.Fatalf("a mismatched proposal was accepted:\n%s", out)
		}
		if !strings.Contains(l.log(), "no SA proposal chosen") {
			t.Fatalf("iked log:\n%s", l.log())
		}
	})
}

func TestStrongSwanModeCfgDeleteAndFlush(t *testing.T) {
	requireCharon(t)
	cfg := `config vpn ipsec phase1-interface
    edit "dialup_psk"
        set type dynamic
        set interface "port1"
        set ike-version 2
        set peertype any
        set mode-cfg enable
        set proposal aes128-sha256
        set dhgrp 19
        set ipv4-start-ip 10.253.0.100
        set ipv4-end-ip 10.253.0.120
        set psksecret "s3cret-psk"
    next
end
config vpn ipsec phase2-interface
    edit "dialup_psk"
        set phase1name "dialup_psk"
        set proposal aes128-sha256
        set pfs disable
    next
end
`
	// in a namespace of the test's own, where strongSwan installs the
	// virtual IP and the child SA's route
	l := newLabIn(t, cfg, true, labNetns(t, false), Options{Addr: natIked, Port: 500, NATTPort: 4500})
	var gw Gateway
	// three datagrams from the virtual address into the tunnel: strongSwan
	// encrypts them, iked verifies and counts them
	send := `for i in 1 2 3; do echo fosim > /dev/udp/10.99.0.1/9; done`
	out := l.run(swan{ikeProposals: "aes128-sha256-ecp256", espProposals: "aes128-sha256", psk: "s3cret-psk", vips: true, localAddr: natClient,
		steps: [][]string{{"--initiate", "--child", "c1", "--timeout", "10"}, {"@sh", send}, {"--list-sas"}, {"@hook", "0"}, {"--terminate", "--ike", "fgt", "--timeout", "5"}},
		hooks: []func(){func() {
			// the datagrams may still be on their way to iked
			waitFor(2*time.Second, func() bool {
				gws := l.d.Gateways()
				return len(gws) == 1 && len(gws[0].Children) == 1 && gws[0].Children[0].RxPackets >= 3
			})
			if gws := l.d.Gateways(); len(gws) == 1 {
				gw = gws[0]
			}
		}}})
	if !strings.Contains(out, "installing new virtual IP 10.253.0.100") || !strings.Contains(out, "local  10.253.0.100/32") {
		t.Fatalf("strongSwan got no virtual IP from the pool:\n%s\niked:\n%s", out, l.log())
	}
	// what iked lists is what strongSwan lists: SPIs, address, selectors
	installed := installedChildren(out)
	if len(gw.Children) != 1 || !strings.Contains(installed, fmt.Sprintf("in  %08x", gw.Children[0].SPIOut)) ||
		!strings.Contains(installed, fmt.Sprintf("out %08x", gw.Children[0].SPIIn)) || gw.AssignedIP.String() != "10.253.0.100" ||
		!strings.Contains(out, fmt.Sprintf("%016x_i* %016x_r", gw.SPIi, gw.SPIr)) ||
		gw.Children[0].Remote[0].Start.String() != "10.253.0.100" || gw.Children[0].Remote[0].End.String() != "10.253.0.100" {
		t.Fatalf("iked holds %+v\nstrongSwan lists:\n%s", gw, out)
	}
	// strongSwan's "out" counters are iked's rx ones
	if c := gw.Children[0]; c.RxPackets != 3 || c.RxErrors != 0 || !strings.Contains(installed, fmt.Sprintf("out %08x, %6d bytes, %5d packets", c.SPIIn, c.RxBytes, c.RxPackets)) {
		t.Fatalf("ESP: iked counted %d packets, %d bytes, %d errors\nstrongSwan lists:\n%s", c.RxPackets, c.RxBytes, c.RxErrors, out)
	}
	if !strings.Contains(l.log(), "tunnel up event assigned address 10.253.0.100") {
		t.Fatalf("iked log:\n%s", l.log())
	}
	if !strings.Contains(out, "terminate completed successfully") || len(l.d.Gateways()) != 0 {
		t.Fatalf("delete from strongSwan not honoured: %d gateways\n%s", len(l.d.Gateways()), out)
	}
	// The address went back to the pool: the next client gets it again.
	out = l.run(swan{ikeProposals: "aes128-sha256-ecp256", espProposals: "aes128-sha256", psk: "s3cret-psk", vips: true,
		steps: [][]string{{"--initiate", "--child", "c1", "--timeout", "10"}}})
	gws := l.d.Gateways()
	if len(gws) != 1 || gws[0].AssignedIP.String() != "10.253.0.100" {
		t.Fatalf("pool address not reused: %+v\n%s", gws, out)
	}
	// Changing ike-tcp-port flushes every tunnel (seed 000).
	l.apply("config system settings\nset ike-tcp-port 20443\nend\n")
	if n := len(l.d.Gateways()); n != 0 {
		t.Fatalf("%d tunnels survived the ike-tcp-port change", n)
	}
	if !strings.Contains(l.log(), "ike-tcp-port changed 443 -> 20443, flushed 1 tunnel(s)") {
		t.Fatalf("iked log:\n%s", l.log())
	}
}

// Seed 001: keylife 360 with reauth enable tears the tunnel down at keylife
// instead of rekeying; the appliance clock makes it take milliseconds.
func TestStrongSwanReauthAtKeylife(t *testing.T) {
	requireCharon(t)
	l := newLab(t, `config vpn ipsec phase1-interface
    edit "Dialup-TimeOut"
        set type dynamic
        set interface "port1"
        set ike-version 2
        set peertype any
        set keylife 360
        set proposal aes128-sha256
        set dhgrp 14
        set reauth enable
        set psksecret "s3cret-psk"
    next
end
config vpn ipsec phase2-interface
    edit "Dialup-TimeOut"
        set phase1name "Dialup-TimeOut"
        set proposal aes128-sha256
        set pfs disable
    next
end
`)
	l.run(swan{ikeProposals: "aes128-sha256-modp2048", espProposals: "aes128-sha256", psk: "s3cret-psk",
		steps: [][]string{{"--initiate", "--child", "c1", "--timeout", "10"}}})
	if len(l.d.Gateways()) != 1 {
		t.Fatalf("not established:\n%s", l.log())
	}
	l.clock.Advance(5 * time.Minute)
	time.Sleep(50 * time.Millisecond)
	if len(l.d.Gateways()) != 1 {
		t.Fatal("torn down before keylife")
	}
	l.clock.Advance(time.Minute)
	if !waitFor(2*time.Second, func() bool { return len(l.d.Gateways()) == 0 }) {
		t.Fatal("the tunnel was not torn down at keylife with reauth enable")
	}
	for _, want := range []string{
		"ike V=root:0:Dialup-TimeOut_0:1: expiring IKE SA ",
		"ike V=root:0:Dialup-TimeOut_0: going to be deleted",
		"ike V=root:0:Dialup-TimeOut_0: flushing",
		"ike V=root:0:Dialup-TimeOut_0: deleting IPsec SA with SPI ",
		"ike V=root:0:Dialup-TimeOut_0:Dialup-TimeOut: deleted IPsec SA with SPI ",
		"ike V=root:0:Dialup-TimeOut_0: sending SNMP tunnel DOWN trap for Dialup-TimeOut",
	} {
		if !strings.Contains(l.log(), want) {
			t.Errorf("missing debug line %q in:\n%s", want, l.log())
		}
	}
}

// swanctl --rekey of the IKE SA and of the CHILD SA: the tunnel stays up
// with new SPIs on both sides.
func TestStrongSwanRekey(t *testing.T) {
	requireCharon(t)
	l := newLab(t, `config vpn ipsec phase1-interface
    edit "dialup"
        set type dynamic
        set interface "port1"
        set ike-version 2
        set peertype any
        set proposal aes128-sha256
        set dhgrp 19
        set psksecret "s3cret-psk"
    next
end
config vpn ipsec phase2-interface
    edit "dialup-p2"
        set phase1name "dialup"
        set proposal aes128-sha256
        set dhgrp 19
    next
end
`)
	out := l.run(swan{ikeProposals: "aes128-sha256-ecp256", espProposals: "aes128-sha256-ecp256", psk: "s3cret-psk",
		steps: [][]string{
			{"--initiate", "--child", "c1", "--timeout", "10"},
			{"--list-sas"},
			{"--rekey", "--child", "c1"},
			{"--rekey", "--ike", "fgt"},
			{"--list-sas"},
		}})
	lists := strings.Split(out, ">>> swanctl --list-sas")
	if len(lists) != 3 || !strings.Contains(lists[2], "ESTABLISHED") || !strings.Contains(lists[2], "INSTALLED") {
		t.Fatalf("not up after the rekeys:\n%s\niked:\n%s", out, l.log())
	}
	if strings.Contains(out, "rekey failed") || !strings.Contains(l.log(), "rekeyed IKE SA") || !strings.Contains(l.log(), "rekeying IPsec SA") {
		t.Fatalf("rekeys:\n%s\niked:\n%s", out, l.log())
	}
	gws := l.d.Gateways()
	if len(gws) != 1 || len(gws[0].Children) != 1 {
		t.Fatalf("after the rekeys iked holds %+v", gws)
	}
	// iked's IKE SA and child SA are the ones strongSwan lists last.
	g := gws[0]
	if !strings.Contains(lists[2], fmt.Sprintf("%016x_i* %016x_r", g.SPIi, g.SPIr)) {
		t.Fatalf("IKE SPIs %016x/%016x not in:\n%s", g.SPIi, g.SPIr, lists[2])
	}
	if c := g.Children[0]; !strings.Contains(lists[2], fmt.Sprintf("in  %08x", c.SPIOut)) || !strings.Contains(lists[2], fmt.Sprintf("out %08x", c.SPIIn)) {
		t.Fatalf("child SPIs %08x/%08x not in:\n%s", c.SPIOut, c.SPIIn, lists[2])
	}
}

// DPD on-idle: once strongSwan is gone, dpd-retrycount unanswered probes
// every dpd-retryinterval take the tunnel down (on the appliance clock).
func TestStrongSwanDPDDeadPeer(t *testing.T) {
	requireCharon(t)
	l := newLab(t, `config vpn ipsec phase1-interface
    edit "dialup"
        set type dynamic
        set interface "port1"
        set ike-version 2
        set peertype any
        set proposal aes128-sha256
        set dhgrp 19
        set dpd on-idle
        set dpd-retrycount 3
        set dpd-retryinterval 20
        set psksecret "s3cret-psk"
    next
end
config vpn ipsec phase2-interface
    edit "dialup-p2"
        set phase1name "dialup"
        set proposal aes128-sha256
        set pfs disable
    next
end
`)
	l.run(swan{ikeProposals: "aes128-sha256-ecp256", espProposals: "aes128-sha256", psk: "s3cret-psk",
		steps: [][]string{{"--initiate", "--child", "c1", "--timeout", "10"}}})
	if len(l.d.Gateways()) != 1 {
		t.Fatalf("not established:\n%s", l.log())
	}
	// charon was killed at the end of run: nobody answers any more.
	for i := 0; i < 4 && len(l.d.Gateways()) == 1; i++ {
		l.clock.Advance(20 * time.Second)
		waitFor(time.Second, func() bool { g := l.d.Gateways(); return len(g) == 0 || g[0].DPDSent > i })
	}
	if !waitFor(2*time.Second, func() bool { return len(l.d.Gateways()) == 0 }) {
		t.Fatalf("a dead peer's tunnel stayed up:\n%s", l.log())
	}
	if !strings.Contains(l.log(), "DPD: no answer to 3 probes, peer is dead") {
		t.Fatalf("iked log:\n%s", l.log())
	}
}

const eapConfig = `config user local
    edit "userc"
        set type password
        set passwd "passw0rd"
    next
end
config user group
    edit "local-group"
        set member "userc"
    next
end
config vpn ipsec phase1-interface
    edit "dialup"
        set type dynamic
        set interface "port1"
        set ike-version 2
        set peertype any
        set mode-cfg enable
        set proposal aes256gcm-prfsha384 aes256-sha256
        set dhgrp 31 19
        set eap enable
        set eap-identity send-request
        set authusrgrp "local-group"
        set ipv4-start-ip 10.212.134.200
        set ipv4-end-ip 10.212.134.254
        set psksecret "s3cret-psk"
    next
end
config vpn ipsec phase2-interface
    edit "DY"
        set phase1name "dialup"
        set proposal aes256gcm aes256-sha256
        set pfs disable
    next
end
`

// PSK + EAP as FortiClient dials in (seed 002): EAP-MS-CHAPv2 with x25519
// and AES-GCM, EAP-MD5 with ECP-256, a wrong EAP password refused.
func TestStrongSwanEAP(t *testing.T) {
	requireCharon(t)
	for _, c := range []struct {
		name, ike, esp, method, secret string
		ok                             bool
	}{
		{"mschapv2-x25519-gcm", "aes256gcm16-prfsha384-curve25519", "aes256gcm16", "eap-mschapv2", "passw0rd", true},
		{"md5-ecp256", "aes256-sha256-ecp256", "aes256-sha256", "eap-md5", "passw0rd", true},
		{"mschapv2-wrong-password", "aes256-sha256-ecp256", "aes256-sha256", "eap-mschapv2", "nope", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			// in a namespace of the test's, where strongSwan installs the
			// virtual IP and the child SA
			l := newLabIn(t, eapConfig, true, labNetns(t, false), Options{Addr: natIked, Port: 500, NATTPort: 4500})
			out := l.run(swan{ikeProposals: c.ike, espProposals: c.esp, psk: "s3cret-psk", vips: true, localAddr: natClient,
				eap: c.method, eapID: "userc", eapSecret: c.secret,
				steps: [][]string{{"--initiate", "--child", "c1", "--timeout", "10"}, {"--list-sas"}}})
			gws := l.d.Gateways()
			if !c.ok {
				if len(gws) != 0 || strings.Contains(out, "initiate completed successfully") {
					t.Fatalf("a wrong EAP password was accepted:\n%s", out)
				}
				if !strings.Contains(l.log(), `EAP authentication failed for "userc": wrong password`) {
					t.Fatalf("iked log:\n%s", l.log())
				}
				return
			}
			// strongSwan authenticates us with the MSK, takes the address and
			// installs the child SA; iked lists the same SAs
			if !strings.Contains(out, "authentication of '192.0.2.1' with EAP successful") || len(gws) != 1 {
				t.Fatalf("not established:\n%s\niked:\n%s", out, l.log())
			}
			g := gws[0]
			installed := installedChildren(out)
			if g.EAPUser != "userc" || g.AssignedIP.String() != "10.212.134.200" || !strings.Contains(out, "local  10.212.134.200/32") ||
				len(g.Children) != 1 || !strings.Contains(installed, fmt.Sprintf("in  %08x", g.Children[0].SPIOut)) ||
				!strings.Contains(out, fmt.Sprintf("%016x_i* %016x_r", g.SPIi, g.SPIr)) {
				t.Fatalf("gateway %+v\n%s", g, out)
			}
			// the seed's debug lines, in the seed's order
			want := []string{"responder received AUTH msg", "peer identifier IPV4_ADDR 127.0.0.2", "eap-peer=yes", "re-validate gw ID",
				"gw validation OK", "responder preparing EAP identity request", "responder received AUTH msg", "auth verify done",
				"responder AUTH continuation", "authentication succeeded", "responder creating new child"}
			rest := l.log()
			for _, w := range want {
				i := strings.Index(rest, "ike V=root:0:dialup:1: "+w)
				if i < 0 {
					t.Fatalf("missing %q (in order) in:\n%s", w, l.log())
				}
				rest = rest[i+len(w):]
			}
			for _, want := range []string{"responder preparing EAP identity request", `EAP authentication of "userc" succeeded`} {
				if !strings.Contains(l.log(), want) {
					t.Fatalf("missing %q in:\n%s", want, l.log())
				}
			}
		})
	}
}

// Under load iked answers IKE_SA_INIT with a COOKIE; strongSwan returns it.
func TestStrongSwanCookie(t *testing.T) {
	requireCharon(t)
	l := newLab(t, fmt.Sprintf(basePhase1, "aes128-sha256", "19", "aes128-sha256"))
	l.d.mu.Lock()
	l.d.opt.CookieThreshold = -1 // as if under load
	l.d.mu.Unlock()
	out := l.run(swan{ikeProposals: "aes128-sha256-ecp256", espProposals: "aes128-sha256", psk: "s3cret-psk",
		steps: [][]string{{"--initiate", "--child", "c1", "--timeout", "10"}}})
	if !strings.Contains(out, "initiate completed successfully") || len(l.d.Gateways()) != 1 {
		t.Fatalf("not established through a cookie:\n%s\niked:\n%s", out, l.log())
	}
	if !strings.Contains(l.log(), "sending cookie to") {
		t.Fatalf("no cookie was asked for:\n%s", l.log())
	}
}

// Without reauth, keylife makes iked rekey the IKE SA itself and
// keylifeseconds makes it rekey the child SA (RFC 7296 §1.3.2, §1.3.3):
// strongSwan stays connected with the new SPIs, iked is then the IKE SA's
// original initiator, and strongSwan's own rekey and delete still work on
// the SA whose roles flipped.
func TestStrongSwanIkedRekeysAtKeylife(t *testing.T) {
	requireCharon(t)
	l := newLab(t, `config vpn ipsec phase1-interface
    edit "dialup"
        set type dynamic
        set interface "port1"
        set ike-version 2
        set peertype any
        set keylife 600
        set proposal aes256gcm-prfsha384
        set dhgrp 31
        set psksecret "s3cret-psk"
    next
end
config vpn ipsec phase2-interface
    edit "dialup-p2"
        set phase1name "dialup"
        set proposal aes128-sha256
        set dhgrp 19
        set keylifeseconds 300
    next
end
`)
	waitLog := func(want string, n int) {
		t.Helper()
		if !waitFor(3*time.Second, func() bool { return strings.Count(l.log(), want) >= n }) {
			t.Fatalf("no %q (x%d) in:\n%s", want, n, l.log())
		}
	}
	var before, afterChild, afterIKE Gateway
	out := l.run(swan{ikeProposals: "aes256gcm16-prfsha384-curve25519", espProposals: "aes128-sha256-ecp256", psk: "s3cret-psk",
		steps: [][]string{
			{"--initiate", "--child", "c1", "--timeout", "10"},
			{"@hook", "0"},
			{"--list-sas"},
			{"@hook", "1"},
			{"--list-sas"},
			{"--rekey", "--child", "c1"},
			{"--list-sas"},
			{"--terminate", "--ike", "fgt", "--timeout", "10"},
		},
		hooks: []func(){
			func() {
				before = l.d.Gateways()[0]
				l.clock.Advance(297 * time.Second) // the child's soft lifetime is 296.25 s
				waitLog("deleted IPsec SA with SPI", 1)
				afterChild = l.d.Gateways()[0]
			},
			func() {
				l.clock.Advance(303 * time.Second)
				waitLog("rekeyed IKE SA", 1)
				waitFor(3*time.Second, func() bool { // the old SA retired
					l.d.mu.Lock()
					defer l.d.mu.Unlock()
					return len(l.d.sas) == 1
				})
				afterIKE = l.d.Gateways()[0]
			},
		}})
	lists := strings.Split(out, ">>> swanctl --list-sas")
	if len(lists) != 4 {
		t.Fatalf("strongSwan:\n%s\niked:\n%s", out, l.log())
	}
	// after iked's child rekey: strongSwan holds the new child SA only
	c0, c1 := before.Children[0], afterChild.Children
	installed := installedChildren(lists[1])
	if len(c1) != 1 || c1[0].SPIIn == c0.SPIIn || !strings.Contains(installed, fmt.Sprintf("in  %08x", c1[0].SPIOut)) ||
		!strings.Contains(installed, fmt.Sprintf("out %08x", c1[0].SPIIn)) || strings.Contains(installed, fmt.Sprintf("%08x", c0.SPIIn)) {
		t.Fatalf("child rekey: before %+v after %+v\nstrongSwan:\n%s\niked:\n%s", c0, c1, lists[1], l.log())
	}
	// after iked's IKE rekey: iked initiated the new SA, strongSwan is its
	// responder ("_r*" marks strongSwan's own SPI), the child SA moved over
	// (and was rekeyed once more: its second soft lifetime came first)
	installed = installedChildren(lists[2])
	if afterIKE.SPIi == before.SPIi || !strings.Contains(lists[2], fmt.Sprintf("%016x_i %016x_r*", afterIKE.SPIi, afterIKE.SPIr)) ||
		!strings.Contains(lists[2], "ESTABLISHED") || len(afterIKE.Children) != 1 ||
		!strings.Contains(installed, fmt.Sprintf("out %08x", afterIKE.Children[0].SPIIn)) ||
		!afterIKE.Initiator || afterIKE.IKETotal != 2 || afterIKE.IPsecTotal != 3 {
		t.Fatalf("IKE rekey: %+v\nstrongSwan:\n%s\niked:\n%s", afterIKE, lists[2], l.log())
	}
	if !strings.Contains(lists[3], "INSTALLED") || strings.Contains(out, "failed") {
		t.Fatalf("strongSwan's child rekey on the flipped SA:\n%s\niked:\n%s", out, l.log())
	}
	if !strings.Contains(out, "terminate completed successfully") || len(l.d.Gateways()) != 0 {
		t.Fatalf("delete on the flipped SA:\n%s\niked:\n%s", out, l.log())
	}
}

// installedChildren is the text of the child SAs swanctl --list-sas shows
// as INSTALLED (deleted ones linger in the list for a moment).
func installedChildren(list string) string {
	var b strings.Builder
	for _, block := range strings.Split(list, "c1: #")[1:] {
		if strings.Contains(block, "INSTALLED") {
			b.WriteString(block)
		}
	}
	return b.String()
}
