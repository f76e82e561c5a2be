package iked

import (
	"crypto/rand"
	"crypto/rsa"
	"net/netip"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkPostureCheck: what remote-gw-match ztna adds to one IKE_AUTH,
// once the peer authenticated: ems-sn-check and the walk of
// remote-gw-ztna-tags against the EMS's tags of the reported IP
// (ems-tags), or, the EMS resolving nothing, the ZTNA token verified
// (RS256, RSA 2048) and its tags mapped (jwt). The connector here is the
// test's map of 10,000 endpoints; fcnacd's own TagsOf is measured in
// daemons/fcnacd (BenchmarkSync10kEndpoints100Tags).
func BenchmarkPostureCheck(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	ems := &emsTags{serial: emsSN, byIP: map[netip.Addr][]string{}, key: &key.PublicKey}
	for i := range 10000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		ems.byIP[ip] = []string{"EMS1_ZTNA_all_registered_clients", "EMS1_ZTNA_tag" + ip.String()}
	}
	l := newLabIn(b, ztnaConfig, false, "", Options{EMS: ems})
	ems.now = l.clock.Now
	gw := l.d.cfg.Phase1s["FCT"]
	tagged := fctOf("10.0.3.7")
	b.Run("ems-tags", func(b *testing.B) {
		for b.Loop() {
			sa := &ikeSA{gw: gw, name: gw.Name, serial: 1, fct: tagged}
			if fail := l.d.checkPosture(sa); fail != nil || sa.tokenCheck {
				b.Fatal("refused")
			}
		}
	})
	untagged := fctOf("192.0.2.1")
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"endpoint": map[string]any{"uid": fctUID, "tags": []any{map[string]any{"name": "a", "type": 1, "levl": nil},
			map[string]any{"name": "all_registered_clients", "type": 1, "levl": nil}, map[string]any{"name": "Low", "type": 3, "levl": nil}},
			"nwifs": nil, "ztna_cert_sn": "B09D97178121B588ED3055137577522C7B689B79", "owner": nil},
		"iat": l.clock.Now().Unix(), "exp": l.clock.Now().Add(time.Hour).Unix(),
	}).SignedString(key)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("jwt", func(b *testing.B) {
		for b.Loop() {
			sa := &ikeSA{gw: gw, name: gw.Name + "_0", serial: 1, fct: untagged, ztnaToken: tok}
			if fail := l.d.checkPosture(sa); fail != nil || !sa.tokenCheck {
				b.Fatal("not sent to the token")
			}
			if fail := l.d.checkToken(sa); fail != nil {
				b.Fatal("token refused")
			}
		}
	})
}
