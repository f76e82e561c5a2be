package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fosim/fosim/daemons/iked/client"
	"github.com/fosim/fosim/daemons/iked/fctdata"
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
