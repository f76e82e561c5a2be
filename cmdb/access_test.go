package cmdb

import (
	"strings"
	"testing"

	"github.com/fosim/fosim/grammar"
)

// Access profiles limit what an admin's sessions may change.
func TestAccessProfiles(t *testing.T) {
	st := newTestStore(t)
	mustRun(t, st.NewSession("admin", "setup"), `config system accprofile
edit "readonly"
set sysgrp read
set netgrp read
set fwgrp read
set vpngrp read
set authgrp read
next
edit "fw-only"
set fwgrp read-write
next
edit "sys-rw"
set sysgrp read-write
next
end
config system admin
edit "ro"
set accprofile "readonly"
set vdom "root"
next
edit "fw"
set accprofile "fw-only"
set vdom "root"
next
edit "sysadm"
set accprofile "sys-rw"
set vdom "root"
next
end
`)
	ro := st.NewSession("ro", "test")
	if !ro.ReadOnly() {
		t.Error("a read profile is not read-only")
	}
	// Reading works.
	mustRun(t, ro, "show firewall address all\nconfig firewall address\nedit all\nnext\nend\n")
	for _, script := range []string{
		"config firewall address\nedit new1\n",
		"config firewall address\nedit all\nset comment x\n",
		"config firewall address\ndelete none\n",
		"config firewall address\nrename none to n2\n",
		"config system global\nset hostname X\n",
	} {
		err := firstErr(t, st.NewSession("ro", "test"), script)
		if code(err) != CodePermission {
			t.Errorf("read-only %q: %v", script, err)
		}
	}
	fw := st.NewSession("fw", "test")
	mustRun(t, fw, "config firewall address\nedit fw1\nset subnet 10.1.0.0/16\nnext\nend\n")
	if err := firstErr(t, st.NewSession("fw", "test"), "config system global\nset hostname X\n"); code(err) != CodePermission {
		t.Errorf("fw-only changed system global: %v", err)
	}
	if _, err := run(t, st.NewSession("fw", "test"), "show system global\n"); code(err) != CodePermission {
		t.Errorf("fw-only read system global: %v", err)
	}
	// sysgrp read-write, but not super_admin: no super_admin admin, no
	// change to the super_admin profile.
	for _, script := range []string{
		"config system admin\nedit boss\nset accprofile super_admin\nset vdom root\nnext\n",
		"config system admin\nedit admin\nset comments x\nnext\n",
		"config system accprofile\nedit super_admin\nset fwgrp read\nnext\n",
		"config system admin\ndelete admin\n",
	} {
		err := firstErr(t, st.NewSession("sysadm", "test"), script)
		if code(err) != CodePermission {
			t.Errorf("sys-rw %q: %v", script, err)
		}
	}
	mustRun(t, st.NewSession("sysadm", "test"), "config system admin\nedit helper\nset accprofile readonly\nset vdom root\nnext\nend\n")
	// An unknown user may do nothing.
	if _, err := run(t, st.NewSession("nobody", "test"), "show firewall address\n"); code(err) != CodePermission {
		t.Errorf("unknown user read: %v", err)
	}
	if !strings.Contains(mustRun(t, st.NewSystemSession("admin", "tool"), "show system admin ro\n"), "readonly") {
		t.Error("system session")
	}
}

// firstErr runs a script and returns its first error.
func firstErr(t *testing.T, sess *Session, script string) error {
	t.Helper()
	for _, r := range grammar.Parse(script) {
		if r.Err != nil {
			return SyntaxError(r.Err)
		}
		if _, err := sess.Exec(r.Stmt); err != nil {
			return err
		}
	}
	return nil
}

// The password policy applies to "set password" and, with apply-to
// ipsec-preshared-key, to "set psksecret"; the refusal never quotes them.
func TestPasswordPolicyOnSet(t *testing.T) {
	st := newTestStore(t)
	mustRun(t, st.NewSession("admin", "t"), "config system password-policy\nset status enable\nset apply-to admin-password ipsec-preshared-key\nset minimum-length 10\nset min-number 1\nend\n")
	for _, script := range []string{
		"config system admin\nedit a2\nset accprofile super_admin\nset vdom root\nset password short1\n",
		"config system admin\nedit a2\nset password longenoughbutnodigits\n",
		"config vpn ipsec phase1-interface\nedit p1\nset interface port1\nset psksecret weakpsk1\n",
	} {
		err := firstErr(t, st.NewSession("admin", "t"), script)
		if code(err) != CodeValue || !strings.Contains(err.Error(), "password policy") {
			t.Errorf("%q: %v", script, err)
		}
		if err != nil && (strings.Contains(err.Error(), "short1") || strings.Contains(err.Error(), "weakpsk1")) {
			t.Errorf("the refused secret is quoted: %v", err)
		}
	}
	mustRun(t, st.NewSession("admin", "t"), "config system admin\nedit a3\nset accprofile super_admin\nset vdom root\nset password Longer-pass-42\nnext\nend\n")
}

// The last super_admin administrator cannot go, by any path.
func TestLastSuperAdminStays(t *testing.T) {
	st := newTestStore(t)
	mustRun(t, st.NewSession("admin", "t"), "config system accprofile\nedit ro\nset sysgrp read\nnext\nend\n")
	for _, script := range []string{
		"config system admin\ndelete admin\nend\n",
		"config system admin\nedit admin\nset accprofile ro\nnext\nend\n",
		"config system admin\npurge\nend\n",
	} {
		if err := firstErr(t, st.NewSession("admin", "t"), script); code(err) != CodeCheck {
			t.Errorf("%q: %v", script, err)
		}
	}
	if st.Lookup("system admin", "admin") == nil {
		t.Fatal("the last super_admin was deleted")
	}
	// With a second super_admin, the first may go.
	mustRun(t, st.NewSession("admin", "t"), "config system admin\nedit boss\nset accprofile super_admin\nset vdom root\nnext\nend\nconfig system admin\ndelete admin\nend\n")
}

// A save rebased on an admin that became super_admin meanwhile is refused
// to a profile short of super_admin.
func TestRebasedSaveOnNewSuperAdminIsRefused(t *testing.T) {
	st := newTestStore(t)
	mustRun(t, st.NewSession("admin", "t"), "config system accprofile\nedit rw\nset sysgrp read-write\nnext\nend\n"+
		"config system admin\nedit ops\nset accprofile rw\nset vdom root\nnext\nedit bob\nset accprofile rw\nset vdom root\nnext\nend\n")
	// Interactively: the save checks bob as committed now.
	ops := st.NewSession("ops", "t")
	mustRun(t, ops, "config system admin\nedit bob\nset comments from-ops\n")
	mustRun(t, st.NewSession("admin", "t"), "config system admin\nedit bob\nset accprofile super_admin\nnext\nend\n")
	if err := firstErr(t, ops, "next\n"); code(err) != CodePermission {
		t.Fatalf("rebased save on a super_admin: %v", err)
	}
	// In a pasted block the save passes while bob is still rw; bob is
	// made super_admin before the block commits: the commit refuses.
	mustRun(t, st.NewSession("admin", "t"), "config system admin\nedit bob\nset accprofile rw\nnext\nend\n")
	batch := st.NewSession("ops", "t")
	batch.Batch = true
	mustRun(t, batch, "config system admin\nedit bob\nset comments from-ops\nnext\n")
	mustRun(t, st.NewSession("admin", "t"), "config system admin\nedit bob\nset accprofile super_admin\nnext\nend\n")
	if err := firstErr(t, batch, "end\n"); code(err) != CodePermission {
		t.Fatalf("a batch rebased on a super_admin: %v", err)
	}
	if got := st.Lookup("system admin", "bob").Values["comments"]; got != nil {
		t.Fatalf("bob changed: %v", got)
	}
}
