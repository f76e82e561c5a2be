package sshd

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/listen"
	"github.com/fosim/fosim/grammar"
)

func freeTCPPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// canLogIn tells whether admin logs in on addr.
func canLogIn(addr string) error {
	c, err := ssh.Dial("tcp", addr, clientConfig("admin"))
	if err == nil {
		c.Close()
	}
	return err
}

// Admin SSH listens where the configuration says: admin-ssh-port on the
// interfaces with ssh in allowaccess (port1 on its own address, port2
// mapped to another loopback address), rebinds at commit, and a port that
// cannot be bound refuses the commit.
func TestServiceListensFromTheConfiguration(t *testing.T) {
	dir := t.TempDir()
	copyHostKeys(t, dir)
	st := cmdbtest.StoreIn(t, dir, cmdb.Options{NoSync: true})
	setStorePassword(t, st, testPassword)
	port := freeTCPPort(t)
	cmdbtest.Apply(t, st, "config system global\nset admin-ssh-port "+strconv.Itoa(port)+"\nend\n"+
		"config system interface\nedit port1\nset mode static\nset ip 127.0.0.1/8\nset allowaccess ping ssh\nnext\n"+
		"edit port2\nset ip 192.0.2.1/24\nset allowaccess ping\nnext\nend\n")
	app := cli.NewAppliance(st)
	reg := &listen.Registry{}
	m := &listen.Map{}
	if err := m.ParseMapping("port2=127.0.0.2"); err != nil {
		t.Fatal(err)
	}
	svc := &Service{Server: &Server{App: app, DataDir: dir, Logf: (&logBuf{}).logf}, Registry: reg, Map: m}
	sup := daemons.NewSupervisor(&daemons.Runtime{Store: st, Clock: app.Clock, Debug: app.Debug}, svc)
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer sup.Stop(5 * time.Second)
	p1 := "127.0.0.1:" + strconv.Itoa(port)
	p2 := "127.0.0.2:" + strconv.Itoa(port)
	if err := canLogIn(p1); err != nil {
		t.Fatalf("port1 (ssh in allowaccess): %v", err)
	}
	if err := canLogIn(p2); err == nil {
		t.Fatal("port2 answers SSH without ssh in allowaccess")
	}
	// allowaccess ssh on port2 opens 127.0.0.2 (its mapping).
	cmdbtest.Apply(t, st, "config system interface\nedit port2\nset allowaccess ping ssh\nnext\nend\n")
	if err := canLogIn(p2); err != nil {
		t.Fatalf("port2 after allowaccess ssh: %v", err)
	}
	// A new admin-ssh-port moves both listeners; a session open on the old
	// port stays.
	old, err := ssh.Dial("tcp", p1, clientConfig("admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	port2 := freeTCPPort(t)
	start := time.Now()
	cmdbtest.Apply(t, st, "config system global\nset admin-ssh-port "+strconv.Itoa(port2)+"\nend\n")
	t.Logf("rebind on an admin-ssh-port change: %v", time.Since(start))
	if err := canLogIn(p1); err == nil {
		t.Fatal("the old port still answers")
	}
	for _, a := range []string{"127.0.0.1:", "127.0.0.2:"} {
		if err := canLogIn(a + strconv.Itoa(port2)); err != nil {
			t.Fatalf("new port on %s: %v", a, err)
		}
	}
	if out := run(t, old, "get system status"); !strings.Contains(out, "Hostname") {
		t.Fatalf("the session on the old port ended: %q", out)
	}
	// A port someone else holds is refused at end; nothing changes.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	sess := st.NewSession("admin", "test")
	var firstErr error
	for _, line := range []string{"config system global", "set admin-ssh-port " + strconv.Itoa(busyPort), "end"} {
		for _, r := range grammar.ParseLine(line) {
			if _, err := sess.Exec(r.Stmt); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	if firstErr == nil || !strings.Contains(firstErr.Error(), "cannot listen for SSH on 127.0.0.1:"+strconv.Itoa(busyPort)) {
		t.Fatalf("a busy port: %v", firstErr)
	}
	if got := st.SingletonValue("system global", "admin-ssh-port"); got != strconv.Itoa(port2) {
		t.Fatalf("admin-ssh-port %s after a refused change", got)
	}
	if got := svc.Addrs(); len(got) != 2 || got[0] != netip.MustParseAddrPort("127.0.0.1:"+strconv.Itoa(port2)) {
		t.Fatalf("listening on %v", got)
	}
}
