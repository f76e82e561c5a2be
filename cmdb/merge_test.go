package cmdb

import (
	"slices"
	"strings"
	"testing"
)

// Two admins edit one entry: each save keeps what the other committed.
func TestConcurrentEditsOfOneEntryMerge(t *testing.T) {
	st := newTestStore(t)
	mustRun(t, st.NewSession("admin", "setup"), "config firewall address\nedit h3\nset subnet 10.1.1.1/32\nnext\nend\n")
	uuid := st.Lookup("firewall address", "h3").Values["uuid"]
	a, b := st.NewSession("admin", "A"), st.NewSession("admin", "B")
	mustRun(t, a, "config firewall address\nedit h3\nset comment x\n")
	mustRun(t, b, "config firewall address\nedit h3\nset subnet 10.8.8.8/32\nnext\n")
	mustRun(t, a, "next\n")
	e := st.Lookup("firewall address", "h3")
	if got := strings.Join(e.Values["subnet"], " "); got != "10.8.8.8 255.255.255.255" {
		t.Errorf("B's subnet lost: subnet %q", got)
	}
	if got := strings.Join(e.Values["comment"], " "); got != "x" {
		t.Errorf("A's comment lost: %q", got)
	}
	if !slices.Equal(e.Values["uuid"], uuid) {
		t.Errorf("uuid changed from %v to %v", uuid, e.Values["uuid"])
	}
	// The same attribute: the later save wins.
	mustRun(t, a, "edit h3\nset comment from-a\n")
	mustRun(t, b, "edit h3\nset comment from-b\nnext\n")
	mustRun(t, a, "next\n")
	if got := st.Lookup("firewall address", "h3").Values["comment"]; !slices.Equal(got, []string{"from-a"}) {
		t.Errorf("later save should win: %q", got)
	}
	// An unset is a change too.
	mustRun(t, a, "edit h3\nunset comment\n")
	mustRun(t, b, "edit h3\nset subnet 10.9.9.9/32\nnext\n")
	mustRun(t, a, "next\n")
	e = st.Lookup("firewall address", "h3")
	if e.Values["comment"] != nil || !slices.Equal(e.Values["subnet"], []string{"10.9.9.9", "255.255.255.255"}) {
		t.Errorf("unset merged wrongly: %v", e.Values)
	}
}

// An entry another admin deleted is not brought back by a stale save.
func TestSaveOfEntryDeletedMeanwhileIsRefused(t *testing.T) {
	st := newTestStore(t)
	mustRun(t, st.NewSession("admin", "setup"), "config firewall address\nedit h4\nset subnet 10.1.1.1/32\nnext\nend\n")
	a, b := st.NewSession("admin", "A"), st.NewSession("admin", "B")
	mustRun(t, a, "config firewall address\nedit h4\nset comment x\n")
	mustRun(t, b, "config firewall address\ndelete h4\nend\n")
	_, err := run(t, a, "next\n")
	if code(err) != CodeNotFound || !strings.Contains(err.Error(), "deleted by another admin session") {
		t.Fatalf("stale save: %v (code %d)", err, code(err))
	}
	if st.Lookup("firewall address", "h4") != nil {
		t.Fatal("the deleted entry came back")
	}
}

// A move whose order was computed before another admin added a policy
// keeps that policy.
func TestMoveKeepsEntriesAddedMeanwhile(t *testing.T) {
	st := newTestStore(t)
	pol := "set srcintf port1\nset dstintf port2\nset srcaddr all\nset dstaddr all\nset schedule always\nset service ALL\n"
	mustRun(t, st.NewSession("admin", "setup"), "config firewall policy\nedit 1\n"+pol+"next\nedit 2\n"+pol+"next\nend\n")
	a, b := st.NewSession("admin", "A"), st.NewSession("admin", "B")
	// A pastes a script: its move's order is computed now and committed at
	// the block's end; B adds a policy in between.
	a.Batch = true
	mustRun(t, a, "config firewall policy\nmove 2 before 1\n")
	mustRun(t, b, "config firewall policy\nedit 3\n"+pol+"next\nend\n")
	mustRun(t, a, "end\n")
	keys := st.Rows("firewall policy").Keys
	if !slices.Equal(keys, []string{"2", "1", "3"}) {
		t.Fatalf("policy order %v, want [2 1 3]", keys)
	}
}
