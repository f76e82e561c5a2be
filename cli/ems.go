package cli

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons/fcnacd/fcnacdapi"
	"github.com/fosim/fosim/internal/fixed"
)

// The EMS connector's commands: what fcnacd synced (seed 002's
// "diagnose firewall dynamic list" and "diagnose endpoint ec-shm list"),
// its connections ("diagnose test application fcnacd"), and "execute
// fctems verify", which trusts an EMS certificate. The CLI asks fcnacd
// only through fcnacdapi.

func init() {
	commands = append(commands,
		&command{path: "diagnose firewall dynamic list", help: "List dynamic address objects and what they resolve.", args: "[name]", maxArgs: 1, run: diagFirewallDynamicList},
		&command{path: "diagnose endpoint ec-shm list", help: "List the endpoint records synced from FortiClient EMS.", run: diagEndpointECShmList},
		&command{path: "diagnose test application fcnacd", help: "FortiClient NAC daemon (EMS connector) tests.", args: "<test id>", maxArgs: 1, run: diagTestFcnacd},
		&command{path: "execute fctems verify", help: "Verify the FortiClient EMS certificate and trust it.", args: "<EMS name>", minArgs: 1, maxArgs: 1, run: executeFctemsVerify, writes: true},
	)
}

// errNoFcnacd: this appliance runs without the EMS connector.
var errNoFcnacd = notSimulated("the EMS connector in this process: fcnacd runs under fosim run and serve")

func (sh *Shell) ems() (fcnacdapi.Connector, error) {
	if sh.App.EMS == nil {
		return nil, errNoFcnacd
	}
	return sh.App.EMS, nil
}

// diagFirewallDynamicList prints seed 002's block per EMS tag address:
//
//	CMDB name: EMS1_ZTNA_all_registered_clients
//	TAG name: all_registered_clients
//	EMS1_ZTNA_all_registered_clients: ID(6)
//	        ADDR(172.16.200.242)
//	Total IP dynamic range blocks: 0.
//	Total IP dynamic addresses: 1.
//
// fcnacd resolves addresses one by one, so there are no range blocks.
func diagFirewallDynamicList(sh *Shell, args []string, out io.Writer) error {
	ems, err := sh.ems()
	if err != nil {
		return err
	}
	var list []fcnacdapi.DynamicAddress
	for _, a := range ems.Dynamic() {
		if len(args) == 0 || a.Name == args[0] {
			list = append(list, a)
		}
	}
	if len(args) == 1 && len(list) == 0 {
		return &cmdb.Error{Msg: "entry not found in datasource", Code: cmdb.CodeNotFound}
	}
	fmt.Fprintln(out)
	total := 0
	for _, a := range list {
		fmt.Fprintf(out, "CMDB name: %s\nTAG name: %s\n%s: ID(%d)\n", a.Name, a.Tag, a.Name, a.ID)
		for _, ip := range a.Addrs {
			fmt.Fprintf(out, "\tADDR(%s)\n", ip)
		}
		for _, m := range a.MACs {
			fmt.Fprintf(out, "\tMAC(%s)\n", m)
		}
		total += len(a.Addrs)
	}
	fmt.Fprintf(out, "Total IP dynamic range blocks: 0.\nTotal IP dynamic addresses: %d.\n", total)
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func ipOrEmpty(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// diagEndpointECShmList prints the endpoint records as seed 002 does
// (the fields it shows, in its order; the ones its "…" hides are not
// printed). fosim has one VDOM: root (0); records have no token VDOM.
func diagEndpointECShmList(sh *Shell, _ []string, out io.Writer) error {
	ems, err := sh.ems()
	if err != nil {
		return err
	}
	serial := sh.App.Store.Serial()
	fmt.Fprintln(out)
	for i, e := range ems.Endpoints() {
		mac := ""
		var more []string
		if len(e.MACs) > 0 {
			mac, more = e.MACs[0], e.MACs[1:]
		}
		macList := ""
		if len(more) > 0 {
			macList = " " + strings.Join(more, ",")
		}
		online, reg, onnet := "offline", "unregistered", "off-net"
		if e.Online {
			online = "online"
		}
		if e.Registered {
			reg = "registered"
		}
		if e.OnNet {
			onnet = "on-net"
		}
		fmt.Fprintf(out, "Record #%d:\n", i)
		fmt.Fprintf(out, "\t\tIP Address = %s\n\t\tMAC Address = %s\n\t\tMAC list =%s\n", e.IP, mac, macList)
		fmt.Fprintf(out, "\t\tVDOM = root (0)\n\t\tTOKEN VDOM =  (-1)\n")
		fmt.Fprintf(out, "\t\tEMS serial number: %s\n\t\tEMS tenant id: %s\n\t\tClient cert SN: %s\n", e.EMSSerial, e.TenantID, e.CertSN)
		fmt.Fprintf(out, "\t\tPublic IP address: %s\n\t\tQuarantined: %s\n", ipOrEmpty(e.PublicIP), yesNo(e.Quarantined))
		fmt.Fprintf(out, "\t\tOnline status: %s\n\t\tRegistration status: %s\n\t\tOn-net status: %s\n", online, reg, onnet)
		fmt.Fprintf(out, "\t\tGateway Interface: %s\n\t\tFortiClient version: %s\n", e.GatewayInterface, e.FCTVersion)
		if e.GatewayInterface == "" {
			fmt.Fprintf(out, "\t\tNumber of Routes: (0)\n")
			continue
		}
		fmt.Fprintf(out, "\t\tNumber of Routes: (1)\n\t\t\tGateway Route #0:\n")
		fmt.Fprintf(out, "\t\t\t\t- IP:%s, MAC: %s, VPN: no\n", e.IP, mac)
		fmt.Fprintf(out, "\t\t\t\t- Interface:%s, VDOM:root (0), SN: %s\n", e.GatewayInterface, serial)
	}
	return nil
}

// diagTestFcnacd: test 2 lists the EMS connections (fosim's layout: the
// FortiOS output of this test is not published), test 7 the ZTNA tag
// cache in the layout of the 7.6.7 administration guide ("ZTNA tag
// caching": #ID, UID, EMS, State, Owner, Cert SN, online, Route IP, idx
// lines).
func diagTestFcnacd(sh *Shell, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, "2: Show the EMS connections (status, serial, tenant, sync).\n7: Show the endpoint tag cache.\n")
		return nil
	}
	ems, err := sh.ems()
	if err != nil {
		return err
	}
	switch args[0] {
	case "2":
		now := sh.App.Clock.Now()
		ago := func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return fmt.Sprintf("%ds ago", int(now.Sub(t)/time.Second))
		}
		for _, e := range ems.EMSs() {
			fmt.Fprintf(out, "EMS context %d: %s\n", e.ID, e.Name)
			fmt.Fprintf(out, "\tserver: %s:%d\n\tstatus: %s\n", e.Server, e.Port, e.State)
			if e.LastError != "" {
				fmt.Fprintf(out, "\treason: %s\n", e.LastError)
			}
			if e.Serial != "" { // known once the EMS answered
				fmt.Fprintf(out, "\tserial number: %s\n\ttenant id: %s\n\tEMS version: %s\n", e.Serial, e.TenantID, e.Version)
			}
			fmt.Fprintf(out, "\twebsocket: %s\n\tout of sync: %s\n", map[bool]string{true: "connected", false: "disconnected"}[e.Websocket], yesNo(e.OutOfSync))
			fmt.Fprintf(out, "\tendpoints: %d\n\ttags: %d\n\tlast full sync: %s\n\tlast push: %s (%d pushes)\n", e.Endpoints, e.Tags, ago(e.LastSync), ago(e.LastPush), e.Pushes)
			if !e.Disconnected.IsZero() {
				fmt.Fprintf(out, "\tdisconnected: %s\n", ago(e.Disconnected))
			}
		}
		return nil
	case "7":
		tagIndex := map[int]map[string]int{}
		for _, a := range ems.Dynamic() {
			if a.MAC {
				continue
			}
			if tagIndex[a.EMSID] == nil {
				tagIndex[a.EMSID] = map[string]int{}
			}
			tagIndex[a.EMSID][a.Tag] = a.ID
		}
		for i, e := range ems.Endpoints() {
			fmt.Fprintf(out, "#ID:%d\nUID: %s\nEMS: %s %s\n", i+1, e.UID, e.EMSSerial, e.TenantID)
			fmt.Fprintf(out, "State: sysinfo:1, tag:%d, tagsz:%d, out-of-sync:%d, ref:0\n", b2i(len(e.Tags) > 0), len(e.Tags), b2i(e.OutOfSync))
			online := "No"
			if e.Online {
				online = "Yes"
			}
			fmt.Fprintf(out, "Owner: %s\nCert SN: %s\nonline: %s\nSub TS: %d\n", e.User, e.CertSN, online, fixed.TagCacheSubTS)
			fmt.Fprintf(out, "Route IP:%s, vdom:root(0)\n", e.IP)
			tags := slices.Clone(e.Tags)
			slices.SortFunc(tags, func(a, b string) int { return tagIndex[e.EMSID][a] - tagIndex[e.EMSID][b] })
			for _, t := range tags {
				fmt.Fprintf(out, "idx:%d, ttdl:%d name:%s\n", tagIndex[e.EMSID][t], fixed.TagCacheTTDL, t)
			}
		}
		return nil
	}
	return &cmdb.Error{Msg: "command parse error before '" + args[0] + "'", Code: cmdb.CodeParse}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// executeFctemsVerify fetches the EMS certificate, shows it and asks to
// trust it; yes adds it to the trusted remote certificates (REMOTE_Cert_N,
// as FortiOS names imported remote certificates) and fills in the entry's
// serial-number and tenant-id when empty. The connector then connects.
func executeFctemsVerify(sh *Shell, args []string, out io.Writer) error {
	ems, err := sh.ems()
	if err != nil {
		return err
	}
	id, err := sh.fctemsID(args[0])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cert, err := ems.FetchCertificate(ctx, id)
	if cert == nil {
		return &cmdb.Error{Msg: err.Error(), Code: cmdb.CodeCheck}
	}
	fmt.Fprintf(out, "Server certificate:\n\tsubject: %s\n\tissuer: %s\n\tvalid from: %s\n\tvalid to: %s\n\tSHA256 fingerprint: %s\n",
		cert.Subject, cert.Issuer, cert.NotBefore.UTC().Format("2006-01-02 15:04:05 GMT"), cert.NotAfter.UTC().Format("2006-01-02 15:04:05 GMT"), cert.Fingerprint)
	if err != nil {
		return &cmdb.Error{Msg: err.Error(), Code: cmdb.CodeCheck}
	}
	fmt.Fprintf(out, "\tEMS serial number: %s\n\tEMS tenant id: %s\n", cert.Serial, cert.TenantID)
	if cert.Trusted {
		fmt.Fprintf(out, "The EMS certificate is already trusted.\n")
		return sh.fillFctems(id, cert)
	}
	fmt.Fprintf(out, "EMS configuration needs user to confirm server certificate.\n")
	if !sh.askYesNo("Do you wish to add the above certificate to trusted remote certificates? (y/n)") {
		return nil
	}
	if err := sh.trustRemoteCert(cert); err != nil {
		return err
	}
	return sh.fillFctems(id, cert)
}

// fctemsID finds an fctems entry by name (or by ems-id).
func (sh *Shell) fctemsID(name string) (int, error) {
	t, err := sh.Session.OpenTable("endpoint-control fctems")
	if err != nil {
		return 0, err
	}
	nameAttr := t.Table().Attr("name")
	for _, k := range t.Keys() {
		e, err := t.Edit(k)
		if err != nil {
			continue
		}
		if e.Entry().Value(nameAttr) == name || k == name {
			return strconv.Atoi(k)
		}
	}
	return 0, &cmdb.Error{Msg: "entry not found in datasource", Code: cmdb.CodeNotFound}
}

func (sh *Shell) trustRemoteCert(cert *fcnacdapi.Certificate) error {
	t, err := sh.Session.OpenTable("vpn certificate remote")
	if err != nil {
		return err
	}
	keys := t.Keys()
	name := ""
	for n := 1; n <= len(keys)+1; n++ {
		if !slices.Contains(keys, fmt.Sprintf("REMOTE_Cert_%d", n)) {
			name = fmt.Sprintf("REMOTE_Cert_%d", n)
			break
		}
	}
	e, err := t.Edit(name)
	if err != nil {
		return err
	}
	if err := e.Set("remote", cmdb.Words(string(cert.PEM))); err != nil {
		return err
	}
	return e.Save() // a script's batch commits it with the rest
}

// fillFctems sets serial-number, tenant-id and capabilities from the EMS
// when empty, as verifying an EMS does on FortiOS.
func (sh *Shell) fillFctems(id int, cert *fcnacdapi.Certificate) error {
	t, err := sh.Session.OpenTable("endpoint-control fctems")
	if err != nil {
		return err
	}
	e, err := t.Edit(strconv.Itoa(id))
	if err != nil {
		return err
	}
	changed := false
	for attr, v := range map[string]string{"serial-number": cert.Serial, "tenant-id": cert.TenantID} {
		if v != "" && e.Entry().Value(t.Table().Attr(attr)) == "" {
			if err := e.Set(attr, cmdb.Words(v)); err != nil {
				return err
			}
			changed = true
		}
	}
	// What the EMS says it supports, in the names this FortiOS knows.
	if a := t.Table().Attr("capabilities"); a != nil && len(e.Entry().Get(a)) == 0 {
		var caps []string
		for _, c := range cert.Capabilities {
			if slices.Contains(a.Options, c) {
				caps = append(caps, c)
			}
		}
		if len(caps) > 0 {
			if err := e.Set("capabilities", cmdb.Words(caps...)); err != nil {
				return err
			}
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return e.Save() // a script's batch commits it with the rest
}
