// Package sshd is the appliance's SSH server: admins from "config system
// admin" log in to the FortiOS shell, interactively (with a pty) or with an
// exec command. Every session edits through its own cmdb session, so all
// of them write through the one commit path.
//
// Logins follow FortiOS: a password (a new unit's admin gives the empty
// one and must then choose a new one before the prompt) or one of the
// admin's keys, from a trusted host; failed logins lock the address out
// (cli.LoginGuard); admintimeout logs an idle session out. Connections
// not logged in get admin-ssh-grace-time and a fair share of the slots per
// address (admission), so a flood of idle connections cannot keep an
// admin out.
package sshd

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/grammar"
)

// Server is the SSH server. Zero values of the limits take the defaults.
type Server struct {
	App *cli.Appliance
	// DataDir keeps the host keys, generated on first start.
	DataDir string
	// MaxConns bounds concurrent connections (authenticated or not).
	// Default 64.
	MaxConns int
	// MaxPreAuth bounds connections not logged in yet. Default MaxConns.
	// When the slots are full, a connection from an address holding fewer
	// of them than the busiest address takes that address's oldest one
	// (see admission): an address gets a fair share under pressure.
	MaxPreAuth int
	// MaxPreAuthPerSource bounds, even with room to spare, the
	// connections one address may hold before logging in; one more is
	// closed at once. Default MaxPreAuth (the fair share alone applies):
	// automation from one host opens tens of sessions at once.
	MaxPreAuthPerSource int
	// HandshakeTimeout bounds the time to log in; when zero, system
	// global's admin-ssh-grace-time (default 120 s) at each connection.
	HandshakeTimeout time.Duration
	// Lockout counts failed logins per address (admin-lockout-threshold,
	// admin-lockout-duration); the server makes its own when nil.
	Lockout *cli.LoginGuard
	// Logf receives login failures and errors; log.Printf when nil.
	Logf func(format string, args ...any)

	config      *ssh.ServerConfig
	prepareOnce sync.Once
	prepareErr  error
	adm         *admission
	wg          sync.WaitGroup
	mu          sync.Mutex
	ln          net.Listener
	conns       map[net.Conn]bool
	closed      bool

	// logins are the logged-in connections, in the appliance's admin
	// session list ("get system info admin status").
	logins cli.LoginSessions

	logMu  sync.Mutex
	logged map[string]*logCount
}

// extMustChange marks, in a login's permissions, an admin who must choose
// a new password before the prompt (a fresh unit, force-password-change).
const extMustChange = "fosim-must-change-password"

// logEvery logs at most once a second per key (an address under abuse
// makes thousands of events a second), saying how many it left out.
func (s *Server) logEvery(key, format string, args ...any) {
	now := time.Now()
	s.logMu.Lock()
	if s.logged == nil {
		s.logged = map[string]*logCount{}
	}
	lc := s.logged[key]
	if lc != nil && now.Sub(lc.at) < time.Second {
		lc.skipped++
		s.logMu.Unlock()
		return
	}
	skipped := 0
	if lc != nil {
		skipped = lc.skipped
	}
	if len(s.logged) >= 1024 {
		clear(s.logged) // bounded: a spray of addresses only loses the counts
	}
	s.logged[key] = &logCount{at: now}
	s.logMu.Unlock()
	if skipped > 0 {
		format += fmt.Sprintf(" (%d more like it in the last second not logged)", skipped)
	}
	s.logf(format, args...)
}

type logCount struct {
	at      time.Time
	skipped int
}

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// Listen binds addr and prepares the server; Serve then accepts.
func (s *Server) Listen(addr string) error {
	if err := s.Prepare(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ssh: cannot listen on %s: %w", addr, err)
	}
	s.ln = ln
	return nil
}

// Prepare loads the host keys and sets the limits' defaults; Listen does
// it, a server fed listeners (ServeListener) calls it first.
func (s *Server) Prepare() error {
	s.prepareOnce.Do(func() {
		if s.MaxConns == 0 {
			s.MaxConns = 64
		}
		if s.MaxPreAuth == 0 {
			s.MaxPreAuth = s.MaxConns
		}
		if s.MaxPreAuthPerSource == 0 {
			s.MaxPreAuthPerSource = s.MaxPreAuth
		}
		if s.Lockout == nil {
			s.Lockout = cli.NewLoginGuard(s.App)
		}
		s.adm = newAdmission(s.MaxConns, s.MaxPreAuth, s.MaxPreAuthPerSource)
		s.logins.Numbers = s.App.NextSessionNumber
		s.App.AddAdminSessions(&s.logins)
		s.conns = map[net.Conn]bool{}
		s.config, s.prepareErr = s.serverConfig()
	})
	return s.prepareErr
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts connections until ctx ends or Close.
func (s *Server) Serve(ctx context.Context) error {
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-stop:
		}
	}()
	err := s.acceptLoop(s.ln)
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.wg.Wait()
		return nil
	}
	return err
}

// ServeListener accepts connections from ln (one of the listener
// registry's) until ln is closed; the sessions it started keep running.
func (s *Server) ServeListener(ln net.Listener) {
	s.acceptLoop(ln)
}

func (s *Server) acceptLoop(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		t, ok := s.admit(c)
		if !ok {
			c.Close()
			continue
		}
		s.track(c, true)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.adm.release(t)
			defer s.track(c, false)
			s.handle(c, t)
		}()
	}
}

// admit refuses a locked-out address at once and otherwise asks the
// slots (admission) for room.
func (s *Server) admit(c net.Conn) (*ticket, bool) {
	src := sourceAddr(c.RemoteAddr())
	if locked, left := s.Lockout.Locked(src.String()); locked {
		s.logEvery("locked "+src.String(), "sshd: %s is locked out after failed logins (%v left), refusing", src, left.Round(time.Second))
		return nil, false
	}
	t, displaced, v := s.adm.admit(c, src)
	switch v {
	case refusedPerSource:
		s.logEvery("per-source "+src.String(), "sshd: %s already has %d connections not logged in, refusing another", src, s.MaxPreAuthPerSource)
		return nil, false
	case refusedFull:
		s.logEvery("full "+src.String(), "sshd: too many connections, refusing %s", c.RemoteAddr())
		return nil, false
	case admittedDisplacing:
		s.logEvery("displaced "+sourceAddr(displaced.RemoteAddr()).String(), "sshd: too many connections: closing the oldest not logged in from %s for %s", sourceAddr(displaced.RemoteAddr()), src)
		displaced.Close()
	}
	return t, true
}

// sourceAddr is the address a connection comes from, without its port.
func sourceAddr(a net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func (s *Server) track(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = true
	} else {
		delete(s.conns, c)
	}
}

// Close stops accepting and closes every connection; Serve returns once
// all sessions have ended.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Close()
	}
	return nil
}

// Wait waits for every session to end (after Close).
func (s *Server) Wait() { s.wg.Wait() }

func (s *Server) serverConfig() (*ssh.ServerConfig, error) {
	cfg := &ssh.ServerConfig{
		ServerVersion:    "SSH-2.0-fosim",
		MaxAuthTries:     6,
		PasswordCallback: s.checkPassword,
		// No "none" method: an admin without a password (a fresh unit)
		// gives an empty one and must then choose one, as on FortiOS.
		PublicKeyCallback: s.checkPublicKey,
	}
	// Older automation (netmiko's Fortinet driver) insists on the SHA-1
	// Diffie-Hellman groups FortiOS still offers.
	cfg.KeyExchanges = append(ssh.SupportedAlgorithms().KeyExchanges,
		ssh.InsecureKeyExchangeDH14SHA1, ssh.InsecureKeyExchangeDHGEXSHA1)
	keys, err := loadHostKeys(s.DataDir)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		cfg.AddHostKey(k)
	}
	return cfg, nil
}

// loadHostKeys reads (or on first start generates and saves) the host keys.
func loadHostKeys(dir string) ([]ssh.Signer, error) {
	var out []ssh.Signer
	for _, kind := range []string{"ed25519", "rsa"} {
		path := filepath.Join(dir, "ssh_host_"+kind+"_key")
		pemBytes, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			var key any
			switch kind {
			case "ed25519":
				_, key, err = ed25519.GenerateKey(rand.Reader)
			case "rsa":
				key, err = rsa.GenerateKey(rand.Reader, 2048)
			}
			if err != nil {
				return nil, err
			}
			blk, err := ssh.MarshalPrivateKey(key, "fosim host key")
			if err != nil {
				return nil, err
			}
			pemBytes = pem.EncodeToMemory(blk)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, err
		}
		signer, err := ssh.ParsePrivateKey(pemBytes)
		if err != nil {
			return nil, fmt.Errorf("ssh host key %s: %w", path, err)
		}
		out = append(out, signer)
	}
	return out, nil
}

// admin looks an administrator up and checks the trusted hosts.
func (s *Server) admin(c ssh.ConnMetadata) (*cmdb.Table, *cmdb.Entry, error) {
	st := s.App.Store
	t := st.Schema().Table("system admin")
	e := st.Lookup("system admin", c.User())
	if t == nil || e == nil {
		return nil, nil, fmt.Errorf("no such admin")
	}
	// trusthost1…10: with none set every address may log in
	if src := sourceAddr(c.RemoteAddr()); !src.IsValid() || !cmdb.AdminTrusted(t, e, src) {
		return nil, nil, fmt.Errorf("not a trusted host")
	}
	return t, e, nil
}

func (s *Server) fail(c ssh.ConnMetadata, why string) error {
	s.logEvery("failed "+sourceAddr(c.RemoteAddr()).String()+" "+why, "sshd: admin login failed: user %s from %s: %s", "\""+grammar.Excerpt(c.User())+"\"", c.RemoteAddr(), why)
	return errors.New("login failed")
}

// checkPassword is every password attempt: a locked-out address is
// refused without a look at the password; a wrong user, host or password
// counts towards admin-lockout-threshold.
func (s *Server) checkPassword(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
	src := sourceAddr(c.RemoteAddr()).String()
	if locked, _ := s.Lockout.Locked(src); locked {
		return nil, s.fail(c, "address locked out after failed logins")
	}
	why := ""
	var login *cli.AdminLogin
	if s.App.Store.SingletonValue("system global", "admin-ssh-password") == "disable" {
		// Keys only; a password try is still a failed login.
		why = "password authentication disabled (admin-ssh-password)"
	} else if _, _, err := s.admin(c); err != nil {
		why = err.Error()
	} else if login, err = cli.CheckAdminPassword(s.App.Store, c.User(), string(pw)); err != nil {
		why = "wrong password"
	}
	if why != "" {
		if s.Lockout.Failed(src) {
			why += "; address locked out for admin-lockout-duration"
		}
		return nil, s.fail(c, why)
	}
	s.Lockout.Succeeded(src)
	perms := &ssh.Permissions{Extensions: map[string]string{}}
	if login.MustChangePassword {
		perms.Extensions[extMustChange] = "1"
	}
	return perms, nil
}

// checkPublicKey accepts one of the admin's keys. A refused key is not a
// failed login (a client offers its keys in turn), but a locked-out
// address is refused a key login too.
func (s *Server) checkPublicKey(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if locked, _ := s.Lockout.Locked(sourceAddr(c.RemoteAddr()).String()); locked {
		return nil, s.fail(c, "address locked out after failed logins")
	}
	t, e, err := s.admin(c)
	if err != nil {
		return nil, s.fail(c, err.Error())
	}
	for _, name := range []string{"ssh-public-key1", "ssh-public-key2", "ssh-public-key3"} {
		a := t.Attr(name)
		if a == nil {
			continue
		}
		v := strings.Join(e.Get(a), " ")
		if v == "" {
			continue
		}
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(v))
		if err == nil && string(pk.Marshal()) == string(key.Marshal()) {
			return &ssh.Permissions{}, nil
		}
	}
	return nil, s.fail(c, "public key not accepted")
}

// graceTime is how long a connection may take to log in.
func (s *Server) graceTime() time.Duration {
	if s.HandshakeTimeout > 0 {
		return s.HandshakeTimeout
	}
	n, err := strconv.Atoi(s.App.Store.SingletonValue("system global", "admin-ssh-grace-time"))
	if err != nil || n <= 0 {
		n = 120
	}
	return time.Duration(n) * time.Second
}

// loginState is what the sessions of one connection share: whether the
// admin must still choose a new password (asked once, by the first
// session that runs).
type loginState struct {
	mu         sync.Mutex
	mustChange bool
}

func (s *Server) handle(c net.Conn, t *ticket) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(s.graceTime()))
	conn, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		return
	}
	defer conn.Close()
	c.SetDeadline(time.Time{})
	s.adm.loggedIn(t)
	remove := s.logins.Add(s.adminSession(conn), func() { conn.Close() })
	defer remove()
	login := &loginState{mustChange: conn.Permissions != nil && conn.Permissions.Extensions[extMustChange] == "1"}
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.session(conn, login, ch, chReqs)
		}()
	}
	wg.Wait()
}

// adminSession is a logged-in connection as the admin session list
// shows it.
func (s *Server) adminSession(conn *ssh.ServerConn) cli.AdminSession {
	return cli.AdminSession{User: conn.User(), Type: "ssh", From: sourceAddr(conn.RemoteAddr()), Profile: s.App.Store.Profile(conn.User()), Started: s.App.Clock.Now()}
}

// session serves one session channel: pty-req, window-change, shell, exec.
// The shell runs on a goroutine of its own so that requests (window
// changes) keep being read while it runs: x/crypto/ssh stalls a connection
// whose channel requests are not read.
func (s *Server) session(conn *ssh.ServerConn, login *loginState, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var pty bool
	height := 0
	var ed *cli.Editor
	var edMu sync.Mutex
	// admintimeout, on the appliance clock: input moves it on.
	idle := cli.NewIdleTimer(s.App.Clock, cli.AdminTimeout(s.App.Store, conn.User()), func() {
		io.WriteString(ch, "\r\nTimeout: no input, logging out.\r\n")
		conn.Close()
	})
	defer idle.Stop()
	in := &cli.ActivityReader{R: ch, Idle: idle}
	done := make(chan struct{})
	started := false
	start := func(run func()) {
		started = true
		go func() {
			defer close(done)
			run()
		}()
	}
	for {
		var req *ssh.Request
		var ok bool
		select {
		case req, ok = <-reqs:
			if !ok {
				if started {
					<-done
				}
				return
			}
		case <-done:
			sendExit(ch, 0)
			go ssh.DiscardRequests(reqs)
			return
		}
		switch {
		case req.Type == "pty-req" && !started:
			pty = true
			height = ptyHeight(req.Payload)
			req.Reply(true, nil)
		case req.Type == "window-change":
			if len(req.Payload) >= 8 {
				h := int(binary.BigEndian.Uint32(req.Payload[4:8]))
				edMu.Lock()
				height = h
				if ed != nil {
					ed.SetHeight(h)
				}
				edMu.Unlock()
			}
		case req.Type == "env":
			req.Reply(true, nil)
		case req.Type == "shell" && !started:
			req.Reply(true, nil)
			sh := s.newShell(conn, ch, pty)
			edMu.Lock()
			ed = cli.NewEditor(in, sh.Out, sh, height)
			edMu.Unlock()
			start(func() {
				defer sh.Close()
				if !pty {
					// Without a pty: run lines as they come, no echo.
					lr := cli.NewLineReader(in)
					if s.changePassword(conn, login, lr.PlainFields(sh.Out), sh.Out) {
						cli.RunLines(sh, lr)
					}
				} else if s.changePassword(conn, login, ed.ReadField, sh.Out) {
					ed.Run()
				}
			})
		case req.Type == "exec" && !started:
			req.Reply(true, nil)
			cmd := execCommand(req.Payload)
			sh := s.newShell(conn, ch, pty)
			start(func() {
				defer sh.Close()
				// A first login over exec reads the new password from
				// the channel's input, as a plain shell does.
				lr := cli.NewLineReader(in)
				if !s.changePassword(conn, login, lr.PlainFields(sh.Out), sh.Out) {
					return
				}
				// The command's lines run as a shell without a terminal
				// runs them (a quoted value may span lines).
				cli.RunLines(sh, cli.NewLineReader(strings.NewReader(cmd)))
			})
		default:
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
}

func (s *Server) newShell(conn *ssh.ServerConn, ch ssh.Channel, pty bool) *cli.Shell {
	var out io.Writer = ch
	if pty {
		out = cli.CRLF(ch)
	}
	sess := s.App.Store.NewSession(conn.User(), "ssh "+conn.RemoteAddr().String())
	sh := cli.New(s.App, sess, out)
	return sh
}

// changePassword asks an admin who must choose a new password for one
// (FortiOS's first-login change) and tells whether the session may go on;
// after three refused tries the connection is closed.
func (s *Server) changePassword(conn *ssh.ServerConn, login *loginState, read cli.SecretReader, out io.Writer) bool {
	login.mu.Lock()
	defer login.mu.Unlock()
	if !login.mustChange {
		return true
	}
	al := &cli.AdminLogin{User: conn.User(), MustChangePassword: true}
	if err := cli.ForcePasswordChange(s.App.Store, al, "", read, out, "ssh "+conn.RemoteAddr().String()); err != nil {
		if errors.Is(err, io.EOF) {
			io.WriteString(out, "\nThe password was not changed: a first login needs the new password twice (a terminal asks for it).\n")
		} else {
			fmt.Fprintf(out, "%v\n", err)
		}
		s.logf("sshd: admin %q from %s did not set the new password a first login requires", conn.User(), conn.RemoteAddr())
		conn.Close()
		return false
	}
	login.mustChange = false
	io.WriteString(out, "Welcome !\n")
	return true
}

func sendExit(ch ssh.Channel, code uint32) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], code)
	ch.SendRequest("exit-status", false, b[:])
}

func execCommand(payload []byte) string {
	if len(payload) < 4 {
		return ""
	}
	n := binary.BigEndian.Uint32(payload[:4])
	if int(n) > len(payload)-4 {
		return ""
	}
	return string(payload[4 : 4+n])
}

// ptyHeight reads the rows of a pty-req (RFC 4254 §6.2).
func ptyHeight(p []byte) int {
	if len(p) < 4 {
		return 0
	}
	n := int(binary.BigEndian.Uint32(p[:4]))
	if len(p) < 4+n+8 {
		return 0
	}
	return int(binary.BigEndian.Uint32(p[4+n+4 : 4+n+8]))
}
