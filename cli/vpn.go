package cli

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons/iked/ike"
	"github.com/fosim/fosim/daemons/iked/ikeapi"
	"github.com/fosim/fosim/internal/fixed"
)

// VPN is what the shell asks iked (its query interface): the CLI formats
// the answers itself.
type VPN interface {
	Gateways() []ikeapi.Gateway
	Connecting() []ikeapi.Gateway
	Phase1s() []ikeapi.Phase1
	Flush(name string) int
}

func init() {
	commands = append(commands,
		&command{path: "diagnose vpn ike gateway list", help: "List IKE gateways.", args: "name <name>", maxArgs: 2, run: diagIKEGatewayList},
		&command{path: "diagnose vpn ike gateway flush", help: "Flush IKE gateways.", args: "name <name>", maxArgs: 2, run: diagIKEGatewayFlush, writes: true},
		// "clear" is the older spelling of flush, still accepted by FortiOS
		&command{path: "diagnose vpn ike gateway clear", help: "Clear IKE gateways.", args: "name <name>", maxArgs: 2, run: diagIKEGatewayFlush, writes: true},
		&command{path: "diagnose vpn tunnel list", help: "List IPsec tunnels.", args: "name <name>", maxArgs: 2, run: diagTunnelList},
		&command{path: "get vpn ipsec tunnel summary", help: "Summary of IPsec tunnels.", run: getTunnelSummary},
	)
}

// nameFilter reads an optional "name X".
func nameFilter(args []string) (string, error) {
	switch len(args) {
	case 0:
		return "", nil
	case 2:
		if strings.HasPrefix("name", args[0]) {
			return args[1], nil
		}
	case 1:
		if strings.HasPrefix("name", args[0]) {
			return "", &cmdb.Error{Msg: "incomplete command in the end", Code: cmdb.CodeIncomplete}
		}
	}
	return "", &cmdb.Error{Msg: "command parse error before '" + args[0] + "'", Code: cmdb.CodeParse}
}

// vpnAndName reads the optional "name X" of a vpn command and finds iked.
func (sh *Shell) vpnAndName(args []string) (VPN, string, error) {
	name, err := nameFilter(args)
	if err != nil {
		return nil, "", err
	}
	vpn, err := sh.vpn()
	return vpn, name, err
}

func (sh *Shell) vpn() (VPN, error) {
	if sh.App.VPN == nil {
		return nil, errNoIKED
	}
	return sh.App.VPN, nil
}

// errNoIKED: this appliance runs without iked (fosim run, scripts).
var errNoIKED = notSimulated("IPsec in this process: iked runs under fosim serve")

func secs(d time.Duration) int { return int(d / time.Second) }

func keyHex(b []byte) string { return fmt.Sprintf("%d:%X", len(b), b) }

func diagIKEGatewayList(sh *Shell, args []string, out io.Writer) error {
	vpn, name, err := sh.vpnAndName(args)
	if err != nil {
		return err
	}
	gws := append(vpn.Gateways(), vpn.Connecting()...)
	for _, g := range gws {
		if name != "" && g.Name != name {
			continue
		}
		writeGateway(sh, out, g)
	}
	return nil
}

func writeGateway(sh *Shell, out io.Writer, g ikeapi.Gateway) {
	fmt.Fprintf(out, "vd: root/0\n")
	fmt.Fprintf(out, "name: %s\n", g.Name)
	fmt.Fprintf(out, "version: %d\n", g.Version)
	fmt.Fprintf(out, "interface: %s %d\n", g.Interface, g.IfIndex)
	fmt.Fprintf(out, "addr: %s -> %s\n", g.Local, g.Peer)
	fmt.Fprintf(out, "tun_id: %s/%s\n", g.TunID, tunID6(g.TunnelSerial))
	fmt.Fprintf(out, "remote_location: %s\n", fixed.RemoteLocation)
	fmt.Fprintf(out, "network-id: %d\n", g.NetworkID)
	fmt.Fprintf(out, "transport: %s\n", g.Transport)
	fmt.Fprintf(out, "created: %ds ago\n", secs(g.Created))
	if g.EAPUser != "" {
		fmt.Fprintf(out, "eap-user: %s\n", g.EAPUser)
	}
	fmt.Fprintf(out, "2FA: no\n")
	if g.PeerID != "" {
		fmt.Fprintf(out, "peer-id: %s\n", g.PeerID)
		fmt.Fprintf(out, "peer-id-auth: no\n")
	}
	if g.FortiClientUID != "" {
		fmt.Fprintf(out, "FortiClient UID: %s\n", g.FortiClientUID)
	}
	if g.AssignedIP.IsValid() {
		mask := g.Netmask
		if !mask.IsValid() {
			mask = netip.MustParseAddr("255.255.255.255")
		}
		fmt.Fprintf(out, "assigned IPv4 address: %s/%s\n", g.AssignedIP, mask)
	}
	if g.NATMe || g.NATPeer {
		var who []string
		if g.NATMe {
			who = append(who, "me")
		}
		if g.NATPeer {
			who = append(who, "peer")
		}
		fmt.Fprintf(out, "nat: %s\n", strings.Join(who, " "))
	}
	fmt.Fprintf(out, "pending-queue: 0\n")
	fmt.Fprintf(out, "PPK: no\n")
	ms := g.SetupTime.Milliseconds()
	if g.Connecting {
		fmt.Fprintf(out, "IKE SA: created 1/1  established 0/0  time 0/0/0 ms\n")
		fmt.Fprintf(out, "IPsec SA: created 0/0  established 0/0  time 0/0/0 ms\n\n")
		fmt.Fprintf(out, "  id/spi: %d %016x/%016x\n", g.Serial, g.SPIi, g.SPIr)
		fmt.Fprintf(out, "  direction: responder\n")
		fmt.Fprintf(out, "  status: connecting, state 3, started %ds ago\n\n", secs(g.Created))
		return
	}
	// created/established: the SAs up now / all the tunnel has had
	fmt.Fprintf(out, "IKE SA: created 1/%d  established 1/%d  time %d/%d/%d ms\n", g.IKETotal, g.IKETotal, ms, ms, ms)
	n := len(g.Children)
	fmt.Fprintf(out, "IPsec SA: created %d/%d  established %d/%d  time 0/0/0 ms\n\n", n, g.IPsecTotal, n, g.IPsecTotal)
	fmt.Fprintf(out, "  id/spi: %d %016x/%016x\n", g.Serial, g.SPIi, g.SPIr)
	if g.Initiator {
		fmt.Fprintf(out, "  direction: initiator\n")
	} else {
		fmt.Fprintf(out, "  direction: responder\n")
	}
	fmt.Fprintf(out, "  status: established %d-%ds ago = %dms\n", secs(g.Established), secs(g.Established), ms)
	fmt.Fprintf(out, "  proposal: %s\n", g.Proposal)
	fmt.Fprintf(out, "  child: no\n")
	fmt.Fprintf(out, "  SK_ei: %s\n  SK_er: %s\n", keyHex(g.SKei), keyHex(g.SKer))
	if len(g.SKai) > 0 {
		fmt.Fprintf(out, "  SK_ai: %s\n  SK_ar: %s\n", keyHex(g.SKai), keyHex(g.SKar))
	}
	fmt.Fprintf(out, "  PPK: no\n")
	fmt.Fprintf(out, "  message-id sent/recv: %d/%d\n", g.MsgIDSent, g.MsgIDRecv)
	fmt.Fprintf(out, "  lifetime/rekey: %d/%d\n", secs(g.Lifetime), max(0, secs(g.Rekey)))
	fmt.Fprintf(out, "  DPD sent/recv: %08x/%08x\n", g.DPDSent, g.DPDRecv)
	if g.PeerID != "" {
		fmt.Fprintf(out, "  peer-id: %s\n", g.PeerID)
	}
	fmt.Fprintln(out)
}

// tunID6 is the IPv6 tunnel id FortiOS shows next to the IPv4 one; fosim
// derives it from the tunnel serial as the seeds show ("::10.0.0.5").
func tunID6(serial int) string {
	return fmt.Sprintf("::10.0.%d.%d", serial/256%256, serial%256)
}

func diagIKEGatewayFlush(sh *Shell, args []string, out io.Writer) error {
	vpn, name, err := sh.vpnAndName(args)
	if err != nil {
		return err
	}
	vpn.Flush(name)
	return nil
}

func selector(s ike.Selector) string {
	return fmt.Sprintf("%d:%s-%s:%d", s.IPProtocol, s.Start, s.End, s.StartPort)
}

// diagTunnelList prints "diagnose vpn tunnel list". Names, addresses,
// indexes, SPIs, keys, selectors, lifetimes and DPD settings come from
// iked; the kernel's own fields fosim does not model (encap, options,
// refcnt, mtu, replay window) are the constants of package fixed, the
// values of seed 002; rx counts the ESP iked verified, tx stays at zero (iked sends none).
func diagTunnelList(sh *Shell, args []string, out io.Writer) error {
	vpn, name, err := sh.vpnAndName(args)
	if err != nil {
		return err
	}
	if name == "" {
		fmt.Fprintf(out, "list all ipsec tunnel in vd 0\n")
	} else {
		fmt.Fprintf(out, "list ipsec tunnel by names in vd 0\n")
	}
	gws := vpn.Gateways()
	for _, p1 := range vpn.Phase1s() {
		if p1.IKEVersion != 2 {
			continue
		}
		instances := 0
		for _, g := range gws {
			if g.Parent == p1.Name {
				instances++
			}
		}
		if p1.Dynamic && (name == "" || name == p1.Name) {
			idx := p1.IfIndex
			fmt.Fprintf(out, "------------------------------------------------------\n")
			// seed 002: the parent is "serial=1 172.16.200.4:0->0.0.0.0:0
			// nexthop= tun_id=10.0.0.1 tun_id6=::10.0.0.1"
			local := "0.0.0.0"
			if p1.Local.IsValid() {
				local = p1.Local.String()
			}
			fmt.Fprintf(out, "name=%s ver=2 serial=%d %s:0->0.0.0.0:0 nexthop= tun_id=%s tun_id6=%s status=up dst_mtu=0 weight=1\n",
				p1.Name, p1.Serial, local, tunID6(p1.Serial)[2:], tunID6(p1.Serial))
			fmt.Fprintf(out, "bound_if=%d real_if=0 lgwy=static/1 tun=intf mode=dialup/2 encap=%s options[%s]=%s  role=primary accept_traffic=1 overlay_id=0\n\n",
				idx, fixed.DialupEncap, fixed.DialupOptionBits, fixed.DialupOptionFlags)
			fmt.Fprintf(out, "proxyid_num=0 child_num=%d refcnt=%d ilast=0 olast=0 ad=/0\n", instances, fixed.DialupRefcnt)
			fmt.Fprintf(out, "stat: rxp=0 txp=0 rxb=0 txb=0\n")
			fmt.Fprintf(out, "dpd: mode=%s on=0 status=ok idle=%dms retry=%d count=0 seqno=0\n", p1.DPD, p1.DPDRetry.Milliseconds(), p1.DPDCount)
			fmt.Fprintf(out, "natt: mode=none draft=0 interval=0 remote_port=0\n")
			fmt.Fprintf(out, "fec: egress=0 ingress=0\n")
		}
	}
	for _, g := range gws {
		if name != "" && g.Name != name {
			continue
		}
		idx := g.IfIndex
		mode := "mode=auto/1"
		if g.Dynamic {
			mode = "mode=dial_inst/3"
		}
		fmt.Fprintf(out, "------------------------------------------------------\n")
		// the name line prints no ports (seed 002: "172.16.200.4:0->172.16.200.242:0")
		fmt.Fprintf(out, "name=%s ver=2 serial=%d %s:0->%s:0 nexthop=%s tun_id=%s tun_id6=%s status=up dst_mtu=%d weight=1\n",
			g.Name, g.TunnelSerial, g.Local.Addr(), g.Peer.Addr(), g.Peer.Addr(), g.TunID, tunID6(g.TunnelSerial), fixed.TunnelDstMTU)
		fmt.Fprintf(out, "bound_if=%d real_if=%d lgwy=static/1 tun=intf %s encap=%s options[%s]=%s  run_state=0 role=primary accept_traffic=1 overlay_id=0\n",
			idx, idx, mode, fixed.TunnelEncap, fixed.TunnelOptionBits, fixed.TunnelOptionFlags)
		if g.Dynamic {
			fmt.Fprintf(out, "parent=%s index=%d\n", g.Parent, g.Index)
		}
		rx := rxOf(g)
		fmt.Fprintf(out, "proxyid_num=%d child_num=0 refcnt=%d ilast=%d olast=0 ad=/0\n", len(g.Children), fixed.TunnelRefcnt, secs(rx.last))
		// iked verifies and counts the peer's ESP but sends none
		fmt.Fprintf(out, "stat: rxp=%d txp=0 rxb=%d txb=0\n", rx.packets, rx.bytes)
		on := 0
		if g.DPD != "disable" {
			on = 1
		}
		fmt.Fprintf(out, "dpd: mode=%s on=%d status=ok idle=%dms retry=%d count=0 seqno=%d\n", g.DPD, on, g.DPDRetry.Milliseconds(), g.DPDCount, g.DPDSent)
		if g.NATMe || g.NATPeer {
			fmt.Fprintf(out, "natt: mode=keepalive draft=0 interval=%d remote_port=%d\n", secs(g.NATTKeepalive), g.Peer.Port())
		} else {
			fmt.Fprintf(out, "natt: mode=none draft=0 interval=0 remote_port=0\n")
		}
		fmt.Fprintf(out, "fec: egress=0 ingress=0\n")
		for i, c := range g.Children {
			fmt.Fprintf(out, "proxyid=%s proto=0 sa=1 ref=%d serial=%d add-route\n", c.Name, fixed.ProxyIDRef, i+1)
			for _, s := range c.Local {
				fmt.Fprintf(out, "  src: %s\n", selector(s))
			}
			for _, s := range c.Remote {
				fmt.Fprintf(out, "  dst: %s\n", selector(s))
			}
			// expire: until the soft lifetime, when iked rekeys; timeout: until the hard one
			fmt.Fprintf(out, "  SA: ref=%d options=%s type=00 soft=0 mtu=%d expire=%d/0B replaywin=%d\n",
				fixed.SARef, fixed.SAOptions, fixed.SAMTU, max(0, secs(c.SoftExpires)), fixed.ReplayWindow)
			fmt.Fprintf(out, "       seqno=1 esn=0 replaywin_lastseq=%08x qat=0 rekey=0 hash_search_len=%d\n", c.LastSeq, fixed.HashSearchLen)
			fmt.Fprintf(out, "  life: type=01 bytes=0/0 timeout=%d/%d\n", max(0, secs(c.Expires)), secs(c.Lifetime))
			enc, auth := espNames(c.Proposal)
			fmt.Fprintf(out, "  dec: spi=%08x esp=%s key=%d %X\n", c.SPIIn, enc, len(c.EncIn), c.EncIn)
			if len(c.IntegIn) > 0 {
				fmt.Fprintf(out, "       ah=%s key=%d %X\n", auth, len(c.IntegIn), c.IntegIn)
			}
			fmt.Fprintf(out, "  enc: spi=%08x esp=%s key=%d %X\n", c.SPIOut, enc, len(c.EncOut), c.EncOut)
			if len(c.IntegOut) > 0 {
				fmt.Fprintf(out, "       ah=%s key=%d %X\n", auth, len(c.IntegOut), c.IntegOut)
			}
		}
	}
	return nil
}

// espNames splits a phase2 proposal name into FortiOS's esp= and ah= words.
func espNames(proposal string) (string, string) {
	enc, auth, _ := strings.Cut(proposal, "-")
	switch {
	case strings.HasPrefix(enc, "aes") && strings.HasSuffix(enc, "gcm"):
		return "aes-gcm", ""
	case strings.HasPrefix(enc, "aes"):
		return "aes", auth
	}
	return enc, auth
}

func getTunnelSummary(sh *Shell, args []string, out io.Writer) error {
	vpn, err := sh.vpn()
	if err != nil {
		return err
	}
	for _, g := range vpn.Gateways() {
		n := len(g.Children)
		rx := rxOf(g)
		fmt.Fprintf(out, "'%s'  selectors(total,up): %d/%d  rx(pkt,err): %d/%d  tx(pkt,err): 0/0\n", g.Name, n, n, rx.packets, rx.errors)
	}
	return nil
}

// rx sums the ESP a tunnel received over its child SAs.
type rx struct {
	packets, bytes, errors uint64
	last                   time.Duration // since the last packet, 0 if none
}

func rxOf(g ikeapi.Gateway) rx {
	var r rx
	for _, c := range g.Children {
		r.packets += c.RxPackets
		r.bytes += c.RxBytes
		r.errors += c.RxErrors
		if c.LastRx > 0 && (r.last == 0 || c.LastRx < r.last) {
			r.last = c.LastRx
		}
	}
	return r
}
