// Package cli is the FortiOS shell over any reader/writer pair: prompts,
// statement execution through a cmdb session, FortiOS error texts.
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/grammar"
)

// Shell runs FortiOS commands for one admin session.
type Shell struct {
	Session *cmdb.Session
	Out     io.Writer
	// ReadOnly admins get '$' instead of '#'.
	ReadOnly bool
	exited   bool
}

// New returns a shell on a session, writing to out.
func New(sess *cmdb.Session, out io.Writer) *Shell {
	return &Shell{Session: sess, Out: out}
}

// Prompt is the FortiOS prompt: "FGT # ", "FGT (global) # ".
func (sh *Shell) Prompt() string {
	host := Hostname(sh.Session.Store())
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
	t := st.Schema().Table("system global")
	if t == nil {
		return "FortiGate-VM64"
	}
	e := st.Lookup("system global", "")
	if e == nil {
		e = cmdb.NewEntry("")
	}
	if a := t.Attr("hostname"); a != nil {
		if h := e.Value(a); h != "" {
			return h
		}
	}
	return "FortiGate-VM64"
}

// Exited tells whether the admin typed exit.
func (sh *Shell) Exited() bool { return sh.exited }

// Line runs one typed line (which a flattened paste may fill with several
// statements) and prints the output and errors.
func (sh *Shell) Line(line string) {
	for _, r := range grammar.ParseLine(line) {
		if r.Err != nil {
			// An unknown command word at the top level is an "action".
			if sh.Session.Depth() == 0 && r.Err.Near != "" && strings.HasPrefix(strings.TrimSpace(line), r.Err.Near) {
				fmt.Fprintln(sh.Out, "Unknown action 0")
				continue
			}
			sh.fail(cmdb.SyntaxError(r.Err))
			continue
		}
		sh.exec(r.Stmt)
		if sh.exited {
			return
		}
	}
}

func (sh *Shell) exec(st grammar.Stmt) {
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
		words := []string{st.Verb}
		for _, w := range st.Args {
			words = append(words, w.Text)
		}
		fmt.Fprintf(sh.Out, "not simulated yet: %s\n", strings.Join(words, " "))
		return
	}
	out, err := sh.Session.Exec(st)
	if err != nil {
		sh.fail(err)
		return
	}
	io.WriteString(sh.Out, out)
}

func (sh *Shell) fail(err error) {
	code := cmdb.CodeParse
	var ce *cmdb.Error
	if errors.As(err, &ce) {
		code = ce.Code
	}
	fmt.Fprintf(sh.Out, "%s\nCommand fail. Return code %d\n", err.Error(), code)
}
