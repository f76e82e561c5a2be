package samld

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/debuglog"
)

// Bounds of the state an unauthenticated client can make samld hold.
const (
	// requestLifetime is how long an AuthnRequest (or LogoutRequest)
	// samld sent waits for its answer on the appliance clock.
	requestLifetime = 10 * time.Minute
	maxOutstanding  = 4096
	// maxReplay bounds the replay cache of assertion IDs; only assertions
	// that passed every check enter it, so only the IdP can fill it.
	maxReplay = 16384
	// maxReplayLifetime caps how long an assertion ID is remembered when
	// the assertion names no end of validity.
	maxReplayLifetime = 24 * time.Hour
)

// Daemon is the samld daemon, the appliance's SAML 2.0 service provider:
// it builds the AuthnRequests and LogoutRequests of `config user saml`
// entries, verifies what the IdP posts back, and serves the SP metadata.
// authd owns the HTTP side and calls it.
type Daemon struct {
	rt  *daemons.Runtime
	clk *clock.Clock
	log *debuglog.Logger

	mu  sync.Mutex
	cfg *Config
	// outstanding are the requests sent and not answered yet, by ID.
	outstanding map[string]outstanding
	// replay holds the IDs of accepted assertions until they expire.
	replay map[string]time.Time
	// onLogout is authd's, for logouts the IdP asks for.
	onLogout func(IdPLogout)
}

type outstanding struct {
	server  string
	logout  bool // a LogoutRequest, not an AuthnRequest
	expires time.Time
}

// New returns a samld daemon; Start gives it its runtime.
func New() *Daemon {
	return &Daemon{cfg: &Config{Servers: map[string]*Server{}}, outstanding: map[string]outstanding{}, replay: map[string]time.Time{}}
}

// Name is the daemon's name and debug application ("diagnose debug
// application samld -1").
func (d *Daemon) Name() string { return "samld" }

// Tables are the configuration tables samld reads.
func (d *Daemon) Tables() []string { return []string{tableSAML, tableLocal, tableRemote} }

// Start loads the running configuration. samld has no goroutines or
// sockets of its own: authd serves its endpoints.
func (d *Daemon) Start(_ context.Context, rt *daemons.Runtime) error {
	cfg, broken := loadConfig(rt.Store)
	d.mu.Lock()
	d.rt = rt
	d.clk = rt.Clock
	d.log = rt.Debug.Logger(d.Name())
	d.cfg = cfg
	d.mu.Unlock()
	// Start on what could be read: one broken entry must not keep the
	// appliance from starting.
	if err := brokenError(broken); err != nil {
		d.log.Printf(1, "samld: not used: %v", err)
	}
	return nil
}

// Validate accepts every change the schema accepted, as FortiOS does: an
// entry is often configured in several commits, and a `user saml` entry
// that cannot be used says why in the debug stream and at login time.
func (d *Daemon) Validate(*cmdb.ChangeSet, cmdb.View) error { return nil }

// Apply reloads the configuration. An entry that cannot be read (a
// certificate that does not parse, a key that does not decrypt or does
// not match) stays as it was, or absent when it is new; the other
// entries take the change, and the error (logged by the supervisor) says
// which entry kept its previous configuration and why.
func (d *Daemon) Apply(*cmdb.ChangeSet) error {
	cfg, broken := loadConfig(d.rt.Store)
	d.mu.Lock()
	for name := range broken {
		if old := d.cfg.Servers[name]; old != nil {
			cfg.Servers[name] = old
		}
	}
	d.cfg = cfg
	// Requests of a server that is gone are never answered.
	for id, o := range d.outstanding {
		if cfg.Servers[o.server] == nil {
			delete(d.outstanding, id)
		}
	}
	d.mu.Unlock()
	return brokenError(broken)
}

// Stop ends the daemon.
func (d *Daemon) Stop(context.Context) error { return nil }

func (d *Daemon) clock() *clock.Clock { return d.clk }

// logger is the debug logger, nil before Start.
func (d *Daemon) logger() *debuglog.Logger {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log
}

// server returns the configured entry name, or an error as FortiOS words
// an unknown server.
func (d *Daemon) server(name string) (*Server, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rt == nil {
		return nil, fmt.Errorf("samld is not running")
	}
	s := d.cfg.Servers[name]
	if s == nil {
		return nil, fmt.Errorf("SAML server %q not found", name)
	}
	return s, nil
}

// remember records a request sent, dropping expired ones and, at the
// bound, the oldest (the requests are made for unauthenticated clients).
func (d *Daemon) remember(id string, o outstanding, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	makeRoom(d.outstanding, maxOutstanding, func(o outstanding) time.Time { return o.expires }, now)
	d.outstanding[id] = o
}

// makeRoom lets m, which holds at most bound entries, take one more: when
// it is full it drops the expired entries and, if none is, the one that
// expires soonest. Below the bound it costs nothing.
func makeRoom[V any](m map[string]V, bound int, expiry func(V) time.Time, now time.Time) {
	if len(m) < bound {
		return
	}
	var soonestID string
	var soonest time.Time
	for k, v := range m {
		exp := expiry(v)
		if !exp.After(now) {
			delete(m, k)
			continue
		}
		if soonestID == "" || exp.Before(soonest) {
			soonestID, soonest = k, exp
		}
	}
	if len(m) >= bound {
		delete(m, soonestID)
	}
}

// checkOutstanding tells whether id is a live request of server of that
// kind, and when answer is set, marks it answered.
func (d *Daemon) checkOutstanding(id, server string, logout bool, now time.Time, answer bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	o, ok := d.outstanding[id]
	if !ok || o.server != server || o.logout != logout {
		return false
	}
	if !o.expires.After(now) {
		delete(d.outstanding, id)
		return false
	}
	if answer {
		delete(d.outstanding, id)
	}
	return true
}

// seen tells whether an assertion ID was already accepted (and still
// remembered).
func (d *Daemon) seen(id string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	exp, ok := d.replay[id]
	if ok && !exp.After(now) {
		delete(d.replay, id)
		return false
	}
	return ok
}

// accept marks an assertion ID used until expires and its request
// answered, in one step: two posts of one Response racing each other
// see one succeed. It reports false when another accepted it first.
func (d *Daemon) accept(assertionID string, expires time.Time, requestID, server string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if exp, ok := d.replay[assertionID]; ok && exp.After(now) {
		return false
	}
	o, ok := d.outstanding[requestID]
	if !ok || o.server != server || o.logout || !o.expires.After(now) {
		return false
	}
	delete(d.outstanding, requestID)
	d.rememberLocked(assertionID, expires, now)
	return true
}

// once records a message ID until expires; false when it was seen
// already (a replay).
func (d *Daemon) once(id string, expires, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if exp, ok := d.replay[id]; ok && exp.After(now) {
		return false
	}
	d.rememberLocked(id, expires, now)
	return true
}

// rememberLocked puts id in the replay cache, dropping expired IDs and,
// at the bound, the one that expires soonest; d.mu is held.
func (d *Daemon) rememberLocked(id string, expires, now time.Time) {
	makeRoom(d.replay, maxReplay, func(exp time.Time) time.Time { return exp }, now)
	d.replay[id] = expires
}
