package sshd

import (
	"strings"
	"testing"
	"time"
)

// Each logged-in SSH connection is in the appliance's admin session list
// ("get system info admin status", FortiOS's ssh(<ip>)) until it ends;
// "execute disconnect-admin-session" closes it.
func TestAdminSessionList(t *testing.T) {
	ts := startServer(t, serverOpts{})
	first := ts.mustDial(t)
	defer first.Close()
	second := ts.mustDial(t)
	defer second.Close()
	// The client may finish its handshake before the server lists the
	// login.
	out := run(t, first, "get system info admin status")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out, "Logged in users: 2\n") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		out = run(t, first, "get system info admin status")
	}
	for _, want := range []string{
		"0      admin       CLI         ssh(127.0.0.1)\n",
		"1      admin       CLI         ssh(127.0.0.1)\n",
		"Logged in users: 2\n",
		"admin           ssh     127.0.0.1        ",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("admin status lacks %q:\n%s", want, out)
		}
	}
	out = run(t, first, "diagnose system admin-session list")
	if !strings.Contains(out, "username: admin\nfrom: ssh(127.0.0.1)\nprofile: super_admin\n") {
		t.Fatalf("session list:\n%s", out)
	}
	// session_id is the appliance's, unique across front ends.
	ids := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if id, ok := strings.CutPrefix(l, "session_id: "); ok {
			id, _, _ = strings.Cut(id, " ")
			if ids[id] {
				t.Fatalf("session_id %s twice:\n%s", id, out)
			}
			ids[id] = true
		}
	}
	// The second login is disconnected from the first.
	if out := run(t, first, "execute disconnect-admin-session 1"); strings.TrimSpace(out) != "" {
		t.Fatalf("disconnect: %q", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := second.NewSession(); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the disconnected connection still opens sessions")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out := run(t, first, "get system info admin status"); !strings.Contains(out, "Logged in users: 1\n") {
		t.Fatalf("after disconnect:\n%s", out)
	}
	first.Close()
	// A closed connection leaves the list; the check runs on a new one.
	third := ts.mustDial(t)
	defer third.Close()
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(run(t, third, "get system info admin status"), "Logged in users: 1\n") {
		if time.Now().After(deadline) {
			t.Fatalf("the closed connection stays listed:\n%s", run(t, third, "get system info admin status"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
