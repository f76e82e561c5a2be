package listen

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func freeAddr(t *testing.T) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// serveEcho answers each connection of ln with name and the first line the
// client sent.
func serveEcho(ln net.Listener, name string) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				io.WriteString(c, name+":"+line)
			}()
		}
	}()
}

func ask(t *testing.T, addr netip.AddrPort, send string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, send)
	b, _ := io.ReadAll(c)
	return string(b)
}

// One TCP port, two services told apart by the first bytes (the IKETCP
// prefix of RFC 9329 to iked, the rest to authd), as FortiOS shares
// ike-tcp-port.
func TestSharedPortDemultiplexes(t *testing.T) {
	r := &Registry{PeekTimeout: 200 * time.Millisecond}
	addr := freeAddr(t)
	ike, err := r.TCP(addr, Route{Owner: "iked", Prefix: []byte("IKETCP")})
	if err != nil {
		t.Fatal(err)
	}
	defer ike.Close()
	auth, err := r.TCP(addr, Route{Owner: "authd"})
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	serveEcho(ike, "iked")
	serveEcho(auth, "authd")
	if got := ask(t, addr, "IKETCP-frames\n"); got != "iked:IKETCP-frames\n" {
		t.Errorf("IKETCP stream: %q", got)
	}
	if got := ask(t, addr, "GET /saml_login HTTP/1.1\n"); got != "authd:GET /saml_login HTTP/1.1\n" {
		t.Errorf("other stream: %q", got)
	}
	// A client that sends fewer bytes than the prefix, then waits, goes
	// to the fallback after the peek timeout with its bytes intact.
	if got := ask(t, addr, "IKE\n"); got != "authd:IKE\n" {
		t.Errorf("short stream: %q", got)
	}
	if _, err := r.TCP(addr, Route{Owner: "other", Prefix: []byte("IKETCP")}); err == nil || !strings.Contains(err.Error(), "already used by iked") {
		t.Errorf("a second IKETCP route: %v", err)
	}
	// The port stays with iked when authd leaves, and is free when both do.
	auth.Close()
	if got := ask(t, addr, "IKETCP again\n"); got != "iked:IKETCP again\n" {
		t.Errorf("after authd left: %q", got)
	}
	ike.Close()
	if err := (&Registry{}).CanBind(addr); err != nil {
		t.Errorf("port not released: %v", err)
	}
}

// A single route is handed its connections without a read: SSH servers
// speak first.
func TestSingleRouteReadsNothing(t *testing.T) {
	r := &Registry{}
	addr := freeAddr(t)
	ln, err := r.TCP(addr, Route{Owner: "sshd"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.WriteString(c, "SSH-2.0-fosim\r\n")
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "SSH-2.0-fosim\r\n" {
		t.Fatalf("banner %q %v", line, err)
	}
	if _, err := r.TCP(addr, Route{Owner: "httpsd"}); err == nil {
		t.Fatal("two fallback routes on one port")
	}
}

func TestUDPShared(t *testing.T) {
	r := &Registry{}
	c, _ := net.ListenPacket("udp", "127.0.0.1:0")
	addr := netip.MustParseAddrPort(c.LocalAddr().String())
	c.Close()
	a, relA, err := r.UDP(addr, "iked")
	if err != nil {
		t.Fatal(err)
	}
	b, relB, err := r.UDP(addr, "iked-natt")
	if err != nil || a != b {
		t.Fatalf("shared UDP: %v", err)
	}
	relA()
	relA() // idempotent
	if _, err := b.WriteToUDPAddrPort([]byte("x"), addr); err != nil {
		t.Fatalf("socket closed while held: %v", err)
	}
	relB()
	again, rel, err := r.UDP(addr, "iked")
	if err != nil {
		t.Fatalf("rebind after release: %v", err)
	}
	rel()
	_ = again
}

// The prefix route hears of the connections it declined (iked's "NOT
// IKETCP(), assign to AUTH"), and CanRoute tells a second catch-all
// service apart from one that joins a shared port.
func TestDeclinedAndCanRoute(t *testing.T) {
	r := &Registry{PeekTimeout: 200 * time.Millisecond}
	addr := freeAddr(t)
	declined := make(chan string, 4)
	ike, err := r.TCP(addr, Route{Owner: "iked", Prefix: []byte("IKETCP"), Declined: func(local, remote net.Addr) {
		declined <- local.String() + "<-" + remote.String()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer ike.Close()
	if err := r.CanRoute(addr, Route{Owner: "authd"}); err != nil {
		t.Errorf("authd may join iked's port: %v", err)
	}
	if err := r.CanRoute(addr, Route{Owner: "other", Prefix: []byte("IKETCP")}); err == nil {
		t.Error("a second IKETCP route may join")
	}
	auth, err := r.TCP(addr, Route{Owner: "authd"})
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	serveEcho(ike, "iked")
	serveEcho(auth, "authd")
	if err := r.CanRoute(addr, Route{Owner: "httpsd"}); err == nil || !strings.Contains(err.Error(), "already used by authd") {
		t.Errorf("a second catch-all route: %v", err)
	}
	if err := r.CanRoute(addr, Route{Owner: "authd"}); err != nil {
		t.Errorf("the route already there: %v", err)
	}
	ask(t, addr, "IKETCP\n")
	select {
	case d := <-declined:
		t.Errorf("an IKETCP stream was declined: %s", d)
	default:
	}
	if got := ask(t, addr, "GET / HTTP/1.1\n"); got != "authd:GET / HTTP/1.1\n" {
		t.Errorf("other stream: %q", got)
	}
	select {
	case d := <-declined:
		if !strings.HasPrefix(d, addr.String()+"<-127.0.0.1:") {
			t.Errorf("declined %s", d)
		}
	case <-time.After(5 * time.Second):
		t.Error("iked did not hear of the declined connection")
	}
}

// Of two routes that take every connection, the one of higher precedence
// gets them (IKE's SAML over HTTPS admin, as FortiOS 7.6.3 gives IKE's
// port precedence); the other gets them once it leaves.
func TestPrecedence(t *testing.T) {
	r := &Registry{PeekTimeout: 200 * time.Millisecond}
	addr := freeAddr(t)
	admin, err := r.TCP(addr, Route{Owner: "httpsd"})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := r.CanRoute(addr, Route{Owner: "authd", Precedence: 1}); err != nil {
		t.Fatalf("authd over httpsd: %v", err)
	}
	auth, err := r.TCP(addr, Route{Owner: "authd", Precedence: 1})
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(admin, "httpsd")
	serveEcho(auth, "authd")
	if got := ask(t, addr, "GET /\n"); got != "authd:GET /\n" {
		t.Errorf("with both: %q", got)
	}
	if _, err := r.TCP(addr, Route{Owner: "other", Precedence: 1}); err == nil {
		t.Error("two routes of one precedence")
	}
	if _, err := r.TCP(addr, Route{Owner: "iked", Prefix: []byte("IKETCP"), Precedence: 5}); err != nil {
		t.Errorf("a prefix route beside them: %v", err)
	}
	if _, err := r.TCP(addr, Route{Owner: "iked2", Prefix: []byte("IKETCP"), Precedence: 6}); err == nil {
		t.Error("two IKETCP routes, told apart by precedence")
	}
	auth.Close()
	if got := ask(t, addr, "GET /\n"); got != "httpsd:GET /\n" {
		t.Errorf("after authd left: %q", got)
	}
}

// A service that takes no connections does not make the registry hold
// more than MaxRouting of them, nor any past DeliverTimeout.
func TestRoutingBounded(t *testing.T) {
	r := &Registry{MaxRouting: 4, DeliverTimeout: time.Second}
	addr := freeAddr(t)
	ln, err := r.TCP(addr, Route{Owner: "slow"}) // never accepts
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	for range 8 {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	// each connection's close, timed: the 4 past the bound at once, the 4
	// in hand after the delivery timeout
	start := time.Now()
	took := make(chan time.Duration, len(conns))
	for _, c := range conns {
		go func() {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err == io.EOF {
				took <- time.Since(start)
				return
			}
			took <- -1
		}()
	}
	soon, late := 0, 0
	for range conns {
		switch d := <-took; {
		case d < 0:
			t.Fatal("a connection was not closed")
		case d < 500*time.Millisecond:
			soon++
		default:
			late++
		}
	}
	if soon != 4 || late != 4 {
		t.Fatalf("%d closed at once and %d after the delivery timeout, want 4 and 4", soon, late)
	}
	// the slots are free again: a service that accepts gets the next one
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.WriteString(c, "ok")
			c.Close()
		}
	}()
	if got := ask(t, addr, ""); got != "ok" {
		t.Fatalf("after the flood: %q", got)
	}
}
