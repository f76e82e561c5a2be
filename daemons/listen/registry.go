// Package listen is the appliance's listener registry: every network
// address the appliance listens on is bound once, here, and handed to the
// services that asked for it. Two services may share one TCP port and are
// told apart by the first bytes a client sends (RFC 9329's "IKETCP" stream
// prefix goes to iked, anything else to authd, as FortiOS 7.6 shares
// ike-tcp-port); a service without a prefix takes what no prefix claims.
package listen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// DefaultPeekTimeout bounds how long a shared port waits for a client's
// first bytes before handing the connection to the fallback service.
const DefaultPeekTimeout = 3 * time.Second

// The bounds of connections in the registry's hands (read for their first
// bytes, or waiting for their service to take them), per socket: past
// them a new connection is closed at once, and one its service does not
// take in time is closed. A flood then costs the registry a bounded number
// of goroutines and descriptors, whatever a service's own limits.
const (
	DefaultMaxRouting     = 1024
	DefaultDeliverTimeout = 10 * time.Second
)

// Registry binds addresses once and routes their connections.
type Registry struct {
	// PeekTimeout: DefaultPeekTimeout when zero.
	PeekTimeout time.Duration
	// MaxRouting and DeliverTimeout: their defaults when zero.
	MaxRouting     int
	DeliverTimeout time.Duration

	mu  sync.Mutex
	tcp map[netip.AddrPort]*tcpSocket
	udp map[netip.AddrPort]*udpSocket
}

// Route is one service's claim on a TCP address.
type Route struct {
	// Owner names the service ("sshd", "iked", "authd") in errors.
	Owner string
	// Prefix, when set, claims the connections whose first bytes are it;
	// nil claims every connection no prefix route claims.
	Prefix []byte
	// Precedence orders the routes that claim the same bytes (two that
	// take every connection): the highest gets the connections, the
	// others wait, bound, until it leaves. Equal precedence conflicts.
	// FortiOS gives IKE's port precedence over HTTPS admin (7.6.3
	// administration guide, "GUI warnings for IKE-TCP port conflicts").
	Precedence int
	// Declined, when set on a prefix route, hears of every connection
	// that reached its address without its prefix, before the connection
	// goes to the route that takes the rest (iked logs "NOT IKETCP(),
	// assign to AUTH" for what authd gets). It must not block.
	Declined func(local, remote net.Addr)
}

// ErrClosed is returned by Accept once the route is closed.
var ErrClosed = errors.New("listen: route closed")

// TCP binds addr (or joins its socket) for route and returns the route's
// listener: Accept yields the connections the route claims, with any bytes
// read to route them replayed first. Closing the listener leaves the port
// to the other routes; the socket closes with its last route.
func (r *Registry) TCP(addr netip.AddrPort, route Route) (net.Listener, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tcp == nil {
		r.tcp = map[netip.AddrPort]*tcpSocket{}
	}
	sock := r.tcp[addr]
	if sock == nil {
		ln, err := net.Listen("tcp", addr.String())
		if err != nil {
			return nil, fmt.Errorf("cannot listen on TCP %s for %s: %w", addr, route.Owner, err)
		}
		maxRouting := r.MaxRouting
		if maxRouting <= 0 {
			maxRouting = DefaultMaxRouting
		}
		sock = &tcpSocket{reg: r, key: addr, ln: ln, routes: map[*routeListener]bool{}, routing: make(chan struct{}, maxRouting)}
		r.tcp[addr] = sock
		go sock.acceptLoop()
	}
	for other := range sock.routes {
		if conflict(other.route, route) {
			return nil, fmt.Errorf("TCP %s is already used by %s", addr, other.route.Owner)
		}
	}
	rl := &routeListener{sock: sock, route: route, conns: make(chan net.Conn), done: make(chan struct{})}
	sock.routes[rl] = true
	return rl, nil
}

// UDP binds addr for owner, or shares the socket another service holds;
// release gives it back (the socket closes with its last holder).
func (r *Registry) UDP(addr netip.AddrPort, owner string) (conn *net.UDPConn, release func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.udp == nil {
		r.udp = map[netip.AddrPort]*udpSocket{}
	}
	sock := r.udp[addr]
	if sock == nil {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		if err != nil {
			return nil, nil, fmt.Errorf("cannot bind UDP %s for %s: %w", addr, owner, err)
		}
		sock = &udpSocket{conn: c}
		r.udp[addr] = sock
	}
	sock.holders++
	var once sync.Once
	return sock.conn, func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if sock.holders--; sock.holders == 0 {
				sock.conn.Close()
				delete(r.udp, addr)
			}
		})
	}, nil
}

// Bound lists the TCP addresses with their routes' owners, for tests and
// "diagnose" output.
func (r *Registry) Bound() map[netip.AddrPort][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[netip.AddrPort][]string{}
	for a, s := range r.tcp {
		for rl := range s.routes {
			out[a] = append(out[a], rl.route.Owner)
		}
	}
	return out
}

// CanBind tells whether addr could be bound for a new service now: it is
// either held here already or free on the host.
func (r *Registry) CanBind(addr netip.AddrPort) error {
	r.mu.Lock()
	held := r.tcp[addr] != nil
	r.mu.Unlock()
	if held {
		return nil
	}
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return err
	}
	return ln.Close()
}

// CanRoute tells whether route could join addr now: the address is free
// on the host, or held here with no route claiming the same prefix (two
// services that both take every connection cannot share a port).
func (r *Registry) CanRoute(addr netip.AddrPort, route Route) error {
	r.mu.Lock()
	sock := r.tcp[addr]
	var taken string
	if sock != nil {
		for rl := range sock.routes {
			if conflict(rl.route, route) {
				taken = rl.route.Owner
			}
		}
	}
	r.mu.Unlock()
	switch {
	case taken != "" && taken != route.Owner:
		return fmt.Errorf("TCP %s is already used by %s", addr, taken)
	case sock != nil:
		return nil
	}
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return err
	}
	return ln.Close()
}

// conflict tells whether two routes claim the same connections: the
// same prefix, or both none at the same precedence.
func conflict(a, b Route) bool {
	if !bytes.Equal(a.Prefix, b.Prefix) {
		return false
	}
	return a.Prefix != nil || a.Precedence == b.Precedence
}

// CanBindUDP is CanBind for a UDP address.
func (r *Registry) CanBindUDP(addr netip.AddrPort) error {
	r.mu.Lock()
	held := r.udp[addr] != nil
	r.mu.Unlock()
	if held {
		return nil
	}
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return err
	}
	return c.Close()
}

type udpSocket struct {
	conn    *net.UDPConn
	holders int
}

type tcpSocket struct {
	reg    *Registry
	key    netip.AddrPort
	ln     net.Listener
	routes map[*routeListener]bool // guarded by reg.mu
	// routing holds a slot for each connection being routed
	routing chan struct{}
}

func (s *tcpSocket) acceptLoop() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return // closed with its last route
			}
			// out of file descriptors under a flood, a timeout: the
			// socket stays ours, accept again shortly
			time.Sleep(50 * time.Millisecond)
			continue
		}
		select {
		case s.routing <- struct{}{}:
			go func() {
				defer func() { <-s.routing }()
				s.route(c)
			}()
		default:
			c.Close() // too many in hand already
		}
	}
}

// route hands c to the route its first bytes name. With a single route
// that claims everything nothing is read: SSH clients may wait for the
// server's banner before they send theirs.
func (s *tcpSocket) route(c net.Conn) {
	s.reg.mu.Lock()
	var fallback *routeListener
	longest := 0
	var prefixed []*routeListener
	for rl := range s.routes {
		if rl.route.Prefix == nil {
			if fallback == nil || rl.route.Precedence > fallback.route.Precedence {
				fallback = rl
			}
		} else {
			prefixed = append(prefixed, rl)
			longest = max(longest, len(rl.route.Prefix))
		}
	}
	timeout := s.reg.PeekTimeout
	s.reg.mu.Unlock()
	if timeout == 0 {
		timeout = DefaultPeekTimeout
	}
	if len(prefixed) == 0 {
		s.deliver(fallback, c)
		return
	}
	head := make([]byte, longest)
	c.SetReadDeadline(time.Now().Add(timeout))
	n, _ := io.ReadFull(c, head)
	c.SetReadDeadline(time.Time{})
	head = head[:n]
	pc := &prefixConn{Conn: c, head: head}
	for _, rl := range prefixed {
		if bytes.HasPrefix(head, rl.route.Prefix) {
			s.deliver(rl, pc)
			return
		}
	}
	for _, rl := range prefixed {
		if rl.route.Declined != nil {
			rl.route.Declined(c.LocalAddr(), c.RemoteAddr())
		}
	}
	s.deliver(fallback, pc)
}

func (s *tcpSocket) deliver(rl *routeListener, c net.Conn) {
	if rl == nil {
		c.Close()
		return
	}
	wait := s.reg.DeliverTimeout
	if wait <= 0 {
		wait = DefaultDeliverTimeout
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case rl.conns <- c:
	case <-rl.done:
		c.Close()
	case <-t.C: // the service is at its own limit
		c.Close()
	}
}

// routeListener is one route's view of a shared socket.
type routeListener struct {
	sock  *tcpSocket
	route Route
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (rl *routeListener) Accept() (net.Conn, error) {
	select {
	case c := <-rl.conns:
		return c, nil
	case <-rl.done:
		return nil, ErrClosed
	}
}

func (rl *routeListener) Close() error {
	rl.once.Do(func() {
		close(rl.done)
		reg := rl.sock.reg
		reg.mu.Lock()
		defer reg.mu.Unlock()
		delete(rl.sock.routes, rl)
		if len(rl.sock.routes) == 0 {
			rl.sock.ln.Close()
			delete(reg.tcp, rl.sock.key)
		}
	})
	return nil
}

func (rl *routeListener) Addr() net.Addr { return rl.sock.ln.Addr() }

// prefixConn replays the bytes read to route a connection.
type prefixConn struct {
	net.Conn
	head []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.head) > 0 {
		n := copy(b, p.head)
		p.head = p.head[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}
