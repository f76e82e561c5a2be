package iked

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fosim/fosim/daemons/fcnacd/fcnacdapi"
	"github.com/fosim/fosim/daemons/fcnacd/ztnatoken"
	"github.com/fosim/fosim/daemons/iked/client"
	"github.com/fosim/fosim/daemons/iked/fctdata"
	"github.com/fosim/fosim/daemons/iked/ike"
	"github.com/fosim/fosim/daemons/iked/suite"
	"github.com/fosim/fosim/internal/peertest"
)

// emsTags stands in for fcnacd (the lab in examples/ems-ztna-tags runs
// the real one against the EMS peer): one EMS, its tags by endpoint IP,
// its key for the ZTNA tokens, verified with ztnatoken on the lab clock.
type emsTags struct {
	fcnacdapi.Connector // the calls iked does not make panic
	mu                  sync.Mutex
	serial              string
	byIP                map[netip.Addr][]string
	key                 *rsa.PublicKey
	now                 func() time.Time
	downs               []fcnacdapi.TunnelEvent
}

func (e *emsTags) TagsOf(ip netip.Addr) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.byIP[ip]
}

func (e *emsTags) TunnelDown(ev fcnacdapi.TunnelEvent) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.downs = append(e.downs, ev)
	return true
}

func (e *emsTags) KnownSerial(sn string) (int, bool) { return 1, sn == e.serial }

func (e *emsTags) TagName(sn, tag string) (string, bool) {
	if sn != e.serial {
		return "", false
	}
	return "EMS1_ZTNA_" + tag, true
}

func (e *emsTags) VerifyToken(token, sn, uid string) (*ztnatoken.Token, error) {
	if sn != e.serial {
		return nil, errors.New("no such EMS")
	}
	return ztnatoken.Verify(token, e.key, e.now(), uid)
}

const ztnaConfig = `config firewall address
    edit "EMS1_ZTNA_all_registered_clients"
        set type dynamic
        set sub-type ems-tag
        set obj-tag "all_registered_clients"
    next
    edit "EMS1_ZTNA_a"
        set type dynamic
        set sub-type ems-tag
        set obj-tag "a"
    next
end
config vpn ipsec phase1-interface
    edit "FCT"
        set type dynamic
        set interface "port1"
        set ike-version 2
        set peertype any
        set mode-cfg enable
        set proposal aes256-sha256
        set dhgrp 19
        set ems-sn-check enable
        set remote-gw-match ztna
        set ipv4-start-ip 10.212.134.200
        set ipv4-end-ip 10.212.134.254
        set psksecret "s3cret-psk"
        set remote-gw-ztna-tags "EMS1_ZTNA_a" "EMS1_ZTNA_all_registered_clients"
    next
end
config vpn ipsec phase2-interface
    edit "DY"
        set phase1name "FCT"
        set proposal aes256-sha256
        set pfs disable
    next
end
`

const (
	fctUID = "6108A9179A5C40D7BD57504E15114C1F"
	emsSN  = "FCTEMS8826000120"
)

func ztnaLab(t *testing.T) (*lab, *emsTags, *rsa.PrivateKey) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ems := &emsTags{serial: emsSN, byIP: map[netip.Addr][]string{}, key: &key.PublicKey}
	l := newLabIn(t, ztnaConfig, true, "", Options{EMS: ems})
	ems.now = l.clock.Now
	return l, ems, key
}

func ztnaDial(l *lab, fct *fctdata.Data, token string) (*client.Tunnel, error) {
	ikeS, _ := suite.ParseIKE("aes256-sha256")
	ikeS.DHGroup = 19
	espS, _ := suite.ParseESP("aes256-sha256")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return client.Dial(ctx, client.Config{Server: l.d.Addrs()[0], PSK: []byte("s3cret-psk"), IKE: ikeS, ESP: espS, ModeCfg: true,
		Local: netip.MustParseAddrPort("127.0.0.1:0"), FCT: fct, ZTNAToken: token})
}

func fctOf(ip string) *fctdata.Data {
	return &fctdata.Data{FCTVersion: "7.4.5.1949", UID: fctUID, IP: netip.MustParseAddr(ip), MACs: []string{"00-0c-29-2c-4d-d7"},
		Host: "DESKTOP-EMS-TAG-PH2", User: "tester", OS: "Microsoft Windows 8.0 , 64-bit (build 9200)", EMSSerial: emsSN,
		EMSTenant: "00000000000000000000000000000000", Tags: true}
}

func wantLines(t *testing.T, log string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(log, l) {
			t.Fatalf("no line %q in:\n%s", l, log)
		}
	}
}

// Seed 002 example 1: a client whose reported IP (not the address its
// packets come from: 127.0.0.1 here) resolves the tag is let in; one whose
// IP resolves no tag of the phase1 is refused with the seed's lines and
// the failure notification.
func TestZTNATagsFromEMS(t *testing.T) {
	l, ems, _ := ztnaLab(t)
	ems.byIP[netip.MustParseAddr("172.16.200.242")] = []string{"EMS1_ZTNA_all_registered_clients"}
	tun, err := ztnaDial(l, fctOf("172.16.200.242"), "")
	if err != nil {
		t.Fatalf("tagged client refused: %v\n%s", err, l.log())
	}
	wantLines(t, l.log(),
		"ike V=root:0:FCT:1: processing notify type FORTICLIENT_CONNECT",
		"ike V=root:0:FCT:1: received FCT data len = ",
		"UID="+fctUID+"\nIP=172.16.200.242\n",
		"ike V=root:0:FCT:1: received FCT-UID : "+fctUID,
		"ike V=root:0:FCT:1: received EMS SN : "+emsSN,
		"ike V=root:0:FCT:1: received EMS tenant ID : 00000000000000000000000000000000",
		"ike V=root:0:FCT:1: EMS SN check passed",
		"ike V=root:0:FCT:1: EMS ZTNA tags check success ZTNA_all_registered_clients",
		"ike V=root:0:FCT:1: responder creating new child")
	if gws := l.d.Gateways(); len(gws) != 1 || gws[0].FortiClientUID != fctUID {
		t.Fatalf("gateways %+v", gws)
	}
	tun.Delete(context.Background())
	wantLines(t, l.log(), "ike V=root:0:FCT_0: sent tunnel-down message to EMS: (fct-uid="+fctUID+", intf=FCT_0, addr=10.212.134.200, vdom=root)")
	ems.mu.Lock()
	if len(ems.downs) != 1 || ems.downs[0].UID != fctUID || ems.downs[0].Interface != "FCT_0" || ems.downs[0].Addr.String() != "10.212.134.200" {
		t.Fatalf("the EMS was told %+v", ems.downs)
	}
	ems.mu.Unlock()

	// untagged: the address the packets come from resolves a tag, the
	// reported one does not
	ems.byIP[netip.MustParseAddr("127.0.0.1")] = []string{"EMS1_ZTNA_all_registered_clients"}
	_, err = ztnaDial(l, fctOf("172.16.200.243"), "")
	var rej client.ErrRejected
	if !errors.As(err, &rej) || rej.Notify != ike.NotifyEMSZTNATagsCheckFailure {
		t.Fatalf("untagged client: %v\n%s", err, l.log())
	}
	wantLines(t, l.log(),
		"ike V=root:0:FCT:2: EMS SN check passed",
		"ike V=root:0:FCT:2: EMS ZTNA tags check failure, abort",
		"ike V=root:FCT Negotiate SA Error: EMS ZTNA tags check failed",
		"ike V=root:0:FCT:2: sending IKE_AUTH ZTNA TAGS check failure notification response")
	if n := len(l.d.Gateways()); n != 0 {
		t.Fatalf("%d gateways after a refusal", n)
	}
	// no FCT data at all, and another EMS's client
	if _, err := ztnaDial(l, nil, ""); !errors.As(err, &rej) || rej.Notify != ike.NotifyEMSSerialNumberCheckFail {
		t.Fatalf("no FCT data: %v", err)
	}
	other := fctOf("172.16.200.242")
	other.EMSSerial = "FCTEMS0000000000"
	if _, err := ztnaDial(l, other, ""); !errors.As(err, &rej) || rej.Notify != ike.NotifyEMSSerialNumberCheckFail {
		t.Fatalf("another EMS: %v", err)
	}
	wantLines(t, l.log(), "EMS SN check failure (FCTEMS0000000000 is not an EMS of this FortiGate), abort", "ike V=root:FCT Negotiate SA Error: EMS SN check failed")
}

func ztnaToken(t *testing.T, key any, m jwt.SigningMethod, uid string, iat time.Time, life time.Duration, tags ...string) string {
	var ts []any
	for _, n := range tags {
		ts = append(ts, map[string]any{"name": n, "type": 1, "levl": nil})
	}
	s, err := jwt.NewWithClaims(m, jwt.MapClaims{
		"endpoint": map[string]any{"uid": uid, "tags": ts, "nwifs": nil, "ztna_cert_sn": "B09D97178121B588ED3055137577522C7B689B79", "owner": nil},
		"iat":      iat.Unix(), "exp": iat.Add(life).Unix(),
	}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Seed 002 example 2: the EMS resolves nothing (unreachable), FortiClient's
// JWT carries the tag: accepted, EMS_ZTNA_TAGS_CHECK_SUCCESS sent. An
// expired, forged, alg-none, HS256 or another UID's token is refused.
func TestZTNATokenFallback(t *testing.T) {
	l, _, key := ztnaLab(t)
	now := l.clock.Now()
	good := ztnaToken(t, key, jwt.SigningMethodRS256, fctUID, now, time.Hour, "a", "all_registered_clients", "Low")
	tun, err := ztnaDial(l, fctOf("10.160.1.197"), good)
	if err != nil {
		t.Fatalf("valid token refused: %v\n%s", err, l.log())
	}
	if !tun.ZTNATokenAccepted {
		t.Fatal("no EMS_ZTNA_TAGS_CHECK_SUCCESS in the answer")
	}
	wantLines(t, l.log(),
		"ike V=root:0:FCT_0:1: processing notify type ZTNA_TAG",
		"ike V=root:0:FCT_0:1: received ZTNA tags update token (len="+strconv.Itoa(len(good))+") data="+good,
		"ike V=root:0:FCT_0: EMS ZTNA token tags check success ZTNA_a",
		"ike V=root:0:FCT_0:1: send EMS_ZTNA_TAGS_CHECK_SUCCESS")
	// renewals during the tunnel's life: a good one is answered, one that
	// lost the tag or expired is logged and the tunnel stays
	ctx := context.Background()
	if ok, err := tun.SendZTNAToken(ctx, ztnaToken(t, key, jwt.SigningMethodRS256, fctUID, now, 2*time.Hour, "a")); err != nil || !ok {
		t.Fatalf("renewal: %v %v\n%s", ok, err, l.log())
	}
	if ok, err := tun.SendZTNAToken(ctx, ztnaToken(t, key, jwt.SigningMethodRS256, fctUID, now, 2*time.Hour, "Low")); err != nil || ok {
		t.Fatalf("renewal without the tag: %v %v", ok, err)
	}
	wantLines(t, l.log(), "ike V=root:0:FCT_0:1: EMS ZTNA token carries none of the phase1's tags now (the tunnel stays)")
	if err := tun.DPD(ctx); err != nil || len(l.d.Gateways()) != 1 {
		t.Fatalf("the tunnel went after a renewal without the tag: %v", err)
	}
	tun.Delete(ctx)

	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"endpoint": map[string]any{"uid": fctUID, "tags": []any{map[string]any{"name": "a", "type": 1}}},
		"exp": now.Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	for name, tok := range map[string]string{
		"expired":   ztnaToken(t, key, jwt.SigningMethodRS256, fctUID, now.Add(-2*time.Hour), time.Hour, "a"),
		"forged":    ztnaToken(t, otherKey, jwt.SigningMethodRS256, fctUID, now, time.Hour, "a"),
		"other uid": ztnaToken(t, key, jwt.SigningMethodRS256, "F8A6AFF3531843B4972CBDBEEEB30E3C", now, time.Hour, "a"),
		"wrong tag": ztnaToken(t, key, jwt.SigningMethodRS256, fctUID, now, time.Hour, "Low"),
		"alg none":  noneTok,
		"hs256":     hs256WithPublicKey(t, &key.PublicKey, now),
		"garbage":   "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.AAAA",
	} {
		_, err := ztnaDial(l, fctOf("10.160.1.197"), tok)
		var rej client.ErrRejected
		if !errors.As(err, &rej) || rej.Notify != ike.NotifyEMSZTNATagsCheckFailure {
			t.Fatalf("%s token: %v\n%s", name, err, l.log())
		}
	}
	if n := len(l.d.Gateways()); n != 0 {
		t.Fatalf("%d gateways after refusals", n)
	}
	// the good token, once the clock passed its exp
	l.clock.Advance(2 * time.Hour)
	if _, err := ztnaDial(l, fctOf("10.160.1.197"), good); err == nil {
		t.Fatal("an expired token was accepted")
	}
	// without FCTTAGS=1 the token is not looked at
	noTags := fctOf("10.160.1.197")
	noTags.Tags = false
	if _, err := ztnaDial(l, noTags, ztnaToken(t, key, jwt.SigningMethodRS256, fctUID, l.clock.Now(), time.Hour, "a")); err == nil {
		t.Fatal("a token was used without FCTTAGS=1")
	}
}

func hs256WithPublicKey(t *testing.T, pub *rsa.PublicKey, now time.Time) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"endpoint": map[string]any{"uid": fctUID, "tags": []any{map[string]any{"name": "a", "type": 1}}},
		"exp": now.Add(time.Hour).Unix()}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Malformed FCT data and a 64 KB notify are ignored (the client then has
// no FCT data, which ems-sn-check refuses), and nothing crashes.
func TestFCTDataMalformed(t *testing.T) {
	l, _, _ := ztnaLab(t)
	for name, data := range map[string][]byte{
		"64 KB":    append([]byte("UID="+fctUID+"\nHOST="), make([]byte, 64<<10-1024)...),
		"bad uid":  []byte("VER=1\nUID=nothex\n"),
		"no equal": []byte("VER=1\nUID=" + fctUID + "\ngarbage\n"),
	} {
		_, err := rawFCTDial(l, data)
		var rej client.ErrRejected
		if !errors.As(err, &rej) || rej.Notify != ike.NotifyEMSSerialNumberCheckFail {
			t.Fatalf("%s: %v\n%s", name, err, l.log())
		}
	}
	wantLines(t, l.log(), "ignoring FCT data (len = ")
}

func rawFCTDial(l *lab, data []byte) (*client.Tunnel, error) {
	ikeS, _ := suite.ParseIKE("aes256-sha256")
	ikeS.DHGroup = 19
	espS, _ := suite.ParseESP("aes256-sha256")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return client.Dial(ctx, client.Config{Server: l.d.Addrs()[0], PSK: []byte("s3cret-psk"), IKE: ikeS, ESP: espS, ModeCfg: true,
		Local: netip.MustParseAddrPort("127.0.0.1:0"), FCTRaw: data})
}

// A token Debian's PyJWT (python3-jwt) signs with the EMS key, in the
// seed's layout, is accepted by iked's JWT fallback: ours reads a
// third-party token (peers/ems checks the other way, PyJWT reading ours).
func TestZTNATokenSignedByPyJWT(t *testing.T) {
	if exec.Command("/usr/bin/python3", "-c", "import jwt, cryptography").Run() != nil {
		peertest.Missing(t, "%s", "python3-jwt (Debian: apt-get install python3-jwt python3-cryptography)")
	}
	l, _, key := ztnaLab(t)
	keyFile := filepath.Join(t.TempDir(), "ems.key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	const script = `
import sys, jwt
now = int(sys.argv[3])
claims = {"endpoint": {"uid": sys.argv[2], "tags": [{"name": "a", "type": 1, "levl": None}, {"name": "Low", "type": 3, "levl": None}],
          "nwifs": None, "ztna_cert_sn": "B09D97178121B588ED3055137577522C7B689B79", "owner": None},
          "exp": now + 3600, "iat": now}
print(jwt.encode(claims, open(sys.argv[1]).read(), algorithm="RS256"))
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, keyFile, fctUID, strconv.FormatInt(l.clock.Now().Unix(), 10)).CombinedOutput()
	if err != nil {
		t.Fatalf("PyJWT: %v\n%s", err, out)
	}
	tok := strings.TrimSpace(string(out))
	tun, err := ztnaDial(l, fctOf("10.160.1.197"), tok)
	if err != nil || !tun.ZTNATokenAccepted {
		t.Fatalf("PyJWT's token: %v\n%s", err, l.log())
	}
	tun.Delete(context.Background())
}

// A phase1's remote-gw-ztna-tags naming a ztna-ems-tag group (nested
// too): the client passes when its IP has any tag of the group, from the
// EMS or, with the EMS unreachable, from its ZTNA token.
func TestZTNATagGroup(t *testing.T) {
	l, ems, key := ztnaLab(t)
	l.apply(`config firewall address
    edit "EMS1_ZTNA_Low"
        set type dynamic
        set sub-type ems-tag
        set obj-tag "Low"
    next
end
config firewall addrgrp
    edit "inner"
        set category ztna-ems-tag
        set member "EMS1_ZTNA_all_registered_clients"
    next
    edit "posture"
        set category ztna-ems-tag
        set member "EMS1_ZTNA_a" "inner"
    next
end
config vpn ipsec phase1-interface
    edit "FCT"
        set remote-gw-ztna-tags "posture"
    next
end
`)
	ems.mu.Lock()
	ems.byIP[netip.MustParseAddr("172.16.200.242")] = []string{"EMS1_ZTNA_Low", "EMS1_ZTNA_all_registered_clients"}
	ems.byIP[netip.MustParseAddr("172.16.200.243")] = []string{"EMS1_ZTNA_Low"}
	ems.mu.Unlock()
	ctx := context.Background()
	tun, err := ztnaDial(l, fctOf("172.16.200.242"), "")
	if err != nil {
		t.Fatalf("client with a tag of the nested group refused: %v\n%s", err, l.log())
	}
	wantLines(t, l.log(), "ike V=root:0:FCT:1: EMS ZTNA tags check success ZTNA_all_registered_clients")
	tun.Delete(ctx)

	var rej client.ErrRejected
	if _, err := ztnaDial(l, fctOf("172.16.200.243"), ""); !errors.As(err, &rej) || rej.Notify != ike.NotifyEMSZTNATagsCheckFailure {
		t.Fatalf("client with a tag outside the group: %v\n%s", err, l.log())
	}
	wantLines(t, l.log(), "ike V=root:0:FCT:2: EMS ZTNA tags check failure, abort")

	// the EMS resolves nothing for this IP: the token's tag "a" is in the group
	now := l.clock.Now()
	tun, err = ztnaDial(l, fctOf("10.160.1.197"), ztnaToken(t, key, jwt.SigningMethodRS256, fctUID, now, time.Hour, "Low", "a"))
	if err != nil || !tun.ZTNATokenAccepted {
		t.Fatalf("token with a tag of the group refused: %v\n%s", err, l.log())
	}
	wantLines(t, l.log(), "ike V=root:0:FCT_0: EMS ZTNA token tags check success ZTNA_a")
	tun.Delete(ctx)
	if _, err := ztnaDial(l, fctOf("10.160.1.197"), ztnaToken(t, key, jwt.SigningMethodRS256, fctUID, now, time.Hour, "Low")); !errors.As(err, &rej) || rej.Notify != ike.NotifyEMSZTNATagsCheckFailure {
		t.Fatalf("token with no tag of the group: %v\n%s", err, l.log())
	}
}
