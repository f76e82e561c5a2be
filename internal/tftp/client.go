// Package tftp is a TFTP client (RFC 1350, octet mode) with option
// negotiation (RFC 2347: blksize RFC 2348, tsize RFC 2349): what a FortiGate
// uses for "execute backup|restore config tftp". It sends and receives whole
// files held in memory; a configuration file is small.
package tftp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Opcodes (RFC 1350 section 5, RFC 2347).
const (
	opRRQ   = 1
	opWRQ   = 2
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// Error codes (RFC 1350 appendix, RFC 2347).
const (
	ErrNotDefined   = 0
	ErrFileNotFound = 1
	ErrAccess       = 2
	ErrDiskFull     = 3
	ErrIllegalOp    = 4
	ErrUnknownTID   = 5
	ErrFileExists   = 6
	ErrNoSuchUser   = 7
	ErrOptions      = 8
)

// DefaultPort is the TFTP server port.
const DefaultPort = 69

const (
	defaultBlockSize = 512
	// wantBlockSize fits an Ethernet MTU of 1500 (RFC 2348's example).
	wantBlockSize = 1468
	maxBlockSize  = 65464
)

// ServerError is an ERROR packet the server sent.
type ServerError struct {
	Code uint16
	Msg  string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("tftp: server error %d: %s", e.Code, e.Msg)
}

// ErrTimeout is returned when the server stops answering.
var ErrTimeout = errors.New("tftp: timeout: no answer from the server")

// ErrTooLarge is returned by Get when the file exceeds Client.MaxSize.
var ErrTooLarge = errors.New("tftp: file too large")

// Client transfers files. The zero value is ready to use.
type Client struct {
	// Timeout is how long to wait for a packet before sending the last one
	// again (default 1 s, tftpd-hpa's own retransmit time).
	Timeout time.Duration
	// Retries is how many times a packet is sent again before giving up
	// (default 5).
	Retries int
	// BlockSize is the blksize asked for (default 1468); the server may
	// answer with less, or ignore options and use 512.
	BlockSize int
	// MaxSize bounds a download (default 16 MiB): a server cannot make the
	// appliance hold more.
	MaxSize int64
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return time.Second
}

func (c *Client) retries() int {
	if c.Retries > 0 {
		return c.Retries
	}
	return 5
}

func (c *Client) blockSize() int {
	if c.BlockSize >= 8 && c.BlockSize <= maxBlockSize {
		return c.BlockSize
	}
	return wantBlockSize
}

func (c *Client) maxSize() int64 {
	if c.MaxSize > 0 {
		return c.MaxSize
	}
	return 16 << 20
}

// ResolveServer turns "host", "host:port", "[v6]:port" or a bare IPv6
// address into a UDP address, port 69 by default.
func ResolveServer(ctx context.Context, server string) (*net.UDPAddr, error) {
	host, port := server, strconv.Itoa(DefaultPort)
	if h, p, err := net.SplitHostPort(server); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(server, "[") && strings.HasSuffix(server, "]") {
		host = server[1 : len(server)-1]
	}
	if host == "" {
		return nil, fmt.Errorf("tftp: no server address")
	}
	var r net.Resolver
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, fmt.Errorf("tftp: cannot resolve %q", host)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return nil, fmt.Errorf("tftp: bad port %q", port)
	}
	ip := addrs[0].Unmap()
	return &net.UDPAddr{IP: ip.AsSlice(), Port: int(p), Zone: ip.Zone()}, nil
}

// transfer is one request: its socket, the server's transfer ID once known,
// and the last packet sent (sent again on timeout).
type transfer struct {
	c      *Client
	conn   *net.UDPConn
	server *net.UDPAddr // the request goes here
	peer   *net.UDPAddr // the server's transfer port, from its first answer
	last   []byte
	buf    []byte
}

func (c *Client) open(ctx context.Context, server string) (*transfer, func(), error) {
	addr, err := ResolveServer(ctx, server)
	if err != nil {
		return nil, nil, err
	}
	// Bind the address the route to the server leaves from (127.0.0.1 for a
	// server on loopback), not every address: the answer comes from a new
	// server port, so the socket cannot be connected.
	probe, err := net.DialUDP("udp", nil, addr)
	if err != nil {
		return nil, nil, fmt.Errorf("tftp: %w", err)
	}
	local := probe.LocalAddr().(*net.UDPAddr)
	probe.Close()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: local.IP, Zone: local.Zone})
	if err != nil {
		return nil, nil, fmt.Errorf("tftp: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	t := &transfer{c: c, conn: conn, server: addr, buf: make([]byte, maxBlockSize+4)}
	return t, func() { stop(); conn.Close() }, nil
}

func request(op uint16, name string, opts [][2]string) []byte {
	b := binary.BigEndian.AppendUint16(nil, op)
	b = append(append(b, name...), 0)
	b = append(append(b, "octet"...), 0)
	for _, o := range opts {
		b = append(append(b, o[0]...), 0)
		b = append(append(b, o[1]...), 0)
	}
	return b
}

func ack(block uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, opACK), block)
}

func errorPacket(code uint16, msg string) []byte {
	b := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, opERROR), code)
	return append(append(b, msg...), 0)
}

func (t *transfer) send(p []byte) error {
	t.last = p
	dst := t.peer
	if dst == nil {
		dst = t.server
	}
	_, err := t.conn.WriteToUDP(p, dst)
	return err
}

// abort tells the server the transfer is over (best effort: no answer comes
// to an ERROR).
func (t *transfer) abort(code uint16, msg string) {
	if t.peer != nil {
		t.conn.WriteToUDP(errorPacket(code, msg), t.peer)
	}
}

// recv waits for the next packet of this transfer, sending the last packet
// again on each timeout. Packets from another port than the server's
// transfer ID are answered with ERROR 5 and ignored (RFC 1350 section 4).
func (t *transfer) recv(ctx context.Context) (uint16, []byte, error) {
	tries := 0
	// Stray packets do not push the deadline back.
	deadline := time.Now().Add(t.c.timeout())
	for {
		if err := ctx.Err(); err != nil {
			return 0, nil, err
		}
		t.conn.SetReadDeadline(deadline)
		n, from, err := t.conn.ReadFromUDP(t.buf)
		if err != nil {
			if ctx.Err() != nil {
				return 0, nil, ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				tries++
				if tries > t.c.retries() {
					return 0, nil, ErrTimeout
				}
				if err := t.send(t.last); err != nil {
					return 0, nil, fmt.Errorf("tftp: %w", err)
				}
				deadline = time.Now().Add(t.c.timeout())
				continue
			}
			return 0, nil, fmt.Errorf("tftp: %w", err)
		}
		if !from.IP.Equal(t.server.IP) {
			continue
		}
		if t.peer == nil {
			t.peer = from
		} else if from.Port != t.peer.Port {
			t.conn.WriteToUDP(errorPacket(ErrUnknownTID, "Unknown transfer ID"), from)
			continue
		}
		if n < 4 {
			t.abort(ErrIllegalOp, "Short packet")
			return 0, nil, fmt.Errorf("tftp: short packet from the server")
		}
		p := t.buf[:n]
		op := binary.BigEndian.Uint16(p)
		if op == opERROR {
			msg, _, _ := strings.Cut(string(p[4:]), "\x00")
			return 0, nil, &ServerError{Code: binary.BigEndian.Uint16(p[2:]), Msg: msg}
		}
		return op, p[2:], nil
	}
}

// parseOACK reads the options the server accepted: only those asked for,
// blksize no larger than asked (RFC 2347: anything else ends the transfer
// with error 8).
func parseOACK(b []byte, askedBlock int) (block int, tsize int64, err error) {
	block, tsize = defaultBlockSize, -1
	fields := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	if len(fields)%2 != 0 {
		return 0, 0, fmt.Errorf("tftp: malformed OACK")
	}
	for i := 0; i < len(fields); i += 2 {
		name, val := strings.ToLower(fields[i]), fields[i+1]
		switch name {
		case "blksize":
			n, err := strconv.Atoi(val)
			if err != nil || n < 8 || n > askedBlock {
				return 0, 0, fmt.Errorf("tftp: server chose blksize %q (asked %d)", val, askedBlock)
			}
			block = n
		case "tsize":
			n, err := strconv.ParseUint(val, 10, 63)
			if err != nil {
				return 0, 0, fmt.Errorf("tftp: server sent tsize %q", val)
			}
			tsize = int64(n)
		default:
			return 0, 0, fmt.Errorf("tftp: server sent an option not asked for: %q", name)
		}
	}
	return block, tsize, nil
}

// Get downloads name from server ("host" or "host:port").
func (c *Client) Get(ctx context.Context, server, name string) ([]byte, error) {
	t, done, err := c.open(ctx, server)
	if err != nil {
		return nil, err
	}
	defer done()
	bs := c.blockSize()
	opts := [][2]string{{"blksize", strconv.Itoa(bs)}, {"tsize", "0"}}
	if err := t.send(request(opRRQ, name, opts)); err != nil {
		return nil, fmt.Errorf("tftp: %w", err)
	}
	block := defaultBlockSize
	var data []byte
	var expect uint16 = 1
	first := true
	for {
		op, p, err := t.recv(ctx)
		if err != nil {
			return nil, err
		}
		switch op {
		case opOACK:
			if !first {
				// The OACK again: our ACK 0 was lost, unless data came since.
				if expect == 1 {
					t.conn.WriteToUDP(ack(0), t.peer)
				}
				continue
			}
			first = false
			var size int64
			block, size, err = parseOACK(p, bs)
			if err != nil {
				t.abort(ErrOptions, "Bad options")
				return nil, err
			}
			// The server said how large the file is: refuse before the
			// transfer rather than after MaxSize bytes.
			if size > c.maxSize() {
				t.abort(ErrDiskFull, "File too large")
				return nil, ErrTooLarge
			}
			if err := t.send(ack(0)); err != nil {
				return nil, fmt.Errorf("tftp: %w", err)
			}
		case opDATA:
			first = false
			n := binary.BigEndian.Uint16(p)
			payload := p[2:]
			if n != expect {
				// A block sent again because our ACK was lost: ACK it again
				// (never answer a duplicate twice over: RFC 1123 4.2.3.1).
				if n == expect-1 {
					t.conn.WriteToUDP(ack(n), t.peer)
				}
				continue
			}
			if len(payload) > block {
				t.abort(ErrIllegalOp, "Block too large")
				return nil, fmt.Errorf("tftp: block %d of %d bytes (blksize %d)", n, len(payload), block)
			}
			if int64(len(data)+len(payload)) > c.maxSize() {
				t.abort(ErrDiskFull, "File too large")
				return nil, ErrTooLarge
			}
			data = append(data, payload...)
			if err := t.send(ack(n)); err != nil {
				return nil, fmt.Errorf("tftp: %w", err)
			}
			if len(payload) < block {
				return data, nil
			}
			expect++ // wraps to 0 after 65535 (tftpd-hpa's default rollover)
		default:
			t.abort(ErrIllegalOp, "Unexpected packet")
			return nil, fmt.Errorf("tftp: unexpected opcode %d from the server", op)
		}
	}
}

// Put uploads data as name to server ("host" or "host:port").
func (c *Client) Put(ctx context.Context, server, name string, data []byte) error {
	t, done, err := c.open(ctx, server)
	if err != nil {
		return err
	}
	defer done()
	bs := c.blockSize()
	opts := [][2]string{{"blksize", strconv.Itoa(bs)}, {"tsize", strconv.Itoa(len(data))}}
	if err := t.send(request(opWRQ, name, opts)); err != nil {
		return fmt.Errorf("tftp: %w", err)
	}
	// The server's first answer: OACK, or ACK 0 when it ignores options.
	block := defaultBlockSize
	for {
		op, p, err := t.recv(ctx)
		if err != nil {
			return err
		}
		if op == opOACK {
			if block, _, err = parseOACK(p, bs); err != nil {
				t.abort(ErrOptions, "Bad options")
				return err
			}
			break
		}
		if op == opACK && binary.BigEndian.Uint16(p) == 0 {
			break
		}
		t.abort(ErrIllegalOp, "Unexpected packet")
		return fmt.Errorf("tftp: unexpected opcode %d from the server", op)
	}
	var n uint16
	for off := 0; ; {
		end := min(off+block, len(data))
		n++
		pkt := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, opDATA), n)
		pkt = append(pkt, data[off:end]...)
		if err := t.send(pkt); err != nil {
			return fmt.Errorf("tftp: %w", err)
		}
		for {
			op, p, err := t.recv(ctx)
			if err != nil {
				return err
			}
			if op != opACK {
				t.abort(ErrIllegalOp, "Unexpected packet")
				return fmt.Errorf("tftp: unexpected opcode %d from the server", op)
			}
			// An ACK of an earlier block is a duplicate: ignore it rather
			// than send again (the Sorcerer's Apprentice bug).
			if binary.BigEndian.Uint16(p) == n {
				break
			}
		}
		// The last block is the first one shorter than blksize (an empty
		// one when the size is a multiple of it).
		if end-off < block {
			return nil
		}
		off = end
	}
}
