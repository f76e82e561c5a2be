package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// bothWays runs a test of the host commands twice: on a data directory no
// appliance holds (they open the store), and on one a "fosim serve" child
// holds (they go through its control socket). data prepares a data
// directory for the way being tested.
func bothWays(t *testing.T, body func(t *testing.T, data func(dir string) string)) {
	t.Run("direct", func(t *testing.T) {
		body(t, func(dir string) string { return dir })
	})
	t.Run("through serve", func(t *testing.T) {
		body(t, func(dir string) string {
			a := serveChild(t, dir)
			t.Cleanup(func() { a.stop(syscall.SIGTERM) })
			return dir
		})
	})
}

// Every host command works while an appliance holds the data directory
// (bbolt's lock would make a direct open wait and fail), with the output
// and exit status of the direct path.
func TestHostCommandsThroughRunningServe(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	a := serveChild(t, data)
	defer a.stop(syscall.SIGTERM)
	start := time.Now()
	if _, stderr, rc := fosim(t, "config system global\nset hostname THROUGH\nend\n", "--data", data, "apply", "-"); rc != 0 {
		t.Fatalf("apply: %d %s", rc, stderr)
	}
	if out, stderr, rc := fosim(t, "", "--data", data, "get", "system", "global"); rc != 0 || !strings.Contains(out, "hostname            : THROUGH\n") {
		t.Fatalf("get: %d %s %s", rc, out, stderr)
	}
	if out, _, rc := fosim(t, "", "--data", data, "show", "system", "global"); rc != 0 || !strings.Contains(out, `set hostname "THROUGH"`) {
		t.Fatalf("show: %d %s", rc, out)
	}
	if out, _, rc := fosim(t, "", "--data", data, "show", "firewall", "address", "nope"); rc != 1 || !strings.Contains(out, "Return code") {
		t.Fatalf("show of a missing entry: %d %q", rc, out)
	}
	backup := filepath.Join(dir, "b.conf")
	if _, stderr, rc := fosim(t, "", "--data", data, "backup", backup); rc != 0 {
		t.Fatalf("backup: %s", stderr)
	}
	b, err := os.ReadFile(backup)
	if err != nil || !strings.Contains(string(b), `set hostname "THROUGH"`) {
		t.Fatalf("backup file: %v %.100q", err, b)
	}
	fosim(t, "config system global\nset hostname CHANGED\nend\n", "--data", data, "apply", "-")
	out, stderr, rc := fosim(t, "", "--data", data, "restore", backup)
	if rc != 0 || !strings.HasPrefix(out, "restored: ") {
		t.Fatalf("restore: %d %s %s", rc, out, stderr)
	}
	// The running appliance sees the restore: its SSH shell shows it.
	setAdminPassword(t, data, "Through-pw-42")
	if got := sshOutput(t, a.sshAddr, "Through-pw-42", "get system status"); !strings.Contains(got, "Hostname: THROUGH") {
		t.Fatalf("the appliance's own shell after restore: %q", got)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("host commands through the appliance took %v (a direct open would wait for the lock)", took)
	}
}

func TestApplyErrorsBothWays(t *testing.T) {
	bothWays(t, func(t *testing.T, prepare func(string) string) {
		dir := t.TempDir()
		data := prepare(filepath.Join(dir, "data"))
		file := filepath.Join(dir, "bad.conf")
		os.WriteFile(file, []byte("config firewall address\n    edit \"a\"\n        set subnet 10.0.0.0/8\n        set colour 3\n    next\nend\n"), 0o644)
		_, stderr, rc := fosim(t, "", "--data", data, "apply", file)
		want := file + ":4:13: command parse error before 'colour'\nCommand fail. Return code -61\n" +
			file + ": 1 error(s); nothing committed (--continue runs the statements that succeed)\n"
		if rc != 1 || stderr != want {
			t.Fatalf("rc %d stderr %q, want %q", rc, stderr, want)
		}
		if _, stderr, rc = fosim(t, "", "--data", data, "apply", file, "--continue"); rc != 1 || !strings.HasSuffix(stderr, "kept the 1 change(s) of the statements that succeeded\n") {
			t.Fatalf("--continue: %d %q", rc, stderr)
		}
		if out, _, rc := fosim(t, "", "--data", data, "show", "firewall", "address", "a", "--full"); rc != 0 || !strings.Contains(out, "set subnet 10.0.0.0 255.0.0.0") {
			t.Fatalf("show --full: %d %s", rc, out)
		}
		if _, stderr, rc := fosim(t, "", "--data", data, "restore", file); rc != 1 || !strings.Contains(stderr, "#config-version") {
			t.Fatalf("restore of a script: %d %q", rc, stderr)
		}
		if _, stderr, rc := fosim(t, "", "--data", data, "apply", filepath.Join(dir, "missing.conf")); rc != 1 || !strings.Contains(stderr, "no such file") {
			t.Fatalf("apply of a missing file: %d %q", rc, stderr)
		}
	})
}

// fosim serve killed with SIGKILL leaves its socket file; the next host
// command and the next appliance start as if it were not there.
func TestStaleControlSocket(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	a := serveChild(t, data)
	a.stop(syscall.SIGKILL)
	if _, err := os.Stat(filepath.Join(data, "control.sock")); err != nil {
		t.Fatalf("no stale socket after SIGKILL: %v", err)
	}
	if out, stderr, rc := fosim(t, "", "--data", data, "get", "system", "global"); rc != 0 || !strings.Contains(out, "hostname") {
		t.Fatalf("get beside a stale socket: %d %s", rc, stderr)
	}
	b := serveChild(t, data)
	defer b.stop(syscall.SIGTERM)
	if _, stderr, rc := fosim(t, "", "--data", data, "show", "system", "global"); rc != 0 {
		t.Fatalf("show through the new appliance: %s", stderr)
	}
	// A second appliance on the same data directory says which holds it.
	if _, stderr, rc := fosim(t, "", append([]string{"--data", data, "run"}, listenerArgs(t)...)...); rc != 1 || !strings.Contains(stderr, "an appliance already runs on "+data) {
		t.Errorf("a second fosim run: %d %q", rc, stderr)
	}
}

// "execute shutdown" over SSH stops fosim serve (exec: no terminal, so
// the question is answered yes, as in a script).
func TestServeExecuteShutdown(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	setAdminPassword(t, data, "Shutdown-pw-7")
	a := serveChild(t, data)
	defer a.stop(syscall.SIGKILL)
	out := sshOutput(t, a.sshAddr, "Shutdown-pw-7", "execute shutdown")
	if !strings.Contains(out, "This operation will shutdown the system !\nDo you want to continue? (y/n)y\nSystem is shutting down...") {
		t.Errorf("execute shutdown: %q", out)
	}
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("fosim serve after execute shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fosim serve still runs after execute shutdown")
	}
}

// fosim run is the whole appliance: while its console reads piped lines,
// admin SSH listens and the host commands reach it.
func TestRunServesWhileConsoleRuns(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	setAdminPassword(t, data, "Run-pw-1234")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sshAddr := ln.Addr().String()
	ln.Close()
	inR, inW := io.Pipe()
	var out, errb bytes.Buffer
	rc := make(chan int, 1)
	go func() {
		rc <- run([]string{"--data", data, "run", "--ssh", sshAddr, "--ike-addr", "127.0.0.1", "--ike-port", freeUDP(t), "--ike-natt-port", freeUDP(t)}, inR, &out, &errb)
	}()
	var conn *ssh.Client
	for start := time.Now(); conn == nil; time.Sleep(20 * time.Millisecond) {
		conn, err = ssh.Dial("tcp", sshAddr, adminSSHConfig("Run-pw-1234"))
		if err != nil && time.Since(start) > 10*time.Second {
			t.Fatalf("fosim run's SSH: %v", err)
		}
	}
	sess, _ := conn.NewSession()
	got, _ := sess.Output("config system global\nset hostname FROM-SSH\nend")
	conn.Close()
	if strings.Contains(string(got), "Return code") {
		t.Fatalf("over SSH: %q", got)
	}
	if stdout, stderr, code := fosim(t, "", "--data", data, "get", "system", "global"); code != 0 || !strings.Contains(stdout, "FROM-SSH") {
		t.Fatalf("get through fosim run: %d %s", code, stderr)
	}
	io.WriteString(inW, "diagnose vpn ike gateway list\nget system status | grep Hostname\n")
	inW.Close()
	select {
	case code := <-rc:
		if code != 0 {
			t.Fatalf("fosim run: %d %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fosim run did not end at the end of its input")
	}
	if strings.Contains(out.String(), "not simulated") || !strings.HasSuffix(out.String(), "Hostname: FROM-SSH\n") {
		t.Errorf("piped console: %q", out.String())
	}
	if !strings.Contains(errb.String(), "fosim: SSH on "+sshAddr+", IKE on UDP [127.0.0.1:") {
		t.Errorf("fosim run does not say where it listens: %q", errb.String())
	}
}

// A listener that cannot bind is named, with why, and the console still
// runs; the ports are never changed behind the admin's back.
func TestRunReportsListenerThatCannotStart(t *testing.T) {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	busyUDP := strings.TrimPrefix(udp.LocalAddr().String(), "127.0.0.1:")
	data := filepath.Join(t.TempDir(), "data")
	out, stderr, rc := fosim(t, "get system status | grep Hostname\n", "--data", data, "run",
		"--ssh", tcp.Addr().String(), "--ike-addr", "127.0.0.1", "--ike-port", busyUDP, "--ike-natt-port", freeUDP(t))
	if rc != 0 || out != "Hostname: FortiGate-VM64\n" {
		t.Fatalf("the console did not run: %d %q %s", rc, out, stderr)
	}
	for _, want := range []string{
		"fosim: IKE is not running: ike: iked: cannot bind UDP 127.0.0.1:" + busyUDP + ": ",
		"fosim: admin SSH is not running: ssh: cannot listen on " + tcp.Addr().String() + ": ",
		"address already in use",
		"fosim: control socket " + filepath.Join(data, "control.sock") + " (data ",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	// serve, headless, ends instead.
	if _, stderr, rc := fosim(t, "", "--data", data, "serve", "--ssh", tcp.Addr().String(), "--ike-addr", "127.0.0.1", "--ike-port", freeUDP(t), "--ike-natt-port", freeUDP(t)); rc != 1 || !strings.Contains(stderr, "admin SSH is not running") {
		t.Errorf("serve with a busy SSH port: %d %s", rc, stderr)
	}
}

// Every command answers --help and -h with its usage and status 0, and
// does nothing else: no data directory, no file named --help.
func TestEveryCommandHelp(t *testing.T) {
	t.Chdir(t.TempDir())
	data := filepath.Join(t.TempDir(), "data")
	for _, cmd := range []string{"run", "serve", "apply", "show", "get", "backup", "restore", "client", "help"} {
		for _, h := range []string{"--help", "-h"} {
			out, stderr, rc := fosim(t, "", "--data", data, cmd, h)
			if rc != 0 || !strings.Contains(out, "usage: fosim") || (cmd != "client" && stderr != "") {
				t.Errorf("fosim %s %s: rc %d, stdout %.80q, stderr %q", cmd, h, rc, out, stderr)
			}
			if cmd != "help" && cmd != "client" && !strings.Contains(out, " "+cmd) {
				t.Errorf("fosim %s %s is not %s's usage: %.80q", cmd, h, cmd, out)
			}
		}
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"backup", "x.conf", "--help"}, {"apply", "--bogus", "--help"}, {"help", "apply"}} {
		if out, _, rc := fosim(t, "", args...); rc != 0 || !strings.Contains(out, "usage: fosim") {
			t.Errorf("fosim %v: %d %.80q", args, rc, out)
		}
	}
	if out, _, _ := fosim(t, "", "--help"); !strings.Contains(out, "commands:") {
		t.Errorf("fosim --help is not the whole usage: %.80q", out)
	}
	entries, _ := os.ReadDir(".")
	for _, e := range entries {
		t.Errorf("--help wrote %s", e.Name())
	}
	if _, err := os.Stat(data); err == nil {
		t.Error("--help created the data directory")
	}
	// A stray option is refused, never taken for a file name.
	if _, stderr, rc := fosim(t, "", "--data", data, "backup", "--bogus"); rc != 2 || !strings.Contains(stderr, "unknown option --bogus") {
		t.Errorf("backup --bogus: %d %q", rc, stderr)
	}
	if _, stderr, rc := fosim(t, "", "--data", data, "show", "--lenient"); rc != 2 || !strings.Contains(stderr, "show takes no --lenient") {
		t.Errorf("show --lenient: %d %q", rc, stderr)
	}
}

// The client keeps no state: --data before or after it is accepted and
// said to be ignored.
func TestClientDataIgnored(t *testing.T) {
	for _, args := range [][]string{{"--data", "D", "client", "--server", "bad"}, {"client", "--server", "bad", "--data", "D"}, {"client", "--data=D", "--server", "bad"}} {
		_, stderr, rc := fosim(t, "", args...)
		if rc != 2 || !strings.Contains(stderr, "fosim client: --data is ignored: the client keeps no state\n") || !strings.Contains(stderr, "--server") {
			t.Errorf("fosim %v: %d %q", args, rc, stderr)
		}
	}
	if out, _, rc := fosim(t, "", "--data", "D", "client", "-h"); rc != 0 || !strings.Contains(out, "-server") {
		t.Errorf("client -h: %d %q", rc, out)
	}
}

// "execute shutdown" piped into fosim run stops it there (no terminal: the
// question is answered yes); the lines after it do not run.
func TestRunPipedExecuteShutdown(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	out, stderr, rc := fosim(t, "execute shutdown\nconfig system global\nset hostname AFTER\nend\n", append([]string{"--data", data, "run"}, listenerArgs(t)...)...)
	if rc != 0 || out != "This operation will shutdown the system !\nDo you want to continue? (y/n)y\nSystem is shutting down...\n" {
		t.Fatalf("rc %d, stdout %q, stderr %s", rc, out, stderr)
	}
	if out, _, _ := fosim(t, "", "--data", data, "get", "system", "global"); strings.Contains(out, "AFTER") {
		t.Error("a line after execute shutdown ran")
	}
}
