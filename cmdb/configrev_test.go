package cmdb

import (
	"fmt"
	"strings"
	"testing"
)

// Issue 8 row 7: a paste of 300 entries is 300 commits but no
// configuration revision pushed out; a restore keeps the configuration it
// replaced as a revision, which restores back.
func TestConfigRevisionsSurviveAPaste(t *testing.T) {
	st := newTestStore(t)
	first, err := st.SaveConfigRevision("admin", "before the paste")
	if err != nil {
		t.Fatal(err)
	}
	before := st.Backup("admin")
	var paste strings.Builder
	paste.WriteString("config firewall address\n")
	for i := range 300 {
		fmt.Fprintf(&paste, "edit p%d\nset subnet 10.9.%d.%d/32\nnext\n", i, i/256, i%256)
	}
	paste.WriteString("end\n")
	mustRun(t, st.NewSession("admin", "paste"), paste.String())
	revs, err := st.ConfigRevisions()
	if err != nil || len(revs) != 1 || revs[0].ID != first || revs[0].Comment != "before the paste" {
		t.Fatalf("revisions after the paste: %+v %v", revs, err)
	}
	// Roll the paste back from the revision.
	text, err := st.ConfigRevisionText(first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Restore(text, "admin", false); err != nil {
		t.Fatal(err)
	}
	if st.Lookup("firewall address", "p7") != nil {
		t.Fatal("the paste is still there after restoring the revision")
	}
	if strip := func(s string) string { return s[strings.Index(s, "\nconfig "):] }; strip(st.Backup("admin")) != strip(before) {
		t.Fatal("restoring the revision did not give the configuration back")
	}
	// The restore kept what it replaced.
	revs, _ = st.ConfigRevisions()
	if len(revs) != 2 || revs[1].Comment != "Automatically backed up before restore" {
		t.Fatalf("revisions after a restore: %+v", revs)
	}
	after, _ := st.ConfigRevisionText(revs[1].ID)
	if !strings.Contains(after, `edit "p7"`) {
		t.Fatal("the pre-restore revision lacks the paste")
	}
	// Retention keeps the newest MaxConfigRevisions.
	for range MaxConfigRevisions + 5 {
		if _, err := st.SaveConfigRevision("admin", "x"); err != nil {
			t.Fatal(err)
		}
	}
	revs, _ = st.ConfigRevisions()
	if len(revs) != MaxConfigRevisions || revs[len(revs)-1].ID != first+MaxConfigRevisions+6 {
		t.Fatalf("retention: %d kept, last %d", len(revs), revs[len(revs)-1].ID)
	}
	if err := st.DeleteConfigRevision(revs[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ConfigRevisionText(revs[0].ID); code(err) != CodeNotFound {
		t.Fatalf("deleted revision: %v", err)
	}
}
