package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/fosim/fosim/daemons/iked/client"
	"github.com/fosim/fosim/daemons/iked/eap"
	"github.com/fosim/fosim/daemons/iked/suite"
)

// actionArgs are an action's words: key=value options and bare flags.
type actionArgs struct {
	values map[string]string
	flags  map[string]bool
	used   map[string]bool
}

func parseActionArgs(words []string) actionArgs {
	a := actionArgs{values: map[string]string{}, flags: map[string]bool{}, used: map[string]bool{}}
	for _, w := range words {
		if k, v, ok := strings.Cut(w, "="); ok {
			a.values[k] = v
		} else {
			a.flags[w] = true
		}
	}
	return a
}

func (a actionArgs) get(key, def string) string {
	a.used[key] = true
	if v, ok := a.values[key]; ok {
		return v
	}
	return def
}

func (a actionArgs) flag(name string) bool {
	a.used[name] = true
	return a.flags[name]
}

// unknown is an error naming the first option the action does not take, so
// that a typo in lab.txt is not silently ignored.
func (a actionArgs) unknown(action string) error {
	for k := range a.values {
		if !a.used[k] {
			return fmt.Errorf("! %s: unknown option %s=", action, k)
		}
	}
	for k := range a.flags {
		if !a.used[k] {
			return fmt.Errorf("! %s: unknown option %s", action, k)
		}
	}
	return nil
}

// dialTimeout bounds one dial (the client retransmits within it).
const dialTimeout = 5 * time.Second

// runAction performs "! WORD ARGS" and returns the lines it prints; an
// error is a mistake in the lab itself (an unknown action or option), not
// an outcome to compare: a refused dial is output.
func (r *runner) runAction(ctx context.Context, text string) (string, error) {
	words := strings.Fields(text)
	if len(words) == 0 {
		return "", fmt.Errorf("empty action")
	}
	verb, args := words[0], parseActionArgs(words[1:])
	switch verb {
	case "advance":
		// the appliance clock, as "diagnose sys clock advance" moves it,
		// printing nothing
		if len(words) != 2 {
			return "", fmt.Errorf("! advance DURATION (6m, 1h30m)")
		}
		d, err := time.ParseDuration(words[1])
		if err != nil || d <= 0 {
			return "", fmt.Errorf("! advance: bad duration %q", words[1])
		}
		r.app.clock.Advance(d)
		return "", nil
	case "dial":
		return r.dial(ctx, args)
	case "saml-login":
		return r.samlLogin(ctx, args)
	case "ems":
		return r.emsAction(words[1:])
	case "delete", "dpd", "rekey-child", "rekey-ike":
		name := args.get("as", "client")
		if err := args.unknown(verb); err != nil {
			return "", err
		}
		tun := r.tunnels[name]
		if tun == nil {
			return "", fmt.Errorf("! %s: no tunnel %q dialled", verb, name)
		}
		ctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		var err error
		var done string
		switch verb {
		case "delete":
			err, done = tun.Delete(ctx), "deleted"
			delete(r.tunnels, name)
		case "dpd":
			err, done = tun.DPD(ctx), "DPD answered"
		case "rekey-child":
			err = tun.RekeyChild(ctx)
			done = fmt.Sprintf("child SA rekeyed: SPIs %08x/%08x", tun.SPIIn, tun.SPIOut)
		case "rekey-ike":
			err, done = tun.RekeyIKE(ctx), "IKE SA rekeyed"
		}
		if err != nil {
			return fmt.Sprintf("%s failed: %v\n", verb, err), nil
		}
		return done + "\n", nil
	}
	return "", fmt.Errorf("unknown action %q (advance, dial, saml-login, delete, dpd, rekey-child, rekey-ike)", verb)
}

// dial connects fosim's own IKEv2 initiator to iked, as "fosim client"
// does, and keeps the tunnel under its name for later actions.
func (r *runner) dial(ctx context.Context, args actionArgs) (string, error) {
	name := args.get("as", "client")
	ikeS, err := suite.ParseIKE(args.get("proposal", "aes128-sha256"))
	if err != nil {
		return "", fmt.Errorf("! dial proposal=: %w", err)
	}
	dh, err := strconv.Atoi(args.get("dh", "19"))
	if err != nil {
		return "", fmt.Errorf("! dial dh=: %w", err)
	}
	ikeS.DHGroup = uint16(dh)
	espS, err := suite.ParseESP(args.get("esp", "aes128-sha256"))
	if err != nil {
		return "", fmt.Errorf("! dial esp=: %w", err)
	}
	from, err := netip.ParseAddr(args.get("from", "127.0.0.1"))
	if err != nil || !from.IsLoopback() {
		return "", fmt.Errorf("! dial from=: a 127.0.0.0/8 address")
	}
	method := map[string]byte{"mschapv2": eap.MSCHAPv2, "md5": eap.MD5}[args.get("eap-method", "mschapv2")]
	if method == 0 {
		return "", fmt.Errorf("! dial eap-method=: mschapv2 or md5")
	}
	cfg := client.Config{
		Server:      r.app.ike.Addrs()[0],
		PSK:         []byte(args.get("psk", "")),
		ID:          args.get("id", ""),
		IKE:         ikeS,
		ESP:         espS,
		ModeCfg:     args.flag("mode-cfg"),
		EAPIdentity: args.get("eap-user", ""),
		EAPPassword: []byte(args.get("eap-password", "")),
		EAPMethod:   method,
		Local:       netip.AddrPortFrom(from, 0),
	}
	if args.flag("saml") {
		// the token of this client's last "! saml-login", as FortiClient
		// dials after a SAML login
		t, ok := r.saml[name]
		if !ok || t.token == "" {
			return "", fmt.Errorf("! dial saml: no \"! saml-login as=%s\" before", name)
		}
		cfg.EAPIdentity, cfg.EAPPassword, cfg.EAPMethod = t.uid, []byte(t.token), eap.MSCHAPv2
	}
	if err := r.ztnaDialOptions(&cfg, name, args); err != nil {
		return "", err
	}
	if err := args.unknown("dial"); err != nil {
		return "", err
	}
	if old := r.tunnels[name]; old != nil {
		old.Close()
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	tun, err := client.Dial(ctx, cfg)
	if err != nil {
		return fmt.Sprintf("dial failed: %v\n", err), nil
	}
	r.tunnels[name] = tun
	var out strings.Builder
	fmt.Fprintf(&out, "established with %s (id %s): %s, dh %d, child SPIs %08x/%08x\n",
		cfg.Server, tun.Responder, ikeS.Name(), dh, tun.SPIIn, tun.SPIOut)
	if tun.VirtualIP.IsValid() {
		fmt.Fprintf(&out, "assigned address %s netmask %s dns %v split %v\n", tun.VirtualIP, tun.Netmask, tun.DNS, tun.Split)
	}
	if tun.ZTNATokenAccepted {
		out.WriteString("the gateway took the ZTNA token's tags (EMS_ZTNA_TAGS_CHECK_SUCCESS)\n")
	}
	return out.String(), nil
}
