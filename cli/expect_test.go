package cli

// Expect-style tests of the interactive shell. github.com/creack/pty is not
// a dependency of this module and the standard library cannot open a pty,
// so the tests drive cli.Editor (the line editor the SSH server runs on a
// pty) through two io.Pipe pairs standing in for the terminal: keys go in,
// the screen (with "\r\n" line ends, as on a pty) comes out.

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/internal/termtest"
)

const expPrompt = "FortiGate-VM64 # "

// expTerm is a shell on a simulated terminal.
type expTerm struct {
	keys *io.PipeWriter
	st   *cmdb.Store
	sh   *Shell
	done chan error
	*termtest.Screen
}

func startExpect(t *testing.T, height int) *expTerm {
	t.Helper()
	st := cmdbtest.Store(t)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	sh := New(NewAppliance(st), st.NewSession("admin", "expect"), CRLF(outW))
	ed := NewEditor(inR, sh.Out, sh, height)
	et := &expTerm{keys: inW, st: st, sh: sh, done: make(chan error, 1), Screen: termtest.NewScreen(outR)}
	go func() {
		err := ed.Run()
		outW.Close()
		et.done <- err
	}()
	t.Cleanup(func() {
		inW.Close() // end of input: the editor returns
		select {
		case <-et.done:
		case <-time.After(5 * time.Second):
			t.Errorf("editor still running 5s after end of input")
		}
		outR.Close()
		sh.Close()
		st.Close()
	})
	et.expect(t, expPrompt)
	return et
}

// send types keys (without waiting for anything).
func (et *expTerm) send(t *testing.T, keys string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := io.WriteString(et.keys, keys)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("typing %q: %v", keys, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("typing %q: the editor does not read", keys)
	}
}

// expect waits for want on the screen and returns everything up to it.
func (et *expTerm) expect(t *testing.T, want string) string {
	t.Helper()
	return et.Expect(t, want, 5*time.Second)
}

// cmd types a line and Enter (a bare CR, as a terminal sends) and returns
// the output up to the next prompt, which must be wantPrompt.
func (et *expTerm) cmd(t *testing.T, line, wantPrompt string) string {
	t.Helper()
	et.send(t, line+"\r")
	et.expect(t, line+"\r\n")
	return et.expect(t, wantPrompt)
}

func TestExpectPrompts(t *testing.T) {
	et := startExpect(t, 40)
	steps := []struct{ line, prompt string }{
		{"conf sys glob", "FortiGate-VM64 (global) # "},
		{"end", "FortiGate-VM64 # "},
		{"config system settings", "FortiGate-VM64 (settings) # "},
		{"abort", "FortiGate-VM64 # "},
		{"config vpn ipsec phase1-interface", "FortiGate-VM64 (phase1-interface) # "},
		{"edit Dialup-TimeOut", "FortiGate-VM64 (Dialup-TimeOut) # "},
		{"set interface port1", "FortiGate-VM64 (Dialup-TimeOut) # "},
		{"set psksecret fortinet", "FortiGate-VM64 (Dialup-TimeOut) # "},
		{"next", "FortiGate-VM64 (phase1-interface) # "},
		{"end", "FortiGate-VM64 # "},
		{"config firewall policy", "FortiGate-VM64 (policy) # "},
		{"edit 27", "FortiGate-VM64 (27) # "},
		{"abort", "FortiGate-VM64 # "},
		{"config system global", "FortiGate-VM64 (global) # "},
		{"set hostname FGT", "FortiGate-VM64 (global) # "},
		{"end", "FGT # "},
	}
	for _, s := range steps {
		out := et.cmd(t, s.line, s.prompt)
		if strings.Contains(out, "Command fail") {
			t.Fatalf("%q: %s", s.line, out)
		}
	}
	out := et.cmd(t, "config vpn ipsec phase1-interface", "FGT (phase1-interface) # ")
	out += et.cmd(t, "edit new1", "FGT (new1) # ")
	if !strings.Contains(out, "new entry 'new1' added\r\n") {
		t.Errorf("edit of a new entry: %q", out)
	}
	et.cmd(t, "abort", "FGT # ")
	// "exit" ends the editor.
	et.send(t, "exit\r")
	et.expect(t, "exit\r\n")
	select {
	case err := <-et.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		et.done <- nil // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("exit did not end the editor")
	}
}

func TestExpectQuestionMark(t *testing.T) {
	et := startExpect(t, 40)
	et.send(t, "?")
	top := et.expect(t, expPrompt)
	for _, want := range []string{
		"?\r\n",
		"config      Configure object.\r\n",
		"show        Show configuration.\r\n",
		"get         Get dynamic and system information.\r\n",
		"execute     Execute static commands.\r\n",
		"exit        Exit the CLI.\r\n",
	} {
		if !strings.Contains(top, want) {
			t.Errorf("top-level ? lacks %q:\n%s", want, top)
		}
	}
	// '?' after a partial path lists the next words; the line stays.
	et.send(t, "config vpn ipsec ?")
	h := et.expect(t, expPrompt+"config vpn ipsec ")
	for _, want := range []string{"phase1-interface", "phase2-interface"} {
		if !strings.Contains(h, want) {
			t.Errorf("config vpn ipsec ? lacks %s:\n%s", want, h)
		}
	}
	et.send(t, "phase1-interface\r")
	et.expect(t, "FortiGate-VM64 (phase1-interface) # ")
	et.send(t, "?")
	h = et.expect(t, "FortiGate-VM64 (phase1-interface) # ")
	for _, want := range []string{"edit ", "delete ", "purge ", "rename ", "clone ", "get ", "show ", "end ", "abort "} {
		if !strings.Contains(h, "\r\n"+want) {
			t.Errorf("? at a table lacks %q:\n%s", want, h)
		}
	}
	et.send(t, "edit ?")
	h = et.expect(t, "FortiGate-VM64 (phase1-interface) # edit ")
	if !strings.Contains(h, "<name>") || !strings.Contains(h, "Please input string value (max 15 characters).") {
		t.Errorf("edit ?:\n%s", h)
	}
	et.send(t, "Dialup-TimeOut\r")
	et.expect(t, "FortiGate-VM64 (Dialup-TimeOut) # ")
	et.send(t, "set keylife ?")
	h = et.expect(t, "FortiGate-VM64 (Dialup-TimeOut) # set keylife ")
	if !strings.Contains(h, "<integer>    Please input integer value (120 - 172800).\r\n") {
		t.Errorf("set keylife ?:\n%q", h)
	}
	et.send(t, "360\r")
	et.expect(t, "FortiGate-VM64 (Dialup-TimeOut) # ")
	et.send(t, "set type ?")
	et.expect(t, "set type ?\r\n")
	h = et.expect(t, "FortiGate-VM64 (Dialup-TimeOut) # set type ")
	for _, want := range []string{"static\r\n", "dynamic\r\n", "ddns\r\n"} {
		if !strings.Contains(h, want) {
			t.Errorf("set type ? lacks %q:\n%s", want, h)
		}
	}
	et.send(t, "\x15") // Ctrl-U
	et.send(t, "set keyl?")
	et.expect(t, "set keyl?\r\n")
	h = et.expect(t, "FortiGate-VM64 (Dialup-TimeOut) # set keyl")
	if !strings.Contains(h, "keylife") {
		t.Errorf("set keyl? lacks keylife:\n%s", h)
	}
	et.send(t, "\x03")
	et.expect(t, "FortiGate-VM64 (Dialup-TimeOut) # ")
	// '?' inside quotes is a character, not help.
	et.send(t, "set comments \"why?\"\r")
	et.expect(t, "set comments \"why?\"\r\n")
	if out := et.expect(t, "FortiGate-VM64 (Dialup-TimeOut) # "); strings.Contains(out, "Command fail") {
		t.Errorf("quoted ?: %q", out)
	}
	out := et.cmd(t, "show", "FortiGate-VM64 (Dialup-TimeOut) # ")
	if !strings.Contains(out, "set keylife 360\r\n") {
		t.Errorf("show after ?-assisted set:\n%s", out)
	}
}

func TestExpectTabCompletion(t *testing.T) {
	et := startExpect(t, 40)
	et.send(t, "conf\t")
	et.expect(t, "config ")
	et.send(t, "sys\t")
	et.expect(t, "config system ")
	et.send(t, "glob\t")
	et.expect(t, "config system global ")
	et.send(t, "\r")
	et.expect(t, "FortiGate-VM64 (global) # ")
	et.send(t, "set hostn\t")
	et.expect(t, "set hostname ")
	et.send(t, "TABBED\r")
	et.expect(t, "FortiGate-VM64 (global) # ")
	et.cmd(t, "end", "TABBED # ")
	et.send(t, "config vpn ipsec phase1\t")
	et.expect(t, "config vpn ipsec phase1-interface ")
	et.send(t, "\r")
	et.expect(t, "TABBED (phase1-interface) # ")
	et.cmd(t, "edit p1", "TABBED (p1) # ")
	et.cmd(t, "set interface port1", "TABBED (p1) # ")
	et.cmd(t, "set psksecret fortinet", "TABBED (p1) # ")
	// Tab on an option value.
	et.send(t, "set ike-version \t")
	scr := et.expect(t, "set ike-version 1")
	_ = scr
	// A second Tab cycles to the next choice.
	et.send(t, "\t")
	et.expect(t, "set ike-version 2")
	et.send(t, "\r")
	et.expect(t, "TABBED (p1) # ")
	et.cmd(t, "next", "TABBED (phase1-interface) # ")
	et.cmd(t, "end", "TABBED # ")
	// Tab after a table path offers its entries.
	et.send(t, "show vpn ipsec phase1-interface \t")
	et.expect(t, "show vpn ipsec phase1-interface p1 ")
	et.send(t, "\r")
	out := et.expect(t, "TABBED # ")
	if !strings.Contains(out, "        set ike-version 2\r\n") {
		t.Errorf("cycled Tab value not applied:\n%s", out)
	}
	// Tab with nothing to offer leaves the line alone.
	et.send(t, "show xyz\t\x15")
	if extra := et.Quiet(100 * time.Millisecond); strings.Contains(extra, "Command fail") {
		t.Errorf("Tab on nothing: %q", extra)
	}
}

func TestExpectAbbreviations(t *testing.T) {
	et := startExpect(t, 0)
	// Without a height the pager falls back to 25 rows: turn it off.
	et.cmd(t, "conf sys cons", "FortiGate-VM64 (console) # ")
	et.cmd(t, "set output standard", "FortiGate-VM64 (console) # ")
	et.cmd(t, "end", expPrompt)
	et.cmd(t, "conf sys glob", "FortiGate-VM64 (global) # ")
	et.cmd(t, "set admintimeout 42", "FortiGate-VM64 (global) # ")
	out := et.cmd(t, "sh", "FortiGate-VM64 (global) # ")
	if !strings.HasPrefix(out, "config system global\r\n") || !strings.Contains(out, "    set admintimeout 42\r\n") {
		t.Errorf("sh in a singleton:\n%s", out)
	}
	et.cmd(t, "end", expPrompt)
	// "addr" alone is ambiguous (address, addrgrp).
	out = et.cmd(t, "conf firewall addr", expPrompt)
	if !strings.Contains(out, "Command fail") {
		t.Errorf("ambiguous abbreviation accepted: %q", out)
	}
	et.cmd(t, "conf fire addre", "FortiGate-VM64 (address) # ")
	et.cmd(t, "ed abbr-net", "FortiGate-VM64 (abbr-net) # ")
	et.cmd(t, "set subnet 192.0.2.0/24", "FortiGate-VM64 (abbr-net) # ")
	et.cmd(t, "next", "FortiGate-VM64 (address) # ")
	// "sh full" inside a table: the whole table with every value.
	out = et.cmd(t, "sh full", "FortiGate-VM64 (address) # ")
	for _, want := range []string{
		"config firewall address\r\n",
		"    edit \"abbr-net\"\r\n",
		"        set type ipmask\r\n",
		"        set subnet 192.0.2.0 255.255.255.0\r\n",
		"        set color 0\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("sh full in a table lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(out, "end\r\n"+"FortiGate-VM64 (address) # ") {
		t.Errorf("sh full does not end the block:\n%s", out)
	}
	// "sh" (not full) leaves defaults out.
	out = et.cmd(t, "sh", "FortiGate-VM64 (address) # ")
	if strings.Contains(out, "set color 0") || !strings.Contains(out, "set subnet 192.0.2.0 255.255.255.0") {
		t.Errorf("sh in a table:\n%s", out)
	}
	et.cmd(t, "end", expPrompt)
	out = et.cmd(t, "sh firewall address abbr-net", expPrompt)
	if !strings.Contains(out, "edit \"abbr-net\"") {
		t.Errorf("sh PATH KEY:\n%s", out)
	}
	out = et.cmd(t, "get sys stat | grep Virtual", expPrompt)
	if !strings.Contains(out, "Virtual domain configuration: disable\r\n") {
		t.Errorf("get sys stat: %q", out)
	}
	out = et.cmd(t, "exe rev li conf", expPrompt)
	if !strings.Contains(out, "ID    TIME") {
		t.Errorf("exe rev li conf: %q", out)
	}
}

func TestExpectPaging(t *testing.T) {
	et := startExpect(t, 10)
	et.cmd(t, "config firewall address", "FortiGate-VM64 (address) # ")
	for _, n := range []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"} {
		et.cmd(t, "edit pg-"+n, "FortiGate-VM64 (pg-"+n+") # ")
		et.cmd(t, "set comment \"paging "+n+"\"", "FortiGate-VM64 (pg-"+n+") # ")
		et.cmd(t, "next", "FortiGate-VM64 (address) # ")
	}
	et.cmd(t, "end", expPrompt)
	et.send(t, "show firewall address\r")
	et.expect(t, "show firewall address\r\n")
	page := et.expect(t, "--More-- ")
	if n := strings.Count(page, "\r\n"); n != 9 {
		t.Errorf("first page: %d lines, want 9 (height 10):\n%s", n, page)
	}
	if extra := et.Quiet(150 * time.Millisecond); extra != "" {
		t.Errorf("output went past --More-- without a key: %q", extra)
	}
	et.send(t, " ")
	page = et.expect(t, "--More-- ")
	if n := strings.Count(page, "\r\n"); n != 9 {
		t.Errorf("after space: %d lines, want 9:\n%s", n, page)
	}
	et.send(t, "\r")
	page = et.expect(t, "--More-- ")
	if n := strings.Count(page, "\r\n"); n != 1 {
		t.Errorf("after Enter: %d lines, want 1:\n%q", n, page)
	}
	et.send(t, "q")
	rest := et.expect(t, expPrompt)
	if strings.Contains(rest, "edit") {
		t.Errorf("q did not stop the output: %q", rest)
	}
	// output standard: no pager.
	et.cmd(t, "config system console", "FortiGate-VM64 (console) # ")
	et.cmd(t, "set output standard", "FortiGate-VM64 (console) # ")
	et.cmd(t, "end", expPrompt)
	out := et.cmd(t, "show firewall address", expPrompt)
	if strings.Contains(out, "--More--") || !strings.Contains(out, "edit \"pg-a8\"") {
		t.Errorf("output standard:\n%s", out)
	}
}

// A line pasted with Windows line ends ("\r\n") must not feed its "\n" to
// the pager as a key press.
func TestExpectPagingAfterCRLF(t *testing.T) {
	et := startExpect(t, 6)
	et.send(t, "show full-configuration system global\r\n")
	page := et.expect(t, "--More-- ")
	more := et.Quiet(200 * time.Millisecond)
	et.send(t, "q")
	et.expect(t, expPrompt)
	if strings.Contains(more, "\r\n") {
		t.Fatalf("regression: a \"\\r\\n\" line end leaves its \"\\n\" in the editor's buffer (Editor.skipLF only drops it at the next ReadLine), "+
			"and the --More-- pager reads it as Enter: input \"show full-configuration system global\\r\\n\" at height 6; "+
			"expected the output to stop at the first --More--, got one more line and a second --More-- without a key:\n%q%q", page, more)
	}
}

func TestExpectErrors(t *testing.T) {
	et := startExpect(t, 40)
	out := et.cmd(t, "ping", expPrompt)
	if out != "Unknown action 0\r\n"+expPrompt {
		t.Errorf("ping: %q", out)
	}
	et.cmd(t, "config system settings", "FortiGate-VM64 (settings) # ")
	cases := []struct{ line, want string }{
		{"xyz", "command parse error before 'xyz'\r\nCommand fail. Return code -61\r\n"},
		{"set opmode", "incomplete command in the end\r\nCommand fail. Return code -160\r\n"},
		{"set opmode bogus", "value parse error before 'bogus'\r\nCommand fail. Return code -651\r\n"},
	}
	for _, c := range cases {
		out := et.cmd(t, c.line, "FortiGate-VM64 (settings) # ")
		if out != c.want+"FortiGate-VM64 (settings) # " {
			t.Errorf("%q:\n%q\nwant:\n%q", c.line, out, c.want)
		}
	}
	et.cmd(t, "end", expPrompt)
	et.cmd(t, "config vpn ipsec phase1-interface", "FortiGate-VM64 (phase1-interface) # ")
	et.cmd(t, "edit e1", "FortiGate-VM64 (e1) # ")
	out = et.cmd(t, "set keylife 99", "FortiGate-VM64 (e1) # ")
	if !strings.Contains(out, "Command fail. Return code -651") {
		t.Errorf("keylife out of range: %q", out)
	}
	out = et.cmd(t, "set interface port2032", "FortiGate-VM64 (e1) # ")
	if !strings.Contains(out, "Command fail. Return code -651") {
		t.Errorf("reference to a missing interface: %q", out)
	}
	et.cmd(t, "abort", expPrompt)
	// A snippet placeholder is an error, not a value.
	et.cmd(t, "config system admin", "FortiGate-VM64 (admin) # ")
	et.cmd(t, "edit admin", "FortiGate-VM64 (admin) # ")
	out = et.cmd(t, "set password <psk>", "FortiGate-VM64 (admin) # ")
	if !strings.Contains(out, "Command fail") {
		t.Errorf("placeholder accepted: %q", out)
	}
	et.cmd(t, "abort", expPrompt)
}

func TestExpectLineEditing(t *testing.T) {
	et := startExpect(t, 40)
	// Backspace and DEL erase; the erase is drawn.
	et.send(t, "get system consolxx\x7f\x08e\r")
	et.expect(t, "\b \b\b \be\r\n")
	if out := et.expect(t, expPrompt); !strings.Contains(out, "output              : more\r\n") {
		t.Errorf("after backspaces: %q", out)
	}
	// Ctrl-C abandons the line.
	et.cmd(t, "config system global", "FortiGate-VM64 (global) # ")
	et.send(t, "set hostname CTRLC\x03")
	et.expect(t, "set hostname CTRLC\r\nFortiGate-VM64 (global) # ")
	// Ctrl-U clears the line.
	et.send(t, "set hostname CTRLU\x15set admintimeout 17\r")
	et.expect(t, "FortiGate-VM64 (global) # ")
	et.cmd(t, "end", expPrompt)
	if h := et.st.SingletonValue("system global", "hostname"); h != "" && h != "FortiGate-VM64" {
		t.Errorf("abandoned line applied: hostname %q", h)
	}
	if v := et.st.SingletonValue("system global", "admintimeout"); v != "17" {
		t.Errorf("line after Ctrl-U: admintimeout %q", v)
	}
	// Up arrow recalls the previous line.
	et.send(t, "\x1b[A")
	et.expect(t, "end")
	et.send(t, "\x1b[A")
	et.expect(t, "set admintimeout 17")
	et.send(t, "\x15")
	// Backslash-Enter continues the line; so does an open quote.
	et.cmd(t, "config system global", "FortiGate-VM64 (global) # ")
	et.send(t, "set post-login-banner \\\r")
	et.send(t, "enable\r")
	out := et.expect(t, "FortiGate-VM64 (global) # ")
	if strings.Contains(out, "Command fail") {
		t.Errorf("backslash continuation: %q", out)
	}
	et.cmd(t, "end", expPrompt)
	if v := et.st.SingletonValue("system global", "post-login-banner"); v != "enable" {
		t.Errorf("backslash-continued line: post-login-banner %q", v)
	}
	et.cmd(t, "config firewall address", "FortiGate-VM64 (address) # ")
	et.cmd(t, "edit two-lines", "FortiGate-VM64 (two-lines) # ")
	et.send(t, "set comment \"first\r")
	et.send(t, "second\"\r")
	out = et.expect(t, "FortiGate-VM64 (two-lines) # ")
	if strings.Contains(out, "Command fail") {
		t.Errorf("quoted string over two lines: %q", out)
	}
	out = et.cmd(t, "show", "FortiGate-VM64 (two-lines) # ")
	if !strings.Contains(out, "set comment \"first\r\nsecond\"") {
		t.Errorf("two-line comment: %q", out)
	}
	et.cmd(t, "end", expPrompt)
	// Ctrl-D on an empty line ends the session.
	et.send(t, "\x04")
	select {
	case err := <-et.done:
		if err != nil {
			t.Errorf("Ctrl-D: %v", err)
		}
		et.done <- nil
	case <-time.After(5 * time.Second):
		t.Fatal("Ctrl-D did not end the editor")
	}
}

// A pasted block (one write of many lines) runs in order, each line echoed
// after its prompt.
func TestExpectPaste(t *testing.T) {
	et := startExpect(t, 40)
	block := "config vpn ipsec phase1-interface\n" +
		"    edit \"Dialup-TimeOut\"\n" +
		"        set interface \"port1\"\n" +
		"        set psksecret fortinet\n" +
		"        set ike-version 2\n" +
		"        set keylife 360\n" +
		"        set reauth enable\n" +
		"    next\n" +
		"end\n"
	et.send(t, block)
	out := et.expect(t, "end\r\n"+expPrompt)
	want := expPrompt + "config vpn ipsec phase1-interface\r\n" +
		"FortiGate-VM64 (phase1-interface) #     edit \"Dialup-TimeOut\"\r\n" +
		"new entry 'Dialup-TimeOut' added\r\n" +
		"FortiGate-VM64 (Dialup-TimeOut) #         set interface \"port1\"\r\n" +
		"FortiGate-VM64 (Dialup-TimeOut) #         set psksecret fortinet\r\n" +
		"FortiGate-VM64 (Dialup-TimeOut) #         set ike-version 2\r\n" +
		"FortiGate-VM64 (Dialup-TimeOut) #         set keylife 360\r\n" +
		"FortiGate-VM64 (Dialup-TimeOut) #         set reauth enable\r\n" +
		"FortiGate-VM64 (Dialup-TimeOut) #     next\r\n" +
		"FortiGate-VM64 (phase1-interface) # end\r\n" + expPrompt
	if expPrompt+out != want {
		t.Errorf("paste:\n%q\nwant:\n%q", expPrompt+out, want)
	}
	if et.st.Lookup("vpn ipsec phase1-interface", "Dialup-TimeOut") == nil {
		t.Errorf("pasted entry not saved")
	}
}

// y/n questions read one key from the terminal.
func TestExpectConfirm(t *testing.T) {
	et := startExpect(t, 40)
	et.cmd(t, "config system global", "FortiGate-VM64 (global) # ")
	et.cmd(t, "set hostname KEEPME", "FortiGate-VM64 (global) # ")
	et.cmd(t, "end", "KEEPME # ")
	et.send(t, "execute factory-reset\r")
	et.expect(t, "Do you want to continue? (y/n)")
	et.send(t, "n")
	et.expect(t, "n\r\nKEEPME # ")
	if h := et.st.SingletonValue("system global", "hostname"); h != "KEEPME" {
		t.Errorf("answering n reset the unit: hostname %q", h)
	}
	// restore from a backup on the USB disk asks too; y goes ahead.
	dir := t.TempDir()
	et.sh.App.DataDir = dir // before the next keys: the pipe orders it
	et.cmd(t, "execute backup config usb b.conf", "KEEPME # ")
	if b, err := os.ReadFile(filepath.Join(dir, "usb", "b.conf")); err != nil || !strings.HasPrefix(string(b), "#config-version=") {
		t.Fatalf("backup: %v %.80q", err, b)
	}
	et.cmd(t, "config system global", "KEEPME (global) # ")
	et.cmd(t, "set hostname CHANGED", "KEEPME (global) # ")
	et.cmd(t, "end", "CHANGED # ")
	et.send(t, "execute restore config usb b.conf\r")
	et.expect(t, "Do you want to continue? (y/n)")
	et.send(t, "y")
	out := et.expect(t, "KEEPME # ")
	if !strings.Contains(out, "y\r\n") {
		t.Errorf("restore: %q", out)
	}
}

// Output written a line per Write (get system status) pages too.
func TestExpectPagingLineByLine(t *testing.T) {
	et := startExpect(t, 10)
	et.send(t, "get system status\r")
	et.expect(t, "get system status\r\n")
	page, ok := et.TryExpect("--More-- ", time.Second)
	if !ok {
		rest := et.Quiet(50 * time.Millisecond)
		et.send(t, "q")
		if strings.Contains(rest, "Last reboot reason") {
			t.Fatalf("regression: the pager never pauses output written one line per Write (pager.Write does not stop after "+
				"the last line of a Write, `s == \"\"`; getSystemStatus writes each line with its own Fprintf). "+
				"Input: height 10, output more, `get system status`; expected --More-- after 9 lines, got all %d lines.",
				strings.Count(rest, "\r\n"))
		}
		t.Fatalf("no --More-- and no status: %q", rest)
	}
	if n := strings.Count(page, "\r\n"); n != 9 {
		t.Errorf("first page of get system status: %d lines, want 9", n)
	}
	et.send(t, "q")
	et.expect(t, expPrompt)
}

// An interactive statement is a few dozen bytes: running one must not
// allocate hundreds of kilobytes (50 SSH sessions pasting config would
// otherwise churn gigabytes).
func TestExpectAllocPerStatement(t *testing.T) {
	st := cmdbtest.Store(t)
	sh := New(NewAppliance(st), st.NewSession("admin", "alloc"), io.Discard)
	defer sh.Close()
	measure := func(lines []string) float64 {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		for _, l := range lines {
			sh.Line(l)
		}
		runtime.ReadMemStats(&m1)
		return float64(m1.TotalAlloc-m0.TotalAlloc) / float64(len(lines))
	}
	var parse, commit []string
	for i := 0; i < 100; i++ {
		parse = append(parse, "get system console | grep output")
	}
	commit = append(commit, "config firewall address")
	for i := 0; i < 100; i++ {
		commit = append(commit, fmt.Sprintf("edit alloc-%d", i), fmt.Sprintf("set subnet 10.66.%d.0/24", i), "next")
	}
	commit = append(commit, "end")
	perParse := measure(parse)
	perStmt := measure(commit)
	t.Logf("allocated per statement: %.0f KiB (get | grep), %.0f KiB (config edit/set/next, a commit per next)", perParse/1024, perStmt/1024)
	if perParse > 64<<10 || perStmt > 256<<10 {
		t.Fatalf("regression: one interactive statement allocates %.0f KiB (get | grep) / %.0f KiB (edit/set/next): "+
			"grammar.(*arena).alloc makes a 16384-Word chunk per ParseLine call however short the line, and "+
			"cmdb.(*valueArena).encode a 1 MiB buffer per commit; expected a few KiB per statement.",
			perParse/1024, perStmt/1024)
	}
}

// purge asks before emptying a table (issue 8 row 6); n keeps the rows.
func TestExpectPurgeAsks(t *testing.T) {
	et := startExpect(t, 40)
	et.cmd(t, "config firewall address", "FortiGate-VM64 (address) # ")
	et.cmd(t, "edit keep1", "FortiGate-VM64 (keep1) # ")
	et.cmd(t, "next", "FortiGate-VM64 (address) # ")
	et.cmd(t, "end", "FortiGate-VM64 # ")
	et.cmd(t, "config firewall service custom", "FortiGate-VM64 (custom) # ")
	et.send(t, "purge\r")
	et.expect(t, "This operation will clear all table entries!\r\nDo you want to continue? (y/n)")
	et.send(t, "n")
	et.expect(t, "n\r\nFortiGate-VM64 (custom) # ")
	if et.st.Rows("firewall service custom").Len() == 0 {
		t.Fatal("answering n purged the table")
	}
	et.send(t, "purge\r")
	et.expect(t, "Do you want to continue? (y/n)")
	et.send(t, "y")
	et.expect(t, "y\r\n")
}
