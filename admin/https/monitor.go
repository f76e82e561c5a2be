package https

import (
	"net/http"
	"strings"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/daemons/iked/ike"
	"github.com/fosim/fosim/daemons/iked/ikeapi"
	"github.com/fosim/fosim/internal/fixed"
)

// serveMonitor answers /api/v2/monitor/<path>/<name> for what this
// appliance has: system/status, system/current-admins (and
// disconnect-admins/select) and vpn/ipsec.
func (s *Server) serveMonitor(w http.ResponseWriter, r *http.Request, who *identity) {
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/api/v2/monitor/"), "/")
	path, name, _ := strings.Cut(rest, "/")
	name, action, _ := strings.Cut(name, "/")
	rep := &reply{srv: s, method: r.Method, path: path, name: name, action: action}
	if status, err := s.checkVdom(r, who); err != nil {
		rep.fail(w, status, err)
		return
	}
	if r.Method == http.MethodPost && rest == "system/disconnect-admins/select" {
		s.disconnectAdmins(w, r, rep, who)
		return
	}
	if r.Method != http.MethodGet {
		rep.fail(w, http.StatusMethodNotAllowed, errNotSimulated("monitor actions ("+r.Method+" "+rest+")"))
		return
	}
	switch rest {
	case "system/status":
		s.systemStatus(w, rep)
	case "vpn/ipsec":
		s.vpnIPsec(w, rep, who, r.URL.Query().Get("tunnel"))
	case "system/current-admins":
		s.currentAdmins(w, r, rep, who)
	default:
		rep.fail(w, http.StatusNotFound, errNotSimulated("monitor "+rest))
	}
}

// systemStatus is monitor/system/status: Ansible reads "version" from it.
func (s *Server) systemStatus(w http.ResponseWriter, rep *reply) {
	st := s.App.Store
	res := object{
		{"model_name", fixed.ModelName},
		{"model_number", fixed.ModelNumber},
		{"model", fixed.Model},
		{"hostname", cli.Hostname(st)},
		{"log_disk_status", fixed.LogDiskStatus},
	}
	rep.results(w, st.Revision(), res)
}

// vpnIPsec is monitor/vpn/ipsec: the tunnels iked holds, from the same
// snapshot "diagnose vpn ike gateway list" prints. Reading it needs read
// access to VPN configuration, as on FortiOS.
// tunnel, when set, keeps that phase1's tunnels: the tunnel itself, or
// a dial-up phase1's instances.
func (s *Server) vpnIPsec(w http.ResponseWriter, rep *reply, who *identity, tunnel string) {
	if _, err := s.readAccess(who.user, "rest", "vpn ipsec phase1-interface"); err != nil {
		rep.fail(w, 0, err)
		return
	}
	if s.VPN == nil {
		rep.fail(w, http.StatusServiceUnavailable, errNotSimulated("IPsec in this process: iked runs under fosim serve"))
		return
	}
	list := []object{}
	for _, g := range s.VPN.Gateways() {
		if tunnel == "" || g.Name == tunnel || g.Parent == tunnel {
			list = append(list, tunnelJSON(g))
		}
	}
	rep.results(w, s.App.Store.Revision(), list)
}

func tunnelJSON(g ikeapi.Gateway) object {
	var in, out uint64
	proxies := []object{}
	for _, c := range g.Children {
		in += c.RxBytes
		status := "up"
		if g.Connecting {
			status = "down"
		}
		proxies = append(proxies, object{
			{"proxy_src", selectorsJSON(c.Local)},
			{"proxy_dst", selectorsJSON(c.Remote)},
			{"status", status},
			{"p2name", c.Name},
			{"expire", int64(c.Expires.Seconds())},
			{"incoming_bytes", c.RxBytes},
			{"outgoing_bytes", uint64(0)},
		})
	}
	typ := "automatic"
	if g.Parent != "" {
		typ = "dialup"
	}
	o := object{
		{"proxyid", proxies},
		{"name", g.Name},
		{"comments", ""},
		{"wizard-type", "custom"},
		{"connection_count", len(g.Children)},
		{"creation_time", int64(g.Created.Seconds())},
		{"type", typ},
		{"incoming_bytes", in},
		{"outgoing_bytes", out},
		{"rgwy", g.Peer.Addr().String()},
	}
	if g.Parent != "" {
		o.add("parent", g.Parent)
	}
	if g.EAPUser != "" {
		o.add("username", g.EAPUser)
	}
	if g.AssignedIP.IsValid() {
		o.add("tun_id", g.AssignedIP.String())
	} else if g.TunID.IsValid() {
		o.add("tun_id", g.TunID.String())
	}
	return o
}

// selectorsJSON writes traffic selectors as the monitor's proxy_src and
// proxy_dst: an address range as "start-end" (FortiOS writes a subnet as
// "addr/mask"; a selector is a range on the wire).
func selectorsJSON(sels []ike.Selector) []object {
	out := []object{}
	for _, sel := range sels {
		out = append(out, object{
			{"subnet", sel.Start.String() + "-" + sel.End.String()},
			{"port", sel.StartPort},
			{"protocol", sel.IPProtocol},
		})
	}
	return out
}
