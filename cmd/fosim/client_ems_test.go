package main

import (
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fosim/fosim/grammar"
	"github.com/fosim/fosim/peers/ems"
)

// fosim client --ems against a running appliance and EMS: the client
// registers, the FortiGate's connector hears of the endpoint on push
// (diagnose endpoint ec-shm list shows it), and the dial passes the tag
// check with the EMS serial and tenant id of the registration's answer;
// with ZTNA tokens off it passes on the EMS's tags alone.
func TestClientEMSRegistrationThroughAppliance(t *testing.T) {
	emsDir := filepath.Join(t.TempDir(), "ems")
	cfg, srv, emsAddr := startTestEMS(t, emsDir)
	_, emsPort, _ := net.SplitHostPort(emsAddr)
	caFile := filepath.Join(emsDir, "ems-cert.pem")

	data := filepath.Join(t.TempDir(), "data")
	app := serveChild(t, data)
	defer app.stop(syscall.SIGTERM)
	apply := func(script string) {
		t.Helper()
		if _, stderr, rc := fosim(t, script, "--data", data, "apply", "-"); rc != 0 {
			t.Fatalf("apply: %s", stderr)
		}
	}
	// the EMS connection, its certificate trusted (what execute fctems
	// verify stores)
	apply("config vpn certificate remote\nedit REMOTE_Cert_1\nset remote " + grammar.Quote(strings.TrimSpace(string(srv.Keys().CertPEM))) + "\nnext\nend\n" +
		"config endpoint-control fctems\nedit 1\nset status enable\nset name ems1\nset server 127.0.0.1\nset https-port " + emsPort + "\nnext\nend\n")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, _, rc := fosim(t, "", "--data", data, "show", "firewall", "address", "EMS1_ZTNA_all_registered_clients"); rc == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connector did not sync the EMS's tag")
		}
	}
	apply(`config vpn ipsec phase1-interface
    edit "dialup"
        set type dynamic
        set interface "port1"
        set ike-version 2
        set peertype any
        set proposal aes128-sha256
        set dhgrp 19
        set ems-sn-check enable
        set remote-gw-match ztna
        set psksecret "ems-psk-123"
        set remote-gw-ztna-tags "EMS1_ZTNA_all_registered_clients"
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
	const uid = "3C9A0E7B5D1F4A2B8C6D0E1F2A3B4C5D"
	dial := func() (string, string, int) {
		return fosim(t, "", "client", "--server", "127.0.0.1:"+app.ikePort, "--psk", "ems-psk-123",
			"--fct-uid", uid, "--fct-ip", "172.16.200.250", "--fct-mac", "00-0c-29-3c-9a-0e", "--fct-host", "PC3", "--fct-user", "alice",
			"--ems", emsAddr, "--ems-ca-file", caFile)
	}
	// a client the EMS does not know yet: the first dial may reach the
	// gateway before the push (its token then stands in)
	out, stderr, rc := dial()
	if rc != 0 || !strings.Contains(out, "registered with EMS "+cfg.Serial+" (tenant "+cfg.TenantID+") as "+uid+", IP 172.16.200.250: tags all_registered_clients, ZTNA token (len=") ||
		!strings.Contains(out, "established") {
		t.Fatalf("first dial: rc=%d\n%s%s", rc, out, stderr)
	}
	setAdminPassword(t, data, "Ems-pw-4242")
	shm := sshOutput(t, app.sshAddr, "Ems-pw-4242", "diagnose endpoint ec-shm list")
	for _, want := range []string{"IP Address = 172.16.200.250", "MAC Address = 00:0c:29:3c:9a:0e", "EMS serial number: " + cfg.Serial, "Registration status: registered"} {
		if !strings.Contains(shm, want) {
			t.Fatalf("ec-shm list lacks %q:\n%s", want, shm)
		}
	}
	// ZTNA tokens off: no token sent, the EMS's tag of the registered IP
	// lets it in
	off, err := ems.Open(emsDir)
	if err != nil {
		t.Fatal(err)
	}
	off.ZTNAToken = false
	if err := off.Save(emsDir); err != nil {
		t.Fatal(err)
	}
	out, stderr, rc = dial()
	if rc != 0 || strings.Contains(out, "ZTNA token") || !strings.Contains(out, "established") {
		t.Fatalf("dial on the EMS's tags: rc=%d\n%s%s", rc, out, stderr)
	}
	// a FortiClient that never registered: its IP resolves no tag, refused
	if _, stderr, rc := fosim(t, "", "client", "--server", "127.0.0.1:"+app.ikePort, "--psk", "ems-psk-123",
		"--fct-uid", "0D15EA5E0D15EA5E0D15EA5E0D15EA5E", "--fct-ip", "172.16.200.251", "--ems-sn", cfg.Serial, "--ems-tenant", cfg.TenantID); rc == 0 || !strings.Contains(stderr, "EMS_ZTNA_TAGS_CHECK_FAILURE") {
		t.Fatalf("an endpoint the EMS does not have got in: %s", stderr)
	}
}
