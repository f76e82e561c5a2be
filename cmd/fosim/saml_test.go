package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"crypto/tls"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons/iked/client"
	"github.com/fosim/fosim/daemons/iked/suite"
	"github.com/fosim/fosim/internal/peertest"
	"github.com/fosim/fosim/peers/samlclient"
)

func pysaml2Available() bool {
	if _, err := exec.LookPath("xmlsec1"); err != nil {
		return false
	}
	return exec.Command("/usr/bin/python3", "-c", "import saml2").Run() == nil
}

// samlLab is one appliance in process with authd, samld and iked on
// port1 = 127.0.0.1, and a pysaml2 IdP beside it.
type samlLab struct {
	t       *testing.T
	a       *appliance
	st      *cmdb.Store
	tcpPort int // ike-tcp-port: IKE over TCP and SAML
	udpPort int // IKE over UDP (500 offset)
	mu      sync.Mutex
	debug   strings.Builder
}

func (l *samlLab) log() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.debug.String()
}

func (l *samlLab) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.debug.Write(b)
}

// cli runs lines on an admin console and returns what they printed.
func (l *samlLab) cli(lines ...string) string {
	var out strings.Builder
	sh := cli.New(l.a.App, l.st.NewSession("admin", "test"), &out)
	defer sh.Close()
	for _, line := range lines {
		sh.Line(line)
	}
	return out.String()
}

func (l *samlLab) apply(conf string) {
	l.t.Helper()
	res := cmdb.RunScript(l.st.NewSession("admin", "test"), conf, cmdb.ScriptOptions{Atomic: true})
	if len(res.Errors) > 0 {
		l.t.Fatalf("config: %v", res.Errors[0].Err)
	}
}

func freeTCP(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// selfSigned writes a key and certificate for the IdP.
func selfSigned(t *testing.T, dir, cn string) (keyFile, certFile, certPEM string) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, certFile = filepath.Join(dir, "idp-key.pem"), filepath.Join(dir, "idp-cert.pem")
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	os.WriteFile(certFile, []byte(certPEM), 0o644)
	return keyFile, certFile, certPEM
}

const samlPSK = "saml-lab-psk-1"

// startSAMLLab configures seed 000's example 1 (IKE and SAML on one
// ike-tcp-port, auth-ike-saml-port another) against a pysaml2 IdP.
func startSAMLLab(t *testing.T, users map[string]any) *samlLab {
	peertest.Need(t, pysaml2Available(), "python3-pysaml2 with xmlsec1 (the IdP)")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	st, err := openStore(data)
	if err != nil {
		t.Fatal(err)
	}
	l := &samlLab{t: t, st: st, tcpPort: freeTCP(t)}
	off := freeOffset(t)
	l.udpPort = 500 + off
	idpPort := freeTCP(t)
	idpBase := fmt.Sprintf("http://127.0.0.1:%d", idpPort)
	keyFile, certFile, certPEM := selfSigned(t, dir, "pysaml2-idp")
	gw := fmt.Sprintf("127.0.0.1:%d", l.tcpPort)
	l.apply(fmt.Sprintf(`config system settings
    set ike-tcp-port %d
end
config system global
    set auth-ike-saml-port 1001
end
config vpn certificate remote
    edit "REMOTE_Cert_1"
        set remote "%s"
    next
end
config user saml
    edit "IKE_SAML"
        set entity-id "http://%s/remote/saml/metadata/"
        set single-sign-on-url "https://%s/remote/saml/login"
        set single-logout-url "https://%s/remote/saml/logout"
        set idp-entity-id "%s/metadata"
        set idp-single-sign-on-url "%s/sso"
        set idp-cert "REMOTE_Cert_1"
        set user-name "username"
        set group-name "group"
        set digest-method sha1
    next
end
config system interface
    edit "port1"
        set ike-saml-server "IKE_SAML"
    next
end
config user group
    edit "IKE SAML user group"
        set member "IKE_SAML"
    next
end
config vpn ipsec phase1-interface
    edit "dialup_psk"
        set type dynamic
        set interface "port1"
        set ike-version 2
        set peertype any
        set transport auto
        set proposal aes128-sha256
        set dhgrp 19
        set eap enable
        set eap-identity send-request
        set psksecret %q
        set dpd-retryinterval 60
    next
end
config vpn ipsec phase2-interface
    edit "dialup_psk-p2"
        set phase1name "dialup_psk"
        set proposal aes128-sha256
    next
end
config firewall policy
    edit 1
        set name "RA VPN test"
        set srcintf "dialup_psk"
        set dstintf "port2"
        set action accept
        set srcaddr "all"
        set dstaddr "all"
        set schedule "always"
        set service "PING"
        set groups "IKE SAML user group"
    next
end
`, l.tcpPort, certPEM, gw, gw, gw, idpBase, idpBase, samlPSK))

	opt := applianceOptions{Logf: func(string, ...any) {}}
	opt.Map.PortOffset = off
	if err := opt.Map.ParseMapping("port1=127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	opt.SSHAddr = "" // SSH where the configuration says: nowhere here
	l.a = startAppliance(st, data, opt)
	t.Cleanup(func() { l.a.Stop(); st.Close() })
	if len(l.a.Failed) > 0 {
		t.Fatal(l.a.Failed)
	}
	ds := l.a.App.Debug.Attach(l)
	ds.Enable(true)
	for _, app := range []string{"ike", "authd", "samld"} {
		ds.SetLevel(app, -1)
	}

	// The IdP learns the SP from the SP's own metadata.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}
	resp, err := hc.Get("https://" + gw + "/remote/saml/metadata/")
	if err != nil {
		t.Fatalf("SP metadata on the shared port: %v\n%s", err, l.log())
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(md), "EntityDescriptor") {
		t.Fatalf("SP metadata: %s %s\n%s", resp.Status, md, l.log())
	}
	mdFile := filepath.Join(dir, "sp-metadata.xml")
	os.WriteFile(mdFile, md, 0o644)
	usersJSON, _ := json.Marshal(users)
	idp := exec.Command("/usr/bin/python3", "testdata/pysaml2_idp.py", "--entity-id", idpBase+"/metadata", "--base", idpBase,
		"--key-file", keyFile, "--cert-file", certFile, "--sp-metadata", mdFile, "--users", string(usersJSON), "--port", fmt.Sprint(idpPort))
	idp.Stderr = os.Stderr
	stdout, _ := idp.StdoutPipe()
	if err := idp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Process.Kill(); idp.Wait() })
	ready := make(chan string, 1)
	go func() { line, _ := bufio.NewReader(stdout).ReadString('\n'); ready <- line }()
	select {
	case line := <-ready:
		if strings.TrimSpace(line) != "ready" {
			t.Fatalf("the IdP did not start: %q", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the IdP did not start in 30s")
	}
	return l
}

func (l *samlLab) login(uid, user, password string) (samlclient.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lg := &samlclient.Login{Gateway: fmt.Sprintf("https://127.0.0.1:%d", l.tcpPort), UID: uid, Browser: &samlclient.Form{User: user, Password: password}}
	return lg.Run(ctx)
}

func (l *samlLab) dial(transport, uid, token string) (*client.Tunnel, error) {
	ikeS, _ := suite.ParseIKE("aes128-sha256")
	ikeS.DHGroup = 19
	espS, _ := suite.ParseESP("aes128-sha256")
	server := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(l.udpPort))
	if transport == client.TransportTCP {
		server = netip.AddrPortFrom(server.Addr(), uint16(l.tcpPort))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return client.Dial(ctx, client.Config{Server: server, PSK: []byte(samlPSK), IKE: ikeS, ESP: espS, Transport: transport, EAPIdentity: uid, EAPPassword: []byte(token)})
}

// Seed 000 end to end: FortiClient's SAML login on the shared
// ike-tcp-port through a third-party IdP, then the IKEv2 dial over TCP
// on the same port with the token, and the token is good once.
func TestSAMLDialupSharedPort(t *testing.T) {
	l := startSAMLLab(t, map[string]any{"alice": map[string]any{"password": "alice-pw-1", "groups": []string{"vpn-users"}}})
	const uid = "440F2683C7854FBFB73A528151E1FB25"
	res, err := l.login(uid, "alice", "alice-pw-1")
	if err != nil {
		t.Fatalf("SAML login: %v\n%s", err, l.log())
	}
	if res.User != "alice" || len(res.Token) != 32 {
		t.Fatalf("redirect back carried %+v", res)
	}
	log := l.log()
	for _, want := range []string{
		"ike V=root:NOT IKETCP(), assign to AUTH",
		"authd_http: change state from 0 to 1",
		"authd_http: change state from 1 to 2",
		"[authd_local_saml_auth:5602]: SAML login with UID '" + uid + "'.",
		"[authd_http_prepare_javascript_redir:3852]: https://127.0.0.1:",
		"__samld_sp_create_auth_req [",
		"**** AuthnRequest ****",
		"samld_send_common_reply [95]: Attr: 10, 23, 'username' 'alice'",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("debug output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Fatalf("debug:\n%s", log)
	}
	tun, err := l.dial(client.TransportTCP, uid, res.Token)
	if err != nil {
		t.Fatalf("IKE over TCP with the token: %v\n%s", err, l.log())
	}
	out := l.cli("diagnose vpn ike gateway list")
	for _, want := range []string{"transport: TCP", "eap-user: alice", "FortiClient UID: " + uid} {
		if !strings.Contains(out, want) {
			t.Errorf("gateway list lacks %q:\n%s", want, out)
		}
	}
	tun.Delete(context.Background())
	// one use: the same token again is refused
	if _, err := l.dial(client.TransportUDP, uid, res.Token); err == nil {
		t.Fatal("a spent token dialed again")
	}
	if !strings.Contains(l.log(), `EAP failed for user "`+uid+`"`) || !strings.Contains(l.log(), "result FNBAM_DENIED") {
		t.Errorf("no EAP failure line for the spent token:\n%s", l.log())
	}
	// a new login, then UDP
	res, err = l.login(uid, "alice", "alice-pw-1")
	if err != nil {
		t.Fatalf("second SAML login: %v", err)
	}
	tun, err = l.dial(client.TransportUDP, uid, res.Token)
	if err != nil {
		t.Fatalf("IKE over UDP with a new token: %v\n%s", err, l.log())
	}
	tun.Delete(context.Background())

	// fosim client --saml, with FortiClient's "Auto (UDP fallback TCP)":
	// nothing answers on the UDP port it tries, so it dials TCP.
	t.Setenv("FOSIM_PSK", samlPSK)
	t.Setenv("FOSIM_SAML_PASSWORD", "alice-pw-1")
	var stdout, stderr strings.Builder
	args := []string{"--server", fmt.Sprintf("127.0.0.1:%d", freeTCP(t)), "--transport", "auto", "--tcp-port", fmt.Sprint(l.tcpPort),
		"--saml", "--saml-port", fmt.Sprint(l.tcpPort), "--saml-user", "alice", "--uid", strings.ToLower(uid)}
	if rc := clientCmd(args, &stdout, &stderr); rc != 0 {
		t.Fatalf("fosim client --saml: rc %d\n%s\n%s\n%s", rc, stdout.String(), stderr.String(), l.log())
	}
	for _, want := range []string{"SAML login as alice (FortiClient UID " + uid + "): token received", "over TCP", "deleted"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("fosim client output lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "falling back to TCP port") {
		t.Errorf("no fallback said:\n%s", stderr.String())
	}
}

// A wrong password at the IdP gives no token; a user whose IdP groups do
// not match the group's `config match` is not let in.
func TestSAMLRefusals(t *testing.T) {
	l := startSAMLLab(t, map[string]any{
		"alice": map[string]any{"password": "alice-pw-1", "groups": []string{"vpn-users"}},
		"bob":   map[string]any{"password": "bob-pw-1", "groups": []string{"sales"}},
	})
	const uid = "0123456789ABCDEF0123456789ABCDEF"
	if _, err := l.login(uid, "alice", "wrong"); err == nil || !strings.Contains(err.Error(), "wrong username or password") {
		t.Fatalf("wrong password: %v", err)
	}
	l.apply(`config user group
    edit "IKE SAML user group"
        config match
            edit 1
                set server-name "IKE_SAML"
                set group-name "vpn-users"
            next
        end
    next
end
`)
	res, err := l.login(uid, "bob", "bob-pw-1")
	if err != nil {
		t.Fatalf("bob's SAML login: %v", err)
	}
	if _, err := l.dial(client.TransportTCP, uid, res.Token); err == nil {
		t.Fatal("bob (IdP group sales) dialed into a group that matches vpn-users only")
	}
	res, err = l.login(uid, "alice", "alice-pw-1")
	if err != nil {
		t.Fatalf("alice's SAML login: %v", err)
	}
	tun, err := l.dial(client.TransportTCP, uid, res.Token)
	if err != nil {
		t.Fatalf("alice (vpn-users): %v\n%s", err, l.log())
	}
	tun.Delete(context.Background())
}

// Seed 001 on the appliance clock: `set reauth enable` in user saml puts
// ForceAuthn="true" in the AuthnRequest; phase1 keylife 360 with reauth
// enable tears the tunnel down at the keylife instead of rekeying, and
// the next dial needs a new SAML login (the token was good once).
func TestSAMLReauthAtKeylife(t *testing.T) {
	l := startSAMLLab(t, map[string]any{"alice": map[string]any{"password": "alice-pw-1"}})
	l.apply(`config user saml
    edit "IKE_SAML"
        set reauth enable
    next
end
config vpn ipsec phase1-interface
    edit "dialup_psk"
        set keylife 360
        set reauth enable
        set dpd disable
    next
end
`)
	const uid = "440F2683C7854FBFB73A528151E1FB25"
	res, err := l.login(uid, "alice", "alice-pw-1")
	if err != nil {
		t.Fatalf("SAML login: %v\n%s", err, l.log())
	}
	if !strings.Contains(l.log(), `ForceAuthn="true" IsPassive="false"`) {
		t.Fatalf("AuthnRequest without ForceAuthn=\"true\":\n%s", l.log())
	}
	tun, err := l.dial(client.TransportUDP, uid, res.Token)
	if err != nil {
		t.Fatalf("dial: %v\n%s", err, l.log())
	}
	defer tun.Close()
	l.a.App.Clock.Advance(361 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for strings.Contains(l.cli("diagnose vpn ike gateway list"), "name: dialup_psk_0") {
		if time.Now().After(deadline) {
			t.Fatalf("the tunnel outlived its keylife with reauth enable:\n%s", l.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"ike V=root:0:dialup_psk_0:1: expiring IKE SA ", "ike V=root:0:dialup_psk_0: going to be deleted", "ike V=root:0:dialup_psk_0: sending SNMP tunnel DOWN trap for dialup_psk"} {
		if !strings.Contains(l.log(), want) {
			t.Errorf("no %q:\n%s", want, l.log())
		}
	}
	if _, err := l.dial(client.TransportUDP, uid, res.Token); err == nil {
		t.Fatal("the old token dialed again after reauth")
	}
	res, err = l.login(uid, "alice", "alice-pw-1")
	if err != nil {
		t.Fatalf("new SAML login: %v", err)
	}
	tun2, err := l.dial(client.TransportUDP, uid, res.Token)
	if err != nil {
		t.Fatalf("dial after a new login: %v\n%s", err, l.log())
	}
	tun2.Delete(context.Background())
}
