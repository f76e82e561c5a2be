package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/internal/termtest"
)

// openPty opens a pseudo-terminal pair: the test types on master, the
// console runs on the slave as on a real terminal.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("!!!!!!!! SKIPPED: no pseudo-terminal on this machine (/dev/ptmx: %v)", err)
	}
	var n int
	raw, err := m.SyscallConn()
	if err == nil {
		// Control, not Fd: Fd would make the master blocking, and Close
		// would then not end the reads of the screen.
		cerr := raw.Control(func(fd uintptr) {
			if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err == nil {
				n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
			}
		})
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		m.Close()
		t.Fatalf("pty: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

const consolePrompt = "FortiGate-VM64 # "

// fosim run on a terminal is a FortiGate console: login, the first
// login's new password, the shell, exit back to the login prompt.
func TestConsoleOnTerminal(t *testing.T) {
	master, slave := openPty(t)
	dir := filepath.Join(t.TempDir(), "data")
	st, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	inv, _ := parseArgs(append([]string{"run"}, listenerArgs(t)...))
	opt, err := inv.listenerOptions()
	if err != nil {
		t.Fatal(err)
	}
	rc := make(chan int, 1)
	go func() { rc <- runAppliance(st, dir, opt, slave, slave, io.Discard) }()
	sc := termtest.NewScreen(master)
	type_ := func(s string) {
		if _, err := io.WriteString(master, s); err != nil {
			t.Fatal(err)
		}
	}
	out, ok := sc.TryExpect("FortiGate-VM64 login: ", 5*time.Second)
	if !ok {
		t.Fatalf("regression: fosim run on a terminal asks for no login (a FortiGate console asks \"login:\" and \"Password:\"); it showed:\n%q", out)
	}
	type_("admin\r")
	sc.Expect(t, "admin\r\nPassword: ", 5*time.Second)
	type_("\r")
	sc.Expect(t, "You are forced to change your password, please input a new password.\r\nNew Password:", 5*time.Second)
	type_("Console-pw-123\rConsole-pw-123\r")
	out = sc.Expect(t, "Welcome !", 5*time.Second)
	if strings.Contains(out, "Console-pw-123") {
		t.Errorf("the new password was echoed: %q", out)
	}
	sc.Expect(t, consolePrompt, 5*time.Second)
	type_("get system status | grep Hostname\r")
	sc.Expect(t, "Hostname: FortiGate-VM64\r\n"+consolePrompt, 5*time.Second)
	// An over-long line is refused, not echoed whole.
	type_(strings.Repeat("z", 20000) + "\r")
	out = sc.Expect(t, "Command fail. Return code -61\r\n"+consolePrompt, 10*time.Second)
	if !strings.Contains(out, "input too long: 20000 bytes, at most 8192 allowed: \"zzzz") || len(out) > 9000 {
		t.Errorf("over-long console line: %d bytes of output, %.200q", len(out), out)
	}
	type_("exit\r")
	sc.Expect(t, "FortiGate-VM64 login: ", 5*time.Second)
	type_("admin\r")
	sc.Expect(t, "Password: ", 5*time.Second)
	type_("Console-pw-123\r")
	out = sc.Expect(t, consolePrompt, 5*time.Second)
	if strings.Contains(out, "forced") {
		t.Errorf("a second login forces a change again: %q", out)
	}
	// The daemons run in the console's process.
	type_("diagnose vpn ike gateway list\r")
	out = sc.Expect(t, consolePrompt, 5*time.Second)
	if strings.Contains(out, "not simulated") || strings.Contains(out, "Return code") {
		t.Errorf("iked is not running under fosim run: %q", out)
	}
	// Ctrl-D logs out, as exit does; at "login:" it asks again.
	type_("\x04")
	sc.Expect(t, "FortiGate-VM64 login: ", 5*time.Second)
	type_("\x04")
	sc.Expect(t, "\r\nFortiGate-VM64 login: ", 5*time.Second)
	select {
	case code := <-rc:
		t.Fatalf("Ctrl-D at the login prompt ended fosim run (status %d)", code)
	default:
	}
	type_("admin\rConsole-pw-123\r")
	sc.Expect(t, consolePrompt, 5*time.Second)
	// execute shutdown asks, and n keeps it running.
	type_("execute shutdown\r")
	sc.Expect(t, "This operation will shutdown the system !\r\nDo you want to continue? (y/n)", 5*time.Second)
	type_("n")
	sc.Expect(t, "n\r\n"+consolePrompt, 5*time.Second)
	type_("execute shutdown\r")
	sc.Expect(t, "Do you want to continue? (y/n)", 5*time.Second)
	type_("y")
	sc.Expect(t, "System is shutting down...", 5*time.Second)
	select {
	case code := <-rc:
		if code != 0 {
			t.Errorf("fosim run exit code %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fosim run did not end at execute shutdown")
	}
	if _, err := os.Stat(filepath.Join(dir, "control.sock")); err == nil {
		t.Error("the control socket outlived the appliance")
	}
}

// consoleOnPipe runs the console's sessions on pipes (the terminal's raw
// mode aside), with an appliance whose clock the test moves.
func consoleOnPipe(t *testing.T) (*cli.Appliance, io.Writer, *termtest.Screen, chan error) {
	t.Helper()
	st, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := cli.SetAdminPassword(st, "admin", "Pipe-pw-1234", "test"); err != nil {
		t.Fatal(err)
	}
	app := cli.NewAppliance(st)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- consoleSessions(app, inR, cli.CRLF(outW), func() int { return 40 }, nil, nil)
		outW.Close()
	}()
	t.Cleanup(func() { inW.Close(); outR.Close() })
	return app, inW, termtest.NewScreen(outR), done
}

func TestConsoleLockout(t *testing.T) {
	app, in, sc, _ := consoleOnPipe(t)
	login := func(pw string) {
		sc.Expect(t, "login: ", 5*time.Second)
		io.WriteString(in, "admin\r")
		sc.Expect(t, "Password: ", 5*time.Second)
		io.WriteString(in, pw+"\r")
	}
	login("bad-1")
	sc.Expect(t, "Login incorrect\r\n", 5*time.Second)
	login("bad-2")
	sc.Expect(t, "Login incorrect\r\n", 5*time.Second)
	login("bad-3")
	sc.Expect(t, "Too many failed logins: login is locked.\r\n", 5*time.Second)
	login("Pipe-pw-1234")
	sc.Expect(t, "login is locked for 60 more seconds", 5*time.Second)
	app.Clock.Advance(61 * time.Second)
	login("Pipe-pw-1234")
	sc.Expect(t, "Welcome !", 5*time.Second)
	sc.Expect(t, consolePrompt, 5*time.Second)
}

// The console logs an idle admin out (admintimeout, or
// admin-console-timeout when set) on the appliance clock.
func TestConsoleIdleLogout(t *testing.T) {
	app, in, sc, _ := consoleOnPipe(t)
	sc.Expect(t, "login: ", 5*time.Second)
	io.WriteString(in, "admin\rPipe-pw-1234\r")
	sc.Expect(t, consolePrompt, 5*time.Second)
	io.WriteString(in, "config system global\rset admin-console-timeout 30\rend\r")
	sc.Expect(t, "end\r\n"+consolePrompt, 5*time.Second)
	io.WriteString(in, "exit\radmin\rPipe-pw-1234\r")
	sc.Expect(t, consolePrompt, 5*time.Second)
	app.Clock.Advance(20 * time.Second)
	if out := sc.Quiet(200 * time.Millisecond); strings.Contains(out, "Timeout") {
		t.Fatalf("logged out after 20 s with admin-console-timeout 30: %q", out)
	}
	app.Clock.Advance(11 * time.Second)
	sc.Expect(t, "Timeout: no input, logging out.\r\n", 5*time.Second)
	sc.Expect(t, "FortiGate-VM64 login: ", 5*time.Second)
	// The next admin logs in on the same input.
	io.WriteString(in, "admin\rPipe-pw-1234\r")
	sc.Expect(t, consolePrompt, 5*time.Second)
	io.WriteString(in, "get system status | grep Hostname\r")
	sc.Expect(t, "Hostname: FortiGate-VM64", 5*time.Second)
}

// Piped into fosim run (no terminal), lines run as admin without a login,
// and an over-long line is refused with a short excerpt.
func TestRunPipedNoLogin(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	long := "set comment " + strings.Repeat("\x00", 1<<20)
	out, stderr, rc := fosim(t, "get system status | grep Hostname\n"+long+"\nconfig system global\nset hostname PIPED\nend\nget system status | grep Hostname\n", append([]string{"--data", data, "run"}, listenerArgs(t)...)...)
	if rc != 0 {
		t.Fatalf("rc %d: %s", rc, stderr)
	}
	want := "Hostname: FortiGate-VM64\ninput too long: 1048588 bytes, at most 8192 allowed: \"set comment \\x00\\x00"
	if !strings.HasPrefix(out, want) || !strings.HasSuffix(out, "Command fail. Return code -61\nHostname: PIPED\n") || len(out) > 300 {
		t.Errorf("regression: a 1 MiB line piped into fosim run is not refused with a short excerpt; output (%d bytes):\n%.300q", len(out), out)
	}
	if strings.Contains(out, "login:") {
		t.Errorf("piped input asked for a login: %q", out)
	}
}

// fosim run on a terminal, a process of its own: SSH works beside the
// console, and SIGTERM stops it with the terminal's modes restored.
func TestRunOnTerminalStopsOnSignal(t *testing.T) {
	master, slave := openPty(t)
	data := filepath.Join(t.TempDir(), "data")
	setAdminPassword(t, data, "Signal-pw-321")
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sshAddr := ln.Addr().String()
	ln.Close()
	cmd := child(t, "--data", data, "run", "--ssh", sshAddr, "--ike-addr", "127.0.0.1", "--ike-port", freeUDP(t), "--ike-natt-port", freeUDP(t))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := termtest.NewScreen(master)
	sc.Expect(t, "FortiGate-VM64 login: ", 10*time.Second)
	if out := sshOutput(t, sshAddr, "Signal-pw-321", "get system status"); !strings.Contains(out, "Hostname: FortiGate-VM64") {
		t.Fatalf("SSH beside the console: %q", out)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("fosim run after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fosim run did not stop on SIGTERM")
	}
	after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
		t.Errorf("the terminal was left in raw mode: lflag %#x, was %#x", after.Lflag, before.Lflag)
	}
}

// The console's login is in the admin session list while it lasts, and
// "execute disconnect-admin-session" (from another front end) logs it out.
func TestConsoleInAdminSessionList(t *testing.T) {
	app, in, sc, _ := consoleOnPipe(t)
	sc.Expect(t, "login: ", 5*time.Second)
	io.WriteString(in, "admin\rPipe-pw-1234\r")
	sc.Expect(t, consolePrompt, 5*time.Second)
	io.WriteString(in, "get system info admin status\r")
	sc.Expect(t, "0      admin       CLI         console\r\n", 5*time.Second)
	sc.Expect(t, "admin           console console          ", 5*time.Second)
	// From another session, as an SSH admin would.
	var out strings.Builder
	cli.New(app, app.Store.NewSession("admin", "test"), &out).Line("execute disconnect-admin-session 0")
	if strings.TrimSpace(out.String()) != "" {
		t.Fatalf("disconnect: %q", out.String())
	}
	sc.Expect(t, "Disconnected by an administrator.", 5*time.Second)
	sc.Expect(t, "login: ", 5*time.Second)
	out.Reset()
	cli.New(app, app.Store.NewSession("admin", "test"), &out).Line("get system info admin status")
	if !strings.Contains(out.String(), "Logged in users: 0\n") {
		t.Fatalf("after logout:\n%s", out.String())
	}
}
