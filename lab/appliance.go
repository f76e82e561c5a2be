package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/authd"
	"github.com/fosim/fosim/daemons/debuglog"
	"github.com/fosim/fosim/daemons/fcnacd"
	"github.com/fosim/fosim/daemons/iked"
	"github.com/fosim/fosim/daemons/listen"
	"github.com/fosim/fosim/daemons/samld"
)

// factoryBackup is the factory configuration every lab unit starts from.
var factoryBackup = cmdb.SharedFactoryBackup

// appliance is one FortiGate in process: the store in a temporary
// directory, the daemons under their supervisor, and the console.
type appliance struct {
	dir     string
	st      *cmdb.Store
	clock   *clock.Clock
	ike     *iked.Daemon
	fcnacd  *fcnacd.Daemon
	sup     *daemons.Supervisor
	console *cli.Shell
	out     *capture
}

// startAppliance boots a factory-default unit, applies config as a script
// (all or nothing, as "fosim apply"), then starts the daemons and opens
// the console as admin.
func startAppliance(ctx context.Context, config, configName string, clk *clock.Clock) (a *appliance, err error) {
	a = &appliance{out: newCapture()}
	a.dir, err = os.MkdirTemp("", "fosim-lab-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	factory, err := factoryBackup()
	if err != nil {
		return nil, fmt.Errorf("factory configuration: %w", err)
	}
	schema, err := cmdb.LoadSchema()
	if err != nil {
		return nil, err
	}
	if a.st, err = cmdb.Open(a.dir, schema, cmdb.Options{NoSync: true}); err != nil {
		return nil, err
	}
	if res, err := a.st.Restore(factory, "admin", false); err != nil {
		return nil, fmt.Errorf("factory configuration: %w %v", err, res.Errors)
	}
	if strings.TrimSpace(config) != "" {
		res := cmdb.RunScript(a.st.NewSession("admin", "lab "+configName), config, cmdb.ScriptOptions{Atomic: true})
		if len(res.Errors) > 0 {
			var msgs []string
			for _, e := range res.Errors {
				msgs = append(msgs, fmt.Sprintf("%s:%d:%d: %v", configName, e.Pos.Line, e.Pos.Col, e.Err))
			}
			return nil, errors.New(strings.Join(msgs, "\n"))
		}
	}
	a.clock = clk
	app := &cli.Appliance{Store: a.st, Clock: a.clock, Debug: debuglog.New(a.clock.Now), Started: a.clock.Now(), DataDir: a.dir}
	// The ports were free a moment ago; another process may take one
	// before iked binds it, so a lab tries fresh ones a few times.
	for attempt := 1; ; attempt++ {
		ports, err := freeUDPPorts(2)
		if err != nil {
			return nil, err
		}
		// authd serves SAML on port1's ports (127.0.0.1); iked's IKE
		// over TCP shares ike-tcp-port with it through one registry
		saml := samld.New()
		auth := authd.New(authd.SAMLD(saml))
		a.fcnacd = fcnacd.New(fcnacd.Options{})
		a.ike = iked.New(iked.Options{Addr: "127.0.0.1", Port: ports[0], NATTPort: ports[1], SAML: auth, EMS: a.fcnacd})
		m := &listen.Map{}
		if err := m.ParseMapping("port1=127.0.0.1"); err != nil {
			return nil, err
		}
		rt := &daemons.Runtime{Store: a.st, Clock: a.clock, Debug: app.Debug, Listen: &listen.Registry{}, Map: m}
		sup := daemons.NewSupervisor(rt, saml, auth, a.ike, a.fcnacd)
		err = sup.Start(ctx)
		if err == nil {
			a.sup = sup
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 3 {
			return nil, err
		}
	}
	app.VPN = a.ike
	app.EMS = a.fcnacd
	a.console = cli.New(app, a.st.NewSession("admin", "console"), a.out)
	return a, nil
}

// close stops the daemons and removes the unit's directory.
func (a *appliance) close() error {
	var errs []error
	if a.console != nil {
		a.console.Close()
	}
	if a.sup != nil {
		errs = append(errs, a.sup.Stop(5*time.Second))
	}
	if a.st != nil {
		errs = append(errs, a.st.Close())
	}
	errs = append(errs, os.RemoveAll(a.dir))
	return errors.Join(errs...)
}

// freeUDPPorts finds n free UDP ports on 127.0.0.1 (held together, so they
// differ; released for iked to bind).
func freeUDPPorts(n int) ([]int, error) {
	var ports []int
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		conns = append(conns, c)
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	return ports, nil
}

// capture collects what the console prints, the debug lines that daemons
// deliver to it from their own goroutines included.
type capture struct {
	mu  sync.Mutex
	buf strings.Builder
	// changed has a value after a write, for a step waiting on its output
	changed chan struct{}
}

func newCapture() *capture { return &capture{changed: make(chan struct{}, 1)} }

func (c *capture) Write(b []byte) (int, error) {
	c.mu.Lock()
	n, err := c.buf.Write(b)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default: // a wake-up is already pending
	}
	return n, err
}

// since returns what was printed from offset off on, and the offset of
// its end.
func (c *capture) since(off int) (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.buf.String()
	return s[off:], len(s)
}
