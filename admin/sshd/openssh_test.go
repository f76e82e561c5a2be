package sshd

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/internal/peertest"
)

// These tests drive the server with the real OpenSSH client, a peer
// nobody here wrote.

func opensshPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ssh")
	if err != nil {
		peertest.Missing(t, "the OpenSSH client (ssh) is not installed: apt-get install openssh-client")
	}
	return p
}

// sshArgs are the options that keep ssh away from the user's files and
// known_hosts, for a server on addr. ssh logs in with a password (from
// askpass, see runSSH), as an admin does.
func sshArgs(t *testing.T, addr string, extra ...string) []string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{
		"-F", "/dev/null",
		"-p", port,
		"-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null",
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR",
		"-o", "PreferredAuthentications=password",
		"-o", "NumberOfPasswordPrompts=1",
		"-o", "ConnectTimeout=10",
	}
	return append(args, extra...)
}

// askpass writes a program that answers ssh's password prompt with pw
// (SSH_ASKPASS_REQUIRE=force, OpenSSH 8.4+: no terminal needed).
func askpass(t *testing.T, pw string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "askpass")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho '"+pw+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

// runSSH runs ssh logging in with testPassword.
func runSSH(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	return runSSHWith(t, testPassword, stdin, args...)
}

func runSSHWith(t *testing.T, password, stdin string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, opensshPath(t), args...)
	cmd.Env = append(os.Environ(), "SSH_ASKPASS="+askpass(t, password), "SSH_ASKPASS_REQUIRE=force", "DISPLAY=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("ssh %v timed out; stdout:\n%s\nstderr:\n%s", args, out.String(), errb.String())
	}
	return out.String(), errb.String(), err
}

func TestOpenSSHExec(t *testing.T) {
	opensshPath(t)
	ts := startServer(t, serverOpts{})
	out, stderr, err := runSSH(t, "", sshArgs(t, ts.addr, "admin@127.0.0.1", "get system status")...)
	if err != nil {
		t.Fatalf("ssh exec: %v\n%s", err, stderr)
	}
	for _, want := range []string{
		"Version: FortiGate-VM64 v7.6.1,build3462,241022 (GA.F)\n",
		"Virtual domain configuration: disable\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("get system status over OpenSSH lacks %q:\n%s", want, out)
		}
	}
	// Several lines in one exec, and a grep.
	out, stderr, err = runSSH(t, "", sshArgs(t, ts.addr, "admin@127.0.0.1",
		"config system global\nset hostname OSSH-EXEC\nend\nget system status | grep Hostname")...)
	if err != nil || out != "Hostname: OSSH-EXEC\n" {
		t.Errorf("multi-line exec: %v %q %s", err, out, stderr)
	}
}

func TestOpenSSHPtySession(t *testing.T) {
	opensshPath(t)
	ts := startServer(t, serverOpts{})
	input := strings.Join([]string{
		"config system global",
		"set hostname OSSH",
		"end",
		"config firewall address",
		"edit ossh-net",
		"set subnet 203.0.113.0/24",
		"set comment \"from OpenSSH\"",
		"next",
		"end",
		"show firewall address ossh-net",
		"exit",
	}, "\n") + "\n"
	out, stderr, err := runSSH(t, input, sshArgs(t, ts.addr, "-tt", "admin@127.0.0.1")...)
	if err != nil {
		t.Fatalf("ssh -tt: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}
	for _, want := range []string{
		"FortiGate-VM64 # config system global\r\n",
		"FortiGate-VM64 (global) # set hostname OSSH\r\n",
		"OSSH # config firewall address\r\n",
		"OSSH (address) # edit ossh-net\r\nnew entry 'ossh-net' added\r\n",
		"OSSH (ossh-net) # next\r\n",
		"        set subnet 203.0.113.0 255.255.255.0\r\n",
		"OSSH # exit\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("pty session output lacks %q:\n%s", want, out)
		}
	}
	if h := ts.st.SingletonValue("system global", "hostname"); h != "OSSH" {
		t.Errorf("hostname %q after the session", h)
	}
	if ts.st.Lookup("firewall address", "ossh-net") == nil {
		t.Errorf("address not saved")
	}
}

// ssh -T with commands on stdin: no pty, no prompts, lines in order.
func TestOpenSSHNoPtyStdin(t *testing.T) {
	opensshPath(t)
	ts := startServer(t, serverOpts{})
	out, stderr, err := runSSH(t, "config system global\nset hostname OSSH-T\nend\nget system status | grep Hostname\n",
		sshArgs(t, ts.addr, "-T", "admin@127.0.0.1")...)
	if err != nil || out != "Hostname: OSSH-T\n" {
		t.Errorf("ssh -T: %v %q %s", err, out, stderr)
	}
}

// OpenSSH against a fresh unit: the password prompt takes the empty
// password, then the shell asks for a new one before the prompt.
func TestOpenSSHFreshUnitFirstLogin(t *testing.T) {
	opensshPath(t)
	ts := startServer(t, serverOpts{fresh: true})
	input := newPassword + "\n" + newPassword + "\nget system status | grep Hostname\nexit\n"
	out, stderr, err := runSSHWith(t, "", input, sshArgs(t, ts.addr, "-tt", "admin@127.0.0.1")...)
	if err != nil {
		t.Fatalf("ssh -tt with the empty password: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}
	for _, want := range []string{
		"You are forced to change your password, please input a new password.\r\nNew Password:",
		"Confirm Password:",
		"Welcome !",
		"Hostname: FortiGate-VM64",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("first login over OpenSSH lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, newPassword) {
		t.Errorf("the new password was echoed:\n%s", out)
	}
	// The new password logs in; the empty one no longer does.
	if out, stderr, err := runSSHWith(t, newPassword, "", sshArgs(t, ts.addr, "admin@127.0.0.1", "get system status | grep Hostname")...); err != nil || out != "Hostname: FortiGate-VM64\n" {
		t.Errorf("login with the new password: %v %q %s", err, out, stderr)
	}
	if _, _, err := runSSHWith(t, "", "", sshArgs(t, ts.addr, "admin@127.0.0.1", "get system status")...); err == nil {
		t.Errorf("the empty password still logs in")
	}
}
