package cmdb

import (
	"strings"
	"testing"
)

func TestConfigAtAndDiff(t *testing.T) {
	st := newTestStore(t)
	sess := st.NewSession("admin", "test")
	r0 := st.Revision()
	mustRun(t, sess, "config firewall address\nedit a\nset subnet 10.0.0.0/8\nnext\nend\n")
	r1 := st.Revision()
	mustRun(t, sess, "config firewall address\nedit a\nset subnet 10.1.0.0/16\nnext\nedit b\nset subnet 10.2.0.0/16\nnext\nend\n")
	mustRun(t, sess, "config firewall address\ndelete b\nend\n")
	at0, err := st.ConfigAt(r0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(at0, "edit \"a\"") {
		t.Fatalf("revision %d has a:\n%s", r0, at0)
	}
	at1, _ := st.ConfigAt(r1)
	if !strings.Contains(at1, "set subnet 10.0.0.0 255.0.0.0") {
		t.Fatalf("revision %d lost a's first subnet", r1)
	}
	now, _ := st.ConfigAt(st.Revision())
	if now != strings.SplitN(st.Backup("admin"), "#global_vdom=1\n", 2)[1] {
		t.Fatal("ConfigAt(latest) differs from the backup")
	}
	d := UnifiedDiff(at1, now, "r1", "now")
	if !strings.Contains(d, "-        set subnet 10.0.0.0 255.0.0.0\n+        set subnet 10.1.0.0 255.255.0.0\n") || !strings.HasPrefix(d, "--- r1\n+++ now\n@@ ") {
		t.Fatalf("diff:\n%s", d)
	}
	if _, err := st.ConfigAt(st.Revision() + 1); err == nil {
		t.Fatal("a future revision")
	}
}

func TestUnifiedDiff(t *testing.T) {
	a := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"
	b := "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n"
	want := "--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
	if got := UnifiedDiff(a, b, "a", "b"); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if UnifiedDiff(a, a, "a", "b") != "" {
		t.Fatal("equal texts differ")
	}
}
