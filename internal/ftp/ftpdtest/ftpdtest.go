// Package ftpdtest starts pyftpdlib (Debian package python3-pyftpdlib) on
// 127.0.0.1 for tests: a real third-party FTP server for fosim's client.
package ftpdtest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fosim/fosim/internal/peertest"
)

// Server is a running pyftpdlib.
type Server struct {
	// Addr is "127.0.0.1:PORT".
	Addr string
	// Root is the directory it serves.
	Root string
	// User and Password log in (anonymous login is off).
	User, Password string
}

// python is Debian's interpreter, where Debian's python3-pyftpdlib lives
// (a python3 earlier on PATH may be another one).
const python = "/usr/bin/python3"

// serverScript is pyftpdlib's own stand-alone server ("python3 -m
// pyftpdlib") with one user, and failed logins answered at once instead of
// after pyftpdlib's 3 s (the tests try wrong passwords).
const serverScript = `
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
user, password, root, port = sys.argv[1:5]
auth = DummyAuthorizer()
auth.add_user(user, password, root, perm="elradfmwMT")
FTPHandler.authorizer = auth
FTPHandler.auth_failed_timeout = 0.01
FTPServer(("127.0.0.1", int(port)), FTPHandler).serve_forever()
`

// Start runs pyftpdlib in the foreground on a free port of 127.0.0.1 (its
// passive data ports on 127.0.0.1 too) with a fresh root and write access,
// and stops it when the test ends. Without python3-pyftpdlib the test is
// skipped loudly, or fails when FOSIM_REQUIRE_PEERS=1.
func Start(t testing.TB) *Server {
	t.Helper()
	if out, err := exec.Command(python, "-c", "import pyftpdlib").CombinedOutput(); err != nil {
		skipOrFail(t, fmt.Sprintf("%s cannot import pyftpdlib (Debian package python3-pyftpdlib): %s", python, strings.TrimSpace(string(out))))
	}
	root := t.TempDir()
	s := &Server{Root: root, User: "fosim", Password: "ftp-test-pw"}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		cmd := exec.Command(python, "-c", serverScript, s.User, s.Password, root, fmt.Sprint(port))
		var logs bytes.Buffer
		cmd.Stdout = &logs
		cmd.Stderr = &logs
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start pyftpdlib: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if err := waitReady(addr, exited); err != nil {
			cmd.Process.Kill()
			<-exited
			lastErr = fmt.Errorf("%v; output: %q", err, logs.String())
			continue
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
		s.Addr = addr
		return s
	}
	t.Fatalf("pyftpdlib did not start: %v", lastErr)
	return nil
}

// waitReady connects until the server greets with 220.
func waitReady(addr string, exited <-chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("pyftpdlib exited: %v", err)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "220") {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("pyftpdlib does not greet on %s", addr)
}

// Path is where the server keeps name.
func (s *Server) Path(name string) string { return filepath.Join(s.Root, name) }

func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	peertest.Missing(t, "%s", msg)
}
