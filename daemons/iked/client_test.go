package iked

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/daemons/iked/client"
	"github.com/fosim/fosim/daemons/iked/suite"
)

func dialLab(t testing.TB, l *lab, psk string, group uint16, modecfg bool) (*client.Tunnel, error) {
	ikeS, _ := suite.ParseIKE("aes128-sha256")
	ikeS.DHGroup = group
	espS, _ := suite.ParseESP("aes128-sha256")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return client.Dial(ctx, client.Config{Server: l.d.Addrs()[0], PSK: []byte(psk), IKE: ikeS, ESP: espS, ModeCfg: modecfg,
		Local: netip.MustParseAddrPort("127.0.0.1:0")})
}

func TestOwnClient(t *testing.T) {
	l := newLab(t, fmt.Sprintf(basePhase1, "aes128-sha256", "19 14 31", "aes128-sha256"))
	for _, g := range []uint16{19, 14, 31} {
		tun, err := dialLab(t, l, "s3cret-psk", g, false)
		if err != nil {
			t.Fatalf("group %d: %v\n%s", g, err, l.log())
		}
		if tun.Responder != "127.0.0.1" || tun.SPIOut == 0 {
			t.Fatalf("tunnel %+v", tun)
		}
		if err := tun.DPD(context.Background()); err != nil {
			t.Fatalf("DPD: %v", err)
		}
		if err := tun.Delete(context.Background()); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	if n := len(l.d.Gateways()); n != 0 {
		t.Fatalf("%d gateways left after delete", n)
	}
	if _, err := dialLab(t, l, "wrong", 19, false); err == nil || !strings.Contains(err.Error(), "AUTHENTICATION_FAILED") {
		t.Fatalf("wrong PSK: %v", err)
	}
	if _, err := dialLab(t, l, "s3cret-psk", 20, false); err == nil || !strings.Contains(err.Error(), "NO_PROPOSAL_CHOSEN") {
		t.Fatalf("unconfigured group: %v", err)
	}
}

func TestCookies(t *testing.T) {
	l := newLab(t, fmt.Sprintf(basePhase1, "aes128-sha256", "19", "aes128-sha256"))
	l.d.mu.Lock()
	l.d.opt.CookieThreshold = -1 // always
	l.d.mu.Unlock()
	tun, err := dialLab(t, l, "s3cret-psk", 19, false)
	if err != nil {
		t.Fatalf("with a cookie: %v\n%s", err, l.log())
	}
	tun.Close()
	if !strings.Contains(l.log(), "sending cookie to 127.0.0.1:") || len(l.d.Gateways()) != 1 {
		t.Fatalf("no cookie exchange:\n%s", l.log())
	}
}
