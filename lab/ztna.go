package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/fosim/fosim/daemons/iked/client"
	"github.com/fosim/fosim/daemons/iked/fctdata"
	"github.com/fosim/fosim/peers/ems"
)

// A lab's FortiClient posture (seed 002): "! dial … fct-uid=…" sends FCT
// data, "! ems token uid=… [as=NAME]" fetches the endpoint's ZTNA token
// from the lab's EMS as FortiClient does, and "! dial … ztna-token" sends
// the token NAME fetched last.

// fctOptions reads the FCT data options of "! dial"; nil without fct-uid.
func fctOptions(args actionArgs) (*fctdata.Data, error) {
	uid := args.get("fct-uid", "")
	d := &fctdata.Data{
		UID:        uid,
		FCTVersion: args.get("fctver", "7.4.5.1949"),
		Host:       args.get("fct-host", "DESKTOP-FOSIM"),
		User:       args.get("fct-user", "tester"),
		OS:         args.get("fct-os", "Microsoft Windows 10 , 64-bit (build 19045)"),
		EMSSerial:  args.get("ems-sn", ""),
		EMSTenant:  args.get("ems-tenant", ""),
		Tags:       args.flag("fct-tags"),
	}
	ip := args.get("fct-ip", "")
	macs := args.get("fct-mac", "")
	if uid == "" {
		return nil, nil
	}
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("! dial fct-ip=: an IPv4 address")
		}
		d.IP = a
	}
	for _, m := range strings.Split(macs, ";") {
		if m != "" {
			d.MACs = append(d.MACs, m)
		}
	}
	// what FortiClient sends must be what a FortiGate can read
	if _, err := fctdata.Parse(d.Encode()); err != nil {
		return nil, fmt.Errorf("! dial: %w", err)
	}
	return d, nil
}

// emsToken is "! ems token uid=UID [as=NAME]": FortiClient's request for
// its ZTNA token (POST /api/v1/endpoints/{uid}/token), over HTTPS to the
// lab's EMS with its certificate pinned, as a registered FortiClient
// trusts its EMS.
func (r *runner) emsToken(ctx context.Context, words []string) (string, error) {
	args := parseActionArgs(words)
	uid := args.get("uid", "")
	name := args.get("as", "client")
	if err := args.unknown("ems token"); err != nil {
		return "", err
	}
	if uid == "" {
		return "", fmt.Errorf("! ems token uid=UID [as=NAME]")
	}
	hc := r.emsClient()
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("https://127.0.0.1:%d/api/v1/endpoints/%s/token", r.ems.port, uid), nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "ZTNA token: the EMS did not answer\n", nil
	}
	defer resp.Body.Close()
	var body ems.TokenAnswer
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("ZTNA token refused by the EMS: %s\n", strings.TrimSpace(string(b))), nil
	}
	if err := json.Unmarshal(b, &body); err != nil || body.Token == "" {
		return "", fmt.Errorf("! ems token: the EMS answered %q", b)
	}
	r.ztna[name] = body.Token
	return fmt.Sprintf("ZTNA token of %s from the EMS (len=%d)\n", uid, len(body.Token)), nil
}

// emsClient is an HTTPS client of the lab's EMS with its certificate
// pinned, as a registered FortiClient trusts its EMS.
func (r *runner) emsClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(r.ems.srv.Keys().Cert)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}}
}

// emsRegister is "! ems register uid=UID ip=IP [mac=M;M…] [host=H]
// [user=U] [os=OS] [fctver=V] [as=NAME]": FortiClient's registration with
// the lab's EMS (what "fosim client --ems" does before it dials). The
// answer's EMS serial and tenant id are what "! dial … registered" sends,
// its token what "! dial … ztna-token" sends. It then waits, boundedly,
// until the FortiGate's connector has the endpoint (on push).
func (r *runner) emsRegister(ctx context.Context, words []string) (string, error) {
	args := parseActionArgs(words)
	reg := ems.Registration{
		UID:        args.get("uid", ""),
		Host:       args.get("host", "DESKTOP-FOSIM"),
		User:       args.get("user", "tester"),
		OS:         args.get("os", "Microsoft Windows 10 , 64-bit (build 19045)"),
		FCTVersion: args.get("fctver", "7.4.5.1949"),
	}
	ip := args.get("ip", "")
	for _, m := range strings.Split(args.get("mac", ""), ";") {
		if m != "" {
			reg.MACs = append(reg.MACs, m)
		}
	}
	name := args.get("as", "client")
	if err := args.unknown("ems register"); err != nil {
		return "", err
	}
	a, err := netip.ParseAddr(ip)
	if reg.UID == "" || err != nil {
		return "", fmt.Errorf("! ems register uid=UID ip=IPV4 [mac=M;M] [host=H] [user=U] [os=OS] [fctver=V] [as=NAME]")
	}
	reg.IP = a
	hc := r.emsClient()
	defer hc.CloseIdleConnections()
	answer, err := ems.Register(ctx, hc, fmt.Sprintf("127.0.0.1:%d", r.ems.port), reg)
	if err != nil {
		return fmt.Sprintf("registration failed: %v\n", err), nil
	}
	r.emsReg[name] = answer
	var tags []string
	for _, t := range answer.Record.Tags {
		tags = append(tags, t.Name)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "registered %s with EMS %s (tenant %s): tags %s", answer.Record.UID, answer.Serial, answer.TenantID, strings.Join(tags, ", "))
	if answer.Token != "" {
		r.ztna[name] = answer.Token
		fmt.Fprintf(&out, "; ZTNA token (len=%d)", len(answer.Token))
	}
	out.WriteString("\n")
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if r.fortiGateHas(answer.Record) {
			out.WriteString("the FortiGate has the endpoint\n")
			break
		}
		if time.Now().After(deadline) {
			out.WriteString("the FortiGate has not heard of the endpoint\n")
			break
		}
	}
	return out.String(), nil
}

// fortiGateHas tells whether the connector holds rec as the EMS has it
// now (its IP: a re-registration moves it).
func (r *runner) fortiGateHas(rec ems.Record) bool {
	for _, e := range r.app.fcnacd.Endpoints() {
		if e.UID == rec.UID && e.IP == rec.IP {
			return true
		}
	}
	return false
}

// ztnaDialOptions puts the FCT data and the token into a dial's config.
func (r *runner) ztnaDialOptions(cfg *client.Config, name string, args actionArgs) error {
	fct, err := fctOptions(args)
	if err != nil {
		return err
	}
	if args.flag("registered") {
		reg, ok := r.emsReg[name]
		if !ok || fct == nil {
			return fmt.Errorf("! dial registered: needs fct-uid= and an \"! ems register as=%s\" before", name)
		}
		fct.EMSSerial, fct.EMSTenant = reg.Serial, reg.TenantID
	}
	if args.flag("ztna-token") {
		tok, ok := r.ztna[name]
		if !ok {
			return fmt.Errorf("! dial ztna-token: no \"! ems token as=%s\" before", name)
		}
		if fct == nil {
			return fmt.Errorf("! dial ztna-token: needs fct-uid=")
		}
		fct.Tags = true
		cfg.ZTNAToken = tok
	}
	cfg.FCT = fct
	return nil
}

// emsTunnels is "! ems tunnels": the endpoints the EMS marked off the VPN
// after a FortiGate's tunnel-down message, waiting (boundedly) for the
// message, which fcnacd sends in the background.
func (r *runner) emsTunnels() string {
	var downs []ems.TunnelDown
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if downs = r.ems.srv.TunnelDowns(); len(downs) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(downs) == 0 {
		return "no tunnel-down message\n"
	}
	var out strings.Builder
	for _, t := range downs {
		fmt.Fprintf(&out, "%s: tunnel down (intf=%s, addr=%s, vdom=%s) from FortiGate %s\n", t.UID, t.Interface, t.Addr, t.VDOM, t.FortiGate)
	}
	return out.String()
}
