package https

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/listen"
	"github.com/fosim/fosim/grammar"
)

// freeTCPPort is a loopback TCP port free a moment ago (for a listener
// that must know its port before it listens: a configuration, pysaml2's
// own URL).
func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// execAll runs CLI statements in one session and returns the first error.
func execAll(st *cmdb.Store, lines ...string) error {
	sess := st.NewSession("admin", "test")
	var first error
	for _, l := range lines {
		for _, r := range grammar.ParseLine(l) {
			if _, err := sess.Exec(r.Stmt); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// HTTPS listens where the configuration says, with admin-server-cert's
// certificate; it moves with admin-sport; a port another service without
// a prefix takes is refused at commit; IKE over TCP shares the port.
func TestServiceListensFromTheConfiguration(t *testing.T) {
	before := runtime.NumGoroutine()
	st := cmdbtest.Store(t)
	port := freeTCPPort(t)
	cmdbtest.Apply(t, st, "config system global\nset admin-sport "+strconv.Itoa(port)+"\nend\n"+
		"config system interface\nedit port1\nset mode static\nset ip 127.0.0.1/8\nset allowaccess ping https\nnext\n"+
		"edit port2\nset ip 192.0.2.1/24\nset allowaccess ping\nnext\nend\n"+
		"config system api-user\nedit automation\nset accprofile super_admin\nnext\nend\n")
	app := cli.NewAppliance(st)
	token := generateKey(t, app, "admin", "automation")
	reg := &listen.Registry{}
	m := &listen.Map{}
	if err := m.ParseMapping("port2=127.0.0.2"); err != nil {
		t.Fatal(err)
	}
	svc := &Service{Server: &Server{App: app}, Registry: reg, Map: m}
	sup := daemons.NewSupervisor(&daemons.Runtime{Store: st, Clock: app.Clock, Debug: app.Debug}, svc)
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}

	// the certificate served is Fortinet_GUI_Server's
	gui := st.Lookup("vpn certificate local", "Fortinet_GUI_Server")
	block, _ := pem.Decode([]byte(strings.Join(gui.Values["certificate"], " ")))
	want, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	client := func(addr string) (int, error) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return 0, err
		}
		if got := conn.ConnectionState().PeerCertificates[0]; !got.Equal(want) {
			t.Errorf("served %v, want Fortinet_GUI_Server", got.Subject)
		}
		conn.Close()
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		defer c.CloseIdleConnections()
		resp, err := c.Get("https://" + addr + "/api/v2/monitor/system/status?access_token=" + token)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	p1 := "127.0.0.1:" + strconv.Itoa(port)
	p2 := "127.0.0.2:" + strconv.Itoa(port)
	if code, err := client(p1); err != nil || code != 200 {
		t.Fatalf("port1 (https in allowaccess): %d %v", code, err)
	}
	if _, err := client(p2); err == nil {
		t.Fatal("port2 answers HTTPS without https in allowaccess")
	}
	cmdbtest.Apply(t, st, "config system interface\nedit port2\nset allowaccess https\nnext\nend\n")
	if code, err := client(p2); err != nil || code != 200 {
		t.Fatalf("port2 after allowaccess https: %d %v", code, err)
	}
	// a new admin-sport moves both
	port2 := freeTCPPort(t)
	cmdbtest.Apply(t, st, "config system global\nset admin-sport "+strconv.Itoa(port2)+"\nend\n")
	if _, err := client(p1); err == nil {
		t.Fatal("the old port still answers")
	}
	for _, a := range []string{"127.0.0.1:", "127.0.0.2:"} {
		if code, err := client(a + strconv.Itoa(port2)); err != nil || code != 200 {
			t.Fatalf("new port on %s: %d %v", a, code, err)
		}
	}

	// IKE over TCP (a prefix route) shares the port: IKETCP goes to it,
	// TLS to HTTPS
	ike, err := reg.TCP(netip.MustParseAddrPort("127.0.0.1:"+strconv.Itoa(port2)), listen.Route{Owner: "iked", Prefix: []byte("IKETCP")})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		c, err := ike.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		b := make([]byte, 6)
		io.ReadFull(c, b)
		c.Close()
		got <- string(b)
	}()
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port2))
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("IKETCP"))
	if s := <-got; s != "IKETCP" {
		t.Fatalf("iked got %q", s)
	}
	c.Close()
	if code, err := client("127.0.0.1:" + strconv.Itoa(port2)); err != nil || code != 200 {
		t.Fatalf("HTTPS beside IKE over TCP: %d %v", code, err)
	}
	ike.Close()

	// another service taking every connection of an address refuses it
	port3 := freeTCPPort(t)
	other, err := reg.TCP(netip.MustParseAddrPort("127.0.0.1:"+strconv.Itoa(port3)), listen.Route{Owner: "authd"})
	if err != nil {
		t.Fatal(err)
	}
	err = execAll(st, "config system global", "set admin-sport "+strconv.Itoa(port3), "end")
	if err == nil || !strings.Contains(err.Error(), "cannot listen for HTTPS on 127.0.0.1:"+strconv.Itoa(port3)) || !strings.Contains(err.Error(), "already used by authd") {
		t.Fatalf("a port authd takes: %v", err)
	}
	other.Close()
	// a port the host will not give is refused too; nothing changes
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	err = execAll(st, "config system global", "set admin-sport "+strconv.Itoa(busy.Addr().(*net.TCPAddr).Port), "end")
	if err == nil || !strings.Contains(err.Error(), "cannot listen for HTTPS") {
		t.Fatalf("a busy port: %v", err)
	}
	if got := st.SingletonValue("system global", "admin-sport"); got != strconv.Itoa(port2) {
		t.Fatalf("admin-sport %s after refused changes", got)
	}
	if got := svc.Addrs(); len(got) != 2 {
		t.Fatalf("listening on %v", got)
	}
	if err := sup.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Stop, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// HTTPS admin beside the IKE SAML server on the same address and port
// yields to it, as FortiOS 7.6.3 gives IKE's port precedence over the
// GUI: the commit is accepted, authd (a route of higher precedence) gets
// the connections, and HTTPS answers again once authd leaves.
func TestHTTPSYieldsToIKESAML(t *testing.T) {
	st := cmdbtest.Store(t)
	port := freeTCPPort(t)
	reg := &listen.Registry{}
	addr := netip.MustParseAddrPort("127.0.0.1:" + strconv.Itoa(port))
	authd, err := reg.TCP(addr, listen.Route{Owner: "authd", Precedence: 1})
	if err != nil {
		t.Fatal(err)
	}
	svc := &Service{Server: &Server{App: cli.NewAppliance(st)}, Registry: reg, Map: &listen.Map{}}
	sup := daemons.NewSupervisor(&daemons.Runtime{Store: st, Clock: svc.Server.App.Clock, Debug: svc.Server.App.Debug}, svc)
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer sup.Stop(5 * time.Second)
	if err := execAll(st, "config system global", "set admin-sport "+strconv.Itoa(port), "end",
		"config system interface", "edit port1", "set mode static", "set ip 127.0.0.1/8", "set allowaccess ping https", "next", "end"); err != nil {
		t.Fatalf("admin-sport beside authd: %v", err)
	}
	if got := svc.Addrs(); len(got) != 1 || got[0] != addr {
		t.Fatalf("HTTPS on %v", got)
	}
	got := make(chan bool, 1)
	go func() {
		c, err := authd.Accept()
		if err == nil {
			c.Close()
		}
		got <- err == nil
	}()
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if !<-got {
		t.Fatal("authd did not get the connection")
	}
	authd.Close()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + addr.String() + "/api/v2/monitor/system/status")
	if err != nil {
		t.Fatalf("HTTPS after authd left: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("HTTPS after authd left: %s", resp.Status)
	}
}
