// Package authd is the appliance's authentication daemon for IPsec SAML
// users (FortiOS 7.6): it serves HTTPS on the interfaces that have `set
// ike-saml-server`, at auth-ike-saml-port and on ike-tcp-port, where the
// listener registry hands it every connection that does not start with
// IKETCP (seed 000). It runs FortiClient's SAML login (/saml_login, the
// redirect to the IdP through samld, the assertion consumer) and issues
// the one-use token FortiClient then dials IKEv2 with; iked redeems it
// through package authapi.
package authd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/debuglog"
	"github.com/fosim/fosim/daemons/listen"
)

// SAML is the service provider authd hands SAML to (samld).
type SAML interface {
	// Login starts an SP-initiated login through `config user saml`
	// entry server: where to send the browser.
	Login(server, relayState string) (requestID, redirectURL string, err error)
	// Consume verifies a SAMLResponse posted to acsURL for server.
	Consume(server, acsURL, samlResponse string) (*Assertion, error)
	// Metadata is server's SP metadata.
	Metadata(server string) ([]byte, error)
	// Logout handles what the IdP sends to the single logout URL and
	// returns where to send the browser next ("" for none).
	Logout(server string, query url.Values) (string, error)
}

// Assertion is what a verified SAML Response says of the user.
type Assertion struct {
	User      string // the user-name attribute, "" when missing
	Groups    []string
	RequestID string // the AuthnRequest it answers (InResponseTo)
}

// Daemon is authd.
type Daemon struct {
	saml SAML

	rt  *daemons.Runtime
	log *debuglog.Logger

	pool *listen.Pool
	srv  *http.Server // of every listener

	mu      sync.Mutex
	cfg     config
	pending map[string]*pendingLogin // by the 16-hex id of /saml?<id>
	tokens  map[string][]*issued     // by FortiClient UID, oldest first
	stopped bool
}

// New returns authd handing SAML to saml.
func New(saml SAML) *Daemon { return &Daemon{saml: saml} }

// Name is the debug application ("diagnose debug application authd").
func (d *Daemon) Name() string { return "authd" }

// Tables are those that move authd's listeners and logins.
func (d *Daemon) Tables() []string {
	return []string{"system settings", "system global", "system interface", "user setting", "user group", "user saml", "vpn certificate local"}
}

// Start reads the configuration and listens.
func (d *Daemon) Start(ctx context.Context, rt *daemons.Runtime) error {
	d.rt = rt
	d.log = rt.Debug.Logger("authd")
	d.mu.Lock()
	d.pending = map[string]*pendingLogin{}
	d.tokens = map[string][]*issued{}
	d.stopped = false
	d.mu.Unlock()
	d.srv = d.newServer()
	tlsCfg := &tls.Config{GetCertificate: d.certificate, MinVersion: tls.VersionTLS12}
	d.pool = &listen.Pool{Registry: rt.Listen, Route: route, Serve: func(ln net.Listener, iface string) {
		// at most maxConns at once per address; the registry closes
		// what waits longer than its delivery timeout
		d.srv.Serve(tls.NewListener(labelled{netutil.LimitListener(ln, maxConns), iface}, tlsCfg))
	}}
	d.reload()
	return nil
}

func (d *Daemon) read(v cmdb.View, sec *cmdb.Secrets) config {
	return readConfig(reader{cmdb.Reader{Schema: d.rt.Store.Schema(), View: v}}, sec)
}

func (d *Daemon) reload() {
	var cfg config
	d.rt.Store.ReadCommitted(func(v cmdb.View, _ uint64, sec *cmdb.Secrets) { cfg = d.read(v, sec) })
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	d.cfg = cfg
	d.mu.Unlock()
	if cfg.cert == nil && len(cfg.ifaces) > 0 {
		d.log.Printf(1, "authd: SAML HTTPS has no certificate: %s", cfg.certProblem)
	}
	for _, err := range d.pool.Set(d.wanted(cfg)) {
		d.log.Printf(1, "authd: %v", err)
	}
}

// wanted is where cfg makes authd listen: both SAML ports of every
// interface with an ike-saml-server that this host has, labelled by the
// interface whose SAML server they serve.
func (d *Daemon) wanted(cfg config) map[netip.AddrPort]string {
	ifaces := map[string]netip.Addr{}
	for _, i := range cfg.ifaces {
		ifaces[i.name] = i.addr
	}
	out := d.rt.Map.Listen(ifaces, cfg.ikeTCPPort)
	maps.Copy(out, d.rt.Map.Listen(ifaces, cfg.samlPort))
	return out
}

// route is authd's claim on a port: what no prefix claims, ahead of admin
// HTTPS on the same port (FortiOS 7.6.3: IKE's port takes precedence and
// the GUI is lost on that interface).
var route = listen.Route{Owner: "authd", Precedence: 1}

// Validate refuses what FortiOS refuses, and ports authd cannot take.
func (d *Daemon) Validate(cs *cmdb.ChangeSet, after cmdb.View) error {
	// after, not d.cfg: the previous commit may not be applied yet. No
	// secrets: the certificate is checked when it is applied.
	next := d.read(after, nil)
	// auth-ike-saml-port equal to ike-tcp-port is the CMDB's own check
	// (cmdb/checks.go), as on FortiOS.
	if addr, iface, err := d.pool.Check(d.wanted(next)); err != nil {
		return &cmdb.Error{Msg: fmt.Sprintf("cannot serve IKE SAML authentication on %s (interface %s): %v", addr, iface, err), Code: cmdb.CodeCheck}
	}
	return nil
}

// Apply moves to the committed configuration.
func (d *Daemon) Apply(cs *cmdb.ChangeSet) error {
	d.reload()
	return errors.Join(d.pool.Failures()...)
}

// certificate is the auth-cert of the running configuration, read at
// each handshake so that a changed certificate applies at once.
func (d *Daemon) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cfg.cert == nil {
		return nil, errors.New(d.cfg.certProblem)
	}
	return d.cfg.cert, nil
}

// Addrs are the addresses authd serves now.
func (d *Daemon) Addrs() []netip.AddrPort { return d.pool.Addrs() }

// Failures are the addresses the last rebind could not take, and why.
func (d *Daemon) Failures() []error { return d.pool.Failures() }

// Stop closes every listener and connection.
func (d *Daemon) Stop(ctx context.Context) error {
	d.mu.Lock()
	d.stopped = true
	d.mu.Unlock()
	d.pool.Close()
	d.srv.Close()
	return d.pool.Wait(ctx)
}

// labelled tags the connections of a listener with the interface it
// serves, for the handlers (see newServer's ConnContext and serverOf).
type labelled struct {
	net.Listener
	iface string
}

func (l labelled) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return labelledConn{c, l.iface}, nil
}

type labelledConn struct {
	net.Conn
	iface string
}

// now is the appliance clock.
func (d *Daemon) now() time.Time { return d.rt.Clock.Now() }
