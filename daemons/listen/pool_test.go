package listen

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A pool keeps what stays wanted, binds what is new, closes what goes
// and binds again an address whose label changed; Check tells of an
// address it could not take.
func TestPool(t *testing.T) {
	r := &Registry{}
	var served atomic.Int32
	p := &Pool{Registry: r, Route: Route{Owner: "svc"}, Serve: func(ln net.Listener, label string) {
		served.Add(1)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, label)
			c.Close()
		}
	}}
	a, b := freeAddr(t), freeAddr(t)
	if errs := p.Set(map[netip.AddrPort]string{a: "port1", b: "port2"}); len(errs) != 0 {
		t.Fatal(errs)
	}
	if got := ask(t, a, ""); got != "port1" {
		t.Fatalf("a: %q", got)
	}
	p.Set(map[netip.AddrPort]string{a: "port1", b: "port3"})
	if got := ask(t, b, ""); got != "port3" || served.Load() != 3 {
		t.Fatalf("b after its label changed: %q, %d serves", got, served.Load())
	}
	p.Set(map[netip.AddrPort]string{a: "port1"})
	if len(p.Addrs()) != 1 || p.Addrs()[0] != a {
		t.Fatalf("addrs %v", p.Addrs())
	}
	if err := (&Registry{}).CanBind(b); err != nil {
		t.Fatalf("b not released: %v", err)
	}
	// another service holds c: Check names it, Set fails on it only
	c := freeAddr(t)
	other, err := r.TCP(c, Route{Owner: "other"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if addr, label, err := p.Check(map[netip.AddrPort]string{a: "port1", c: "port4"}); addr != c || label != "port4" || err == nil || !strings.Contains(err.Error(), "already used by other") {
		t.Fatalf("check: %v %q %v", addr, label, err)
	}
	if errs := p.Set(map[netip.AddrPort]string{a: "port1", c: "port4"}); len(errs) != 1 || len(p.Failures()) != 1 {
		t.Fatalf("set: %v", errs)
	}
	p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}
