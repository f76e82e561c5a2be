package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/term"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
)

// runAppliance is "fosim run": the whole appliance (startAppliance) with
// its console on this terminal, until a signal, "execute shutdown" or the
// end of the console's input. A listener that cannot start is reported
// and the console opens without it.
func runAppliance(st *cmdb.Store, dataDir string, opt applianceOptions, stdin io.Reader, stdout, stderr io.Writer) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, stopSignals...)
	defer signal.Stop(sig)
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		// The console puts the terminal in raw mode: log lines need their CR.
		stderr = cli.CRLF(stderr)
	}
	if opt.Logf == nil {
		opt.Logf = log.New(stderr, "", log.LstdFlags).Printf
	}
	a := startAppliance(st, dataDir, opt)
	for _, err := range a.Failed {
		fmt.Fprintln(stderr, "fosim:", err)
	}
	for _, n := range a.Notes {
		fmt.Fprintln(stderr, "fosim:", n)
	}
	fmt.Fprintln(stderr, a.Listening())
	stop := make(chan struct{})
	done := make(chan int, 1)
	go func() { done <- runShell(a.App, stdin, stdout, stderr, stop) }()
	var rc int
	select {
	case rc = <-done:
		close(stop)
	case <-sig:
		close(stop)
		rc = <-done // the console returns at once on stop, and restores the terminal
	case <-a.ShutdownRequested():
		close(stop)
		rc = <-done
	}
	if err := a.Stop(); err != nil {
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	return rc
}

// runShell is the console of "fosim run", until stop is closed or its
// input ends.
//
// On a terminal it is a FortiGate console: "<hostname> login:" and
// "Password:" (a fresh unit's admin has an empty password and must then
// choose one), the per-line lockout of system global, the idle logout
// (admin-console-timeout, else admintimeout, on the appliance clock), and
// the same line editor and input bounds as an SSH terminal. "exit" and
// Ctrl-D log out to the login prompt, as on a FortiGate.
//
// When stdin is not a terminal (a script piped into fosim run), the lines
// run as admin without a login: the local user who runs fosim already owns
// the data directory, so a password would protect nothing. Lines longer
// than cli.MaxLineBytes are refused as on the console.
func runShell(app *cli.Appliance, stdin io.Reader, stdout, stderr io.Writer, stop <-chan struct{}) int {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if err := runConsole(app, f, stdout, stop); err != nil {
			fmt.Fprintln(stderr, "fosim:", err)
			return 1
		}
		return 0
	}
	// Lines piped in come from the owner of the data directory's files.
	in := cli.NewInterruptibleReader(stdin)
	go func() { <-stop; in.Interrupt() }()
	sh := cli.New(app, app.Store.NewSystemSession("admin", "console"), stdout)
	defer sh.Close()
	if err := cli.RunLines(sh, cli.NewLineReader(in)); err != nil && !stopped(stop) {
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	return 0
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// runConsole runs login and shell sessions on the terminal tty until stop
// or the end of its input.
func runConsole(app *cli.Appliance, tty *os.File, stdout io.Writer, stop <-chan struct{}) error {
	fd := int(tty.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return err
	}
	defer term.Restore(fd, old)
	// The pager follows the terminal's size (SIGWINCH on a resize).
	resized := make(chan os.Signal, 1)
	signal.Notify(resized, syscall.SIGWINCH)
	defer signal.Stop(resized)
	return consoleSessions(app, tty, cli.CRLF(stdout), func() int {
		_, h, err := term.GetSize(fd)
		if err != nil {
			return 0
		}
		return h
	}, resized, stop)
}

// consoleSessions is the console's loop over a raw terminal: log in, run
// the shell until exit, Ctrl-D or the idle logout, and again, until stop
// or the end of the terminal's input.
func consoleSessions(app *cli.Appliance, tty io.Reader, out io.Writer, height func() int, resized <-chan os.Signal, stop <-chan struct{}) error {
	src := &endWatcher{r: tty}
	in := cli.NewInterruptibleReader(src)
	activity := &cli.ActivityReader{R: in}
	ed := cli.NewEditor(activity, out, nil, height())
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-resized: // never, when nil
				ed.SetHeight(height())
			case <-stop:
				in.Interrupt()
				return
			case <-done:
				return
			}
		}
	}()
	guard := cli.NewLoginGuard(app)
	// The console's login is in the appliance's admin session list.
	logins := cli.LoginSessions{Numbers: app.NextSessionNumber}
	app.AddAdminSessions(&logins)
	for {
		in.Resume()
		// After Resume: a stop that came before it is seen here, one that
		// comes after interrupts the next read.
		if stopped(stop) {
			return nil
		}
		login, err := cli.Login(app, guard, "console", ed.ReadField, out)
		switch {
		case stopped(stop):
			return nil
		case err != nil && src.ended():
			return nil // the terminal went away
		case errors.Is(err, cli.ErrInterrupt) || errors.Is(err, cli.ErrIdleTimeout):
			// Ctrl-C, or an idle logout that fired as the session ended.
			io.WriteString(out, "\n")
			continue
		case errors.Is(err, io.EOF):
			// Ctrl-D at "login:" logs nobody out; a FortiGate asks again.
			io.WriteString(out, "\n")
			continue
		case err != nil:
			return err
		}
		sh := cli.New(app, app.Store.NewSession(login.User, "console"), out)
		ed.SetShell(sh)
		ed.SetHeight(height())
		activity.Idle = cli.NewIdleTimer(app.Clock, cli.ConsoleTimeout(app.Store, login.User), func() {
			io.WriteString(sh.Out, "\nTimeout: no input, logging out.\n")
			in.Interrupt()
		})
		profile := sh.Session.Access().Profile
		// ended keeps a disconnect that comes as this login ends from
		// interrupting the next one.
		var endMu sync.Mutex
		ended := false
		remove := logins.Add(cli.AdminSession{User: login.User, Type: "console", Profile: profile, Started: app.Clock.Now()}, func() {
			endMu.Lock()
			defer endMu.Unlock()
			if !ended {
				io.WriteString(sh.Out, "\nDisconnected by an administrator.\n")
				in.Interrupt()
			}
		})
		err = ed.Run() // nil at exit and at Ctrl-D: both log out
		endMu.Lock()
		ended = true
		endMu.Unlock()
		remove()
		activity.Idle.Stop()
		activity.Idle = nil
		sh.Close()
		switch {
		case stopped(stop), src.ended():
			return nil
		case err != nil && !errors.Is(err, cli.ErrIdleTimeout):
			return err
		}
		io.WriteString(out, "\n")
	}
}

// endWatcher tells the end of the terminal's input (a hang-up, a closed
// pipe) from a Ctrl-D key, which the editor reports as io.EOF too.
type endWatcher struct {
	r   io.Reader
	end atomic.Bool
}

func (w *endWatcher) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil {
		w.end.Store(true)
	}
	return n, err
}

func (w *endWatcher) ended() bool { return w.end.Load() }
