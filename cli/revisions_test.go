package cli

import (
	"strings"
	"testing"

	"github.com/fosim/fosim/cmdb/cmdbtest"
)

// An admin's logout saves a revision with revision-backup-on-logout
// enable; "execute restore config flash" rolls back to it.
func TestRevisionsOnLogoutAndFlash(t *testing.T) {
	st := cmdbtest.Store(t)
	app := NewAppliance(st)
	var out strings.Builder
	sh := New(app, st.NewSession("admin", "test"), &out)
	sh.Line("config system global")
	sh.Line("set revision-backup-on-logout enable")
	sh.Line("end")
	sh.Close()
	sh = New(app, st.NewSession("admin", "test"), &out)
	sh.Line("config firewall address")
	sh.Line("edit pasted")
	sh.Line("next")
	sh.Line("end")
	sh.Line("execute backup config flash after-paste")
	sh.Close() // logout: the second revision
	out.Reset()
	sh = New(app, st.NewSession("admin", "test"), &out)
	sh.Line("execute revision list config")
	list := out.String()
	for _, want := range []string{"Automatically backed up on logout", "after-paste", "    1 ", "    2 ", "    3 "} {
		if !strings.Contains(list, want) {
			t.Fatalf("revision list lacks %q:\n%s", want, list)
		}
	}
	out.Reset()
	sh.Line("execute revision diff 1 2")
	if !strings.Contains(out.String(), `+    edit "pasted"`) {
		t.Fatalf("diff:\n%s", out.String())
	}
	out.Reset()
	sh.Line("execute restore config flash 1")
	if st.Lookup("firewall address", "pasted") != nil {
		t.Fatalf("restore config flash 1 kept the paste:\n%s", out.String())
	}
	out.Reset()
	sh.Line("execute restore config flash 99")
	if !strings.Contains(out.String(), "revision 99 not found") {
		t.Fatalf("missing revision: %q", out.String())
	}
	sh.Close() // restore's session committed nothing itself
}
