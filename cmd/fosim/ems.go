package main

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/peers/ems"
)

const emsUsage = `usage: fosim ems [--data DIR] [--listen ADDR] [--admin ADDR]
       fosim ems [--data DIR] <command> …

A FortiClient EMS simulator in its own process with its own store in DIR
(--data, else $FOSIM_EMS_DATA): serial number, tenant id, endpoints, tag
rules and ZTNA tokens. Without a command it serves, until SIGINT or SIGTERM:
  --listen ADDR   the HTTPS API and its push WebSocket (default
                  127.0.0.1:0, a free port; the FortiGate's fctems server
                  and https-port point here)
  --admin ADDR    the administration endpoint, loopback only (default
                  127.0.0.1:0; written to DIR/admin.addr)

commands (they edit DIR; a running EMS pushes the change within a moment):
  endpoint add UID|new --ip IP [--mac MAC]… [--public-ip IP] [--host H] [--user U]
               [--os OS] [--fct-version V] [--cert-sn SN]
               [--unregistered] [--offline] [--off-net] [--quarantined]
                         register or replace an endpoint ("new": a random UID)
  endpoint set UID FIELD VALUE
                         change one field: ip, public-ip, mac (a,b,…), host,
                         user, os, fct-version, cert-sn, registered|online|
                         on-net|quarantined (yes|no)
  endpoint del UID
  endpoint list          the endpoints and the tags the rules give them
  rule add TAG [--type N] --match FIELD[=VALUE]…
                         a tag rule: every endpoint meeting all the matches
                         gets TAG; FIELD is all, registered|online|on-net|
                         quarantined (=yes|no), os|host|user (=substring),
                         uid (=UID), ip (=prefix or address)
  rule del TAG
  rule list
  token UID              the endpoint's ZTNA token (RS256 JWT; on the EMS
                         clock when the EMS runs, else the host's)
  down | up              make the EMS unreachable (every connection closed
                         as accepted) or reachable again
  slow DURATION          hold every answer DURATION (0 to stop)
  set ztna-token enable|disable | set token-timeout DURATION
  apply FILE|-           add or replace what a JSON lab file names
                         (peers/ems/README.md)
  show                   serial, tenant id, settings, certificate fingerprint
commands that ask the running EMS (through DIR/admin.addr):
  clock [advance DURATION]
  fabric                 the FortiGates that connected
`

// emsCmd is "fosim ems": the EMS peer and its administration.
func emsCmd(args []string, dataFlag string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fosim ems", flag.ContinueOnError)
	return peerCmd("ems", emsUsage, "FOSIM_EMS_DATA", fs, args, dataFlag, stdout, stderr,
		func(ctx context.Context, dir, listen, admin string) error {
			return serveEMS(ctx, dir, listen, admin, stdout)
		},
		func(dir string, args []string) error { return emsAdmin(dir, args, stdin, stdout) })
}

// serveEMS runs the EMS until ctx ends.
func serveEMS(ctx context.Context, dir, listen, admin string, stdout io.Writer) error {
	if err := requireLoopback(admin); err != nil {
		return err
	}
	server, err := ems.NewServer(dir, clock.New(nil))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go server.Run(ctx)
	p := peerServer{service: server.Handler(), admin: server.AdminHandler(),
		wrap: func(ln net.Listener) net.Listener { return tls.NewListener(server.Listener(ln), server.TLSConfig()) }}
	return p.serve(ctx, dir, listen, admin, func(api, admin net.Addr) {
		fp := server.Keys().Fingerprint()
		fmt.Fprintf(stdout, "fosim ems: %s on https://%s/api/v1/ (certificate SHA-256 %s), admin on http://%s/\n",
			server.Serial(), api, strings.ToUpper(hex.EncodeToString(fp[:])), admin)
	})
}

// emsAdmin runs one administration command.
func emsAdmin(dir string, args []string, stdin io.Reader, stdout io.Writer) error {
	switch args[0] {
	case "clock":
		switch {
		case len(args) == 1:
			return emsAsk(dir, http.MethodGet, "/clock", stdout)
		case len(args) == 3 && args[1] == "advance":
			return emsAsk(dir, http.MethodPost, "/clock/advance?by="+args[2], stdout)
		}
		return usageError{"clock [advance DURATION]"}
	case "fabric":
		return emsFabric(dir, stdout)
	case "token":
		// A running EMS issues the token, on its clock.
		if base, err := emsAdminURL(dir); err == nil && len(args) == 2 {
			b, err := askPeer(base, http.MethodPost, "/token?uid="+url.QueryEscape(args[1]), "")
			if err == nil {
				_, err = stdout.Write(b)
			}
			return err
		}
	}
	cfg, err := ems.Open(dir)
	if err != nil {
		return err
	}
	changed, err := editEMS(dir, cfg, args, stdin, stdout)
	if err != nil || !changed {
		return err
	}
	return cfg.Save(dir)
}

// editEMS applies one command to cfg; it reports whether it changed
// anything.
func editEMS(dir string, cfg *ems.Config, args []string, stdin io.Reader, stdout io.Writer) (bool, error) {
	verb := strings.Join(args[:min(2, len(args))], " ")
	switch {
	case verb == "endpoint list" && len(args) == 2:
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "UID\tIP\tMAC\tHOST\tUSER\tSTATUS\tTAGS")
		for i := range cfg.Endpoints {
			e := &cfg.Endpoints[i]
			var tags []string
			for _, t := range cfg.TagsOf(e) {
				tags = append(tags, t.Name)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.UID, e.IP, strings.Join(e.MACs, ","), e.Host, e.User, endpointStatus(e), strings.Join(tags, ","))
		}
		return false, w.Flush()
	case verb == "endpoint add" && len(args) >= 3:
		e, err := parseEndpoint(args[2], args[3:])
		if err != nil {
			return false, err
		}
		if err := cfg.SetEndpoint(e); err != nil {
			return false, err
		}
		fmt.Fprintln(stdout, e.UID)
		return true, nil
	case verb == "endpoint set" && len(args) == 5:
		e, ok := cfg.Endpoint(args[2])
		if !ok {
			return false, fmt.Errorf("no endpoint %s", args[2])
		}
		next := *e
		next.MACs = append([]string(nil), e.MACs...)
		if err := setEndpointField(&next, args[3], args[4]); err != nil {
			return false, err
		}
		return true, cfg.SetEndpoint(next)
	case verb == "endpoint del" && len(args) == 3:
		return true, cfg.DeleteEndpoint(args[2])
	case verb == "rule list" && len(args) == 2:
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TAG\tTYPE\tMATCH\tENDPOINTS")
		// each endpoint's tags once, not once a rule
		endpoints := map[string]int{}
		for i := range cfg.Endpoints {
			for _, t := range cfg.TagsOf(&cfg.Endpoints[i]) {
				endpoints[t.Name]++
			}
		}
		for _, r := range cfg.Rules {
			var conds []string
			for _, c := range r.Conditions {
				conds = append(conds, c.String())
			}
			fmt.Fprintf(w, "%s\t%d\t%s\t%d\n", r.Tag, r.Type, strings.Join(conds, " "), endpoints[r.Tag])
		}
		return false, w.Flush()
	case verb == "rule add" && len(args) >= 3:
		fs := flag.NewFlagSet("rule add", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		typ := fs.Int("type", ems.TagTypeZeroTrust, "")
		var matches repeated
		fs.Var(&matches, "match", "")
		if err := fs.Parse(args[3:]); err != nil {
			return false, usageError{"rule add: " + err.Error()}
		}
		if fs.NArg() > 0 {
			return false, usageError{fmt.Sprintf("rule add: unexpected %q", fs.Args())}
		}
		r := ems.TagRule{Tag: args[2], Type: *typ}
		for _, m := range matches {
			r.Conditions = append(r.Conditions, ems.ParseCondition(m))
		}
		return true, cfg.SetRule(r)
	case verb == "rule del" && len(args) == 3:
		return true, cfg.DeleteRule(args[2])
	case args[0] == "token" && len(args) == 2:
		keys, err := ems.LoadKeys(dir)
		if err != nil {
			return false, err
		}
		tok, err := cfg.IssueToken(keys, args[1], time.Now())
		if err == nil {
			fmt.Fprintln(stdout, tok)
		}
		return false, err
	case (args[0] == "down" || args[0] == "up") && len(args) == 1:
		cfg.Down = args[0] == "down"
		return true, nil
	case args[0] == "slow" && len(args) == 2:
		d, err := time.ParseDuration(args[1])
		if err != nil || d < 0 {
			return false, fmt.Errorf("slow %q: a duration such as 40s (0 to stop)", args[1])
		}
		cfg.Delay = ems.Duration(d)
		return true, nil
	case args[0] == "set" && len(args) == 3:
		switch args[1] {
		case "ztna-token":
			if args[2] != "enable" && args[2] != "disable" {
				return false, fmt.Errorf("ztna-token %q: enable or disable", args[2])
			}
			cfg.ZTNAToken = args[2] == "enable"
		case "token-timeout":
			d, err := time.ParseDuration(args[2])
			if err != nil {
				return false, fmt.Errorf("token-timeout %q: a duration such as 1h", args[2])
			}
			cfg.TokenLifetime = ems.Duration(d)
		default:
			return false, usageError{fmt.Sprintf("no setting %q", args[1])}
		}
		return true, nil
	case args[0] == "apply" && len(args) == 2:
		return true, applyLabFile(args[1], stdin, ems.ParseLabFile, cfg.Apply)
	case args[0] == "show" && len(args) == 1:
		keys, err := ems.LoadKeys(dir)
		if err != nil {
			return false, err
		}
		fp := keys.Fingerprint()
		state := "up"
		if cfg.Down {
			state = "down"
		}
		onoff := map[bool]string{true: "enable", false: "disable"}
		fmt.Fprintf(stdout, "serial-number: %s\ntenant-id: %s\nversion: %s\nztna-token: %s\ntoken-timeout: %v\nstate: %s\ndelay: %v\nendpoints: %d\ntag rules: %d\ncertificate: %s (SHA-256 %s)\n",
			cfg.Serial, cfg.TenantID, ems.Version, onoff[cfg.ZTNAToken], time.Duration(cfg.TokenLifetime), state, time.Duration(cfg.Delay),
			len(cfg.Endpoints), len(cfg.Rules), keys.Cert.Subject.CommonName, strings.ToUpper(hex.EncodeToString(fp[:])))
		return false, nil
	}
	return false, usageError{fmt.Sprintf("unknown command %q", strings.Join(args, " "))}
}

// setEndpointField changes one field of an endpoint ("endpoint set").
func setEndpointField(e *ems.Endpoint, field, value string) error {
	yesNo := func(dst *bool, invert bool) error {
		if value != "yes" && value != "no" {
			return fmt.Errorf("%s %q: yes or no", field, value)
		}
		*dst = (value == "yes") != invert
		return nil
	}
	addr := func(dst *netip.Addr) error {
		a, err := netip.ParseAddr(value)
		if err != nil || !a.Is4() {
			return fmt.Errorf("%s %q: an IPv4 address", field, value)
		}
		*dst = a
		return nil
	}
	switch field {
	case "ip":
		return addr(&e.IP)
	case "public-ip":
		return addr(&e.PublicIP)
	case "mac":
		e.MACs = strings.Split(value, ",")
	case "host":
		e.Host = value
	case "user":
		e.User = value
	case "os":
		e.OS = value
	case "fct-version":
		e.FCTVersion = value
	case "cert-sn":
		e.CertSN = strings.ToUpper(value)
	case "registered":
		return yesNo(&e.Registered, false)
	case "online":
		return yesNo(&e.Online, false)
	case "on-net":
		return yesNo(&e.OffNet, true)
	case "quarantined":
		return yesNo(&e.Quarantined, false)
	default:
		return usageError{fmt.Sprintf("endpoint set: no field %q (ip, public-ip, mac, host, user, os, fct-version, cert-sn, registered, online, on-net, quarantined)", field)}
	}
	return nil
}

func endpointStatus(e *ems.Endpoint) string {
	var s []string
	s = append(s, map[bool]string{true: "registered", false: "unregistered"}[e.Registered])
	s = append(s, map[bool]string{true: "online", false: "offline"}[e.Online])
	s = append(s, map[bool]string{true: "off-net", false: "on-net"}[e.OffNet])
	if e.Quarantined {
		s = append(s, "quarantined")
	}
	return strings.Join(s, ",")
}

func parseEndpoint(uid string, args []string) (ems.Endpoint, error) {
	fs := flag.NewFlagSet("endpoint add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ip := fs.String("ip", "", "")
	publicIP := fs.String("public-ip", "", "")
	var macs repeated
	fs.Var(&macs, "mac", "")
	e := ems.Endpoint{}
	fs.StringVar(&e.Host, "host", "", "")
	fs.StringVar(&e.User, "user", "", "")
	fs.StringVar(&e.OS, "os", "", "")
	fs.StringVar(&e.FCTVersion, "fct-version", "7.4.5", "")
	fs.StringVar(&e.CertSN, "cert-sn", "", "")
	unregistered := fs.Bool("unregistered", false, "")
	offline := fs.Bool("offline", false, "")
	fs.BoolVar(&e.OffNet, "off-net", false, "")
	fs.BoolVar(&e.Quarantined, "quarantined", false, "")
	if err := fs.Parse(args); err != nil {
		return e, usageError{"endpoint add: " + err.Error()}
	}
	if fs.NArg() > 0 {
		return e, usageError{fmt.Sprintf("endpoint add: unexpected %q", fs.Args())}
	}
	if uid == "new" {
		uid = ems.NewUID()
	}
	e.UID = strings.ToUpper(uid)
	a, err := netip.ParseAddr(*ip)
	if err != nil {
		return e, fmt.Errorf("endpoint add: --ip %q: an IPv4 address", *ip)
	}
	e.IP = a
	if *publicIP != "" {
		if e.PublicIP, err = netip.ParseAddr(*publicIP); err != nil {
			return e, fmt.Errorf("endpoint add: --public-ip %q: an IPv4 address", *publicIP)
		}
	}
	e.MACs = macs
	e.Registered, e.Online = !*unregistered, !*offline
	if e.CertSN == "" {
		e.CertSN = ems.NewCertSN()
	}
	e.CertSN = strings.ToUpper(e.CertSN)
	return e, nil
}

// emsAdminURL is the running EMS's administration endpoint.
func emsAdminURL(dir string) (string, error) { return peerAdminURL(dir, "EMS", "ems") }

// emsAsk sends one request to the running EMS's administration endpoint
// and copies its answer.
func emsAsk(dir, method, path string, stdout io.Writer) error {
	b, err := emsAnswer(dir, method, path)
	if err == nil {
		_, err = stdout.Write(b)
	}
	return err
}

func emsAnswer(dir, method, path string) ([]byte, error) {
	base, err := emsAdminURL(dir)
	if err != nil {
		return nil, err
	}
	return askPeer(base, method, path, "")
}

// emsFabric prints the FortiGates that connected to the running EMS.
func emsFabric(dir string, stdout io.Writer) error {
	b, err := emsAnswer(dir, http.MethodGet, "/fabric")
	if err != nil {
		return err
	}
	var rows []ems.FabricDevice
	if err := json.Unmarshal(b, &rows); err != nil {
		return fmt.Errorf("fabric: %v", err)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FORTIGATE\tFROM\tLAST SEEN")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\n", r.Serial, r.From, r.LastSeen.Format(time.DateTime))
	}
	return w.Flush()
}
