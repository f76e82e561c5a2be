package client

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/fosim/fosim/daemons/iked/ike"
)

// Transports of Config.Transport.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp" // RFC 9329 on the gateway's ike-tcp-port
)

// carrier moves the tunnel's messages: UDP datagrams or an IKE-over-TCP
// stream.
type carrier interface {
	sendIKE(msg []byte) error
	sendESP(pkt []byte) error
	// receive returns the next IKE message; a net.Error Timeout at deadline
	receive(deadline time.Time) ([]byte, error)
	local() netip.AddrPort
	Close() error
}

func dialCarrier(cfg Config) (carrier, error) {
	switch cfg.Transport {
	case "", TransportUDP:
		conn, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(cfg.Local), net.UDPAddrFromAddrPort(cfg.Server))
		if err != nil {
			return nil, err
		}
		// Like strongSwan, frame IKE with the RFC 3948 non-ESP marker on any
		// port but 500: gateways on 4500 or a lab port expect it.
		return &udpCarrier{conn: conn, marker: cfg.Server.Port() != 500, buf: make([]byte, 65536)}, nil
	case TransportTCP:
		d := net.Dialer{Timeout: cfg.Timeout, LocalAddr: net.TCPAddrFromAddrPort(cfg.Local)}
		if !cfg.Local.IsValid() {
			d.LocalAddr = nil
		}
		conn, err := d.Dial("tcp", cfg.Server.String())
		if err != nil {
			return nil, err
		}
		if _, err := conn.Write(ike.TCPPrefix); err != nil {
			conn.Close()
			return nil, err
		}
		return &tcpCarrier{conn: conn, frames: ike.NewTCPFrameReader(bufio.NewReader(conn))}, nil
	}
	return nil, errors.New("ike: transport must be udp or tcp, not " + cfg.Transport)
}

type udpCarrier struct {
	conn   *net.UDPConn
	marker bool
	buf    []byte
}

func (u *udpCarrier) sendIKE(msg []byte) error {
	if u.marker {
		msg = append([]byte{0, 0, 0, 0}, msg...)
	}
	_, err := u.conn.Write(msg)
	return err
}

func (u *udpCarrier) sendESP(pkt []byte) error {
	if !u.marker {
		return errors.New("ike: ESP over UDP needs the gateway's NAT-T port")
	}
	_, err := u.conn.Write(pkt)
	return err
}

func (u *udpCarrier) receive(deadline time.Time) ([]byte, error) {
	u.conn.SetReadDeadline(deadline)
	for {
		n, err := u.conn.Read(u.buf)
		if err != nil {
			return nil, err
		}
		b := u.buf[:n]
		if n >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0 {
			b = b[4:]
		}
		return append([]byte(nil), b...), nil
	}
}

func (u *udpCarrier) local() netip.AddrPort { return u.conn.LocalAddr().(*net.UDPAddr).AddrPort() }
func (u *udpCarrier) Close() error          { return u.conn.Close() }

type tcpCarrier struct {
	conn   net.Conn
	frames *ike.TCPFrameReader
}

func (t *tcpCarrier) write(msg []byte, isIKE bool) error {
	frame, err := ike.AppendTCPFrame(nil, msg, isIKE)
	if err != nil {
		return err
	}
	_, err = t.conn.Write(frame)
	return err
}

func (t *tcpCarrier) sendIKE(msg []byte) error { return t.write(msg, true) }
func (t *tcpCarrier) sendESP(pkt []byte) error { return t.write(pkt, false) }

func (t *tcpCarrier) receive(deadline time.Time) ([]byte, error) {
	t.conn.SetReadDeadline(deadline)
	for {
		frame, err := t.frames.Next()
		if err != nil {
			return nil, err
		}
		if msg, isIKE := ike.SplitTCPMessage(frame); isIKE {
			return append([]byte(nil), msg...), nil
		} // the gateway's ESP: no data plane here
	}
}

func (t *tcpCarrier) local() netip.AddrPort {
	a := t.conn.LocalAddr().(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
func (t *tcpCarrier) Close() error { return t.conn.Close() }
