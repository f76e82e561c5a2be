// Package daemons runs the appliance daemons (iked, authd, samld …) as
// goroutines of one process: the Supervisor starts them, hands every
// committed change of the tables they watch to them in two phases (Validate
// before the bbolt commit, which may refuse it; Apply after, which cannot),
// and stops them within a bound.
package daemons

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons/debuglog"
	"github.com/fosim/fosim/daemons/listen"
)

// Runtime is what every daemon gets: the CMDB (read side), the appliance
// clock for every timer, the debug stream, and where to listen: the
// listener registry (each address bound once) and the map of the
// appliance's interfaces to host addresses. A daemon given no registry
// listens where its options say.
type Runtime struct {
	Store  *cmdb.Store
	Clock  *clock.Clock
	Debug  *debuglog.Hub
	Listen *listen.Registry
	Map    *listen.Map
}

// Daemon is one appliance daemon.
type Daemon interface {
	// Name is the daemon's name ("iked") and debug application ("ike").
	Name() string
	// Tables lists the configuration tables whose changes it receives.
	Tables() []string
	// Start loads the running configuration and starts the daemon's
	// goroutines, which must end when ctx is done or Stop is called.
	Start(ctx context.Context, rt *Runtime) error
	// Validate may refuse a change before it is written; the error is
	// printed to the admin as FortiOS would (a *cmdb.Error keeps its code).
	// after is the configuration as the commit would make it. It runs
	// while the store holds its commit lock: it must not call the Store.
	Validate(cs *cmdb.ChangeSet, after cmdb.View) error
	// Apply takes a committed change. On error the daemon keeps running on
	// its previous configuration; the supervisor logs why.
	Apply(cs *cmdb.ChangeSet) error
	// Stop ends the daemon; it must return before ctx's deadline.
	Stop(ctx context.Context) error
}

// Supervisor runs daemons.
type Supervisor struct {
	rt      *Runtime
	daemons []Daemon

	mu      sync.Mutex
	running bool
	// gate orders change sets against Start and Stop (see Start).
	gate             sync.Mutex
	held             []*cmdb.ChangeSet
	started, stopped bool
	cancel           context.CancelFunc
	unhook           []func()
}

// NewSupervisor prepares daemons to run with rt.
func NewSupervisor(rt *Runtime, ds ...Daemon) *Supervisor {
	return &Supervisor{rt: rt, daemons: ds}
}

// Start starts every daemon, then connects them to the commit path. If one
// fails to start, the ones started are stopped and the error returned.
func (s *Supervisor) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return errors.New("daemons: already running")
	}
	ctx, cancel := context.WithCancel(ctx)
	// Subscribe before the daemons read their configuration, and hold
	// what comes until they all have: a commit between a daemon's load and
	// the subscription would otherwise never reach it. A held change set
	// a daemon already read is harmless: Apply reloads.
	s.gate.Lock()
	s.held, s.started, s.stopped = nil, false, false
	s.gate.Unlock()
	unsubscribe := s.rt.Store.SubscribeFrom(func(cmdb.View, uint64, *cmdb.Secrets) {}, func(cs *cmdb.ChangeSet) {
		// gate is held while a change set is applied: Stop waits for
		// one in flight, and none reaches a daemon after it.
		s.gate.Lock()
		defer s.gate.Unlock()
		switch {
		case s.stopped:
		case !s.started:
			s.held = append(s.held, cs)
		default:
			s.apply(cs)
		}
	})
	for i, d := range s.daemons {
		if err := d.Start(ctx, s.rt); err != nil {
			unsubscribe()
			stopCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
			for _, started := range s.daemons[:i] {
				started.Stop(stopCtx)
			}
			done()
			cancel()
			return fmt.Errorf("%s: %w", d.Name(), err)
		}
	}
	s.gate.Lock()
	for _, cs := range s.held {
		s.apply(cs)
	}
	s.held, s.started = nil, true
	s.gate.Unlock()
	s.cancel = cancel
	s.running = true
	s.unhook = append(s.unhook, s.rt.Store.AddConfigValidator(s.validate), unsubscribe)
	return nil
}

func (s *Supervisor) watchers(cs *cmdb.ChangeSet) []Daemon {
	var out []Daemon
	tables := cs.Tables()
	for _, d := range s.daemons {
		for _, t := range d.Tables() {
			if slices.Contains(tables, t) {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

func (s *Supervisor) validate(cs *cmdb.ChangeSet, after cmdb.View) error {
	for _, d := range s.watchers(cs) {
		if err := d.Validate(cs, after); err != nil {
			return err
		}
	}
	return nil
}

func (s *Supervisor) apply(cs *cmdb.ChangeSet) {
	for _, d := range s.watchers(cs) {
		if err := d.Apply(cs); err != nil {
			s.rt.Debug.Logger(d.Name()).Printf(1, "%s: configuration change (revision %d) not applied, keeping the previous configuration: %v", d.Name(), cs.Revision, err)
		}
	}
}

// Stop disconnects the daemons from the commit path and stops them all
// within timeout; it reports the daemons that did not stop in time.
func (s *Supervisor) Stop(timeout time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	for _, u := range s.unhook {
		u()
	}
	s.unhook = nil
	s.gate.Lock()
	s.stopped = true // waits for a change set being applied
	s.gate.Unlock()
	ctx, done := context.WithTimeout(context.Background(), timeout)
	defer done()
	var errs []error
	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, d := range s.daemons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Stop(ctx); err != nil {
				emu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", d.Name(), err))
				emu.Unlock()
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("daemons: not all stopped within %v", timeout))
	}
	s.cancel()
	s.running = false
	return errors.Join(errs...)
}
