package cli

import (
	"strings"
	"testing"

	"github.com/fosim/fosim/cmdb/cmdbtest"
)

// A read-only admin gets FortiOS's '$' prompt and cannot run the execute
// commands that change the unit.
func TestReadOnlyAdmin(t *testing.T) {
	st := cmdbtest.Store(t)
	cmdbtest.Apply(t, st, "config system accprofile\nedit ro\nset sysgrp read\nset fwgrp read\nnext\nend\n"+
		"config system admin\nedit viewer\nset accprofile ro\nset vdom root\nnext\nend\n")
	var out strings.Builder
	sh := New(NewAppliance(st), st.NewSession("viewer", "test"), &out)
	if p := sh.Prompt(); p != "FortiGate-VM64 $ " {
		t.Fatalf("prompt %q", p)
	}
	for _, line := range []string{"execute factory-reset", "execute date 2030-01-01", "execute restore config flash 1", "execute backup config flash x"} {
		out.Reset()
		sh.Line(line)
		if !strings.Contains(out.String(), "Return code -14") {
			t.Errorf("%s: %q", line, out.String())
		}
	}
	out.Reset()
	sh.Line("show firewall address all")
	if !strings.Contains(out.String(), `edit "all"`) {
		t.Errorf("read-only show: %q", out.String())
	}
}

// A profile short of super_admin cannot replace the configuration (it
// could hand itself super_admin in the file), a profile that cannot read
// everything cannot back it all up, and a read-only admin moves no clock.
func TestExecuteCommandsFollowTheProfile(t *testing.T) {
	st := cmdbtest.Store(t)
	cmdbtest.Apply(t, st, "config system accprofile\nedit sysrw\nset sysgrp read-write\nnext\nedit sysro\nset sysgrp read\nnext\nend\n"+
		"config system admin\nedit ops\nset accprofile sysrw\nset vdom root\nnext\nedit viewer\nset accprofile sysro\nset vdom root\nnext\nend\n")
	app := NewAppliance(st)
	app.DataDir = t.TempDir()
	var out strings.Builder
	ops := New(app, st.NewSession("ops", "test"), &out)
	for _, line := range []string{"execute restore config usb x.conf", "execute factory-reset", "execute restore config flash 1", "execute backup config usb x.conf"} {
		out.Reset()
		ops.Line(line)
		if !strings.Contains(out.String(), "Return code -14") {
			t.Errorf("ops: %s: %q", line, out.String())
		}
	}
	viewer := New(app, st.NewSession("viewer", "test"), &out)
	for _, line := range []string{"diagnose sys clock advance 24h", "diagnose vpn ike gateway flush", "execute revision diff 0 0"} {
		out.Reset()
		viewer.Line(line)
		if !strings.Contains(out.String(), "Return code -14") {
			t.Errorf("viewer: %s: %q", line, out.String())
		}
	}
	// Its own profile and its own admin's profile are out of reach.
	for _, script := range []string{"config system accprofile\nedit sysrw\nset fwgrp read-write\nnext\nend", "config system admin\nedit ops\nset accprofile sysro\nnext\nend"} {
		out.Reset()
		for _, l := range strings.Split(script, "\n") {
			ops.Line(l)
		}
		if !strings.Contains(out.String(), "Return code -14") {
			t.Errorf("ops: %q: %q", script, out.String())
		}
	}
}
