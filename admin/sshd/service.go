package sshd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/listen"
)

// Service is admin SSH as the supervisor runs it: it listens where the
// configuration says, on admin-ssh-port (system global) of every interface
// whose allowaccess has ssh, through the listener registry, and rebinds
// when either changes. A port that cannot be bound refuses the commit.
type Service struct {
	Server   *Server
	Registry *listen.Registry
	Map      *listen.Map

	pool *listen.Pool
}

// sshConfig is what decides where SSH listens: admin-ssh-port on the
// interfaces with ssh in allowaccess (by name, their static addresses).
type sshConfig struct {
	port   int
	ifaces map[string]netip.Addr
}

// Name is the service's debug name.
func (s *Service) Name() string { return "sshd" }

// Tables are the tables that move the listeners.
func (s *Service) Tables() []string { return []string{"system global", "system interface"} }

// Start binds the configured listeners and serves them. An address that
// cannot be bound does not stop the appliance: Failures says which.
func (s *Service) Start(ctx context.Context, rt *daemons.Runtime) error {
	if err := s.Server.Prepare(); err != nil {
		return err
	}
	s.pool = &listen.Pool{Registry: s.Registry, Route: listen.Route{Owner: "sshd"},
		Serve: func(ln net.Listener, _ string) { s.Server.ServeListener(ln) }}
	s.reload(rt.Store)
	return nil
}

// reload reads the committed configuration and rebinds to it.
func (s *Service) reload(st *cmdb.Store) {
	var cfg sshConfig
	st.ReadCommitted(func(v cmdb.View, _ uint64, _ *cmdb.Secrets) { cfg = readSSHConfig(st.Schema(), v) })
	s.pool.Set(s.wanted(cfg))
}

// Failures are the addresses the last rebind could not bind, and why.
func (s *Service) Failures() []error { return s.pool.Failures() }

// readSSHConfig reads the port (system global admin-ssh-port, its
// default when unset) and the interfaces from v.
func readSSHConfig(schema *cmdb.Schema, v cmdb.View) sshConfig {
	r := cmdb.Reader{Schema: schema, View: v}
	cfg := sshConfig{port: 22, ifaces: r.InterfacesAllowing("ssh")}
	if n, err := strconv.Atoi(r.Single("system global", "admin-ssh-port")); err == nil {
		cfg.port = n
	}
	return cfg
}

// wanted is where cfg makes SSH listen, by address.
func (s *Service) wanted(cfg sshConfig) map[netip.AddrPort]string {
	return s.Map.Listen(cfg.ifaces, cfg.port)
}

// Validate refuses a change that would make SSH listen where it cannot.
func (s *Service) Validate(cs *cmdb.ChangeSet, after cmdb.View) error {
	// after, not the running configuration: the previous commit may not
	// be applied yet
	next := readSSHConfig(s.Server.App.Store.Schema(), after)
	if addr, iface, err := s.pool.Check(s.wanted(next)); err != nil {
		return &cmdb.Error{Msg: fmt.Sprintf("cannot listen for SSH on %s (interface %s, admin-ssh-port %d): %v", addr, iface, next.port, err), Code: cmdb.CodeCheck}
	}
	return nil
}

// Apply moves the listeners to the committed configuration.
func (s *Service) Apply(cs *cmdb.ChangeSet) error {
	s.reload(s.Server.App.Store)
	return errors.Join(s.pool.Failures()...)
}

// Addrs are the addresses SSH listens on now.
func (s *Service) Addrs() []netip.AddrPort { return s.pool.Addrs() }

// Stop closes the listeners and every session.
func (s *Service) Stop(ctx context.Context) error {
	s.pool.Close()
	s.Server.Close()
	if err := s.pool.Wait(ctx); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { s.Server.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
