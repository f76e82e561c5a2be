package ems

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/internal/peertest"
)

const seedUID = "F8A6AFF3531843B4972CBDBEEEB30E3C"

// seedEMS is a store with seed 002's endpoint and its three tags.
func seedEMS(t *testing.T) (string, *Config) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	must(t, cfg.SetEndpoint(Endpoint{UID: seedUID, IP: netip.MustParseAddr("10.160.1.197"),
		MACs: []string{"00-0c-29-2c-4d-d7", "00-0c-29-2c-4d-e1"}, Host: "DESKTOP-EMS-TAG-PH2", User: "tester",
		OS: "Microsoft Windows 8.0 , 64-bit (build 9200)", FCTVersion: "7.4.5.1949", Registered: true, Online: true,
		CertSN: "B09D97178121B588ED3055137577522C7B689B79"}))
	must(t, cfg.SetRule(TagRule{Tag: "a", Type: TagTypeZeroTrust, Conditions: []Condition{{Field: "user", Value: "tester"}}}))
	must(t, cfg.SetRule(TagRule{Tag: "all_registered_clients", Type: TagTypeZeroTrust, Conditions: []Condition{{Field: "registered", Value: "yes"}}}))
	must(t, cfg.SetRule(TagRule{Tag: "Low", Type: TagTypeVulnerability, Conditions: []Condition{{Field: "os", Value: "windows"}}}))
	must(t, cfg.SetRule(TagRule{Tag: "linux", Type: TagTypeZeroTrust, Conditions: []Condition{{Field: "os", Value: "linux"}}}))
	must(t, cfg.Save(dir))
	return dir, cfg
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestStoreValidation(t *testing.T) {
	dir, cfg := seedEMS(t)
	if !strings.HasPrefix(cfg.Serial, "FCTEMS") || len(cfg.Serial) != 16 || len(cfg.TenantID) != 32 {
		t.Fatalf("serial %q tenant %q", cfg.Serial, cfg.TenantID)
	}
	again, err := Open(dir)
	if err != nil || again.Serial != cfg.Serial || len(again.Endpoints) != 1 {
		t.Fatalf("reopen: %v %+v", err, again)
	}
	if e, _ := again.Endpoint(seedUID); e.MACs[0] != "00:0c:29:2c:4d:d7" {
		t.Fatalf("MAC not canonical: %v", e.MACs)
	}
	for _, bad := range []Endpoint{
		{UID: "xyz", IP: netip.MustParseAddr("10.0.0.1")},
		{UID: NewUID()},
		{UID: NewUID(), IP: netip.MustParseAddr("::1")},
		{UID: NewUID(), IP: netip.MustParseAddr("10.0.0.1"), MACs: []string{"00:11"}},
		{UID: NewUID(), IP: netip.MustParseAddr("10.0.0.1"), CertSN: "short"},
		{UID: NewUID(), IP: netip.MustParseAddr("10.0.0.1"), Host: "a\nb"},
	} {
		if err := cfg.SetEndpoint(bad); err == nil {
			t.Errorf("endpoint %+v accepted", bad)
		}
	}
	for _, bad := range []TagRule{
		{Tag: "", Conditions: []Condition{{Field: "all"}}},
		{Tag: "has space", Conditions: []Condition{{Field: "all"}}},
		{Tag: "x"},
		{Tag: "x", Conditions: []Condition{{Field: "colour", Value: "red"}}},
		{Tag: "x", Conditions: []Condition{{Field: "online", Value: "maybe"}}},
		{Tag: "x", Conditions: []Condition{{Field: "ip", Value: "10.0.0.0/33"}}},
	} {
		if err := cfg.SetRule(bad); err == nil {
			t.Errorf("rule %+v accepted", bad)
		}
	}
	if _, err := parseConfig([]byte(`{"serial":"FCTEMS0000000001","tenant_id":"` + strings.Repeat("0", 32) + `","token_lifetime":"1h","bogus":1}`)); err == nil {
		t.Error("an unknown field was accepted")
	}
}

func TestTagRules(t *testing.T) {
	_, cfg := seedEMS(t)
	e, _ := cfg.Endpoint(seedUID)
	var got []string
	for _, tag := range cfg.TagsOf(e) {
		got = append(got, tag.Name)
	}
	if strings.Join(got, ",") != "a,all_registered_clients,Low" {
		t.Fatalf("tags %v", got)
	}
	e.Registered = false
	if n := len(cfg.TagsOf(e)); n != 2 {
		t.Fatalf("unregistered endpoint has %d tags", n)
	}
	if n := len(cfg.AllTags()); n != 4 {
		t.Fatalf("%d tags defined", n)
	}
}

// TestTokenVerifiedByPyJWT: Debian's python3-jwt (PyJWT) verifies an EMS
// token with the EMS certificate and finds the seed's claims.
func TestTokenVerifiedByPyJWT(t *testing.T) {
	peertest.Need(t, exec.Command("/usr/bin/python3", "-c", "import jwt, cryptography").Run() == nil, "python3-jwt (Debian: apt-get install python3-jwt)")
	dir, cfg := seedEMS(t)
	keys, err := LoadKeys(dir)
	must(t, err)
	now := time.Now()
	tok, err := cfg.IssueToken(keys, seedUID, now)
	must(t, err)
	const script = `
import json, sys, jwt
from cryptography import x509
cert = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
claims = jwt.decode(sys.argv[2], cert.public_key(), algorithms=["RS256"])
print(json.dumps(claims, sort_keys=True))
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, dir+"/"+certFile, tok).CombinedOutput()
	if err != nil {
		t.Fatalf("PyJWT refused the token: %v\n%s", err, out)
	}
	var claims struct {
		Endpoint struct {
			UID  string `json:"uid"`
			Tags []struct {
				Name  string `json:"name"`
				Type  int    `json:"type"`
				Level *int   `json:"levl"`
			} `json:"tags"`
			NetworkInterfaces any    `json:"nwifs"`
			CertSN            string `json:"ztna_cert_sn"`
			Owner             any    `json:"owner"`
		} `json:"endpoint"`
		Exp int64 `json:"exp"`
		Iat int64 `json:"iat"`
	}
	must(t, json.Unmarshal(out, &claims))
	ep := claims.Endpoint
	if ep.UID != seedUID || len(ep.Tags) != 3 || ep.Tags[2].Name != "Low" || ep.Tags[2].Type != 3 || ep.Tags[0].Level != nil ||
		ep.CertSN != "B09D97178121B588ED3055137577522C7B689B79" || ep.NetworkInterfaces != nil || ep.Owner != nil {
		t.Fatalf("claims %s", out)
	}
	if claims.Iat != now.Unix() || claims.Exp-claims.Iat != 3600 {
		t.Fatalf("iat %d exp %d", claims.Iat, claims.Exp)
	}
	// The payload's layout is the seed's: endpoint, then exp, then iat.
	payload := strings.Split(tok, ".")[1]
	if !strings.HasPrefix(payload, "eyJlbmRwb2ludCI6eyJ1aWQiOiJGOEE2QUZGMzUzMTg0M0I0OTcyQ0JEQkVFRUIzMEUzQyIsInRhZ3MiOlt7Im5hbWUiOiJhIiwidHlwZSI6MSwibGV2bCI6bnVsbH0") {
		t.Fatalf("payload %s does not start as the seed's", payload)
	}
	// A token of another key is refused by PyJWT: the check is real.
	other := t.TempDir()
	_, err = Open(other)
	must(t, err)
	if out, err := exec.Command("/usr/bin/python3", "-c", script, other+"/"+certFile, tok).CombinedOutput(); err == nil {
		t.Fatalf("PyJWT accepted the token with another EMS's certificate: %s", out)
	}
	cfg.ZTNAToken = false
	if _, err := cfg.IssueToken(keys, seedUID, now); err == nil {
		t.Fatal("a token was issued with Enable ZTNA Token off")
	}
}

// runServer serves the EMS in dir on a loopback port.
func runServer(t *testing.T, dir string) (*Server, string) {
	t.Helper()
	s, err := NewServer(dir, clock.New(nil))
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	hs := &http.Server{Handler: s.Handler()}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	go hs.Serve(tls.NewListener(s.Listener(ln), s.TLSConfig()))
	t.Cleanup(func() { cancel(); hs.Close() })
	return s, ln.Addr().String()
}

func pinnedClient(s *Server) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(s.Keys().Cert)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
}

func TestServerSyncPushDownSlow(t *testing.T) {
	dir, cfg := seedEMS(t)
	s, addr := runServer(t, dir)
	client := pinnedClient(s)
	base := "https://" + addr
	var list EndpointList
	resp, err := client.Get(base + "/api/v1/endpoints")
	must(t, err)
	must(t, json.NewDecoder(resp.Body).Decode(&list))
	resp.Body.Close()
	if len(list.Endpoints) != 1 || len(list.Endpoints[0].Tags) != 3 {
		t.Fatalf("endpoints %+v", list)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss://"+addr+"/api/v1/ws", &websocket.DialOptions{HTTPClient: client})
	must(t, err)
	defer ws.CloseNow()
	read := func() Push {
		t.Helper()
		_, b, err := ws.Read(ctx)
		must(t, err)
		var p Push
		must(t, json.Unmarshal(b, &p))
		return p
	}
	if p := read(); p.Type != "hello" {
		t.Fatalf("first message %+v", p)
	}
	uid := NewUID()
	must(t, cfg.SetEndpoint(Endpoint{UID: uid, IP: netip.MustParseAddr("10.160.1.198"), OS: "Ubuntu Linux", Registered: true, Online: true}))
	must(t, cfg.Save(dir))
	p := read()
	if p.Type != "update" || len(p.Endpoints) != 1 || p.Endpoints[0].UID != uid || len(p.Endpoints[0].Tags) != 2 || len(p.Tags) != 4 {
		t.Fatalf("push %+v", p)
	}
	must(t, cfg.DeleteEndpoint(uid))
	must(t, cfg.Save(dir))
	if p := read(); len(p.Removed) != 1 || p.Removed[0] != uid {
		t.Fatalf("removal push %+v", p)
	}

	// Down: the stream is closed and new connections fail.
	cfg.Down = true
	must(t, cfg.Save(dir))
	if _, _, err := ws.Read(ctx); err == nil {
		t.Fatal("the stream survived the EMS going down")
	}
	client.CloseIdleConnections()
	if resp, err := client.Get(base + "/api/v1/system/info"); err == nil {
		resp.Body.Close()
		t.Fatal("a down EMS answered")
	}
	// Slow: answers wait the delay.
	cfg.Down, cfg.Delay = false, Duration(300*time.Millisecond)
	must(t, cfg.Save(dir))
	start := time.Now()
	resp, err = client.Get(base + "/api/v1/system/info")
	must(t, err)
	var info Info
	must(t, json.NewDecoder(resp.Body).Decode(&info))
	resp.Body.Close()
	if d := time.Since(start); d < 300*time.Millisecond || info.Serial != cfg.Serial {
		t.Fatalf("slow answer after %v: %+v", d, info)
	}
}

func TestLabFile(t *testing.T) {
	dir, cfg := seedEMS(t)
	// A lab file's serial number makes a certificate of that name.
	f, err := ParseLabFile([]byte(`{"serial": "FCTEMS8826000120"}`))
	must(t, err)
	must(t, cfg.Apply(f))
	must(t, cfg.Save(dir))
	if k, err := LoadKeys(dir); err != nil || k.Cert.Subject.CommonName != "FCTEMS8826000120" {
		t.Fatalf("certificate after a new serial: %v %v", err, k.Cert.Subject)
	}
	f, err = ParseLabFile([]byte(`{"ztna_token": false, "endpoints": [{"uid": "6108A9179A5C40D7BD57504E15114C1F", "ip": "172.16.200.242",
	  "macs": ["00:11:22:33:67:74"], "registered": true, "online": true}],
	  "rules": [{"tag": "all_registered_clients", "type": 1, "conditions": [{"field": "registered", "value": "yes"}]}]}`))
	must(t, err)
	must(t, cfg.Apply(f))
	if cfg.ZTNAToken || len(cfg.Endpoints) != 2 || len(cfg.Rules) != 4 {
		t.Fatalf("after apply: %+v", cfg)
	}
	if _, err := ParseLabFile([]byte(`{"endpoint": []}`)); err == nil {
		t.Fatal("unknown field accepted")
	}
	f, _ = ParseLabFile([]byte(`{"endpoints": [{"uid": "bad", "ip": "1.2.3.4"}]}`))
	if err := cfg.Apply(f); err == nil || len(cfg.Endpoints) != 2 {
		t.Fatalf("bad lab file: %v, %d endpoints", err, len(cfg.Endpoints))
	}
}

// NewServer makes the store on first use ("fosim ems" serves a new data
// directory), and makes the EMS certificate again when it was removed.
func TestNewServerFirstUse(t *testing.T) {
	dir := t.TempDir() + "/new"
	s, err := NewServer(dir, clock.New(nil))
	must(t, err)
	stored, err := Open(dir)
	must(t, err)
	if stored.Serial != s.Serial() || s.Keys().Cert.Subject.CommonName != stored.Serial {
		t.Fatalf("serial %s, store %s, certificate CN %s", s.Serial(), stored.Serial, s.Keys().Cert.Subject.CommonName)
	}
	must(t, os.Remove(dir+"/"+certFile))
	again, err := NewServer(dir, clock.New(nil))
	must(t, err)
	if again.Keys().Cert.Subject.CommonName != stored.Serial {
		t.Fatalf("the certificate made again names %s, not %s", again.Keys().Cert.Subject.CommonName, stored.Serial)
	}
}
