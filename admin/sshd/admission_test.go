package sshd

import (
	"net"
	"net/netip"
	"testing"
)

// fakeConn tells tickets apart in admission tests (no network).
type fakeConn struct {
	net.Conn
	name string
}

func TestAdmissionFairShare(t *testing.T) {
	a := newAdmission(4, 4, 10)
	attacker, admin := netip.MustParseAddr("192.0.2.66"), netip.MustParseAddr("192.0.2.1")
	var first *ticket
	for i := 0; i < 4; i++ {
		tk, _, v := a.admit(&fakeConn{name: "att"}, attacker)
		if v != admitted {
			t.Fatalf("attacker connection %d: %v", i, v)
		}
		if i == 0 {
			first = tk
		}
	}
	// Full: the attacker's next one is refused, the admin takes the
	// attacker's oldest slot.
	if _, _, v := a.admit(&fakeConn{}, attacker); v != refusedFull {
		t.Errorf("attacker beyond the slots: %v", v)
	}
	adm, displaced, v := a.admit(&fakeConn{name: "admin"}, admin)
	if v != admittedDisplacing || displaced != first.conn {
		t.Fatalf("admin: %v, displaced %v", v, displaced)
	}
	// The displaced connection's own release does not give a slot twice.
	a.release(first)
	if total, pre := a.counts(); total != 4 || pre != 4 {
		t.Errorf("counts %d %d, want 4 4", total, pre)
	}
	// Logged in, the admin is never displaced; the attacker keeps 3.
	a.loggedIn(adm)
	for i := 0; i < 3; i++ {
		if _, _, v := a.admit(&fakeConn{}, netip.MustParseAddr("192.0.2.7")); v == refusedFull {
			break
		}
	}
	if adm.released {
		t.Error("a logged-in session was displaced")
	}
	a.release(adm)
	if total, _ := a.counts(); total != 3 {
		t.Errorf("total %d after the admin left, want 3", total)
	}
}

// A spray of addresses with one connection each displaces its own
// oldest, not the admin who connected last.
func TestAdmissionSpray(t *testing.T) {
	a := newAdmission(3, 3, 3)
	s := []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("198.51.100.3")}
	var tks []*ticket
	for _, src := range s {
		tk, _, _ := a.admit(&fakeConn{}, src)
		tks = append(tks, tk)
	}
	admin, d, v := a.admit(&fakeConn{name: "admin"}, netip.MustParseAddr("192.0.2.1"))
	if v != admittedDisplacing || d != tks[0].conn {
		t.Fatalf("admin: %v", v)
	}
	// The first sprayer comes back: the oldest of the busy is the second.
	_, d, v = a.admit(&fakeConn{}, s[0])
	if v != admittedDisplacing || d != tks[1].conn || admin.released {
		t.Fatalf("spray return: %v, displaced the admin: %v", v, admin.released)
	}
}

func TestAdmissionPerSource(t *testing.T) {
	a := newAdmission(10, 10, 2)
	src := netip.MustParseAddr("192.0.2.9")
	a.admit(&fakeConn{}, src)
	tk, _, _ := a.admit(&fakeConn{}, src)
	if _, _, v := a.admit(&fakeConn{}, src); v != refusedPerSource {
		t.Errorf("third from one address: %v", v)
	}
	a.loggedIn(tk)
	if _, _, v := a.admit(&fakeConn{}, src); v != admitted {
		t.Errorf("after a login freed a pre-auth slot: %v", v)
	}
}
