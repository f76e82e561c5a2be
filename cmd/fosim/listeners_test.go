package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// freeOffset finds a port offset whose SSH (22), IKE (500) and NAT-T
// (4500) ports are free on 127.0.0.1.
func freeOffset(t *testing.T) int {
	for range 50 {
		off := 20000 + rand.IntN(30000)
		ok := true
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 22+off)); err == nil {
			ln.Close()
		} else {
			ok = false
		}
		for _, p := range []int{500, 4500} {
			if c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p+off)); err == nil {
				c.Close()
			} else {
				ok = false
			}
		}
		if ok {
			return off
		}
	}
	t.Fatal("no free port offset")
	return 0
}

// fosim serve without overrides listens where the configuration says:
// port1 mapped to 127.0.0.1, ports offset for an unprivileged user. SSH
// follows admin-ssh-port and allowaccess; IKE comes up on port1 for a
// phase1 on port1.
func TestServeListensWhereTheConfigurationSays(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	const password = "Listen-Test-5q"
	setAdminPassword(t, data, password)
	conf := `config vpn ipsec phase1-interface
    edit "dialup"
        set type dynamic
        set interface "port1"
        set ike-version 2
        set peertype any
        set proposal aes128-sha256
        set dhgrp 19
        set psksecret "listen-psk-1"
    next
end
config vpn ipsec phase2-interface
    edit "dialup-p2"
        set phase1name "dialup"
        set proposal aes128-sha256
    next
end
`
	if _, stderr, rc := fosim(t, conf, "--data", data, "apply", "-"); rc != 0 {
		t.Fatal(stderr)
	}
	off := freeOffset(t)
	cmd := child(t, "--data", data, "serve", "--map", "port1=127.0.0.1", "--port-offset", strconv.Itoa(off))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	sshAddr := fmt.Sprintf("127.0.0.1:%d", 22+off)
	cfg := adminSSHConfig(password)
	var c *ssh.Client
	var err error
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if c, err = ssh.Dial("tcp", sshAddr, cfg); err == nil {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("SSH on port1's admin-ssh-port (22+%d): %v", off, err)
		}
	}
	defer c.Close()
	// IKE on port1's address, offset.
	t.Setenv("FOSIM_PSK", "listen-psk-1")
	if o, e, rc := fosim(t, "", "client", "--server", fmt.Sprintf("127.0.0.1:%d", 500+off)); rc != 0 || !strings.Contains(o, "established") {
		t.Fatalf("IKE on port1: rc=%d %s %s", rc, o, e)
	}
	// A new admin-ssh-port rebinds at commit.
	newPort := 0
	for p := 23; p < 1024; p++ {
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+off)); err == nil {
			ln.Close()
			newPort = p
			break
		}
	}
	sess, _ := c.NewSession()
	got, _ := sess.CombinedOutput(fmt.Sprintf("config system global\nset admin-ssh-port %d\nend", newPort))
	sess.Close()
	if strings.Contains(string(got), "Command fail") {
		t.Fatalf("admin-ssh-port: %s", got)
	}
	moved := fmt.Sprintf("127.0.0.1:%d", newPort+off)
	c2, err := ssh.Dial("tcp", moved, cfg)
	if err != nil {
		t.Fatalf("SSH after admin-ssh-port %d: %v", newPort, err)
	}
	if _, err := ssh.Dial("tcp", sshAddr, cfg); err == nil {
		t.Fatal("the old SSH port still answers")
	}
	// Without ssh in port1's allowaccess, SSH closes there.
	sess, _ = c2.NewSession()
	got, _ = sess.CombinedOutput("config system interface\nedit port1\nset allowaccess ping https\nnext\nend")
	sess.Close()
	c2.Close()
	if strings.Contains(string(got), "Command fail") {
		t.Fatalf("allowaccess: %s", got)
	}
	if _, err := ssh.Dial("tcp", moved, cfg); err == nil {
		t.Fatal("SSH still answers on an interface without ssh in allowaccess")
	}
}
