package authd

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/fosim/fosim/cmdb"
)

// config is what authd reads of the CMDB.
type config struct {
	ikeTCPPort  int // system settings ike-tcp-port
	samlPort    int // system global auth-ike-saml-port
	certName    string
	cert        *tls.Certificate // nil when certName names no usable certificate
	certProblem string
	// ifaces with `set ike-saml-server`, in table order
	ifaces []samlIface
	groups []userGroup
}

type samlIface struct {
	name   string
	addr   netip.Addr // configured static address (invalid when none)
	server string     // its ike-saml-server
}

type userGroup struct {
	name    string
	members []string
	matches []groupMatch
}

type groupMatch struct{ server, group string }

// reader reads the configuration (cmdb.Reader).
type reader struct{ cmdb.Reader }

func readConfig(r reader, sec *cmdb.Secrets) config {
	cfg := config{ikeTCPPort: 443, samlPort: 1001}
	if n, err := strconv.Atoi(r.Single("system settings", "ike-tcp-port")); err == nil {
		cfg.ikeTCPPort = n
	}
	if n, err := strconv.Atoi(r.Single("system global", "auth-ike-saml-port")); err == nil {
		cfg.samlPort = n
	}
	// seed 000: the SP certificate is user setting auth-cert; a unit
	// whose user setting names none uses system global auth-cert
	// (Fortinet_Factory by default).
	cfg.certName = r.Single("user setting", "auth-cert")
	if cfg.certName == "" {
		cfg.certName = r.Single("system global", "auth-cert")
	}
	cfg.cert, cfg.certProblem = readCertificate(r, sec, cfg.certName)
	if rows := r.View.Table("system interface"); rows != nil {
		for _, e := range rows.Ordered() {
			server := r.Value("system interface", e, "ike-saml-server")
			if server == "" {
				continue
			}
			i := samlIface{name: e.Key, server: server}
			if ip := r.Values("system interface", e, "ip"); len(ip) == 2 && r.Value("system interface", e, "mode") == "static" {
				i.addr, _ = netip.ParseAddr(ip[0])
			}
			cfg.ifaces = append(cfg.ifaces, i)
		}
	}
	if rows := r.View.Table("user group"); rows != nil {
		var ct *cmdb.Table
		if a := r.Schema.Table("user group").Attr("match"); a != nil {
			ct = a.Child
		}
		for _, e := range rows.Ordered() {
			g := userGroup{name: e.Key, members: r.Values("user group", e, "member")}
			if ct != nil {
				if m := e.Children["match"]; m != nil {
					for _, me := range m.Ordered() {
						g.matches = append(g.matches, groupMatch{server: me.Value(ct.Attr("server-name")), group: me.Value(ct.Attr("group-name"))})
					}
				}
			}
			cfg.groups = append(cfg.groups, g)
		}
	}
	return cfg
}

// readCertificate loads a `vpn certificate local` entry as a TLS
// certificate, or says what is wrong with it.
func readCertificate(r reader, sec *cmdb.Secrets, name string) (*tls.Certificate, string) {
	if name == "" {
		return nil, "no auth-cert is set"
	}
	e := r.View.Entry("vpn certificate local", name)
	if e == nil {
		return nil, fmt.Sprintf("certificate %q does not exist", name)
	}
	certPEM := r.Value("vpn certificate local", e, "certificate")
	key := r.Values("vpn certificate local", e, "private-key")
	if certPEM == "" || len(key) != 2 || key[0] != "ENC" {
		return nil, fmt.Sprintf("certificate %q has no certificate and private key", name)
	}
	if sec == nil { // a commit being checked: the certificate is read when applied
		return nil, ""
	}
	keyPEM, err := sec.Decrypt(key[1])
	if err != nil {
		return nil, fmt.Sprintf("certificate %q: its private key cannot be decrypted on this unit", name)
	}
	c, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		return nil, fmt.Sprintf("certificate %q: %v", name, err)
	}
	return &c, ""
}

// groupsOf lists the user groups a SAML login through server is in.
func (c *config) groupsOf(server string, idpGroups []string) []string {
	var out []string
	for _, g := range c.groups {
		if !slices.Contains(g.members, server) {
			continue
		}
		matched, constrained := false, false
		for _, m := range g.matches {
			if m.server != server {
				continue
			}
			constrained = true
			if slices.Contains(idpGroups, m.group) {
				matched = true
			}
		}
		if !constrained || matched {
			out = append(out, g.name)
		}
	}
	return out
}
