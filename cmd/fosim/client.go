package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/fosim/fosim/daemons/iked/client"
	"github.com/fosim/fosim/daemons/iked/eap"
	"github.com/fosim/fosim/daemons/iked/fctdata"
	"github.com/fosim/fosim/daemons/iked/suite"
	"github.com/fosim/fosim/peers/ems"
)

const clientUsage = `usage: fosim client --server ADDR --psk KEY|--psk-file F [--transport udp|tcp|auto [--tcp-port N]] [--proposal P] [--dh N] [--mode-cfg]
         [--eap-user U --eap-password P|--eap-password-file F [--eap-method md5]]
         [--saml --saml-port N [--uid HEX32] [--saml-user U --saml-password-file F [--saml-totp-file F]]]
         [--fct-uid HEX32 [--fct-ip IP] [--fct-mac M]… [--fct-host H] [--fct-user U] [--ems-sn SN] [--ems-tenant ID] [--ztna-token-file F]
          [--ems HOST:PORT [--ems-ca-file F]]]
         [--rekey] [--hold D]

Dial an IKEv2 gateway with fosim's own initiator, print what was negotiated
and delete the tunnel again. With --transport tcp it dials IKE over TCP
(RFC 9329): --server is then the gateway's ike-tcp-port. --transport auto is
FortiClient's "Auto (UDP fallback TCP)": UDP first, then TCP on --tcp-port
when UDP gets no answer.

With --saml it logs in first as FortiClient does for a SAML dial-up (FortiOS
7.6): it posts its UID to https://SERVER-ADDRESS:SAML-PORT/saml_login, sends
a browser through the IdP and dials EAP with the UID and the token the
FortiGate hands back. The SAML port is the gateway's ike-tcp-port or its
auth-ike-saml-port. With --saml-user the IdP's login form is filled in
(and a FortiToken code from the TOTP secret in --saml-totp-file); without,
the IdP URL is printed for a person to open in a browser. The certificate
of the FortiGate is not checked (a lab's is self-signed).

With --fct-uid it is a FortiClient managed by an EMS (seed 002): its FCT
data (the FORTICLIENT_CONNECT notify: UID, the IP and MACs it reports, its
EMS's serial number and tenant id) goes in the first IKE_AUTH request, for
the gateway's ems-sn-check and remote-gw-match ztna; --ztna-token-file
sends the ZTNA token its EMS issued (a JWT, "fosim ems token") in the
ZTNA_TAG notify, which the gateway checks when the EMS cannot tell it the
client's tags. --ems HOST:PORT registers with the EMS first, as FortiClient
does on its telemetry connection (fosim's EMS, "fosim ems"; its API is
fosim's own): UID, IP, MACs, host, user, OS and FortiClient version go to
the EMS, and its answer gives the EMS serial number, tenant id and, when
the EMS has ZTNA tokens on, the token the dial sends. --ems-ca-file is the
EMS certificate (or its CA) to trust; without it the certificate is not
checked and its SHA-256 fingerprint is printed, as FortiClient asks its
user to accept an EMS it does not know.

The secrets also come from $FOSIM_PSK, $FOSIM_EAP_PASSWORD and
$FOSIM_SAML_PASSWORD (a flag is visible in the process list).

`

// clientCmd dials an IKEv2 gateway with fosim's own initiator, prints what
// it negotiated and deletes the tunnel again.
func clientCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fosim client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, clientUsage); fs.PrintDefaults() }
	server := fs.String("server", "127.0.0.1:500", "gateway address:port (with --transport tcp, its ike-tcp-port)")
	transport := fs.String("transport", client.TransportUDP, "udp, tcp for IKE over TCP (RFC 9329), or auto (UDP, then TCP)")
	tcpPort := fs.Int("tcp-port", 443, "with --transport auto: the gateway's ike-tcp-port")
	samlLogin := fs.Bool("saml", false, "log in through the gateway's SAML IdP first (FortiClient's SAML dial-up)")
	samlPort := fs.Int("saml-port", 0, "with --saml: the gateway's SAML port (ike-tcp-port or auth-ike-saml-port)")
	uid := fs.String("uid", "", "with --saml: the FortiClient UID (32 hex digits; default --fct-uid's, else a new one)")
	samlUser := fs.String("saml-user", "", "with --saml: fill the IdP's login form as this user")
	samlPasswordFile := fs.String("saml-password-file", "", "with --saml-user: read the IdP password from this file (else $FOSIM_SAML_PASSWORD)")
	samlTOTPFile := fs.String("saml-totp-file", "", "with --saml-user: a FortiToken TOTP secret (base32) to answer the IdP's token code")
	psk := fs.String("psk", "", "pre-shared key (seen in the process list: prefer --psk-file or $FOSIM_PSK)")
	pskFile := fs.String("psk-file", "", "read the pre-shared key from this file (first line)")
	id := fs.String("id", "", "our identity (IPv4 address or FQDN; default the local address)")
	proposal := fs.String("proposal", "aes128-sha256", "phase1 proposal (FortiOS name)")
	esp := fs.String("esp", "aes128-sha256", "phase2 proposal (FortiOS name)")
	dh := fs.Int("dh", 19, "DH group")
	modeCfg := fs.Bool("mode-cfg", false, "ask for a mode-cfg address")
	eapUser := fs.String("eap-user", "", "authenticate this user by EAP after the PSK (FortiClient's PSK + EAP)")
	eapPassword := fs.String("eap-password", "", "the EAP user's password (prefer --eap-password-file or $FOSIM_EAP_PASSWORD)")
	eapPasswordFile := fs.String("eap-password-file", "", "read the EAP password from this file (first line)")
	eapMethod := fs.String("eap-method", "mschapv2", "EAP method: mschapv2 or md5")
	fctUID := fs.String("fct-uid", "", "send FortiClient's FCT data with this FortiClient UID (32 hex digits)")
	fctIP := fs.String("fct-ip", "", "with --fct-uid: the IP address FortiClient reports (default the local address)")
	var fctMACs multiFlag
	fs.Var(&fctMACs, "fct-mac", "with --fct-uid: a MAC address FortiClient reports (00-0c-29-2c-4d-d7; repeatable)")
	fctHost := fs.String("fct-host", "", "with --fct-uid: the host name FortiClient reports (default this host's)")
	fctUser := fs.String("fct-user", "", "with --fct-uid: the user FortiClient reports (default $USER)")
	emsSN := fs.String("ems-sn", "", "with --fct-uid: the serial number of FortiClient's EMS (FCTEMS…)")
	emsTenant := fs.String("ems-tenant", "", "with --fct-uid: the tenant id of FortiClient's EMS")
	ztnaTokenFile := fs.String("ztna-token-file", "", "with --fct-uid: send the ZTNA token (JWT) in this file")
	emsAddr := fs.String("ems", "", "with --fct-uid: register with this EMS (HOST:PORT) before dialing, and dial with its answer")
	emsCAFile := fs.String("ems-ca-file", "", "with --ems: trust the EMS certificate in this PEM file (else it is not checked)")
	rekey := fs.Bool("rekey", false, "rekey the child SA and then the IKE SA once up")
	hold := fs.Duration("hold", 0, "keep the tunnel up this long before deleting it")
	data := fs.String("data", "", "ignored: the client keeps no state")
	for _, a := range args {
		if a == "--" {
			break
		}
		if isHelp(a) {
			fmt.Fprint(stdout, clientUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// exit reports why the client stops (code 2: its arguments, 1: the
	// dial) and returns code.
	exit := func(code int, why ...any) int {
		fmt.Fprintln(stderr, append([]any{"fosim client:"}, why...)...)
		return code
	}
	if *data != "" {
		fmt.Fprintln(stderr, "fosim client: --data is ignored: the client keeps no state")
	}
	for _, sec := range []struct {
		value      *string
		file, env  string
		flag, what string
	}{{psk, *pskFile, "FOSIM_PSK", "--psk-file", "pre-shared key"}, {eapPassword, *eapPasswordFile, "FOSIM_EAP_PASSWORD", "--eap-password-file", "EAP password"}} {
		v, err := secretFrom(*sec.value, sec.file, sec.env)
		if err != nil {
			return exit(2, sec.flag+":", err)
		}
		*sec.value = v
	}
	addr, err := netip.ParseAddrPort(*server)
	if err != nil {
		return exit(2, "--server:", err)
	}
	ikeS, err := suite.ParseIKE(*proposal)
	if err != nil {
		return exit(2, "--proposal:", err)
	}
	ikeS.DHGroup = uint16(*dh)
	espS, err := suite.ParseESP(*esp)
	if err != nil {
		return exit(2, "--esp:", err)
	}
	if *transport != client.TransportUDP && *transport != client.TransportTCP && *transport != "auto" {
		return exit(2, "--transport: udp, tcp or auto")
	}
	method := map[string]byte{"mschapv2": eap.MSCHAPv2, "md5": eap.MD5}[*eapMethod]
	if method == 0 {
		return exit(2, "--eap-method: mschapv2 or md5")
	}
	cfg := client.Config{Server: addr, PSK: []byte(*psk), ID: *id, IKE: ikeS, ESP: espS, ModeCfg: *modeCfg,
		EAPIdentity: *eapUser, EAPPassword: []byte(*eapPassword), EAPMethod: method, Transport: *transport}
	if err := fortiClientData(&cfg, *fctUID, *fctIP, fctMACs, *fctHost, *fctUser, *emsSN, *emsTenant, *ztnaTokenFile); err != nil {
		return exit(2, err)
	}
	switch {
	case *emsAddr == "" && *emsCAFile != "":
		return exit(2, "--ems-ca-file needs --ems")
	case *emsAddr != "" && cfg.FCT == nil:
		return exit(2, "--ems needs --fct-uid")
	case *emsAddr != "" && (*emsSN != "" || *emsTenant != ""):
		return exit(2, "--ems-sn and --ems-tenant come from the EMS with --ems")
	case *emsAddr != "":
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		reg, err := registerWithEMS(ctx, &cfg, *emsAddr, *emsCAFile, stderr)
		cancel()
		if err != nil {
			return exit(1, err)
		}
		fmt.Fprintf(stdout, "registered with EMS %s (tenant %s) as %s, IP %s: tags %s", reg.Serial, reg.TenantID, reg.Record.UID, reg.Record.IP, tagList(reg.Record.Tags))
		if reg.Token != "" {
			fmt.Fprintf(stdout, ", ZTNA token (len=%d)", len(reg.Token))
		}
		fmt.Fprintln(stdout)
	}
	if *samlLogin {
		// one FortiClient, one UID: its SAML login's and its FCT data's
		switch {
		case *uid == "":
			*uid = *fctUID
		case *fctUID != "" && !strings.EqualFold(*uid, *fctUID):
			return exit(2, "--uid and --fct-uid name two FortiClients: give one")
		}
		res, err := samlDialLogin(samlOptions{addr: addr.Addr(), port: *samlPort, uid: *uid, user: *samlUser, passwordFile: *samlPasswordFile, totpFile: *samlTOTPFile}, stdout, stderr)
		if err != nil {
			return exit(1, err)
		}
		cfg.EAPIdentity, cfg.EAPPassword, cfg.EAPMethod = res.uid, []byte(res.Token), eap.MSCHAPv2
	}
	start := time.Now()
	tun, used, err := dialTransport(cfg, *tcpPort, stderr)
	if err != nil {
		return exit(1, err)
	}
	fmt.Fprintf(stdout, "established with %s over %s (id %s) in %v: %s, dh %d, child SPIs %08x/%08x\n",
		used.Server, strings.ToUpper(used.Transport), tun.Responder, time.Since(start).Round(time.Millisecond), ikeS.Name(), *dh, tun.SPIIn, tun.SPIOut)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if tun.VirtualIP.IsValid() {
		fmt.Fprintf(stdout, "assigned address %s netmask %s dns %v split %v\n", tun.VirtualIP, tun.Netmask, tun.DNS, tun.Split)
	}
	if tun.ZTNATokenAccepted {
		fmt.Fprintln(stdout, "the gateway took the ZTNA token's tags (EMS_ZTNA_TAGS_CHECK_SUCCESS)")
	}
	if *rekey {
		if err := tun.RekeyChild(ctx); err != nil {
			return exit(1, "child SA rekey:", err)
		}
		fmt.Fprintf(stdout, "child SA rekeyed: SPIs %08x/%08x\n", tun.SPIIn, tun.SPIOut)
		if err := tun.RekeyIKE(ctx); err != nil {
			return exit(1, "IKE SA rekey:", err)
		}
		fmt.Fprintln(stdout, "IKE SA rekeyed")
	}
	if *hold > 0 {
		time.Sleep(*hold)
	}
	if err := tun.Delete(context.Background()); err != nil {
		return exit(1, "delete:", err)
	}
	fmt.Fprintln(stdout, "deleted")
	return 0
}

// secretFrom takes a secret from a flag, else from a file's first line,
// else from the environment: a flag is visible to every user in the
// process list, a file or the environment is not.
func secretFrom(flagValue, file, env string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(line, "\r"), nil
	}
	return os.Getenv(env), nil
}

// dialTransport dials cfg; with transport auto it tries UDP first and
// falls back to TCP on tcpPort when UDP gets no answer (a refusal is an
// answer: it does not fall back).
func dialTransport(cfg client.Config, tcpPort int, stderr io.Writer) (*client.Tunnel, client.Config, error) {
	if cfg.Transport != "auto" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		t, err := client.Dial(ctx, cfg)
		return t, cfg, err
	}
	udp := cfg
	udp.Transport = client.TransportUDP
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t, err := client.Dial(ctx, udp)
	cancel()
	var rejected client.ErrRejected
	if err == nil || errors.As(err, &rejected) || errors.Is(err, client.ErrEAPFailure) {
		return t, udp, err
	}
	fmt.Fprintf(stderr, "fosim client: no answer over UDP (%v): falling back to TCP port %d\n", err, tcpPort)
	tcp := cfg
	tcp.Transport = client.TransportTCP
	tcp.Server = netip.AddrPortFrom(cfg.Server.Addr(), uint16(tcpPort))
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t, err = client.Dial(ctx, tcp)
	return t, tcp, err
}

// fortiClientData puts FortiClient's FCT data and ZTNA token into cfg.
func fortiClientData(cfg *client.Config, uid, ip string, macs []string, host, user, emsSN, emsTenant, tokenFile string) error {
	if uid == "" {
		if ip != "" || len(macs) > 0 || emsSN != "" || emsTenant != "" || tokenFile != "" {
			return errors.New("--fct-ip, --fct-mac, --ems-sn, --ems-tenant and --ztna-token-file need --fct-uid")
		}
		return nil
	}
	if host == "" {
		host, _ = os.Hostname()
	}
	if user == "" {
		user = os.Getenv("USER")
	}
	d := &fctdata.Data{FCTVersion: "7.4.5.1949", UID: uid, MACs: macs, Host: host, User: user,
		OS: "fosim client", EMSSerial: emsSN, EMSTenant: emsTenant}
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			return fmt.Errorf("--fct-ip: %q is not an IPv4 address", ip)
		}
		d.IP = a
	} else if a := cfg.Local.Addr(); a.Is4() && !a.IsUnspecified() {
		d.IP = a
	}
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return fmt.Errorf("--ztna-token-file: %w", err)
		}
		cfg.ZTNAToken = strings.TrimSpace(string(b))
		d.Tags = true
	}
	if _, err := fctdata.Parse(d.Encode()); err != nil {
		return err
	}
	cfg.FCT = d
	return nil
}

// registerWithEMS registers cfg's FortiClient with its EMS, as
// FortiClient does before it dials, and puts the answer in its FCT data:
// the EMS serial number and tenant id, and the ZTNA token unless one was
// given. FortiClient reports its own address: without --fct-ip, the local
// address towards the gateway.
func registerWithEMS(ctx context.Context, cfg *client.Config, addr, caFile string, stderr io.Writer) (*ems.Registered, error) {
	d := cfg.FCT
	if !d.IP.IsValid() {
		a, err := localAddrTo(cfg.Server)
		if err != nil {
			return nil, fmt.Errorf("--ems: the address FortiClient reports: %v (give --fct-ip)", err)
		}
		d.IP = a
	}
	tlsCfg, err := emsTLS(addr, caFile, stderr)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	defer hc.CloseIdleConnections()
	reg, err := ems.Register(ctx, hc, addr, ems.Registration{UID: d.UID, IP: d.IP, MACs: d.MACs, Host: d.Host, User: d.User, OS: d.OS, FCTVersion: d.FCTVersion})
	if err != nil {
		return nil, err
	}
	d.EMSSerial, d.EMSTenant = reg.Serial, reg.TenantID
	if reg.Token != "" && cfg.ZTNAToken == "" {
		cfg.ZTNAToken, d.Tags = reg.Token, true
	}
	if _, err := fctdata.Parse(d.Encode()); err != nil {
		return nil, fmt.Errorf("the EMS's answer does not make FCT data: %w", err)
	}
	return reg, nil
}

// emsTLS trusts caFile's certificates for the EMS; without a file, any
// certificate, whose fingerprint is printed.
func emsTLS(addr, caFile string, stderr io.Writer) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--ems %q: %v", addr, err)
	}
	if caFile == "" {
		return &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				fp := sha256.Sum256(cs.PeerCertificates[0].Raw)
				fmt.Fprintf(stderr, "fosim client: EMS certificate not checked (no --ems-ca-file): %s, SHA-256 %X\n", cs.PeerCertificates[0].Subject, fp)
			}
			return nil
		}}, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--ems-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ems-ca-file %s: no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}, nil
}

// localAddrTo is the local IPv4 address the system routes to server by
// (a UDP "connection" sends nothing).
func localAddrTo(server netip.AddrPort) (netip.Addr, error) {
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(server))
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

func tagList(tags []ems.Tag) string {
	if len(tags) == 0 {
		return "none"
	}
	names := make([]string, len(tags))
	for i, t := range tags {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

// multiFlag is a flag given several times.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
