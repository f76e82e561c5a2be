package cmdb

import (
	"strings"
	"testing"
)

// Issue 8 row 3: a restore checks the file and never leaves the unit
// without its ports or an administrator.
func TestRestoreChecksTheFile(t *testing.T) {
	st := newTestStore(t)
	backup := st.Backup("admin")
	body := backup[strings.Index(backup, "\nconfig ")+1:]
	rev := st.Revision()
	for name, text := range map[string]string{
		"empty":        "",
		"no header":    "config system global\nset hostname X\nend\n",
		"other model":  "#config-version=FG100F-7.6.1-FW-build3462-241022:opmode=0:vdom=0:user=admin\n" + body,
		"newer":        "#config-version=FGVMK6-7.6.3-FW-build3510-250101:opmode=0:vdom=0:user=admin\n" + body,
		"multi-vdom":   "#config-version=FGVMK6-7.6.1-FW-build3462-241022:opmode=0:vdom=1:user=admin\n" + body,
		"bad version":  "#config-version=FGVMK6-x-FW:opmode=0\n" + body,
		"no admin":     strings.Replace(backup, "config system admin\n", "config system admin\n    delete \"admin\"\n", 1),
		"binary":       "\x00\x01\x02#config-version=\xff",
		"shadow-alike": "root:$6$abc:19000:0:99999:7:::\n",
	} {
		res, err := st.Restore(text, "admin", false)
		if err == nil {
			t.Errorf("%s: restored (%d changes)", name, res.Changes)
			continue
		}
		if strings.Contains(err.Error(), "$6$abc") {
			t.Errorf("%s: the error echoes the file: %v", name, err)
		}
	}
	if st.Revision() != rev || st.Backup("admin") != backup {
		t.Fatal("a refused restore changed the configuration")
	}
	// An older 7.x file of a VM restores; what it lacks of the unit's own
	// ports and factory certificates is kept.
	old := "#config-version=FGVM64-7.4.4-FW-build2662-240514:opmode=0:vdom=0:user=admin\n" +
		"config system admin\n    edit \"admin\"\n        set accprofile \"super_admin\"\n        set vdom \"root\"\n    next\nend\n"
	if res, err := st.Restore(old, "admin", false); err != nil {
		t.Fatalf("older VM backup: %v %v", err, res.Errors)
	}
	for _, k := range []string{"port1", "port10"} {
		if st.Lookup("system interface", k) == nil {
			t.Errorf("%s removed by a restore", k)
		}
	}
	if st.Lookup("vpn certificate local", "Fortinet_Factory") == nil {
		t.Error("the factory certificate removed by a restore")
	}
	// A BOM before the header is fine.
	if _, err := st.Restore("\ufeff"+backup, "admin", false); err != nil {
		t.Fatalf("BOM: %v", err)
	}
}
