package ems

import (
	"context"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/fosim/fosim/clock"
)

// FortiClient's registration: a new endpoint is created, registered and
// online, pushed to the FortiGates at once, and answered with the EMS
// serial, tenant id, its tags and its ZTNA token; registering again
// updates what FortiClient reports and keeps what the EMS owns; bad
// registrations are refused.
func TestRegister(t *testing.T) {
	dir, cfg := seedEMS(t)
	s, addr := runServer(t, dir)
	client := pinnedClient(s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss://"+addr+"/api/v1/ws", &websocket.DialOptions{HTTPClient: client})
	must(t, err)
	defer ws.CloseNow()
	if _, b, err := ws.Read(ctx); err != nil || !strings.Contains(string(b), `"hello"`) {
		t.Fatalf("hello: %s %v", b, err)
	}

	uid := NewUID()
	reg := Registration{UID: strings.ToLower(uid), IP: netip.MustParseAddr("10.160.1.198"), MACs: []string{"00-0c-29-aa-bb-cc"},
		Host: "pc3", User: "alice", OS: "Ubuntu Linux 24.04", FCTVersion: "7.4.5.1949"}
	got, err := Register(ctx, client, addr, reg)
	must(t, err)
	if got.Serial != cfg.Serial || got.TenantID != cfg.TenantID || got.Record.UID != uid || !got.Record.Registered || !got.Record.Online ||
		got.Record.PublicIP.String() != "127.0.0.1" || got.Record.MACs[0] != "00:0c:29:aa:bb:cc" || len(got.Record.CertSN) != 40 {
		t.Fatalf("answer %+v", got)
	}
	if names := tagNames(got.Record.Tags); names != "all_registered_clients,linux" {
		t.Fatalf("tags %s", names)
	}
	var claims TokenClaims
	if _, err := jwt.ParseWithClaims(got.Token, &claims, func(*jwt.Token) (any, error) { return &s.Keys().Key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"})); err != nil || claims.Endpoint.UID != uid || claims.Endpoint.CertSN != got.Record.CertSN {
		t.Fatalf("token %v %+v", err, claims)
	}
	_, b, err := ws.Read(ctx)
	if err != nil || !strings.Contains(string(b), `"uid":"`+uid+`"`) {
		t.Fatalf("push after the registration: %s %v", b, err)
	}
	if stored, err := Open(dir); err != nil || len(stored.Endpoints) != 2 {
		t.Fatalf("store after the registration: %v", err)
	}

	// the seed's endpoint moves: its reported fields change, its
	// certificate serial stays
	again, err := Register(ctx, client, addr, Registration{UID: seedUID, IP: netip.MustParseAddr("10.160.1.200"), OS: "Microsoft Windows 11"})
	must(t, err)
	if again.Record.IP.String() != "10.160.1.200" || again.Record.CertSN != "B09D97178121B588ED3055137577522C7B689B79" || again.Record.User != "" {
		t.Fatalf("re-registration %+v", again.Record)
	}

	for name, r := range map[string]Registration{
		"bad uid":  {UID: "xyz", IP: netip.MustParseAddr("10.0.0.1")},
		"no ip":    {UID: NewUID()},
		"ipv6":     {UID: NewUID(), IP: netip.MustParseAddr("::1")},
		"bad mac":  {UID: NewUID(), IP: netip.MustParseAddr("10.0.0.1"), MACs: []string{"zz"}},
		"bad host": {UID: NewUID(), IP: netip.MustParseAddr("10.0.0.1"), Host: "a\nb"},
	} {
		if _, err := Register(ctx, client, addr, r); err == nil || !strings.Contains(err.Error(), "refused the registration") {
			t.Errorf("%s: %v", name, err)
		}
	}
	resp, err := client.Post("https://"+addr+"/api/v1/endpoints/register", "application/json", strings.NewReader(`{"uid":"`+NewUID()+`","ip":"10.0.0.1","evil":1}`))
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown field answered %d", resp.StatusCode)
	}

	// ZTNA token off: no token in the answer
	stored, err := Open(dir)
	must(t, err)
	stored.ZTNAToken = false
	must(t, stored.Save(dir))
	off, err := Register(ctx, client, addr, reg)
	must(t, err)
	if off.Token != "" {
		t.Fatal("a token with Enable ZTNA Token off")
	}
}

func tagNames(tags []Tag) string {
	var names []string
	for _, t := range tags {
		names = append(names, t.Name)
	}
	return strings.Join(names, ",")
}

// BenchmarkRegister: one registration (the store read, changed, written
// and pushed) with 10,000 endpoints in the store.
func BenchmarkRegister(b *testing.B) {
	dir := b.TempDir()
	cfg, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10_000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if err := cfg.SetEndpoint(Endpoint{UID: NewUID(), IP: ip, Registered: true, Online: true, CertSN: NewCertSN()}); err != nil {
			b.Fatal(err)
		}
	}
	if err := cfg.SetRule(TagRule{Tag: "all_registered_clients", Type: TagTypeZeroTrust, Conditions: []Condition{{Field: "registered", Value: "yes"}}}); err != nil {
		b.Fatal(err)
	}
	if err := cfg.Save(dir); err != nil {
		b.Fatal(err)
	}
	s, err := NewServer(dir, clock.New(nil))
	if err != nil {
		b.Fatal(err)
	}
	reg := Registration{UID: NewUID(), IP: netip.MustParseAddr("172.16.200.250"), MACs: []string{"00-0c-29-3c-9a-0e"}, Host: "PC3", User: "alice", OS: "Microsoft Windows 11", FCTVersion: "7.4.5.1949"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Register(reg, netip.MustParseAddr("127.0.0.1")); err != nil {
			b.Fatal(err)
		}
	}
}

// A registration while the store file holds a bad edit is refused and
// leaves the file as the admin wrote it; the EMS goes on serving the last
// good store.
func TestRegisterBadStore(t *testing.T) {
	dir, cfg := seedEMS(t)
	s, err := NewServer(dir, clock.New(nil))
	must(t, err)
	bad := []byte(`{"serial":"bogus"}` + "\n")
	must(t, os.WriteFile(filepath.Join(dir, configFile), bad, 0o600))
	if _, err := s.Register(Registration{UID: NewUID(), IP: netip.MustParseAddr("10.0.0.9")}, netip.Addr{}); err == nil || !strings.Contains(err.Error(), configFile) {
		t.Fatalf("registration on a bad store: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, configFile)); err != nil || string(b) != string(bad) {
		t.Fatalf("the bad edit was overwritten: %q %v", b, err)
	}
	if s.Serial() != cfg.Serial {
		t.Fatalf("serving serial %s, want the last good %s", s.Serial(), cfg.Serial)
	}
}
