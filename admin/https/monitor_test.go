package https

import (
	"net/netip"
	"testing"
	"time"

	"github.com/fosim/fosim/daemons/iked/ike"
	"github.com/fosim/fosim/daemons/iked/ikeapi"
)

// snapshotVPN answers with a fixed iked snapshot, as iked's query
// interface would.
type snapshotVPN []ikeapi.Gateway

func (s snapshotVPN) Gateways() []ikeapi.Gateway { return s }

// monitor/vpn/ipsec formats iked's snapshot; without iked it says so; a
// profile without VPN access gets -14.
func TestMonitorVPNIPsec(t *testing.T) {
	api := newTestAPI(t)
	if code, m := api.do(t, "GET", "/api/v2/monitor/vpn/ipsec", nil); code != 503 || m["status"] != "error" {
		t.Fatalf("without iked: %d %v", code, m)
	}
	api.srv.VPN = snapshotVPN{{
		Name: "dialup_0", Parent: "dialup", Peer: netip.MustParseAddrPort("172.16.200.242:500"),
		AssignedIP: netip.MustParseAddr("10.212.134.200"), EAPUser: "userc", Created: 34 * time.Second,
		Children: []ikeapi.Child{{
			Name: "dialup", RxBytes: 3338588, Expires: 42386 * time.Second,
			Local:  []ike.Selector{{Start: netip.MustParseAddr("0.0.0.0"), End: netip.MustParseAddr("255.255.255.255")}},
			Remote: []ike.Selector{{Start: netip.MustParseAddr("10.139.1.2"), End: netip.MustParseAddr("10.139.1.2")}},
		}},
	}}
	code, m := api.do(t, "GET", "/api/v2/monitor/vpn/ipsec", nil)
	res, _ := m["results"].([]any)
	if code != 200 || len(res) != 1 {
		t.Fatalf("vpn/ipsec: %d %v", code, m)
	}
	tun := res[0].(map[string]any)
	if tun["name"] != "dialup_0" || tun["parent"] != "dialup" || tun["rgwy"] != "172.16.200.242" || tun["tun_id"] != "10.212.134.200" ||
		tun["username"] != "userc" || tun["incoming_bytes"] != float64(3338588) || tun["creation_time"] != float64(34) {
		t.Fatalf("tunnel: %v", tun)
	}
	p := tun["proxyid"].([]any)[0].(map[string]any)
	if p["p2name"] != "dialup" || p["status"] != "up" || p["proxy_dst"].([]any)[0].(map[string]any)["subnet"] != "10.139.1.2-10.139.1.2" {
		t.Fatalf("proxyid: %v", p)
	}
	api.cli(t, "admin", "config system accprofile\nedit fwonly\nset fwgrp read-write\nnext\nend\nconfig system api-user\nedit fw\nset accprofile fwonly\nnext\nend")
	api.token = api.generateKey(t, "admin", "fw")
	if code, m := api.do(t, "GET", "/api/v2/monitor/vpn/ipsec", nil); code != 403 || m["error"] != float64(-14) {
		t.Fatalf("without vpngrp: %d %v", code, m)
	}
	if code, m := api.do(t, "GET", "/api/v2/monitor/system/status", nil); code != 200 || m["results"].(map[string]any)["hostname"] == nil {
		t.Fatalf("system/status: %d %v", code, m)
	}
	if code, _ := api.do(t, "GET", "/api/v2/monitor/router/ipv4", nil); code != 404 {
		t.Fatalf("unmodelled monitor: %d", code)
	}
}
