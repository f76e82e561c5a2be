package sshd

import (
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Connection-slot abuse: idle TCP connections that never log in, held and
// reopened as the server closes them, must not keep a real admin out.

// idleFlood holds perAddr idle connections from each address, reopening
// each one as soon as the server closes it, until stop.
type idleFlood struct {
	stop   chan struct{}
	wg     sync.WaitGroup
	opened atomic.Int64
}

func startIdleFlood(t testing.TB, ts *testServer, addrs []string, perAddr int) *idleFlood {
	f := &idleFlood{stop: make(chan struct{})}
	for _, a := range addrs {
		for i := 0; i < perAddr; i++ {
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				for {
					select {
					case <-f.stop:
						return
					default:
					}
					c, err := ts.rawFrom(a)
					if err != nil {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					f.opened.Add(1)
					// Hold it, saying nothing, until the server closes it.
					done := make(chan struct{})
					go func() {
						io.Copy(io.Discard, c)
						close(done)
					}()
					select {
					case <-f.stop:
						c.Close()
						<-done
						return
					case <-done:
						c.Close()
						time.Sleep(time.Millisecond)
					}
				}
			}()
		}
	}
	t.Cleanup(f.end)
	return f
}

func (f *idleFlood) end() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.wg.Wait()
}

func addrRange(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s.%d", prefix, i+1)
	}
	return out
}

// adminLogins logs in n times from 127.0.0.1 and runs a command; it
// returns each login's time (to a command's output) and the failures.
func adminLogins(t testing.TB, ts *testServer, n int) ([]time.Duration, []error) {
	var times []time.Duration
	var errs []error
	for i := 0; i < n; i++ {
		start := time.Now()
		c, err := ts.dialFrom(t, "127.0.0.1", "admin")
		if err == nil {
			var s *ssh.Session
			s, err = c.NewSession()
			if err == nil {
				var out []byte
				out, err = s.Output("get system status | grep Hostname")
				if err == nil && !strings.Contains(string(out), "Hostname") {
					err = fmt.Errorf("output %q", out)
				}
			}
			c.Close()
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		times = append(times, time.Since(start))
	}
	return times, errs
}

// 64 idle connections from one address (the old global cap) while it
// reopens those the server closes: the admin still logs in.
func TestIdleConnectionsFromOneAddress(t *testing.T) {
	ts := startServer(t, serverOpts{})
	flood := startIdleFlood(t, ts, []string{"127.0.0.2"}, 64)
	waitSlots(t, ts, 64)
	_, errs := adminLogins(t, ts, 5)
	flood.end()
	if len(errs) > 0 {
		t.Fatalf("regression: 64 idle connections from 127.0.0.2 (reopened as they close) lock the admin out: "+
			"%d of 5 logins from 127.0.0.1 failed, first: %v", len(errs), errs[0])
	}
	ts.log.waitFor(t, "closing the oldest not logged in from 127.0.0.2 for 127.0.0.1", 2*time.Second)
}

// The same from eight addresses with more connections than slots.
func TestIdleConnectionsFromSeveralAddresses(t *testing.T) {
	ts := startServer(t, serverOpts{})
	flood := startIdleFlood(t, ts, addrRange("127.0.1", 8), 12)
	waitSlots(t, ts, 64)
	_, errs := adminLogins(t, ts, 5)
	flood.end()
	if len(errs) > 0 {
		t.Fatalf("%d of 5 admin logins failed under 96 idle connections from 8 addresses, first: %v", len(errs), errs[0])
	}
}

// waitSlots waits until the flood holds n slots.
func waitSlots(t testing.TB, ts *testServer, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		total, _ := ts.srv.adm.counts()
		if total >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the flood holds %d slots after 5s, want %d", total, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// MaxPreAuthPerSource closes one connection too many from an address at
// once, even with slots to spare; other addresses are not affected.
func TestPreAuthPerSourceLimit(t *testing.T) {
	ts := startServer(t, serverOpts{configure: func(s *Server) { s.MaxPreAuthPerSource = 2 }})
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := ts.rawFrom("127.0.0.4")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if b, err := readBanner(c); err != nil || !strings.HasPrefix(b, "SSH-2.0-fosim") {
			t.Fatalf("banner %q %v", b, err)
		}
		held = append(held, c)
	}
	c, err := ts.rawFrom("127.0.0.4")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if b, err := readBanner(c); err == nil {
		t.Errorf("a third connection from one address got %q with MaxPreAuthPerSource 2", b)
	}
	ts.log.waitFor(t, "127.0.0.4 already has 2 connections not logged in", 2*time.Second)
	if _, err := ts.dialFrom(t, "127.0.0.5", "admin"); err != nil {
		t.Errorf("another address refused: %v", err)
	}
	// A login frees its pre-auth slot: the address may log in again.
	held[0].Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		if _, err := ts.dialFrom(t, "127.0.0.4", "admin"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("slot not freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The login deadline is admin-ssh-grace-time unless the server sets one.
func TestGraceTimeFromConfig(t *testing.T) {
	ts := startServer(t, serverOpts{})
	if d := ts.srv.graceTime(); d != 120*time.Second {
		t.Errorf("default grace time %v, want 120s (admin-ssh-grace-time)", d)
	}
	configure(t, ts, "config system global\nset admin-ssh-grace-time 15\nend")
	if d := ts.srv.graceTime(); d != 15*time.Second {
		t.Errorf("grace time %v after admin-ssh-grace-time 15", d)
	}
}

// TestAbuseLoginFigures measures the admin's login time (TCP connect to
// a command's output) without abuse and under 200 idle TCP connections
// (reopened as they close, from 10 addresses) plus 100 failed logins
// (from 10 other addresses). It asserts that every admin login succeeds
// and logs the times (BENCHMARKS.md).
func TestAbuseLoginFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("figures: not in -short")
	}
	ts := startServer(t, serverOpts{})
	const logins = 20
	base, errs := adminLogins(t, ts, logins)
	if len(errs) > 0 {
		t.Fatalf("without abuse: %v", errs[0])
	}
	flood := startIdleFlood(t, ts, addrRange("127.0.3", 10), 20)
	waitSlots(t, ts, 64)
	var failedTries, refusedTries atomic.Int64
	var wg sync.WaitGroup
	for _, a := range addrRange("127.0.4", 10) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				_, err := ts.dialFrom(t, a, "admin", ssh.Password("guess-"+fmt.Sprint(i)))
				if err == nil {
					t.Errorf("a guessed password logged in")
				} else if strings.Contains(err.Error(), "unable to authenticate") {
					failedTries.Add(1)
				} else {
					refusedTries.Add(1) // locked out: closed at once
				}
			}
		}()
	}
	abused, errs := adminLogins(t, ts, logins)
	wg.Wait()
	flood.end()
	if len(errs) > 0 {
		t.Fatalf("under abuse %d of %d admin logins failed, first: %v", len(errs), logins, errs[0])
	}
	t.Logf("admin login (connect to command output), %d logins each: without abuse median %v max %v; "+
		"under 200 idle connections from 10 addresses (%d opened in all) and 100 failed logins from 10 addresses "+
		"(%d wrong passwords, %d refused while locked out): median %v max %v",
		logins, median(base), maxOf(base), flood.opened.Load(), failedTries.Load(), refusedTries.Load(),
		median(abused), maxOf(abused))
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Round(10 * time.Microsecond)
}

func maxOf(d []time.Duration) time.Duration {
	m := time.Duration(0)
	for _, x := range d {
		m = max(m, x)
	}
	return m.Round(10 * time.Microsecond)
}
