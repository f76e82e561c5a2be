package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
)

// runShell is `fosim run`, the appliance's console.
//
// On a terminal it is a FortiGate console: "<hostname> login:" and
// "Password:" (a fresh unit's admin has an empty password and must then
// choose one), the per-line lockout of system global, the idle logout
// (admin-console-timeout, else admintimeout, on the appliance clock), and
// the same line editor and input bounds as an SSH terminal. "exit" logs
// out to the login prompt; Ctrl-D at the login prompt ends fosim run.
//
// When stdin is not a terminal (a script piped into fosim run), the lines
// run as admin without a login: the local user who runs fosim already owns
// the data directory, so a password would protect nothing. Lines longer
// than cli.MaxLineBytes are refused as on the console.
func runShell(st *cmdb.Store, dataDir string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := cli.NewAppliance(st)
	app.DataDir = dataDir // the USB disk is its folder usb
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if err := runConsole(app, f, stdout); err != nil {
			fmt.Fprintln(stderr, "fosim:", err)
			return 1
		}
		return 0
	}
	// Lines piped in come from the owner of the data directory's files.
	sh := cli.New(app, st.NewSystemSession("admin", "console"), stdout)
	defer sh.Close()
	if err := cli.RunLines(sh, cli.NewLineReader(stdin)); err != nil {
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	return 0
}

// runConsole runs login and shell sessions on the terminal tty until the
// end of input (Ctrl-D at the login prompt).
func runConsole(app *cli.Appliance, tty *os.File, stdout io.Writer) error {
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
	}, resized)
}

// consoleSessions is the console's loop over a raw terminal: log in, run
// the shell until exit or the idle logout, and again.
func consoleSessions(app *cli.Appliance, tty io.Reader, out io.Writer, height func() int, resized <-chan os.Signal) error {
	in := cli.NewInterruptibleReader(tty)
	activity := &cli.ActivityReader{R: in}
	ed := cli.NewEditor(activity, out, nil, height())
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-resized: // never, when nil
				ed.SetHeight(height())
			case <-stop:
				return
			}
		}
	}()
	guard := cli.NewLoginGuard(app)
	for {
		in.Resume()
		login, err := cli.Login(app, guard, "console", ed.ReadField, out)
		if errors.Is(err, cli.ErrInterrupt) || errors.Is(err, cli.ErrIdleTimeout) {
			// Ctrl-C, or an idle logout that fired as the session ended.
			io.WriteString(out, "\n")
			continue
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		sh := cli.New(app, app.Store.NewSession(login.User, "console"), out)
		ed.SetShell(sh)
		ed.SetHeight(height())
		activity.Idle = cli.NewIdleTimer(app.Clock, cli.ConsoleTimeout(app.Store, login.User), func() {
			io.WriteString(sh.Out, "\nTimeout: no input, logging out.\n")
			in.Interrupt()
		})
		err = ed.Run()
		activity.Idle.Stop()
		activity.Idle = nil
		sh.Close()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil && !errors.Is(err, cli.ErrIdleTimeout):
			return err
		}
		io.WriteString(out, "\n")
	}
}
