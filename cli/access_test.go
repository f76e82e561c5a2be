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
