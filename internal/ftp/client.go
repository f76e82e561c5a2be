// Package ftp is an FTP client (RFC 959, passive mode with RFC 2428 EPSV
// and PASV, binary type) for "execute backup|restore config ftp": one file
// stored or retrieved per connection, held in memory.
package ftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// DefaultPort is the FTP control port.
const DefaultPort = 21

// ErrTooLarge is returned by Get when the file exceeds Client.MaxSize.
var ErrTooLarge = errors.New("ftp: file too large")

// Client transfers files. The zero value is ready to use.
type Client struct {
	// Timeout bounds each step: connecting, a reply, the data transfer
	// (default 30 s).
	Timeout time.Duration
	// MaxSize bounds a download (default 16 MiB).
	MaxSize int64
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 30 * time.Second
}

func (c *Client) maxSize() int64 {
	if c.MaxSize > 0 {
		return c.MaxSize
	}
	return 16 << 20
}

// Login is who to log in as; an empty User logs in anonymously.
type Login struct {
	User, Password string
}

// SplitServer turns "host", "host:port" or "[v6]:port" into host and port
// (21 by default).
func SplitServer(server string) (host string, port int, err error) {
	host, p := server, strconv.Itoa(DefaultPort)
	if h, pp, err := net.SplitHostPort(server); err == nil {
		host, p = h, pp
	} else if strings.HasPrefix(server, "[") && strings.HasSuffix(server, "]") {
		host = server[1 : len(server)-1]
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if host == "" || err != nil || n == 0 {
		return "", 0, fmt.Errorf("ftp: bad server address %q", server)
	}
	return host, int(n), nil
}

// session is one logged-in control connection.
type session struct {
	c    *Client
	conn net.Conn
	text *textproto.Conn
}

// checkArg refuses what would end a command line early: an FTP argument
// is the rest of a line (RFC 959 section 4.1.3).
func checkArg(what, s string) error {
	if strings.ContainsAny(s, "\r\n\x00") {
		return fmt.Errorf("ftp: %s holds a line break or NUL", what)
	}
	return nil
}

func (c *Client) dial(ctx context.Context, server string, login Login) (*session, func(), error) {
	for what, s := range map[string]string{"user": login.User, "password": login.Password} {
		if err := checkArg(what, s); err != nil {
			return nil, nil, err
		}
	}
	host, port, err := SplitServer(server)
	if err != nil {
		return nil, nil, err
	}
	d := net.Dialer{Timeout: c.timeout()}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, nil, fmt.Errorf("ftp: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	s := &session{c: c, conn: conn, text: textproto.NewConn(conn)}
	done := func() {
		stop()
		s.text.Close()
	}
	if err := s.login(login); err != nil {
		done()
		return nil, nil, err
	}
	return s, done, nil
}

// cmd sends a command and reads its reply, which must be of the class of
// want (1, 2 or 3) or carry code want exactly (three digits).
func (s *session) cmd(want int, format string, args ...any) (int, string, error) {
	s.conn.SetDeadline(time.Now().Add(s.c.timeout()))
	if format != "" {
		if err := s.text.PrintfLine(format, args...); err != nil {
			return 0, "", fmt.Errorf("ftp: %w", err)
		}
	}
	code, msg, err := s.text.ReadResponse(want)
	if err != nil {
		var te *textproto.Error
		if errors.As(err, &te) {
			// The server's text stays out: it may echo what was sent.
			what, _, _ := strings.Cut(format, " ")
			if what == "" {
				what = "reply"
			}
			return code, msg, fmt.Errorf("ftp: %s: server replied %d", what, te.Code)
		}
		return code, msg, fmt.Errorf("ftp: %w", err)
	}
	return code, msg, nil
}

func (s *session) login(l Login) error {
	if _, _, err := s.cmd(220, ""); err != nil {
		return err
	}
	user, pass := l.User, l.Password
	if user == "" {
		user, pass = "anonymous", "anonymous@"
	}
	code, _, err := s.cmd(0, "USER %s", user)
	if err != nil {
		return err
	}
	switch code {
	case 230:
	case 331, 332:
		if _, _, err := s.cmd(2, "PASS %s", pass); err != nil {
			return err
		}
	default:
		return fmt.Errorf("ftp: USER: server replied %d", code)
	}
	_, _, err = s.cmd(200, "TYPE I")
	return err
}

// passive opens the data connection: EPSV, else PASV. The data connection
// goes to the control connection's address whatever PASV names (no FTP
// bounce through this appliance, RFC 2577).
func (s *session) passive(ctx context.Context) (net.Conn, error) {
	remote := s.conn.RemoteAddr().(*net.TCPAddr)
	port := 0
	if code, msg, err := s.cmd(0, "EPSV"); err == nil && code == 229 {
		port = epsvPort(msg)
	}
	if port == 0 {
		_, msg, err := s.cmd(227, "PASV")
		if err != nil {
			return nil, err
		}
		if port = pasvPort(msg); port == 0 {
			return nil, fmt.Errorf("ftp: PASV reply without a port")
		}
	}
	d := net.Dialer{Timeout: s.c.timeout()}
	data, err := d.DialContext(ctx, "tcp", net.JoinHostPort(remote.IP.String(), strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("ftp: data connection: %w", err)
	}
	return data, nil
}

// epsvPort reads "Entering Extended Passive Mode (|||6446|)"; 0 if none.
func epsvPort(msg string) int {
	i := strings.Index(msg, "(|||")
	if i < 0 {
		return 0
	}
	rest := msg[i+4:]
	j := strings.Index(rest, "|)")
	if j < 0 {
		return 0
	}
	n, err := strconv.Atoi(rest[:j])
	if err != nil || n <= 0 || n > 65535 {
		return 0
	}
	return n
}

// pasvPort reads the port of "Entering Passive Mode (h1,h2,h3,h4,p1,p2)";
// 0 if none. The address is not used.
func pasvPort(msg string) int {
	i := strings.IndexByte(msg, '(')
	if i < 0 {
		return 0
	}
	rest := msg[i+1:]
	j := strings.IndexByte(rest, ')')
	if j < 0 {
		return 0
	}
	f := strings.Split(rest[:j], ",")
	if len(f) != 6 {
		return 0
	}
	p1, err1 := strconv.Atoi(strings.TrimSpace(f[4]))
	p2, err2 := strconv.Atoi(strings.TrimSpace(f[5]))
	if err1 != nil || err2 != nil || p1 < 0 || p1 > 255 || p2 < 0 || p2 > 255 {
		return 0
	}
	return p1<<8 | p2
}

func (s *session) quit() {
	s.cmd(0, "QUIT")
}

// Put stores data as path on server ("host" or "host:port").
func (c *Client) Put(ctx context.Context, server string, login Login, path string, data []byte) error {
	if err := checkArg("file name", path); err != nil || path == "" {
		return fmt.Errorf("ftp: bad file name")
	}
	s, done, err := c.dial(ctx, server, login)
	if err != nil {
		return err
	}
	defer done()
	dc, err := s.passive(ctx)
	if err != nil {
		return err
	}
	defer dc.Close()
	if _, _, err := s.cmd(1, "STOR %s", path); err != nil {
		return err
	}
	dc.SetDeadline(time.Now().Add(c.timeout()))
	if _, err := dc.Write(data); err != nil {
		return fmt.Errorf("ftp: data connection: %w", err)
	}
	// Closing the data connection marks the end of the file.
	if err := dc.Close(); err != nil {
		return fmt.Errorf("ftp: data connection: %w", err)
	}
	if _, _, err := s.cmd(2, ""); err != nil {
		return err
	}
	s.quit()
	return nil
}

// Get retrieves path from server ("host" or "host:port").
func (c *Client) Get(ctx context.Context, server string, login Login, path string) ([]byte, error) {
	if err := checkArg("file name", path); err != nil || path == "" {
		return nil, fmt.Errorf("ftp: bad file name")
	}
	s, done, err := c.dial(ctx, server, login)
	if err != nil {
		return nil, err
	}
	defer done()
	dc, err := s.passive(ctx)
	if err != nil {
		return nil, err
	}
	defer dc.Close()
	if _, _, err := s.cmd(1, "RETR %s", path); err != nil {
		return nil, err
	}
	dc.SetDeadline(time.Now().Add(c.timeout()))
	data, err := io.ReadAll(io.LimitReader(dc, c.maxSize()+1))
	if err != nil {
		return nil, fmt.Errorf("ftp: data connection: %w", err)
	}
	if int64(len(data)) > c.maxSize() {
		return nil, ErrTooLarge
	}
	if _, _, err := s.cmd(2, ""); err != nil {
		return nil, err
	}
	s.quit()
	return data, nil
}
