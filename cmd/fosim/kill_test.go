package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fosim/fosim/admin/control"
	"github.com/fosim/fosim/cmdb"
)

// TestKillDuringCommits is issue 8's kill test: fosim is killed with
// SIGKILL at random points of a stream of commits made the three ways an
// admin makes them (the console, SSH, fosim apply), and the store is
// reopened after each kill. Every change fosim acknowledged must be there,
// whole; an apply is all or nothing. FOSIM_KILLS sets the number of kills
// (BENCHMARKS.md records a run of 100).
func TestKillDuringCommits(t *testing.T) {
	if os.Getenv("FOSIM_KILL_CHILD") == "1" {
		var args []string
		for _, a := range strings.Split(os.Getenv("FOSIM_KILL_ARGS"), "\x1f") {
			args = append(args, a)
		}
		os.Exit(run(args, os.Stdin, os.Stdout, os.Stderr))
	}
	kills := 15
	if testing.Short() {
		kills = 6
	}
	if s := os.Getenv("FOSIM_KILLS"); s != "" {
		kills, _ = strconv.Atoi(s)
	}
	data := filepath.Join(t.TempDir(), "data")
	const password = "Kill-Test-9z"
	setAdminPassword(t, data, password)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	acked := map[string]string{} // entry → comment, acknowledged
	var applies [][2]int         // [round, entries] of every apply, acknowledged or not
	commits := 0
	for round := range kills {
		var n int
		switch round % 3 {
		case 0:
			n = killConsole(t, data, round, r, acked)
		case 1:
			n = killSSH(t, data, password, round, r, acked)
		default:
			entries := 300 + r.IntN(3000)
			applies = append(applies, [2]int{round, entries})
			n = killApply(t, data, round, entries, r, acked)
		}
		commits += n
		if testing.Verbose() {
			t.Logf("round %d (%s): %d acknowledged", round, []string{"console", "ssh", "apply"}[round%3], n)
		}
		checkAfterKill(t, data, round, acked, applies)
	}
	t.Logf("kill test: %d SIGKILLs, %d acknowledged commits, 0 lost", kills, commits)
}

// child starts fosim (this test binary in its place) with args.
func child(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringCommits$")
	cmd.Env = append(os.Environ(), "FOSIM_KILL_CHILD=1", "FOSIM_KILL_ARGS="+strings.Join(args, "\x1f"))
	return cmd
}

// streamLines sends numbered entries and returns the acknowledged ones:
// "new entry 'kR-N' added" is printed once kR-(N-1)'s next has returned.
func streamLines(t *testing.T, w io.Writer, out io.Reader, round int, stopAfter int, acked map[string]string, kill func()) int {
	t.Helper()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	io.WriteString(w, "config firewall address\n")
	name := func(i int) string { return fmt.Sprintf("k%d-%d", round, i) }
	n := 0
	deadline := time.After(30 * time.Second)
	for i := 0; ; i++ {
		if _, err := fmt.Fprintf(w, "edit %s\nset comment c%d\nnext\n", name(i), i); err != nil {
			t.Fatalf("round %d: write: %v", round, err)
		}
		// wait for the entry's "new entry" line: every entry before it is saved
		for waiting := true; waiting; {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("round %d: fosim exited", round)
				}
				if strings.Contains(l, "new entry '"+name(i)+"' added") {
					waiting = false
				}
			case <-deadline:
				t.Fatalf("round %d: no progress", round)
			}
		}
		if i > 0 {
			acked[name(i-1)] = fmt.Sprintf("c%d", i-1)
			n++
		}
		if n >= stopAfter {
			break
		}
	}
	// The kill lands while the last entry's next may be committing.
	time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
	kill()
	for range lines {
	}
	return n
}

func killConsole(t *testing.T, data string, round int, r *rand.Rand, acked map[string]string) int {
	cmd := child(t, append([]string{"--data", data, "run"}, listenerArgs(t)...)...)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	return streamLines(t, in, out, round, 1+r.IntN(40), acked, func() { cmd.Process.Signal(syscall.SIGKILL) })
}

func killSSH(t *testing.T, data, password string, round int, r *rand.Rand, acked map[string]string) int {
	a := serveChild(t, data)
	var once sync.Once
	kill := func() { once.Do(func() { a.stop(syscall.SIGKILL) }) }
	defer kill()
	conn, err := ssh.Dial("tcp", a.sshAddr, adminSSHConfig(password))
	if err != nil {
		t.Fatalf("round %d: ssh: %v", round, err)
	}
	defer conn.Close()
	sess, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	in, _ := sess.StdinPipe()
	out, _ := sess.StdoutPipe()
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	return streamLines(t, in, out, round, 1+r.IntN(40), acked, kill)
}

func killApply(t *testing.T, data string, round, entries int, r *rand.Rand, acked map[string]string) int {
	var b strings.Builder
	b.WriteString("config firewall address\n")
	for i := range entries {
		fmt.Fprintf(&b, "edit k%d-%d\nset comment c%d\nnext\n", round, i, i)
	}
	b.WriteString("end\n")
	cmd := child(t, "--data", data, "apply", "-")
	cmd.Stdin = strings.NewReader(b.String())
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("round %d: apply: %v", round, err)
		}
		for i := range entries {
			acked[fmt.Sprintf("k%d-%d", round, i)] = fmt.Sprintf("c%d", i)
		}
		return 1
	case <-time.After(time.Duration(r.IntN(80)) * time.Millisecond):
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		return 0
	}
}

// checkAfterKill reopens the store: every acknowledged entry is there with
// its comment, and every apply is all or nothing.
func checkAfterKill(t *testing.T, data string, round int, acked map[string]string, applies [][2]int) {
	t.Helper()
	schema, err := cmdb.LoadSchema()
	if err != nil {
		t.Fatal(err)
	}
	st, err := cmdb.Open(data, schema, cmdb.Options{})
	if err != nil {
		t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
	}
	defer st.Close()
	rows := st.Rows("firewall address")
	for name, comment := range acked {
		e := rows.ByKey[name]
		if e == nil {
			t.Fatalf("round %d: acknowledged entry %s lost", round, name)
		}
		if got := e.Values["comment"]; len(got) != 1 || got[0] != comment {
			t.Fatalf("round %d: %s has comment %q, want %q", round, name, got, comment)
		}
	}
	for _, a := range applies {
		n := 0
		for i := range a[1] {
			if rows.ByKey[fmt.Sprintf("k%d-%d", a[0], i)] != nil {
				n++
			}
		}
		if n != 0 && n != a[1] {
			t.Fatalf("round %d: apply of round %d half-committed: %d of %d entries", round, a[0], n, a[1])
		}
	}
}

func freeUDP(t testing.TB) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
}

// listenerArgs puts an appliance's SSH and IKE on free loopback ports.
func listenerArgs(t *testing.T) []string {
	return []string{"--ssh", "127.0.0.1:0", "--ike-addr", "127.0.0.1", "--ike-port", freeUDP(t), "--ike-natt-port", freeUDP(t)}
}

// servedAppliance is a "fosim serve" child of a test.
type servedAppliance struct {
	cmd     *exec.Cmd
	sshAddr string
	ikePort string
}

// serveChild starts "fosim serve" on data with SSH and IKE on free
// loopback ports and waits until SSH accepts connections and the control
// socket is there.
func serveChild(t *testing.T, data string) *servedAppliance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &servedAppliance{sshAddr: ln.Addr().String(), ikePort: freeUDP(t)}
	ln.Close()
	a.cmd = child(t, "--data", data, "serve", "--ssh", a.sshAddr, "--ike-addr", "127.0.0.1", "--ike-port", a.ikePort, "--ike-natt-port", freeUDP(t))
	a.cmd.Stdout, a.cmd.Stderr = io.Discard, io.Discard
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", a.sshAddr); err == nil {
			c.Close()
			if _, err := os.Stat(filepath.Join(data, control.SocketName)); err == nil {
				return a
			}
		}
		if time.Since(start) > 20*time.Second {
			a.stop(syscall.SIGKILL)
			t.Fatal("fosim serve did not start")
		}
	}
}

// stop signals the appliance and waits for it (idempotent).
func (a *servedAppliance) stop(sig syscall.Signal) {
	if a.cmd.ProcessState == nil {
		a.cmd.Process.Signal(sig)
		a.cmd.Wait()
	}
}

// setAdminPassword gives the data directory's admin a password (a fresh
// unit's admin must choose one at the first login).
func setAdminPassword(t *testing.T, data, password string) {
	t.Helper()
	if _, stderr, rc := fosim(t, "config system admin\nedit admin\nset password "+password+"\nnext\nend\n", "--data", data, "apply", "-"); rc != 0 {
		t.Fatalf("setting the admin password: %s", stderr)
	}
}

// sshOutput runs command in an SSH session of admin on addr and returns
// what it printed.
func sshOutput(t *testing.T, addr, password, command string) string {
	t.Helper()
	conn, err := ssh.Dial("tcp", addr, adminSSHConfig(password))
	if err != nil {
		t.Fatalf("SSH to %s: %v", addr, err)
	}
	defer conn.Close()
	sess, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := sess.Output(command)
	return string(out)
}

func adminSSHConfig(password string) *ssh.ClientConfig {
	return &ssh.ClientConfig{User: "admin", Auth: []ssh.AuthMethod{ssh.Password(password)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}
}
