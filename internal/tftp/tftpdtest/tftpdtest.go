// Package tftpdtest starts Debian's tftpd-hpa (in.tftpd) on 127.0.0.1 for
// tests: a real third-party server for fosim's TFTP client.
package tftpdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fosim/fosim/internal/peertest"
)

// Server is a running in.tftpd.
type Server struct {
	// Addr is "127.0.0.1:PORT".
	Addr string
	// Root is the directory it serves (chrooted with --secure).
	Root string
}

// Binary finds in.tftpd (it lives in /usr/sbin, often not on a user's PATH).
func Binary() (string, error) {
	if p, err := exec.LookPath("in.tftpd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/in.tftpd", "/sbin/in.tftpd"} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", errors.New("in.tftpd not found (Debian package tftpd-hpa)")
}

// Start runs in.tftpd in the foreground on a free port of 127.0.0.1 with a
// fresh root, and stops it when the test ends. Without tftpd-hpa (or
// without the root privilege --secure's chroot needs) the test is skipped
// loudly, or fails when FOSIM_REQUIRE_PEERS=1.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		skipOrFail(t, err.Error())
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "in.tftpd --secure chroots, which needs root")
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	// World-writable: in.tftpd drops to --user before writing files.
	if err := os.Chmod(root, 0o777); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freeUDPPort()
		if err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		// -L: listen in the foreground; -s: chroot to root, so names are
		// relative to it; -c: WRQ may create files; -p: no checks beyond
		// the file system's; -U 077: files it creates are private.
		cmd := exec.Command(bin, "-L", "-4", "-a", addr, "-s", "-c", "-p", "-U", "077", "-u", u.Username, root)
		var stderr bytes.Buffer
		cmd.Stdout = &stderr
		cmd.Stderr = &stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start in.tftpd: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if err := waitReady(addr, exited); err != nil {
			cmd.Process.Kill()
			<-exited
			lastErr = fmt.Errorf("%v; output: %q", err, stderr.String())
			continue // most likely the port was taken meanwhile
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(3 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
		return &Server{Addr: addr, Root: root}
	}
	t.Fatalf("in.tftpd did not start: %v", lastErr)
	return nil
}

func freeUDPPort() (int, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// waitReady sends a read request for a missing file until the server
// answers (with an ERROR packet).
func waitReady(addr string, exited <-chan error) error {
	raddr, _ := net.ResolveUDPAddr("udp4", addr)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer c.Close()
	rrq := append([]byte{0, 1}, "fosim-readiness-probe\x00octet\x00"...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	buf := make([]byte, 600)
	for ctx.Err() == nil {
		select {
		case err := <-exited:
			return fmt.Errorf("in.tftpd exited: %v", err)
		default:
		}
		c.WriteToUDP(rrq, raddr)
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, _, err := c.ReadFromUDP(buf); err == nil && n >= 4 {
			return nil
		}
	}
	return errors.New("in.tftpd does not answer")
}

// Path is where the server keeps name.
func (s *Server) Path(name string) string { return filepath.Join(s.Root, name) }

func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	peertest.Missing(t, "%s", msg)
}
