package cmdb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 8 row 11: no clear-text secret reaches the bbolt file, show, show
// full-configuration, a backup, a revision or an error message.
func TestNoClearTextSecretAnywhere(t *testing.T) {
	dir := t.TempDir()
	st := newTestStoreIn(t, dir)
	defer st.Close()
	const psk, pw, upw = "PSK-Clear-7x9q", "Admin-Clear-4k2z", "User-Clear-8m3w"
	secrets := []string{psk, pw, upw}
	sess := st.NewSession("admin", "test")
	script := "config vpn ipsec phase1-interface\nedit s1\nset interface port1\nset psksecret " + psk + "\nnext\nend\n" +
		"config system admin\nedit a2\nset accprofile super_admin\nset password " + pw + "\nnext\nend\n" +
		"config user local\nedit u1\nset type password\nset passwd " + upw + "\nnext\nend\n"
	mustRun(t, sess, script)
	var outputs []string
	outputs = append(outputs, mustRun(t, sess, "show\n"), mustRun(t, sess, "show full-configuration\n"),
		mustRun(t, sess, "show vpn ipsec phase1-interface s1\n"), mustRun(t, sess, "get vpn ipsec phase1-interface s1\n"),
		mustRun(t, sess, "get user local u1\n"), st.Backup("admin"))
	if _, err := st.SaveConfigRevision("admin", "x"); err != nil {
		t.Fatal(err)
	}
	// Errors around a secret: too long, too many words, a bad ENC.
	for _, bad := range []string{"set psksecret " + psk + strings.Repeat("x", 200), "set psksecret " + psk + " more", "set passwd " + upw + " " + upw} {
		table := "vpn ipsec phase1-interface\nedit s1\n"
		if strings.Contains(bad, "passwd") {
			table = "user local\nedit u1\n"
		}
		out, err := run(t, st.NewSession("admin", "test"), "config "+table+bad+"\nabort\n")
		if err == nil {
			t.Errorf("%q accepted", bad[:20])
			continue
		}
		outputs = append(outputs, out, err.Error())
	}
	res := RunScript(st.NewSession("admin", "test"), "config vpn ipsec phase1-interface\nedit s9\nset psksecret "+psk+"\n", ScriptOptions{Atomic: true})
	outputs = append(outputs, res.Transcript.String())
	for _, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Fatalf("clear-text secret %q in output:\n%.300s", s, out)
			}
		}
	}
	st.Close()
	raw, err := os.ReadFile(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(string(raw), s) {
			t.Fatalf("clear-text secret %q in the bbolt file", s)
		}
	}
}
