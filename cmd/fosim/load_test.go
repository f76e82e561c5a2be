package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fosim/fosim/cmdb"
)

// TestConcurrentSSHSavesWithIked is issue 8's lock-up figure: concurrent
// SSH sessions saving firewall addresses (a table iked reloads on) into a
// running "fosim serve". Every save must land, nothing may hang.
// FOSIM_LOAD=SESSIONSxSAVES sets the size (BENCHMARKS.md: 50x100).
func TestConcurrentSSHSavesWithIked(t *testing.T) {
	sessions, saves := 10, 20
	if s := os.Getenv("FOSIM_LOAD"); s != "" {
		a, b, _ := strings.Cut(s, "x")
		sessions, _ = strconv.Atoi(a)
		saves, _ = strconv.Atoi(b)
	}
	data := filepath.Join(t.TempDir(), "data")
	const password = "Load-Test-7y"
	setAdminPassword(t, data, password)
	app := serveChild(t, data)
	defer app.stop(syscall.SIGTERM)
	addr, cfg := app.sshAddr, adminSSHConfig(password)
	begin := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- sshSaves(addr, cfg, s, saves)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		t.Fatal("the appliance locked up: SSH sessions still saving after 5 minutes")
	}
	took := time.Since(begin)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A new login still works at once after the load.
	loginStart := time.Now()
	c, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("login after the load: %v", err)
	}
	c.Close()
	login := time.Since(loginStart)
	app.stop(syscall.SIGTERM)
	schema, _ := cmdb.LoadSchema()
	st, err := cmdb.Open(data, schema, cmdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows := st.Rows("firewall address")
	lost := 0
	for s := range sessions {
		for i := range saves {
			if rows.ByKey[fmt.Sprintf("l%d-%d", s, i)] == nil {
				lost++
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d saves lost", lost, sessions*saves)
	}
	t.Logf("load: %d SSH sessions × %d saves on firewall address with iked running: 0 lost, no lock-up, %v wall (%.0f saves/s), a new login after it %v",
		sessions, saves, took.Round(time.Millisecond), float64(sessions*saves)/took.Seconds(), login.Round(time.Millisecond))
}

// sshSaves logs in and saves n addresses, each acknowledged before the
// next is sent ("new entry" of the next is printed once the previous next
// has returned), then leaves.
func sshSaves(addr string, cfg *ssh.ClientConfig, s, n int) error {
	c, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		return err
	}
	in, _ := sess.StdinPipe()
	out, _ := sess.StdoutPipe()
	if err := sess.Shell(); err != nil {
		return err
	}
	sc := bufio.NewScanner(out)
	fmt.Fprintf(in, "config firewall address\n")
	for i := range n + 1 {
		name := fmt.Sprintf("l%d-%d", s, i)
		if i == n {
			name = fmt.Sprintf("l%d-end", s)
		}
		fmt.Fprintf(in, "edit %s\nset subnet 10.%d.%d.%d/32\nnext\n", name, s%256, i/256, i%256)
		for {
			if !sc.Scan() {
				return fmt.Errorf("session %d: output ended at save %d", s, i)
			}
			if strings.Contains(sc.Text(), "Command fail") {
				return fmt.Errorf("session %d: %s", s, sc.Text())
			}
			if strings.Contains(sc.Text(), "new entry '"+name+"' added") {
				break
			}
		}
	}
	fmt.Fprintf(in, "end\nexit\n")
	return sess.Wait()
}
