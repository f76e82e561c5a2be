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
	keys, err := ems.LoadKeys(r.ems.dir)
	if err != nil {
		return "", err
	}
	pool := x509.NewCertPool()
	pool.AddCert(keys.Cert)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}}
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
	var body struct {
		Token string `json:"token"`
	}
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

// ztnaDialOptions puts the FCT data and the token into a dial's config.
func (r *runner) ztnaDialOptions(cfg *client.Config, name string, args actionArgs) error {
	fct, err := fctOptions(args)
	if err != nil {
		return err
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
