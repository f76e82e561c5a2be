package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fosim/fosim/admin/control"
	"github.com/fosim/fosim/admin/https"
	"github.com/fosim/fosim/admin/sshd"
	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/authd"
	"github.com/fosim/fosim/daemons/fcnacd"
	"github.com/fosim/fosim/daemons/iked"
	"github.com/fosim/fosim/daemons/listen"
	"github.com/fosim/fosim/daemons/samld"
)

// applianceOptions say where the appliance's interfaces are on this host
// (Map), and hold the command-line overrides of the listeners: without
// them admin SSH and IKE listen where the configuration says.
type applianceOptions struct {
	// SSHAddr, when set, is the one admin SSH address (--ssh); else SSH
	// listens on admin-ssh-port of the interfaces with ssh in allowaccess.
	SSHAddr string
	// IKE is iked's options: with IKE.Addr set (--ike-addr) it listens
	// there for every phase1, else on the interfaces its phase1s name.
	IKE iked.Options
	// Map maps interfaces to host addresses and offsets low ports
	// (--map, --port-offset).
	Map listen.Map
	// Logf receives the SSH server's log lines.
	Logf func(format string, args ...any)
}

// appliance is one running appliance on a store: its daemons, its admin
// SSH server and its control socket. "fosim run" adds the console, "fosim
// serve" runs it headless; both start it here.
type appliance struct {
	App *cli.Appliance
	// Failed says, for each listener or daemon that could not start, which
	// and why; the rest of the appliance runs without it.
	Failed []error

	// Notes say what runs without an address to listen on (not failures).
	Notes []string

	ike      *iked.Daemon  // nil when iked did not start
	authd    *authd.Daemon // IKE SAML authentication (HTTPS)
	sup      *daemons.Supervisor
	ssh      *sshd.Server   // with --ssh
	sshSvc   *sshd.Service  // else: SSH where the configuration says
	httpsSvc *https.Service // HTTPS admin (REST API) where the configuration says
	control  *control.Server

	dataDir      string
	cancel       context.CancelFunc
	stopOnce     sync.Once
	stopErr      error
	wg           sync.WaitGroup
	serveErrs    chan error
	shutdown     chan struct{}
	shutdownOnce sync.Once
}

// startAppliance starts everything that runs on st. It never fails as a
// whole: a listener that cannot bind is listed in Failed and the rest
// runs, so that the console still opens and says what is missing.
func startAppliance(st *cmdb.Store, dataDir string, opt applianceOptions) *appliance {
	if opt.Logf == nil {
		opt.Logf = log.New(os.Stderr, "", log.LstdFlags).Printf
	}
	ctx, cancel := context.WithCancel(context.Background())
	app := cli.NewAppliance(st)
	app.DataDir = dataDir // the USB disk is its folder usb
	a := &appliance{App: app, dataDir: dataDir, cancel: cancel, serveErrs: make(chan error, 2), shutdown: make(chan struct{})}
	app.Shutdown = func() { a.shutdownOnce.Do(func() { close(a.shutdown) }) }

	// The appliance daemons and admin SSH, all listening through one
	// registry. samld and authd start before iked, which redeems authd's
	// SAML tokens.
	reg := &listen.Registry{}
	samlDaemon := samld.New()
	a.authd = authd.New(authd.SAMLD(samlDaemon))
	opt.IKE.SAML = a.authd
	// fcnacd, the EMS connector: a client of the EMSs, it listens nowhere;
	// iked asks it for the tags, serials and tokens of ZTNA posture checks.
	emsConnector := fcnacd.New(fcnacd.Options{})
	opt.IKE.EMS = emsConnector
	ikeDaemon := iked.New(opt.IKE)
	ds := []daemons.Daemon{samlDaemon, a.authd, ikeDaemon, emsConnector}
	// One lockout for SSH and HTTPS logins: an address locked out on one
	// is locked out on the other, as on FortiOS.
	lockout := cli.NewLoginGuard(app)
	if opt.SSHAddr == "" {
		a.sshSvc = &sshd.Service{Server: &sshd.Server{App: app, DataDir: dataDir, Logf: opt.Logf, Lockout: lockout}, Registry: reg, Map: &opt.Map}
		ds = append(ds, a.sshSvc)
	}
	a.httpsSvc = &https.Service{Server: &https.Server{App: app, VPN: ikeDaemon, Lockout: lockout}, Registry: reg, Map: &opt.Map}
	ds = append(ds, a.httpsSvc)
	a.sup = daemons.NewSupervisor(&daemons.Runtime{Store: st, Clock: app.Clock, Debug: app.Debug, Listen: reg, Map: &opt.Map}, ds...)
	if err := a.sup.Start(ctx); err != nil {
		what := "IKE is"
		if a.sshSvc != nil {
			what = "IKE and admin SSH are"
		}
		a.Failed = append(a.Failed, fmt.Errorf("%s not running: %w", what, err))
		a.sshSvc = nil
	} else {
		a.ike = ikeDaemon
		app.VPN = ikeDaemon
		app.EMS = emsConnector
		if a.sshSvc != nil {
			for _, err := range a.sshSvc.Failures() {
				a.Failed = append(a.Failed, fmt.Errorf("admin SSH: %w", err))
			}
			if len(a.sshSvc.Addrs()) == 0 && len(a.sshSvc.Failures()) == 0 {
				a.Notes = append(a.Notes, "admin SSH listens nowhere: no interface with ssh in allowaccess has an address on this host (give one a static ip this host has, or map it: --map port1=127.0.0.1)")
			}
		}
		for _, err := range a.httpsSvc.Failures() {
			a.Failed = append(a.Failed, fmt.Errorf("HTTPS admin: %w", err))
		}
		for _, err := range a.authd.Failures() {
			a.Failed = append(a.Failed, fmt.Errorf("IKE SAML authentication: %w", err))
		}
		if opt.IKE.Addr == "" && len(ikeDaemon.Addrs()) == 0 && len(ikeDaemon.Phase1s()) > 0 {
			a.Notes = append(a.Notes, "IKE listens nowhere: the interfaces the phase1s name have no address on this host (map them: --map port1=127.0.0.1); see diagnose debug application ike -1")
		}
	}

	if opt.SSHAddr != "" {
		srv := &sshd.Server{App: app, DataDir: dataDir, Logf: opt.Logf, Lockout: lockout}
		if err := srv.Listen(opt.SSHAddr); err != nil {
			a.Failed = append(a.Failed, fmt.Errorf("admin SSH is not running: %w", err))
		} else {
			a.ssh = srv
			a.goServe(func() error { return srv.Serve(ctx) })
		}
	}

	ctl := &control.Server{App: app, UID: os.Getuid()}
	if err := ctl.Listen(dataDir); err != nil {
		a.Failed = append(a.Failed, fmt.Errorf("the control socket is not running (fosim show|get|apply|backup|restore cannot reach this appliance): %w", err))
	} else {
		a.control = ctl
		a.goServe(ctl.Serve)
	}
	return a
}

func (a *appliance) goServe(serve func() error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := serve(); err != nil {
			a.serveErrs <- err
		}
	}()
}

// Listening says where the appliance listens, in one line.
func (a *appliance) Listening() string {
	var parts []string
	if a.ssh != nil {
		parts = append(parts, fmt.Sprintf("SSH on %s", a.ssh.Addr()))
	}
	if a.sshSvc != nil && len(a.sshSvc.Addrs()) > 0 {
		parts = append(parts, fmt.Sprintf("SSH on %v", a.sshSvc.Addrs()))
	}
	if a.httpsSvc != nil && len(a.httpsSvc.Addrs()) > 0 {
		parts = append(parts, fmt.Sprintf("HTTPS on %v", a.httpsSvc.Addrs()))
	}
	if a.ike != nil && len(a.ike.Addrs()) > 0 {
		parts = append(parts, fmt.Sprintf("IKE on UDP %v", a.ike.Addrs()))
	}
	if a.ike != nil && len(a.ike.TCPAddrs()) > 0 {
		parts = append(parts, fmt.Sprintf("IKE on TCP %v", a.ike.TCPAddrs()))
	}
	if a.authd != nil && len(a.authd.Addrs()) > 0 {
		parts = append(parts, fmt.Sprintf("IKE SAML (HTTPS) on %v", a.authd.Addrs()))
	}
	if a.control != nil {
		parts = append(parts, "control socket "+a.control.Path())
	}
	if len(parts) == 0 {
		return fmt.Sprintf("fosim: no listener running (data %s)", a.dataDir)
	}
	return fmt.Sprintf("fosim: %s (data %s)", strings.Join(parts, ", "), a.dataDir)
}

// ShutdownRequested is closed by "execute shutdown".
func (a *appliance) ShutdownRequested() <-chan struct{} { return a.shutdown }

// Stop closes the control socket (host commands then open the store
// themselves, once the caller closes it), the SSH server and its
// sessions, and the daemons within a bound; it returns what went wrong.
// Later calls return the first one's answer.
func (a *appliance) Stop() error {
	a.stopOnce.Do(func() { a.stopErr = a.stop() })
	return a.stopErr
}

func (a *appliance) stop() error {
	var errs []error
	if a.control != nil {
		errs = append(errs, a.control.Close())
	}
	if a.ssh != nil {
		errs = append(errs, a.ssh.Close())
	}
	a.cancel()
	a.wg.Wait()
	close(a.serveErrs)
	for err := range a.serveErrs {
		errs = append(errs, err)
	}
	errs = append(errs, a.sup.Stop(5*time.Second))
	return errors.Join(errs...)
}

// stopSignals end an appliance process: Ctrl-C where the terminal sends
// it, kill, and the terminal closing.
var stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}
