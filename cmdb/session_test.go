package cmdb

import (
	"errors"
	"strings"
	"testing"

	"github.com/fosim/fosim/grammar"
)

// run executes a script statement by statement in interactive mode (every
// save a commit) and returns the output and the last error.
func run(t *testing.T, sess *Session, script string) (string, error) {
	t.Helper()
	var out strings.Builder
	var last error
	for _, r := range grammar.Parse(script) {
		if r.Err != nil {
			last = SyntaxError(r.Err)
			continue
		}
		o, err := sess.Exec(r.Stmt)
		out.WriteString(o)
		if err != nil {
			last = err
		}
	}
	return out.String(), last
}

func mustRun(t *testing.T, sess *Session, script string) string {
	t.Helper()
	out, err := run(t, sess, script)
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	return out
}

func code(err error) int {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

func TestNextSavesAbortDiscards(t *testing.T) {
	st := newTestStore(t)
	sess := st.NewSession("admin", "test")
	rev := st.Revision()
	out := mustRun(t, sess, "config firewall address\nedit a1\nset subnet 10.0.0.0/8\nnext\nedit a2\nset subnet 10.1.0.0/16\nabort\n")
	if !strings.Contains(out, "new entry 'a1' added") {
		t.Errorf("no new entry message: %q", out)
	}
	if st.Lookup("firewall address", "a1") == nil {
		t.Fatal("next did not save a1")
	}
	if st.Lookup("firewall address", "a2") != nil {
		t.Fatal("abort saved a2")
	}
	if st.Revision() != rev+1 {
		t.Fatalf("revision %d, want %d", st.Revision(), rev+1)
	}
	if sess.Depth() != 0 {
		t.Fatalf("abort left depth %d", sess.Depth())
	}
}

func TestEndFromEditSavesAndLeaves(t *testing.T) {
	st := newTestStore(t)
	sess := st.NewSession("admin", "test")
	mustRun(t, sess, "config firewall address\nedit a1\nset subnet 10.0.0.0/8\nend\n")
	if sess.Depth() != 0 || st.Lookup("firewall address", "a1") == nil {
		t.Fatal("end did not save and leave")
	}
}

func TestEditZeroAllocatesNextID(t *testing.T) {
	st := newTestStore(t)
	sess := st.NewSession("admin", "test")
	pol := "set srcintf port1\nset dstintf port2\nset srcaddr all\nset dstaddr all\nset service ALL\nset schedule always\n"
	mustRun(t, sess, "config firewall policy\nedit 7\n"+pol+"next\nedit 0\n"+pol+"next\nend\n")
	if st.Lookup("firewall policy", "8") == nil {
		t.Fatalf("edit 0 did not create policy 8: %v", st.Rows("firewall policy").Keys)
	}
}

func TestReferences(t *testing.T) {
	st := newTestStore(t)
	sess := st.NewSession("admin", "test")
	_, err := run(t, sess, "config firewall addrgrp\nedit g\nset member nosuch\nnext\nend\n")
	if code(err) != CodeValue || !strings.Contains(err.Error(), "entry not found in datasource") {
		t.Fatalf("missing reference: %v", err)
	}
	mustRun(t, sess, "config firewall address\nedit a\nset subnet 1.1.1.0/24\nnext\nend\nconfig firewall addrgrp\nedit g\nset member a\nnext\nedit h\nset member a g\nnext\nend\n")
	_, err = run(t, sess, "config firewall address\ndelete a\nend\n")
	if code(err) != CodeInUse || err.Error() != "The entry is used by other 2 entries" {
		t.Fatalf("delete in use: %v", err)
	}
	mustRun(t, sess, "config firewall address\nrename a to b\nend\n")
	g := st.Lookup("firewall addrgrp", "h")
	if strings.Join(g.Values["member"], ",") != "b,g" {
		t.Fatalf("rename did not rewrite references: %v", g.Values["member"])
	}
	if st.Lookup("firewall address", "a") != nil || st.Lookup("firewall address", "b") == nil {
		t.Fatal("rename did not rename")
	}
}

func TestMoveKeepsIDs(t *testing.T) {
	st := newTestStore(t)
	sess := st.NewSession("admin", "test")
	pol := "set srcintf port1\nset dstintf port2\nset srcaddr all\nset dstaddr all\nset service ALL\nset schedule always\n"
	mustRun(t, sess, "config firewall policy\nedit 1\n"+pol+"next\nedit 2\n"+pol+"next\nedit 3\n"+pol+"next\nmove 3 before 1\nend\n")
	if got := strings.Join(st.Rows("firewall policy").Keys, ","); got != "3,1,2" {
		t.Fatalf("order %s", got)
	}
	st.Close()
}

func TestFailedCommitLeavesStoreUntouched(t *testing.T) {
	st := newTestStore(t)
	before := st.Backup("admin")
	rev := st.Revision()
	st.AddValidator(func(cs *ChangeSet) error {
		for _, c := range cs.Changes {
			if c.Key == "refused" {
				return &Error{Msg: "refused by a daemon", Code: CodeCheck}
			}
		}
		return nil
	})
	sess := st.NewSession("admin", "test")
	_, err := run(t, sess, "config firewall address\nedit refused\nset subnet 1.1.1.0/24\nnext\n")
	if err == nil || !strings.Contains(err.Error(), "refused by a daemon") {
		t.Fatalf("validator refusal not reported: %v", err)
	}
	if st.Revision() != rev || st.Backup("admin") != before {
		t.Fatal("a refused commit changed the store")
	}
	if p := sess.Prompt(); p != "refused" {
		t.Fatalf("after a failed next the admin should still be in the entry, prompt %q", p)
	}
}

func TestSecrets(t *testing.T) {
	st := newTestStore(t)
	sess := st.NewSession("admin", "test")
	mustRun(t, sess, "config vpn ipsec phase1-interface\nedit p\nset interface port1\nset psksecret hunter2\nnext\nend\n")
	show := mustRun(t, sess, "show vpn ipsec phase1-interface p\n")
	if strings.Contains(show, "hunter2") || !strings.Contains(show, "set psksecret ENC ") {
		t.Fatalf("secret shown in clear: %s", show)
	}
	enc := st.Lookup("vpn ipsec phase1-interface", "p").Values["psksecret"]
	if plain, err := st.Secrets().Decrypt(enc[1]); err != nil || plain != "hunter2" {
		t.Fatalf("decrypt: %q %v", plain, err)
	}
	// Re-applying the ENC value restores the same secret.
	mustRun(t, sess, "config vpn ipsec phase1-interface\nedit q\nset interface port1\nset psksecret ENC "+enc[1]+"\nnext\nend\n")
	// An ENC value from elsewhere is a clear error.
	_, err := run(t, sess, "config vpn ipsec phase1-interface\nedit r\nset interface port1\nset psksecret ENC bm90IGEgc2VjcmV0IGF0IGFsbA==\nabort\n")
	if code(err) != CodeValue || !strings.Contains(err.Error(), "does not decrypt") {
		t.Fatalf("bad ENC: %v", err)
	}
	// private-data-encryption switches to a key of this appliance alone.
	mustRun(t, sess, "config system global\nset private-data-encryption enable\nend\n")
	enc2 := st.Lookup("vpn ipsec phase1-interface", "p").Values["psksecret"]
	if enc2[1] == enc[1] {
		t.Fatal("secrets not re-encrypted")
	}
	if plain, err := st.Secrets().Decrypt(enc2[1]); err != nil || plain != "hunter2" {
		t.Fatalf("decrypt with the appliance key: %q %v", plain, err)
	}
	if _, err := NewSecrets(nil).Decrypt(enc2[1]); err == nil {
		t.Fatal("the built-in key still decrypts after private-data-encryption enable")
	}
}

func TestConditionalAttributes(t *testing.T) {
	st := newTestStore(t)
	sess := st.NewSession("admin", "test")
	_, err := run(t, sess, "config vpn ipsec phase1-interface\nedit p\nset interface port1\nset remote-gw-ztna-tags all\nabort\n")
	if code(err) != CodeParse || err.Error() != "command parse error before 'remote-gw-ztna-tags'" {
		t.Fatalf("attribute outside its condition: %v", err)
	}
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, testSchema(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureFactory(st.Serial()); err != nil {
		t.Fatal(err)
	}
	sess := st.NewSession("admin", "test")
	mustRun(t, sess, "config firewall address\nedit a\nset subnet 1.1.1.0/24\nnext\nend\nconfig system global\nset hostname FGT1\nend\n")
	want, serial := st.Backup("admin"), st.Serial()
	st.Close()
	st, err = Open(dir, testSchema(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got := st.Backup("admin"); got != want {
		t.Fatalf("after reopen:\n%s\nwant:\n%s", got, want)
	}
	if st.Serial() != serial {
		t.Fatal("serial changed")
	}
}

// A rename changes only the references that name the entry: a default that
// names it becomes explicit, other references stay defaults (not printed).
func TestRenameRewritesOnlyWhatNamesIt(t *testing.T) {
	st := newTestStore(t)
	sess := st.NewSession("admin", "test")
	before := mustRun(t, sess, "show system global\n")
	mustRun(t, sess, "config vpn certificate local\nrename Fortinet_GUI_Server to GUI2\nend\n")
	after := mustRun(t, sess, "show system global\n")
	if !strings.Contains(after, `set admin-server-cert "GUI2"`) {
		t.Fatalf("the default naming the certificate was not rewritten:\n%s", after)
	}
	if strings.Count(after, "\n") != strings.Count(before, "\n")+1 || strings.Contains(after, "Fortinet_Factory") {
		t.Fatalf("other defaults were written out:\n%s\nbefore:\n%s", after, before)
	}
}
