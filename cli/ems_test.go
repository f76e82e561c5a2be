package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/fcnacd"
	"github.com/fosim/fosim/peers/ems"
)

// emsPeer serves fosim's EMS with seed 002 example 1's endpoint.
func emsPeer(t *testing.T) (*ems.Config, *ems.Server, int) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := ems.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.SetEndpoint(ems.Endpoint{UID: "6108A9179A5C40D7BD57504E15114C1F", IP: netip.MustParseAddr("172.16.200.242"),
		PublicIP: netip.MustParseAddr("198.51.100.7"), MACs: []string{"00:0c:29:aa:67:74"}, Host: "PC1", User: "userc",
		FCTVersion: "7.2.4", Registered: true, Online: true, CertSN: "0D5E2C1B60ACA9FE283DEEC3B000000000000001"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.SetRule(ems.TagRule{Tag: "all_registered_clients", Type: 1, Conditions: []ems.Condition{{Field: "registered", Value: "yes"}}}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Save(dir); err != nil {
		t.Fatal(err)
	}
	srv, err := ems.NewServer(dir, clock.New(time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Run(ctx)
	go hs.Serve(tls.NewListener(srv.Listener(ln), srv.TLSConfig()))
	t.Cleanup(func() { cancel(); hs.Close() })
	return cfg, srv, ln.Addr().(*net.TCPAddr).Port
}

// TestEMSCommands: execute fctems verify trusts the EMS, then seed 002's
// outputs come field for field from what fcnacd synced.
func TestEMSCommands(t *testing.T) {
	sh, out := newShell(t)
	sh.Line("diagnose endpoint ec-shm list")
	if !strings.Contains(out.String(), "not simulated yet: diagnose endpoint ec-shm list (the EMS connector in this process") {
		t.Fatalf("without fcnacd: %q", out.String())
	}
	cfg, _, port := emsPeer(t)
	for _, l := range strings.Split(fmt.Sprintf(`config system interface
edit port1
set mode static
set ip 172.16.200.4 255.255.255.0
next
end
config endpoint-control fctems
edit 1
set status enable
set name "ems1"
set server "127.0.0.1"
set https-port %d
next
end`, port), "\n") {
		sh.Line(l)
	}
	if strings.Contains(out.String(), "Command fail") {
		t.Fatal(out.String())
	}
	d := fcnacd.New(fcnacd.Options{RetryMin: 100 * time.Millisecond, RetryMax: 300 * time.Millisecond})
	sup := daemons.NewSupervisor(&daemons.Runtime{Store: sh.App.Store, Clock: sh.App.Clock, Debug: sh.App.Debug}, d)
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer sup.Stop(5 * time.Second)
	sh.App.EMS = d

	out.Reset()
	sh.Line("execute fctems verify nosuch")
	if !strings.Contains(out.String(), "entry not found in datasource") {
		t.Fatalf("unknown EMS: %q", out.String())
	}
	out.Reset()
	sh.Line("execute fctems verify ems1")
	got := out.String()
	for _, want := range []string{"Server certificate:\n\tsubject: ", "CN=" + cfg.Serial, "\tEMS serial number: " + cfg.Serial + "\n",
		"EMS configuration needs user to confirm server certificate.\nDo you wish to add the above certificate to trusted remote certificates? (y/n)y\n"} {
		if !strings.Contains(got, want) {
			t.Fatalf("verify output lacks %q:\n%s", want, got)
		}
	}
	if e := sh.App.Store.Lookup("vpn certificate remote", "REMOTE_Cert_1"); e == nil || !strings.Contains(strings.Join(e.Values["remote"], " "), "BEGIN CERTIFICATE") {
		t.Fatalf("no trusted remote certificate: %+v", e)
	}
	if e := sh.App.Store.Lookup("endpoint-control fctems", "1"); e == nil || e.Values["serial-number"][0] != cfg.Serial || e.Values["tenant-id"][0] != cfg.TenantID {
		t.Fatalf("fctems after verify: %+v", e)
	}
	if e := sh.App.Store.Lookup("endpoint-control fctems", "1"); strings.Join(e.Values["capabilities"], " ") != "websocket common-tags-api tenant-id" {
		t.Fatalf("capabilities after verify: %v", e.Values["capabilities"])
	}

	var dyn string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out.Reset()
		sh.Line("diagnose firewall dynamic list EMS1_ZTNA_all_registered_clients")
		if dyn = out.String(); strings.Contains(dyn, "ADDR(") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var id int
	for _, a := range d.Dynamic() {
		if a.Name == "EMS1_ZTNA_all_registered_clients" {
			id = a.ID
		}
	}
	want := fmt.Sprintf("\nCMDB name: EMS1_ZTNA_all_registered_clients\nTAG name: all_registered_clients\nEMS1_ZTNA_all_registered_clients: ID(%d)\n"+
		"\tADDR(172.16.200.242)\nTotal IP dynamic range blocks: 0.\nTotal IP dynamic addresses: 1.\n", id)
	if dyn != want {
		t.Fatalf("dynamic list:\n%q\nwant\n%q", dyn, want)
	}

	out.Reset()
	sh.Line("diagnose endpoint ec-shm list")
	want = "\nRecord #0:\n" +
		"\t\tIP Address = 172.16.200.242\n" +
		"\t\tMAC Address = 00:0c:29:aa:67:74\n" +
		"\t\tMAC list =\n" +
		"\t\tVDOM = root (0)\n" +
		"\t\tTOKEN VDOM =  (-1)\n" +
		"\t\tEMS serial number: " + cfg.Serial + "\n" +
		"\t\tEMS tenant id: " + cfg.TenantID + "\n" +
		"\t\tClient cert SN: 0D5E2C1B60ACA9FE283DEEC3B000000000000001\n" +
		"\t\tPublic IP address: 198.51.100.7\n" +
		"\t\tQuarantined: no\n" +
		"\t\tOnline status: online\n" +
		"\t\tRegistration status: registered\n" +
		"\t\tOn-net status: on-net\n" +
		"\t\tGateway Interface: port1\n" +
		"\t\tFortiClient version: 7.2.4\n" +
		"\t\tNumber of Routes: (1)\n" +
		"\t\t\tGateway Route #0:\n" +
		"\t\t\t\t- IP:172.16.200.242, MAC: 00:0c:29:aa:67:74, VPN: no\n" +
		"\t\t\t\t- Interface:port1, VDOM:root (0), SN: " + sh.App.Store.Serial() + "\n"
	if got := out.String(); got != want {
		t.Fatalf("ec-shm list:\n%s\nwant\n%s", got, want)
	}

	out.Reset()
	sh.Line("diagnose test application fcnacd 2")
	if got := out.String(); !strings.Contains(got, "EMS context 1: ems1\n") || !strings.Contains(got, "\tstatus: connected\n") || !strings.Contains(got, "\tendpoints: 1\n") {
		t.Fatalf("fcnacd 2:\n%s", got)
	}
	out.Reset()
	sh.Line("diagnose test application fcnacd 7")
	if got := out.String(); !strings.Contains(got, "#ID:1\nUID: 6108A9179A5C40D7BD57504E15114C1F\nEMS: "+cfg.Serial+" "+cfg.TenantID+"\n") ||
		!strings.Contains(got, "name:all_registered_clients\n") || !strings.Contains(got, "Route IP:172.16.200.242, vdom:root(0)\n") {
		t.Fatalf("fcnacd 7:\n%s", got)
	}
	out.Reset()
	sh.Line("execute fctems verify ems1")
	if got := out.String(); !strings.Contains(got, "The EMS certificate is already trusted.") {
		t.Fatalf("verify again:\n%s", got)
	}
	// An EMS that cannot be reached: verify says so.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	for _, l := range strings.Split(fmt.Sprintf("config endpoint-control fctems\nedit 2\nset name ems2\nset server 127.0.0.1\nset https-port %d\nset call-timeout 2\nnext\nend", closed), "\n") {
		sh.Line(l)
	}
	out.Reset()
	sh.Line("execute fctems verify ems2")
	if got := out.String(); !strings.Contains(got, "cannot reach EMS 2 (ems2) at 127.0.0.1:") || !strings.Contains(got, "connection refused") || strings.Contains(got, "Do you wish") {
		t.Fatalf("verify of an unreachable EMS:\n%s", got)
	}
	out.Reset()
	sh.Line("diagnose firewall dynamic list nosuch")
	if !strings.Contains(out.String(), "entry not found in datasource") {
		t.Fatalf("unknown dynamic address: %q", out.String())
	}
}
