package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/daemons/iked/client"
	"github.com/fosim/fosim/daemons/iked/fctdata"
	"github.com/fosim/fosim/peers/ems"
)

// fosim client's FortiClient flags become the FCT data and token iked
// reads; bad ones are refused before any packet.
func TestClientFortiClientData(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("eyJhbGciOiJSUzI1NiJ9.e30.sig\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := client.Config{Local: netip.MustParseAddrPort("127.0.0.2:0")}
	err := fortiClientData(&cfg, "6108A9179A5C40D7BD57504E15114C1F", "", []string{"00-0c-29-5e-67-74"}, "PC1", "userc", "FCTEMS8826000120", "5C0E7B3A9D2F4E6A811EDB589FBC4626", tok)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fctdata.Parse(cfg.FCT.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.IP.String() != "127.0.0.2" || got.EMSSerial != "FCTEMS8826000120" || !got.Tags || cfg.ZTNAToken != "eyJhbGciOiJSUzI1NiJ9.e30.sig" {
		t.Fatalf("FCT data %+v, token %q", got, cfg.ZTNAToken)
	}
	for _, args := range [][]string{
		{"--psk", "x", "--fct-uid", "nothex"},
		{"--psk", "x", "--fct-uid", "6108A9179A5C40D7BD57504E15114C1F", "--fct-ip", "::1"},
		{"--psk", "x", "--ems-sn", "FCTEMS8826000120"},
		{"--psk", "x", "--fct-uid", "6108A9179A5C40D7BD57504E15114C1F", "--ztna-token-file", filepath.Join(t.TempDir(), "none")},
	} {
		var stdout, stderr bytes.Buffer
		if rc := clientCmd(args, &stdout, &stderr); rc != 2 || !strings.Contains(stderr.String(), "fosim client:") {
			t.Errorf("%v: rc %d, %s", args, rc, stderr.String())
		}
	}
}

// --ems: fosim client registers with the EMS before it dials and takes
// the EMS serial, tenant id and ZTNA token from the answer; the EMS keeps
// the endpoint. A certificate other than --ems-ca-file's is refused.
func TestClientRegistersWithEMS(t *testing.T) {
	dir := t.TempDir()
	cfg, _, emsAddr := startTestEMS(t, dir)
	caFile := filepath.Join(dir, "ems-cert.pem")

	const uid = "6108A9179A5C40D7BD57504E15114C1F"
	c := client.Config{Server: netip.MustParseAddrPort("127.0.0.1:500")}
	if err := fortiClientData(&c, uid, "", []string{"00-0c-29-5e-67-74"}, "PC1", "userc", "", "", ""); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg, err := registerWithEMS(ctx, &c, emsAddr, caFile, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fctdata.Parse(c.FCT.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.EMSSerial != cfg.Serial || got.EMSTenant != cfg.TenantID || got.IP.String() != "127.0.0.1" || !got.Tags || c.ZTNAToken != reg.Token || reg.Token == "" {
		t.Fatalf("FCT data %+v, token %q, answer %+v", got, c.ZTNAToken, reg)
	}
	stored, err := ems.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := stored.Endpoint(uid); !ok || !e.Registered || e.Host != "PC1" || e.MACs[0] != "00:0c:29:5e:67:74" || e.IP.String() != "127.0.0.1" {
		t.Fatalf("the EMS keeps %+v", e)
	}
	// another EMS's certificate: refused; no CA file: accepted, fingerprint printed
	otherDir := filepath.Join(t.TempDir(), "other")
	if _, err := ems.Open(otherDir); err != nil {
		t.Fatal(err)
	}
	if _, err := registerWithEMS(ctx, &c, emsAddr, filepath.Join(otherDir, "ems-cert.pem"), &stderr); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("registered with an EMS whose certificate is not the one trusted: %v", err)
	}
	if _, err := registerWithEMS(ctx, &c, emsAddr, "", &stderr); err != nil || !strings.Contains(stderr.String(), "EMS certificate not checked") {
		t.Fatalf("without --ems-ca-file: %v %s", err, stderr.String())
	}
	for _, args := range [][]string{
		{"--psk", "x", "--ems", emsAddr},
		{"--psk", "x", "--fct-uid", uid, "--ems", emsAddr, "--ems-sn", "FCTEMS8826000120"},
		{"--psk", "x", "--fct-uid", uid, "--ems-ca-file", caFile},
	} {
		var stdout, stderr bytes.Buffer
		if rc := clientCmd(args, &stdout, &stderr); rc != 2 || !strings.Contains(stderr.String(), "fosim client:") {
			t.Errorf("%v: rc %d, %s", args, rc, stderr.String())
		}
	}
}

// startTestEMS runs an EMS peer on 127.0.0.1 until the test ends, its
// store in dir with one tag rule: all_registered_clients for every
// registered endpoint. It returns the store as saved, the server and its
// address.
func startTestEMS(t *testing.T, dir string) (*ems.Config, *ems.Server, string) {
	t.Helper()
	cfg, err := ems.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.SetRule(ems.TagRule{Tag: "all_registered_clients", Type: ems.TagTypeZeroTrust, Conditions: []ems.Condition{{Field: "registered", Value: "yes"}}}); err != nil {
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
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Run(ctx)
	hs := &http.Server{Handler: srv.Handler(), ErrorLog: log.New(io.Discard, "", 0)}
	go hs.Serve(tls.NewListener(srv.Listener(ln), srv.TLSConfig()))
	t.Cleanup(func() {
		cancel()
		hs.Close()
	})
	return cfg, srv, ln.Addr().String()
}
