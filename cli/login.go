package cli

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/grammar"
)

// This file is the admin login shared by the console and the SSH server:
// password checks, the per-address lockout of system global, the forced
// password change of a first login, "system password-policy" and the idle
// logout (admintimeout), all on the appliance clock.

// MaxPasswordBytes bounds what a password prompt keeps (FortiOS admin
// passwords are at most 128 characters).
const MaxPasswordBytes = 128

// ErrLockedOut is returned for a login from an address that failed too
// often (admin-lockout-threshold) until admin-lockout-duration has passed.
var ErrLockedOut = errors.New("too many failed logins: locked out")

// ErrLoginFailed is a wrong user or password; it says no more, as FortiOS.
var ErrLoginFailed = errors.New("login failed")

// LoginGuard counts failed logins per source address and locks a source
// out after admin-lockout-threshold failures (system global, default 3)
// for admin-lockout-duration seconds (default 60), measured on the
// appliance clock so a lab can advance through it. A success clears the
// source's count.
type LoginGuard struct {
	App *Appliance

	mu      sync.Mutex
	sources map[string]*failures
}

type failures struct {
	count       int
	last        time.Time
	lockedUntil time.Time
}

// maxTrackedSources bounds the guard's memory under a spray of addresses:
// beyond it, sources with no lockout running are forgotten first.
const maxTrackedSources = 4096

// NewLoginGuard returns a guard reading its limits from app's store.
func NewLoginGuard(app *Appliance) *LoginGuard {
	return &LoginGuard{App: app, sources: map[string]*failures{}}
}

func (g *LoginGuard) limits() (threshold int, duration time.Duration) {
	threshold = globalInt(g.App.Store, "admin-lockout-threshold", 3)
	duration = time.Duration(globalInt(g.App.Store, "admin-lockout-duration", 60)) * time.Second
	return threshold, duration
}

// Locked tells whether source is locked out now, and for how much longer.
func (g *LoginGuard) Locked(source string) (bool, time.Duration) {
	now := g.App.Clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.sources[source]
	if f == nil || !now.Before(f.lockedUntil) {
		return false, 0
	}
	return true, f.lockedUntil.Sub(now)
}

// Failed records a failed login from source and tells whether it is now
// locked out.
func (g *LoginGuard) Failed(source string) bool {
	threshold, duration := g.limits()
	now := g.App.Clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.sources[source]
	if f == nil {
		if len(g.sources) >= maxTrackedSources {
			g.pruneLocked(now, duration)
		}
		f = &failures{}
		g.sources[source] = f
	}
	if !f.lockedUntil.IsZero() && !now.Before(f.lockedUntil) {
		// A lockout that ran out starts the count again.
		f.count, f.lockedUntil = 0, time.Time{}
	}
	if now.Sub(f.last) > duration {
		// Failures further apart than a lockout are not a run.
		f.count = 0
	}
	f.count++
	f.last = now
	if f.count >= threshold {
		f.lockedUntil = now.Add(duration)
		return true
	}
	return false
}

// Succeeded clears source's failures.
func (g *LoginGuard) Succeeded(source string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.sources, source)
}

// pruneLocked makes room for a quarter of the bound: it forgets sources
// whose failures no longer matter, then sources not locked out, then (a
// spray of locked addresses) any; called with g.mu held.
func (g *LoginGuard) pruneLocked(now time.Time, duration time.Duration) {
	target := maxTrackedSources * 3 / 4
	for pass := 0; pass < 3 && len(g.sources) > target; pass++ {
		for k, f := range g.sources {
			if len(g.sources) <= target {
				return
			}
			locked := now.Before(f.lockedUntil)
			if pass == 2 || pass == 1 && !locked || now.Sub(f.last) > duration && !locked {
				delete(g.sources, k)
			}
		}
	}
}

func globalInt(st *cmdb.Store, attr string, def int) int {
	n, err := strconv.Atoi(st.SingletonValue("system global", attr))
	if err != nil || n <= 0 {
		return def
	}
	return n
}

// AdminLogin is an admin who gave the right password.
type AdminLogin struct {
	User string
	// MustChangePassword: the admin has no password yet (a fresh unit) or
	// force-password-change is enabled; FortiOS asks for a new one before
	// the prompt.
	MustChangePassword bool
}

// CheckAdminPassword checks user's password against "config system
// admin". An admin without a password logs in with an empty one and must
// then choose one.
func CheckAdminPassword(st *cmdb.Store, user, password string) (*AdminLogin, error) {
	t := st.Schema().Table("system admin")
	e := st.Lookup("system admin", user)
	if t == nil || e == nil {
		return nil, ErrLoginFailed
	}
	var stored []string
	if a := t.Attr("password"); a != nil {
		stored = e.Get(a)
	}
	switch {
	case len(stored) == 0:
		if password != "" {
			return nil, ErrLoginFailed
		}
		return &AdminLogin{User: user, MustChangePassword: true}, nil
	case len(stored) == 2 && cmdb.CheckPassword(stored[1], password):
		force := false
		if a := t.Attr("force-password-change"); a != nil {
			force = strings.Join(e.Get(a), " ") == "enable"
		}
		// A password the policy (enabled since it was set) refuses must
		// be changed at this login; only now is its clear text known.
		if CheckPasswordPolicy(st, password, "", "") != nil {
			force = true
		}
		return &AdminLogin{User: user, MustChangePassword: force}, nil
	}
	return nil, ErrLoginFailed
}

// PasswordPolicyError is a new password that "system password-policy"
// refuses.
type PasswordPolicyError = cmdb.PasswordPolicyError

// CheckPasswordPolicy applies "system password-policy" to a new admin
// password (cmdb.Store.CheckPasswordPolicy with apply-to admin-password).
func CheckPasswordPolicy(st *cmdb.Store, password, old, oldHash string) error {
	return st.CheckPasswordPolicy(cmdb.PolicyAdminPassword, password, old, oldHash)
}

// SetAdminPassword commits user's new password (and turns
// force-password-change off) through a session of its own, so the change
// goes the one commit path. Errors never quote the password. Any admin may
// change their own password, whatever their profile: a system session.
func SetAdminPassword(st *cmdb.Store, user, password, source string) error {
	sess := st.NewSystemSession(user, source)
	defer sess.Reset()
	stmts := []string{
		"config system admin",
		"edit " + grammar.Quote(user),
		"set password " + grammar.Quote(password),
		"set force-password-change disable",
		"end",
	}
	for i, text := range stmts {
		for _, r := range grammar.ParseLine(text) {
			if r.Err != nil {
				return fmt.Errorf("the new password could not be saved (statement %d does not parse)", i+1)
			}
			if _, err := sess.Exec(r.Stmt); err != nil {
				if i == 2 {
					return errors.New("the new password could not be saved: the value is refused")
				}
				return fmt.Errorf("the new password could not be saved: %v", err)
			}
		}
	}
	return nil
}

// SecretReader reads one answer to a prompt; echo tells whether what is
// typed is shown (a user name) or not (a password).
type SecretReader func(prompt string, echo bool) (string, error)

// ForcePasswordChange asks for a new password as FortiOS does at a first
// login ("You are forced to change your password, please input a new
// password." / "New Password:" / "Confirm Password:"), checks it against
// the password policy and saves it. It gives up after three tries.
func ForcePasswordChange(st *cmdb.Store, login *AdminLogin, old string, read SecretReader, out io.Writer, source string) error {
	var oldHash string
	if e := st.Lookup("system admin", login.User); e != nil {
		if a := st.Schema().Table("system admin").Attr("password"); a != nil {
			if v := e.Get(a); len(v) == 2 {
				oldHash = v[1]
			}
		}
	}
	io.WriteString(out, "You are forced to change your password, please input a new password.\n")
	for try := 0; try < 3; try++ {
		pw, err := read("New Password:", false)
		if err != nil {
			return err
		}
		confirm, err := read("Confirm Password:", false)
		if err != nil {
			return err
		}
		switch {
		case pw != confirm:
			io.WriteString(out, "The passwords do not match.\n")
			continue
		case pw == "":
			io.WriteString(out, "The new password must not be empty.\n")
			continue
		case oldHash != "" && cmdb.CheckPassword(oldHash, pw):
			io.WriteString(out, "The new password must differ from the old one.\n")
			continue
		}
		if err := CheckPasswordPolicy(st, pw, old, oldHash); err != nil {
			fmt.Fprintln(out, err)
			continue
		}
		if err := SetAdminPassword(st, login.User, pw, source); err != nil {
			return err
		}
		login.MustChangePassword = false
		return nil
	}
	return errors.New("password not changed")
}

// Login asks "<hostname> login:" and "Password:" as a FortiGate console
// does until an admin gives the right password, then forces a new password
// when one is due. source names the line for the lockout ("console").
// It returns the error of read (io.EOF at the end of input).
func Login(app *Appliance, guard *LoginGuard, source string, read SecretReader, out io.Writer) (*AdminLogin, error) {
	for {
		user, err := read(Hostname(app.Store)+" login: ", true)
		if err != nil {
			return nil, err
		}
		if user == "" {
			continue
		}
		pw, err := read("Password: ", false)
		if err != nil {
			return nil, err
		}
		if locked, left := guard.Locked(source); locked {
			fmt.Fprintf(out, "Too many failed logins: login is locked for %d more seconds.\n", int(left.Round(time.Second)/time.Second))
			continue
		}
		login, err := CheckAdminPassword(app.Store, user, pw)
		if err != nil {
			if guard.Failed(source) {
				io.WriteString(out, "Login incorrect\nToo many failed logins: login is locked.\n")
			} else {
				io.WriteString(out, "Login incorrect\n")
			}
			continue
		}
		guard.Succeeded(source)
		if login.MustChangePassword {
			if err := ForcePasswordChange(app.Store, login, pw, read, out, source); err != nil {
				switch {
				case errors.Is(err, io.EOF), errors.Is(err, ErrIdleTimeout):
					return nil, err
				case !errors.Is(err, ErrInterrupt): // Ctrl-C: back to login:
					fmt.Fprintf(out, "%v\n", err)
				}
				continue
			}
		}
		io.WriteString(out, "Welcome !\n\n")
		return login, nil
	}
}

// AdminTimeout is how long an admin session may stay idle: the admin's
// access profile's admintimeout when it overrides, else system global's
// admintimeout (minutes, default 5).
func AdminTimeout(st *cmdb.Store, user string) time.Duration {
	min := globalInt(st, "admintimeout", 5)
	if e := st.Lookup("system admin", user); e != nil {
		t := st.Schema().Table("system admin")
		if a := t.Attr("accprofile"); a != nil {
			if prof := st.Lookup("system accprofile", strings.Join(e.Get(a), " ")); prof != nil {
				pt := st.Schema().Table("system accprofile")
				o, v := pt.Attr("admintimeout-override"), pt.Attr("admintimeout")
				if o != nil && v != nil && strings.Join(prof.Get(o), "") == "enable" {
					if n, err := strconv.Atoi(strings.Join(prof.Get(v), "")); err == nil && n > 0 {
						min = n
					}
				}
			}
		}
	}
	return time.Duration(min) * time.Minute
}

// ConsoleTimeout is the console's idle logout: admin-console-timeout
// (seconds) when set, else the admin timeout.
func ConsoleTimeout(st *cmdb.Store, user string) time.Duration {
	if n := globalInt(st, "admin-console-timeout", 0); n > 0 {
		return time.Duration(n) * time.Second
	}
	return AdminTimeout(st, user)
}

// IdleTimer calls fire once nothing was typed for d of appliance time
// (Touch on every input), so "diagnose sys clock advance" logs idle
// sessions out as the hours pass on a real unit.
type IdleTimer struct {
	clock *clock.Clock
	d     time.Duration
	fire  func()

	mu      sync.Mutex
	last    time.Time
	t       *clock.Timer
	stopped bool
}

// NewIdleTimer starts an idle timer of d on c.
func NewIdleTimer(c *clock.Clock, d time.Duration, fire func()) *IdleTimer {
	it := &IdleTimer{clock: c, d: d, fire: fire, last: c.Now()}
	it.mu.Lock()
	it.t = c.AfterFunc(d, it.check)
	it.mu.Unlock()
	return it
}

// Touch records input now.
func (it *IdleTimer) Touch() {
	now := it.clock.Now()
	it.mu.Lock()
	it.last = now
	it.mu.Unlock()
}

// Stop cancels the timer.
func (it *IdleTimer) Stop() {
	it.mu.Lock()
	defer it.mu.Unlock()
	it.stopped = true
	it.t.Stop()
}

// check runs at the deadline: it fires when the input stayed idle, else
// re-arms for what is left (input moved the deadline on).
func (it *IdleTimer) check() {
	it.mu.Lock()
	if it.stopped {
		it.mu.Unlock()
		return
	}
	left := it.d - it.clock.Now().Sub(it.last)
	if left > 0 {
		it.t = it.clock.AfterFunc(left, it.check)
		it.mu.Unlock()
		return
	}
	it.stopped = true
	it.mu.Unlock()
	// on a goroutine of its own: a clock advance fires timers on its
	// caller's goroutine, and the logout writes to a terminal that may not
	// be reading
	go it.fire()
}

// ActivityReader touches an idle timer (when set) on every read that
// returns input.
type ActivityReader struct {
	R    io.Reader
	Idle *IdleTimer
}

func (a *ActivityReader) Read(p []byte) (int, error) {
	n, err := a.R.Read(p)
	if n > 0 && a.Idle != nil {
		a.Idle.Touch()
	}
	return n, err
}

// ErrIdleTimeout ends a console session that stayed idle too long.
var ErrIdleTimeout = errors.New("idle timeout")

// InterruptibleReader reads from a source that cannot be unblocked (a
// terminal's stdin) through one pump goroutine, so that a reader can be
// interrupted (an idle logout) and the next one carry on with the same
// input.
type InterruptibleReader struct {
	chunks chan []byte
	err    error // set before chunks closes
	rest   []byte

	mu   sync.Mutex
	stop chan struct{}
}

// NewInterruptibleReader starts pumping r.
func NewInterruptibleReader(r io.Reader) *InterruptibleReader {
	ir := &InterruptibleReader{chunks: make(chan []byte), stop: make(chan struct{})}
	go func() {
		for {
			buf := make([]byte, 4096)
			n, err := r.Read(buf)
			if n > 0 {
				ir.chunks <- buf[:n]
			}
			if err != nil {
				ir.err = err
				close(ir.chunks)
				return
			}
		}
	}()
	return ir
}

// Interrupt makes the pending and later reads return ErrIdleTimeout until
// Resume.
func (ir *InterruptibleReader) Interrupt() {
	ir.mu.Lock()
	defer ir.mu.Unlock()
	select {
	case <-ir.stop:
	default:
		close(ir.stop)
	}
}

// Resume lets reads go on after an Interrupt.
func (ir *InterruptibleReader) Resume() {
	ir.mu.Lock()
	defer ir.mu.Unlock()
	select {
	case <-ir.stop:
		ir.stop = make(chan struct{})
	default:
	}
}

func (ir *InterruptibleReader) Read(p []byte) (int, error) {
	if len(ir.rest) > 0 {
		n := copy(p, ir.rest)
		ir.rest = ir.rest[n:]
		return n, nil
	}
	ir.mu.Lock()
	stop := ir.stop
	ir.mu.Unlock()
	select {
	case <-stop:
		return 0, ErrIdleTimeout
	case b, ok := <-ir.chunks:
		if !ok {
			return 0, ir.err
		}
		n := copy(p, b)
		ir.rest = b[n:]
		return n, nil
	}
}
