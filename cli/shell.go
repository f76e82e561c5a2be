// Package cli is the FortiOS shell over any reader/writer pair: prompts,
// statement execution through a cmdb session, system commands, '?' help and
// completion from the schema and the store, "| grep", "--More--" paging and
// FortiOS error texts. The local terminal and the SSH server both run it.
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons/debuglog"
	"github.com/fosim/fosim/daemons/fcnacd/fcnacdapi"
	"github.com/fosim/fosim/grammar"
	"github.com/fosim/fosim/internal/fixed"
	"github.com/fosim/fosim/internal/tftp"
)

// Appliance is what a shell needs beyond its session: the CMDB, the
// appliance clock and when the appliance started.
type Appliance struct {
	Store   *cmdb.Store
	Clock   *clock.Clock
	Debug   *debuglog.Hub
	Started time.Time
	// VPN is iked's query interface; nil when iked is not running.
	VPN VPN
	// EMS is fcnacd's (the EMS connector's); nil when it is not running.
	EMS fcnacdapi.Connector
	// DataDir is the appliance's data directory; its folder "usb" is the
	// USB disk of "execute backup|restore config usb". Empty: no USB disk.
	DataDir string
	// TFTP is the client of "execute backup|restore config tftp"; nil for
	// the defaults.
	TFTP *tftp.Client
	// Shutdown stops the appliance process ("execute shutdown"); nil when
	// the shell runs in no appliance process.
	Shutdown func()

	// admins are the front ends with admin sessions (sessionlist.go).
	admins sourceList
}

// NewAppliance wraps a store with a clock started now and a debug stream.
func NewAppliance(st *cmdb.Store) *Appliance {
	c := clock.New(nil)
	return &Appliance{Store: st, Clock: c, Debug: debuglog.New(c.Now), Started: c.Now()}
}

// Shell runs FortiOS commands for one admin session.
type Shell struct {
	App     *Appliance
	Session *cmdb.Session
	Out     io.Writer
	// ReadOnly admins get '$' instead of '#'.
	ReadOnly bool
	// Term, when set, is the interactive terminal: it answers y/n
	// questions and "--More--" keys, and gives the page height. Without it
	// (exec channel, scripts) nothing pages and questions are answered yes.
	Term Terminal
	// Debug is this session's "diagnose debug" settings and output.
	Debug  *debuglog.Session
	exited bool
	closed bool
}

// Terminal is what an interactive front end gives the shell.
type Terminal interface {
	// ReadKey reads one key press (for --More-- and y/n questions).
	ReadKey() (rune, error)
	// Height is the number of rows (0 when unknown).
	Height() int
}

// New returns a shell on a session of app's store, writing to out. Debug
// lines arrive on out from other goroutines, so writes are serialised;
// Close the shell when its session ends.
func New(app *Appliance, sess *cmdb.Session, out io.Writer) *Shell {
	lw := &lockedWriter{w: out}
	sh := &Shell{App: app, Session: sess, Out: lw, ReadOnly: sess.ReadOnly()}
	if app.Debug != nil {
		sh.Debug = app.Debug.Attach(lw)
	}
	return sh
}

// Close detaches the shell from the debug stream.
func (sh *Shell) Close() {
	if sh.Debug != nil {
		sh.Debug.Detach()
	}
	sh.Session.Reset()
	if !sh.closed {
		sh.closed = true
		sh.backupOnLogout()
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// Prompt is the FortiOS prompt: "FGT # ", "FGT (global) # ".
func (sh *Shell) Prompt() string {
	host := Hostname(sh.App.Store)
	mark := "#"
	if sh.ReadOnly {
		mark = "$"
	}
	if ctx := sh.Session.Prompt(); ctx != "" {
		return fmt.Sprintf("%s (%s) %s ", host, ctx, mark)
	}
	return fmt.Sprintf("%s %s ", host, mark)
}

// Hostname reads the hostname from "config system global".
func Hostname(st *cmdb.Store) string {
	if h := st.SingletonValue("system global", "hostname"); h != "" {
		return h
	}
	return fixed.Platform // the factory hostname
}

// Exited tells whether the admin typed exit (or the session must end).
func (sh *Shell) Exited() bool { return sh.exited }

// Line runs one typed line (which a flattened paste may fill with several
// statements) and prints the output and errors.
func (sh *Shell) Line(line string) {
	for _, r := range grammar.ParseLine(line) {
		if r.Err != nil {
			// An unknown command word at the top level is an "action".
			if sh.Session.Depth() == 0 && r.Err.Near != "" && strings.HasPrefix(strings.TrimSpace(line), r.Err.Near) {
				sh.print("Unknown action 0\n")
				continue
			}
			sh.fail(cmdb.SyntaxError(r.Err))
			continue
		}
		st, pipe := splitPipe(r.Stmt)
		if pipe == nil {
			sh.exec(st, sh.paged())
		} else {
			var buf strings.Builder
			sh.exec(st, &buf)
			out, err := filter(buf.String(), pipe)
			if err != nil {
				sh.fail(err)
			} else {
				io.WriteString(sh.paged(), out)
			}
		}
		if sh.exited {
			return
		}
	}
}

// splitPipe cuts "… | grep …" off a statement.
func splitPipe(st grammar.Stmt) (grammar.Stmt, []grammar.Word) {
	for i, w := range st.Args {
		if !w.Quoted && w.Text == "|" {
			pipe := st.Args[i+1:]
			st.Args = st.Args[:i]
			if pipe == nil {
				pipe = []grammar.Word{}
			}
			return st, pipe
		}
	}
	return st, nil
}

func (sh *Shell) exec(st grammar.Stmt, out io.Writer) {
	switch st.Kind {
	case grammar.Comment:
		return
	case grammar.Command:
		switch st.Verb {
		case "exit", "quit":
			sh.Session.Reset()
			sh.exited = true
			return
		}
	}
	if sh.Session.Depth() == 0 && (st.Kind == grammar.Command || st.Kind == grammar.Get) {
		if cmd, args, ok := lookupCommand(st); ok {
			err := cmd.check(args)
			if err == nil {
				err = sh.mayRun(cmd)
			}
			if err == nil {
				err = cmd.run(sh, args, out)
			}
			var ns notSimulated
			if errors.As(err, &ns) {
				fmt.Fprintf(out, "not simulated yet: %s (%s)\n", cmd.path, string(ns))
			} else if err != nil {
				sh.fail(err)
			}
			return
		}
		if st.Kind == grammar.Command {
			words := []string{st.Verb}
			for _, w := range st.Args {
				words = append(words, w.Text)
			}
			if sh.unlistedTransfer(words, out) {
				return
			}
			fmt.Fprintf(out, "not simulated yet: %s\n", strings.Join(words, " "))
			return
		}
	}
	// FortiOS asks before emptying a table; scripts answer yes.
	if st.Kind == grammar.Purge && sh.Session.Level() == 1 && len(st.Args) == 0 &&
		!sh.confirm("This operation will clear all table entries!") {
		return
	}
	res, err := sh.Session.Exec(st)
	if err != nil {
		if st.Kind == grammar.Get && sh.Session.Depth() == 0 && len(st.Args) > 0 {
			if _, ok := notSimulatedGet(st); ok {
				fmt.Fprintf(out, "not simulated yet: get %s\n", strings.Join(wordTexts(st.Args), " "))
				return
			}
		}
		sh.fail(err)
		return
	}
	io.WriteString(out, res)
}

func wordTexts(ws []grammar.Word) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Text
	}
	return out
}

// notSimulated is a command fosim knows but cannot answer in this
// process; the shell says so plainly instead of failing.
type notSimulated string

func (n notSimulated) Error() string { return "not simulated yet: " + string(n) }

func (sh *Shell) print(s string) { io.WriteString(sh.Out, s) }

func (sh *Shell) fail(err error) {
	code := cmdb.CodeParse
	var ce *cmdb.Error
	if errors.As(err, &ce) {
		code = ce.Code
	}
	fmt.Fprintf(sh.Out, "%s\nCommand fail. Return code %d\n", err.Error(), code)
}

// confirm asks a FortiOS y/n question; without a terminal the answer is yes.
func (sh *Shell) confirm(question string) bool {
	return sh.askYesNo(question + "\nDo you want to continue? (y/n)")
}

// askYesNo asks question on an interactive terminal; scripts and the exec
// channel answer yes, as for every FortiOS question.
func (sh *Shell) askYesNo(question string) bool {
	sh.print(question)
	if sh.Term == nil {
		sh.print("y\n")
		return true
	}
	for range 1000 {
		k, err := sh.Term.ReadKey()
		if err != nil {
			break
		}
		switch k {
		case 'y', 'Y':
			sh.print("y\n")
			return true
		case 'n', 'N', 3:
			sh.print("n\n")
			return false
		}
	}
	sh.print("\n")
	return false
}
