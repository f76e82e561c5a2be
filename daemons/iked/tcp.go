package iked

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons/iked/ike"
	"github.com/fosim/fosim/daemons/listen"
	"github.com/fosim/fosim/internal/fixed"
)

// IKE over TCP (RFC 9329) on system settings ike-tcp-port: iked takes the
// connections of the shared port that start with "IKETCP" (the registry
// hands the rest to other routes), reads framed IKE messages and ESP
// packets off each, and answers and sends its own requests on the same
// connection. A connection that closes is a dead peer for its SAs.

// tcpIdleTimeout closes a connection that carries no IKE SA and sent
// nothing for that long (appliance clock).
const tcpIdleTimeout = 30 * time.Second

// tcpWriteTimeout gives up on a peer that does not read what iked writes.
const tcpWriteTimeout = 10 * time.Second

// tcpQueue bounds the messages waiting for a slow peer's connection; more
// are dropped, as a UDP datagram would be, and retransmits recover.
const tcpQueue = 64

// The bounds of IKE over TCP connections, fosim's (FortiOS's are not
// public): in all, and from one peer address (a NAT may hide many
// FortiClients behind one, so it is generous). A connection past them is
// closed at once; idle ones go after tcpIdleTimeout. Variables for tests.
var (
	maxTCPConns   = 20000
	maxTCPPerPeer = 1000
)

// path is how messages go back to a peer: a UDP socket (natt: with the
// RFC 3948 non-ESP marker) or a TCP connection.
type path struct {
	udp  *net.UDPConn
	natt bool
	tcp  *tcpConn
}

func (p path) proto() string {
	if p.tcp != nil {
		return "tcp"
	}
	return "udp"
}

// transport is the gateway list's "transport:".
func (p path) transport() string {
	if p.tcp != nil {
		return "TCP"
	}
	return "UDP"
}

// carriedBy tells whether the phase1 answers on p.
func (p1 *Phase1) carriedBy(p path) bool {
	switch p1.Transport {
	case "tcp":
		return p.tcp != nil
	case "auto":
		return true
	}
	return p.tcp == nil
}

// write sends an IKE message on p without counting it (callable off d.mu).
func (d *Daemon) write(p path, peer netip.AddrPort, msg []byte) {
	if p.tcp != nil {
		p.tcp.enqueue(msg)
		return
	}
	if p.natt {
		msg = append([]byte{0, 0, 0, 0}, msg...)
	}
	p.udp.WriteToUDPAddrPort(msg, peer)
}

// bind makes p the SA's way back to its peer; a TCP connection learns the
// SA so that its end takes the SA down. Called under d.mu.
func (d *Daemon) bind(sa *ikeSA, p path) {
	old := sa.path.tcp
	sa.path = p
	if p.tcp != nil && p.tcp != old {
		d.attach(p.tcp, sa)
	}
}

// attach records that tc carries sa, forgetting the SAs it no longer does.
func (d *Daemon) attach(tc *tcpConn, sa *ikeSA) {
	tc.sas = slices.DeleteFunc(tc.sas, func(o *ikeSA) bool { return !d.carries(tc, o) })
	tc.sas = append(tc.sas, sa)
}

// carries tells whether sa is a live SA (negotiating or up) on tc.
func (d *Daemon) carries(tc *tcpConn, sa *ikeSA) bool {
	return sa.path.tcp == tc && sa.state != stateDeleted && d.sas[sa.ourSPI()] == sa
}

// tcpListener is iked's route on one address's ike-tcp-port.
type tcpListener struct {
	ln     net.Listener
	local  netip.AddrPort
	ifaces []string
	conns  map[*tcpConn]bool // guarded by d.mu
}

// tcpConn is one IKE-over-TCP connection.
type tcpConn struct {
	c           net.Conn
	ln          *tcpListener
	local, peer netip.AddrPort
	ifIndex     int
	sock        int
	out         chan []byte // framed messages; nil: close once written
	done        chan struct{}
	once        sync.Once
	ours        atomic.Bool // iked closed it (else the peer did)
	heard       atomic.Bool // a frame came since the last idle check
	idle        *clock.Timer
	sas         []*ikeSA // the SAs it carried, guarded by d.mu
}

func (tc *tcpConn) enqueue(msg []byte) {
	frame, err := ike.AppendTCPFrame(nil, msg, true)
	if err != nil {
		return
	}
	select {
	case tc.out <- frame:
	case <-tc.done:
	default: // the peer does not read: dropped
	}
}

// finish closes the connection once what is queued is written.
func (tc *tcpConn) finish() {
	select {
	case tc.out <- nil:
	default:
		tc.close()
	}
}

func (tc *tcpConn) close() {
	tc.once.Do(func() {
		tc.ours.Store(true)
		close(tc.done)
		tc.c.Close()
	})
}

func (d *Daemon) writeLoop(tc *tcpConn) {
	defer d.wg.Done()
	for {
		select {
		case frame := <-tc.out:
			if frame == nil {
				tc.close()
				return
			}
			tc.c.SetWriteDeadline(time.Now().Add(tcpWriteTimeout))
			if _, err := tc.c.Write(frame); err != nil {
				tc.close()
				return
			}
		case <-tc.done:
			return
		}
	}
}

// tcpAddrs are the addresses whose phase1s take IKE over TCP, with the
// interfaces mapped there: iked takes no TCP port it has no use for.
func (d *Daemon) tcpAddrs() map[netip.AddrPort][]string {
	out := map[netip.AddrPort][]string{}
	port := uint16(d.rt.Map.Port(d.cfg.IKETCPort))
	for _, name := range d.cfg.Order {
		p := d.cfg.Phase1s[name]
		if p.Transport == "udp" || p.IKEVersion != 2 {
			continue
		}
		if !d.interfaceMode() {
			a, err := netip.ParseAddr(d.opt.Addr)
			if err != nil {
				a = netip.IPv4Unspecified()
			}
			out[netip.AddrPortFrom(a, port)] = nil
			continue
		}
		if a, ok := d.rt.Map.Addr(p.Interface, d.cfg.Interfaces[p.Interface]); ok {
			ap := netip.AddrPortFrom(a, port)
			if !slices.Contains(out[ap], p.Interface) {
				out[ap] = append(out[ap], p.Interface)
				slices.Sort(out[ap])
			}
		}
	}
	return out
}

func (d *Daemon) registry() *listen.Registry {
	if d.rt.Listen != nil {
		return d.rt.Listen
	}
	if d.ownListen == nil {
		d.ownListen = &listen.Registry{}
	}
	return d.ownListen
}

// rebindTCPLocked moves the TCP listeners where the configuration wants
// them; the connections of a listener that goes close after the deletes
// the flush queued (the peers come back on the new port).
func (d *Daemon) rebindTCPLocked() {
	want := d.tcpAddrs()
	known := map[netip.AddrPort]bool{}
	for ap := range want {
		known[ap] = true
	}
	d.knownTCP.Store(&known)
	for ap, l := range d.tcpListeners {
		if ifaces, ok := want[ap]; ok && slices.Equal(ifaces, l.ifaces) {
			continue
		}
		l.ln.Close()
		for tc := range l.conns {
			d.closeConns = append(d.closeConns, tc)
		}
		delete(d.tcpListeners, ap)
	}
	for ap, ifaces := range want {
		if d.tcpListeners[ap] != nil {
			continue
		}
		index := 0
		if len(ifaces) > 0 {
			index = d.cfg.IfIndex[ifaces[0]]
		}
		ln, err := d.registry().TCP(ap, listen.Route{Owner: "iked", Prefix: ike.TCPPrefix, Declined: d.declinedTCP(index)})
		if err != nil {
			d.log.Printf(1, "ike V=root:0: %v", err)
			continue
		}
		if d.tcpListeners == nil {
			d.tcpListeners = map[netip.AddrPort]*tcpListener{}
		}
		l := &tcpListener{ln: ln, local: ap, ifaces: ifaces, conns: map[*tcpConn]bool{}}
		if ap.Port() == 0 {
			l.local = ln.Addr().(*net.TCPAddr).AddrPort()
		}
		d.tcpListeners[ap] = l
		d.wg.Add(1)
		go d.acceptLoop(l)
	}
}

// declinedTCP logs a connection of ike-tcp-port that did not start with
// the IKETCP prefix, which the registry hands to authd (seed 000).
func (d *Daemon) declinedTCP(index int) func(local, remote net.Addr) {
	// no lock of iked's: the registry waits on this before it hands
	// the connection on
	return func(local, remote net.Addr) {
		var l, r netip.AddrPort
		if a, ok := local.(*net.TCPAddr); ok {
			l = unmapPort(a.AddrPort())
		}
		if a, ok := remote.(*net.TCPAddr); ok {
			r = unmapPort(a.AddrPort())
		}
		sock := d.tcpSerial.Add(1)
		d.log.Printf(1, "ike V=root:accepts ike tcp-transport(vd=0, vrf=0, intf=0:%d, %s->%s sock=%d refcnt=%d ph1=(nil)) (2).", index, l, r, sock, fixed.TCPTransportRefcnt)
		d.log.Printf(1, "ike V=root:NOT IKETCP(), assign to AUTH")
	}
}

// closeTCPLocked closes every listener and connection (Stop).
func (d *Daemon) closeTCPLocked() {
	for ap, l := range d.tcpListeners {
		l.ln.Close()
		for tc := range l.conns {
			tc.close()
		}
		delete(d.tcpListeners, ap)
	}
}

// TCPAddrs are the addresses iked takes IKE over TCP on.
func (d *Daemon) TCPAddrs() []netip.AddrPort {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []netip.AddrPort
	for _, l := range d.tcpListeners {
		out = append(out, l.local)
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return out
}

func (d *Daemon) acceptLoop(l *tcpListener) {
	defer d.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return // the route closed
		}
		d.startTCP(l, c)
	}
}

func (d *Daemon) startTCP(l *tcpListener, c net.Conn) {
	d.mu.Lock()
	defer d.unlock()
	if d.closing || d.tcpListeners[l.local] != l {
		c.Close()
		return
	}
	local, peer := l.local, l.local
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		local = unmapPort(a.AddrPort())
	}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		peer = unmapPort(a.AddrPort())
	}
	if d.tcpOpen >= maxTCPConns || d.tcpByPeer[peer.Addr()] >= maxTCPPerPeer {
		// the format of this line is fosim's
		d.log.Printf(1, "ike V=root:tcp-transport %s->%s refused: %d connections open, %d from %s", local, peer, d.tcpOpen, d.tcpByPeer[peer.Addr()], peer.Addr())
		c.Close()
		return
	}
	if d.tcpByPeer == nil {
		d.tcpByPeer = map[netip.Addr]int{}
	}
	d.tcpOpen++
	d.tcpByPeer[peer.Addr()]++
	tc := &tcpConn{c: c, ln: l, local: local, peer: peer, sock: int(d.tcpSerial.Add(1)), out: make(chan []byte, tcpQueue), done: make(chan struct{})}
	if len(l.ifaces) > 0 {
		tc.ifIndex = d.cfg.IfIndex[l.ifaces[0]]
	}
	l.conns[tc] = true
	// seed 000's line; the socket number is fosim's count of connections
	d.log.Printf(1, "ike V=root:accepts ike tcp-transport(vd=0, vrf=0, intf=0:%d, %s->%s sock=%d refcnt=%d ph1=(nil)) (2).", tc.ifIndex, local, peer, tc.sock, fixed.TCPTransportRefcnt)
	d.armIdle(tc)
	d.wg.Add(2)
	go d.serveTCP(tc)
	go d.writeLoop(tc)
}

// armIdle checks the connection every tcpIdleTimeout: one that carries no
// SA and sent nothing since the last check is closed.
func (d *Daemon) armIdle(tc *tcpConn) {
	tc.idle = d.rt.Clock.AfterFunc(tcpIdleTimeout, func() {
		d.mu.Lock()
		defer d.unlock()
		if tc.ours.Load() || d.closing {
			return
		}
		if !tc.heard.Swap(false) && !slices.ContainsFunc(tc.sas, func(sa *ikeSA) bool { return d.carries(tc, sa) }) {
			d.log.Printf(1, "ike V=root:tcp-transport %s->%s sock=%d idle, closing", tc.local, tc.peer, tc.sock)
			tc.close()
			return
		}
		d.armIdle(tc)
	})
}

// serveTCP reads the connection's frames: IKE messages to handle, ESP to
// verify and count.
func (d *Daemon) serveTCP(tc *tcpConn) {
	defer d.wg.Done()
	defer d.tcpGone(tc)
	r := bufio.NewReader(tc.c)
	head := make([]byte, len(ike.TCPPrefix))
	if _, err := io.ReadFull(r, head); err != nil || !bytes.Equal(head, ike.TCPPrefix) {
		return // the registry routes only IKETCP here: a peer gone early
	}
	frames := ike.NewTCPFrameReader(r)
	for {
		frame, err := frames.Next()
		if err != nil {
			if errors.Is(err, ike.ErrTCPFrame) {
				d.log.Printf(1, "ike V=root:tcp-transport %s->%s sock=%d: %v, closing", tc.local, tc.peer, tc.sock, err)
			}
			return
		}
		tc.heard.Store(true)
		msg, isIKE := ike.SplitTCPMessage(frame)
		if !isIKE {
			d.handleESP(msg)
			continue
		}
		d.handle(path{tcp: tc}, tc.ln.ifaces, tc.local, tc.peer, append([]byte(nil), msg...))
	}
}

// tcpGone takes down the SAs of a connection that ended: a peer that
// closed its connection is dead (RFC 9329 §6.2: the SA cannot go on
// without a new connection, which only the initiator may open).
func (d *Daemon) tcpGone(tc *tcpConn) {
	byPeer := !tc.ours.Load()
	tc.close()
	d.mu.Lock()
	defer d.unlock()
	if tc.idle != nil {
		d.stopTimers = append(d.stopTimers, tc.idle)
	}
	delete(tc.ln.conns, tc)
	d.tcpOpen--
	if d.tcpByPeer[tc.peer.Addr()]--; d.tcpByPeer[tc.peer.Addr()] <= 0 {
		delete(d.tcpByPeer, tc.peer.Addr())
	}
	for _, sa := range tc.sas {
		if !d.carries(tc, sa) {
			continue
		}
		if sa.state == stateInit {
			sa.stopTimers()
			delete(d.halfOpen, sa.half)
			delete(d.sas, sa.ourSPI())
			sa.state = stateDeleted
			continue
		}
		if byPeer {
			// the format of this line is fosim's: FortiOS's is not public
			d.log.Printf(1, "%s tcp-transport connection %s->%s closed by the peer, peer is dead", prefix(sa.name, sa.serial), tc.local, tc.peer)
		}
		d.deleteSALocked(sa, false)
		delete(d.sas, sa.ourSPI())
	}
	tc.sas = nil
}

// validateTCP refuses a phase1 that would make iked take IKE over TCP on
// an address it cannot bind (another program holds the port). An address
// iked holds or tried already is not checked again (see Validate).
func (d *Daemon) validateTCP(r reader, e *cmdb.Entry, iface string, configured netip.Addr, port int) error {
	if tr := r.Value(tablePhase1, e, "transport"); tr != "tcp" && tr != "auto" {
		return nil
	}
	a, ok := d.rt.Map.Addr(iface, configured)
	if !ok || port <= 0 {
		return nil
	}
	ap := netip.AddrPortFrom(a, uint16(d.rt.Map.Port(port)))
	if k := d.knownTCP.Load(); k != nil && (*k)[ap] {
		return nil
	}
	if err := d.rt.Listen.CanBind(ap); err != nil {
		return &cmdb.Error{Msg: fmt.Sprintf("cannot listen for IKE over TCP on %s (interface %s of phase1 %s): %v", ap, iface, e.Key, err), Code: cmdb.CodeCheck}
	}
	return nil
}
