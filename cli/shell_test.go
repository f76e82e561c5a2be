package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/cmdb/cmdbtest"
)

func newShell(t *testing.T) (*Shell, *strings.Builder) {
	t.Helper()
	st := cmdbtest.Store(t)
	var out strings.Builder
	return New(NewAppliance(st), st.NewSession("admin", "test"), &out), &out
}

func TestPrompts(t *testing.T) {
	sh, _ := newShell(t)
	steps := []struct{ line, prompt string }{
		{"", "FortiGate-VM64 # "},
		{"config system global", "FortiGate-VM64 (global) # "},
		{"set hostname FGT", "FortiGate-VM64 (global) # "},
		{"end", "FGT # "},
		{"config vpn ipsec phase1-interface", "FGT (phase1-interface) # "},
		{"edit Dialup-TimeOut", "FGT (Dialup-TimeOut) # "},
		{"abort", "FGT # "},
		{"conf firewall policy", "FGT (policy) # "},
		{"edit 27", "FGT (27) # "},
	}
	for _, s := range steps {
		if s.line != "" {
			sh.Line(s.line)
		}
		if got := sh.Prompt(); got != s.prompt {
			t.Fatalf("after %q: prompt %q, want %q", s.line, got, s.prompt)
		}
	}
	sh.ReadOnly = true
	if got := sh.Prompt(); got != "FGT (27) $ " {
		t.Fatalf("read-only prompt %q", got)
	}
}

func TestErrorsAndUnsimulated(t *testing.T) {
	sh, out := newShell(t)
	sh.Line("ping")
	sh.Line("diagnose vpn ike gateway list")
	sh.Line("config system settings")
	sh.Line("xyz")
	sh.Line("set opmode")
	want := "Unknown action 0\n" +
		"not simulated yet: diagnose vpn ike gateway list (IPsec in this process: iked runs under fosim serve)\n" +
		"command parse error before 'xyz'\nCommand fail. Return code -61\n" +
		"incomplete command in the end\nCommand fail. Return code -160\n"
	if out.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
	sh.Line("end")
	sh.Line("exit")
	if !sh.Exited() {
		t.Fatal("exit did not end the session")
	}
}

func TestHelpAndCompletion(t *testing.T) {
	sh, _ := newShell(t)
	help := sh.HelpText("")
	for _, want := range []string{"config", "show", "get", "execute", "diagnose", "exit"} {
		if !strings.Contains(help, want) {
			t.Errorf("top-level ? lacks %s:\n%s", want, help)
		}
	}
	cands, start := sh.Complete("config vpn ipsec phase1")
	if len(cands) != 1 || cands[0].Word != "phase1-interface" || start != 17 {
		t.Fatalf("completion of phase1: %+v %d", cands, start)
	}
	sh.Line("config vpn ipsec phase1-interface")
	sh.Line("edit dialup")
	if h := sh.HelpText("set keyl"); !strings.Contains(h, "keylife") {
		t.Fatalf("set keyl ?:\n%s", h)
	}
	if h := sh.HelpText("set keylife "); !strings.Contains(h, "<integer>") || !strings.Contains(h, "120 - 172800") {
		t.Fatalf("set keylife ?:\n%s", h)
	}
	if h := sh.HelpText("set type "); !strings.Contains(h, "dynamic") {
		t.Fatalf("set type ?:\n%s", h)
	}
	if h := sh.HelpText("set interface "); !strings.Contains(h, "port1") {
		t.Fatalf("set interface ? must list interfaces:\n%s", h)
	}
	// ipv4-start-ip exists only with mode-cfg enable.
	if h := sh.HelpText("set ipv4-st"); strings.Contains(h, "ipv4-start-ip") {
		t.Fatalf("conditional attribute offered:\n%s", h)
	}
	sh.Line("abort")
	if c, _ := sh.Complete("exe rev"); len(c) != 1 || c[0].Word != "revision" {
		t.Fatalf("execute completion: %+v", c)
	}
	if c, _ := sh.Complete("show firewall address "); len(c) == 0 || c[0].Show != "FIREWALL_AUTH_PORTAL_ADDRESS" && !containsWord(c, "all") {
		t.Fatalf("entries after a table path: %+v", c)
	}
}

func containsWord(c []Candidate, w string) bool {
	for _, x := range c {
		if x.Word == w {
			return true
		}
	}
	return false
}

func TestGrepAndSystemCommands(t *testing.T) {
	sh, out := newShell(t)
	sh.Line("get system status | grep Virtual")
	if got := out.String(); got != "Virtual domains status: 1 in NAT mode, 0 in TP mode\nVirtual domain configuration: disable\n" {
		t.Fatalf("grep Virtual: %q", got)
	}
	out.Reset()
	sh.Line("config system settings")
	sh.Line("set ike-tcp-port 20443")
	sh.Line("end")
	sh.Line("show | grep -f ike-tcp-port")
	if got := out.String(); got != "config system settings\n    set ike-tcp-port 20443 <---\nend\n" {
		t.Fatalf("grep -f: %q", got)
	}
	out.Reset()
	sh.Line("get system console")
	if !strings.Contains(out.String(), "output              : more\n") {
		t.Fatalf("get system console: %q", out.String())
	}
	out.Reset()
	sh.Line("execute date 2025-09-23")
	sh.Line("execute time 17:18:33")
	sh.Line("execute date")
	sh.Line("execute time")
	if got := out.String(); !strings.HasPrefix(got, "current date is: 2025-09-23\ncurrent time is: 17:18:3") {
		t.Fatalf("date/time: %q", got)
	}
	out.Reset()
	sh.Line("execute revision list config")
	if !strings.Contains(out.String(), "ID    TIME") {
		t.Fatalf("revision list: %q", out.String())
	}
	out.Reset()
	sh.Line("get router info routing-table all")
	if got := out.String(); got != "not simulated yet: get router info routing-table all\n" {
		t.Fatalf("unsimulated get: %q", got)
	}
}

func TestDiagnoseDebugAndClock(t *testing.T) {
	sh, out := newShell(t)
	sh.Line("diagnose debug application ike -1")
	sh.Line("diagnose debug console timestamp enable")
	sh.Line("diagnose debug enable")
	sh.Line("execute date 2025-09-23")
	sh.Line("execute time 17:18:33")
	out.Reset()
	sh.App.Debug.Logger("ike").Printf(1, "ike V=root:0:Dialup-TimeOut_0: flushing")
	if got := out.String(); !strings.HasPrefix(got, "2025-09-23 17:18:3") || !strings.HasSuffix(got, " ike V=root:0:Dialup-TimeOut_0: flushing\n") {
		t.Fatalf("debug line: %q", got)
	}
	out.Reset()
	sh.Line("diagnose debug info")
	if got := out.String(); !strings.Contains(got, "debug output:           enable\n") || !strings.Contains(got, "ike debug level:        -1\n") {
		t.Fatalf("debug info: %q", got)
	}
	sh.Line("diagnose debug reset")
	sh.Line("diagnose debug disable")
	out.Reset()
	sh.App.Debug.Logger("ike").Printf(1, "ike V=root:0: hidden")
	if out.String() != "" {
		t.Fatalf("after reset/disable: %q", out.String())
	}
	fired := make(chan bool, 1)
	sh.App.Clock.AfterFunc(6*time.Minute, func() { fired <- true })
	sh.Line("diagnose sys clock advance 6m")
	select {
	case <-fired:
	case <-time.After(2 * time.Second):
		t.Fatal("advancing the clock did not fire a 6-minute timer")
	}
	sh.Close()
}
