package cli

import (
	"strings"
	"testing"

	"github.com/fosim/fosim/cmdb"
)

func newShell(t *testing.T) (*Shell, *strings.Builder) {
	t.Helper()
	schema, err := cmdb.LoadSchema()
	if err != nil {
		t.Fatal(err)
	}
	st, err := cmdb.Open(t.TempDir(), schema, cmdb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.EnsureFactory(st.Serial()); err != nil {
		t.Fatal(err)
	}
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
		"not simulated yet: diagnose vpn ike gateway list\n" +
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
