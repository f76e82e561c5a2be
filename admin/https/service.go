package https

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/listen"
)

// Service is HTTPS admin access as the supervisor runs it: it listens on
// admin-sport (system global) of every interface whose allowaccess has
// https, through the listener registry, with the certificate
// admin-server-cert names, and rebinds when either changes. A port that
// cannot be bound, or that another service without a prefix already takes
// on the same address, refuses the commit. IKE over TCP on the same port
// shares it: the registry gives iked the connections that start with
// "IKETCP", this service the rest, unless authd (IKE SAML) serves that
// port on the interface: it has precedence, as on FortiOS 7.6.3.
type Service struct {
	Server   *Server
	Registry *listen.Registry
	Map      *listen.Map

	mu      sync.Mutex
	cfg     httpsConfig
	cert    *tls.Certificate
	certErr error // why the last certificate could not be read
	pool    *listen.Pool
	http    *http.Server
}

// httpsConfig is what decides where HTTPS listens: admin-sport on the
// interfaces with https in allowaccess (by name, their static addresses),
// with admin-server-cert.
type httpsConfig struct {
	port     int
	certName string
	ifaces   map[string]netip.Addr
}

// Name is the service's debug name.
func (s *Service) Name() string { return "httpsd" }

// Tables are the tables that move the listeners or the certificate.
func (s *Service) Tables() []string {
	return []string{"system global", "system interface", "vpn certificate local"}
}

// Start binds the configured listeners and serves them. An address that
// cannot be bound does not stop the appliance: Failures says which.
func (s *Service) Start(ctx context.Context, rt *daemons.Runtime) error {
	s.Server.init()
	s.pool = &listen.Pool{Registry: s.Registry, Route: route, Serve: func(ln net.Listener, _ string) {
		s.http.ServeTLS(netutil.LimitListener(ln, maxConns), "", "")
	}}
	s.http = &http.Server{
		Handler:           s.Server,
		TLSConfig:         &tls.Config{GetCertificate: s.certificate, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		// a client's bad handshake is its own problem, not the log's
		ErrorLog: log.New(io.Discard, "", 0),
	}
	s.reload(rt.Store)
	return nil
}

func (s *Service) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cert == nil {
		return nil, fmt.Errorf("admin-server-cert %q has no usable certificate and key", s.cfg.certName)
	}
	return s.cert, nil
}

// reload reads the committed configuration and rebinds to it.
func (s *Service) reload(st *cmdb.Store) {
	var cfg httpsConfig
	var cert *tls.Certificate
	var certErr error
	st.ReadCommitted(func(v cmdb.View, _ uint64, sec *cmdb.Secrets) {
		cfg = readHTTPSConfig(st.Schema(), v)
		cert, certErr = loadCertificate(st.Schema(), v, sec, "admin-server-cert", cfg.certName)
	})
	s.mu.Lock()
	s.cfg = cfg
	s.certErr = certErr
	if certErr == nil { // else the old certificate stays in use
		s.cert = cert
	}
	s.mu.Unlock()
	s.pool.Set(s.wanted(cfg))
}

// loadCertificate reads a "vpn certificate local" entry: its PEM
// certificate and its private key, a secret decrypted with sec.
func loadCertificate(schema *cmdb.Schema, v cmdb.View, sec *cmdb.Secrets, setting, name string) (*tls.Certificate, error) {
	t := schema.Table("vpn certificate local")
	e := v.Entry("vpn certificate local", name)
	if t == nil || e == nil {
		return nil, fmt.Errorf("%s %q: no such vpn certificate local", setting, name)
	}
	certPEM := strings.Join(e.Get(t.Attr("certificate")), " ")
	key := e.Get(t.Attr("private-key"))
	if len(key) != 2 || key[0] != "ENC" {
		return nil, fmt.Errorf("%s %q has no private key", setting, name)
	}
	keyPEM, err := sec.Decrypt(key[1])
	if err != nil {
		return nil, fmt.Errorf("%s %q: private key: %w", setting, name, err)
	}
	c, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", setting, name, err)
	}
	return &c, nil
}

// Failures are what the last rebind could not do, and why.
func (s *Service) Failures() []error {
	s.mu.Lock()
	certErr := s.certErr
	s.mu.Unlock()
	if certErr != nil {
		return append(s.pool.Failures(), certErr)
	}
	return s.pool.Failures()
}

// readHTTPSConfig reads admin-sport, admin-server-cert and the
// interfaces from v (defaults when unset).
func readHTTPSConfig(schema *cmdb.Schema, v cmdb.View) httpsConfig {
	r := cmdb.Reader{Schema: schema, View: v}
	cfg := httpsConfig{port: 443, certName: "Fortinet_GUI_Server", ifaces: r.InterfacesAllowing("https")}
	if n, err := strconv.Atoi(r.Single("system global", "admin-sport")); err == nil {
		cfg.port = n
	}
	if c := r.Single("system global", "admin-server-cert"); c != "" {
		cfg.certName = c
	}
	return cfg
}

// wanted is where cfg makes HTTPS listen, by address.
func (s *Service) wanted(cfg httpsConfig) map[netip.AddrPort]string {
	return s.Map.Listen(cfg.ifaces, cfg.port)
}

var route = listen.Route{Owner: "httpsd"}

// maxConns bounds the connections served at once on one address: past it
// a flood waits in the listener registry, which holds a bounded number
// and closes what no one takes within its delivery timeout, instead of
// costing a TLS handshake each.
const maxConns = 128

// Validate refuses a change that would make HTTPS listen where it cannot:
// a port the host will not give, or one another service of the same
// precedence takes wholly on that address. authd (IKE SAML on
// ike-tcp-port) has precedence: HTTPS bound beside it waits, and the
// GUI and REST API are lost on that interface, as FortiOS 7.6.3 gives
// IKE's port precedence ("GUI warnings for IKE-TCP port conflicts").
func (s *Service) Validate(cs *cmdb.ChangeSet, after cmdb.View) error {
	next := readHTTPSConfig(s.Server.App.Store.Schema(), after)
	if addr, iface, err := s.pool.Check(s.wanted(next)); err != nil {
		return &cmdb.Error{Msg: fmt.Sprintf("cannot listen for HTTPS on %s (interface %s, admin-sport %d): %v", addr, iface, next.port, err), Code: cmdb.CodeCheck}
	}
	return nil
}

// Apply moves the listeners to the committed configuration.
func (s *Service) Apply(cs *cmdb.ChangeSet) error {
	s.reload(s.Server.App.Store)
	return errors.Join(s.Failures()...)
}

// Addrs are the addresses HTTPS listens on now.
func (s *Service) Addrs() []netip.AddrPort { return s.pool.Addrs() }

// Stop closes the listeners and every connection.
func (s *Service) Stop(ctx context.Context) error {
	s.pool.Close()
	err := s.http.Close()
	if werr := s.pool.Wait(ctx); werr != nil {
		return werr
	}
	return err
}
