package control

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fosim/fosim/cli"
)

// requestTimeout bounds the time a client takes to send its request (a
// 256 MiB script over a local socket takes well under a second).
const requestTimeout = time.Minute

// Server answers host commands on the control socket of a running
// appliance.
type Server struct {
	App *cli.Appliance
	// UID is the only peer uid admitted: the appliance's own.
	UID int

	mu     sync.Mutex
	ln     *net.UnixListener
	path   string
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
}

// Listen creates dataDir's control socket with mode 0600. The caller
// holds the data directory's store, so a socket file already there is a
// stale one of an appliance that died, and is replaced.
func (s *Server) Listen(dataDir string) error {
	path := filepath.Join(dataDir, SocketName)
	// Bound under a temporary name and renamed once it is 0600, so that
	// the socket is never reachable with the umask's mode.
	tmp := filepath.Join(dataDir, fmt.Sprintf(".%s.%d", SocketName, os.Getpid()))
	var ln *net.UnixListener
	err := shortPath(dataDir, func(dir string) error {
		short := filepath.Join(dir, filepath.Base(tmp))
		os.Remove(short)
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: short, Net: "unix"})
		if err != nil {
			return err
		}
		l.SetUnlinkOnClose(false) // it is renamed; Close removes the real name
		if err := os.Chmod(short, 0o600); err != nil {
			l.Close()
			os.Remove(short)
			return err
		}
		if err := os.Rename(short, filepath.Join(dir, SocketName)); err != nil {
			l.Close()
			os.Remove(short)
			return err
		}
		ln = l
		return nil
	})
	if err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	s.mu.Lock()
	s.ln, s.path, s.conns = ln, path, map[net.Conn]bool{}
	s.mu.Unlock()
	return nil
}

// Path is the socket's file name.
func (s *Server) Path() string { return s.path }

// Serve answers connections until Close.
func (s *Server) Serve() error {
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.handle(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *Server) handle(c *net.UnixConn) {
	defer c.Close()
	if uid, err := peerUID(c); err != nil || uid != s.UID {
		why := fmt.Sprintf("peer uid %d is not the appliance's uid %d", uid, s.UID)
		if err != nil {
			why = err.Error()
		}
		writeResponse(c, Response{Code: 1, Stderr: []byte("fosim: control socket: " + why + "\n")})
		return
	}
	c.SetReadDeadline(time.Now().Add(requestTimeout))
	req, err := readRequest(bufio.NewReader(c))
	if err != nil {
		writeResponse(c, Response{Code: 1, Stderr: []byte("fosim: control socket: " + err.Error() + "\n")})
		return
	}
	c.SetReadDeadline(time.Time{})
	bw := bufio.NewWriter(c)
	if writeResponse(bw, Execute(s.App, req)) == nil {
		bw.Flush()
	}
}

// peerUID is the uid of the process at the other end (SO_PEERCRED).
func peerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if credErr != nil {
		return -1, fmt.Errorf("SO_PEERCRED: %w", credErr)
	}
	return int(cred.Uid), nil
}

// Close stops accepting, lets the requests being answered finish, and
// removes the socket file.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed || s.ln == nil {
		s.closed = true
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	s.mu.Unlock()
	s.wg.Wait()
	if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

// shortPath calls fn with dir, or, when a socket path in dir would pass
// the kernel's 108-byte limit, with /proc/self/fd/N naming dir: the
// kernel resolves that at bind and connect time.
func shortPath(dir string, fn func(dir string) error) error {
	const sunPathMax = 107 // sockaddr_un.sun_path, less the NUL
	if len(filepath.Join(dir, "."+SocketName+".4194304")) <= sunPathMax {
		return fn(dir)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fmt.Sprintf("/proc/self/fd/%d", fd))
}
