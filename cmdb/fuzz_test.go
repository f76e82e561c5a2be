package cmdb

import (
	"testing"
)

// FuzzApply runs arbitrary scripts against a factory appliance: the engine
// must never panic, and whatever it accepted must round-trip through a
// backup and a restore.
func FuzzApply(f *testing.F) {
	for _, s := range []string{
		"config firewall address\nedit a\nset subnet 10.0.0.0/8\nnext\nend\n",
		"config system global\nset hostname \"x y\"\nend\n",
		"config firewall addrgrp\nedit g\nset member all\nappend member none\nunselect member all\nnext\nend\n",
		"config vpn ipsec phase1-interface\nedit p\nset interface port1\nset psksecret s3cret\nnext\nrename p to q\nend\n",
		"config firewall policy\nedit 0\nset srcintf port1\nset dstintf port2\nset srcaddr all\nset dstaddr all\nset service ALL\nset schedule always\nnext\nclone 1 to 2\nmove 2 before 1\ndelete 1\nend\n",
		"config user local\nedit u\nset passwd p\nnext\nend\nconfig user group\nedit g\nset member u\nnext\nend\nconfig user local\ndelete u\nend\n",
		"conf sys int\ned port3\nset ip 1.2.3.4/24\nconfig secondaryip\nedit 0\nset ip 2.2.2.2/32\nnext\nend\nnext\nend\n",
	} {
		f.Add(s)
	}
	schema, err := LoadSchema()
	if err != nil {
		f.Fatal(err)
	}
	base := newTestStore(f)
	factory := base.Backup("admin")
	f.Fuzz(func(t *testing.T, script string) {
		if len(script) > 4096 {
			return
		}
		st := newFuzzStore(t, schema)
		if _, err := st.Restore(factory, "admin", false); err != nil {
			t.Fatal(err)
		}
		RunScript(st.NewSession("admin", "fuzz"), script, ScriptOptions{})
		backup := st.Backup("admin")
		other := newFuzzStore(t, schema)
		if res, err := other.Restore(backup, "admin", false); err != nil {
			t.Fatalf("backup of an accepted config does not restore: %v %v\n%s", err, res.Errors, backup)
		}
		if a, b := maskVer.ReplaceAllString(other.Backup("admin"), ""), maskVer.ReplaceAllString(backup, ""); a != b {
			t.Fatalf("round trip differs\n%s\n---\n%s", b, a)
		}
	})
}

func newFuzzStore(t testing.TB, schema *Schema) *Store {
	st, err := Open(t.TempDir(), schema, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
